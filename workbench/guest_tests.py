"""Stage 6: run the in-guest tests on a kernel variant and collect their KTAP.

The tests are host binaries (the guest shares the host's root read-only):
``kernel_tests/`` built by ``make -C kernel_tests``, and the kernel tree's own
``tools/testing/selftests/splice`` built from the variant's source. A plan
file lists (name, filesystem, command); ``kernel_tests/guest-runner.sh``
runs it in the guest and writes one KTAP document to the run directory,
which the host shares with the guest read-write.
"""

import os
import secrets
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from workbench import ktap, log, thirdparty
from workbench.accel import Accelerator
from workbench.boot import BootRequest, BootResult, boot, tool_versions
from workbench.build import install_uapi_headers, switch_to
from workbench.errors import WorkbenchError
from workbench.proc import run
from workbench.results import write_results
from workbench.series import branch_head
from workbench.source import PATCHED_BRANCH, KernelTree, variant_rev
from workbench.status import Status
from workbench.testplan import PlannedTest
from workbench.workspace import KERNEL_TESTS_DIR

FILESYSTEMS = ("tmpfs", "ext4", "xfs", "btrfs", "9p")
SUITES = ("smoke", "integrity", "selftests", "fuzz", "thirdparty")
# What --suite all runs. The random tester is asked for by name: it fails on
# the current series (it finds what the other suites missed), and its time
# is a choice (--seconds); so is the third-party suite (minutes, and sources
# from outside the project).
ALL_SUITES = ("smoke", "integrity", "selftests")
DEFAULT_FUZZ_SECONDS = 20
RUNNER = KERNEL_TESTS_DIR / "guest-runner.sh"
# kselftest programs that take the directory under test and run per filesystem.
PER_FS_SELFTESTS = {"stable_splice"}
DEFAULT_TEST_TIMEOUT = 1200.0
# Boot to the first test program takes 12-45 s under TCG here (debug kernel,
# loaded host); a guest that has not started one after this never will.
START_TIMEOUT = float(os.environ.get("WB_START_TIMEOUT", 300))


@dataclass(frozen=True)
class TestSelection:
    """Which tests a boot runs: a suite (or ``programs`` instead), where, how."""
    __test__ = False  # not a pytest class
    suite: str = "all"  # one of SUITES, or "all"
    filesystems: tuple[str, ...] = FILESYSTEMS
    programs: tuple[Path, ...] = ()
    seed: int | None = None  # the random tests' (integrity, fuzz); None: not chosen yet
    case_filter: str | None = None
    fuzz_seconds: int = DEFAULT_FUZZ_SECONDS  # per filesystem
    # The third-party suite's sources (checkout or tarball); None: the snapshots.
    liburing: Path | None = None
    xfstests: Path | None = None

    def runs(self, suite: str) -> bool:
        return self.suite == suite or (self.suite == "all" and suite in ALL_SUITES)

    def with_seed(self) -> "TestSelection":
        """This selection with its seed chosen (at random unless given)."""
        return self if self.seed is not None else replace(
            self, seed=secrets.randbelow(2**32))


@dataclass(frozen=True)
class TestPlan:
    tests: tuple[PlannedTest, ...]
    commit: str  # the source the programs were built from


@dataclass(frozen=True)
class TestRun:
    variant: str
    status: Status
    boot: BootResult
    tree: ktap.TestCase
    junit: Path
    json: Path


def tests_source(tree: KernelTree) -> str:
    """The revision the test programs are built from: the newest source (the
    series when it was applied), so that new tests also run, and skip, on
    the base, and both kernels run the same programs."""
    return PATCHED_BRANCH if branch_head(tree) else variant_rev(tree, "base")


