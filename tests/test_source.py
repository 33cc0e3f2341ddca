import tarfile
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.proc import git
from workbench import source
from workbench.source import (BASE_TAG, chosen_tree, kernel_version, load_tree,
                              tree_from_checkout, tree_from_tarball, variant_rev)
from workbench.workspace import Workspace


def make_tarball(tmp_path: Path) -> Path:
    """A linux-source-like tarball: one top directory and Debian's .gitignore
    that ignores the whole top level."""
    top = tmp_path / "src" / "linux-source-6.12"
    (top / "fs").mkdir(parents=True)
    (top / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n")
    (top / "Kconfig").write_text("mainmenu \"t\"\n")
    (top / "fs" / "splice.c").write_text("int x;\n")
    (top / ".gitignore").write_text("*.o\n/*\n!/debian/\n")
    tarball = tmp_path / "linux-source-6.12.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(top, arcname="linux-source-6.12")
    return tarball


def test_tarball_becomes_a_repo_with_everything_committed(tmp_path: Path):
    ws = Workspace(tmp_path / "work")
    tree = tree_from_tarball(ws, make_tarball(tmp_path))
    assert tree.version == "6.12.117"
    files = git(tree.path, "ls-files").splitlines()
    assert {"Makefile", "Kconfig", "fs/splice.c", ".gitignore"} <= set(files)
    assert git(tree.path, "rev-parse", BASE_TAG) == tree.base_commit
    assert load_tree(ws) == tree


def test_base_commit_is_the_same_hash_on_every_setup(tmp_path: Path):
    tarball = make_tarball(tmp_path)
    first = tree_from_tarball(Workspace(tmp_path / "a"), tarball)
    second = tree_from_tarball(Workspace(tmp_path / "b"), tarball)
    assert first.base_commit == second.base_commit


def test_second_setup_does_no_work(tmp_path: Path):
    ws = Workspace(tmp_path / "work")
    tarball = make_tarball(tmp_path)
    tree = tree_from_tarball(ws, tarball)
    marker = tree.path / "fs" / "splice.c"
    mtime = marker.stat().st_mtime_ns
    assert tree_from_tarball(ws, tarball) == tree
    assert marker.stat().st_mtime_ns == mtime, "the tree was not unpacked again"


def test_user_checkout_is_used_through_a_worktree_and_left_alone(tmp_path: Path,
                                                                 mini_tree: Path):
    head_before = git(mini_tree, "rev-parse", "HEAD")
    branch_before = git(mini_tree, "symbolic-ref", "-q", "HEAD")
    ws = Workspace(tmp_path / "work")
    tree = tree_from_checkout(ws, mini_tree, "HEAD")
    assert tree.path == ws.tree and tree.base_commit == head_before
    assert git(ws.tree, "rev-parse", "HEAD") == head_before
    (ws.tree / "fs" / "splice.c").write_text("changed in the worktree\n")
    assert git(mini_tree, "rev-parse", "HEAD") == head_before
    assert git(mini_tree, "symbolic-ref", "-q", "HEAD") == branch_before
    assert git(mini_tree, "status", "--porcelain") == ""
    assert tree.origin == str(mini_tree)


def test_a_chosen_tree_stays_and_the_default_is_checked_again(tmp_path: Path,
                                                              mini_tree: Path, monkeypatch):
    """`wb all` keeps a tree that `wb tree` set up from a checkout or another
    kernel's tarball; one of the default tarball it sets up again (a newer
    package replaces it)."""
    ws = Workspace(tmp_path / "work")
    assert chosen_tree(ws) is None
    tarball = make_tarball(tmp_path)
    tree = tree_from_tarball(ws, tarball)
    assert chosen_tree(ws) == tree
    monkeypatch.setattr(source, "DEFAULT_TARBALL", tarball)
    assert chosen_tree(ws) is None
    checkout = tree_from_checkout(ws, mini_tree, "HEAD")
    assert chosen_tree(ws) == checkout


def test_unknown_base_revision(tmp_path: Path, mini_tree: Path):
    with pytest.raises(WorkbenchError, match="rev-parse"):
        tree_from_checkout(Workspace(tmp_path / "w"), mini_tree, "no-such-branch")


def test_patched_variant_needs_wb_apply(tmp_path: Path, mini_tree: Path):
    tree = tree_from_checkout(Workspace(tmp_path / "w"), mini_tree)
    assert variant_rev(tree, "base") == BASE_TAG
    with pytest.raises(WorkbenchError, match="no patched branch") as err:
        variant_rev(tree, "patched")
    assert "wb apply" in err.value.hint


def test_kernel_version_rejects_other_trees(tmp_path: Path):
    (tmp_path / "Makefile").write_text("all:\n\ttrue\n")
    with pytest.raises(WorkbenchError, match="not a kernel source tree"):
        kernel_version(tmp_path)
