"""Stage 4: out-of-tree kernel builds, one output directory per variant.

The variants share one source tree (switched with ``git checkout``, which only
rewrites the files that differ) so that compiler command lines are identical
across variants and ccache serves the second variant from the first.
"""

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import log
from workbench.kconfig import ARCH
from workbench.source import KernelTree, checkout
from workbench.status import Status
from workbench.proc import git, run

IMAGE = Path("arch/x86/boot/bzImage")
_PROGRESS_EVERY = 20.0  # seconds between progress lines
_COMPILE_LINE = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC)\s")
_ERROR_LINE = re.compile(r"^\S+:\d+:(\d+:)? (fatal )?error: |^make\[\d+\]: \*\*\* "
                         r"|undefined reference to |multiple definition of ")


@dataclass(frozen=True)
class BuildResult:
    variant: str
    status: Status
    commit: str
    build_dir: Path
    log: Path
    seconds: float
    image: Path | None = None
    errors: tuple[str, ...] = ()


def make_vars() -> tuple[str, ...]:
    """Variables every make call passes (config and build alike, so ccache and
    make see the same compiler on both)."""
    if shutil.which("ccache"):
        return ("CC=ccache gcc",)
    return ()


def ccache_env(tree: Path) -> dict[str, str]:
    """What a kernel build adds to the environment for ccache.

    CCACHE_BASEDIR (unless the user set one): the compiler sees absolute
    paths (the build is out of tree); ccache rewrites them relative to the
    build directory, so they are the same in every clone and worktree and
    ccache serves a second checkout too. The compiler then names sources by
    those relative paths in its warnings, which ccache replays on a hit:
    the warning ledgers of wb series and precheck rely on that. Depend mode
    (CCACHE_DEPEND) would spare a cold build a third of its time here, but
    it runs the compiler with the original absolute paths, so a hit in
    another clone replays warnings that name the first clone's files.
    """
    return {"CCACHE_BASEDIR": os.environ.get("CCACHE_BASEDIR", str(tree.parent))}


def first_errors(log_text: str, limit: int = 10) -> tuple[str, ...]:
    """The first compiler, linker and make errors of a build log."""
    found = [line for line in log_text.splitlines() if _ERROR_LINE.search(line)]
    return tuple(found[:limit])


def _read_stats(build_dir: Path) -> dict:
    path = build_dir / "wb-build-stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


def compiler_of(build_dir: Path) -> str:
    """The compiler the kernel in ``build_dir`` is configured for, as Kconfig
    recorded it (``CONFIG_CC_VERSION_TEXT``: ``$(CC) --version``'s first
    line); "" when the .config has none."""
    try:
        config = (build_dir / ".config").read_text(errors="replace")
    except FileNotFoundError:
        return ""
    m = re.search(r'^CONFIG_CC_VERSION_TEXT="(.*)"$', config, re.M)
    return m[1].replace('\\"', '"') if m else ""


def built_commit(build_dir: Path) -> str:
    """The commit ``build_dir`` was last built from successfully ("" if never)."""
    return _read_stats(build_dir).get("commit", "")


# The mtime given to sources whose content a build dir already built: older
# than any object, so make leaves their objects alone.
_BUILT_MTIME = 946684800  # 2000-01-01


def switch_to(tree: KernelTree, rev: str, build_dir: Path) -> str:
    """Check out ``rev`` for building in ``build_dir``; returns the commit.

    make compares mtimes, but git gives every file it writes a fresh one (on
    variant switches, and when ``wb apply`` rebuilds the series), and keeps
    the old one on files it does not write. So, against the last successful
    build of ``build_dir``: tracked files with the content it built from get
    an mtime older than any object; files that differ from it (commits apart,
    or uncommitted edits then or now) get a fresh one if theirs is older than
    that build.
    """
    commit = git(tree.path, "rev-parse", f"{rev}^{{commit}}")
    if git(tree.path, "rev-parse", "HEAD") != commit:
        checkout(tree, commit)
    stats = _read_stats(build_dir)
    if not stats.get("commit"):
        return commit
    changed = set(git(tree.path, "diff", "--name-only", stats["commit"], commit).splitlines())
    changed |= set(git(tree.path, "diff", "--name-only", "HEAD").splitlines())
    changed |= set(stats.get("dirty", ()))
    now = time.time()
    for name in git(tree.path, "ls-files", "-z").split("\0"):
        path = tree.path / name
        try:
            mtime = path.lstat().st_mtime
            if name in changed:
                if mtime <= stats["started"]:
                    os.utime(path, (now, now), follow_symlinks=False)
            elif name and mtime > _BUILT_MTIME:
                os.utime(path, (_BUILT_MTIME, _BUILT_MTIME), follow_symlinks=False)
        except FileNotFoundError:
            continue
    return commit


def build_kernel(tree: KernelTree, variant: str, rev: str, build_dir: Path,
                 log_path: Path, jobs: int | None = None) -> BuildResult:
    commit = switch_to(tree, rev, build_dir)
    jobs = jobs or os.cpu_count() or 1
    cmd = ["make", "-C", str(tree.path), f"O={build_dir}", f"ARCH={ARCH}", *make_vars(),
           f"-j{jobs}", "bzImage"]
    env = os.environ | {"KBUILD_BUILD_USER": "workbench", "KBUILD_BUILD_HOST": "workbench",
                        **ccache_env(tree.path)}
    stats_path = build_dir / "wb-build-stats.json"
    expected = _read_stats(build_dir).get("steps")
    # Until this build succeeds, the objects may match no commit (a failed or
    # interrupted build leaves some rebuilt): forget which one they came from.
    stats_path.write_text(json.dumps({"steps": expected}) + "\n")
    dirty = git(tree.path, "diff", "--name-only", "HEAD").splitlines()
    started = time.time()

    log.info(f"build {variant} at {commit[:12]}: make -j{jobs}, log {log_path}")
    start = time.monotonic()
    steps = 0
    last_report = start
    with log_path.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        assert proc.stdout is not None  # stdout=PIPE
        try:
            for line in proc.stdout:
                out.write(line)
                if _COMPILE_LINE.match(line):
                    steps += 1
                now = time.monotonic()
                if now - last_report >= _PROGRESS_EVERY:
                    last_report = now
                    share = f" of ~{expected}" if expected else ""
                    log.info(f"build {variant}: {steps}{share} steps, {now - start:.0f} s")
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    seconds = round(time.monotonic() - start, 1)
    image = build_dir / IMAGE
    if returncode != 0 or not image.exists():
        errors = first_errors(log_path.read_text(errors="replace"))
        return BuildResult(variant, Status.BUILD_FAILURE, commit, build_dir, log_path,
                           seconds, errors=errors)
    # Only a build that compiled from scratch tells how many steps a full one takes.
    stats = {"steps": max(steps, expected or 0), "commit": commit, "started": started,
             "dirty": dirty}
    stats_path.write_text(json.dumps(stats) + "\n")
    return BuildResult(variant, Status.PASS, commit, build_dir, log_path, seconds, image)


def install_uapi_headers(tree: Path, out: Path, log_path: Path) -> Path:
    """``make headers_install`` of ``tree`` into ``out/usr``, out of tree (O=)
    so that the tree stays clean; returns the include directory, which
    kselftests take as ``KHDR_INCLUDES``."""
    run(["make", "-s", "-C", str(tree), f"O={out / 'headers-build'}", "headers_install",
         f"INSTALL_HDR_PATH={out / 'usr'}"], log=log_path)
    return out / "usr" / "include"
