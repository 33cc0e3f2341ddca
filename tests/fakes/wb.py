"""The real `wb` command line as a subprocess, with vng and QEMU the replays of
tests/fakes (the middle tier: tests/test_fake_tier*.py).

``Workbench`` is a work directory; ``Workbench.wb`` runs one command in it and
returns its ``Result``: exit status, output, the run directory it made and the
vng calls it made. ``Boot`` says what the fake vng replays for one boot.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fakes import FAKES

DATA = FAKES.parent / "data"
GOLDEN = DATA / "golden"
# A captured host: only its QEMU version is used here (the run records it).
QEMU_HOST = GOLDEN / "kvm-probe-host.json"
# The git identity wb signs submissions with here (the host may have none).
SUBMITTER = ("Ada Submitter", "ada@example.com")
# What splice_perf measured in a real `wb bench --quick` (both kernels, two rounds).
BENCH_SAMPLES = GOLDEN / "bench-quick.json"
# A wb command that takes longer than this is hanging: fail, do not wait.
COMMAND_SECONDS = 30.0


@dataclass(frozen=True)
class Boot:
    """One boot the fake vng replays (FAKE_VNG_BOOTS in tests/fakes/vng)."""
    console: str  # tests/data/golden/<console>.console
    # The KTAP its guest runner wrote: True, <console>.ktap; a name, <name>.ktap.
    ktap: bool | str = False
    # Of that KTAP only the subtests the boot's plan lists (the guest runs the plan).
    only_planned: bool = False
    # (kernel, round) of BENCH_SAMPLES: what each planned splice_perf writes to --json.
    perf: tuple[str, int] | None = None
    status: int | None = None
    hang: bool = False
    hang_after: str | None = None
    signal: int | None = None
    speed: float | None = None

    def spec(self) -> dict[str, object]:
        spec = {k: v for k, v in asdict(self).items() if v not in (None, False)}
        spec["console"] = str(GOLDEN / f"{self.console}.console")
        if self.ktap:
            name = self.ktap if isinstance(self.ktap, str) else self.console
            spec["ktap"] = str(GOLDEN / f"{name}.ktap")
        if self.perf:
            kernel, round_no = self.perf
            spec["perf"] = {"samples": str(BENCH_SAMPLES), "kernel": kernel, "round": round_no}
        return spec


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    run: Path  # the run directory the command made
    vng_calls: list[str]

    @property
    def record(self) -> dict[str, Any]:
        return json.loads((self.run / "run.json").read_text())

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Workbench:
    """A work directory for the real `wb`, with vng and QEMU the replays of
    tests/fakes and ccache's cache of its own."""
    root: Path
    commands: int = 0  # wb commands started, each with a vng calls file of its own

    @property
    def workdir(self) -> Path:
        return self.root / "work"

    def env(self, boots: Sequence[Boot], calls: Path, extra: dict[str, str]
            ) -> dict[str, str]:
        env = os.environ | {
            "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
            "FAKE_QEMU_PROBES": str(QEMU_HOST),
            "WB_VNG": str(FAKES / "vng"),
            "WB_ACCEL": "tcg",
            "CCACHE_DIR": str(self.root / "ccache"),
            "FAKE_VNG_CALLS": str(calls),
            "FAKE_VNG_PIDS": str(self.root / "vng-pids"),
            # A command that boots where a test expects none still gets a console.
            "FAKE_VNG_BOOTS": json.dumps([b.spec() for b in boots or [Boot("exit0")]]),
            # The submitter's git identity, whatever the host's is (none, in CI).
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": SUBMITTER[0],
            "GIT_CONFIG_KEY_1": "user.email", "GIT_CONFIG_VALUE_1": SUBMITTER[1],
        }
        env.pop("WB_WORKDIR", None)
        return env | extra

    def runs(self) -> set[Path]:
        runs = self.workdir / "runs"
        return {p for p in runs.iterdir() if not p.is_symlink()} if runs.exists() else set()

    def start(self, *args: str, boots: Sequence[Boot] = (),
              env: dict[str, str] | None = None, ignore_sigint: bool = False) -> "Started":
        """wb in a session of its own (its process group is what a terminal's
        Ctrl-C signals); ``ignore_sigint``: as a shell starts a background job."""
        self.commands += 1
        calls = self.root / f"vng-calls-{self.commands}"
        before = self.runs()
        preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint \
            else None
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "--workdir",
                                 str(self.workdir), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env=self.env(boots, calls, env or {}),
                                preexec_fn=preexec)
        return Started(self, proc, before, calls)

    def wb(self, *args: str, boots: Sequence[Boot] = (), env: dict[str, str] | None = None,
           seconds: float = COMMAND_SECONDS) -> Result:
        """Run wb to its end; ``seconds``: when it counts as hung."""
        return self.start(*args, boots=boots, env=env).finish(seconds)

    def new_run(self, before: set[Path]) -> Path:
        made = self.runs() - before
        assert len(made) == 1, f"expected one new run directory, got {sorted(made)}"
        return made.pop()

    def guests(self) -> list[int]:
        """Fake vng processes still running."""
        path = self.root / "vng-pids"
        pids = [int(p) for p in path.read_text().split()] if path.exists() else []
        return [p for p in pids if _is_fake_vng(p)]

    def kill_leftover_guests(self) -> None:
        for pid in self.guests():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class Started:
    workbench: Workbench
    proc: subprocess.Popen
    before: set[Path]
    calls: Path

    def wait_for_console(self, name: str, text: str, timeout: float = 10.0) -> Path:
        """Wait until the new run's ``name`` (e.g. tests-base/console.log) shows ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.workbench.runs() - self.before:
                log = run / name
                if log.exists() and text in log.read_text(errors="replace"):
                    return run
            assert self.proc.poll() is None, f"wb ended first: {self.proc.communicate()}"
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in {name}")

    def finish(self, seconds: float = COMMAND_SECONDS) -> Result:
        try:
            stdout, stderr = self.proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            stdout, stderr = self.proc.communicate()
            raise AssertionError(f"wb hung:\n{stderr[-3000:]}") from None
        calls = self.calls.read_text().splitlines() if self.calls.exists() else []
        return Result(self.proc.returncode, stdout, stderr, self.workbench.new_run(self.before),
                      calls)


def _is_fake_vng(pid: int) -> bool:
    """Is ``pid`` a fake vng still running (not a zombie, not a reused pid)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return str(FAKES / "vng").encode() in cmdline and state != "Z"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
