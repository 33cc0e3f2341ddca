"""End to end: really set up the default kernel source, apply the series, build
base and patched kernels, boot them under TCG and check what the reports say.

The main job runs once per session, in a work directory of the tests' own
(work/e2e/, or $WB_E2E_WORKDIR), so a developer's tree, builds and runs in
work/ are never switched or mixed with the tests'; ccache, shared by every
work directory, serves the compiles an earlier build already made. The
other tests boot the kernels it built.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

import e2e_wb

from workbench.guest_tests import FILESYSTEMS
from workbench.workspace import PROJECT_ROOT

pytestmark = pytest.mark.e2e

WORKDIR = Path(os.environ.get("WB_E2E_WORKDIR", PROJECT_ROOT / "work" / "e2e"))
DATA = Path(__file__).parent / "data"


def wb(*args: str, timeout: float = 3600,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``wb --workdir WORKDIR ARGS``; ``env``: variables added to the environment."""
    return e2e_wb.wb(WORKDIR, *args, timeout=timeout, env=env)


def latest_run() -> Path:
    return (WORKDIR / "runs" / "latest").resolve()


def cases(xml: JUnitXml) -> dict[str, dict[str, object]]:
    """suite name -> case name -> 'pass' or the result element's class name."""
    out = {}
    for suite in xml:
        out[suite.name] = {c.name: (type(c.result[0]).__name__ if c.result else "pass")
                           for c in suite}
    return out


@pytest.fixture(scope="session")
def main_job() -> Path:
    proc = wb("all")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return latest_run()


def test_main_job_reports(main_job: Path):
    record = json.loads((main_job / "run.json").read_text())
    assert record["complete"] is True and record["status"] == "PASS"
    # Debian's linux-source-6.12 as installed (6.12.118-1~deb12u1 -> 6.12.118).
    package = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "linux-source-6.12"],
                             capture_output=True, text=True, check=True).stdout
    assert record["stages"]["tree"]["version"] == package.split("-")[0]
    assert record["stages"]["apply"]["patches"], "the series was applied"
    # Chosen by the tree's kernel: the 6.12 backport.
    assert record["stages"]["apply"]["series"] == str(PROJECT_ROOT / "patches/stable-6.12")
    for phase in ("build base", "build patched", "test base", "test patched"):
        assert phase in record["timings"]
    summary = (main_job / "summary.md").read_text()
    assert "| base | PASS |" in summary and "| patched | PASS |" in summary
    # The accelerator the probe chose for this host boot, with its reason,
    # everywhere a reader looks.
    probed = json.loads((WORKDIR / "accel.json").read_text())
    assert record["accel"] == {"name": probed["name"], "reason": probed["reason"]}
    assert f"accelerator {probed['name'].upper()} ({probed['reason']})" in summary
    assert record["tools"]["virtme_ng"] == "1.42" and record["tools"]["qemu"][0].isdigit()
    xml = JUnitXml.fromfile(str(main_job / "tests-patched" / "junit.xml"))
    props = {p.name: p.value for p in next(iter(xml)).properties()}
    assert props["accel"] == probed["name"] and props["accel_reason"] == probed["reason"]
    assert props["virtme_ng"] == "1.42"
    # On a host whose KVM lets QEMU start, the probe booted a kernel to decide.
    if Path("/dev/kvm").exists() and probed["name"] == "tcg":
        assert "QEMU fails with it" in probed["reason"] or "printed nothing" in probed["reason"]


@pytest.mark.parametrize("variant", ["base", "patched"])
def test_smoke_suites_in_junit(main_job: Path, variant: str):
    xml = JUnitXml.fromfile(str(main_job / f"tests-{variant}" / "junit.xml"))
    found = cases(xml)
    for fs in FILESYSTEMS:
        assert found[f"splice_smoke.{fs}"] == {
            "splice_file.to_pipe_then_read": "pass",
            "splice_file.to_pipe_then_file": "pass",
            "splice_file.unaligned_range": "pass",
        }, fs
    # The tree's own splice selftests ran and were reported.
    assert "selftests.splice.default_file_splice_read.sh" in found
    assert "selftests.splice.short_splice_read.sh" in found
    assert xml.failures == 0 and xml.errors == 0


