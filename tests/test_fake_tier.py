"""The middle tier: the real `wb` command line, end to end, in seconds.

Every test runs `python -m workbench` as a subprocess against a fake kernel
tree (tests/fakes/fakelinux.py: a small git repo whose make really configures
and compiles its two C files) and a fake vng (tests/fakes/vng: it replays the
consoles and KTAP captured from real boots in tests/data/golden/), so exit
statuses, retries, timeouts, Ctrl-C, run.json and summary.md are checked
without building or booting a kernel. QEMU is the replay of a captured host
(only `--version` is asked: WB_ACCEL=tcg skips the KVM probe).
"""

import hashlib
import importlib.metadata
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from junitparser import JUnitXml

from fakes import fakelinux
from fakes.fakelinux import (ADD_FLAG, BREAKS_BUILD, DROPS_OPTION, STALE, USE_FLAG, Patch,
                             git, series)
from fakes.wb import DATA, GOLDEN, QEMU_HOST, Boot, Result, Workbench, sha256

# Programs whose guest runs were captured (the plan's names are then the
# KTAP's), for `wb test --program`.
NO_PLAN = DATA / "no_plan.sh"
WARN_IN_CASE = DATA / "warn_in_case.sh"
CRASH_MIDWAY = DATA / "crash_midway.sh"
DEFAULT_FRAGMENTS = ["virtme", "filesystems", "net", "crashtest"]


# -- fixtures -------------------------------------------------------------------

@pytest.fixture
def good_series(fake_tree: Path) -> Path:
    return series(fake_tree, ADD_FLAG, USE_FLAG)


@pytest.fixture
def tree_only(workbench: Workbench, fake_tree: Path) -> Workbench:
    """A work directory after `wb tree --tree` of the fake tree, nothing else."""
    result = workbench.wb("tree", "--tree", str(fake_tree))
    assert result.status == 0, result.output
    return workbench


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    """A work directory with both fake kernels built, made once for the boot
    tests (each of them a run directory of its own), with the stage commands
    one by one: tree, apply, config, build."""
    root = tmp_path_factory.mktemp("built")
    tree = fakelinux.create(root / "src" / "linux")
    patches = series(tree, ADD_FLAG, USE_FLAG)
    workbench = Workbench(root)
    for args in (["tree", "--tree", str(tree)], ["apply", "--patches", str(patches)],
                 ["config"], ["build"]):
        result = workbench.wb(*args)
        assert result.status == 0, f"wb {' '.join(args)}: {result.output}"
        assert result.record["complete"] is True and result.record["status"] == "PASS"
    yield workbench
    workbench.kill_leftover_guests()


def stand_in(tmp_path: Path, name: str) -> Path:
    """A test program the replayed guest 'runs' (its captured run is the KTAP):
    tests/data/failing_test.c needs a kernel tree's kselftest headers to build."""
    program = tmp_path / name
    program.write_text("#!/bin/sh\n# stand-in: the fake vng replays this program's run\n")
    program.chmod(0o755)
    return program


# -- wb all on the fake tree ----------------------------------------------------

