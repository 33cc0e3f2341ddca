"""Stage 7: test results as JUnit XML (junitparser) and JSON.

Every top-level KTAP subtest (one test program on one filesystem) becomes a
JUnit testsuite; its leaf results become testcases. A failing case carries its
own output and the console lines printed while its program ran. A kernel
report (oops, WARN, KASAN, lockdep) fails the case during which it appeared
when the program marks its cases in the kernel log ("PROG: begin case NAME"),
else the program's suite as a ``kernel-<kind>`` case.
"""

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, Properties, Property, Skipped
from junitparser import TestCase as JUnitCase
from junitparser import TestSuite

from workbench.console import KernelReport, find_reports
from workbench.errors import WorkbenchError
from workbench.ktap import Result, TestCase

_MARKER = re.compile(r"wb-runner: (begin|end) (\S+)")
# A test program's own marker, written to /dev/kmsg as each case starts
# (kernel_tests/splice_integrity does): "PROGRAM: begin case NAME".
_CASE_MARKER = re.compile(r"\S+: begin case (\S+)")
_EXCERPT_LIMIT = 200  # console lines kept per failing case


@dataclass(frozen=True)
class SuiteConsole:
    lines: tuple[str, ...]
    reports: tuple[KernelReport, ...]
    # The case that had begun when each report appeared (None: no case marker).
    report_cases: tuple[str | None, ...] = ()

    def case_reports(self, case: str) -> list[KernelReport]:
        return [r for r, c in zip(self.reports, self.report_cases) if c == case]

    def unattributed(self, cases: set[str]) -> list[KernelReport]:
        return [r for r, c in zip(self.reports, self.report_cases) if c not in cases]


def _case_at_each_line(lines: list[str]) -> list[str | None]:
    current, cases = None, []
    for line in lines:
        if m := _CASE_MARKER.search(line):
            current = m[1]
        cases.append(current)
    return cases


def console_by_suite(console: str) -> dict[str, SuiteConsole]:
    """Console lines between the runner's begin/end markers, per suite name,
    with the kernel reports among them and the case each appeared in."""
    segments: dict[str, list[str]] = {}
    current = None
    for line in console.splitlines():
        m = _MARKER.search(line)
        if m:
            current = m[2] if m[1] == "begin" else None
            segments.setdefault(m[2], [])
            continue
        if current is not None:
            segments[current].append(line)
    consoles = {}
    for name, lines in segments.items():
        reports = find_reports("\n".join(lines))
        case_at = _case_at_each_line(lines)
        consoles[name] = SuiteConsole(tuple(lines), tuple(reports),
                                      tuple(case_at[r.line - 1] for r in reports))
    return consoles


def _report_error(message: str, report: KernelReport) -> Error:
    """A JUnit error whose body is the kernel's report with its call trace,
    which CI views show in place of the failure."""
    error = Error(message, "kernel report")
    error.text = report.excerpt
    return error


def _junit_case(name: str, classname: str, case: TestCase, console: SuiteConsole | None,
                reports: Sequence[KernelReport] = ()) -> JUnitCase:
    jcase = JUnitCase(name, classname)
    if reports:
        # The kernel complained while this case ran: that fails it, whatever
        # the program itself concluded.
        jcase.result = [_report_error(f"kernel {r.kind}: {r.headline}", r) for r in reports]
    elif case.result is Result.FAIL:
        jcase.result = [Failure(case.reason or "test failed")]
    elif case.result is Result.ERROR:
        jcase.result = [Error(case.reason or "no result")]
    elif case.result in (Result.SKIP, Result.TODO):
        jcase.result = [Skipped(f"{case.result.value}: {case.reason}".rstrip(": "))]
    out = list(case.log)
    for report in reports:
        out += [f"--- kernel {report.kind} while this case ran ---", report.excerpt]
    if case.result.failed and console is not None and console.lines:
        out += ["--- console while the program ran ---", *console.lines[-_EXCERPT_LIMIT:]]
    if out:
        jcase.system_out = "\n".join(out)
    return jcase


