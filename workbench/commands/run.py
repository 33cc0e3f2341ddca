"""``wb run --exec CMD``: boot a built kernel, run one command, classify."""

from dataclasses import dataclass

from workbench import log
from workbench.boot import BootRequest, boot
from workbench.commands import Boots
from workbench.context import Context
from workbench.records import RunStage
from workbench.status import Status


@dataclass(frozen=True, kw_only=True)
class RunOptions(Boots):
    variant: str = "patched"
    command: str


def run_command(ctx: Context, options: RunOptions) -> Status:
    label = ctx.label(options.variant)
    with ctx.timer.phase(f"run {label}"):
        result = boot(BootRequest(ctx.image(options.variant), options.command,
                                  timeout=options.timeout, kernel_args=options.kernel_args),
                      ctx.run.path / f"console-{label}.log", ctx.accelerator)
    ctx.run.stage(f"run {label}", RunStage(result.status, result.exit_code, result.reason,
                                           str(result.console_log),
                                           [r.headline for r in result.reports]))
    for report in result.reports:
        log.warn(f"kernel {report.kind} at console line {report.line}: {report.headline}")
    log.info(f"run {label}: {result.status.value} {result.reason} "
             f"(console: {result.console_log})")
    return result.status
