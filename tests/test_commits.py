"""Per-commit checks of ``wb series``, on output captured from real tools.

checkpatch-bad.txt / checkpatch-clean.txt: scripts/checkpatch.pl --strict of
6.12.117 on a commit with style problems and on the series' selftest commit;
build-warning.log: an out-of-tree ``make fs/splice.o`` (tree at /tmp/wt) of a
splice.c with an unused variable.
"""

from pathlib import Path

import pytest

from workbench.commits import (CommitResult, WarningLedger, compiler_warnings,
                               first_failure, markdown, parse_checkpatch)
from workbench.status import Status

GOLDEN = Path(__file__).parent / "data" / "golden"
BUILD_TREE = Path("/tmp/wt")
BUILD_DIR = Path("/tmp/wtbuild")  # where make built it (build-warning.log)


def test_checkpatch_report_of_a_bad_commit():
    report = parse_checkpatch((GOLDEN / "checkpatch-bad.txt").read_text())
    assert (report.errors, report.warnings, report.checks) == (4, 3, 0)
    assert not report.passed
    assert report.messages[0] == "WARNING: Missing commit description - Add an appropriate one"
    assert "ERROR: trailing whitespace" in report.messages
    assert len(report.messages) == 7


def test_checkpatch_report_of_a_clean_commit():
    report = parse_checkpatch((GOLDEN / "checkpatch-clean.txt").read_text())
    assert report.passed and report.messages == ()
    assert report.summary() == "0 errors, 0 warnings, 0 checks"


def test_checkpatch_output_without_a_total_is_an_error():
    with pytest.raises(ValueError, match="total"):
        parse_checkpatch("Can't open patch\n")


def test_compiler_warnings_are_keyed_by_tree_relative_file_without_line_numbers():
    warnings = compiler_warnings((GOLDEN / "build-warning.log").read_text(), BUILD_TREE,
                                 BUILD_DIR)
    assert warnings == {"fs/splice.c": {"unused variable ‘unused_in_test’ [-Wunused-variable]"}}


def test_warnings_named_relative_to_the_build_directory_are_found():
    """With CCACHE_BASEDIR ccache hands the compiler paths relative to the
    build directory (a real wb series build log of a commit that adds an
    unused variable)."""
    log_text = (GOLDEN / "build-warning-relative.log").read_text()
    tree, build_dir = Path("/tmp/ci-clone/work/linux"), Path("/tmp/ci-clone/work/build/series")
    assert compiler_warnings(log_text, tree, build_dir) == {
        "fs/splice.c": {"unused variable ‘wb_unused’ [-Wunused-variable]"}}
    assert WarningLedger().new_in(log_text, tree, build_dir, ("fs/splice.c",)) == (
        "fs/splice.c: unused variable ‘wb_unused’ [-Wunused-variable]",)


def test_ledger_reports_a_warning_once_and_only_in_touched_files():
    log_text = (GOLDEN / "build-warning.log").read_text()
    ledger = WarningLedger()
    assert ledger.new_in(log_text, BUILD_TREE, BUILD_DIR, ("fs/pipe.c",)) == ()
    # Recorded although the commit did not touch it: the file had it before.
    assert ledger.new_in(log_text, BUILD_TREE, BUILD_DIR, ("fs/splice.c",)) == ()

    fresh = WarningLedger()
    assert fresh.new_in(log_text, BUILD_TREE, BUILD_DIR, ("fs/splice.c",)) == (
        "fs/splice.c: unused variable ‘unused_in_test’ [-Wunused-variable]",)
    # A later commit that fixes the warning and one that brings it back.
    assert fresh.new_in("  CC      fs/splice.o\n", BUILD_TREE, BUILD_DIR, ("fs/splice.c",)) == ()
    assert len(fresh.new_in(log_text, BUILD_TREE, BUILD_DIR, ("fs/splice.c",))) == 1
    assert WarningLedger.from_json(fresh.to_json()).known == fresh.known


def _result(index: int, **kw) -> CommitResult:
    defaults = dict(commit=f"{index:040x}", subject=f"patch {index}", touched=("fs/splice.c",),
                    build=Status.PASS, tests=Status.PASS, counts={"PASS": 3})
    return CommitResult(index, **(defaults | kw))


def test_first_failing_commit_is_named_with_its_reason():
    bad = parse_checkpatch((GOLDEN / "checkpatch-bad.txt").read_text())
    results = [_result(1),
               _result(2, checkpatch=bad),
               _result(3, build=Status.BUILD_FAILURE, tests=None,
                       reason="fs/splice.c:10:1: error: expected ';'")]
    assert [r.status for r in results] == [Status.PASS, Status.FAIL, Status.BUILD_FAILURE]
    assert first_failure(results).index == 2
    assert results[1].why() == ("checkpatch: 4 errors, 3 warnings, 0 checks "
                                "(WARNING: Missing commit description - Add an appropriate one)")
    table = markdown(results)
    assert sum(line.startswith("| ") for line in table.splitlines()) == 4  # header + 3
    assert "| 2 | `000000000000` | patch 2 | PASS (0 s) | 0 | 4/3/0 |" in table
    assert "First failing commit: 2 " in table


def test_a_new_warning_or_failed_test_fails_the_commit():
    warned = _result(1, new_warnings=("fs/splice.c: unused variable",))
    assert warned.status is Status.FAIL
    assert warned.why() == "new compiler warning: fs/splice.c: unused variable"
    oops = _result(2, tests=Status.OOPS, reason="KASAN in ext4.stable.tcp.write.before_confirm")
    assert oops.status is Status.OOPS and oops.why().startswith("tests OOPS: KASAN")
    assert markdown([_result(1)]).rstrip().endswith("Every commit passed.")


def test_a_table_written_part_way_says_how_far_it_got():
    assert markdown([_result(1), _result(2)], total=9).rstrip().endswith(
        "Checked 2 of 9 commits so far; none failed.")
    assert "First failing commit: 1 " in markdown([_result(1, tests=Status.FAIL)], total=9)


def test_checkpatch_runs_spdxcheck_with_the_virtualenvs_python(tmp_path: Path):
    """checkpatch.pl runs scripts/spdxcheck.py with the python3 first on
    PATH; its failure (ply missing: what happened with pyenv's python3) is not
    in checkpatch's totals, so wb says so instead of passing the patch."""
    import subprocess
    import sys

    from workbench.commits import run_checkpatch
    from workbench.errors import WorkbenchError
    tree = tmp_path / "linux"
    (tree / "scripts").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    (tree / "a.c").write_text("int a;\n")
    subprocess.run(["git", "-C", str(tree), "add", "."], check=True)
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@e",
                    "commit", "-qm", "a"], check=True)
    checkpatch = tree / "scripts/checkpatch.pl"
    checkpatch.write_text("#!/bin/sh\n"
                          "python3 -c 'import sys, ply, git; print(sys.executable)' 2>&1\n"
                          "echo 'total: 0 errors, 0 warnings, 9 lines checked'\n")
    checkpatch.chmod(0o755)
    report = run_checkpatch(tree, "HEAD", tmp_path / "a.patch", ())
    assert report.passed
    assert (tmp_path / "a.checkpatch").read_text().splitlines()[0] == sys.executable
    checkpatch.write_text("#!/bin/sh\n"
                          "python3 -c 'import no_such_module_here' 2>&1\n"
                          "echo 'total: 0 errors, 0 warnings, 9 lines checked'\n")
    with pytest.raises(WorkbenchError, match="a helper it runs failed"):
        run_checkpatch(tree, "HEAD", tmp_path / "a.patch", ())
