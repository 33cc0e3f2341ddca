"""``wb bench``: base vs patched performance in interleaved boots (see ``bench``)."""

from dataclasses import asdict, dataclass, replace

from workbench import bench, log
from workbench.build import built_commit
from workbench.commands import Boots
from workbench.context import Context
from workbench.guest_tests import build_test_programs
from workbench.kconfig import config_sha256
from workbench.records import BenchStage
from workbench.source import load_tree
from workbench.status import Status
from workbench.workspace import VARIANTS


@dataclass(frozen=True, kw_only=True)
class BenchOptions(Boots):
    quick: bool = False
    clock: str | None = None  # None: icount without KVM, kvm with it
    filesystems: tuple[str, ...] = ()  # () : the plan's
    rounds: int | None = None
    reps: int | None = None
    check_targets: bool = False


def bench_command(ctx: Context, options: BenchOptions) -> Status:
    tree = load_tree(ctx.ws)
    plan = bench.QUICK if options.quick else bench.FULL
    plan = replace(plan, filesystems=options.filesystems or plan.filesystems,
                   rounds=options.rounds or plan.rounds, reps=options.reps or plan.reps)
    images = {v: ctx.image(v) for v in VARIANTS}
    mode = bench.clock_mode(options.clock, ctx.accelerator.choose(images["patched"]))
    if mode == "tcg":
        log.warn("clock tcg: wall clock under emulation; the figures are noise")
    with ctx.timer.phase("build tests"):
        _, tests_dir = build_test_programs(tree, ctx.ws.root / "build" / "tests",
                                           ctx.run.path / "build-tests.log")
    context: dict[str, str | int] = {"clock": mode, "cpu": bench.host_cpu(),
                                     "accel": "kvm" if mode == "kvm" else "tcg",
                                     "guest cpus": 1 if mode == "icount" else 2}
    for v in VARIANTS:
        build_dir = ctx.build_dir(v)
        context[f"{v} kernel"] = (f"{tree.version} {built_commit(build_dir)[:12]} "
                                  f"config {config_sha256(build_dir)[:12]}")
    bench_dir = ctx.run.path / "bench"
    with ctx.timer.phase("bench"):
        samples = bench.run_rounds(images, tests_dir / "splice_perf", plan, mode, bench_dir,
                                   ctx.accelerator, options.timeout, options.kernel_args)
    md, js, plots, comparisons = bench.write_report(samples, bench_dir, mode, context)
    missed = [f"{c.target} {c.fs} {c.sink} {c.size}" for c in comparisons
              if c.applies and not c.met]
    status = Status.FAIL if missed and options.check_targets else Status.PASS
    ctx.run.stage("bench", BenchStage(status, mode, asdict(plan), str(md),
                                      built_commit(ctx.build_dir("patched")), str(js),
                                      [str(p) for p in plots], missed))
    print(md.read_text(), flush=True)
    return status
