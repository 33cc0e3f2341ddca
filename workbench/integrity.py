"""The splice integrity matrix: what ``kernel_tests/splice_integrity`` observed.

Its case names say the cell (``FS.MODE.CONSUMER.MUTATION.TIMING``) and its
result lines what the consumer got (``observed ESTALE``, ``observed NEW 4/4``);
this module turns a run's KTAP tree into ``integrity.json`` and the markdown
tables that go into summary.md and the cover letter.
"""

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.ktap import Result, TestCase

PROGRAM = "splice_integrity"
TIMINGS = ("before_confirm", "during", "after_confirm")
VERDICTS = ("OLD", "NEW", "TORN", "ESTALE", "SHORT", "UNSEEN")
_CELL = re.compile(r"^(?P<fs>[^.]+)\.(?P<mode>plain|stable)\.(?P<consumer>\w+)\."
                   r"(?P<mutation>\w+)\.(?P<timing>" + "|".join(TIMINGS) + r")$")
_CHECK = re.compile(r"^(?P<fs>[^.]+)\.(?P<mode>plain|stable)\.(?P<kind>differential|stress)$")
_OBSERVED = re.compile(r"\bobserved ((?:[A-Z]+(?: \d+/\d+)? ?)+)")
_VERDICT = re.compile(r"([A-Z]+)(?: (\d+)/(\d+))?")
_SOCKETS = ("tcp", "unix")


@dataclass(frozen=True)
class Cell:
    fs: str
    mode: str
    consumer: str
    mutation: str
    timing: str
    result: str  # ktap.Result value
    observed: dict[str, int] = field(default_factory=dict)  # verdict -> runs
    reason: str = ""

    @property
    def name(self) -> str:
        return f"{self.fs}.{self.mode}.{self.consumer}.{self.mutation}.{self.timing}"

    @property
    def changed_after_confirm(self) -> bool:
        """A socket receiver saw data changed after the consumer confirmed it."""
        return (self.timing == "after_confirm" and self.consumer in _SOCKETS
                and bool(self.observed.keys() & {"NEW", "TORN"}))


@dataclass(frozen=True)
class Check:
    """A differential or stress test of one filesystem and mode."""
    fs: str
    mode: str
    kind: str
    result: str
    reason: str


@dataclass
class Matrix:
    cells: list[Cell] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def failed(self) -> list[str]:
        return [c.name for c in self.cells if Result(c.result).failed] + [
            f"{c.fs}.{c.mode}.{c.kind}" for c in self.checks if Result(c.result).failed]


def parse_observed(reason: str) -> dict[str, int]:
    """``observed OLD 2/4 NEW 2/4, expected ...`` -> {"OLD": 2, "NEW": 2}."""
    m = _OBSERVED.search(reason)
    if not m:
        return {}
    return {v[1]: int(v[2] or 1) for v in _VERDICT.finditer(m[1]) if v[1] in VERDICTS}


def collect(root: TestCase) -> Matrix:
    """The integrity cells and checks of every ``splice_integrity.FS`` program."""
    matrix = Matrix()
    for program in root.subtests:
        if not program.name.startswith(PROGRAM + "."):
            continue
        for leaf in program.subtests:
            if m := _CELL.match(leaf.name):
                matrix.cells.append(Cell(**m.groupdict(), result=leaf.result.value,
                                         observed=parse_observed(leaf.reason),
                                         reason=leaf.reason))
            elif m := _CHECK.match(leaf.name):
                matrix.checks.append(Check(**m.groupdict(), result=leaf.result.value,
                                           reason=leaf.reason))
    return matrix


def write_matrix(matrix: Matrix, path: Path) -> Path:
    path.write_text(json.dumps({"cells": [asdict(c) | {"name": c.name} for c in matrix.cells],
                                "checks": [asdict(c) for c in matrix.checks],
                                "failed": matrix.failed()}, indent=1) + "\n")
    return path


def _verdicts(cells: list[Cell]) -> str:
    if cells and all(c.result == Result.SKIP.value for c in cells):
        return f"SKIP {len(cells)}"
    counts: Counter[str] = Counter()
    for c in cells:
        if c.result == Result.SKIP.value:
            counts["SKIP"] += 1
        for verdict in c.observed:
            counts[verdict] += 1
    order = [*VERDICTS, "SKIP"]
    return " · ".join(f"{v} {counts[v]}" for v in order if counts[v]) or "-"


def markdown(matrices: dict[str, Matrix]) -> str:
    """One table row per kernel, filesystem and mode: how many cells of each
    timing ended in each verdict, and the differential and stress results."""
    lines = ["| kernel | fs | mode | before confirm | during | after confirm | "
             "differential | stress | failed |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for kernel, matrix in matrices.items():
        groups: dict[tuple[str, str], list[Cell]] = {}
        for cell in matrix.cells:
            groups.setdefault((cell.fs, cell.mode), []).append(cell)
        checks = {(c.fs, c.mode, c.kind): c for c in matrix.checks}
        for (fs, mode), cells in groups.items():
            by_timing = [_verdicts([c for c in cells if c.timing == t]) for t in TIMINGS]
            extra = [checks[(fs, mode, k)].result if (fs, mode, k) in checks else "-"
                     for k in ("differential", "stress")]
            failed = sum(Result(c.result).failed for c in cells) + sum(
                Result(r).failed for r in extra if r != "-")
            lines.append(f"| {kernel} | {fs} | {mode} | {' | '.join(by_timing)} | "
                         f"{' | '.join(extra)} | {failed} |")
            window = [c for c in cells if c.changed_after_confirm]
            if mode == "stable" and window:
                notes.append(f"- {kernel}, {fs}: a socket receiver saw data changed after "
                             f"the confirm in {len(window)} of "
                             f"{sum(c.consumer in _SOCKETS and c.timing == 'after_confirm' for c in cells)}"
                             f" after-confirm socket cells (the flag promises the old data there)")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
