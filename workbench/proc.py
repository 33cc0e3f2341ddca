"""Running host commands with their output kept in a log file."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from workbench.errors import WorkbenchError


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None,
        log: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``cmd``, capturing stdout+stderr (and appending them to ``log``).

    A missing program becomes a WorkbenchError naming it, not a traceback.
    """
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, errors="replace",
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        raise WorkbenchError(f"{cmd[0]}: command not found",
                             hint="run scripts/install-deps.sh (as root)") from None
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ {shlex.join(cmd)}\n{proc.stdout}")
    if check and proc.returncode != 0:
        raise WorkbenchError(f"`{shlex.join(cmd)}` failed with exit status "
                             f"{proc.returncode}:\n{tail(proc.stdout)}")
    return proc


def git(tree: Path, *args: str) -> str:
    """Run git in ``tree`` and return its stdout (stderr only shown on failure)."""
    proc = subprocess.run(["git", "-C", str(tree), *args], text=True,
                          errors="replace", capture_output=True)
    if proc.returncode != 0:
        raise WorkbenchError(f"`git {shlex.join(args)}` failed in {tree}:\n"
                             f"{tail(proc.stderr or proc.stdout)}")
    return proc.stdout.strip()


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def venv_path() -> str:
    """PATH with this interpreter's bin directory first: vng runs virtme-run
    from PATH, checkpatch.pl runs scripts/spdxcheck.py with the first python3
    there (it needs ply and GitPython), and they live in the virtualenv the
    workbench runs from."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