def test_all_records_every_stage_of_both_kernels(workbench: Workbench, fake_tree: Path,
                                                 good_series: Path) -> None:
    base_commit = git(fake_tree, "rev-parse", "HEAD")
    result = workbench.wb("all", "--tree", str(fake_tree), "--patches", str(good_series),
                      "--program", str(NO_PLAN), "--fs", "tmpfs",
                      boots=[Boot("clean-run", ktap=True),
                             Boot("clean-run", ktap=True, speed=20)])
    assert result.status == 0, result.output
    run, record = result.run, result.record
    assert (workbench.workdir / "runs/latest").resolve() == run
    assert record["command"] == "all" and record["complete"] is True
    assert record["status"] == "PASS"
    assert list(record["stages"]) == ["tree", "apply", "config base", "build base",
                                      "config patched", "build patched", "build tests",
                                      "test base", "test patched"]
    stages = record["stages"]
    assert all(s["status"] == "PASS" for s in stages.values()), stages

    # The fake tree's checkout, not Debian's 6.12.
    assert stages["tree"]["version"] == fakelinux.KERNEL_VERSION
    assert stages["tree"]["origin"] == str(fake_tree)
    assert stages["tree"]["base_commit"] == base_commit
    assert stages["tree"]["path"] == str(workbench.workdir / "linux")

    apply = stages["apply"]
    assert apply["patches"] == ["0001-splice-add-SPLICE_F_STABLE.patch",
                                "0002-splice-accept-SPLICE_F_STABLE.patch"]
    assert (apply["series"], apply["kernels"]) == (str(good_series), "7.0")
    assert (f"[wb] series: {good_series} (kernel 7.0) for Linux {fakelinux.KERNEL_VERSION}\n"
            in result.stderr)
    assert len(apply["commits"]) == 2 and apply["head"] == apply["commits"][-1]
    assert git(fake_tree, "log", "--format=%s", f"{base_commit}..wb/patched").splitlines() == [
        "splice: accept SPLICE_F_STABLE", "splice: add SPLICE_F_STABLE"]

    for variant, commit in (("base", base_commit), ("patched", apply["head"])):
        build_dir = workbench.workdir / "build" / variant
        config = stages[f"config {variant}"]
        assert config["sha256"] == sha256(build_dir / ".config")
        assert config["base_target"] == "tinyconfig" and config["fragments"] == DEFAULT_FRAGMENTS
        assert "CONFIG_LKDTM=y" in (build_dir / ".config").read_text()
        build = stages[f"build {variant}"]
        assert build["commit"] == commit and build["errors"] == []
        assert "  CC      fs/splice.o" in Path(build["log"]).read_text()
        assert (build_dir / "arch/x86/boot/bzImage").read_bytes().startswith(
            f"Linux version {fakelinux.KERNEL_VERSION}".encode())

        out = run / f"tests-{variant}"
        test = stages[f"test {variant}"]
        assert test["boot"] == "PASS" and test["counts"]["PASS"] == 16
        assert Path(test["junit"]) == out / "junit.xml"
        assert Path(test["json"]) == out / "results.json"
        results = json.loads((out / "results.json").read_text())
        assert results["status"] == "PASS" and results["boot_attempts"] == 1
        assert results["counts"] == test["counts"]
        assert JUnitXml.fromfile(str(out / "junit.xml")).tests == 17
        # The KTAP the guest runner wrote to the shared directory, as written.
        assert (out / "results.ktap").read_text() == (GOLDEN / "clean-run.ktap").read_text()
        assert "reboot: Power down" in (out / "console.log").read_text()
        assert (out / "plan.tsv").read_text() == f"no_plan.tmpfs\ttmpfs\t{NO_PLAN}\n"

    assert stages["build tests"]["commit"] == apply["head"], "the tests come from the series"
    assert stages["build tests"]["programs"] == ["no_plan.tmpfs"]
    # Each variant's own kernel and test directory went to vng.
    assert len(result.vng_calls) == 2
    for call, variant in zip(result.vng_calls, ("base", "patched")):
        assert f"--run {workbench.workdir}/build/{variant}/arch/x86/boot/bzImage" in call
        assert f"--rwdir={run}/tests-{variant} " in call
        assert "--disable-kvm" in call and "--force-9p" in call

    timings = record["timings"]
    for phase in ("tree", "apply", "config base", "build base", "config patched",
                  "build patched", "test base", "test patched"):
        assert phase in timings, timings
    # The patched console was replayed at 1/20 of its real pace: its first
    # test began 7.3 s into the boot.
    assert timings["boot to first test patched"] >= 7.2 / 20
    assert timings["boot to first test patched"] <= timings["test patched"]

    assert record["accel"] == {"name": "tcg", "reason": "requested (WB_ACCEL=tcg)"}
    qemu = json.loads(QEMU_HOST.read_text())["qemu"]
    virtme_ng = importlib.metadata.version("virtme-ng")
    assert record["tools"] == {"qemu": qemu, "virtme_ng": virtme_ng}

    summary = (run / "summary.md").read_text().splitlines()
    assert f"- kernel: {fakelinux.KERNEL_VERSION}, base commit `{base_commit}`" in summary
    assert f"- patched head: `{apply['head']}`" in summary
    assert f"- series: `{good_series}` (kernel 7.0)" in summary
    assert (f"- accelerator TCG (requested (WB_ACCEL=tcg)); QEMU {qemu}, "
            f"virtme-ng {virtme_ng}") in summary
    sha = stages["config base"]["sha256"][:16]
    for variant in ("base", "patched"):
        boot = stages[f"test {variant}"]["boot_seconds"]
        assert f"| {variant} | PASS | 16 | 0 | 1 | 0 | `{sha}` | {boot:.0f} | tcg |" in summary
    assert summary[summary.index("## Failures") + 2] == "none"

    # The user's checkout is left as it was: same branch and commit, clean.
    assert git(fake_tree, "symbolic-ref", "HEAD") == "refs/heads/master"
    assert git(fake_tree, "rev-parse", "HEAD") == base_commit
    assert git(fake_tree, "status", "--porcelain") == ""


