"""Stage 5: boot a kernel with virtme-ng and run a command in the guest.

The console is streamed through pexpect into ``console.log`` under a timeout;
on timeout the whole process group (vng and QEMU) is killed, and so it is when
the console stays silent after an Oops or a panic. The outcome is
classified from the exit status and the console: PANIC and OOPS from kernel
reports, TIMEOUT, INFRA when QEMU or vng failed before the kernel ran.
"""

import importlib.metadata
import os
import re
import shlex
import shutil
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pexpect

from workbench import log
from workbench.accel import Accel, Accelerator, qemu_version
from workbench.console import KernelReport, find_reports
from workbench.errors import WorkbenchError
from workbench.proc import venv_path
from workbench.status import Status

DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY = "3G"
# Seconds a boot under KVM may take to print the kernel's banner (vng starts
# QEMU within a few seconds; the kernel prints at once under a working KVM).
KVM_SILENCE_SECONDS = float(os.environ.get("WB_KVM_SILENCE_SECONDS", 30))

# After an Oops or a panic the guest may be wedged (an Oops killed a task that
# held locks, or the slab is corrupt): once its console has been silent this
# long after one, the guest is killed instead of waited for until the timeout.
CRASH_SILENCE_SECONDS = float(os.environ.get("WB_CRASH_SILENCE_SECONDS", 120))
# Up to the line's end, so that the log line has the whole headline.
_CRASH_PATTERN = re.compile(rb"(Oops: |Kernel panic - not syncing|kernel BUG at )[^\r\n]*[\r\n]")
# How often a crashed guest's console is looked at for new output.
_CRASH_POLL_SECONDS = 2.0

# The kernel's first console line: without it the kernel never ran.
_BOOT_BANNER = "Linux version "
_BANNER_PATTERN = re.compile(re.escape(_BOOT_BANNER).encode())
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
class BootRequest:
    image: Path
    command: str
    timeout: float = DEFAULT_TIMEOUT
    memory: str = DEFAULT_MEMORY
    cpus: int = 2
    rwdirs: tuple[Path, ...] = ()
    qemu_opts: tuple[str, ...] = ()
    # Extra kernel command-line parameters (vng --append), e.g. panic_on_oops=1.
    kernel_args: tuple[str, ...] = ()
    # For the guest runner: seconds until it starts its first test program
    # (its progress line), else the boot counts as stuck before the tests.
    start_timeout: float | None = None


@dataclass(frozen=True)
class BootResult:
    status: Status
    console_log: Path
    seconds: float
    accel: Accel
    exit_code: int | None = None
    reason: str = ""
    reports: tuple[KernelReport, ...] = field(default_factory=tuple)
    # Seconds from starting vng to the guest runner starting its first test.
    first_test_seconds: float | None = None
    # The console of a first boot under KVM that printed nothing (then the
    # boot was redone under TCG).
    silent_kvm_console: Path | None = None

    @property
    def stuck_before_tests(self) -> bool:
        """Timed out before the first test with no kernel report: the boot
        itself stalled (seen once in ~75 boots on a loaded host, at
        virtme-ng-init's "waiting for udev to settle"), not a test."""
        return (self.status is Status.TIMEOUT and self.first_test_seconds is None
                and not self.reports)


def tool_versions() -> dict[str, str]:
    """The versions of the tools a boot depends on, for run records."""
    try:
        vng = importlib.metadata.version("virtme-ng")
    except importlib.metadata.PackageNotFoundError:
        vng = "not installed"
    return {"qemu": qemu_version(), "virtme_ng": vng}


