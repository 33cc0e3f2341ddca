import subprocess
from pathlib import Path

import pytest

from fakes import fakelinux

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def mini_tree(tmp_path: Path) -> Path:
    """A tiny git repo shaped like a kernel tree (Makefile, Kconfig, one C file),
    with its first commit tagged wb/base: enough for real git am runs."""
    tree = tmp_path / "linux"
    (tree / "fs").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n"
                                   "EXTRAVERSION =\n")
    (tree / "Kconfig").write_text("mainmenu \"test\"\n")
    (tree / "fs" / "splice.c").write_text("".join(f"line {i}\n" for i in range(1, 41)))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-C", str(tree)]
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    subprocess.run([*git, "tag", "wb/base"], check=True)
    return tree


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    """A kernel-shaped git checkout that `wb tree --tree` accepts and on which
    config, build and apply really run (tests/fakes/fakelinux.py)."""
    return fakelinux.create(tmp_path / "src" / "linux")
