"""One module per ``wb`` command. Each takes a typed options object (made by
``cli.py`` from the arguments) and a ``Context``, and returns a ``Status``;
``run_command`` gives it a run directory under the workspace lock and turns
the outcome into the run record and the exit status."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from workbench import log
from workbench.accel import Accel, Accelerator, requested_accel
from workbench.boot import tool_versions
from workbench.context import Context
from workbench.errors import WorkbenchError
from workbench.log import PhaseTimer
from workbench.rundir import Run
from workbench.status import Status
from workbench.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class Common:
    """What every command that uses the work directory takes."""
    workdir: str | None = None  # --workdir; None: $WB_WORKDIR or the default
    debug: bool = False  # --debug: the debug kernels


@dataclass(frozen=True, kw_only=True)
class Boots(Common):
    """What every command that boots a kernel takes."""
    accel: str | None = None  # --accel; None: $WB_ACCEL or auto
    timeout: float  # seconds before a guest is declared hung
    kernel_args: tuple[str, ...] = ()  # --append: extra kernel command-line parameters


O = TypeVar("O", bound=Common)


def run_command(name: str, execute: Callable[[Context, O], Status], options: O) -> int:
    """Run one ``wb`` command in its own run directory, under the workspace lock."""
    ws = Workspace.from_env(options.workdir)
    with ws.lock():
        run = Run.create(ws, name)
        log.info(f"run directory: {run.path}")
        timer = PhaseTimer()
        try:
            run.record.tools = tool_versions()

            def record_accel(accel: Accel) -> None:
                run.record_accel(accel.name, accel.reason)
            requested = (requested_accel(options.accel) if isinstance(options, Boots)
                         else ("auto", ""))
            accelerator = Accelerator(ws.root / "accel.json", *requested,
                                      on_choice=record_accel)
            accelerator.refuse_early()
            status = execute(Context(ws, run, timer, accelerator, options.debug), options)
        except WorkbenchError as err:
            if err.status is None:
                run.abandon(f"error: {err}", timer.phases)
                raise
            run.record.error = str(err)
            run.finish(err.status, timer.phases)
            print(f"wb: {err.status.value}: {err}", flush=True)
            if err.hint:
                print(f"wb: hint: {err.hint}", flush=True)
            return err.status.exit_code
        except KeyboardInterrupt:
            run.abandon("interrupted", timer.phases)
            raise
        except Exception as err:
            run.abandon(f"internal error: {err!r}", timer.phases)
            raise
        run.finish(status, timer.phases)
    print(timer.summary(), flush=True)
    print(f"wb {name}: {status.value} (run directory {run.path})", flush=True)
    return status.exit_code
