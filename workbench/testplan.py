"""One line of a guest runner's plan (kernel_tests/guest-runner.sh)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PlannedTest:
    name: str
    filesystem: str  # where it runs: see guest-runner.sh; "none" = /tmp as it is
    command: str