def test_summary_has_a_row_per_variant_and_names_the_failures(workbench: Workbench,
                                                              fake_tree: Path,
                                                              good_series: Path,
                                                              tmp_path: Path) -> None:
    failing = stand_in(tmp_path, "failing_test")
    result = workbench.wb("all", "--tree", str(fake_tree), "--patches", str(good_series),
                      "--program", str(failing), "--program", str(NO_PLAN), "--fs", "tmpfs",
                      boots=[Boot("clean-run", ktap=True), Boot("failing", ktap=True)])
    assert result.status == 1, result.output
    record = result.record
    assert record["status"] == "FAIL" and record["complete"] is True
    assert record["stages"]["test base"]["status"] == "PASS"
    assert record["stages"]["test patched"]["status"] == "FAIL"
    summary = (result.run / "summary.md").read_text().splitlines()
    sha = record["stages"]["config patched"]["sha256"][:16]
    boot = {v: record["stages"][f"test {v}"]["boot_seconds"] for v in ("base", "patched")}
    assert f"| base | PASS | 16 | 0 | 1 | 0 | `{sha}` | {boot['base']:.0f} | tcg |" in summary
    # failing_test: pass, fail, skip, xfail; no_plan: pass, todo, skip.
    assert (f"| patched | FAIL | 3 | 1 | 3 | 0 | `{sha}` | {boot['patched']:.0f} | tcg |"
            in summary)
    failures = summary[summary.index("## Failures") + 2:]
    assert failures[0].startswith("- patched `failing_test.tmpfs` "
                                  "global.splice_fails_on_purpose: FAIL")
    assert failures[1] == ""
    assert "wb all: FAIL" in result.stdout


def test_tree_then_all_keeps_that_checkout(workbench: Workbench, fake_tree: Path,
                                           good_series: Path) -> None:
    assert workbench.wb("tree", "--tree", str(fake_tree)).status == 0
    result = workbench.wb("all", "--patches", str(good_series), "--program", str(NO_PLAN),
                      "--fs", "tmpfs", boots=[Boot("clean-run", ktap=True)])
    assert result.status == 0, result.output
    tree = result.record["stages"]["tree"]
    assert tree["origin"] == str(fake_tree) and tree["version"] == fakelinux.KERNEL_VERSION
    assert "linux-source" not in json.dumps(result.record)
    assert f"- kernel: {fakelinux.KERNEL_VERSION}," in (result.run / "summary.md").read_text()


@pytest.mark.parametrize("again", [["--tree"], []], ids=["tree-given-again", "tree-kept"])
def test_all_again_redoes_no_finished_work(workbench: Workbench, fake_tree: Path,
                                           good_series: Path, again: list[str]) -> None:
    """The second run re-applies nothing, keeps both .configs and recompiles
    nothing, also when --tree makes the worktree afresh (new mtimes)."""
    args = ["--patches", str(good_series), "--program", str(NO_PLAN), "--fs", "tmpfs"]
    boots = [Boot("clean-run", ktap=True)]
    first = workbench.wb("all", "--tree", str(fake_tree), *args, boots=boots)
    assert first.status == 0, first.output
    builds = workbench.workdir / "build"
    kept = {p: p.stat().st_mtime_ns for v in ("base", "patched")
            for p in (builds / v / ".config", builds / v / "arch/x86/boot/bzImage")}
    tree_args = [str(fake_tree)] if again else []
    second = workbench.wb("all", *again, *tree_args, *args, boots=boots)
    assert second.status == 0, second.output
    assert "series of 2 patches already applied" in second.stderr
    assert second.stderr.count("unchanged inputs") == 2, second.stderr
    assert second.record["stages"]["apply"]["head"] == first.record["stages"]["apply"]["head"]
    for variant in ("base", "patched"):
        log = Path(second.record["stages"][f"build {variant}"]["log"]).read_text()
        steps = [line for line in log.splitlines() if line.startswith(("  CC ", "  LD "))]
        assert steps == [], f"{variant} rebuilt: {steps}"
        assert (second.record["stages"][f"config {variant}"]["sha256"]
                == first.record["stages"][f"config {variant}"]["sha256"])
    assert {p: p.stat().st_mtime_ns for p in kept} == kept


# -- stage failures: 7, 8, 9 ----------------------------------------------------

def all_ending_at(workbench: Workbench, fake_tree: Path, patches: tuple[Patch, ...], status: int,
                  name: str, stage: str) -> tuple[Result, dict]:
    """`wb all` with this series, which must end at ``stage`` with ``name``
    (exit ``status``): a complete run, every earlier stage passed, nothing
    booted, no summary. Returns the result and the failed stage's record."""
    result = workbench.wb("all", "--tree", str(fake_tree), "--patches",
                      str(series(fake_tree, *patches)), "--program", str(NO_PLAN),
                      "--fs", "tmpfs")
    assert result.status == status, result.output
    record = result.record
    assert record["status"] == name and record["complete"] is True
    stages = record["stages"]
    assert list(stages)[-1] == stage and stages[stage]["status"] == name
    assert all(s["status"] == "PASS" for n, s in stages.items() if n != stage), stages
    assert f"wb: {name}: " in result.stdout
    assert result.vng_calls == [], "nothing was booted"
    assert not (result.run / "summary.md").exists()
    return result, stages[stage]