def vng_command(request: BootRequest, accel: Accel) -> list[str]:
    vng = os.environ.get("WB_VNG") or shutil.which("vng", path=venv_path())
    if vng is None:
        raise WorkbenchError("vng (virtme-ng) not found",
                             hint="run the README's setup; it installs virtme-ng in .venv")
    if not (os.path.isfile(vng) and os.access(vng, os.X_OK)):
        raise WorkbenchError(f"vng (virtme-ng) not found: WB_VNG={vng} is not an executable "
                             "file", hint="unset WB_VNG to use the virtualenv's vng")
    # --force-9p: every shared directory over 9p, which the kernels are built
    # for; with a working virtiofsd, virtme-ng 1.42 would use virtio-fs.
    cmd = [vng, "--run", str(request.image), "--verbose", "--memory", request.memory,
           "--cpus", str(request.cpus), "--force-9p"]
    if accel.name != "kvm":
        cmd.append("--disable-kvm")
    for rwdir in request.rwdirs:
        cmd.append(f"--rwdir={rwdir}")
    for arg in request.kernel_args:
        cmd.append(f"--append={arg}")
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
             stuck_after: float | None = None,
             vng_signal: int | None = None,
             silent_after_crash: float | None = None) -> tuple[Status, str, list[KernelReport]]:
    """The outcome of a boot from its console text and vng's exit status (or
    the signal that killed vng); ``stuck_after``: the seconds a timed-out
    guest had to start its first test; ``silent_after_crash``: the seconds a
    guest killed after a crash had printed nothing."""
    reports = find_reports(console)
    if timed_out and silent_after_crash is not None and reports:
        report = next((r for r in reports if r.is_panic), reports[0])
        return (Status.PANIC if report.is_panic else Status.OOPS,
                f"{report.headline} (then the guest hung: no console output for "
                f"{silent_after_crash:.0f} s)", reports)
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
        final = console.strip().splitlines()[-1:] or ["no output"]
        return Status.INFRA, f"the kernel never started: {final[0]}", reports
    exit_code = guest_exit_code(console, vng_status)
    if exit_code is None:
        ended = (f"vng killed by signal {vng_signal}" if vng_signal is not None
                 else f"vng exit status {vng_status}")
        return (Status.INFRA, f"the guest stopped before the command finished (QEMU killed or "
                f"crashed; {ended})", reports)
    if exit_code == 0:
        return Status.PASS, "", reports
    if exit_code == _KSFT_SKIP:
        return Status.SKIP, "the command exited with the kselftest skip status 4", reports
    return Status.FAIL, f"the command exited with status {exit_code}", reports


def boot(request: BootRequest, console_log: Path, accelerator: Accelerator) -> BootResult:
    """Boot ``request.image``, run the command, and classify what happened.

    A boot under KVM whose kernel prints nothing is redone under TCG, and
    ``accelerator`` stays on TCG for every later boot."""
    if not request.image.exists():
        raise WorkbenchError(f"kernel image {request.image} not found",
                             hint="build it first with `wb build`")
    accel = accelerator.choose(request.image)
    result = _boot_once(request, console_log, accel)
    if result.status is not Status.INFRA or not result.reason.startswith(_SILENT_KVM):
        return result
    kept = console_log.with_name(f"{console_log.stem}-kvm-silent{console_log.suffix}")
    console_log.rename(kept)
    accel = accelerator.fall_back(f"a boot under KVM printed no kernel banner in "
                                  f"{KVM_SILENCE_SECONDS:.0f} s (console: {kept})")
    result = _boot_once(request, console_log, accel)
    return replace(result, silent_kvm_console=kept)


_SILENT_KVM = "the kernel printed nothing under KVM"


