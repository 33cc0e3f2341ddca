"""The one exception type the CLI turns into a clear message instead of a traceback."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.status import Status


class WorkbenchError(Exception):
    """A failure the user can act on: bad input, a missing tool, a failed stage.

    ``hint`` says what to do about it (the exact command to run, the file to
    fix); the CLI prints it under the message.
    """

    def __init__(self, message: str, hint: str | None = None,
                 status: "Status | None" = None):
        super().__init__(message)
        self.hint = hint
        # A Status when a stage ran and failed (APPLY_FAILURE, BUILD_FAILURE,
        # ...): the run is complete, with that outcome. None for bad input or a
        # missing tool: the run stopped before finishing.
        self.status = status
