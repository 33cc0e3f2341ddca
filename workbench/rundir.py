"""One directory per run: never overwritten, ``latest`` points at the newest.

``run.json`` is written when the run starts and rewritten at every stage, so a
run killed half way still says what finished and that it is incomplete.
"""

import datetime
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.status import Status
from workbench.workspace import Workspace


@dataclass
class Run:
    path: Path
    record: dict = field(default_factory=dict)

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
        run = cls(ws.runs / name, {
            "command": command,
            "argv": sys.argv[1:],
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "complete": False,
            "status": None,
            "stages": {},
        })
        run.save()
        _point_latest(ws.runs, name)
        return run

    def save(self) -> None:
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps(self.record, indent=2, default=str) + "\n")
        os.replace(tmp, self.path / "run.json")

    def stage(self, name: str, status: Status, **details) -> None:
        """Record a finished stage and save at once, so it survives a crash later."""
        self.record["stages"][name] = {"status": status.value, **details}
        self.save()

    def finish(self, status: Status, timings: dict[str, float]) -> None:
        """Record the outcome. A run whose guest infrastructure failed (QEMU
        killed, vng broken) did not test what it meant to: incomplete."""
        if status is Status.INFRA:
            self.record["incomplete_reason"] = "QEMU or vng failed during the run"
        self.record.update(
            complete=status is not Status.INFRA,
            status=status.value,
            finished=datetime.datetime.now().isoformat(timespec="seconds"),
            timings=timings,
        )
        self.save()

    def abandon(self, reason: str, timings: dict[str, float]) -> None:
        """Mark the run incomplete; what the finished stages wrote stays."""
        self.record.update(complete=False, incomplete_reason=reason, timings=timings)
        self.save()


def _point_latest(runs: Path, name: str) -> None:
    tmp = runs / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    os.replace(tmp, runs / "latest")