def test_patch_that_does_not_apply_is_7(workbench: Workbench, fake_tree: Path) -> None:
    result, failed = all_ending_at(workbench, fake_tree, (ADD_FLAG, STALE), 7, "APPLY_FAILURE",
                                   "apply")
    patch = "0002-splice-return-EBADF-for-closed-descriptors.patch"
    assert failed["failed_patch"] == patch and failed["failed_at"] == ["fs/splice.c:19"]
    assert f"patch {patch} does not apply to" in result.stdout
    assert "failed at fs/splice.c:19" in result.stdout
    # Never half applied: the worktree is back at the base, clean.
    linux = workbench.workdir / "linux"
    assert git(linux, "rev-parse", "HEAD") == git(fake_tree, "rev-parse", "HEAD")
    assert git(linux, "status", "--porcelain") == ""
    assert "Applying: splice: add SPLICE_F_STABLE" in (result.run / "apply.log").read_text()


def test_option_dropped_by_a_patch_is_8(workbench: Workbench, fake_tree: Path) -> None:
    result, failed = all_ending_at(workbench, fake_tree, (ADD_FLAG, DROPS_OPTION), 8,
                                   "CONFIG_FAILURE", "config patched")
    assert "build base" in result.record["stages"], "the base was configured and built"
    assert "CONFIG_XFS_FS: asked y, got n" in failed["error"]
    assert "CONFIG_XFS_FS: asked y, got n" in result.stdout
    config = (workbench.workdir / "build/patched/.config").read_text()
    assert "# CONFIG_XFS_FS is not set" in config and "CONFIG_EXT4_FS=y" in config


def test_compile_error_is_9(workbench: Workbench, fake_tree: Path) -> None:
    result, failed = all_ending_at(workbench, fake_tree, (ADD_FLAG, BREAKS_BUILD), 9,
                                   "BUILD_FAILURE", "build patched")
    error = failed["errors"][0]
    assert "fs/splice.c:13:17: error: expected expression before" in error, failed
    assert error in result.stdout, "the compiler's first error is shown"
    assert Path(failed["log"]).read_text().count("  CC      fs/splice.o") == 1
    assert not (workbench.workdir / "build/patched/arch/x86/boot/bzImage").exists()


def test_config_names_the_option_olddefconfig_dropped(tree_only: Workbench, tmp_path: Path) -> None:
    """The e2e test's case on the fake Kconfig: LKDTM without what it depends on."""
    fragment = tmp_path / "lkdtm-alone.config"
    fragment.write_text("CONFIG_LKDTM=y\n")
    result = tree_only.wb("config", "--variant", "base", "--fragment", "virtme",
                          "--fragment", str(fragment))
    assert result.status == 8, result.output
    assert "1 option(s) from the fragments did not survive olddefconfig" in result.stdout
    assert "CONFIG_LKDTM: asked y, got n" in result.stdout
    assert "wb: hint: their dependencies are not met" in result.stdout
    assert result.record["status"] == "CONFIG_FAILURE"
    assert result.record["stages"]["config base"]["status"] == "CONFIG_FAILURE"


def test_option_this_kernel_does_not_have_is_named_not_fatal(tree_only: Workbench,
                                                            tmp_path: Path) -> None:
    """The fragments serve 6.12 and 7.3: an option one of them renamed (7.x
    merged PROC_SYSCTL into SYSCTL) is named, while a dropped one stays fatal."""
    fragment = tmp_path / "renamed.config"
    fragment.write_text("CONFIG_WB_RENAMED_IN_7=y\n")
    result = tree_only.wb("config", "--variant", "base", "--fragment", "virtme",
                          "--fragment", str(fragment))
    assert result.status == 0, result.output
    assert ("1 option(s) from the fragments are not in this kernel's Kconfig, ignored: "
            "CONFIG_WB_RENAMED_IN_7") in result.output
    fragment.write_text("CONFIG_WB_RENAMED_IN_7=y\nCONFIG_LKDTM=y\n")
    result = tree_only.wb("config", "--variant", "base", "--fragment", "virtme",
                          "--fragment", str(fragment))
    assert result.status == 8, result.output
    assert "1 option(s) from the fragments did not survive olddefconfig" in result.stdout
    assert "CONFIG_LKDTM: asked y, got n" in result.stdout


def test_debug_config_is_its_own_build_directory(tree_only: Workbench) -> None:
    result = tree_only.wb("config", "--debug", "--variant", "base")
    assert result.status == 0, result.output
    stage = result.record["stages"]["config base-debug"]
    assert stage["fragments"] == [*DEFAULT_FRAGMENTS, "debug"]
    config = (tree_only.workdir / "build/base-debug/.config").read_text()
    assert stage["sha256"] == hashlib.sha256(config.encode()).hexdigest()
    # debug.config turns off what tinyconfig turned on (KASAN cannot work with it).
    assert "# CONFIG_SLUB_TINY is not set" in config and "CONFIG_KASAN=y" in config
    assert not (tree_only.workdir / "build/base").exists()


