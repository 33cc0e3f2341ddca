"""``wb junit-merge``: one JUnit report from many (CI jobs); no work directory."""

from dataclasses import dataclass
from pathlib import Path

from workbench import log
from workbench.errors import WorkbenchError
from workbench.results import merge_junit, report_labels


@dataclass(frozen=True)
class JunitMergeOptions:
    reports: tuple[Path, ...]
    out: Path


def junit_merge_command(options: JunitMergeOptions) -> int:
    """The exit status: 1 when the merged report has failures or errors."""
    missing = [str(p) for p in options.reports if not p.is_file()]
    if missing:
        raise WorkbenchError(f"no such report: {', '.join(missing)}")
    merged = merge_junit(report_labels(list(options.reports)), options.out)
    log.info(f"merged {len(options.reports)} reports into {options.out}: {merged.tests} tests, "
             f"{merged.failures} failures, {merged.errors} errors, {merged.skipped} skipped")
    return 1 if merged.failures or merged.errors else 0
