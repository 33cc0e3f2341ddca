"""``wb precheck``: what the robots will say about the series, before they say it.

The kernel test robot builds a posted series on many architectures,
compilers and configurations, with W=1 and sparse, and answers within hours.
This runs the same kinds of build here, for every commit of the series, on
the objects the series touches: each configuration (``TARGETS``) gets a
build directory of its own, configured once (tinyconfig and the workbench's
fragments, then its own options), built at the base and then at each commit
in order, so make and ccache redo only what a commit changed. A commit fails
a configuration when the objects do not build, or when a file the commit
touches has a warning (compiler, W=1, sparse) it did not have before.
"""

import os
import re
import shutil
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench import log
from workbench.build import ccache_env, first_errors
from workbench.digest import digest
from workbench.errors import WorkbenchError
from workbench.commits import WarningLedger, touched_files
from workbench.letter import WIDTH
from workbench.kconfig import DEFAULT_FRAGMENTS, fragment_path, parse_config
from workbench.proc import git, run
from workbench.source import KernelTree, checkout
from workbench.status import Status


@dataclass(frozen=True)
class Target:
    """One configuration the robots build."""
    name: str
    arch: str  # make ARCH=
    compiler: str  # what CC is, behind ccache
    make_vars: tuple[str, ...] = ()
    # After the fragments: options this configuration turns off, to modules or on.
    options: tuple[tuple[str, str], ...] = ()
    tools: tuple[str, ...] = ()  # programs it needs on the host
    package: str = ""  # the Debian package that has them

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "-").replace("=", "").lower()


TARGETS = (
    Target("gcc W=1", "x86_64", "gcc", ("W=1",)),
    Target("sparse", "x86_64", "gcc", ("C=1",), tools=("sparse",), package="sparse"),
    # bookworm's clang 14 is older than some kernels want; 19 is in its updates.
    Target("clang-19 W=1", "x86_64", "clang-19", ("LLVM=-19", "W=1"),
           tools=("clang-19", "ld.lld-19"), package="clang-19 lld-19 llvm-19"),
    # The zero-copy path is 64-bit only: 32-bit kernels take the copy.
    Target("i386 W=1", "i386", "gcc", ("W=1",)),
    Target("arm64 W=1", "arm64", "aarch64-linux-gnu-gcc",
           ("CROSS_COMPILE=aarch64-linux-gnu-", "W=1"), tools=("aarch64-linux-gnu-gcc",),
           package="gcc-aarch64-linux-gnu"),
    Target("no BLOCK", "x86_64", "gcc", ("W=1",), (("CONFIG_BLOCK", "n"),)),
    Target("no IO_URING", "x86_64", "gcc", ("W=1",), (("CONFIG_IO_URING", "n"),)),
    Target("fs as modules", "x86_64", "gcc", ("W=1",), (
        ("CONFIG_MODULES", "y"), ("CONFIG_EXT4_FS", "m"), ("CONFIG_XFS_FS", "m"), ("CONFIG_BTRFS_FS", "m"),
        ("CONFIG_FUSE_FS", "m"))),
)
# Not here: CONFIG_MMU=n, which neither x86 nor arm64 can build.


@dataclass(frozen=True)
class Cell:
    """One commit in one configuration."""
    status: Status  # PASS, FAIL (new warning), BUILD_FAILURE, SKIP
    detail: str = ""
    new_warnings: tuple[str, ...] = ()
    log: str = ""


@dataclass
class TargetState:
    target: Target
    build_dir: Path
    ledger: WarningLedger = field(default_factory=WarningLedger)
    skipped: str = ""  # why the configuration cannot be built here
    objects: tuple[str, ...] = ()  # what of the series' objects this config builds
    left_out: tuple[str, ...] = ()  # and what it does not (their option is off)


