"""Stage 5: boot a kernel with virtme-ng and run a command in the guest.

The console is streamed through pexpect into ``console.log`` under a timeout;
on timeout the whole process group (vng and QEMU) is killed. The outcome is
classified from the exit status and the console: PANIC and OOPS from kernel
reports, TIMEOUT, INFRA when QEMU or vng failed before the kernel ran.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from workbench import log
from workbench.console import KernelReport, find_reports
from workbench.errors import WorkbenchError
from workbench.status import Status

DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY = "3G"
KVM_DEVICE = Path("/dev/kvm")
_KVM_PROBE_SECONDS = 3.0

# The kernel's first console line: without it the kernel never ran.
_BOOT_BANNER = "Linux version "
# vng returns the command's exit status, which the guest writes to a virtio
# serial port, or 255 when there is none (panic, QEMU killed, no script ports).
# Without the ports (no udev on the host) the guest prints the status on the
# console instead.
_VNG_NO_STATUS = 255
_SCRIPT_EXIT = re.compile(r"virtme-ng-init: script exited with code (\d+)")
_KSFT_SKIP = 4
# Printed to /dev/kmsg by kernel_tests/guest-runner.sh as each program starts.
_PROGRESS = re.compile(rb"wb-runner: begin (\S+)[\r\n]")


@dataclass(frozen=True)
class Accel:
    """How QEMU runs the guest, and why."""

    name: str  # "kvm" or "tcg"
    reason: str


@dataclass(frozen=True)
class BootRequest:
    image: Path
    command: str
    timeout: float = DEFAULT_TIMEOUT
    memory: str = DEFAULT_MEMORY
    cpus: int = 2
    rwdirs: tuple[Path, ...] = ()
    qemu_opts: tuple[str, ...] = ()
    # For the guest runner: seconds until it starts its first test program
    # (its progress line), else the boot counts as stuck before the tests.
    start_timeout: float | None = None


@dataclass(frozen=True)
class BootResult:
    status: Status
    console_log: Path
    seconds: float
    accel: str
    exit_code: int | None = None
    reason: str = ""
    reports: tuple[KernelReport, ...] = field(default_factory=tuple)
    # Seconds from starting vng to the guest runner starting its first test.
    first_test_seconds: float | None = None

    @property
    def stuck_before_tests(self) -> bool:
        """Timed out before the first test with no kernel report: the boot
        itself stalled (seen once in ~75 boots on a loaded host, at
        virtme-ng-init's "waiting for udev to settle"), not a test."""
        return (self.status is Status.TIMEOUT and self.first_test_seconds is None
                and not self.reports)


def _probe_kvm(qemu: str) -> Accel:
    if not KVM_DEVICE.exists():
        return Accel("tcg", f"{KVM_DEVICE} does not exist")
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return Accel("tcg", f"no permission to use {KVM_DEVICE}")
    # A guest with no disk sits in the firmware forever when KVM works; a
    # broken KVM makes QEMU abort within a fraction of a second.
    proc = subprocess.Popen([qemu, "-accel", "kvm", "-cpu", "host", "-m", "64", "-nodefaults",
                             "-display", "none", "-no-reboot", "-monitor", "none",
                             "-serial", "none"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=_KVM_PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return Accel("kvm", "KVM works")
    first_error = next((line for line in stderr.splitlines() if line.strip()),
                       f"exit status {proc.returncode}")
    return Accel("tcg", f"KVM is present but QEMU fails with it ({first_error.strip()})")


def detect_accel(cache: Path | None = None) -> Accel:
    """KVM when it really works, TCG otherwise; cached per host boot."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise WorkbenchError("qemu-system-x86_64 not found",
                             hint="run scripts/install-deps.sh (as root)")
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    key = f"{boot_id}:{os.stat(qemu).st_mtime}"
    if cache is not None and cache.exists():
        record = json.loads(cache.read_text())
        if record.get("key") == key:
            return Accel(record["name"], record["reason"])
    accel = _probe_kvm(qemu)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, "name": accel.name, "reason": accel.reason}))
    return accel


def _tool_path() -> str:
    """PATH with this interpreter's bin directory first: vng runs virtme-run
    from PATH, and both live in the virtualenv the workbench runs from."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def vng_command(request: BootRequest, accel: Accel) -> list[str]:
    vng = shutil.which("vng", path=_tool_path())
    if vng is None:
        raise WorkbenchError("vng (virtme-ng) not found",
                             hint="run the README's setup; it installs virtme-ng in .venv")
    cmd = [vng, "--run", str(request.image), "--verbose", "--memory", request.memory,
           "--cpus", str(request.cpus)]
    if accel.name != "kvm":
        cmd.append("--disable-kvm")
    for rwdir in request.rwdirs:
        cmd.append(f"--rwdir={rwdir}")
    if request.qemu_opts:
        cmd.append(f"--qemu-opts={' '.join(request.qemu_opts)}")
    cmd += ["--exec", request.command]
    return cmd


def guest_exit_code(console: str, vng_status: int | None) -> int | None:
    """The command's exit status, or None when the guest never reported one.

    A command that really exits with 255 is indistinguishable from a guest
    that stopped early, and is reported as the latter.
    """
    exits = _SCRIPT_EXIT.findall(console)
    if exits:
        return int(exits[-1])
    return None if vng_status in (None, _VNG_NO_STATUS) else vng_status


def classify(console: str, vng_status: int | None, timed_out: bool,
             stuck_after: float | None = None) -> tuple[Status, str, list[KernelReport]]:
    """The outcome of a boot from its console text and vng's exit status;
    ``stuck_after``: the seconds a timed-out guest had to start its first test."""
    reports = find_reports(console)
    if timed_out and stuck_after is not None:
        last = _last_guest_line(console)
        return (Status.TIMEOUT, f"the guest did not start the first test within "
                f"{stuck_after:.0f} s (last console line: {last or 'none'})", reports)
    if timed_out:
        return Status.TIMEOUT, "the guest did not finish before the timeout", reports
    if any(r.is_panic for r in reports):
        return Status.PANIC, next(r.headline for r in reports if r.is_panic), reports
    if reports:
        return Status.OOPS, reports[0].headline, reports
    if _BOOT_BANNER not in console:
        last = console.strip().splitlines()[-1:] or ["no output"]
        return Status.INFRA, f"the kernel never started: {last[0]}", reports
    exit_code = guest_exit_code(console, vng_status)
    if exit_code is None:
        return (Status.INFRA, f"the guest stopped before the command finished (QEMU killed or "
                f"crashed; vng exit status {vng_status})", reports)
    if exit_code == 0:
        return Status.PASS, "", reports
    if exit_code == _KSFT_SKIP:
        return Status.SKIP, "the command exited with the kselftest skip status 4", reports
    return Status.FAIL, f"the command exited with status {exit_code}", reports


def boot(request: BootRequest, console_log: Path, accel: Accel) -> BootResult:
    """Boot ``request.image``, run the command, and classify what happened."""
    if not request.image.exists():
        raise WorkbenchError(f"kernel image {request.image} not found",
                             hint="build it first with `wb build`")
    cmd = vng_command(request, accel)
    # Seconds the guest has to start its first test (None: no such limit).
    start_limit = (None if request.start_timeout is None
                   else min(request.start_timeout, request.timeout))
    start = time.monotonic()
    timed_out = False
    with console_log.open("wb") as out:
        out.write(f"# {shlex.join(cmd)}\n".encode())
        out.flush()
        child = pexpect.spawn(cmd[0], cmd[1:], timeout=request.timeout, logfile=out,
                              dimensions=(50, 250), env=os.environ | {"PATH": _tool_path()})
        deadline = start + request.timeout
        first_test = None
        try:
            while True:
                limit = deadline if first_test is not None or start_limit is None else (
                    start + start_limit)
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    raise pexpect.TIMEOUT("deadline")
                # Report each test program as the guest runner starts it.
                if child.expect([pexpect.EOF, _PROGRESS], timeout=remaining) == 0:
                    break
                if first_test is None:
                    first_test = round(time.monotonic() - start, 1)
                log.info(f"  guest: running {child.match.group(1).decode(errors='replace')}")
        except pexpect.TIMEOUT:
            timed_out = True
        finally:
            _kill_group(child)
    seconds = round(time.monotonic() - start, 1)
    vng_status = child.exitstatus
    if vng_status is None and child.signalstatus is not None:
        vng_status = 128 + child.signalstatus
    console = console_log.read_text(errors="replace")
    status, reason, reports = classify(console, vng_status, timed_out,
                                       start_limit if first_test is None else None)
    exit_code = None if timed_out else guest_exit_code(console, vng_status)
    return BootResult(status, console_log, seconds, accel.name, exit_code, reason,
                      tuple(reports), first_test)


def _last_guest_line(console: str) -> str:
    lines = [line.strip() for line in console.splitlines()
             if line.strip() and not line.startswith("# ")]
    return lines[-1][:200] if lines else ""


def _kill_group(child: pexpect.spawn) -> None:
    """End vng and the QEMU it started, so no stray process stays behind."""
    if child.isalive():
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.close(force=True)
