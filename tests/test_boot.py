"""Boot outcome classification on consoles captured from real boots."""

from pathlib import Path

import pytest

from workbench.accel import Accel, Accelerator
from workbench.boot import BootRequest, BootResult, classify, guest_exit_code, vng_command
from workbench.console import find_reports, strip_prefix
from workbench.errors import WorkbenchError
from workbench.status import Status


def console(data: Path, name: str) -> str:
    return (data / "golden" / f"{name}.console").read_text(errors="replace")


def test_clean_run_passes(data: Path):
    text = console(data, "clean-run")
    assert find_reports(text) == []
    assert classify(text, 0, timed_out=False)[0] is Status.PASS
    assert guest_exit_code(text, 0) == 0


def test_failing_command_reports_the_guest_exit_status(data: Path):
    text = console(data, "exit3")
    assert guest_exit_code(text, 3) == 3
    assert classify(text, 3, timed_out=False)[:2] == (
        Status.FAIL, "the command exited with status 3")
    # The same console with vng's "no status" answer: the guest never said.
    assert classify(text, 255, timed_out=False)[0] is Status.INFRA


def test_exit_status_printed_on_the_console_when_vng_has_no_ports():
    text = ("[    0.000000] Linux version 6.12.117\n"
            "[    5.330095] virtme-ng-init: starting script (console fallback)\n"
            "[    5.617256] virtme-ng-init: script exited with code 3\n")
    assert guest_exit_code(text, 255) == 3
    assert classify(text, 255, timed_out=False)[0] is Status.FAIL


def test_killed_qemu_is_infrastructure_not_a_test_failure(data: Path):
    status, reason, _ = classify(console(data, "qemu-killed"), 255, timed_out=False)
    assert status is Status.INFRA
    assert reason.startswith("the guest stopped before the command finished")


def test_panic(data: Path):
    status, reason, reports = classify(console(data, "panic"), 255, timed_out=False)
    assert status is Status.PANIC
    assert reason.startswith("Kernel panic - not syncing: sysrq triggered crash")
    assert reports[-1].kind == "panic"


def test_warning_is_an_oops_with_its_backtrace(data: Path):
    status, reason, reports = classify(console(data, "warn"), 0, timed_out=False)
    assert status is Status.OOPS
    assert reports[0].kind == "warning"
    assert reason.startswith("WARNING: CPU: ")
    assert "lkdtm" in reports[0].excerpt


def test_bug_is_an_oops(data: Path):
    status, reason, reports = classify(console(data, "oops"), 0, timed_out=False)
    assert status is Status.OOPS
    kinds = [r.kind for r in reports]
    assert "bug" in kinds or "oops" in kinds
    assert not any(r.is_panic for r in reports)


def test_hang_is_a_timeout_whatever_the_console_says(data: Path):
    text = console(data, "hang")
    assert "Linux version" in text
    assert classify(text, None, timed_out=True)[0] is Status.TIMEOUT


def test_boot_stuck_before_the_first_test_is_named_and_retriable(data: Path):
    # A real boot that never got past virtme-ng-init's udev settle.
    text = console(data, "stuck-at-udev")
    status, reason, reports = classify(text, None, timed_out=True, stuck_after=300)
    assert status is Status.TIMEOUT and not reports
    assert reason == ("the guest did not start the first test within 300 s (last console "
                      "line: [    6.969792] virtme-ng-init: waiting for udev to settle)")
    stuck = BootResult(status, Path("console.log"), 300.0, Accel("tcg", "test"), reason=reason)
    assert stuck.stuck_before_tests
    # Not retried: a test had started, or the kernel reported a problem.
    hang = console(data, "hang")
    assert not BootResult(Status.TIMEOUT, Path("c"), 300.0, Accel("tcg", "test"),
                          first_test_seconds=14.2).stuck_before_tests
    panic_reports = tuple(find_reports(console(data, "panic")))
    assert not BootResult(Status.TIMEOUT, Path("c"), 300.0, Accel("tcg", "test"),
                          reports=panic_reports).stuck_before_tests
    assert classify(hang, None, timed_out=True)[1] == (
        "the guest did not finish before the timeout")


def test_crash_in_the_middle_of_a_test_is_a_panic(data: Path):
    status, _, reports = classify(console(data, "crash-midway"), 255, timed_out=False)
    assert status is Status.PANIC


def test_guest_killed_after_a_crash_is_the_crash_not_a_timeout(data: Path):
    # Series v1 on tmpfs: a WARNING, slab corruption, then an Oops, and the
    # guest printed nothing more until it was killed.
    text = console(data, "oops-then-hang")
    status, reason, reports = classify(text, None, timed_out=True, silent_after_crash=120)
    assert status is Status.OOPS
    assert reason == ("WARNING: CPU: 1 PID: 548 at ../../linux/lib/iov_iter.c:344 "
                      "page_copy_sane+0x53/0x59 (then the guest hung: no console output "
                      "for 120 s)")
    assert "oops" in [r.kind for r in reports]
    # Without a report the same silence is a plain timeout.
    assert classify(console(data, "hang"), None, timed_out=True,
                    silent_after_crash=120)[0] is Status.TIMEOUT


def test_no_kernel_output_is_infrastructure():
    text = "qemu-system-x86_64: -m 3G: cannot set up guest memory 'pc.ram'\n"
    status, reason, _ = classify(text, 1, timed_out=False)
    assert status is Status.INFRA
    assert "cannot set up guest memory" in reason


def test_printk_prefixes_are_stripped():
    assert strip_prefix("[   12.345678] BUG: unable to handle") == "BUG: unable to handle"
    assert strip_prefix("[   12.345678][  T123] WARNING: CPU: 0") == "WARNING: CPU: 0"


def test_vng_command_uses_tcg_and_shares_directories(tmp_path: Path):
    request = BootRequest(tmp_path / "bzImage", "true", rwdirs=(tmp_path,),
                          qemu_opts=("-icount", "shift=0,sleep=off"))
    cmd = vng_command(request, Accel("tcg", "test"))
    assert "--disable-kvm" in cmd
    assert f"--rwdir={tmp_path}" in cmd
    assert "--qemu-opts=-icount shift=0,sleep=off" in cmd
    assert cmd[-2:] == ["--exec", "true"]
    assert "--disable-kvm" not in vng_command(request, Accel("kvm", "test"))


def test_missing_qemu_is_a_clear_error(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(WorkbenchError, match="qemu-system-x86_64 not found"):
        Accelerator(tmp_path / "accel.json").choose(tmp_path / "bzImage")


def test_shared_directories_are_9p_whatever_virtiofsd_the_host_has(tmp_path: Path):
    """virtme-ng 1.42 shares over virtio-fs when a virtiofsd works; the
    kernels have no virtio-fs, and the "9p" filesystem means 9p."""
    cmd = vng_command(BootRequest(tmp_path / "bzImage", "true", rwdirs=(tmp_path,)),
                      Accel("tcg", "test"))
    assert "--force-9p" in cmd