def objects(tree: Path, base: str, head: str) -> tuple[str, ...]:
    """The object of each C file the series touches, outside tools/."""
    changed = git(tree, "diff", "--name-only", f"{base}..{head}").splitlines()
    return tuple(sorted(f[:-2] + ".o" for f in changed
                        if f.endswith(".c") and not f.startswith(("tools/", "scripts/"))))


def _makefile_lines(path: Path) -> list[str]:
    """A Kbuild Makefile's lines, continuations joined."""
    try:
        return path.read_text(errors="replace").replace("\\\n", " ").splitlines()
    except OSError:
        return []


def _condition(lines: list[str], entry: str) -> str | None:
    """The CONFIG_ symbol a Kbuild Makefile builds ``entry`` (``name.o`` or
    ``dir/``) under; None when it is built unconditionally (or not named)."""
    pattern = re.compile(r"^\s*[\w-]+-\$\((CONFIG_\w+)\)\s*[+:]?=.*(?:^|[\s=/])"
                         + re.escape(entry) + r"(?:\s|$)")
    for line in lines:
        if m := pattern.search(line):
            return m[1]
    return None


def enabled(tree: Path, config: dict[str, str], obj: str) -> str:
    """"" when ``config`` builds ``obj``, else the option that is off: each
    directory below the top level and the object itself, as their Makefiles
    list them (``obj-$(CONFIG_XFS_FS) += xfs/``, ``xfs-$(CONFIG_X) += f.o``)."""
    parts = Path(obj).parts
    entries = [(Path(*parts[:i]), parts[i] + "/") for i in range(1, len(parts) - 1)]
    entries.append((Path(*parts[:-1]), parts[-1]))
    for directory, entry in entries:
        symbol = _condition(_makefile_lines(tree / directory / "Makefile"), entry)
        if symbol and config.get(symbol, "n") not in ("y", "m"):
            return symbol
    return ""


def _make(tree: KernelTree, target: Target, build_dir: Path) -> list[str]:
    cc = f"ccache {target.compiler}" if shutil.which("ccache") else target.compiler
    return ["make", "-C", str(tree.path), f"O={build_dir}", f"ARCH={target.arch}",
            f"CC={cc}", *target.make_vars]


def _env(tree: KernelTree) -> dict[str, str]:
    # As build.build_kernel; LC_ALL=C: the compilers quote with ' as the
    # robots' reports do.
    return os.environ | {"LC_ALL": "C", **ccache_env(tree.path),
                         "KBUILD_BUILD_USER": "workbench", "KBUILD_BUILD_HOST": "workbench"}


def missing_tools(target: Target) -> list[str]:
    return [t for t in target.tools if shutil.which(t) is None]


# What Kbuild says, and then builds on without checking, when C=1 finds a
# sparse older than the kernel wants (7.x with Debian 12's sparse 0.6.4).
_CHECKER_REFUSED = "C=1 specified, but sparse is not available or not up to date"


def refused_checker(log_text: str) -> str:
    """Why a C=1 build checked nothing ("" when it did)."""
    if _CHECKER_REFUSED not in log_text:
        return ""
    return (f"Kbuild ran no sparse: '{_CHECKER_REFUSED}' (this kernel wants a newer "
            "sparse than the host's)")


