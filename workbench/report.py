"""Stage 8: the human-readable summary of a main-job run (summary.md)."""

from pathlib import Path

from workbench import integrity, ktap
from workbench.guest_tests import TestRun
from workbench.records import ApplyStage, ConfigStage, RunRecord
from workbench.source import KernelTree


def write_summary(run_dir: Path, tree: KernelTree, record: RunRecord, results: list[TestRun],
                  timings: dict[str, float]) -> Path:
    applied = record.stage("apply", ApplyStage)
    lines = [
        f"# Workbench run {run_dir.name}",
        "",
        f"- kernel: {tree.version}, base commit `{tree.base_commit}`",
        f"- patched head: `{applied.head if applied else 'n/a'}`",
        f"- series: `{applied.series or 'n/a'}` "
        f"(kernel {applied.kernels or 'not named'})" if applied else "- series: n/a",
        f"- {environment_line(record)}",
        "",
        "| variant | status | pass | fail | skip | error | config sha256 | boot s | accel |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r.tree.counts()
        configured = record.stage(f"config {r.variant}", ConfigStage)
        sha = configured.sha256[:16] if configured else ""
        lines.append(f"| {r.variant} | {r.status.value} | {c['PASS'] + c['XFAIL']} | "
                     f"{c['FAIL']} | {c['SKIP'] + c['TODO']} | {c['ERROR']} | `{sha}` | "
                     f"{r.boot.seconds:.0f} | {r.boot.accel.name} |")
    lines += ["", "## Failures", ""]
    failures = [(r.variant, top.name, leaf) for r in results for top in r.tree.subtests
                for leaf in top.leaves() if leaf.result.failed]
    lines += [f"- {variant} `{suite}` {leaf.name}: {leaf.result.value} {leaf.reason}"
              for variant, suite, leaf in failures] or ["none"]
    by_variant = {r.variant: r.tree for r in results}
    if {"base", "patched"} <= set(by_variant):
        lines += ["", "## Regressions (pass on base, fail on patched)", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in
                  regressions(by_variant["base"], by_variant["patched"])] or ["none"]
    matrices = {r.variant: integrity.collect(r.tree) for r in results}
    if any(m.cells for m in matrices.values()):
        lines += ["", "## Splice integrity matrix", "",
                  "Cells per verdict (a cell whose repeated runs differed counts under each):",
                  "", integrity.markdown(matrices).rstrip()]
    lines += ["", "## Phase timings", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {secs:.1f} |" for name, secs in timings.items()]
    path = run_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def regressions(base: ktap.TestCase, patched: ktap.TestCase) -> list[tuple[str, str]]:
    """(test, patched's result and reason) for each test that passed on base
    and fails on patched; a test that fails on both is no regression."""
    def outcomes(tree: ktap.TestCase) -> dict[str, ktap.TestCase]:
        return {f"{top.name}/{leaf.name}" if leaf is not top else top.name: leaf
                for top in tree.subtests for leaf in top.leaves()}
    before, after = outcomes(base), outcomes(patched)
    return [(name, f"{leaf.result.value} {leaf.reason}".strip())
            for name, leaf in after.items() if leaf.result.failed
            and name in before and before[name].result in (ktap.Result.PASS, ktap.Result.XFAIL)]


def environment_line(record: RunRecord) -> str:
    """Which accelerator the boots used and why, and the QEMU and vng versions."""
    accel, tools = record.accel, record.tools
    used = (f"accelerator {accel.name.upper()} ({accel.reason})" if accel
            else "accelerator not recorded (no boot, or a run from before wb recorded it)")
    return (f"{used}; QEMU {tools.get('qemu', 'unknown')}, "
            f"virtme-ng {tools.get('virtme_ng', 'unknown')}")
