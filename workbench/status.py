"""Outcome of every stage and test, and the process exit code for each."""

import enum
from collections.abc import Iterable


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    # The guest ran out of time (hang); QEMU was killed.
    TIMEOUT = "TIMEOUT"
    # The kernel panicked.
    PANIC = "PANIC"
    # BUG, WARNING, KASAN or lockdep report in the console, without a panic.
    OOPS = "OOPS"
    # QEMU or vng itself failed: not the kernel's fault.
    INFRA = "INFRA"
    APPLY_FAILURE = "APPLY_FAILURE"
    CONFIG_FAILURE = "CONFIG_FAILURE"
    BUILD_FAILURE = "BUILD_FAILURE"

    @property
    def ok(self) -> bool:
        return self in (Status.PASS, Status.SKIP)

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


# 0 is success; 1 a test failure; distinct codes for the rest so CI scripts can
# tell a kernel bug from broken infrastructure.
_EXIT_CODES = {
    Status.PASS: 0,
    Status.SKIP: 0,
    Status.FAIL: 1,
    Status.OOPS: 3,
    Status.PANIC: 4,
    Status.TIMEOUT: 5,
    Status.INFRA: 6,
    Status.APPLY_FAILURE: 7,
    Status.CONFIG_FAILURE: 8,
    Status.BUILD_FAILURE: 9,
}

# Order used to pick the overall outcome of several results: the worst wins.
_SEVERITY = [
    Status.PASS, Status.SKIP, Status.FAIL, Status.OOPS, Status.TIMEOUT,
    Status.PANIC, Status.INFRA, Status.APPLY_FAILURE, Status.CONFIG_FAILURE,
    Status.BUILD_FAILURE,
]


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of ``statuses``; PASS when there are none."""
    return max(statuses, key=_SEVERITY.index, default=Status.PASS)
