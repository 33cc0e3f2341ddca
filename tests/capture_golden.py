"""Re-capture the golden console logs and KTAP streams in tests/data/golden/.

Each sample comes from a real boot of the base kernel through ``wb``:
    .venv/bin/python tests/capture_golden.py
needs built kernels (``wb all``).
The unit tests read these files; nothing here runs during pytest.
"""

import shutil
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "golden"
WB = [sys.executable, "-m", "workbench"]
LKDTM = "mount -t debugfs none /sys/kernel/debug; echo {} > /sys/kernel/debug/provoke-crash/DIRECT"


def wb(*args: str) -> Path:
    """Run a wb command and return its run directory."""
    proc = subprocess.run([*WB, *args], capture_output=True, text=True)
    print(f"wb {' '.join(args)} -> exit {proc.returncode}")
    runs = HERE.parent / "work" / "runs"
    return (runs / "latest").resolve()


def keep(src: Path, name: str) -> None:
    shutil.copy(src, GOLDEN / name)
    print(f"  kept {name}")


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    data = HERE / "data"
    failing = Path("/tmp/wb-golden/failing_test")
    failing.parent.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-O2", f"-I{HERE.parent / 'work/linux/tools/testing/selftests'}",
                    "-o", str(failing), str(data / "failing_test.c")], check=True)

    run = wb("test", "--variant", "base")
    keep(run / "tests-base" / "results.ktap", "clean-run.ktap")
    keep(run / "tests-base" / "console.log", "clean-run.console")

    run = wb("test", "--variant", "base", "--program", str(failing), "--program",
             str(data / "no_plan.sh"), "--fs", "tmpfs")
    keep(run / "tests-base" / "results.ktap", "failing.ktap")
    keep(run / "tests-base" / "console.log", "failing.console")

    run = wb("test", "--variant", "base", "--program", str(data / "crash_midway.sh"),
             "--fs", "tmpfs", "--timeout", "120")
    keep(run / "tests-base" / "results.ktap", "crash-midway.ktap")
    keep(run / "tests-base" / "console.log", "crash-midway.console")

    run = wb("test", "--variant", "base", "--program", str(data / "warn_in_case.sh"),
             "--fs", "tmpfs", "--timeout", "120")
    keep(run / "tests-base" / "results.ktap", "warn-in-case.ktap")
    keep(run / "tests-base" / "console.log", "warn-in-case.console")

    # The integrity matrix on both kernels, same seed.
    for variant in ("base", "patched"):
        run = wb("test", "--variant", variant, "--suite", "integrity", "--seed", "1")
        keep(run / f"tests-{variant}" / "results.ktap", f"integrity-{variant}.ktap")

    # QEMU killed from outside while the guest runs its command.
    killer = threading.Timer(30, subprocess.run, [["pkill", "-KILL", "-f", "qemu-system.*/work/build/"]])
    killer.start()
    run = wb("run", "--variant", "base", "--timeout", "120", "--exec", "sleep 600")
    killer.join()
    keep(run / "console-base.log", "qemu-killed.console")

    for name, command in [("panic", "echo c > /proc/sysrq-trigger"),
                          ("exit3", "echo failing on purpose; exit 3"),
                          ("warn", LKDTM.format("WARNING")),
                          ("oops", LKDTM.format("BUG")),
                          ("hang", "sleep 600")]:
        run = wb("run", "--variant", "base", "--timeout", "40", "--exec", command)
        keep(run / "console-base.log", f"{name}.console")


if __name__ == "__main__":
    main()
