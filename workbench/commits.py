"""``wb series``: every commit of the series on its own, in order.

Per commit: build it (incrementally, in one build directory shared by all
commits, so make and ccache only redo what the commit changed), compare the
compiler warnings in the files it touches with those before it, run
``checkpatch.pl --strict`` on it, boot it and run a fast integrity subset.
The first commit that fails is named with its reason.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.proc import git, run, venv_path
from workbench.status import Status

# Message types a series may trigger without being wrong: new files make
# checkpatch ask whether MAINTAINERS needs updating.
DEFAULT_CHECKPATCH_IGNORE = ("FILE_PATH_CHANGES",)
# The integrity subset runs where the two paths of SPLICE_F_STABLE are:
# zero copy (ext4) and the copy (tmpfs).
SUBSET_FILESYSTEMS = ("tmpfs", "ext4")

_TOTAL = re.compile(r"^total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?\d+ lines? checked",
                    re.M)
_MESSAGE = re.compile(r"^(ERROR|WARNING|CHECK): (.*)$", re.M)
_WARNING = re.compile(r"^(?P<file>[^\s:]+):\d+:(?:\d+:)? warning: (?P<text>.*)$", re.M)
# Kbuild's line for each C file it compiles: "  CC      fs/splice.o".
_COMPILED = re.compile(r"^\s+CC\s+(?:\[M\]\s+)?(\S+)\.o$", re.M)


@dataclass(frozen=True)
class Checkpatch:
    errors: int
    warnings: int
    checks: int
    messages: tuple[str, ...]  # "ERROR: trailing whitespace", in order

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.warnings == 0

    def summary(self) -> str:
        return f"{self.errors} errors, {self.warnings} warnings, {self.checks} checks"


def parse_checkpatch(output: str) -> Checkpatch:
    """checkpatch.pl's report for one patch."""
    total = _TOTAL.search(output)
    if not total:
        raise ValueError("no 'total: ...' line in checkpatch output")
    messages = tuple(f"{kind}: {text.strip()}" for kind, text in _MESSAGE.findall(output))
    return Checkpatch(int(total[1]), int(total[2]), int(total[3] or 0), messages)


def run_checkpatch(tree: Path, commit: str, patch_path: Path,
                   ignore: tuple[str, ...]) -> Checkpatch:
    """checkpatch.pl --strict on ``commit`` as format-patch makes it (kept
    in ``patch_path``; the report next to it, ``.checkpatch``)."""
    patch_path.write_text(run(["git", "-C", str(tree), "format-patch", "-1", "--stdout",
                               commit]).stdout)
    cmd = [str(tree / "scripts/checkpatch.pl"), "--strict", "--color=never"]
    if ignore:
        cmd += ["--ignore", ",".join(ignore)]
    proc = run([*cmd, str(patch_path)], cwd=tree, check=False,
               env=os.environ | {"PATH": venv_path()})
    patch_path.with_suffix(".checkpatch").write_text(proc.stdout)
    if "Traceback (most recent call last)" in proc.stdout:
        # spdxcheck.py's failures are not counted in checkpatch's totals
        raise WorkbenchError(f"checkpatch.pl on {patch_path.name}: a helper it runs failed "
                             f"(see {patch_path.with_suffix('.checkpatch')}):\n"
                             + proc.stdout.split("Traceback", 1)[1][-800:],
                             hint="scripts/spdxcheck.py needs ply and GitPython, which the "
                                  "workbench's virtualenv has (make setup)")
    return parse_checkpatch(proc.stdout)


def compiler_warnings(log_text: str, tree: Path, build_dir: Path) -> dict[str, set[str]]:
    """Warnings of a build log by source file (relative to ``tree``).

    The compiler names a source by the path it was given: absolute in an
    out-of-tree build, or relative to ``build_dir`` when ccache rewrites it
    (CCACHE_BASEDIR). Line numbers are left out: a commit that moves code
    must not make the warnings already there look new.
    """
    root = tree.resolve()
    found: dict[str, set[str]] = {}
    for m in _WARNING.finditer(log_text):
        path = Path(os.path.normpath(build_dir / m["file"]))
        name = str(path.relative_to(root)) if path.is_relative_to(root) else m["file"]
        found.setdefault(name, set()).add(m["text"].strip())
    return found


