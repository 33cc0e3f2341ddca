"""Which accelerator QEMU runs the guest with: KVM when a kernel really boots
under it, TCG otherwise.

KVM is broken in more than one way on the hosts this runs on: QEMU aborts at
once ("failed to set MSR"), or QEMU runs the firmware under KVM but the kernel
never prints a line. Only a kernel printing its banner proves KVM works, so
the probe boots the kernel that is about to be booted, with a serial console,
and waits for ``Linux version``. When it stays silent, the same image is
booted under TCG, which tells a silent KVM from a kernel that prints nothing.

The choice holds for the host boot (``accel.json`` is keyed by the boot id
and the QEMU binary); a real boot under KVM that prints nothing falls back to
TCG for itself and every later boot (``Accelerator.fall_back``).
"""

import json
import os
import re
import select
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from workbench import log
from workbench.errors import WorkbenchError

CHOICES = ("auto", "kvm", "tcg")
KVM_DEVICE = Path(os.environ.get("WB_KVM_DEVICE", "/dev/kvm"))
# A kernel under KVM prints its banner well within a second of the firmware;
# this leaves room for a loaded host.
PROBE_SECONDS = 8.0
BANNER = b"Linux version "
# What vng adds for KVM on x86 (virtme/architectures.py): the probe must hit
# the same CPU model, since "-cpu host" is what makes some hosts abort.
_KVM_CPU = "host,topoext=on"


@dataclass(frozen=True)
class Accel:
    """How QEMU runs the guest, and why."""

    name: str  # "kvm" or "tcg"
    reason: str