def test_stable_selftest_passes_on_patched_and_skips_on_base(main_job: Path):
    patched = cases(JUnitXml.fromfile(str(main_job / "tests-patched" / "junit.xml")))
    for fs in FILESYSTEMS:
        suite = patched[f"selftests.splice.stable_splice.{fs}"]
        assert set(suite.values()) <= {"pass", "Skipped"}, (fs, suite)
        assert suite["stable.tcp.overwrite_after_send"] == "pass", fs
        assert suite["stable.unix.overwrite_after_send"] == "pass", fs
        # Only the skips the selftest documents: overwrite_after_send is a
        # socket-consumer case, umounted makes a scratch file system of the
        # test directory's type (ext4, XFS, btrfs only), and 9p refuses
        # shared writable mmap.
        skipped = {name for name, outcome in suite.items() if outcome == "Skipped"}
        expected = {f"stable.{c}.overwrite_after_send"
                    for c in ("read", "vmsplice", "file", "devnull")}
        if fs not in ("ext4", "xfs", "btrfs"):
            expected |= {name for name in suite if name.endswith(".umounted")}
        if fs == "9p":
            expected |= {name for name in suite
                         if ".mmap_" in name or ".pinned_write_" in name}
        assert skipped == expected, (fs, skipped ^ expected)
    # The same test program, built from the patched tree, runs on the base
    # kernel too, where the flag is unknown: every case skips.
    base_xml = JUnitXml.fromfile(str(main_job / "tests-base" / "junit.xml"))
    base = cases(base_xml)
    for fs in FILESYSTEMS:
        suite = base[f"selftests.splice.stable_splice.{fs}"]
        assert suite and set(suite.values()) == {"Skipped"}, (fs, suite)
    reasons = {c.result[0].message for s in base_xml
               if s.name.startswith("selftests.splice.stable_splice") for c in s}
    assert any("SPLICE_F_STABLE not supported" in r for r in reasons), reasons


def test_failing_program_statuses(tmp_path: Path, main_job: Path):
    program = tmp_path / "failing_test"
    subprocess.run(["gcc", "-O2", f"-I{WORKDIR / 'linux/tools/testing/selftests'}", "-o",
                    str(program), str(DATA / "failing_test.c")], check=True)
    proc = wb("test", "--variant", "base", "--program", str(program), "--fs", "tmpfs",
              "--fs", "ext4")
    assert proc.returncode == 1, "a failing test fails the run"
    run = latest_run()
    xml = JUnitXml.fromfile(str(run / "tests-base" / "junit.xml"))
    for fs in ("tmpfs", "ext4"):
        assert cases(xml)[f"failing_test.{fs}"] == {
            "global.splice_passes": "pass",
            "global.splice_fails_on_purpose": "Failure",
            "global.skips_on_purpose": "Skipped",
            "expected.known_bug.fails_as_expected": "pass",
        }
    suite = next(s for s in xml if s.name == "failing_test.tmpfs")
    failing = next(c for c in suite if c.name == "global.splice_fails_on_purpose")
    assert "Expected 8192 (8192) == splice_file_of(4096)" in failing.system_out
    assert "console while the program ran" in failing.system_out
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "FAIL" and record["complete"] is True
    results = json.loads((run / "tests-base" / "results.json").read_text())
    assert results["counts"]["FAIL"] == 2 and results["counts"]["XFAIL"] == 2


def test_panic_is_classified(main_job: Path):
    proc = wb("run", "--variant", "base", "--timeout", "120", "--exec",
              "echo c > /proc/sysrq-trigger")
    assert proc.returncode == 4, proc.stdout
    record = json.loads((latest_run() / "run.json").read_text())
    assert record["status"] == "PANIC"
    assert "sysrq triggered crash" in record["stages"]["run base"]["reason"]


def test_warning_is_classified_as_oops(main_job: Path):
    proc = wb("run", "--variant", "base", "--timeout", "120", "--exec",
              "mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug; "
              "echo WARNING > /sys/kernel/debug/provoke-crash/DIRECT")
    assert proc.returncode == 3, proc.stdout
    record = json.loads((latest_run() / "run.json").read_text())
    assert record["status"] == "OOPS"
    assert any("WARNING:" in r for r in record["stages"]["run base"]["reports"])


