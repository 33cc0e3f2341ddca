"""``wb test`` (one variant) and ``wb all`` (the main job: every stage, both
variants, summary.md)."""

from dataclasses import dataclass, field
from pathlib import Path

from workbench import guest_tests, integrity, log
from workbench.build import built_commit
from workbench.commands import Boots
from workbench.commands.prepare import ConfigChoice, TreeChoice, apply, build, config, set_up_tree
from workbench.context import Context
from workbench.guest_tests import TestPlan, TestRun, TestSelection
from workbench.kconfig import config_sha256
from workbench.records import TestsBuildStage, TestStage
from workbench.report import write_summary
from workbench.source import KernelTree, load_tree
from workbench.status import Status, worst
from workbench.series import choose_series
from workbench.workspace import VARIANTS


@dataclass(frozen=True, kw_only=True)
class TestOptions(Boots):
    variant: str = "patched"
    selection: TestSelection = field(default_factory=TestSelection)


@dataclass(frozen=True, kw_only=True)
class AllOptions(Boots):
    tree: TreeChoice = TreeChoice()
    patches: Path | None = None  # --patches; None: the series for the tree's kernel
    config: ConfigChoice = ConfigChoice()
    selection: TestSelection = field(default_factory=TestSelection)
    jobs: int | None = None


def plan(ctx: Context, tree: KernelTree, selection: TestSelection) -> TestPlan:
    """Build the in-guest tests once and plan them; every variant runs the
    same programs (see ``guest_tests.tests_source``)."""
    log.info(f"integrity seed {selection.seed} (--seed {selection.seed} replays)")
    with ctx.timer.phase("build tests"):
        planned = guest_tests.plan_tests(tree, selection, ctx.ws.root / "build" / "tests",
                                         ctx.run.path / "build-tests.log")
    narrowed = bool(selection.case_filter or selection.programs
                    or set(guest_tests.FILESYSTEMS) - set(selection.filesystems))
    ctx.run.stage("build tests", TestsBuildStage(Status.PASS, planned.commit, selection.seed,
                                                 [t.name for t in planned.tests],
                                                 selection.suite, narrowed))
    return planned


def test_variant(ctx: Context, variant: str, planned: TestPlan, seed: int | None,
                 boots: Boots) -> TestRun:
    label = ctx.label(variant)
    out_dir = ctx.run.path / f"tests-{label}"
    build_dir = ctx.build_dir(variant)
    properties = {"kernel_commit": built_commit(build_dir),
                  "config_sha256": config_sha256(build_dir), "seed": seed}
    with ctx.timer.phase(f"test {label}"):
        result = guest_tests.run_plan(planned.tests, ctx.image(variant), label, out_dir,
                                      ctx.accelerator, boots.timeout, properties=properties,
                                      kernel_args=boots.kernel_args)
    if result.boot.first_test_seconds is not None:
        ctx.timer.phases[f"boot to first test {label}"] = result.boot.first_test_seconds
    counts = result.tree.counts()
    matrix = integrity.collect(result.tree)
    stage = TestStage(result.status, str(result.junit), str(result.json), counts,
                      result.boot.status, result.boot.reason, result.boot.seconds)
    if matrix.cells or matrix.checks:
        stage.integrity = str(integrity.write_matrix(matrix, out_dir / "integrity.json"))
        stage.integrity_failed = matrix.failed()
    ctx.run.stage(f"test {label}", stage)
    log.info(f"test {label}: {result.status.value} "
             + " ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
             + f" ({result.junit})")
    return result


def test_command(ctx: Context, options: TestOptions) -> Status:
    guest_tests.check_programs(options.selection.programs)
    selection = options.selection.with_seed()
    planned = plan(ctx, load_tree(ctx.ws), selection)
    return test_variant(ctx, options.variant, planned, selection.seed, options).status


def all_command(ctx: Context, options: AllOptions) -> Status:
    guest_tests.check_programs(options.selection.programs)  # before hours of builds
    tree = set_up_tree(ctx, options.tree, keep_chosen=True)
    apply(ctx, tree, choose_series(tree.version, options.patches))
    for variant in VARIANTS:
        config(ctx, tree, variant, options.config)
        build(ctx, tree, variant, options.jobs)
    selection = options.selection.with_seed()
    planned = plan(ctx, tree, selection)
    results = [test_variant(ctx, variant, planned, selection.seed, options)
               for variant in VARIANTS]
    summary = write_summary(ctx.run.path, tree, ctx.run.record, results, ctx.timer.phases)
    print(summary.read_text(), flush=True)
    return worst(r.status for r in results)
