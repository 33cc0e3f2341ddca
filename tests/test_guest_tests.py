from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.guest_tests import (SUITES, PlannedTest, TestSelection, integrity_arguments,
                                   program_plan, selftest_plan, write_plan)


def test_program_plan_runs_each_program_on_each_filesystem(tmp_path: Path):
    prog = tmp_path / "splice_smoke"
    plan = program_plan([prog], ("tmpfs", "xfs"))
    assert plan == [PlannedTest("splice_smoke.tmpfs", "tmpfs", str(prog)),
                    PlannedTest("splice_smoke.xfs", "xfs", str(prog))]


def test_selftest_plan_from_a_kselftest_install(tmp_path: Path):
    (tmp_path / "kselftest-list.txt").write_text(
        "splice:default_file_splice_read.sh\nsplice:stable_splice\n")
    plan = selftest_plan(tmp_path, ("ext4", "9p"))
    assert [(t.name, t.filesystem) for t in plan] == [
        ("selftests.splice.default_file_splice_read.sh", "none"),
        ("selftests.splice.stable_splice.ext4", "ext4"),
        ("selftests.splice.stable_splice.9p", "9p"),
    ]
    assert plan[1].command == (f"cd {tmp_path}/splice && "
                               "STABLE_SPLICE_DIR=$SPLICE_TEST_DIR ./stable_splice")


def test_selftest_plan_needs_the_install_list(tmp_path: Path):
    with pytest.raises(WorkbenchError, match="kselftest-list.txt"):
        selftest_plan(tmp_path, ("tmpfs",))


def test_plan_file_is_tab_separated_and_rejects_tabs_in_commands(tmp_path: Path):
    write_plan([PlannedTest("a.tmpfs", "tmpfs", "/bin/true --x")], tmp_path / "plan.tsv")
    assert (tmp_path / "plan.tsv").read_text() == "a.tmpfs\ttmpfs\t/bin/true --x\n"
    with pytest.raises(WorkbenchError, match="contains a tab or newline"):
        write_plan([PlannedTest("b", "tmpfs", "echo\tx")], tmp_path / "plan.tsv")


def test_integrity_plan_passes_the_same_seed_and_a_quoted_filter(tmp_path: Path):
    prog = tmp_path / "splice_integrity"
    args = integrity_arguments(7, "stable.tcp; rm -rf /")
    plan = program_plan([prog], ("ext4", "9p"), args)
    assert [t.name for t in plan] == ["splice_integrity.ext4", "splice_integrity.9p"]
    assert {t.command for t in plan} == {
        f"{prog} --seed 7 --filter 'stable.tcp; rm -rf /'"}
    assert integrity_arguments(3, None) == ("--seed", "3")


def test_the_random_tester_runs_when_asked_for_by_name():
    """--suite all is the suites that pass on a sound series; fuzz is asked for."""
    everything = TestSelection()
    assert [s for s in SUITES if everything.runs(s)] == ["smoke", "integrity", "selftests"]
    assert [s for s in SUITES if TestSelection(suite="fuzz").runs(s)] == ["fuzz"]