def configure(tree: KernelTree, state: TargetState, log_path: Path) -> None:
    """tinyconfig, the fragments, the target's options, olddefconfig; a
    target whose options do not survive is skipped, saying which."""
    target, build_dir = state.target, state.build_dir
    build_dir.mkdir(parents=True, exist_ok=True)
    fragments = [fragment_path(f) for f in DEFAULT_FRAGMENTS]
    # The same base, fragments and options make the same .config: keep it.
    inputs = digest([repr(target), tree.base_commit, *(p.read_text() for p in fragments)])
    stamp = build_dir / "wb-precheck.inputs"
    if not ((build_dir / ".config").exists() and stamp.exists()
            and stamp.read_text() == inputs):
        stamp.unlink(missing_ok=True)
        make = _make(tree, target, build_dir)
        run([*make, "tinyconfig"], env=_env(tree), log=log_path)
        own = build_dir / "wb-precheck.config"
        own.write_text("".join(f"{o}={v}\n" if v != "n" else f"# {o} is not set\n"
                               for o, v in target.options))
        run([str(tree.path / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(build_dir),
             str(build_dir / ".config"), *map(str, fragments), str(own)], cwd=tree.path,
            env=_env(tree) | {"ARCH": target.arch}, log=log_path)
        run([*make, "olddefconfig"], env=_env(tree), log=log_path)
        stamp.write_text(inputs)
    final = parse_config((build_dir / ".config").read_text())
    lost = [f"{o}={v} (got {final.get(o, 'n')})" for o, v in target.options
            if final.get(o, "n") != v]
    if lost:
        state.skipped = f"{', '.join(lost)}: not possible on {target.arch}"
    off = {obj: enabled(tree.path, final, obj) for obj in state.objects}
    state.left_out = tuple(f"{obj} ({option} off)" for obj, option in off.items() if option)
    state.objects = tuple(obj for obj, option in off.items() if not option)
    if not state.objects and not state.skipped:
        state.skipped = "builds none of the series' objects: " + ", ".join(state.left_out)


def build(tree: KernelTree, state: TargetState, targets: tuple[str, ...], log_path: Path,
          jobs: int) -> tuple[int, str]:
    """make the ``targets`` (-k: every object that can be built is)."""
    cmd = [*_make(tree, state.target, state.build_dir), f"-j{jobs}", "-k", *targets]
    with log_path.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, env=_env(tree), stdout=out, stderr=subprocess.STDOUT)
    return proc.returncode, log_path.read_text(errors="replace")


def check_commit(tree: KernelTree, state: TargetState, commit: str, log_path: Path,
                 jobs: int) -> Cell:
    """Build the target's objects at ``commit`` (checked out); the warnings
    new in the files the commit touches."""
    if state.skipped:
        return Cell(Status.SKIP, state.skipped)
    code, text = build(tree, state, state.objects, log_path, jobs)
    touched = touched_files(tree.path, commit)
    new = state.ledger.new_in(text, tree.path, state.build_dir, touched)
    if code != 0:
        errors = first_errors(text, 3)
        return Cell(Status.BUILD_FAILURE, "; ".join(errors) or f"make exit {code}", new,
                    str(log_path))
    if new:
        return Cell(Status.FAIL, f"new warning: {new[0]}", new, str(log_path))
    return Cell(Status.PASS, log=str(log_path))


@dataclass(frozen=True)
class Precheck:
    commits: tuple[tuple[str, str], ...]  # (commit, subject)
    targets: tuple[Target, ...]
    cells: dict[tuple[int, str], Cell]  # (commit index from 1, target name)
    base: dict[str, Cell]  # the base's build per target
    seconds: float
    left_out: dict[str, tuple[str, ...]]  # per target: the objects its options leave out

    def first_failure(self) -> tuple[int, str, Cell] | None:
        for index in range(1, len(self.commits) + 1):
            for target in self.targets:
                cell = self.cells[(index, target.name)]
                if cell.status not in (Status.PASS, Status.SKIP):
                    return index, target.name, cell
        return None


