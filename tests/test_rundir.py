import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
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
    run.stage("build base", Status.PASS, seconds=12.5)
    run.abandon("interrupted", {"build base": 12.5})
    record = json.loads((run.path / "run.json").read_text())
    assert record["complete"] is False
    assert record["incomplete_reason"] == "interrupted"
    assert record["stages"]["build base"] == {"status": "PASS", "seconds": 12.5}


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
