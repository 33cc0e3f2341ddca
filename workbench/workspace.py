"""Where the workbench keeps its state: kernel tree, builds, runs, and the lock.

Layout under the work directory (``--workdir``, ``$WB_WORKDIR``, else the
checkout's ``work/``, or ``./work`` when the workbench is installed as a package)::

    linux/              the kernel git tree (ours, or a worktree of the user's)
    tree.json           which tree and base commit ``wb tree`` set up
    build/<variant>/    out-of-tree build (O=) per kernel variant
    runs/<id>/          one directory per run, never reused; runs/latest -> newest
    wb.lock             held by the run in progress
"""

import datetime
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The series, config fragments and in-guest tests: workbench/data/ links to
# them in a checkout, and a wheel (`pip install .`) carries copies there.
_DATA = Path(__file__).parent / "data"
PATCHES_DIR = (_DATA / "patches").resolve()
CONFIGS_DIR = (_DATA / "configs").resolve()
KERNEL_TESTS_DIR = (_DATA / "kernel_tests").resolve()
# Run from a checkout, the work directory is the project's work/; installed
# as a package, ./work.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
DEFAULT_WORKDIR = PROJECT_ROOT / "work" if IN_CHECKOUT else Path("work")

# The two kernels every comparison is about.
VARIANTS = ("base", "patched")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls, workdir: str | None = None) -> "Workspace":
        root = workdir or os.environ.get("WB_WORKDIR") or DEFAULT_WORKDIR
        return cls(Path(root).resolve())

    @property
    def tree(self) -> Path:
        return self.root / "linux"

    @property
    def tree_record(self) -> Path:
        return self.root / "tree.json"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def build_dir(self, variant: str) -> Path:
        return self.root / "build" / variant

    def read_json(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def lock(self) -> "WorkspaceLock":
        return WorkspaceLock(self.root / "wb.lock")


class WorkspaceLock:
    """An exclusive lock on the work directory, so two runs never share a tree.

    flock() is released by the kernel when the holder dies, so a killed run
    never leaves a stale lock behind.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> "WorkspaceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WorkbenchError(
                f"another wb run is using {self.path.parent} ({holder})",
                hint="wait for it to finish, or use a separate --workdir",
            ) from None
        os.ftruncate(fd, 0)
        now = datetime.datetime.now().isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()}, started {now}".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