def to_junit(root: TestCase, variant: str, console: str = "",
             properties: dict[str, str | int | float] | None = None) -> JUnitXml:
    consoles = console_by_suite(console)
    xml = JUnitXml(f"workbench {variant}")
    for top in root.subtests:
        suite = TestSuite(top.name)
        props = Properties()
        for key, value in {"variant": variant, **(properties or {})}.items():
            props.add_property(Property(key, str(value)))
        suite.append(props)
        seg = consoles.get(top.name)
        leaves = [top] if not top.subtests else list(top.leaves())
        for leaf in leaves:
            suite.add_testcase(_junit_case(leaf.name, f"{variant}.{top.name}", leaf, seg,
                                           seg.case_reports(leaf.name) if seg else []))
        # The program's own verdict, when its cases do not explain it (exit
        # status after all cases passed, a crash after the last case).
        if top.subtests and top.result.failed and not any(l.result.failed for l in leaves):
            suite.add_testcase(_junit_case("program-exit", f"{variant}.{top.name}", top, seg))
        for report in (seg.unattributed({l.name for l in leaves}) if seg else ()):
            kcase = JUnitCase(f"kernel-{report.kind}", f"{variant}.{top.name}")
            kcase.result = [_report_error(report.headline, report)]
            kcase.system_out = report.excerpt
            suite.add_testcase(kcase)
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    return xml


def to_json(root: TestCase, console: str = "") -> dict:
    consoles = console_by_suite(console)

    def node(case: TestCase, seg: SuiteConsole | None = None) -> dict:
        out: dict[str, Any] = {"name": case.name, "result": case.result.value}
        if case.reason:
            out["reason"] = case.reason
        if seg is not None and (reports := seg.case_reports(case.name)):
            out["kernel_reports"] = [f"{r.kind}: {r.headline}" for r in reports]
        if case.notes:
            out["notes"] = case.notes
        if case.subtests:
            out["subtests"] = [node(sub, seg or consoles.get(sub.name))
                               for sub in case.subtests]
        if case.log and case.result.failed:
            out["log"] = case.log
        return out

    return {"result": root.result.value, "counts": root.counts(), "tests": node(root)}


def write_results(root: TestCase, variant: str, out_dir: Path, console: str = "",
                  extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``junit.xml`` and ``results.json`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    junit_path = out_dir / "junit.xml"
    scalars = {k: v for k, v in (extra or {}).items() if isinstance(v, (str, int, float))}
    to_junit(root, variant, console, scalars).write(str(junit_path), pretty=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps({"variant": variant, **(extra or {}), **to_json(root, console)},
                                    indent=2) + "\n")
    return junit_path, json_path


def merge_junit(reports: dict[str, Path], out: Path) -> JUnitXml:
    """One JUnit report from several (one per CI job): every suite keeps its
    cases, its name prefixed with the job's label so that equal suite names
    from different jobs stay apart."""
    merged = JUnitXml("workbench")
    for label, path in reports.items():
        try:
            xml = JUnitXml.fromfile(str(path))
        except Exception as err:  # junitparser raises lxml/ElementTree errors
            raise WorkbenchError(f"{path}: not a JUnit XML file ({err})") from None
        for suite in ([xml] if isinstance(xml, TestSuite) else xml):
            suite.name = f"{label}/{suite.name}"
            merged.add_testsuite(suite)
    merged.update_statistics()
    out.parent.mkdir(parents=True, exist_ok=True)
    merged.write(str(out), pretty=True)
    return merged


def report_labels(paths: list[Path]) -> dict[str, Path]:
    """A short, distinct label per report: the directory right below the
    reports' common parent (a CI job's artefact directory) and the report's
    own directory (tests-patched)."""
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath([p.parent for p in resolved])) if resolved else Path("/")
    labels: dict[str, Path] = {}
    for path in resolved:
        parts = path.parent.relative_to(root).parts
        label = "/".join(dict.fromkeys((parts[0], parts[-1]))) if parts else path.parent.name
        if label in labels:
            raise WorkbenchError(f"two reports would be labelled {label}: {labels[label]} "
                                 f"and {path}")
        labels[label] = path
    return labels