# -- boots: the status of each captured outcome ---------------------------------

@pytest.mark.parametrize("boot,programs,status,name,reason", [
    (Boot("clean-run", ktap=True), [NO_PLAN], 0, "PASS", ""),
    (Boot("failing", ktap=True), ["failing_test", NO_PLAN], 1, "FAIL", ""),
    (Boot("warn-in-case", ktap=True), [WARN_IN_CASE], 3, "OOPS",
     "WARNING: CPU: 0 PID: 88 at drivers/misc/lkdtm/bugs.c:112 lkdtm_WARNING"),
    (Boot("crash-midway", ktap=True, status=255), [CRASH_MIDWAY], 4, "PANIC",
     "Kernel panic - not syncing: sysrq triggered crash"),
    (Boot("qemu-killed", status=255), [NO_PLAN], 6, "INFRA",
     "the guest stopped before the command finished (QEMU killed or crashed; "
     "vng exit status 255)"),
], ids=["pass", "test-failure", "warn-in-case", "panic-midway", "qemu-killed"])
def test_test_boot_outcome_is_the_exit_status(built: Workbench, tmp_path: Path, boot: Boot,
                                              programs: list[Path | str], status: int,
                                              name: str, reason: str) -> None:
    args = [str(p if isinstance(p, Path) else stand_in(tmp_path, p)) for p in programs]
    result = built.wb("test", *(a for p in args for a in ("--program", p)), "--fs", "tmpfs",
                      boots=[boot])
    assert result.status == status, result.output
    record = result.record
    assert record["status"] == name
    assert record["complete"] is (name != "INFRA")
    if name == "INFRA":
        assert record["incomplete_reason"] == "QEMU or vng failed during the run"
    stage = record["stages"]["test patched"]
    assert stage["status"] == name
    assert stage["boot_reason"].startswith(reason)
    results = json.loads((result.run / "tests-patched/results.json").read_text())
    assert results["status"] == name and results["boot_attempts"] == 1
    assert len(result.vng_calls) == 1 and "build/patched/" in result.vng_calls[0]
    if name == "OOPS":
        # The WARN fails the case during which it appeared, with its report.
        xml = JUnitXml.fromfile(str(result.run / "tests-patched/junit.xml"))
        errors = {c.name: c.result[0].message for s in xml for c in s if c.result}
        assert list(errors) == ["second"] and "kernel warning: WARNING:" in errors["second"]
    if name == "PANIC":
        assert results["counts"]["PASS"] == 1, "the case before the crash is kept"
    if name == "FAIL":
        assert results["counts"]["FAIL"] == 1 and results["counts"]["XFAIL"] == 1


@pytest.mark.parametrize("boot,status,name,reason", [
    (Boot("exit0"), 0, "PASS", ""),
    (Boot("exit3", status=3), 1, "FAIL", "the command exited with status 3"),
    (Boot("warn"), 3, "OOPS", "WARNING: CPU: 1 PID: 71 at drivers/misc/lkdtm/bugs.c:112"),
    (Boot("oops"), 3, "OOPS", "kernel BUG at drivers/misc/lkdtm/bugs.c:105!"),
    (Boot("panic", status=255), 4, "PANIC", "Kernel panic - not syncing: sysrq triggered crash"),
    (Boot("qemu-killed", status=255), 6, "INFRA", "the guest stopped before the command"),
], ids=["exit0", "exit3", "warn", "oops", "panic", "qemu-killed"])
def test_run_outcome_is_the_exit_status(built: Workbench, boot: Boot, status: int, name: str,
                                        reason: str) -> None:
    result = built.wb("run", "--variant", "base", "--exec", "true", boots=[boot])
    assert result.status == status, result.output
    stage = result.record["stages"]["run base"]
    assert result.record["status"] == stage["status"] == name
    assert stage["reason"].startswith(reason), stage["reason"]
    # vng's status is the command's; 255 says the guest never reported one.
    assert stage["exit_code"] == (None if boot.status == 255 else boot.status or 0)
    assert Path(stage["console"]) == result.run / "console-base.log"
    assert f"wb run: {name}" in result.stdout


@pytest.mark.parametrize("command", [
    ("run", "--exec", "true"),
    ("test", "--program", str(NO_PLAN), "--fs", "tmpfs"),
], ids=["run", "test"])
def test_append_reaches_the_kernel_command_line_of_every_boot(
        built: Workbench, command: tuple[str, ...]) -> None:
    result = built.wb(*command, "--timeout", "1", "--append", "panic_on_oops=1",
                      "--append", "rootdelay=3", boots=[STUCK, Boot("clean-run", ktap=True)])
    calls = result.vng_calls
    assert calls, result.output
    # The stall retry of `wb test` boots with the same parameters.
    assert len(calls) == (2 if command[0] == "test" else 1)
    for call in calls:
        assert "--append=panic_on_oops=1 --append=rootdelay=3" in call, call