def _boot_once(request: BootRequest, console_log: Path, accel: Accel) -> BootResult:
    cmd = vng_command(request, accel)
    # Seconds the guest has to start its first test (None: no such limit).
    start_limit = (None if request.start_timeout is None
                   else min(request.start_timeout, request.timeout))
    start = time.monotonic()
    timed_out = silent = False
    with console_log.open("wb") as out:
        out.write(f"# {shlex.join(cmd)}\n".encode())
        out.flush()
        child = pexpect.spawn(cmd[0], cmd[1:], timeout=request.timeout, logfile=out,
                              dimensions=(50, 250), env=os.environ | {"PATH": venv_path()})
        deadline = start + request.timeout
        # Under KVM, until the kernel's banner shows that KVM runs it.
        banner_limit = start + KVM_SILENCE_SECONDS if accel.name == "kvm" else None
        first_test = None
        # After a crash report: when the console last grew, and its size then.
        crashed_at: float | None = None
        console_size = 0
        try:
            while True:
                limit = deadline if first_test is not None or start_limit is None else (
                    start + start_limit)
                if banner_limit is not None:
                    limit = min(limit, banner_limit)
                if crashed_at is not None:
                    if out.tell() != console_size:
                        console_size, crashed_at = out.tell(), time.monotonic()
                    limit = min(limit, crashed_at + CRASH_SILENCE_SECONDS)
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    raise pexpect.TIMEOUT("deadline")
                # Report each test program as the guest runner starts it.
                try:
                    index = child.expect([pexpect.EOF, _PROGRESS, _BANNER_PATTERN,
                                          _CRASH_PATTERN],
                                         timeout=remaining if crashed_at is None
                                         else min(remaining, _CRASH_POLL_SECONDS))
                except pexpect.TIMEOUT:
                    if crashed_at is None:
                        raise
                    continue  # a crashed guest: look at its console again
                if index == 0:
                    break
                if index == 2:
                    banner_limit = None
                    continue
                assert isinstance(child.match, re.Match)
                if index == 3 and crashed_at is not None:
                    continue  # a report after the first: the console grew
                if index == 3:
                    crashed_at, console_size = time.monotonic(), out.tell()
                    log.info(f"  guest: kernel crash ({_decoded(child.match.group(0)).strip()}); "
                             f"waiting until its console is silent for "
                             f"{CRASH_SILENCE_SECONDS:.0f} s")
                    continue
                if first_test is None:
                    first_test = round(time.monotonic() - start, 1)
                log.info(f"  guest: running {_decoded(child.match.group(1))}")
        except pexpect.TIMEOUT:
            timed_out = True
            # Expect's own timeout ends a hair early: allow for it.
            silent = banner_limit is not None and time.monotonic() >= banner_limit - 0.5
        finally:
            _kill_group(child)
    silent_after_crash = None
    if timed_out and crashed_at is not None and \
            time.monotonic() >= crashed_at + CRASH_SILENCE_SECONDS - 0.5:
        silent_after_crash = CRASH_SILENCE_SECONDS
    seconds = round(time.monotonic() - start, 1)
    if silent:
        return BootResult(Status.INFRA, console_log, seconds, accel, None,
                          f"{_SILENT_KVM} in {KVM_SILENCE_SECONDS:.0f} s")
    # Killed by a signal, vng has no exit status: the guest's own status is
    # then only what the console says.
    vng_status, vng_signal = child.exitstatus, child.signalstatus
    console = console_log.read_text(errors="replace")
    status, reason, reports = classify(console, vng_status, timed_out,
                                       start_limit if first_test is None else None,
                                       vng_signal, silent_after_crash)
    exit_code = None if timed_out else guest_exit_code(console, vng_status)
    return BootResult(status, console_log, seconds, accel, exit_code, reason,
                      tuple(reports), first_test)


def _decoded(matched: bytes | str) -> str:
    """Text pexpect matched (bytes: the child has no encoding)."""
    return matched.decode(errors="replace") if isinstance(matched, bytes) else matched


def _last_guest_line(console: str) -> str:
    lines = [line.strip() for line in console.splitlines()
             if line.strip() and not line.startswith("# ")]
    return lines[-1][:200] if lines else ""


def _kill_group(child: pexpect.spawn) -> None:
    """End vng and the QEMU it started, so no stray process stays behind."""
    if child.isalive() and child.pid is not None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.close(force=True)
