"""Re-capture the golden console logs and KTAP streams in tests/data/golden/.

Each sample comes from a real boot of the base kernel through ``wb``:
    .venv/bin/python tests/capture_golden.py
needs built kernels (``wb all``).
    .venv/bin/python tests/capture_golden.py kvm-probe
captures only what QEMU does on this host when the accelerator probe boots the
base kernel under KVM and under TCG (kvm-probe-*.json, replayed by
tests/fakes/qemu-system-x86_64), and a vng boot under KVM whose kernel prints nothing;
    .venv/bin/python tests/capture_golden.py reports
only the consoles with kernel reports.
The unit tests read these files; nothing here runs during pytest.
"""

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pexpect

from workbench import accel

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

    capture_reports()

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
                          ("hang", "sleep 600")]:
        run = wb("run", "--variant", "base", "--timeout", "40", "--exec", command)
        keep(run / "console-base.log", f"{name}.console")


def capture_reports() -> None:
    """Kernel reports, symbolized (KALLSYMS): an LKDTM WARN during the second
    of three cases, and a WARN and a BUG from `wb run`."""
    run = wb("test", "--variant", "base", "--program", str(HERE / "data/warn_in_case.sh"),
             "--fs", "tmpfs", "--timeout", "120")
    keep(run / "tests-base" / "results.ktap", "warn-in-case.ktap")
    keep(run / "tests-base" / "console.log", "warn-in-case.console")
    for name, command in [("warn", LKDTM.format("WARNING")), ("oops", LKDTM.format("BUG"))]:
        run = wb("run", "--variant", "base", "--timeout", "40", "--exec", command)
        keep(run / "console-base.log", f"{name}.console")


def capture_kvm_probes() -> None:
    """This host's KVM, probed as workbench/accel.py probes it, and the
    variants it offers: with vng's "-cpu host" QEMU aborts at once here; with
    QEMU's default CPU model it runs the firmware under KVM (the other way
    KVM is broken on these hosts: does the kernel then print anything?)."""
    image = HERE.parent / "work/build/base/arch/x86/boot/bzImage"
    qemu = accel.qemu_binary()
    host = {"qemu": accel.qemu_version(), "host": platform.platform(),
            "captured": datetime.date.today().isoformat(), "image": "base kernel, "
            "tinyconfig + configs/ fragments"}
    tcg = accel.probe_boot(accel.probe_command(qemu, image, "tcg"), "tcg")
    kvm = accel.probe_boot(accel.probe_command(qemu, image, "kvm"), "kvm")
    default_cpu = accel.probe_command(qemu, image, "kvm")
    del default_cpu[3:5]  # "-cpu host,...": QEMU's default CPU model instead
    kvm_default_cpu = accel.probe_boot(default_cpu, "kvm")
    for name, kvm_boot, how in [
            ("kvm-probe-host.json", kvm, "vng's -cpu host under KVM"),
            ("kvm-probe-default-cpu.json", kvm_default_cpu, "QEMU's default CPU under KVM")]:
        record = host | {"kvm_boot": how,
                         "boots": {"kvm": asdict(kvm_boot), "tcg": asdict(tcg)}}
        (GOLDEN / name).write_text(json.dumps(record, indent=1) + "\n")
        print(f"  kept {name}: KVM exit {kvm_boot.exit_status}, banner after "
              f"{kvm_boot.banner_seconds} s; TCG banner after {tcg.banner_seconds} s")
    # vng under KVM with QEMU's default CPU (a later -cpu wins over vng's
    # "-cpu host"): what a boot under a silent KVM prints, for 30 s.
    venv_bin = HERE.parent / ".venv/bin"
    vng = [str(venv_bin / "vng"), "--run", str(image), "--verbose", "--memory", "3G", "--cpus",
           "2", "--force-9p", "--qemu-opts=-cpu qemu64", "--exec", "true"]
    child = pexpect.spawn(vng[0], vng[1:], dimensions=(50, 250),
                          env=os.environ | {"PATH": f"{venv_bin}:{os.environ['PATH']}"})
    out, end = b"", time.monotonic() + 20
    try:
        while time.monotonic() < end:
            out += child.read_nonblocking(65536, timeout=end - time.monotonic())
    except (pexpect.TIMEOUT, pexpect.EOF):
        pass
    child.close(force=True)
    text = out.decode(errors="replace")
    (GOLDEN / "kvm-silent-vng.console").write_text(text)
    print(f"  kept kvm-silent-vng.console: {len(text.splitlines())} lines in 20 s, banner: "
          f"{'Linux version' in text}")
    # The same command under TCG, through wb: what the fallback boot prints.
    run = wb("run", "--variant", "base", "--accel", "tcg", "--timeout", "60", "--exec", "true")
    keep(run / "console-base.log", "exit0.console")


if __name__ == "__main__":
    if sys.argv[1:] == ["kvm-probe"]:
        capture_kvm_probes()
    elif sys.argv[1:] == ["reports"]:
        capture_reports()
    else:
        main()