def test_vng_killed_by_a_signal_is_an_infrastructure_failure(built: Workbench) -> None:
    result = built.wb("run", "--exec", "true",
                      boots=[Boot("qemu-killed", signal=signal.SIGKILL)])
    assert result.status == 6, result.output
    assert result.record["status"] == "INFRA"


# -- timeouts and the stall retry -----------------------------------------------

def test_hang_times_out_and_keeps_the_console(built: Workbench) -> None:
    start = time.monotonic()
    result = built.wb("run", "--timeout", "1", "--exec", "sleep 600",
                      boots=[Boot("hang", hang=True)])
    assert result.status == 5, result.output
    assert time.monotonic() - start < 1 + 5, "killed at the timeout"
    stage = result.record["stages"]["run patched"]
    assert stage["status"] == "TIMEOUT" and stage["exit_code"] is None
    assert stage["reason"] == "the guest did not finish before the timeout"
    console = (result.run / "console-patched.log").read_text()
    assert console.rstrip().endswith("virtme-ng-init: starting script")
    assert built.guests() == [], "vng (and its QEMU) killed"


def test_guest_hung_after_an_oops_is_killed_when_its_console_goes_silent(
        built: Workbench) -> None:
    """The console of series v1 crashing on tmpfs, then nothing: wb stops
    waiting once the console has been silent for WB_CRASH_SILENCE_SECONDS,
    not at the (long) timeout, and says it was the crash."""
    start = time.monotonic()
    result = built.wb("run", "--timeout", "600", "--exec", "true",
                      boots=[Boot("oops-then-hang", hang=True)],
                      env={"WB_CRASH_SILENCE_SECONDS": "2"})
    assert time.monotonic() - start < 20, "killed after 2 s of silence"
    assert result.status == 3, result.output
    stage = result.record["stages"]["run patched"]
    assert stage["status"] == "OOPS" and stage["exit_code"] is None
    assert stage["reason"].endswith("(then the guest hung: no console output for 2 s)")
    assert ("guest: kernel crash (Oops: general protection fault, probably for "
            "non-canonical address 0xf5eee7e0d9d2cc44: 0000 [#1] SMP); waiting until its "
            "console is silent for 2 s") in result.output
    assert built.guests() == [], "vng (and its QEMU) killed"


def test_test_boot_hung_in_a_test_times_out_without_retry(built: Workbench) -> None:
    result = built.wb("test", "--program", str(NO_PLAN), "--fs", "tmpfs", "--timeout", "1",
                      boots=[Boot("clean-run", hang_after="wb-runner: begin splice_smoke.xfs")])
    assert result.status == 5, result.output
    results = json.loads((result.run / "tests-patched/results.json").read_text())
    assert results["status"] == "TIMEOUT" and results["boot_attempts"] == 1
    assert results["boot_reason"] == "the guest did not finish before the timeout"
    assert len(result.vng_calls) == 1
    assert not (result.run / "tests-patched/console-stuck.log").exists()
    assert built.guests() == []


STUCK = Boot("stuck-at-udev", hang=True)
STUCK_LINE = "[    6.969792] virtme-ng-init: waiting for udev to settle"


@pytest.mark.parametrize("boots,status,name", [
    ([STUCK, Boot("clean-run", ktap=True)], 0, "PASS"),
    ([STUCK, STUCK], 5, "TIMEOUT"),
], ids=["stall-then-boot", "stall-twice"])
def test_boot_stalled_before_the_first_test_is_booted_once_more(
        built: Workbench, boots: list[Boot], status: int, name: str) -> None:
    result = built.wb("test", "--program", str(NO_PLAN), "--fs", "tmpfs", "--timeout", "1",
                      boots=boots)
    assert result.status == status, result.output
    assert "the guest did not start the first test within 1 s" in result.stderr
    assert "booting again" in result.stderr
    out = result.run / "tests-patched"
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == name and results["boot_attempts"] == 2
    assert len(result.vng_calls) == 2
    assert (out / "console-stuck.log").read_text().rstrip().endswith(STUCK_LINE)
    if name == "PASS":
        assert results["counts"]["PASS"] == 16 and "wb-runner: begin" in (
            out / "console.log").read_text()
    else:
        assert results["boot_reason"] == (f"the guest did not start the first test within "
                                          f"1 s (last console line: {STUCK_LINE})")
        assert result.record["stages"]["test patched"]["boot_reason"] == results["boot_reason"]
    assert built.guests() == []


# -- Ctrl-C ---------------------------------------------------------------------

