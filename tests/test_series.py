import subprocess
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.series import Series, apply_series, parse_am_failure
from workbench.source import KernelTree
from workbench.status import Status

GIT_ID = ["-c", "user.name=Dev", "-c", "user.email=dev@example.org"]


def make_patch(tree: Path, out: Path, number: int, old: str, new: str, subject: str) -> Path:
    """A real format-patch of replacing ``old`` by ``new`` in fs/splice.c."""
    path = tree / "fs" / "splice.c"
    text = path.read_text()
    path.write_text(text.replace(old, new))
    subprocess.run(["git", *GIT_ID, "-C", str(tree), "commit", "-q", "-am", subject], check=True)
    name = subprocess.run(["git", "-C", str(tree), "format-patch", "-1", f"--start-number={number}",
                           "-o", str(out)],
                          check=True, capture_output=True, text=True).stdout.strip()
    return Path(name)


@pytest.fixture
def patches(mini_tree: Path, tmp_path: Path) -> Path:
    out = tmp_path / "patches"
    p1 = make_patch(mini_tree, out, 1, "line 10\n", "line ten\n", "splice: first")
    p2 = make_patch(mini_tree, out, 2, "line 30\n", "line thirty\n", "splice: second")
    (out / "series").write_text(f"# the series\n{p1.name}\n\n{p2.name}  # trailing\n")
    subprocess.run(["git", "-C", str(mini_tree), "checkout", "-q", "wb/base"], check=True)
    return out


def tree_of(path: Path) -> KernelTree:
    base = subprocess.run(["git", "-C", str(path), "rev-parse", "wb/base"], check=True,
                          capture_output=True, text=True).stdout.strip()
    return KernelTree(path, base, "6.12.117", "test")


def test_series_file_order_and_comments(patches: Path):
    series = Series.read(patches)
    assert [p.name for p in series.patches] == sorted(p.name for p in patches.glob("*.patch"))


def test_series_names_a_missing_patch_with_its_line(tmp_path: Path):
    (tmp_path / "series").write_text("0001-exists.patch\n0002-missing.patch\n")
    (tmp_path / "0001-exists.patch").write_text("x")
    with pytest.raises(WorkbenchError, match=r"series:2: patch '0002-missing.patch' not found"):
        Series.read(tmp_path)


def test_apply_makes_one_commit_per_patch(mini_tree: Path, patches: Path):
    result = apply_series(tree_of(mini_tree), Series.read(patches))
    assert result.status is Status.PASS
    assert len(result.commits) == 2
    log = subprocess.run(["git", "-C", str(mini_tree), "log", "--format=%s", "wb/base..HEAD"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert log[:2] == ["splice: second", "splice: first"]
    assert "line thirty" in (mini_tree / "fs/splice.c").read_text()


def test_apply_is_reproducible(mini_tree: Path, patches: Path):
    first = apply_series(tree_of(mini_tree), Series.read(patches)).head
    second = apply_series(tree_of(mini_tree), Series.read(patches)).head
    assert first == second


def test_failed_patch_is_named_and_tree_left_at_base(mini_tree: Path, patches: Path):
    # Break the second patch's context: it no longer applies after the first.
    second = sorted(patches.glob("0002-*.patch"))[0]
    second.write_text(second.read_text().replace(" line 29\n", " line 29 changed\n"))
    tree = tree_of(mini_tree)
    result = apply_series(tree, Series.read(patches))
    assert result.status is Status.APPLY_FAILURE
    assert result.failed_patch == second
    assert result.failed_at == ("fs/splice.c:27",)
    head = subprocess.run(["git", "-C", str(mini_tree), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert head == tree.base_commit
    status = subprocess.run(["git", "-C", str(mini_tree), "status", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    assert status == ""
    assert "line ten" not in (mini_tree / "fs/splice.c").read_text()
    assert not (mini_tree / ".git" / "rebase-apply").exists()


def test_parse_am_failure_reads_git_apply_errors():
    output = ("Applying: splice: second\nerror: patch failed: fs/splice.c:27\n"
              "error: fs/splice.c: patch does not apply\n"
              "error: include/linux/new.h: does not exist in index\n")
    assert parse_am_failure(output) == ("fs/splice.c:27", "include/linux/new.h (file missing)")
