"""The end-to-end tier's time ledger (tests/e2e_wb.py), on the progress output
of a real cold `wb all` on Debian's 6.12 (tests/data/e2e/)."""

from pathlib import Path

import pytest

from e2e_wb import EXTRAS, TimedCall, extra_skip_reason, extras_wanted, phases_of, summary

DATA = Path(__file__).parent / "data" / "e2e"


def test_phases_of_a_real_wb_all():
    phases = dict(phases_of((DATA / "wb-all-6.12.stderr").read_text()))
    # Each phase's closing line, not the progress lines in between
    # ("build base: 2066 steps, 1108 s") nor the config's sha256 line.
    assert phases["tree"] == 59.5 and phases["apply"] == 12.9
    assert phases["build base"] == 1124.2 and phases["config base"] == 27.9
    assert "build patched" in phases and "test base" in phases and "test patched" in phases
    assert not any("steps" in name or "sha256" in name for name in phases)


def test_summary_names_every_kernel_build_and_its_test():
    phases = phases_of((DATA / "wb-all-6.12.stderr").read_text())
    main = TimedCall("tests/test_e2e.py::test_main_job_reports (setup)", Path("/w/e2e"),
                     "all", 2000.0, phases)
    failed = TimedCall("tests/test_e2e.py::test_build_error_is_reported (call)",
                       Path("/w/e2e"), "build", 40.0,
                       (("build patched", 31.5),))
    tests_only = TimedCall("tests/test_e2e_mainline.py::x (call)", Path("/w/e2e-7.3"),
                           "test", 60.0, (("build tests", 9.0), ("test patched", 50.0)))
    lines = summary([main, failed, tests_only])
    builds = dict(phases)["build base"] + dict(phases)["build patched"] + 31.5
    assert lines[0] == f"kernel builds of the end-to-end tests: 3, {builds / 60:.1f} min"
    assert lines[1] == "   1124.2 s  e2e: build base  [test_main_job_reports (setup)]"
    assert lines[3] == "     31.5 s  e2e: build patched  [test_build_error_is_reported (call)]"
    # "build tests" compiles the guest programs, not a kernel.
    assert not any("build tests" in line for line in lines)
    assert lines[4:] == ["wb calls in e2e: 34.0 min", "wb calls in e2e-7.3: 1.0 min"]


def test_extras_run_only_when_named():
    assert extras_wanted("") == set()
    assert extras_wanted("kasan, mainline") == {"kasan", "mainline"}
    assert extra_skip_reason("kasan", {"kasan"}) == ""
    reason = extra_skip_reason("mainline", {"kasan"})
    assert reason.endswith("make test-mainline (WB_E2E_EXTRA=mainline) runs it")
    with pytest.raises(ValueError, match="unknown kasn .known: kasan, mainline"):
        extras_wanted("kasn")


def test_every_extra_has_a_make_target():
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    for name in EXTRAS:
        assert f"\ntest-{name}: setup\n" in makefile
        assert f"WB_E2E_EXTRA={name} " in makefile
