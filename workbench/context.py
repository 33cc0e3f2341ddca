"""What every stage of one ``wb`` command shares: the work directory, the run
directory, the phase timer, the accelerator, and how variants are named."""

from dataclasses import dataclass
from pathlib import Path

from workbench.accel import Accelerator
from workbench.build import IMAGE
from workbench.errors import WorkbenchError
from workbench.log import PhaseTimer
from workbench.rundir import Run
from workbench.workspace import Workspace


@dataclass
class Context:
    ws: Workspace
    run: Run
    timer: PhaseTimer
    accelerator: Accelerator
    # Debug kernels (configs/debug.config) get build dirs and results of their own.
    debug: bool = False

    def label(self, variant: str) -> str:
        """The variant's name in build dirs, stages and results: patched-debug."""
        return f"{variant}-debug" if self.debug else variant

    def build_dir(self, variant: str) -> Path:
        return self.ws.build_dir(self.label(variant))

    def hint(self, command: str, variant: str) -> str:
        """The wb command line that makes this variant's stage, for hints."""
        return f"`wb {command}{' --debug' if self.debug else ''} --variant {variant}`"

    def image(self, variant: str) -> Path:
        image = self.build_dir(variant) / IMAGE
        if not image.exists():
            raise WorkbenchError(f"no kernel image for {self.label(variant)} at {image}",
                                 hint=f"run {self.hint('config', variant)} and "
                                      f"{self.hint('build', variant)} first")
        return image
