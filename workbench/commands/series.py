"""``wb series``: build, check and test every commit of the series in order
(see ``commits`` for the checks)."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from workbench import commits, guest_tests, log
from workbench.build import BuildResult, build_kernel
from workbench.commands import Boots
from workbench.commands.prepare import ConfigChoice, apply, config_at
from workbench.commands.test import plan
from workbench.context import Context
from workbench.errors import WorkbenchError
from workbench.guest_tests import TestSelection
from workbench.proc import git
from workbench.records import CommitStage
from workbench.series import choose_series
from workbench.source import KernelTree, load_tree, variant_rev
from workbench.status import Status


@dataclass(frozen=True, kw_only=True)
class SeriesOptions(Boots):
    patches: Path | None = None  # --patches; None: the series for the tree's kernel
    config: ConfigChoice = ConfigChoice()
    # The integrity subset each commit runs (the suite is always "integrity").
    selection: TestSelection = field(default_factory=lambda: TestSelection(
        suite="integrity", filesystems=commits.SUBSET_FILESYSTEMS))
    checkpatch_ignore: tuple[str, ...] = commits.DEFAULT_CHECKPATCH_IGNORE
    jobs: int | None = None


class _Builds:
    """Every build of the series in one directory, its log kept per label."""

    def __init__(self, ctx: Context, tree: KernelTree, build_dir: Path, jobs: int | None):
        self.ctx, self.tree, self.build_dir, self.jobs = ctx, tree, build_dir, jobs

    def build(self, label: str, rev: str) -> tuple[BuildResult, str]:
        log_path = self.ctx.run.path / f"build-{label}.log"
        with self.ctx.timer.phase(f"build {label}"):
            result = build_kernel(self.tree, label, rev, self.build_dir, log_path, self.jobs)
        return result, log_path.read_text(errors="replace")


def series_command(ctx: Context, options: SeriesOptions) -> Status:
    """Build, check and test every commit of the series in order."""
    tree = load_tree(ctx.ws)
    series = choose_series(tree.version, options.patches)
    if not series.patches:
        raise WorkbenchError(f"{series.file} lists no patches: there is no commit to check")
    series_commits = apply(ctx, tree, series).commits
    build_dir = ctx.ws.build_dir("series")
    base_rev = variant_rev(tree, "base")
    config_at(ctx, tree, "series", base_rev, build_dir,
              options.config.with_debug(ctx.debug), options.config.base_target)
    ledger_path = build_dir / "wb-warnings.json"
    ledger = commits.WarningLedger.from_json(ctx.ws.read_json(ledger_path) or {})
    builds = _Builds(ctx, tree, build_dir, options.jobs)

    # The base first: the warnings every commit is compared with.
    base, text = builds.build("series-base", base_rev)
    if base.status is not Status.PASS:
        raise WorkbenchError(f"the base {tree.base_commit[:12]} does not build:\n"
                             + "\n".join(base.errors), hint=f"log: {base.log}",
                             status=Status.BUILD_FAILURE)
    ledger.new_in(text, tree.path, build_dir, ())
    ledger_path.write_text(json.dumps(ledger.to_json()) + "\n")

    selection = options.selection.with_seed()
    planned = plan(ctx, tree, selection)
    patch_dir = ctx.run.path / "series"
    patch_dir.mkdir(exist_ok=True)
    results: list[commits.CommitResult] = []
    table = commits.markdown(results, len(series_commits))
    for index, commit in enumerate(series_commits, 1):
        subject = git(tree.path, "log", "-1", "--format=%s", commit)
        log.info(f"series {index}/{len(series_commits)}: {commit[:12]} {subject}")
        touched = commits.touched_files(tree.path, commit)
        built, text = builds.build(f"series-{index:02d}", commit)
        new_warnings = ledger.new_in(text, tree.path, build_dir, touched)
        ledger_path.write_text(json.dumps(ledger.to_json()) + "\n")
        checkpatch = commits.run_checkpatch(tree.path, commit, patch_dir / f"{index:04d}.patch",
                                            options.checkpatch_ignore)
        tests, counts = None, {}
        reason = built.errors[0] if built.errors else "see log"
        if built.status is Status.PASS and built.image is not None:
            with ctx.timer.phase(f"test series-{index:02d}"):
                run = guest_tests.run_plan(planned.tests, built.image, f"series-{index:02d}",
                                           ctx.run.path / f"tests-series-{index:02d}",
                                           ctx.accelerator, options.timeout,
                                           kernel_args=options.kernel_args,
                                           properties={"kernel_commit": commit,
                                                       "seed": selection.seed})
            tests, counts = run.status, run.tree.counts()
            reason = run.boot.reason if not run.boot.status.ok else ", ".join(
                f"{leaf.name} {leaf.result.value}" for leaf in run.tree.leaves()
                if leaf.result.failed)[:300]
        result = commits.CommitResult(index, commit, subject, touched, built.status,
                                      built.seconds, new_warnings, checkpatch, tests, counts,
                                      reason)
        results.append(result)
        ctx.run.stage(f"series {index}", CommitStage(
            result.status, commit, subject, built.status, list(new_warnings), checkpatch,
            tests, counts, result.why()))
        log.info(f"series {index}: {result.status.value} {result.why()}".rstrip())
        # After every commit: an interrupted run keeps the table so far.
        table = commits.markdown(results, len(series_commits))
        (ctx.run.path / "series.md").write_text(table)
    print(table, flush=True)
    failed = commits.first_failure(results)
    return failed.status if failed else Status.PASS