@dataclass
class WarningLedger:
    """The warnings each source file had when it was last compiled.

    make recompiles a file exactly when it or a header it includes changed,
    so after each build the entry of every file the build compiled is
    replaced and the others still hold.
    """
    known: dict[str, set[str]] = field(default_factory=dict)

    def new_in(self, log_text: str, tree: Path, build_dir: Path,
               touched: tuple[str, ...]) -> tuple[str, ...]:
        """Record a build; return the warnings new in ``touched`` files."""
        now = compiler_warnings(log_text, tree, build_dir)
        new = tuple(f"{name}: {text}" for name in touched
                    for text in sorted(now.get(name, set()) - self.known.get(name, set())))
        # Every file this build compiled now has the warnings it printed (or
        # none): a clean recompile must forget what an earlier run saw.
        compiled = {f"{obj}.c" for obj in _COMPILED.findall(log_text)}
        for name in set(touched) | set(now) | compiled:
            self.known[name] = now.get(name, set())
        return new

    def to_json(self) -> dict[str, list[str]]:
        return {name: sorted(texts) for name, texts in sorted(self.known.items())}

    @classmethod
    def from_json(cls, data: dict[str, list[str]]) -> "WarningLedger":
        return cls({name: set(texts) for name, texts in data.items()})


@dataclass(frozen=True)
class CommitResult:
    index: int  # 1-based position in the series
    commit: str
    subject: str
    touched: tuple[str, ...]
    build: Status
    build_seconds: float = 0.0
    new_warnings: tuple[str, ...] = ()
    checkpatch: Checkpatch | None = None
    tests: Status | None = None  # None: not booted (the build failed)
    counts: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    @property
    def status(self) -> Status:
        if self.build is not Status.PASS:
            return self.build
        if self.new_warnings or (self.checkpatch and not self.checkpatch.passed):
            return Status.FAIL
        return self.tests or Status.PASS

    def why(self) -> str:
        """What failed, in one line ("" for a commit that passed)."""
        if self.build is not Status.PASS:
            return f"build {self.build.value}: {self.reason}"
        if self.new_warnings:
            return f"new compiler warning: {self.new_warnings[0]}"
        if self.checkpatch and not self.checkpatch.passed:
            first = next((m for m in self.checkpatch.messages
                          if not m.startswith("CHECK")), "")
            return f"checkpatch: {self.checkpatch.summary()} ({first})"
        if self.tests and not self.tests.ok:
            return f"tests {self.tests.value}: {self.reason}"
        return ""


def touched_files(tree: Path, commit: str) -> tuple[str, ...]:
    return tuple(git(tree, "diff-tree", "--no-commit-id", "--name-only", "-r",
                     commit).splitlines())


def first_failure(results: list[CommitResult]) -> CommitResult | None:
    return next((r for r in results if not r.status.ok), None)


def markdown(results: list[CommitResult], total: int | None = None) -> str:
    """The per-commit table; ``total`` commits in the series (default: as
    many as ``results``), so that a table written part way says so."""
    total = len(results) if total is None else total
    lines = ["| # | commit | subject | build | new warnings | checkpatch | tests | result |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        cp = (f"{r.checkpatch.errors}/{r.checkpatch.warnings}/{r.checkpatch.checks}"
              if r.checkpatch else "-")
        tests = "-" if r.tests is None else (
            f"{r.tests.value} ({r.counts.get('PASS', 0)} pass, {r.counts.get('FAIL', 0)} fail, "
            f"{r.counts.get('SKIP', 0)} skip)")
        lines.append(f"| {r.index} | `{r.commit[:12]}` | {r.subject} | {r.build.value} "
                     f"({r.build_seconds:.0f} s) | {len(r.new_warnings)} | {cp} | {tests} | "
                     f"{r.status.value} |")
    failed = first_failure(results)
    if failed:
        verdict = (f"First failing commit: {failed.index} `{failed.commit[:12]}` "
                   f"{failed.subject}: {failed.why()}")
    elif len(results) < total:
        verdict = f"Checked {len(results)} of {total} commits so far; none failed."
    else:
        verdict = "Every commit passed."
    lines += ["", "checkpatch: errors/warnings/checks (--strict).", "", verdict]
    return "\n".join(lines) + "\n"