# QEMU processes booting this work directory's kernels (their command line
# names the image), not other guests on the machine.
_OUR_QEMU = f"qemu-system.*{WORKDIR}/build/"


def _qemu_pids() -> set[str]:
    out = subprocess.run(["pgrep", "-f", _OUR_QEMU], capture_output=True, text=True).stdout
    return set(out.split())


def test_hang_times_out_and_leaves_no_qemu_behind(main_job: Path):
    before = _qemu_pids()
    proc = wb("run", "--variant", "base", "--timeout", "30", "--exec", "sleep 600")
    assert proc.returncode == 5, proc.stdout
    assert _qemu_pids() <= before
    record = json.loads((latest_run() / "run.json").read_text())
    assert record["status"] == "TIMEOUT"
    assert record["stages"]["run base"]["exit_code"] is None, "a hung command has no status"
    console = (latest_run() / "console-base.log").read_text()
    assert "Linux version" in console, "the console up to the hang is kept"


def test_boot_that_never_reaches_a_test_is_retried_once(main_job: Path):
    # rootdelay= stops the kernel before it mounts its root, so neither boot
    # reaches the guest's init, let alone the first test, however fast the
    # host: a stall at boot, independent of timing.
    before = _qemu_pids()
    proc = wb("test", "--variant", "base", "--suite", "smoke", "--timeout", "120",
              "--append", "rootdelay=600", env={"WB_START_TIMEOUT": "10"})
    assert proc.returncode == 5, proc.stdout[-3000:]
    assert "booting again" in proc.stderr + proc.stdout
    assert _qemu_pids() <= before
    out = latest_run() / "tests-base"
    result = json.loads((out / "results.json").read_text())
    assert result["boot_attempts"] == 2 and result["status"] == "TIMEOUT"
    assert result["boot_reason"].startswith("the guest did not start the first test within 10 s")
    stuck = (out / "console-stuck.log").read_text()
    assert "Waiting 600 sec before mounting root device" in stuck
    assert (out / "console.log").exists()


def _start_wb(*args: str, ignore_sigint: bool = False) -> tuple[subprocess.Popen, set[Path]]:
    """Start wb in the background; also returns the run directories before it.
    ``ignore_sigint``: start it the way a shell starts a background job (`cmd &`
    in a script), with SIGINT ignored."""
    earlier = set((WORKDIR / "runs").iterdir())
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "--workdir", str(WORKDIR),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=preexec)
    return proc, earlier


