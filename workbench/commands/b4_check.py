"""``wb b4-check``: the check command b4 review runs on each patch or cover
letter (see ``b4check``). It only reads runs: no run directory of its own,
and no wait for the work directory's lock while a `wb all` runs."""

import json
import sys
from dataclasses import dataclass

from workbench import b4check
from workbench.commands import Common
from workbench.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class B4CheckOptions(Common):
    # The series' verdicts whatever the message (b4 runs the series checks
    # on the first patch of a series without a cover letter).
    series: bool = False


def b4_check_command(options: B4CheckOptions) -> int:
    """Print the JSON b4 reads; 0 whenever it was printed."""
    entries = b4check.check(Workspace.from_env(options.workdir), sys.stdin.buffer.read(),
                            options.series)
    print(json.dumps(entries, indent=1), flush=True)
    return 0