@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["foreground", "background-job"])
def test_ctrl_c_keeps_finished_stages_and_leaves_no_guest(workbench: Workbench, fake_tree: Path,
                                                          good_series: Path,
                                                          ignore_sigint: bool) -> None:
    started = workbench.start("all", "--tree", str(fake_tree), "--patches", str(good_series),
                          "--program", str(NO_PLAN), "--fs", "tmpfs",
                          boots=[Boot("clean-run", ktap=True),
                                 Boot("clean-run", hang_after="wb-runner: begin splice_smoke")],
                          ignore_sigint=ignore_sigint)
    started.wait_for_console("tests-patched/console.log", "wb-runner: begin splice_smoke")
    assert len(workbench.guests()) == 1, "the patched kernel's guest is running"
    os.killpg(started.proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
    result = started.finish()
    assert result.status == 130, result.output
    assert "interrupted; finished steps are kept" in result.stderr
    record = result.record
    assert record["complete"] is False and record["incomplete_reason"] == "interrupted"
    assert record["status"] is None
    assert record["stages"]["test base"]["status"] == "PASS"
    assert "test patched" not in record["stages"]
    assert "test base" in record["timings"]
    assert "wb-runner: begin splice_smoke" in (result.run / "tests-patched/console.log"
                                                ).read_text()
    assert (result.run / "tests-base/junit.xml").exists()
    assert workbench.guests() == [], "no fake vng left behind"


# -- bad input: 2 ---------------------------------------------------------------

def test_build_before_config_says_to_configure(tree_only: Workbench) -> None:
    result = tree_only.wb("build", "--variant", "base")
    assert result.status == 2, result.output
    assert f"no .config in {tree_only.workdir}/build/base" in result.stderr
    assert "hint: run `wb config --variant base` first" in result.stderr
    assert result.record["complete"] is False
    assert result.record["incomplete_reason"].startswith("error: no .config in")


def test_test_before_build_says_to_build(tree_only: Workbench) -> None:
    result = tree_only.wb("test", "--variant", "base", "--program", str(NO_PLAN))
    assert result.status == 2, result.output
    assert f"no kernel image for base at {tree_only.workdir}/build/base" in result.stderr
    assert "`wb build --variant base`" in result.stderr
    assert result.vng_calls == []


@pytest.mark.parametrize("command", [["apply"], ["series"], ["all", "--program", str(NO_PLAN)],
                                     ["evidence", "--force"]])
def test_a_tree_no_series_is_for_is_refused_listing_the_series(
        tree_only: Workbench, fake_tree: Path, command: list[str]) -> None:
    """Without --patches every command that applies a series (or writes the
    evidence for one) chooses it by the tree's kernel: for the fake tree's
    7.0.3 there is none, which is bad input (exit 2) before any stage."""
    from workbench.series import available_series
    from workbench.workspace import PATCHES_DIR
    result = tree_only.wb(*command)
    assert result.status == 2, result.output
    listed = "".join(f"\n  {s.directory} (kernel {s.kernels})" for s in available_series())
    assert "6.12" in listed
    assert (f"wb: error: no series for Linux {fakelinux.KERNEL_VERSION} in {PATCHES_DIR}; the "
            f"series there are:{listed}\nwb: hint: apply one anyway with --patches DIR"
            in result.stderr)
    assert result.record["complete"] is False and "apply" not in result.record["stages"]
    assert git(fake_tree, "branch", "--list", "wb/patched") == "", "nothing applied"
    assert result.vng_calls == []


def test_apply_chooses_the_series_for_the_trees_kernel(workbench: Workbench,
                                                       tmp_path: Path) -> None:
    """On a tree of Linux 6.12 `wb apply` takes the project's 6.12 backport,
    says so, and records it; the real patches then fail on the fake tree."""
    from workbench.workspace import PATCHES_DIR
    tree = fakelinux.create(tmp_path / "src" / "linux-6.12", release="6.12.117")
    assert workbench.wb("tree", "--tree", str(tree)).status == 0
    result = workbench.wb("apply")
    assert result.status == 7, result.output
    assert "[wb] series: patches/stable-6.12 (kernel 6.12) for Linux 6.12.117\n" in result.stderr
    apply = result.record["stages"]["apply"]
    assert (apply["series"], apply["kernels"]) == (str(PATCHES_DIR / "stable-6.12"), "6.12")
    assert apply["patches"] == [line for line in (PATCHES_DIR / "stable-6.12/series")
                                .read_text().splitlines() if not line.startswith("#")]
    assert apply["failed_patch"] == "0001-splice-add-SPLICE_F_STABLE.patch"


def test_patches_for_another_kernel_are_applied_as_asked_with_a_warning(
        tree_only: Workbench, fake_tree: Path) -> None:
    older = series(fake_tree, ADD_FLAG, USE_FLAG, kernel="6.12")
    result = tree_only.wb("apply", "--patches", str(older))
    assert result.status == 0, result.output
    assert (f"[wb] warning: series {older} is for kernel 6.12, not Linux "
            f"{fakelinux.KERNEL_VERSION}: using it as --patches asks\n") in result.stderr
    apply = result.record["stages"]["apply"]
    assert apply["status"] == "PASS" and len(apply["commits"]) == 2
    assert (apply["series"], apply["kernels"]) == (str(older), "6.12")


@pytest.mark.parametrize("series_text,message", [
    (None, "no series file at {dir}/series"),
    ("0001-splice-add-SPLICE_F_STABLE.patch\n0002-missing.patch\n",
     "{dir}/series:2: patch '0002-missing.patch' not found"),
], ids=["no-series-file", "missing-patch"])
def test_apply_of_a_broken_series_directory(tree_only: Workbench, fake_tree: Path,
                                            series_text: str | None, message: str) -> None:
    patches = series(fake_tree, ADD_FLAG)
    if series_text is None:
        (patches / "series").unlink()
    else:
        (patches / "series").write_text(series_text)
    result = tree_only.wb("apply", "--patches", str(patches))
    assert result.status == 2, result.output
    assert message.format(dir=patches) in result.stderr
    assert result.record["complete"] is False


def test_unknown_accelerator_in_the_environment(built: Workbench) -> None:
    result = built.wb("run", "--exec", "true", env={"WB_ACCEL": "qemu"})
    assert result.status == 2, result.output
    assert "WB_ACCEL='qemu' is not one of auto, kvm, tcg" in result.stderr
    assert result.vng_calls == []


def test_missing_program_is_bad_input(built: Workbench, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-program"
    result = built.wb("test", "--program", str(missing), "--fs", "tmpfs",
                      boots=[Boot("clean-run", ktap=True)])
    assert result.status == 2, result.output
    assert str(missing) in result.stderr
    assert result.vng_calls == [], "refused before booting"


def test_missing_vng_is_bad_input(built: Workbench, tmp_path: Path) -> None:
    result = built.wb("run", "--exec", "true", env={"WB_VNG": str(tmp_path / "no-vng")})
    assert result.status == 2, result.output
    assert "not found" in result.stderr and "Traceback" not in result.stderr


def test_third_party_source_that_is_not_there_is_bad_input(built: Workbench,
                                                           tmp_path: Path) -> None:
    missing = tmp_path / "liburing-none.tar.xz"
    result = built.wb("test", "--suite", "thirdparty", "--liburing", str(missing),
                      "--fs", "tmpfs", boots=[Boot("clean-run", ktap=True)])
    assert result.status == 2, result.output
    assert f"--liburing {missing}: no such file or directory" in result.stderr
    assert result.vng_calls == [], "refused before booting"


def test_third_party_suite_replayed_from_real_boots(built: Workbench) -> None:
    """liburing's and xfstests' output from real base and patched boots
    (tests/data/golden/thirdparty-*.ktap) becomes JUnit cases with reasons."""
    # The real snapshots, built for the host as the guest runs them.
    args = ["--suite", "thirdparty", "--seed", "20261206"]
    found, cases = {}, {}
    for variant in ("base", "patched"):
        # The first call builds liburing's tests and xfstests' programs for
        # real: about a minute on a busy 2-core machine.
        result = built.wb("test", "--variant", variant, *args,
                          boots=[Boot("clean-run", ktap=f"thirdparty-{variant}",
                                      only_planned=True)], seconds=300)
        assert result.status == 0, result.output
        xml = JUnitXml.fromfile(str(result.run / f"tests-{variant}" / "junit.xml"))
        found[variant] = {s.name: (c.result[0].message if c.result else "pass")
                          for s in xml for c in s}
        cases[variant] = {s.name: {c.name: (c.result[0].message if c.result else "pass")
                                   for c in s} for s in xml}
    assert found["base"]["thirdparty.liburing.splice-stable.ext4"].endswith(
        "SPLICE_F_STABLE not supported, skipping")
    assert found["patched"]["thirdparty.liburing.splice-stable.ext4"] == "pass"
    for variant in found.values():
        assert "ftruncate" in variant["thirdparty.liburing.splice.9p"]
        assert all(variant[f"thirdparty.xfstests.generic-591.{fs}"] == "pass"
                   for fs in ("tmpfs", "ext4", "xfs", "btrfs", "9p"))
    for variant in cases.values():
        # The kernel's selftests: each case of their own TAP is a JUnit case.
        tls = variant["thirdparty.kselftest.net-tls.splice"]
        assert len(tls) == 18 and set(tls.values()) == {"pass"}
        assert "tls.13_aes_gcm.splice_from_pipe" in tls
        cow = variant["thirdparty.kselftest.mm-cow.vmsplice"]
        assert len(cow) == 208 and all("vmsplice" in name for name in cow)
        assert cow["vmsplice() + unmap in child ... with base page"] == "pass"
        assert cow["vmsplice() + unmap in child ... with swapped out base page"].endswith(
            "MADV_PAGEOUT did not work, is swap enabled?")
