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
from workbench.errors import WorkbenchError
from workbench.kconfig import ARCH
from workbench.source import KernelTree, checkout
from workbench.status import Status
from workbench.proc import git

IMAGE = Path("arch/x86/boot/bzImage")
_PROGRESS_EVERY = 20.0  # seconds between progress lines
_COMPILE_LINE = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC)\s")
_ERROR_LINE = re.compile(r"^\S+:\d+:(\d+:)? (fatal )?error: |^make\[\d+\]: \*\*\* |^ld: .*(undefined|multiple)")


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


def first_errors(log_text: str, limit: int = 10) -> tuple[str, ...]:
    """The first compiler, linker and make errors of a build log."""
    found = [line for line in log_text.splitlines() if _ERROR_LINE.search(line)]
    return tuple(found[:limit])


def _read_stats(build_dir: Path) -> dict:
    path = build_dir / "wb-build-stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


def built_commit(build_dir: Path) -> str:
    """The commit ``build_dir`` was last built from successfully ("" if never)."""
    return _read_stats(build_dir).get("commit", "")


def switch_to(tree: KernelTree, rev: str, build_dir: Path) -> str:
    """Check out ``rev`` for building in ``build_dir``; returns the commit.

    git gives every file it writes a fresh mtime (on variant switches, and
    when ``wb apply`` rebuilds the series), which would make make recompile
    and relink what ``build_dir`` already built. Tracked files written since
    that build whose content is what it was built from get an mtime from
    before it instead; edits not committed yet keep theirs.
    """
    commit = git(tree.path, "rev-parse", f"{rev}^{{commit}}")
    if git(tree.path, "rev-parse", "HEAD") != commit:
        checkout(tree, commit)
    stats = _read_stats(build_dir)
    if not stats.get("commit"):
        return commit
    before_build = stats["started"] - 1
    changed = set(git(tree.path, "diff", "--name-only", stats["commit"], commit).splitlines())
    changed |= set(git(tree.path, "diff", "--name-only", "HEAD").splitlines())
    for name in git(tree.path, "ls-files", "-z").split("\0"):
        path = tree.path / name
        try:
            if name and name not in changed and path.lstat().st_mtime > before_build:
                os.utime(path, (before_build, before_build), follow_symlinks=False)
        except FileNotFoundError:
            continue
    return commit


def build_kernel(tree: KernelTree, variant: str, rev: str, build_dir: Path,
                 log_path: Path, jobs: int | None = None) -> BuildResult:
    if not (build_dir / ".config").exists():
        raise WorkbenchError(f"no .config in {build_dir}",
                             hint=f"run `wb config --variant {variant}` first")
    commit = switch_to(tree, rev, build_dir)
    jobs = jobs or os.cpu_count() or 1
    cmd = ["make", "-C", str(tree.path), f"O={build_dir}", f"ARCH={ARCH}", *make_vars(),
           f"-j{jobs}", "bzImage"]
    env = os.environ | {"KBUILD_BUILD_USER": "workbench", "KBUILD_BUILD_HOST": "workbench"}
    stats = _read_stats(build_dir)
    expected = stats.get("steps")
    started = time.time()

    log.info(f"build {variant} at {commit[:12]}: make -j{jobs}, log {log_path}")
    start = time.monotonic()
    steps = 0
    last_report = start
    with log_path.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
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
    stats = {"steps": max(steps, expected or 0), "commit": commit, "started": started}
    (build_dir / "wb-build-stats.json").write_text(json.dumps(stats) + "\n")
    return BuildResult(variant, Status.PASS, commit, build_dir, log_path, seconds, image)
