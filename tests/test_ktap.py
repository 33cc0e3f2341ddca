"""The KTAP parser on streams captured from real runs (tests/data/golden/)."""

from pathlib import Path

import pytest

from workbench.ktap import Result, parse


def parse_file(path: Path, name: str = "main"):
    return parse(path.read_text().splitlines(), name)


def results(case):
    return [(c.name, c.result) for c in case.subtests]


def test_harness_output_with_every_status(data: Path):
    root = parse_file(data / "golden/host-failing-harness.ktap")
    assert results(root) == [
        ("global.splice_passes", Result.PASS),
        ("global.splice_fails_on_purpose", Result.FAIL),
        ("global.skips_on_purpose", Result.SKIP),
        ("expected.known_bug.fails_as_expected", Result.XFAIL),
    ]
    assert root.plan == 4 and root.result is Result.FAIL
    failing = root.subtests[1]
    # The assertion messages the harness printed belong to the failing case.
    assert any("Expected 8192 (8192) == splice_file_of(4096)" in line for line in failing.log)
    assert root.subtests[2].reason == "nothing to do here"
    assert root.counts()["FAIL"] == 1 and root.counts()["XFAIL"] == 1


def test_all_pass(data: Path):
    root = parse_file(data / "golden/host-splice-smoke.ktap")
    assert root.result is Result.PASS
    assert [c.result for c in root.subtests] == [Result.PASS] * 3
    assert root.notes == []


def test_console_prefix_before_the_version_line_is_stripped():
    lines = ["[    1.0] boot noise", "[    2.0] KTAP version 1", "[    2.0] 1..1",
             "[    2.1] ok 1 only # SKIP no device"]
    root = parse(lines)
    assert results(root) == [("only", Result.SKIP)]
    assert root.subtests[0].reason == "no device"


def test_no_ktap_at_all_is_an_error_not_a_pass():
    root = parse(["just a shell", "with no test output"])
    assert root.result is Result.ERROR
    assert root.reason == "no KTAP output"


def test_more_results_than_planned_is_noted():
    root = parse(["KTAP version 1", "1..1", "ok 1 a", "ok 2 b"])
    assert root.notes == ["plan says 1 tests, found 2"]


@pytest.mark.parametrize("line,result,reason", [
    ("not ok 1 t # TIMEOUT 45 seconds", Result.FAIL, "TIMEOUT 45 seconds"),
    ("not ok 1 t # exit=1", Result.FAIL, "exit=1"),
    ("not ok 1 - t # TODO later", Result.TODO, "later"),
    ("not ok 1 t # SKIP unsupported", Result.SKIP, "unsupported"),
    ("ok 1 t # XFAIL known", Result.XFAIL, "known"),
    ("not ok 1 t # XFAIL known", Result.FAIL, "known"),
])
def test_directives(line: str, result: Result, reason: str):
    case = parse(["KTAP version 1", "1..1", line]).subtests[0]
    assert (case.name, case.result, case.reason) == ("t", result, reason)
