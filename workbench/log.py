"""Progress messages and per-phase wall-clock timings."""

import contextlib
from collections.abc import Iterator
import sys
import time
from dataclasses import dataclass, field


def info(message: str) -> None:
    print(f"[wb] {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"[wb] warning: {message}", file=sys.stderr, flush=True)


@dataclass
class PhaseTimer:
    """Wall-clock seconds per named phase, printed and saved with each run."""

    phases: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        info(f"{name} ...")
        start = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.phases[name] = round(elapsed, 1)
            info(f"{name}: {elapsed:.1f} s")

    def summary(self) -> str:
        width = max((len(name) for name in self.phases), default=0)
        lines = ["phase timings:"]
        lines += [f"  {name:<{width}}  {secs:8.1f} s" for name, secs in self.phases.items()]
        return "\n".join(lines)
