"""The cover letter as a mailing list takes it: plain text, 75 columns.

The results go in as short fixed-width summaries (counts per kernel and file
system, the per-commit verdicts, the performance ratios the targets are
about); the full tables stay in the evidence bundle. Every claim the letter
makes about behaviour names the tests that show it, as ``[test: PATTERN]``
(the patched kernel's results) or ``[test base: PATTERN]``, PATTERN being a
glob over ``PROGRAM.FS/CASE`` paths of the cited ``wb all`` run; a bullet of
a claim section without one, a pattern that matches nothing and a matched
test that failed are problems that block ``wb evidence``.
"""

import fnmatch
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import Any

from workbench import integrity
from workbench.guest_tests import FILESYSTEMS
from workbench.ktap import Result, TestCase

WIDTH = 75
# Sections of the template whose bullets are claims about behaviour.
CLAIM_SECTIONS = ("Semantics", "Recovery after ESTALE", "Interfaces")
CLAIM_REF = re.compile(r"\[test(?: (base|patched))?:\s([^\]]+)\]")
_URL = re.compile(r"^\s*(?:Link: |base-commit: )?\S*://\S+$|^\S+$")
_PASSED = (Result.PASS, Result.XFAIL)


def too_wide(text: str, width: int = WIDTH) -> list[str]:
    """Lines longer than ``width``; a line that is one word (a URL, a
    Link: trailer) cannot be wrapped and is left."""
    return [line for line in text.splitlines() if len(line) > width and not _URL.match(line)]


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` filled to WIDTH after ``indent``: an indent of spaces hangs
    two more; a bullet (" - ") lines up under its text."""
    hanging = indent + "  " if not indent.strip() else " " * len(indent)
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=hanging,
                         break_on_hyphens=False)


def _filesystem(program: str) -> str:
    suffix = program.rsplit(".", 1)[-1]
    return suffix if suffix in FILESYSTEMS else "other"


def counts_by_fs(root: TestCase) -> dict[str, Counter[str]]:
    """PASS/FAIL/SKIP of the leaves of each file system's programs (XFAIL
    and TODO count as passes, ERROR as a failure)."""
    out: dict[str, Counter[str]] = {}
    for program in root.subtests:
        tally = out.setdefault(_filesystem(program.name), Counter())
        for leaf in program.leaves():
            tally["FAIL" if leaf.result.failed else
                  "SKIP" if leaf.result is Result.SKIP else "PASS"] += 1
    return out


def results_summary(trees: dict[str, TestCase]) -> str:
    """Pass/fail/skip per file system, one column per kernel variant."""
    by_variant = {variant: counts_by_fs(tree) for variant, tree in trees.items()}
    order = [*FILESYSTEMS, "other"]
    shown = [fs for fs in order if any(fs in counts for counts in by_variant.values())]
    lines = ["  " + f"{'fs':<8}" + "".join(f"{v + ' pass/fail/skip':>26}" for v in trees)]
    for fs in shown:
        cells = []
        for counts in by_variant.values():
            c = counts.get(fs, Counter())
            cells.append(f"{c['PASS']}/{c['FAIL']}/{c['SKIP']}" if c else "-")
        lines.append("  " + f"{fs:<8}" + "".join(f"{cell:>26}" for cell in cells))
    return "\n".join(lines)


def stable_summary(tree: TestCase) -> str:
    """What the integrity suite's cells with the flag observed, per file system."""
    matrix = integrity.collect(tree)
    lines = []
    for fs in FILESYSTEMS:
        cells = [c for c in matrix.cells if c.fs == fs and c.mode == "stable"]
        if not cells:
            continue
        seen: Counter[str] = Counter()
        for cell in cells:
            seen.update(cell.observed)
        failed = sum(Result(c.result).failed for c in cells)
        verdicts = ", ".join(f"{v} {seen[v]}" for v in integrity.VERDICTS if seen[v])
        lines.append(wrap(f"{fs}: {len(cells)} cells, {failed} failed; observed "
                          f"{verdicts or 'nothing'}"))
    return "\n".join(lines) or "  (no integrity cells with the flag)"


def series_summary(commits: list[Any]) -> str:
    """One line per commit: number, verdict, subject (cut to fit)."""
    lines = []
    total = len(commits)
    for number, commit in enumerate(commits, 1):
        line = f"  {number:02d}/{total:02d} {commit.status.value:<5} {commit.subject}"
        lines.append(line if len(line) <= WIDTH else line[:WIDTH - 3] + "...")
        if commit.why:
            lines.append(wrap(commit.why, indent="        "))
    return "\n".join(lines) or "  (no commits)"


def perf_summary(bench_data: dict[str, Any]) -> str:
    """Per target: how many cells met it, and the range of ratios per file
    system, over the cells the target covers."""
    lines = [f"  clock: {bench_data['mode']}"]
    targets: dict[str, list[dict[str, Any]]] = {}
    for comparison in bench_data["comparisons"]:
        if comparison["applies"]:
            targets.setdefault(comparison["target"], []).append(comparison)
    for target, cells in targets.items():
        met = sum(c["met"] for c in cells)
        lines.append(wrap(f"{target} (target >= {cells[0]['floor']}): {met} of "
                          f"{len(cells)} cells met", indent="  "))
        by_fs: dict[str, list[float]] = {}
        for c in cells:
            by_fs.setdefault(c["fs"], []).append(c["ratio"]["value"])
        ranges = [f"{fs} {min(v):.2f}-{max(v):.2f}" if min(v) != max(v) else f"{fs} {v[0]:.2f}"
                  for fs, v in by_fs.items()]
        lines.append(wrap(", ".join(ranges), indent="    "))
    return "\n".join(lines)


@dataclass(frozen=True)
class ClaimRef:
    variant: str  # whose results show it: "patched" or "base"
    pattern: str
    line: int  # in the filled cover letter, from 1


@dataclass(frozen=True)
class ClaimCheck:
    ref: ClaimRef
    passed: int
    skipped: int
    failed: tuple[str, ...]

    @property
    def problem(self) -> str:
        where = f"line {self.ref.line}: [test{'' if self.ref.variant == 'patched' else ' base'}" \
                f": {self.ref.pattern}]"
        if self.failed:
            shown = ", ".join(self.failed[:3]) + (" ..." if len(self.failed) > 3 else "")
            return f"{where}: {len(self.failed)} of its tests failed on {self.ref.variant}: " \
                   f"{shown}"
        if not self.passed:
            return (f"{where}: no test of the {self.ref.variant} kernel matches"
                    + (f" that passed ({self.skipped} skipped)" if self.skipped else ""))
        return ""


def claim_refs(body: str) -> list[ClaimRef]:
    """Every ``[test: ...]`` of ``body``; one may wrap over lines."""
    refs = []
    for m in CLAIM_REF.finditer(body):
        line = body.count("\n", 0, m.start()) + 1
        for pattern in m[2].split(","):
            refs.append(ClaimRef(m[1] or "patched", re.sub(r"\s+", "", pattern), line))
    return refs


def unreferenced_claims(body: str) -> list[str]:
    """The bullets of the claim sections that name no test."""
    found = []
    section = ""
    bullets: list[list[str]] = []
    open_item = False
    lines = body.splitlines()
    for index, line in enumerate(lines):
        underline = lines[index + 1] if index + 1 < len(lines) else ""
        if line and underline and set(underline) == {"-"} and len(underline) == len(line):
            section = line
            continue
        if section not in CLAIM_SECTIONS or set(line) == {"-"}:
            open_item = False
            continue
        if not line.strip():
            open_item = False
        elif line.startswith(" - ") or not open_item:
            bullets.append([line])  # a bullet, or a paragraph: a claim either way
            open_item = True
        else:
            bullets[-1].append(line)
    for bullet in bullets:
        text = " ".join(part.strip() for part in bullet)
        if not CLAIM_REF.search(text):
            found.append(textwrap.shorten(text, 60, placeholder="..."))
    return found


def paths(root: TestCase) -> dict[str, Result]:
    """Every leaf of ``root`` as ``PROGRAM/CASE`` (deeper levels joined by /)."""
    out = {}

    def walk(case: TestCase, prefix: str) -> None:
        for sub in case.subtests:
            path = f"{prefix}/{sub.name}" if prefix else sub.name
            if sub.subtests:
                walk(sub, path)
            else:
                out[path] = sub.result
    walk(root, "")
    return out


def check_claims(refs: list[ClaimRef], trees: dict[str, TestCase]) -> list[ClaimCheck]:
    leaves = {variant: paths(tree) for variant, tree in trees.items()}
    checks = []
    for ref in refs:
        matched = {p: r for p, r in leaves.get(ref.variant, {}).items()
                   if fnmatch.fnmatchcase(p, ref.pattern)}
        checks.append(ClaimCheck(
            ref, passed=sum(r in _PASSED for r in matched.values()),
            skipped=sum(r is Result.SKIP for r in matched.values()),
            failed=tuple(p for p, r in matched.items() if r.failed)))
    return checks


def claims_table(checks: list[ClaimCheck]) -> str:
    """The bundle's claims.txt: each reference, what it matched."""
    lines = [f"{'line':>4}  {'kernel':<7} {'pass':>5} {'skip':>5} {'fail':>5}  pattern"]
    for c in checks:
        lines.append(f"{c.ref.line:>4}  {c.ref.variant:<7} {c.passed:>5} {c.skipped:>5} "
                     f"{len(c.failed):>5}  {c.ref.pattern}")
    return "\n".join(lines) + "\n"
