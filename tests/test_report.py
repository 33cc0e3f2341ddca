"""report.regressions: which tests pass on base and fail on patched."""

from workbench import ktap
from workbench.report import regressions


def document(case_a: str, case_b: str, *tops: str) -> ktap.TestCase:
    """A guest runner's KTAP: program prog.ext4 with cases a and b, then one
    top-level test per item of ``tops``. Each item is a result line without
    its number and name: "ok", "not ok # why", "ok # SKIP why"."""
    def line(indent: str, result: str, number: int, name: str) -> str:
        status, _, directive = result.partition(" #")
        return f"{indent}{status} {number} {name}" + (f" #{directive}" if directive else "")

    failed = "not" in case_a + case_b
    lines = ["KTAP version 1", f"1..{len(tops) + 1}", "    # Subtest: prog.ext4", "    1..2",
             line("    ", case_a, 1, "a"), line("    ", case_b, 2, "b"),
             line("", "not ok" if failed else "ok", 1, "prog.ext4")]
    lines += [line("", top, i + 2, f"top{i}") for i, top in enumerate(tops)]
    return ktap.parse(lines)


def test_a_pass_that_became_a_failure_is_a_regression() -> None:
    base = document("ok", "ok", "ok", "not ok # broken on base too")
    patched = document("ok", "not ok # bytes differ", "not ok # exit=1",
                       "not ok # still broken")
    assert regressions(base, patched) == [("prog.ext4/b", "FAIL bytes differ"),
                                          ("top0", "FAIL exit=1")]


def test_skips_and_new_tests_are_not_regressions() -> None:
    base = document("ok # SKIP no flag", "ok", "ok")
    patched = document("not ok # fails where base skipped", "ok", "ok",
                       "not ok # a test base did not run")
    assert regressions(base, patched) == []
    assert regressions(base, base) == []
