"""workbench/ type-checks: run records and stage results are dataclasses, so
a stage read by the wrong key or as the wrong type fails here (the settings
are pyproject.toml's [tool.mypy])."""

import subprocess
import sys

from workbench.workspace import PROJECT_ROOT


def test_workbench_type_checks():
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