def build_test_programs(tree: KernelTree, out_root: Path, log_path: Path) -> tuple[str, Path]:
    """``kernel_tests/`` built against ``tests_source``: (commit, programs dir)."""
    commit = switch_to(tree, tests_source(tree), out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    return commit, build_kernel_tests(tree.path, out_root / "kernel_tests", log_path)


def plan_tests(tree: KernelTree, selection: TestSelection, out_root: Path,
               log_path: Path) -> TestPlan:
    """Build what ``selection`` runs (into ``out_root``) and plan it."""
    commit = switch_to(tree, tests_source(tree), out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    if selection.programs:
        check_programs(selection.programs)
        return TestPlan(tuple(program_plan(list(selection.programs), selection.filesystems)),
                        commit)
    plan: list[PlannedTest] = []
    if any(selection.runs(s) for s in ("smoke", "integrity", "fuzz")):
        tests_dir = build_kernel_tests(tree.path, out_root / "kernel_tests", log_path)
        if selection.runs("smoke"):
            plan += program_plan([tests_dir / "splice_smoke"], selection.filesystems)
        assert selection.seed is not None, "with_seed() chooses it"
        if selection.runs("integrity"):
            plan += program_plan([tests_dir / "splice_integrity"], selection.filesystems,
                                 integrity_arguments(selection.seed, selection.case_filter))
        if selection.runs("fuzz"):
            plan += program_plan([tests_dir / "splice_fuzz"], selection.filesystems,
                                 ("--seed", str(selection.seed),
                                  "--seconds", str(selection.fuzz_seconds)))
    if selection.runs("selftests"):
        install = build_splice_selftests(tree.path, out_root, log_path)
        plan += selftest_plan(install, selection.filesystems)
    if selection.runs("thirdparty"):
        assert selection.seed is not None, "with_seed() chooses it"
        plan += thirdparty.plan(out_root / "thirdparty", log_path, selection.filesystems,
                                selection.seed, tree.path, selection.liburing,
                                selection.xfstests)
    return TestPlan(tuple(plan), commit)


def build_kernel_tests(tree: Path, out_dir: Path, log_path: Path) -> Path:
    """``make -C kernel_tests`` against ``tree``'s kselftest_harness.h."""
    # -B: a few small programs, and the tree's mtimes are managed for the
    # kernel builds (see build.switch_to), not for these.
    run(["make", "-B", "-C", str(KERNEL_TESTS_DIR), f"KDIR={tree}", f"OUTPUT={out_dir}"],
        log=log_path)
    return out_dir


def build_splice_selftests(tree: Path, build_dir: Path, log_path: Path) -> Path:
    """Build and install the tree's splice kselftests; returns the install dir."""
    install = build_dir / "kselftest"
    # They include the tree's uapi headers (<linux/splice.h>), which kselftests
    # expect installed first ("make headers").
    headers = install_uapi_headers(tree, build_dir / "kselftest-headers", log_path)
    run(["make", "-B", "-C", str(tree / "tools/testing/selftests"), "TARGETS=splice",
         f"O={build_dir / 'kselftest-build'}", f"INSTALL_PATH={install}",
         f"KHDR_INCLUDES=-isystem {headers}", "install"],
        log=log_path)
    return install


def selftest_plan(install: Path, filesystems: tuple[str, ...]) -> list[PlannedTest]:
    listing = install / "kselftest-list.txt"
    if not listing.exists():
        raise WorkbenchError(f"no {listing}: the kselftest install did not finish")
    plan = []
    for line in listing.read_text().splitlines():
        collection, _, program = line.partition(":")
        if not program:
            continue
        command = f"cd {install / collection} && ./{program}"
        name = f"selftests.{collection}.{program}"
        if Path(program).stem in PER_FS_SELFTESTS:
            # The stable-splice test takes its directory from STABLE_SPLICE_DIR.
            command = f"cd {install / collection} && STABLE_SPLICE_DIR=$SPLICE_TEST_DIR ./{program}"
            plan += [PlannedTest(f"{name}.{fs}", fs, command) for fs in filesystems]
        else:
            plan.append(PlannedTest(name, "none", command))
    return plan


def check_programs(programs: tuple[Path, ...] | list[Path]) -> None:
    """Refuse a test program that the guest could not run, before any boot."""
    for program in programs:
        if not (program.is_file() and os.access(program, os.X_OK)):
            raise WorkbenchError(f"test program {program} is not an executable file",
                                 hint="--program takes the path of a KTAP-emitting program "
                                      "on this host (the guest shares its root)")


def program_plan(programs: list[Path], filesystems: tuple[str, ...],
                 arguments: tuple[str, ...] = ()) -> list[PlannedTest]:
    command = " ".join(shlex.quote(a) for a in arguments)
    return [PlannedTest(f"{p.stem}.{fs}", fs, f"{p.resolve()} {command}".rstrip())
            for p in programs for fs in filesystems]


def integrity_arguments(seed: int, case_filter: str | None) -> tuple[str, ...]:
    """splice_integrity's options: the same seed on every filesystem and kernel."""
    return ("--seed", str(seed), *(("--filter", case_filter) if case_filter else ()))


def write_plan(plan: list[PlannedTest] | tuple[PlannedTest, ...], path: Path) -> None:
    for test in plan:
        if "\t" in test.command or "\n" in test.command:
            raise WorkbenchError(f"test command for {test.name} contains a tab or newline")
    path.write_text("".join(f"{t.name}\t{t.filesystem}\t{t.command}\n" for t in plan))


def run_plan(plan: list[PlannedTest] | tuple[PlannedTest, ...], image: Path, variant: str, out_dir: Path,
             accelerator: Accelerator, timeout: float = DEFAULT_TEST_TIMEOUT,
             qemu_opts: tuple[str, ...] = (), properties: dict | None = None,
             cpus: int = 2, kernel_args: tuple[str, ...] = ()) -> TestRun:
    """Boot ``image`` once, run every planned test, write JUnit and JSON."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_path = out_dir / "plan.tsv"
    write_plan(plan, plan_path)
    ktap_path = out_dir / "results.ktap"
    ktap_path.unlink(missing_ok=True)
    command = f"sh {RUNNER} {plan_path} {out_dir}"
    log.info(f"test {variant}: {len(plan)} test programs in one boot")
    request = BootRequest(image, command, timeout=timeout, rwdirs=(out_dir,),
                          qemu_opts=qemu_opts, cpus=cpus, kernel_args=kernel_args,
                          start_timeout=min(timeout, START_TIMEOUT))
    result = boot(request, out_dir / "console.log", accelerator)
    attempts = 1
    if result.stuck_before_tests:
        # No test ran and the kernel reported nothing: boot once more, and
        # keep the stuck boot's console next to the new one.
        log.warn(f"test {variant}: {result.reason}; booting again")
        result.console_log.rename(out_dir / "console-stuck.log")
        result = boot(request, out_dir / "console.log", accelerator)
        attempts = 2
    console = result.console_log.read_text(errors="replace")
    # The file is complete up to the last line the guest wrote; the console
    # has the same lines when the shared directory itself failed.
    source = ktap_path.read_text(errors="replace") if ktap_path.exists() else console
    tree = ktap.parse(source.splitlines(), name=variant)
    if result.status in (Status.PASS, Status.FAIL):
        # A program that exits 0 after printing "not ok" still failed.
        failed = tree.result.failed or any(leaf.result.failed for leaf in tree.leaves())
        status = Status.FAIL if failed else Status.PASS
    else:
        status = result.status
    extra = {"status": status.value, "boot_status": result.status.value,
             "boot_reason": result.reason, "boot_seconds": result.seconds,
             "boot_attempts": attempts,
             **({"kvm_silent_console": result.silent_kvm_console.name}
                if result.silent_kvm_console else {}),
             "accel": result.accel.name, "accel_reason": result.accel.reason,
             **tool_versions(), **(properties or {})}
    junit, json_path = write_results(tree, variant, out_dir, console, extra)
    return TestRun(variant, status, result, tree, junit, json_path)
