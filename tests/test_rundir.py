import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.records import SCHEMA_VERSION, BuildStage, RecordError, RunRecord, RunStage
from workbench.rundir import Run
from workbench.status import Status
from workbench.workspace import Workspace


def test_each_run_gets_its_own_directory_and_latest_follows(tmp_path: Path):
    ws = Workspace(tmp_path)
    first = Run.create(ws, "test")
    second = Run.create(ws, "test")  # same second: must not collide
    assert first.path != second.path
    assert (ws.runs / "latest").resolve() == second.path
    assert json.loads((first.path / "run.json").read_text())["complete"] is False


def test_finished_stages_survive_an_abandoned_run(tmp_path: Path):
    run = Run.create(Workspace(tmp_path), "all")
    run.stage("build base", BuildStage(Status.PASS, "c" * 40, 12.5, "build-base.log"))
    run.abandon("interrupted", {"build base": 12.5})
    record = json.loads((run.path / "run.json").read_text())
    assert record["complete"] is False
    assert record["incomplete_reason"] == "interrupted"
    assert record["stages"]["build base"] == {"status": "PASS", "commit": "c" * 40,
                                              "seconds": 12.5, "log": "build-base.log",
                                              "errors": [], "compiler": ""}
    # Read back by the same code, typed.
    loaded = RunRecord.read(run.path / "run.json")
    assert loaded.stage("build base", BuildStage) == run.record.stages["build base"]
    assert loaded.complete is False and loaded.schema == SCHEMA_VERSION


def test_a_record_from_before_the_schema_field_loads(tmp_path: Path):
    """The layout of schema 1 is the one wb wrote before it recorded a schema."""
    old = {"command": "run", "argv": ["run", "--exec", "true"],
           "started": "2026-11-22T08:00:00", "complete": True, "status": "PASS",
           "stages": {"run patched": {"status": "PASS", "exit_code": 0, "reason": "exit 0",
                                      "console": "console-patched.log", "reports": []}},
           "tools": {"qemu": "7.2.22", "virtme_ng": "1.42"},
           "accel": {"name": "tcg", "reason": "requested (--accel tcg)"},
           "finished": "2026-11-22T08:01:00", "timings": {"run patched": 14.2}}
    record = RunRecord.from_json(old)
    ran = record.stage("run patched", RunStage)
    assert ran is not None and ran.exit_code == 0 and record.status is Status.PASS
    assert record.accel is not None and record.accel.name == "tcg"


@pytest.mark.parametrize("change, message", [
    ({"schema": SCHEMA_VERSION + 1}, "schema 2, this wb reads up to 1"),
    ({"status": "GREEN"}, "status: unknown status 'GREEN'"),
    ({"stages": {"build base": {"status": "PASS"}}}, "field 'commit' is missing"),
    ({"stages": {"boot base": {"status": "PASS"}}}, "unknown stage 'boot base'"),
    ({"colour": "red"}, "unknown field.s. colour"),
])
def test_a_record_that_does_not_fit_is_refused_naming_the_field(change: dict, message: str):
    record = {"command": "all", "argv": [], "started": "2026-11-22T08:00:00"} | change
    with pytest.raises(RecordError, match=message):
        RunRecord.from_json(record, "run.json")


def test_finish_marks_complete_with_status(tmp_path: Path):
    run = Run.create(Workspace(tmp_path), "test")
    run.finish(Status.FAIL, {"test patched": 30.0})
    record = json.loads((run.path / "run.json").read_text())
    assert record["complete"] is True and record["status"] == "FAIL"


def test_second_run_is_refused_while_one_holds_the_lock(tmp_path: Path):
    ws = Workspace(tmp_path)
    with ws.lock():
        with pytest.raises(WorkbenchError, match="another wb run is using") as err:
            with ws.lock():
                pass
        assert f"pid {os.getpid()}" in str(err.value)
    with ws.lock():  # released on exit
        pass


def test_lock_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom pathlib import Path\nfrom workbench.workspace import Workspace\n"
         "with Workspace(Path(sys.argv[1])).lock():\n    print('held', flush=True)\n"
         "    time.sleep(60)\n", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkbenchError, match=f"pid {holder.pid}"):
            with Workspace(tmp_path).lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with Workspace(tmp_path).lock():  # a killed holder leaves no stale lock
        pass
