"""KTAP trees from real guest runs (tests/data/golden/) to JUnit XML and JSON."""

import json
from pathlib import Path

from junitparser import JUnitXml

from workbench.ktap import Result, parse
from workbench.results import console_by_suite, write_results


def golden(data: Path, name: str) -> str:
    return (data / "golden" / name).read_text(errors="replace")


def junit_cases(path: Path) -> dict[str, dict[str, str]]:
    xml = JUnitXml.fromfile(str(path))
    return {s.name: {c.name: (type(c.result[0]).__name__ if c.result else "pass") for c in s}
            for s in xml}


def test_nested_runner_output_with_failures(data: Path, tmp_path: Path):
    root = parse(golden(data, "failing.ktap").splitlines(), "base")
    assert [(c.name, c.result) for c in root.subtests] == [
        ("failing_test.tmpfs", Result.FAIL),
        ("no_plan.tmpfs", Result.PASS),
    ]
    failing = root.subtests[0]
    assert failing.reason == "exit=1" and failing.plan == 4
    no_plan = root.subtests[1]
    assert no_plan.notes == ["missing plan"]
    assert [c.result for c in no_plan.subtests] == [Result.PASS, Result.TODO, Result.SKIP]

    junit, js = write_results(root, "base", tmp_path, golden(data, "failing.console"),
                              {"kernel_commit": "abc"})
    assert junit_cases(junit) == {
        "failing_test.tmpfs": {
            "global.splice_passes": "pass",
            "global.splice_fails_on_purpose": "Failure",
            "global.skips_on_purpose": "Skipped",
            "expected.known_bug.fails_as_expected": "pass",
        },
        "no_plan.tmpfs": {"first": "pass", "second": "Skipped", "third": "Skipped"},
    }
    xml = JUnitXml.fromfile(str(junit))
    suite = next(iter(xml))
    assert suite.tests == 4 and suite.failures == 1 and suite.skipped == 1
    failing_case = next(c for c in suite if c.name == "global.splice_fails_on_purpose")
    assert "Expected 8192 (8192)" in failing_case.system_out
    assert "--- console while the program ran ---" in failing_case.system_out
    props = {p.name: p.value for p in suite.properties()}
    assert props == {"variant": "base", "kernel_commit": "abc"}
    result = json.loads(js.read_text())
    assert result["result"] == "FAIL"
    assert result["counts"] == {"PASS": 2, "FAIL": 1, "SKIP": 2, "XFAIL": 1, "TODO": 1,
                                "ERROR": 0}


def test_crash_mid_test_keeps_results_so_far(data: Path, tmp_path: Path):
    root = parse(golden(data, "crash-midway.ktap").splitlines(), "base")
    program = root.subtests[0]
    assert program.name == "crash_midway.tmpfs"
    assert program.result is Result.ERROR
    assert [(c.name, c.result) for c in program.subtests] == [
        ("before_the_crash", Result.PASS),
        ("test 2", Result.ERROR),
        ("test 3", Result.ERROR),
    ]
    assert program.notes == ["2 of 3 planned results missing"]
    assert root.result is Result.ERROR
    junit, _ = write_results(root, "base", tmp_path, golden(data, "crash-midway.console"))
    cases = junit_cases(junit)["crash_midway.tmpfs"]
    assert cases["before_the_crash"] == "pass"
    assert cases["test 2"] == "Error"
    assert cases["kernel-panic"] == "Error", "the panic is attached to the program it hit"


def test_clean_guest_run(data: Path, tmp_path: Path):
    root = parse(golden(data, "clean-run.ktap").splitlines(), "base")
    assert root.result is Result.PASS
    names = [c.name for c in root.subtests]
    assert "splice_smoke.ext4" in names and "splice_smoke.9p" in names
    assert all(c.result in (Result.PASS, Result.SKIP) for c in root.subtests)
    consoles = console_by_suite(golden(data, "clean-run.console"))
    assert set(names) <= set(consoles)
    assert all(not seg.reports for seg in consoles.values())


def test_kernel_report_is_attached_to_the_case_it_appeared_in(data: Path, tmp_path: Path):
    """A real LKDTM WARN during the second of three cases that mark themselves in
    the kernel log ("warn_in_case: begin case NAME")."""
    root = parse(golden(data, "warn-in-case.ktap").splitlines(), "base")
    console = golden(data, "warn-in-case.console")
    seg = console_by_suite(console)["warn_in_case.tmpfs"]
    assert [r.kind for r in seg.reports] == ["warning"]
    assert seg.report_cases == ("second",)
    junit, js = write_results(root, "base", tmp_path, console)
    # The program said ok for all three; the kernel's WARN fails the second,
    # and no separate kernel-warning case is needed.
    assert junit_cases(junit) == {"warn_in_case.tmpfs": {"first": "pass", "second": "Error",
                                                         "third": "pass"}}
    case = next(c for c in next(iter(JUnitXml.fromfile(str(junit)))) if c.name == "second")
    assert "lkdtm" in case.system_out.lower() and "kernel warning" in case.result[0].message
    # The error's body is the report: CI views show the trace with the failure,
    # and it names functions (the kernels have KALLSYMS).
    trace = case.result[0].text
    assert "Call Trace:" in trace and "RIP: 0010:lkdtm_WARNING+0x" in trace
    tests = json.loads(js.read_text())["tests"]["subtests"][0]["subtests"]
    assert [t.get("kernel_reports", []) != [] for t in tests] == [False, True, False]