def _wait_for_console(earlier: set[Path], text: str, timeout: float = 120) -> Path:
    """Wait until a run directory newer than ``earlier`` has ``text`` in its
    console; returns that run directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in set((WORKDIR / "runs").iterdir()) - earlier:
            log = run / "console-base.log"
            if log.exists() and text in log.read_text(errors="replace"):
                return run
        time.sleep(1)
    raise AssertionError(f"{text!r} never appeared in the console")


# The guest computes the marker, so the command line echoed at the top of the
# console log does not contain it.
_GUEST_STARTED = ("echo guest-$((40 + 2))-started; sleep 600", "guest-42-started")


def test_killed_qemu_marks_the_run_incomplete(main_job: Path):
    proc, earlier = _start_wb("run", "--variant", "base", "--timeout", "300", "--exec",
                              _GUEST_STARTED[0])
    run = _wait_for_console(earlier, _GUEST_STARTED[1])
    ours = _qemu_pids()
    subprocess.run(["pkill", "-KILL", "-f", _OUR_QEMU], check=False)
    assert proc.wait(timeout=60) == 6, proc.stdout.read()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "INFRA" and record["complete"] is False
    assert ours, "a QEMU was running before the kill"


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["foreground", "background-job"])
def test_ctrl_c_keeps_finished_stages_and_leaves_no_qemu(main_job: Path, ignore_sigint: bool):
    before = _qemu_pids()
    proc, earlier = _start_wb("run", "--variant", "base", "--timeout", "300", "--exec",
                              _GUEST_STARTED[0], ignore_sigint=ignore_sigint)
    run = _wait_for_console(earlier, _GUEST_STARTED[1])
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert _qemu_pids() <= before
    record = json.loads((run / "run.json").read_text())
    assert record["complete"] is False and record["incomplete_reason"] == "interrupted"
    assert _GUEST_STARTED[1] in (run / "console-base.log").read_text()


def test_fragment_option_dropped_by_olddefconfig_is_listed(tmp_path: Path, main_job: Path):
    """Real merge_config.sh + olddefconfig on the real tree, in a scratch build dir."""
    from workbench.errors import WorkbenchError
    from workbench.kconfig import make_config
    fragment = tmp_path / "lkdtm-alone.config"
    # LKDTM needs RUNTIME_TESTING_MENU and DEBUG_FS, which this fragment omits.
    fragment.write_text("CONFIG_LKDTM=y\n")
    with pytest.raises(WorkbenchError) as err:
        make_config(WORKDIR / "linux", tmp_path / "build", ("virtme", str(fragment)))
    assert "CONFIG_LKDTM: asked y, got n" in str(err.value)


def test_build_error_is_reported_with_the_compiler_error(tmp_path: Path, main_job: Path):
    # The broken patch goes on top of the real series, so that only
    # fs/splice.c recompiles (the series' headers stay as the main job built
    # them).
    broken = tmp_path / "patches"
    broken.mkdir()
    tree = WORKDIR / "linux"
    subprocess.run(["git", "-C", str(tree), "checkout", "-q", "--detach", "wb/patched"],
                   check=True)
    splice_c = tree / "fs" / "splice.c"
    original = splice_c.read_text()
    splice_c.write_text(original.replace("#include <linux/bvec.h>",
                                         "#include <linux/bvec.h>\nint wb_broken = ;", 1))
    diff = subprocess.run(["git", "-C", str(tree), "diff"], capture_output=True, text=True,
                          check=True).stdout
    splice_c.write_text(original)
    real = json.loads((main_job / "run.json").read_text())["stages"]["apply"]
    for name in real["patches"]:
        shutil.copy(Path(real["series"]) / name, broken / name)
    (broken / "9999-break.patch").write_text(
        "From: Dev <dev@example.org>\nSubject: [PATCH] splice: break the build\n\n---\n" + diff)
    (broken / "series").write_text("".join(f"{name}\n" for name in real["patches"])
                                   + "9999-break.patch\n")
    try:
        assert wb("apply", "--patches", str(broken)).returncode == 0
        proc = wb("build", "--variant", "patched")
        assert proc.returncode == 9, proc.stdout
        assert "fs/splice.c" in proc.stdout and "error: expected expression" in proc.stdout
        record = json.loads((latest_run() / "run.json").read_text())
        assert record["status"] == "BUILD_FAILURE" and record["complete"] is True
        assert any("fs/splice.c" in e for e in record["stages"]["build patched"]["errors"])
        compiled = [line.split()[-1] for line in
                    (latest_run() / "build-patched.log").read_text().splitlines()
                    if line.startswith("  CC ")]
        assert compiled == ["fs/splice.o"], compiled[:10]
    finally:
        assert wb("apply").returncode == 0
    # The failed build recompiled files from the broken tree; the next build
    # must not trust the objects of the last good one.
    assert wb("build", "--variant", "patched").returncode == 0


def test_running_again_does_no_needless_work(main_job: Path):
    assert "already set up" in wb("tree").stderr
    assert "already applied" in wb("apply").stderr
    assert "unchanged inputs" in wb("config", "--variant", "base").stderr
    # Switching the tree to the patched head and back must not cost a rebuild.
    subprocess.run(["git", "-C", str(WORKDIR / "linux"), "checkout", "-q", "--detach",
                    "wb/patched"], check=True)
    assert wb("build", "--variant", "base").returncode == 0
    log = (latest_run() / "build-base.log").read_text()
    compiled = [line for line in log.splitlines() if line.startswith(("  CC ", "  LD "))]
    assert compiled == [], compiled[:10]


# -- the integrity suite ------------------------------------------------------

ZERO_COPY_FS = ("ext4", "xfs", "btrfs")


def _matrix(run: Path, label: str) -> dict[str, dict]:
    record = json.loads((run / f"tests-{label}" / "integrity.json").read_text())
    assert record["failed"] == [], record["failed"]
    return {cell["name"]: cell for cell in record["cells"]}


def test_integrity_reproduces_on_base_and_stable_holds_on_patched(main_job: Path):
    base, patched = _matrix(main_job, "base"), _matrix(main_job, "patched")
    assert len(base) == len(patched) == len(FILESYSTEMS) * 240
    for fs in ("tmpfs", *ZERO_COPY_FS):
        for consumer in ("read", "file", "tcp", "unix"):
            for mutation in ("write", "pwrite_partial", "truncate", "mmap_after"):
                for timing in ("before_confirm", "during"):
                    plain = f"{fs}.plain.{consumer}.{mutation}.{timing}"
                    stable = f"{fs}.stable.{consumer}.{mutation}.{timing}"
                    # The original report, on both kernels.
                    for kernel in (base, patched):
                        assert set(kernel[plain]["observed"]) <= {"NEW", "TORN"}, plain
                    assert base[stable]["result"] == "SKIP", stable
                    expect = {"ESTALE": 1} if fs in ZERO_COPY_FS else {"OLD": 1}
                    assert patched[stable]["observed"] == expect, stable
    # Under TCG the stress writer stores byte by byte, so readers catch some
    # words half written; the stress cases must count those as torn, not
    # decode them as some other generation (and fail on an "older" one).
    if json.loads((main_job / "tests-patched" / "results.json").read_text())["accel"] == "tcg":
        torn = sum(int(n) for label in ("base", "patched")
                   for n in re.findall(r"(\d+) caught mid-copy",
                                       (main_job / f"tests-{label}" / "results.ktap").read_text()))
        assert torn > 0
    record = json.loads((main_job / "run.json").read_text())
    assert record["stages"]["build tests"]["seed"] is not None
    assert "## Splice integrity matrix" in (main_job / "summary.md").read_text()


def test_kernel_report_fails_the_case_during_which_it_appeared(main_job: Path):
    proc = wb("test", "--variant", "base", "--program", str(DATA / "warn_in_case.sh"),
              "--fs", "tmpfs", "--timeout", "300")
    assert proc.returncode == 3, proc.stdout
    xml = JUnitXml.fromfile(str(latest_run() / "tests-base" / "junit.xml"))
    assert cases(xml)["warn_in_case.tmpfs"] == {"first": "pass", "second": "Error",
                                                "third": "pass"}
    # The error's body is the report, its trace naming functions (KALLSYMS).
    second = next(c for s in xml for c in s if c.name == "second")
    trace = second.result[0].text
    assert "RIP: 0010:lkdtm_WARNING" in trace and "Call Trace:" in trace


def test_integrity_runs_on_the_host_kernel(tmp_path: Path, main_job: Path):
    """No root, no images: the plain cases on tmpfs reproduce on any Linux."""
    subprocess.run(["make", "-C", str(PROJECT_ROOT / "kernel_tests"),
                    f"KDIR={WORKDIR / 'linux'}", f"OUTPUT={tmp_path}"],
                   check=True, capture_output=True)
    shm = Path("/dev/shm")
    proc = subprocess.run([str(tmp_path / "splice_integrity"), "--dir", str(shm),
                           "--filter", "plain", "--seed", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "seed 5" in proc.stdout
    assert "ok 1 tmpfs.plain.read.write.before_confirm #  observed NEW" in proc.stdout


# -- the debug kernel: a cold build of its own (make test-kasan) ------------

@pytest.mark.extra("kasan")
def test_debug_kernel_runs_integrity_without_kernel_reports(main_job: Path):
    assert wb("config", "--debug", "--variant", "patched").returncode == 0
    config = (WORKDIR / "build" / "patched-debug" / ".config").read_text()
    for option in ("CONFIG_KASAN=y", "CONFIG_PROVE_LOCKING=y", "CONFIG_DEBUG_VM=y"):
        assert option in config
    assert wb("build", "--debug", "--variant", "patched").returncode == 0
    # 9p is left out: its cases take a third of the boot under KASAN, and the
    # copy path they reach is the one tmpfs already runs.
    proc = wb("test", "--debug", "--variant", "patched", "--suite", "integrity",
              *(arg for fs in FILESYSTEMS if fs != "9p" for arg in ("--fs", fs)),
              "--timeout", "2400")
    assert proc.returncode == 0, proc.stdout[-3000:]
    run = latest_run()
    console = (run / "tests-patched-debug" / "console.log").read_text(errors="replace")
    assert "KernelAddressSanitizer initialized" in console
    assert "splice_integrity: begin case ext4.stable.tcp.write.before_confirm" in console
    results = json.loads((run / "tests-patched-debug" / "results.json").read_text())
    assert results["boot_status"] == "PASS" and results["counts"]["FAIL"] == 0


def test_quick_bench_on_both_kernels_produces_every_artefact(main_job: Path):
    proc = wb("bench", "--quick", "--reps", "2", timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    run = latest_run()
    bench_dir = run / "bench"
    record = json.loads((bench_dir / "bench.json").read_text())
    assert record["mode"] == "icount"
    kernels = {(s["round"], s["kernel"]) for s in record["samples"]}
    assert kernels == {(1, "base"), (1, "patched"), (2, "base"), (2, "patched")}
    methods = {s["method"] for s in record["samples"] if s["kernel"] == "patched"}
    assert methods == {"pread_write", "sendfile", "splice", "stable", "stable_copy", "memcpy"}
    # The base kernel has no SPLICE_F_STABLE: those methods skip there.
    assert not {"stable", "stable_copy"} & {s["method"] for s in record["samples"]
                                            if s["kernel"] == "base"}
    table = (bench_dir / "bench.md").read_text()
    assert "Clock: **icount**" in table and "plain splice, patched/base" in table
    for png in ("throughput-ext4.png", "throughput-tmpfs.png", "ratios.png"):
        assert (bench_dir / png).stat().st_size > 10_000
    stage = json.loads((run / "run.json").read_text())["stages"]["bench"]
    assert stage["mode"] == "icount" and stage["status"] == "PASS"


def make_series(tmp_path: Path, edits: list[tuple[str, str, str]]) -> Path:
    """A patch series on the base made by real commits: (subject, old, new)
    replacements in fs/splice.c, one commit each."""
    tree = WORKDIR / "linux"
    scratch = tmp_path / "linux"
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "-C", str(tree), "worktree", "add", "-q", "--detach", str(scratch),
                    "wb/base"], check=True)
    try:
        for subject, old, new in edits:
            source = scratch / "fs/splice.c"
            text = source.read_text()
            assert old in text
            source.write_text(text.replace(old, new, 1))
            subprocess.run([*git, "-C", str(scratch), "commit", "-q", "-a", "-s", "-m",
                            f"{subject}\n\nA commit of the wb series end-to-end test."],
                           check=True)
        out = tmp_path / "patches"
        subprocess.run(["git", "-C", str(scratch), "format-patch", "-q", "-o", str(out),
                        "wb/base..HEAD"], check=True)
    finally:
        subprocess.run(["git", "-C", str(tree), "worktree", "remove", "--force", str(scratch)],
                       check=True)
    (out / "series").write_text("".join(f"{p.name}\n" for p in sorted(out.glob("*.patch"))))
    return out


def test_series_names_the_first_commit_with_a_new_warning(tmp_path: Path, main_job: Path):
    patches = make_series(tmp_path, [
        ("splice: say why the pipe is locked", "static ssize_t do_splice_read(",
         "/* The caller holds the pipe lock. */\nstatic ssize_t do_splice_read("),
        ("splice: leave an unused variable behind", "\tunsigned int p_space;\n",
         "\tunsigned int p_space;\n\tint wb_unused;\n"),
    ])
    try:
        proc = wb("series", "--patches", str(patches), "--fs", "tmpfs", "--filter",
                  "plain.read.write.after", "--seed", "1")
        run = latest_run()
    finally:
        # wb/patched is that series now: back to the real one, which the
        # main job tested and the evidence cites.
        assert wb("apply").returncode == 0
    assert proc.returncode == 1, proc.stdout[-3000:]
    table = (run / "series.md").read_text()
    assert "| 1 | " in table and "| 2 | " in table
    assert ("First failing commit: 2 " in table
            and "splice: leave an unused variable behind: new compiler warning: "
                "fs/splice.c: unused variable ‘wb_unused’" in table), table
    stages = json.loads((run / "run.json").read_text())["stages"]
    assert stages["series 1"]["status"] == "PASS" and stages["series 1"]["tests"] == "PASS"
    assert stages["series 2"]["checkpatch"]["errors"] == 0
    assert (run / "series" / "0002.checkpatch").read_text().count("total: 0 errors") == 1


# Whoever runs wb signs the submission: here a fixed identity, whatever the host's.
SUBMITTER = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "user.name",
             "GIT_CONFIG_VALUE_0": "Ada Submitter", "GIT_CONFIG_KEY_1": "user.email",
             "GIT_CONFIG_VALUE_1": "ada@example.com"}


def test_evidence_for_the_tested_series(tmp_path: Path, main_job: Path):
    # make test runs `wb series` on a made-up series only (the real one, a
    # build and a boot per commit, is a run of its own): without --force the
    # evidence is refused for that alone.
    out = tmp_path / "evidence"
    refused = wb("evidence", "-v", "1", "--out", str(out), env=SUBMITTER)
    assert refused.returncode == 2, refused.stderr[-3000:]
    problems = [line for line in refused.stderr.splitlines() if line.startswith("  - ")]
    assert problems and all("`wb series` run" in line for line in problems), problems
    proc = wb("evidence", "-v", "1", "--out", str(out), "--force", env=SUBMITTER)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    v1 = out / "v1"
    messages = sorted((v1 / "messages").glob("*.eml"))
    series = [l for l in (PROJECT_ROOT / "patches/stable-6.12/series").read_text().splitlines()
              if l.strip() and not l.startswith("#")]
    assert len(messages) == len(series) + 1
    cover = messages[0].read_text()
    width = len(str(len(series)))
    assert f"[PATCH {0:0{width}}/{len(series)}]" in cover and "SPLICE_F_STABLE" in cover
    for part in ("  ext4: ", "  clock: icount", "base-commit: "):
        assert part in cover, part
    assert "|---|" not in cover and "**" not in cover
    # The environment section: each cited run's accelerator and tool versions,
    # as that run recorded them.
    recorded = json.loads((main_job / "run.json").read_text())
    assert (f"wb all: accelerator {recorded['accel']['name'].upper()} "
            f"({recorded['accel']['reason']}); QEMU {recorded['tools']['qemu']}, "
            f"virtme-ng {recorded['tools']['virtme_ng']}") in " ".join(cover.split())
    assert "${" not in cover
    # Every claim's tests passed on the real kernel: nothing but the series
    # run is missing.
    record = json.loads((v1 / "evidence.json").read_text())
    assert record["claims"] and record["b4_check_clean"]
    assert record["missing"] and all("`wb series` run" in m for m in record["missing"])
    # Signed by the submitter, sent to whom the tree's get_maintainer.pl
    # names (b4 prep --auto-to-cc), the exact messages of b4 send.
    for message in messages:
        text = message.read_text()
        assert "From: Ada Submitter <ada@example.com>" in text
        assert "dev@example.org" not in text, message.name
        headers = text.partition("\n\n")[0].replace("\n ", " ")
        assert "linux-fsdevel@vger.kernel.org" in headers.split("To: ", 1)[1]
        for cc in ("viro@zeniv.linux.org.uk", "linux-xfs@vger.kernel.org",
                   "linux-api@vger.kernel.org", "netdev@vger.kernel.org"):
            assert cc in headers, (message.name, cc)
    assert "Signed-off-by: Ada Submitter <ada@example.com>" in messages[1].read_text()
    check = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=v1,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    # Never overwritten; the next revision compares with this one.
    assert wb("evidence", "-v", "1", "--out", str(out), "--force",
              env=SUBMITTER).returncode == 2
    assert wb("evidence", "-v", "2", "--out", str(out), "--force",
              env=SUBMITTER).returncode == 0
    letter_v2 = (out / "v2" / "cover-letter.txt").read_text()
    assert "Changes in results since v1:" in letter_v2
    # The same series again: the range-diff to v1 pairs every patch as equal.
    assert len(re.findall(r"(?m)^ +\d+ = +\d+ ", letter_v2)) == len(series)
    assert [line for line in letter_v2.splitlines()
            if len(line) > 75 and not line.startswith("Link: ")] == []
