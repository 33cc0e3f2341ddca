"""Reading a guest console log: kernel crash reports and where they are.

The patterns are the headlines the kernel prints for each kind of report
(panic(), die(), __warn(), KASAN, lockdep, the hung-task and soft-lockup
watchdogs); each report is kept with the console lines that follow it.
"""

import re
from dataclasses import dataclass

# The printk timestamp and the caller id some configs add: "[   1.234567][  T1] ".
_PREFIX = re.compile(r"^\s*(<\d+>)?(\[\s*\d+\.\d+\])?(\[\s*[TC]\d+\])?\s?")

# (kind, pattern) in priority order: the first match names the line.
_REPORTS = [
    ("panic", re.compile(r"^Kernel panic - not syncing")),
    ("kasan", re.compile(r"^BUG: KASAN: ")),
    ("kfence", re.compile(r"^BUG: KFENCE: ")),
    ("ubsan", re.compile(r"^UBSAN: ")),
    ("lockdep", re.compile(
        r"^WARNING: (possible (recursive|circular) locking|inconsistent lock state"
        r"|possible irq lock inversion|suspicious RCU usage|bad unlock balance"
        r"|lock held when returning|held lock freed)")),
    ("bug", re.compile(r"^(kernel BUG at |BUG: )")),
    ("oops", re.compile(r"^(Oops: |general protection fault|stack segment: )")),
    ("warning", re.compile(r"^WARNING: (CPU: \d+ PID: \d+ at |\S)")),
    ("hung_task", re.compile(r"^INFO: task .* blocked for more than \d+ seconds")),
    ("lockup", re.compile(r"^(watchdog: BUG: soft lockup|rcu: INFO: \w+ detected stalls)")),
]

_EXCERPT_LINES = 40


@dataclass(frozen=True)
class KernelReport:
    kind: str
    headline: str
    line: int  # 1-based line number in the console log
    excerpt: str

    @property
    def is_panic(self) -> bool:
        return self.kind == "panic"


def strip_prefix(line: str) -> str:
    return _PREFIX.sub("", line, count=1)


def find_reports(console: str) -> list[KernelReport]:
    """Every crash report in ``console``, in order of appearance."""
    lines = console.splitlines()
    reports = []
    for number, raw in enumerate(lines, 1):
        text = strip_prefix(raw)
        for kind, pattern in _REPORTS:
            if pattern.search(text):
                excerpt = "\n".join(lines[number - 1:number - 1 + _EXCERPT_LINES])
                reports.append(KernelReport(kind, text.strip(), number, excerpt))
                break
    return reports
