"""``wb tree``, ``wb apply``, ``wb config``, ``wb build``: the stages before a
boot, each recorded in the run as it finishes. ``wb all`` and ``wb series``
run the same stage functions."""

from dataclasses import dataclass
from pathlib import Path

from workbench import log
from workbench.build import build_kernel, compiler_of, make_vars, switch_to
from workbench.commands import Common
from workbench.context import Context
from workbench.errors import WorkbenchError
from workbench.kconfig import (DEBUG_FRAGMENT, DEFAULT_BASE_TARGET, DEFAULT_FRAGMENTS,
                               configure)
from workbench.records import ApplyStage, BuildStage, ConfigStage, TreeStage
from workbench.series import Series, apply_error, apply_once, choose_series
from workbench.source import (DEFAULT_TARBALL, KernelTree, load_tree, tree_from_checkout,
                              tree_from_tarball, chosen_tree, variant_rev)
from workbench.status import Status
from workbench.workspace import VARIANTS


@dataclass(frozen=True)
class TreeChoice:
    """Which kernel tree: a user's checkout at ``base``, or a tarball (None:
    the default one, or for `wb all` the tree chosen earlier)."""
    checkout: Path | None = None
    base: str = "HEAD"
    tarball: Path | None = None


@dataclass(frozen=True)
class ConfigChoice:
    base_target: str = DEFAULT_BASE_TARGET
    fragments: tuple[str, ...] = DEFAULT_FRAGMENTS

    def with_debug(self, debug: bool) -> tuple[str, ...]:
        return (*self.fragments, DEBUG_FRAGMENT) if debug else self.fragments


@dataclass(frozen=True, kw_only=True)
class TreeOptions(Common):
    tree: TreeChoice = TreeChoice()


@dataclass(frozen=True, kw_only=True)
class ApplyOptions(Common):
    patches: Path | None = None  # --patches; None: the series for the tree's kernel


@dataclass(frozen=True, kw_only=True)
class ConfigOptions(Common):
    variants: tuple[str, ...] = VARIANTS
    config: ConfigChoice = ConfigChoice()


@dataclass(frozen=True, kw_only=True)
class BuildOptions(Common):
    variants: tuple[str, ...] = VARIANTS
    jobs: int | None = None  # make -j; None: the number of CPUs


# -- the stages ----------------------------------------------------------

def set_up_tree(ctx: Context, choice: TreeChoice, keep_chosen: bool = False) -> KernelTree:
    """``keep_chosen``: with no source in ``choice``, a tree set up earlier
    from another source than the default stays, rather than the default
    replacing it (`wb tree --tree X` or `--kernel 7.3`, then `wb all`)."""
    with ctx.timer.phase("tree"):
        if choice.checkout is not None:
            tree = tree_from_checkout(ctx.ws, choice.checkout, choice.base)
        elif choice.tarball is not None:
            tree = tree_from_tarball(ctx.ws, choice.tarball)
        elif keep_chosen and (kept := chosen_tree(ctx.ws)) is not None:
            log.info(f"using the tree `wb tree` set up: {kept.version} from {kept.origin}")
            tree = kept
        else:
            tree = tree_from_tarball(ctx.ws, DEFAULT_TARBALL)
    ctx.run.stage("tree", TreeStage(Status.PASS, str(tree.path), tree.version,
                                    tree.base_commit, tree.origin))
    log.info(f"kernel {tree.version}, base commit {tree.base_commit[:12]}")
    return tree


def apply(ctx: Context, tree: KernelTree, series: Series) -> ApplyStage:
    """Apply ``series`` (``choose_series``'s choice for the tree) on the base."""
    log_path = ctx.run.path / "apply.log"
    with ctx.timer.phase("apply"):
        result = apply_once(tree, series, ctx.ws.root / "series.json", log_path)
    names = [p.name for p in series.patches]
    directory, kernels = str(series.directory), str(series.kernels or "")
    if result.status is not Status.PASS:
        assert result.failed_patch is not None
        ctx.run.stage("apply", ApplyStage(result.status, patches=names,
                                          failed_patch=result.failed_patch.name,
                                          failed_at=list(result.failed_at),
                                          series=directory, kernels=kernels))
        raise apply_error(result, tree, log_path)
    stage = ApplyStage(Status.PASS, result.head, list(result.commits), names,
                       series=directory, kernels=kernels)
    ctx.run.stage("apply", stage)
    return stage


def config_at(ctx: Context, tree: KernelTree, label: str, rev: str, build_dir: Path,
              fragments: tuple[str, ...], base_target: str) -> None:
    """The .config of ``rev`` in ``build_dir``, recorded as ``config LABEL``."""
    commit = switch_to(tree, rev, build_dir)
    with ctx.timer.phase(f"config {label}"):
        try:
            cfg = configure(tree.path, build_dir, commit, fragments, base_target, make_vars(),
                            ctx.run.path / f"config-{label}.log")
        except WorkbenchError as err:
            if err.status is Status.CONFIG_FAILURE:
                ctx.run.stage(f"config {label}", ConfigStage(err.status, error=str(err)))
            raise
    ctx.run.stage(f"config {label}", ConfigStage(Status.PASS, cfg.sha256, cfg.base_target,
                                                 list(fragments)))
    log.info(f"config {label}: sha256 {cfg.sha256[:16]}")


def config(ctx: Context, tree: KernelTree, variant: str, choice: ConfigChoice) -> None:
    config_at(ctx, tree, ctx.label(variant), variant_rev(tree, variant), ctx.build_dir(variant),
              choice.with_debug(ctx.debug), choice.base_target)


def build(ctx: Context, tree: KernelTree, variant: str, jobs: int | None) -> Path:
    build_dir = ctx.build_dir(variant)
    label = ctx.label(variant)
    if not (build_dir / ".config").exists():
        raise WorkbenchError(f"no .config in {build_dir}",
                             hint=f"run {ctx.hint('config', variant)} first")
    with ctx.timer.phase(f"build {label}"):
        result = build_kernel(tree, label, variant_rev(tree, variant), build_dir,
                              ctx.run.path / f"build-{label}.log", jobs)
    ctx.run.stage(f"build {label}", BuildStage(result.status, result.commit, result.seconds,
                                               str(result.log), list(result.errors),
                                               compiler_of(build_dir)))
    if result.status is not Status.PASS or result.image is None:
        shown = "\n".join(f"  {line}" for line in result.errors) or "  (see the log)"
        raise WorkbenchError(f"build of {label} failed:\n{shown}",
                             hint=f"full log: {result.log}", status=Status.BUILD_FAILURE)
    return result.image


# -- the commands --------------------------------------------------------

def tree_command(ctx: Context, options: TreeOptions) -> Status:
    set_up_tree(ctx, options.tree)
    return Status.PASS


def apply_command(ctx: Context, options: ApplyOptions) -> Status:
    tree = load_tree(ctx.ws)
    apply(ctx, tree, choose_series(tree.version, options.patches))
    return Status.PASS


def config_command(ctx: Context, options: ConfigOptions) -> Status:
    tree = load_tree(ctx.ws)
    for variant in options.variants:
        config(ctx, tree, variant, options.config)
    return Status.PASS


def build_command(ctx: Context, options: BuildOptions) -> Status:
    tree = load_tree(ctx.ws)
    for variant in options.variants:
        build(ctx, tree, variant, options.jobs)
    return Status.PASS
