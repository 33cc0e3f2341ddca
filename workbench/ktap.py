"""A KTAP (and kselftest TAP 13) parser producing a tree of test results.

Format: Documentation/dev-tools/ktap.rst. A block is a version line, an
optional plan ``1..N`` and results ``ok N name # DIRECTIVE reason``; a
subtest's block is indented deeper than its result line, which follows it.
Lines come from any iterable (a console, a results file); a stream that stops
mid-test (crash, panic, timeout) still yields everything up to that point,
with the missing results marked.
"""

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

_VERSION = re.compile(r"^(K?TAP) version (\d+)$")
_PLAN = re.compile(r"^1\.\.(\d+)")
# The test number is required: plain output like "ok: done" is not a result.
_RESULT = re.compile(r"^(ok|not ok) (\d+)\b(?: -)? ?([^#]*?)\s*(?:#\s*(\S+)\s*(.*))?$")
_SUBTEST = re.compile(r"^# Subtest: (.*)$")
_BAIL = re.compile(r"^Bail out!\s*(.*)$")


class Result(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    XFAIL = "XFAIL"  # failed as expected: counts as a pass
    TODO = "TODO"  # not ok, but known not to work yet: not a failure
    ERROR = "ERROR"  # no result at all: crash, panic, timeout, truncated output

    @property
    def failed(self) -> bool:
        return self in (Result.FAIL, Result.ERROR)


@dataclass
class TestCase:
    name: str
    result: Result = Result.ERROR
    number: int | None = None
    reason: str = ""  # the directive's text, or why the result is missing
    log: list[str] = field(default_factory=list)  # lines printed while it ran
    subtests: list["TestCase"] = field(default_factory=list)
    plan: int | None = None
    notes: list[str] = field(default_factory=list)  # format problems found

    def walk(self) -> Iterator["TestCase"]:
        yield self
        for sub in self.subtests:
            yield from sub.walk()

    def leaves(self) -> Iterator["TestCase"]:
        if not self.subtests:
            yield self
        for sub in self.subtests:
            yield from sub.leaves()

    def counts(self) -> dict[str, int]:
        counts = {r.value: 0 for r in Result}
        for leaf in self.leaves():
            counts[leaf.result.value] += 1
        return counts


@dataclass
class _Line:
    indent: int
    text: str


class _Lines:
    """A one-line lookahead over the stream, with indentation measured."""

    def __init__(self, lines: Iterable[str]):
        self._it = iter(lines)
        self._next: _Line | None = None
        self._advance()

    def _advance(self) -> None:
        for raw in self._it:
            raw = raw.rstrip("\r\n")
            if not raw.strip():
                continue
            stripped = raw.lstrip(" \t")
            self._next = _Line(len(raw) - len(stripped), stripped)
            return
        self._next = None

    def peek(self) -> _Line | None:
        return self._next

    def pop(self) -> _Line:
        line = self._next
        assert line is not None
        self._advance()
        return line


def extract_ktap(lines: Iterable[str]) -> Iterator[str]:
    """The lines from the first version line on, with the console prefix that
    stood before it (a printk timestamp, a wrapper's "# ") cut from each line.

    The prefix is cut by width, as kunit_tool does: timestamps differ from
    line to line but keep their width.
    """
    width = None
    for line in lines:
        line = line.rstrip("\r\n")
        if width is None:
            m = re.search(r"K?TAP version \d+", line)
            if not m:
                continue
            # Leading spaces are indentation, not a prefix.
            width = m.start() if line[:m.start()].strip() else 0
        yield line[width:]


def parse(lines: Iterable[str], name: str = "main") -> TestCase:
    """Parse a KTAP stream into a tree; the root holds the top-level tests."""
    stream = _Lines(extract_ktap(lines))
    root = TestCase(name)
    first = stream.peek()
    if first is None:
        root.reason = "no KTAP output"
        root.notes.append(root.reason)
        return root
    _parse_block(stream, first.indent, root)
    if root.result is not Result.SKIP:
        root.result = _overall(root.subtests)
    if not root.subtests and root.plan != 0 and root.result is not Result.SKIP:
        root.result, root.reason = Result.ERROR, "no test results"
    return root


def _parse_block(stream: _Lines, indent: int, parent: TestCase) -> bool:
    """Fill ``parent`` with the tests of the block at ``indent``.

    Returns whether the block had any KTAP structure (a version, subtest
    header, plan or result): a deeper-indented block without it is plain
    program output and stays in the log.
    """
    pending_log: list[str] = []
    structured = False
    while (line := stream.peek()) is not None and line.indent >= indent:
        if line.indent > indent:
            child = TestCase("")
            if not _parse_block(stream, line.indent, child):
                pending_log.extend(child.log)
                continue
            structured = True
            child.log = pending_log + child.log
            pending_log = []
            result = stream.peek()
            if result is not None and result.indent == indent and _RESULT.match(result.text):
                _apply_result(child, stream.pop().text)
            else:
                child.result = Result.ERROR
                child.reason = "no result line: the test crashed or its output was cut"
                if not child.name:
                    child.name = f"test {len(parent.subtests) + 1}"
            parent.subtests.append(child)
            continue
        text = stream.pop().text
        if _VERSION.match(text):
            structured = True
            if parent.subtests or parent.plan is not None:
                parent.notes.append(f"version line in the middle of a block: {text}")
        elif (m := _PLAN.match(text)) and parent.plan is None and not parent.subtests:
            structured = True
            parent.plan = int(m[1])
            if "# SKIP" in text or "#SKIP" in text:
                parent.result, parent.reason = Result.SKIP, text.split("SKIP", 1)[1].strip()
        elif m := _SUBTEST.match(text):
            structured = True
            parent.name = parent.name or m[1].strip()
        elif _RESULT.match(text):
            structured = True
            child = TestCase("", log=pending_log)
            pending_log = []
            _apply_result(child, text)
            parent.subtests.append(child)
        elif m := _BAIL.match(text):
            parent.notes.append(f"bail out: {m[1]}")
            parent.log.extend(pending_log + [text])
            pending_log = []
        else:
            pending_log.append(text)
    # Lines after the last result belong to the block, not to a test.
    parent.log.extend(pending_log)
    if structured:
        _close(parent)
    return structured


def _apply_result(case: TestCase, text: str) -> None:
    m = _RESULT.match(text)
    assert m is not None, "called for result lines only"
    ok, number, name, raw_directive, reason = m[1] == "ok", m[2], m[3].strip(), m[4], m[5] or ""
    case.number = int(number)
    case.name = case.name or name or f"test {case.number}"
    directive = (raw_directive or "").upper()
    case.reason = reason.strip()
    if directive == "SKIP":
        case.result = Result.SKIP
    elif directive == "TODO":
        case.result = Result.TODO
    elif directive == "XFAIL":
        case.result = Result.XFAIL if ok else Result.FAIL
    else:
        case.result = Result.PASS if ok else Result.FAIL
        # Any other directive (kselftest's TIMEOUT, say) is kept as the reason.
        case.reason = f"{raw_directive or ''} {case.reason}".strip()


def _close(block: TestCase) -> None:
    """Check the block against its plan; add ERROR cases for missing results."""
    if block.plan is None:
        if block.subtests:
            block.notes.append("missing plan")
        return
    missing = block.plan - len(block.subtests)
    if missing < 0:
        block.notes.append(f"plan says {block.plan} tests, found {len(block.subtests)}")
        return
    for n in range(len(block.subtests) + 1, block.plan + 1):
        block.subtests.append(TestCase(f"test {n}", Result.ERROR, n,
                                       "missing result: the test crashed or its output was cut"))
    if missing:
        block.notes.append(f"{missing} of {block.plan} planned results missing")


def _overall(cases: list[TestCase]) -> Result:
    results = {c.result for c in cases}
    if Result.ERROR in results:
        return Result.ERROR
    if Result.FAIL in results:
        return Result.FAIL
    if results and results <= {Result.SKIP}:
        return Result.SKIP
    return Result.PASS
