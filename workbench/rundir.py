"""One directory per run: never overwritten, ``latest`` points at the newest.

``run.json`` (a ``records.RunRecord``) is written when the run starts and
rewritten at every stage, so a run killed half way still says what finished
and that it is incomplete.
"""

import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.records import AccelRecord, RunRecord, Stage
from workbench.status import Status
from workbench.workspace import Workspace


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


@dataclass
class Run:
    path: Path
    record: RunRecord

    @classmethod
    def create(cls, ws: Workspace, command: str) -> "Run":
        ws.runs.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(100):
            name = f"{stamp}-{command}" + (f".{attempt}" if attempt else "")
            try:
                (ws.runs / name).mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise WorkbenchError(f"cannot create a new run directory in {ws.runs}")
        run = cls(ws.runs / name, RunRecord(command, sys.argv[1:], _now()))
        run.save()
        _point_latest(ws.runs, name)
        return run

    def save(self) -> None:
        self.record.save(self.path / "run.json")

    def stage(self, name: str, stage: Stage) -> None:
        """Record a finished stage and save at once, so it survives a crash later."""
        self.record.stages[name] = stage
        self.save()

    def record_accel(self, name: str, reason: str) -> None:
        self.record.accel = AccelRecord(name, reason)
        self.save()

    def finish(self, status: Status, timings: dict[str, float]) -> None:
        """Record the outcome. A run whose guest infrastructure failed (QEMU
        killed, vng broken) did not test what it meant to: incomplete."""
        if status is Status.INFRA:
            self.record.incomplete_reason = "QEMU or vng failed during the run"
        self.record.complete = status is not Status.INFRA
        self.record.status = status
        self.record.finished = _now()
        self.record.timings = timings
        self.save()

    def abandon(self, reason: str, timings: dict[str, float]) -> None:
        """Mark the run incomplete; what the finished stages wrote stays."""
        self.record.complete = False
        self.record.incomplete_reason = reason
        self.record.timings = timings
        self.save()


def _point_latest(runs: Path, name: str) -> None:
    tmp = runs / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    os.replace(tmp, runs / "latest")
