"""``wb junit-merge`` on reports written from KTAP captured in real boots."""

from pathlib import Path

import pytest

from conftest import DATA
from workbench import ktap
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.results import merge_junit, report_labels, write_results

GOLDEN = DATA / "golden"


def job_report(root: Path, job: str, capture: str) -> Path:
    tree = ktap.parse((GOLDEN / f"{capture}.ktap").read_text().splitlines(), name="patched")
    junit, _ = write_results(tree, "patched", root / job / "runs" / "r1" / "tests-patched")
    return junit


def test_reports_of_two_jobs_merge_with_their_job_in_every_suite_name(tmp_path):
    clean = job_report(tmp_path, "wb-ext4", "clean-run")
    failing = job_report(tmp_path, "wb-xfs", "failing")
    labels = report_labels([clean, failing])
    assert list(labels) == ["wb-ext4/tests-patched", "wb-xfs/tests-patched"]
    merged = merge_junit(labels, tmp_path / "merged.xml")
    names = [suite.name for suite in merged]
    assert names and all(n.startswith(("wb-ext4/tests-patched/", "wb-xfs/tests-patched/"))
                         for n in names)
    assert merged.failures >= 1
    assert (tmp_path / "merged.xml").read_text().count("<testsuite ") == len(names)


def test_merge_command_exit_status_follows_the_merged_results(tmp_path):
    clean = job_report(tmp_path, "wb-ext4", "clean-run")
    assert main(["junit-merge", "--out", str(tmp_path / "a.xml"), str(clean)]) == 0
    failing = job_report(tmp_path, "wb-xfs", "failing")
    assert main(["junit-merge", "--out", str(tmp_path / "b.xml"), str(clean),
                 str(failing)]) == 1
    assert main(["junit-merge", "--out", str(tmp_path / "c.xml"),
                 str(tmp_path / "missing.xml")]) == 2


def test_a_file_that_is_not_junit_is_named(tmp_path):
    bogus = tmp_path / "job" / "tests-patched" / "junit.xml"
    bogus.parent.mkdir(parents=True)
    bogus.write_text("not xml")
    with pytest.raises(WorkbenchError, match="not a JUnit XML file"):
        merge_junit(report_labels([bogus]), tmp_path / "out.xml")
