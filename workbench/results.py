"""Stage 7: test results as JUnit XML (junitparser) and JSON.

Every top-level KTAP subtest (one test program on one filesystem) becomes a
JUnit testsuite; its leaf results become testcases. A failing case carries its
own output and the console lines printed while its program ran, and a kernel
report (oops, WARN, KASAN, lockdep) seen during a program fails that suite.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Properties, Property, Skipped
from junitparser import TestCase as JUnitCase
from junitparser import TestSuite

from workbench.console import KernelReport, find_reports
from workbench.ktap import Result, TestCase

_MARKER = re.compile(r"wb-runner: (begin|end) (\S+)")
_EXCERPT_LIMIT = 200  # console lines kept per failing case


@dataclass(frozen=True)
class SuiteConsole:
    lines: tuple[str, ...]
    reports: tuple[KernelReport, ...]


def console_by_suite(console: str) -> dict[str, SuiteConsole]:
    """Console lines between the runner's begin/end markers, per suite name."""
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
    return {name: SuiteConsole(tuple(lines), tuple(find_reports("\n".join(lines))))
            for name, lines in segments.items()}


def _junit_case(name: str, classname: str, case: TestCase, console: SuiteConsole | None):
    jcase = JUnitCase(name, classname)
    if case.result is Result.FAIL:
        jcase.result = [Failure(case.reason or "test failed")]
    elif case.result is Result.ERROR:
        jcase.result = [Error(case.reason or "no result")]
    elif case.result in (Result.SKIP, Result.TODO):
        jcase.result = [Skipped(f"{case.result.value}: {case.reason}".rstrip(": "))]
    out = list(case.log)
    if case.result.failed and console is not None and console.lines:
        out += ["--- console while the program ran ---", *console.lines[-_EXCERPT_LIMIT:]]
    if out:
        jcase.system_out = "\n".join(out)
    return jcase


def to_junit(root: TestCase, variant: str, console: str = "",
             properties: dict[str, str] | None = None) -> JUnitXml:
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
            suite.add_testcase(_junit_case(leaf.name, f"{variant}.{top.name}", leaf, seg))
        # The program's own verdict, when its cases do not explain it (exit
        # status after all cases passed, a crash after the last case).
        if top.subtests and top.result.failed and not any(l.result.failed for l in leaves):
            suite.add_testcase(_junit_case("program-exit", f"{variant}.{top.name}", top, seg))
        for report in (seg.reports if seg else ()):
            kcase = JUnitCase(f"kernel-{report.kind}", f"{variant}.{top.name}")
            kcase.result = [Error(report.headline, "kernel report")]
            kcase.system_out = report.excerpt
            suite.add_testcase(kcase)
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    return xml


def to_json(root: TestCase) -> dict:
    def node(case: TestCase) -> dict:
        out = {"name": case.name, "result": case.result.value}
        if case.reason:
            out["reason"] = case.reason
        if case.notes:
            out["notes"] = case.notes
        if case.subtests:
            out["subtests"] = [node(sub) for sub in case.subtests]
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
    json_path.write_text(json.dumps({"variant": variant, **(extra or {}), **to_json(root)},
                                    indent=2) + "\n")
    return junit_path, json_path
