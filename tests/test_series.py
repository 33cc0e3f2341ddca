import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.series import (Kernels, Series, apply_series, choose_series, parse_am_failure,
                              release_line, shared)
from workbench.source import KernelTree
from workbench.status import Status
from workbench.workspace import PATCHES_DIR

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
    (out / "series").write_text(f"# the series\n# kernel: 6.12\n{p1.name}\n\n"
                                f"{p2.name}  # trailing\n")
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


def series_file(directory: Path, header: str, patches: tuple[str, ...] = ("0001-a.patch",)
                ) -> Path:
    """A series file with ``header`` above ``patches`` (which exist)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in patches:
        (directory / name).write_text("x")
    (directory / "series").write_text(header + "".join(f"{n}\n" for n in patches))
    return directory


def test_series_header_names_its_kernels(patches: Path):
    series = Series.read(patches)
    assert series.kernels is not None and str(series.kernels) == "6.12"
    assert series.directory == patches and series.file == patches / "series"


@pytest.mark.parametrize("line,kernels,matching,others", [
    ("# kernel: 6.12", "6.12", ["6.12.117", "6.12.0", "6.12.0-rc3", "6.12"],
     ["6.1.2", "6.13.0", "7.12.0", "5.12.1"]),
    ("# kernel: >=7.3", ">=7.3", ["7.3.0-rc7", "7.3.0", "7.3.12", "7.4.0", "7.10.1", "8.0.0"],
     ["7.2.9", "7.0.3", "6.12.117", "6.30.0"]),
    ("# kernel:   6.6 ,6.12  ", "6.6, 6.12", ["6.6.60", "6.12.117"], ["6.7.0", "6.11.0"]),
    ("# kernel: >=6.12, 6.6", ">=6.12, 6.6", ["6.6.1", "6.12.0", "7.0.0"], ["6.7.0", "6.11.9"]),
])
def test_kernel_line_terms(tmp_path: Path, line: str, kernels: str, matching: list[str],
                           others: list[str]):
    series = Series.read(series_file(tmp_path, f"# the series\n{line}\n"))
    assert series.kernels is not None and str(series.kernels) == kernels
    assert [v for v in matching + others if series.kernels.matches(v)] == matching


def test_release_line_of_kernel_versions():
    assert release_line("7.3.0-rc7") == (7, 3)
    assert release_line("6.12.117") == (6, 12)
    assert release_line("7.0.3-fake") == (7, 0)
    assert release_line("6") is None and release_line("v6.12") is None
    assert not Kernels.parse(">=6.0", "x").matches("unknown")


@pytest.mark.parametrize("line,error", [
    ("# kernel: 6.12.117", "'6.12.117' is not a kernel"),
    ("# kernel: >7.3", "'>7.3' is not a kernel"),
    ("# kernel: 7", "'7' is not a kernel"),
    ("# kernel: 6.12 and later", "'6.12 and later' is not a kernel"),
    ("# kernel: 6.12,", "'' is not a kernel"),
    ("# kernel:", "malformed kernel line '# kernel:'"),
    ("# Kernel: 6.12", "malformed kernel line '# Kernel: 6.12'"),
    ("#kernel: 6.12", "malformed kernel line '#kernel: 6.12'"),
    ("# kernels = 6.12", "malformed kernel line '# kernels = 6.12'"),
    ("# kernel 6.12", "malformed kernel line '# kernel 6.12'"),
    ("# kernel >=7.3", "malformed kernel line '# kernel >=7.3'"),
])
def test_malformed_kernel_line_is_named_with_file_and_line(tmp_path: Path, line: str,
                                                           error: str):
    directory = series_file(tmp_path, f"# the series\n\n{line}\n")
    with pytest.raises(WorkbenchError) as raised:
        Series.read(directory)
    assert str(raised.value).startswith(f"{directory}/series:3: {error}"), raised.value
    assert "expected '# kernel: X.Y'" in str(raised.value)


def test_kernel_line_belongs_in_the_header_once(tmp_path: Path):
    late = series_file(tmp_path / "late", "# the series\n", ("0001-a.patch", "0002-b.patch"))
    (late / "series").write_text("0001-a.patch\n# kernel: 6.12\n0002-b.patch\n")
    with pytest.raises(WorkbenchError, match=r"late/series:2: the kernel line must be in the "
                                             r"header, before the first patch"):
        Series.read(late)
    twice = series_file(tmp_path / "twice", "# kernel: 6.12\n# kernel: >=7.3\n")
    with pytest.raises(WorkbenchError, match=r"twice/series:2: a second kernel line \(the "
                                             r"first is line 1\)"):
        Series.read(twice)


def test_series_without_kernel_line_says_where_it_would_be(tmp_path: Path):
    series = Series.read(series_file(tmp_path, "# the kernel series\n# Linux 6.12\n\n"))
    assert series.kernels is None
    assert series.header_end == 4, "the first patch's line"


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


# -- which series: by the tree's kernel, or --patches as given -------------------

@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """patches/ as the project lays it out with both series: the mainline one
    at the top (``# kernel: >=7.3``) and the 6.12 backport in stable-6.12/,
    sharing man-pages/ and the cover letter. Both are copies of the package's
    6.12 series (the mainline one only with another kernel line), until the
    ported series is there to copy."""
    backport = choose_series("6.12.117")
    root = tmp_path / "patches"
    shutil.copytree(backport.directory, root / "stable-6.12",
                    ignore=shutil.ignore_patterns("man-pages", "cover-letter.txt", "stable-*"))
    shutil.copytree(PATCHES_DIR / "man-pages", root / "man-pages")
    shutil.copy(PATCHES_DIR / "cover-letter.txt", root / "cover-letter.txt")
    for patch in backport.patches:
        shutil.copy(patch, root / patch.name)
    text = backport.file.read_text()
    assert "# kernel: 6.12\n" in text
    (root / "series").write_text(text.replace("# kernel: 6.12\n", "# kernel: >=7.3\n"))
    return root


@pytest.mark.parametrize("version,chosen", [
    ("6.12.117", "stable-6.12"), ("6.12.0", "stable-6.12"), ("6.12.0-rc1", "stable-6.12"),
    ("7.3.0-rc7", ""), ("7.3.0", ""), ("7.3.5", ""), ("7.4.0", ""), ("7.10.0-rc1", ""),
    ("8.0.0", ""),
])
def test_series_is_chosen_by_the_trees_kernel(layout: Path, version: str, chosen: str,
                                              capsys: pytest.CaptureFixture[str]):
    capsys.readouterr()
    series = choose_series(version, root=layout)
    assert series.directory == layout / chosen if chosen else series.directory == layout
    assert len(series.patches) == len(Series.read(layout / "stable-6.12").patches) > 0
    kernel = "6.12" if chosen else ">=7.3"
    shown = f"patches/{chosen}" if chosen else "patches"
    assert capsys.readouterr().err == (f"[wb] series: {shown} (kernel {kernel}) for Linux "
                                       f"{version}\n")


@pytest.mark.parametrize("version", ["7.0.3", "7.2.0", "6.13.1", "6.6.60", "5.15.0"])
def test_no_series_for_the_trees_kernel_lists_those_there_are(layout: Path, version: str):
    with pytest.raises(WorkbenchError) as raised:
        choose_series(version, root=layout)
    assert str(raised.value) == (f"no series for Linux {version} in {layout}; the series there "
                                 f"are:\n  {layout} (kernel >=7.3)\n"
                                 f"  {layout}/stable-6.12 (kernel 6.12)")
    assert raised.value.hint and "--patches DIR" in raised.value.hint
    assert raised.value.status is None, "bad input: exit 2, the run stops before any stage"


def test_without_the_mainline_series_7_3_has_none(layout: Path):
    (layout / "series").unlink()
    with pytest.raises(WorkbenchError, match=r"no series for Linux 7\.3\.0-rc7 in .*; the series "
                                             r"there are:\n  \S+/stable-6\.12 \(kernel 6\.12\)$"):
        choose_series("7.3.0-rc7", root=layout)


def test_a_series_of_patches_without_kernel_line_is_an_error(layout: Path):
    series_file(layout / "stable-6.6", "# the 6.6 backport\n\n", ("0001-a.patch",))
    with pytest.raises(WorkbenchError) as raised:
        choose_series("6.12.117", root=layout)
    assert str(raised.value).startswith(f"{layout}/stable-6.6/series:3: no kernel line before "
                                        "the first patch")
    assert "'# kernel: X.Y'" in str(raised.value.hint)


def test_two_series_for_one_kernel_is_an_error(layout: Path):
    series_file(layout / "stable-7.3", "# kernel: 7.3\n")
    with pytest.raises(WorkbenchError, match=r"Linux 7\.3\.0-rc7 matches more than one series"):
        choose_series("7.3.0-rc7", root=layout)
    assert choose_series("7.4.0", root=layout).directory == layout


def test_explicit_patches_for_another_kernel_warn_and_are_used(layout: Path,
                                                               capsys: pytest.CaptureFixture[str]):
    backport = layout / "stable-6.12"
    assert choose_series("7.3.0-rc7", backport, root=layout).directory == backport
    assert capsys.readouterr().err == (f"[wb] warning: series {backport} is for kernel 6.12, "
                                       "not Linux 7.3.0-rc7: using it as --patches asks\n")
    assert choose_series("6.12.117", backport, root=layout).directory == backport
    assert capsys.readouterr().err == (f"[wb] series: {backport} (kernel 6.12) for Linux "
                                       "6.12.117\n")


def test_explicit_patches_of_an_older_revision_without_kernel_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A revision from before series files named their kernels still applies."""
    older = series_file(tmp_path / "v1", "# SPLICE_F_STABLE v1\n")
    assert choose_series("6.12.117", older).patches == [older / "0001-a.patch"]
    assert capsys.readouterr().err == (f"[wb] warning: {older}/series has no kernel line: "
                                       "using it for Linux 6.12.117 as --patches asks\n")
    (older / "series").write_text("# kernel 6.12\n0001-a.patch\n")
    with pytest.raises(WorkbenchError, match=r"v1/series:1: malformed kernel line"):
        choose_series("6.12.117", older)


def test_shared_files_are_found_next_to_the_series_directories(layout: Path, tmp_path: Path):
    backport = layout / "stable-6.12"
    assert shared(backport, "cover-letter.txt") == layout / "cover-letter.txt"
    assert shared(backport, "man-pages") == layout / "man-pages"
    assert shared(layout, "cover-letter.txt") == layout / "cover-letter.txt"
    (backport / "cover-letter.txt").write_text("its own\n")
    assert shared(backport, "cover-letter.txt") == backport / "cover-letter.txt"
    alone = series_file(tmp_path / "elsewhere" / "v1", "# kernel: 6.12\n")
    assert shared(alone, "cover-letter.txt") == alone / "cover-letter.txt", "for the error"


def test_the_projects_own_series_are_chosen_by_kernel():
    """patches/stable-6.12 for Debian's 6.12; patches/ itself (mainline, for
    submission) for 7.3 and later."""
    assert choose_series("6.12.117").directory == PATCHES_DIR / "stable-6.12"
    assert shared(PATCHES_DIR / "stable-6.12", "cover-letter.txt") == \
        PATCHES_DIR / "cover-letter.txt"
    with pytest.raises(WorkbenchError, match=r"no series for Linux 7\.0\.3 in "):
        choose_series("7.0.3")
    assert choose_series("7.3.0-rc7").directory == PATCHES_DIR
    assert choose_series("7.4.1").directory == PATCHES_DIR