@dataclass(frozen=True)
class ProbeBoot:
    """What one probe boot did: its output with the second each chunk came."""

    accel: str
    chunks: tuple[tuple[float, str], ...]
    exit_status: int | None  # None: still running at the limit, then killed
    seconds: float

    @property
    def output(self) -> str:
        return "".join(text for _, text in self.chunks)

    @property
    def banner_seconds(self) -> float | None:
        """Seconds until the kernel's banner had been printed, if it was."""
        seen = ""
        for at, text in self.chunks:
            seen += text
            if BANNER.decode() in seen:
                return at
        return None

    def first_error(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return (errors or lines or [f"exit status {self.exit_status}"])[0][:200]


def probe_command(qemu: str, image: Path, accel: str) -> list[str]:
    cpu = ["-cpu", _KVM_CPU] if accel == "kvm" else []
    return [qemu, "-accel", accel, *cpu, "-m", "256", "-nodefaults", "-no-reboot",
            "-display", "none", "-monitor", "none", "-serial", "stdio",
            "-kernel", str(image), "-append", "console=ttyS0 panic=-1 rdinit=/wb-probe"]


def probe_boot(command: list[str], accel: str, limit: float = PROBE_SECONDS) -> ProbeBoot:
    """Run a probe ``command`` until the kernel's banner, QEMU's exit or ``limit``."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    start = time.monotonic()
    chunks: list[tuple[float, str]] = []
    seen = b""
    try:
        while BANNER not in seen:
            remaining = start + limit - time.monotonic()
            if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
                break
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                # QEMU closed its output: it is exiting, so wait for its status.
                try:
                    proc.wait(timeout=max(1.0, start + limit - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                break
            seen += data
            chunks.append((round(time.monotonic() - start, 3), data.decode(errors="replace")))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            exit_status = None
        else:
            exit_status = proc.returncode
        proc.stdout.close()
    if exit_status is not None and BANNER in seen:
        exit_status = None  # it printed the banner: how it ended does not matter
    return ProbeBoot(accel, tuple(chunks), exit_status, round(time.monotonic() - start, 3))


def judge(kvm: ProbeBoot, tcg: ProbeBoot | None, limit: float = PROBE_SECONDS) -> Accel:
    """The accelerator the probe boots call for. ``tcg`` is the same image
    under TCG, booted only when KVM printed nothing."""
    if (at := kvm.banner_seconds) is not None:
        return Accel("kvm", f"a kernel under KVM printed its banner in {at:.1f} s")
    if kvm.exit_status is not None:
        return Accel("tcg", f"KVM is present but QEMU fails with it within "
                     f"{kvm.seconds:.1f} s: {kvm.first_error()}")
    if tcg is not None and (at := tcg.banner_seconds) is not None:
        return Accel("tcg", f"KVM is present but a kernel under it printed nothing in "
                     f"{limit:.0f} s, while the same image under TCG printed its banner in "
                     f"{at:.1f} s")
    return Accel("tcg", f"a kernel under KVM printed nothing in {limit:.0f} s (nor under TCG: "
                 "the image may have no serial console); using TCG")


def qemu_binary() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise WorkbenchError("qemu-system-x86_64 not found",
                             hint="run scripts/install-deps.sh (as root)")
    return qemu


def probe(image: Path, limit: float = PROBE_SECONDS) -> Accel:
    if not KVM_DEVICE.exists():
        return Accel("tcg", f"{KVM_DEVICE} does not exist")
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return Accel("tcg", f"no permission to use {KVM_DEVICE}")
    qemu = qemu_binary()
    kvm = probe_boot(probe_command(qemu, image, "kvm"), "kvm", limit)
    silent = kvm.banner_seconds is None and kvm.exit_status is None
    tcg = probe_boot(probe_command(qemu, image, "tcg"), "tcg", limit) if silent else None
    return judge(kvm, tcg, limit)


def requested_accel(option: str | None) -> tuple[str, str]:
    """The accelerator asked for (--accel, else $WB_ACCEL, else auto) and by what."""
    if option is not None:
        return option, f"--accel {option}"
    value = os.environ.get("WB_ACCEL", "").strip()
    if not value:
        return "auto", "the default"
    if value not in CHOICES:
        raise WorkbenchError(f"WB_ACCEL={value!r} is not one of {', '.join(CHOICES)}")
    return value, f"WB_ACCEL={value}"


def _host_key(qemu: str) -> str:
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{boot_id}:{os.stat(qemu).st_mtime}"


class Accelerator:
    """The accelerator for every boot of a command: chosen at the first boot
    (probed once per host boot, or as requested), and demoted to TCG for good
    when a boot under KVM prints nothing. Says what it chose once, with why."""

    def __init__(self, cache: Path | None, requested: str = "auto", asked_by: str = "",
                 on_choice: Callable[[Accel], None] | None = None):
        if requested not in CHOICES:
            raise WorkbenchError(f"unknown accelerator {requested!r}: one of "
                                 f"{', '.join(CHOICES)}")
        self.cache = cache
        self.requested = requested
        self.asked_by = asked_by or f"--accel {requested}"
        self._on_choice = on_choice
        self._current: Accel | None = None

    @property
    def current(self) -> Accel | None:
        return self._current

    def choose(self, image: Path) -> Accel:
        if self._current is None:
            self._set(self._decide(image))
        assert self._current is not None
        return self._current

    def pinned_to_tcg(self, why: str) -> "Accelerator":
        """TCG for boots that need it (QEMU's -icount), reported as this one's
        choices are."""
        return Accelerator(None, "tcg", why, self._on_choice)

    def refuse_early(self) -> None:
        """With --accel kvm, fail before hours of builds when it is already
        known that KVM is unusable on this host boot."""
        if self.requested != "kvm":
            return
        known = (Accel("tcg", f"{KVM_DEVICE} does not exist") if not KVM_DEVICE.exists()
                 else self._cached())
        if known is not None and known.name != "kvm":
            raise WorkbenchError(f"{self.asked_by}, but KVM is unusable here: {known.reason}",
                                 hint="use --accel auto (or tcg) on this host")

    def fall_back(self, reason: str) -> Accel:
        """A boot under KVM printed nothing: TCG from now on, on this host boot."""
        if self.requested == "kvm":
            raise WorkbenchError(f"{self.asked_by}, but {reason}",
                                 hint="use --accel auto (or tcg) on this host")
        accel = Accel("tcg", reason)
        self._save(accel)
        self._set(accel)
        return accel

    def _decide(self, image: Path) -> Accel:
        if self.requested == "tcg":
            return Accel("tcg", f"requested ({self.asked_by})")
        accel = self._cached()
        if accel is None:
            log.info(f"probing KVM: booting {image.name} under KVM for up to "
                     f"{PROBE_SECONDS:.0f} s")
            accel = probe(image)
            self._save(accel)
        if self.requested == "kvm":
            if accel.name != "kvm":
                raise WorkbenchError(f"{self.asked_by}, but KVM is unusable here: {accel.reason}",
                                     hint="use --accel auto (or tcg) on this host")
            return Accel("kvm", f"requested ({self.asked_by}); {accel.reason}")
        return accel

    def _cached(self) -> Accel | None:
        if self.cache is None or not self.cache.exists():
            return None
        try:
            record = json.loads(self.cache.read_text())
        except json.JSONDecodeError:
            return None
        if record.get("key") != _host_key(qemu_binary()):
            return None
        return Accel(record["name"], record["reason"])

    def _save(self, accel: Accel) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": _host_key(qemu_binary()), **asdict(accel)}) + "\n")
        os.replace(tmp, self.cache)

    def _set(self, accel: Accel) -> None:
        if accel == self._current:
            return
        self._current = accel
        if accel.name == "kvm" or self.requested == "tcg":
            log.info(f"accelerator {accel.name.upper()}: {accel.reason}")
        else:
            log.warn(f"accelerator TCG (emulation, slower): {accel.reason}")
        if self._on_choice is not None:
            self._on_choice(accel)


_VERSION = re.compile(r"version (\S+(?: \([^)]*\))?)")


def qemu_version() -> str:
    try:
        out = subprocess.run([qemu_binary(), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (WorkbenchError, OSError, subprocess.TimeoutExpired):
        return "not installed"
    m = _VERSION.search(out)
    return m[1] if m else out.strip().splitlines()[0] if out.strip() else "unknown"