def run_precheck(tree: KernelTree, base: str, head: str, targets: tuple[Target, ...],
                 build_root: Path, out_dir: Path, jobs: int) -> Precheck:
    """Every commit of base..head in every target, each built in
    build_root/<target> (kept for the next run); logs in out_dir/logs."""
    started = time.monotonic()
    commits = tuple((c, git(tree.path, "log", "-1", "--format=%s", c)) for c in git(
        tree.path, "rev-list", "--reverse", f"{base}..{head}").split())
    built = objects(tree.path, base, head)
    if not built:
        raise WorkbenchError("the series touches no C file: nothing for the robots to build")
    states = [TargetState(t, build_root / t.slug, objects=built) for t in targets]
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    checkout(tree, base)
    base_cells = {}
    for state in states:
        missing = missing_tools(state.target)
        if missing:
            state.skipped = (f"{', '.join(missing)} not installed (Debian: "
                             f"{state.target.package})")
        else:
            log.info(f"precheck {state.target.name}: configure, build the base")
            configure(tree, state, logs / f"{state.target.slug}-config.log")
        cell = check_commit(tree, state, base, logs / f"{state.target.slug}-base.log", jobs)
        if cell.status is Status.FAIL:  # the base's own warnings are its baseline
            cell = Cell(Status.PASS, log=cell.log)
        refused = refused_checker(Path(cell.log).read_text(errors="replace")) if cell.log \
            else ""
        if refused:  # a pass would claim a check that never ran
            state.skipped = refused
            cell = Cell(Status.SKIP, refused, log=cell.log)
        if cell.status is Status.BUILD_FAILURE:
            state.skipped = f"the base does not build: {cell.detail}"
        base_cells[state.target.name] = cell
    cells = {}
    for index, (commit, subject) in enumerate(commits, 1):
        checkout(tree, commit)
        log.info(f"precheck {index:02d}/{len(commits):02d} {subject[:50]}")
        for state in states:
            cells[(index, state.target.name)] = check_commit(
                tree, state, commit, logs / f"{state.target.slug}-{index:02d}.log", jobs)
    left_out = {s.target.name: s.left_out for s in states if s.left_out and not s.skipped}
    return Precheck(commits, targets, cells, base_cells, round(time.monotonic() - started, 1),
                    left_out)


def fill(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_on_hyphens=False)


def table(result: Precheck) -> str:
    """Plain text, one row per commit and one column per configuration."""
    names = [t.name for t in result.targets]
    lines = ["Configurations:"] + [f"  {chr(ord('A') + i)}  {n}" for i, n in enumerate(names)]
    lines += ["", "ok: builds, no new warning; W: a new warning; B: does not build;",
              "-: skipped", "", "  commit " + "".join(f"{chr(ord('A') + i):<3}"
                                                   for i in range(len(names))) + "subject"]
    short = {Status.PASS: "ok", Status.FAIL: "W", Status.BUILD_FAILURE: "B", Status.SKIP: "-"}
    base = [short.get(result.base[n].status, "?") for n in names]
    lines.append("  base   " + "".join(f"{c:<3}" for c in base))
    for index, (_, subject) in enumerate(result.commits, 1):
        row = "".join(f"{short.get(result.cells[(index, n)].status, '?'):<3}" for n in names)
        line = f"  {index:02d}     {row}{subject}"
        lines.append(line if len(line) <= WIDTH else line[:WIDTH - 3] + "...")
    problems = [(i, n, c) for (i, n), c in result.cells.items()
                if c.status not in (Status.PASS, Status.SKIP)]
    skips = {n: c.detail for (_, n), c in result.cells.items() if c.status is Status.SKIP}
    lines.append("")
    first = result.first_failure()
    lines.append(fill(f"First failing commit: {first[0]:02d} in {first[1]}: {first[2].detail}",
                      indent="") if first else
                 "Every commit passes every configuration that builds here.")
    for index, name, cell in sorted(problems, key=lambda p: p[:2]):
        lines.append(fill(f"{index:02d} {name}: {cell.detail}"))
        lines += [fill(w, indent="      ") for w in cell.new_warnings[1:]]
    for name, why in skips.items():
        lines.append(fill(f"skipped {name}: {why}"))
    for name, objs in result.left_out.items():
        lines.append(fill(f"{name} does not build {', '.join(objs)}"))
    lines.append(f"\n{len(result.commits)} commits x {len(names)} configurations in "
                 f"{result.seconds:.0f} s")
    return "\n".join(lines) + "\n"
