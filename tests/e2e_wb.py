"""What the end-to-end modules share: the real ``wb`` in a work directory of
the tests' own, and a ledger of the phases each call timed (kernel builds,
boots, bench, precheck), which the session's summary prints (conftest.py), so
that a slow ``make test`` says where its time went."""

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# "[wb] build patched: 612.3 s", as PhaseTimer prints each phase's end.
_PHASE_END = re.compile(r"^\[wb\] ([^:\n]+): (\d+\.\d) s$", re.M)
# Phases that are not kernel builds although their names start with "build".
_NOT_KERNEL_BUILDS = ("build tests",)


@dataclass(frozen=True)
class TimedCall:
    """One ``wb`` call of an end-to-end test and the phases it timed."""
    test: str  # pytest's node id (with "(setup)" for a fixture's call)
    workdir: Path
    command: str
    seconds: float
    phases: tuple[tuple[str, float], ...]

    def kernel_builds(self) -> list[tuple[str, float]]:
        return [(name, secs) for name, secs in self.phases
                if name.startswith("build ") and name not in _NOT_KERNEL_BUILDS]


LEDGER: list[TimedCall] = []

# End-to-end tests left out of make test (marked extra(NAME)), each with cold
# kernel builds of its own: WB_E2E_EXTRA=NAME[,NAME] (make test-NAME) runs them.
EXTRAS = {
    "kasan": "builds the debug (KASAN) kernel, as long a build as both kernels of the "
             "main job",
    "mainline": "builds the 7.3 kernel pair, two more cold builds",
}


def extras_wanted(value: str) -> set[str]:
    """The extras a WB_E2E_EXTRA value names; ValueError for an unknown one."""
    wanted = {name.strip() for name in value.split(",") if name.strip()}
    unknown = wanted - EXTRAS.keys()
    if unknown:
        raise ValueError(f"WB_E2E_EXTRA: unknown {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(EXTRAS)})")
    return wanted


def extra_skip_reason(name: str, wanted: set[str]) -> str:
    """Why a test marked extra(``name``) is skipped ("": it runs)."""
    if name in wanted:
        return ""
    return f"{EXTRAS[name]}: make test-{name} (WB_E2E_EXTRA={name}) runs it"


def phases_of(stderr: str) -> tuple[tuple[str, float], ...]:
    """The phases a ``wb`` run's progress output says it finished, in order."""
    return tuple((m[1], float(m[2])) for m in _PHASE_END.finditer(stderr))


def wb(workdir: Path, *args: str, timeout: float = 3600,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``wb --workdir WORKDIR ARGS``; ``env``: variables added to the
    environment. Progress (stderr) is shown when a test fails, and its timed
    phases go to the ledger."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workdir", str(workdir), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    sys.stderr.write(proc.stderr[-6000:])
    LEDGER.append(TimedCall(os.environ.get("PYTEST_CURRENT_TEST", "?"), workdir,
                            " ".join(args[:1]), round(time.monotonic() - start, 1),
                            phases_of(proc.stderr)))
    return proc


def summary(ledger: list[TimedCall]) -> list[str]:
    """Lines for the session's summary: every kernel build with its time and
    the test that made it, then the wb calls' time per work directory."""
    lines = []
    builds = [(call, name, secs) for call in ledger for name, secs in call.kernel_builds()]
    if builds:
        total = sum(secs for _, _, secs in builds)
        lines.append(f"kernel builds of the end-to-end tests: {len(builds)}, "
                     f"{total / 60:.1f} min")
        for call, name, secs in builds:
            lines.append(f"  {secs:7.1f} s  {call.workdir.name}: {name}  "
                         f"[{call.test.split('::')[-1]}]")
    per_workdir: dict[str, float] = {}
    for call in ledger:
        per_workdir[call.workdir.name] = per_workdir.get(call.workdir.name, 0.0) + call.seconds
    for name, secs in per_workdir.items():
        lines.append(f"wb calls in {name}: {secs / 60:.1f} min")
    return lines
