"""The ``wb`` command line: a thin layer over the pipeline stages."""

import argparse
import signal
import sys
from pathlib import Path

from collections.abc import Callable
from typing import Any

from workbench import __version__, log
from workbench.accel import CHOICES as ACCEL_CHOICES
from workbench.boot import CRASH_SILENCE_SECONDS
from workbench.commands import run_command
from workbench.commands.bench import BenchOptions, bench_command
from workbench.commands.b4_check import B4CheckOptions, b4_check_command
from workbench.commands.evidence import EvidenceOptions, evidence_command
from workbench.commands.precheck import PrecheckOptions, precheck_command
from workbench.precheck import TARGETS as PRECHECK_TARGETS
from workbench.commands.junit_merge import JunitMergeOptions, junit_merge_command
from workbench.commands.kcidb import KcidbOptions, kcidb_command
from workbench.commands.prepare import (ApplyOptions, BuildOptions, ConfigChoice, ConfigOptions,
                                        TreeChoice, TreeOptions, apply_command, build_command,
                                        config_command, tree_command)
from workbench.commands.run import RunOptions, run_command as run_exec_command
from workbench.commands.series import SeriesOptions, series_command
from workbench.commands.test import AllOptions, TestOptions, all_command, test_command
from workbench.errors import WorkbenchError
from workbench.commits import DEFAULT_CHECKPATCH_IGNORE, SUBSET_FILESYSTEMS
from workbench.guest_tests import DEFAULT_FUZZ_SECONDS, FILESYSTEMS, SUITES, TestSelection
from workbench.kcidb import ORIGIN as KCIDB_ORIGIN
from workbench.kconfig import DEBUG_FRAGMENT, DEFAULT_BASE_TARGET, DEFAULT_FRAGMENTS
from workbench.source import DEFAULT_KERNEL, KNOWN_KERNELS
from workbench.workspace import DEFAULT_WORKDIR, VARIANTS

DESCRIPTION = """\
Kernel patch workbench: kernel tree -> patch series -> config -> build -> boot
(virtme-ng, QEMU) -> in-guest tests -> KTAP -> JUnit/JSON.

State lives in the work directory (--workdir, $WB_WORKDIR; default: work/ in
the workbench's checkout, ./work when it is installed as a package; here
%s): the kernel tree in linux/, builds in build/<variant>/, and every run
in its own runs/<date>-<command>/ directory (runs/latest points at the newest).
""" % DEFAULT_WORKDIR

EPILOG = """\
exit status: 0 pass, 1 test failure, 2 bad input or a failed step (e.g. no
series in patches/ for the tree's kernel), 3 kernel oops/WARN, 4 kernel panic,
5 guest timeout, 6 QEMU/vng failure, 7 patch does not apply, 8 config check
failed, 9 build failed, 130 interrupted (the run directory keeps what finished
and is marked incomplete).

series: patches/ holds the mainline series (patches/series) and backports
(patches/stable-X.Y/series); each series file's header has a line such as
'# kernel: 6.12' or '# kernel: >=7.3'. apply, all, series and evidence take
the one whose line names the tree's kernel, unless --patches DIR names one.
"""


def _add_variant(p: argparse.ArgumentParser, default: str | None = "patched") -> None:
    p.add_argument("--variant", choices=VARIANTS, default=default,
                   help=f"kernel variant: base (the pristine tree) or patched (base + "
                        f"series) (default: {default})")


def _add_debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true",
                   help=f"the debug kernel: configs/{DEBUG_FRAGMENT}.config (KASAN, lockdep, "
                        "DEBUG_VM) on top of the fragments, built in build/<variant>-debug/")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-target", default=DEFAULT_BASE_TARGET,
                   help=f"make target the config starts from (default: {DEFAULT_BASE_TARGET})")
    p.add_argument("--fragment", action="append", dest="fragments", metavar="NAME",
                   help="config fragment from configs/ (NAME or NAME.config) or a path; "
                        f"repeatable (default: {' '.join(DEFAULT_FRAGMENTS)})")


def _add_boot(p: argparse.ArgumentParser, timeout: float) -> None:
    p.add_argument("--timeout", type=float, default=timeout,
                   help=f"seconds before the guest is declared hung and QEMU is killed "
                        f"(default: {timeout:.0f}); after an Oops or a panic, "
                        f"{CRASH_SILENCE_SECONDS:.0f} s without console output "
                        f"($WB_CRASH_SILENCE_SECONDS) end the boot too")
    p.add_argument("--accel", choices=ACCEL_CHOICES,
                   help="QEMU accelerator: auto (KVM when a kernel really boots under it, "
                        "probed once per host boot; a KVM boot that prints nothing falls back "
                        "to TCG), kvm (error when KVM is unusable), tcg (default: $WB_ACCEL "
                        "or auto)")
    p.add_argument("--append", action="append", dest="kernel_args", metavar="PARAM",
                   help="extra kernel command-line parameter, e.g. panic_on_oops=1; "
                        "repeatable")


def _boot_options(a: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``Boots`` that ``_add_boot`` defined."""
    return {"accel": a.accel, "timeout": a.timeout, "kernel_args": tuple(a.kernel_args or ())}


def _add_fs(p: argparse.ArgumentParser, what: str, default: str) -> None:
    p.add_argument("--fs", action="append", dest="filesystems", choices=FILESYSTEMS,
                   help=f"filesystem {what}; repeatable (default: {default})")


def _add_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, help="make -j (default: number of CPUs)")


def _add_patches(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patches", type=Path, metavar="DIR",
                   help="a directory with a series file, used as given: a series whose "
                        "'# kernel:' line names other kernels gets a warning, not a refusal "
                        "(default: of the series in patches/ (mainline: patches/series; "
                        "backports: patches/stable-X.Y/series), the one whose '# kernel:' "
                        "line names the tree's kernel version; none is an error listing "
                        "them)")


def _add_tests(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", choices=(*SUITES, "all"), default="all",
                   help="smoke: kernel_tests/ smoke test per filesystem; integrity: "
                        "kernel_tests/ splice integrity matrix per filesystem; selftests: "
                        "the tree's tools/testing/selftests/splice; fuzz: the random "
                        "splice tester per filesystem (--seconds); all: smoke, integrity "
                        "and selftests; thirdparty: liburing's splice tests, xfstests' fsstress "
                        "with its splice op, generic/591 and 249, and the tree's net/tls "
                        "splice and mm/cow vmsplice selftests (default: all)")
    p.add_argument("--seconds", type=int, default=DEFAULT_FUZZ_SECONDS, metavar="N",
                   help=f"fuzz suite: seconds of random sequences per filesystem (default: "
                        f"{DEFAULT_FUZZ_SECONDS})")
    p.add_argument("--filter", metavar="SUBSTRING",
                   help="integrity suite: run only the cases whose name contains SUBSTRING "
                        "(names: FS.MODE.CONSUMER.MUTATION.TIMING, e.g. stable.tcp)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the integrity and fuzz suites' random tests; the run records it, "
                        "so a seed from an earlier run replays it (default: random)")
    _add_fs(p, "to run the per-filesystem tests on", " ".join(FILESYSTEMS))
    for name, upstream in (("liburing", "github.com/axboe/liburing"),
                           ("xfstests", "fstests")):
        p.add_argument(f"--{name}", type=Path, metavar="PATH",
                       help=f"thirdparty suite: a checkout or tarball of {upstream} (default: "
                            f"the newest snapshot in $WB_THIRD_PARTY, else "
                            f"../shared/third_party)")
    p.add_argument("--program", action="append", type=Path, default=[],
                   help="run this KTAP-emitting program (on each --fs) instead of the suites; "
                        "repeatable")



def _selection(args: argparse.Namespace) -> TestSelection:
    """The tests of `wb test` and `wb all` (_add_tests' options)."""
    return TestSelection(suite=args.suite, filesystems=tuple(args.filesystems or FILESYSTEMS),
                         programs=tuple(args.program), seed=args.seed,
                         case_filter=args.filter, fuzz_seconds=args.seconds,
                         liburing=args.liburing, xfstests=args.xfstests)


def _config(args: argparse.Namespace) -> ConfigChoice:
    return ConfigChoice(args.base_target, tuple(args.fragments or DEFAULT_FRAGMENTS))


def _variants(args: argparse.Namespace) -> tuple[str, ...]:
    return (args.variant,) if args.variant else VARIANTS


# Each command's parser sets `command`: what runs, with options made from the arguments.
Command = Callable[[argparse.Namespace], tuple[Callable[..., Any], Any]]


def _tree_parser(sub: Any) -> None:
    p = sub.add_parser("tree", help="set up the kernel git tree and record its base commit",
                       description="Set up work/linux: a kernel tarball (Debian's "
                       "linux-source-6.12 unless --kernel or --tarball says otherwise) "
                       "unpacked into a git repo whose first commit is the pristine source "
                       "(tag wb/base), or with --tree a worktree of your own kernel "
                       "checkout. Writes work/tree.json.")
    _add_source(p, f"default: --kernel {DEFAULT_KERNEL}")
    p.set_defaults(command=lambda a: (tree_command, TreeOptions(
        workdir=a.workdir, tree=_tree_choice(a))))


def _add_source(p: argparse.ArgumentParser, default: str) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--tree", type=Path, help="an existing kernel git checkout to use")
    source.add_argument("--kernel", choices=sorted(KNOWN_KERNELS),
                        help="a known kernel source: " + "; ".join(
                            f"{name}: {k.tarball}" for name, k in sorted(KNOWN_KERNELS.items()))
                        + f" ({default})")
    source.add_argument("--tarball", type=Path, help="a kernel source tarball")
    p.add_argument("--base", default="HEAD",
                   help="with --tree: the commit the series applies to (default: HEAD)")


def _tree_choice(a: argparse.Namespace) -> TreeChoice:
    tarball = KNOWN_KERNELS[a.kernel].tarball if a.kernel else a.tarball
    return TreeChoice(a.tree, a.base, tarball)


def _apply_parser(sub: Any) -> None:
    p = sub.add_parser("apply", help="apply the series for the tree's kernel on top of the "
                       "base with git am",
                       description="Apply the series for the tree's kernel (of patches/, the "
                       "one whose series file's '# kernel:' line names it: patches/series for "
                       "mainline, patches/stable-X.Y/series for a backport; or --patches DIR) "
                       "with git am, one commit per patch, on branch wb/patched. If a patch "
                       "does not apply, names it and the failed file:line, and leaves the tree "
                       "at the base. Writes apply.log and run.json in the run directory.")
    _add_patches(p)
    p.set_defaults(command=lambda a: (apply_command, ApplyOptions(workdir=a.workdir,
                                                                  patches=a.patches)))


def _config_parser(sub: Any) -> None:
    p = sub.add_parser("config", help="make and check a .config from a target + fragments",
                       description="Make build/<variant>/.config: the base target "
                       "(tinyconfig) plus fragments merged with merge_config.sh, then "
                       "olddefconfig; fails listing each fragment option that did not "
                       "survive (asked vs got). Records the .config sha256.")
    _add_variant(p, default=None)
    _add_config(p)
    _add_debug(p)
    p.set_defaults(command=lambda a: (config_command, ConfigOptions(
        workdir=a.workdir, debug=a.debug, variants=_variants(a), config=_config(a))))


def _build_parser(sub: Any) -> None:
    p = sub.add_parser("build", help="build kernel variants out of tree (O=)",
                       description="Build bzImage for each variant in its own "
                       "build/<variant>/ directory with make -j$(nproc) (ccache when "
                       "installed). The full log is kept in the run directory; on failure "
                       "the first compiler errors are shown (BUILD_FAILURE).")
    _add_variant(p, default=None)
    _add_jobs(p)
    _add_debug(p)
    p.set_defaults(command=lambda a: (build_command, BuildOptions(
        workdir=a.workdir, debug=a.debug, variants=_variants(a), jobs=a.jobs)))


def _run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="boot a built kernel and run one command in the guest",
                       description="Boot build/<variant>/ with virtme-ng (TCG when KVM is "
                       "unusable), run the command, save console.log, and classify: PASS, "
                       "FAIL, SKIP, TIMEOUT, PANIC, OOPS, INFRA.")
    _add_variant(p)
    _add_boot(p, timeout=300)
    _add_debug(p)
    p.add_argument("--exec", dest="exec_command", required=True, metavar="COMMAND",
                   help="shell command to run in the guest")
    p.set_defaults(command=lambda a: (run_exec_command, RunOptions(
        workdir=a.workdir, debug=a.debug, **_boot_options(a),
        variant=a.variant, command=a.exec_command)))


def _test_parser(sub: Any) -> None:
    p = sub.add_parser("test", help="run the in-guest tests on a variant -> JUnit + JSON",
                       description="Build kernel_tests/ and the tree's splice kselftests, "
                       "boot the variant once, run them, parse their KTAP and write "
                       "junit.xml, results.json, results.ktap and console.log.")
    _add_variant(p)
    _add_boot(p, timeout=1200)
    _add_tests(p)
    _add_debug(p)
    p.set_defaults(command=lambda a: (test_command, TestOptions(
        workdir=a.workdir, debug=a.debug, **_boot_options(a),
        variant=a.variant, selection=_selection(a))))


def _bench_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="performance of base vs patched: tables, plots, JSON",
                       description="Boot base and patched kernels in turn (A B A B, one "
                       "boot each per round), run kernel_tests/splice_perf on each "
                       "filesystem, and compare: patched/base for plain splice, stable/plain, "
                       "stable copy/pread+write, each a ratio of medians with a 95% bootstrap "
                       "interval. Writes bench/bench.md, bench.json (every raw sample) and "
                       "PNG plots in the run directory. Needs both kernels built.")
    p.add_argument("--quick", action="store_true",
                   help="a few sizes, sinks and repetitions on ext4 and tmpfs (for CI): every "
                        "artefact, a fraction of the time")
    p.add_argument("--clock", choices=("icount", "kvm", "tcg"),
                   help="icount: QEMU -icount, deterministic guest time (default without "
                        "KVM); kvm: wall clock under KVM (default with KVM); tcg: wall clock "
                        "under emulation, noise, only on request")
    _add_fs(p, "to measure on", "ext4 xfs btrfs tmpfs; --quick: ext4 tmpfs")
    p.add_argument("--rounds", type=int, help="A B rounds (default: 2)")
    p.add_argument("--reps", type=int, help="repetitions per boot (default: 3)")
    p.add_argument("--check-targets", action="store_true",
                   help="exit 1 when a target ratio is missed")
    _add_boot(p, timeout=3600)
    p.set_defaults(command=lambda a: (bench_command, BenchOptions(
        workdir=a.workdir, **_boot_options(a), quick=a.quick, clock=a.clock,
        filesystems=tuple(a.filesystems or ()), rounds=a.rounds, reps=a.reps,
        check_targets=a.check_targets)))


def _series_parser(sub: Any) -> None:
    p = sub.add_parser("series", help="every commit of the series: build, warnings, "
                       "checkpatch, boot, integrity subset",
                       description="Apply the series for the tree's kernel (as wb apply "
                       "chooses it, or --patches DIR), then for each commit in order: build it "
                       "incrementally in build/series/ (make and ccache redo only what it "
                       "changed; the base is built first), fail on compiler warnings new in "
                       "the files it touches, run checkpatch.pl --strict on it, boot it and "
                       "run the integrity suite on a few filesystems. Writes series.md (a "
                       "table per commit, the first failing commit with its reason), the "
                       "patches and checkpatch reports under series/, and per-commit JUnit.")
    _add_config(p)
    _add_boot(p, timeout=1200)
    _add_fs(p, "for the integrity subset", " ".join(SUBSET_FILESYSTEMS))
    p.add_argument("--filter", metavar="SUBSTRING",
                   help="run only the integrity cases whose name contains SUBSTRING")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the integrity suite's random tests (default: random, recorded)")
    p.add_argument("--checkpatch-ignore", metavar="TYPES", default=",".join(
                       DEFAULT_CHECKPATCH_IGNORE),
                   type=lambda text: tuple(t for t in text.split(",") if t),
                   help="checkpatch message types not to count, comma-separated (default: "
                        f"{','.join(DEFAULT_CHECKPATCH_IGNORE)}; '' counts every type)")
    _add_patches(p)
    _add_jobs(p)
    p.set_defaults(command=lambda a: (series_command, SeriesOptions(
        workdir=a.workdir, **_boot_options(a), patches=a.patches,
        config=_config(a), selection=TestSelection(
            "integrity", tuple(a.filesystems or SUBSET_FILESYSTEMS), seed=a.seed,
            case_filter=a.filter),
        checkpatch_ignore=a.checkpatch_ignore, jobs=a.jobs)))


def _precheck_parser(sub: Any) -> None:
    names = ", ".join(f"{t.slug} ({t.name})" for t in PRECHECK_TARGETS)
    p = sub.add_parser("precheck", help="the builds the robots will do: W=1, sparse, clang, "
                       "i386, arm64, options off, for every commit",
                       description="Apply the series, then build the objects it touches at "
                       "the base and at every commit, in each configuration the kernel test "
                       "robot builds: " + names + ". Each configuration has its own build "
                       "directory under build/precheck/ (make and ccache redo only what a "
                       "commit changed). A commit fails a configuration when the objects do "
                       "not build or a file it touches has a warning it did not have; a "
                       "configuration whose tools are not installed, or whose options do "
                       "not survive olddefconfig on its architecture, is skipped, saying "
                       "why. Writes precheck/precheck.txt (commits x configurations, the "
                       "first failing commit) and precheck.json, and keeps every log.")
    p.add_argument("--config", dest="targets", action="append", default=[],
                   metavar="NAME", help="only this configuration (repeatable; default: all)")
    _add_patches(p)
    _add_jobs(p)
    p.set_defaults(command=lambda a: (precheck_command, PrecheckOptions(
        workdir=a.workdir, patches=a.patches, targets=tuple(a.targets), jobs=a.jobs)))


def _evidence_parser(sub: Any) -> None:
    p = sub.add_parser("evidence", help="the submission through b4: messages, a plain-text "
                       "cover letter with the results, artefacts, manifest",
                       description="Write evidence/vN/: the messages `b4 send` would send "
                       "(b4 send -o, nothing is mailed) of the tested series re-authored by "
                       "your git identity (user.name, user.email; required) on the enrolled "
                       "b4 prep branch b4/stable-splice, revision N; recipients from b4 prep "
                       "--auto-to-cc (get_maintainer.pl) plus linux-fsdevel, linux-api, "
                       "linux-man, netdev and io-uring; b4 prep --check (checkpatch "
                       "--strict). The plain-text cover letter (75 columns) is "
                       "cover-letter.txt of the series' directory (as wb apply chooses it, or "
                       "--patches DIR), else of its parent (patches/cover-letter.txt), "
                       "filled with summaries of the newest finished `wb all`, `wb series` "
                       "and `wb bench` runs of the series head; each of its claims names its "
                       "tests as [test: GLOB] (claims.txt). The bundle has those runs' "
                       "JUnit/JSON/plots, evidence.json and MANIFEST.sha256; with v(N-1) "
                       "present, the letter says what changed in the results and has the "
                       "range-diff. Refuses when a cited run is missing, incomplete or "
                       "failed, a claim has no passing test, a line is too wide or b4 prep "
                       "--check finds a problem, naming each, unless --force.")
    p.add_argument("-v", "--reroll-count", dest="version", type=int, default=1, metavar="N",
                   help="revision of the series (default: 1)")
    p.add_argument("--out", type=Path, help="where the vN directories go (default: "
                   "<workdir>/evidence)")
    p.add_argument("--force", action="store_true",
                   help="write the evidence even from missing, incomplete or failing runs "
                        "(the cover letter lists them)")
    p.add_argument("--backport", type=Path, metavar="WORKDIR",
                   help="the work directory of a tree that carries the backport (e.g. "
                        "`wb tree --kernel 6.12` there, then its `wb all`, `wb series`, "
                        "`wb bench`): the cover letter gets its results too; a tree with "
                        "the mainline series needs it (else: refused unless --force)")
    _add_patches(p)
    p.set_defaults(command=lambda a: (evidence_command, EvidenceOptions(
        workdir=a.workdir, version=a.version, out=a.out, force=a.force,
        patches=a.patches, backport=a.backport)))


def _junit_merge_parser(sub: Any) -> None:
    p = sub.add_parser("junit-merge", help="merge JUnit reports (CI jobs) into one",
                       description="Merge junit.xml files, e.g. the artefacts of a CI matrix, "
                       "into one report. Each suite's name is prefixed with a label made of "
                       "the directory below the files' common parent (the job) and the file's "
                       "own directory. Works without a work directory; exit status 1 when "
                       "the merged report has failures or errors.")
    p.add_argument("reports", nargs="+", type=Path, help="JUnit XML files")
    p.add_argument("--out", type=Path, required=True, help="the merged report to write")
    p.set_defaults(command=lambda a: (junit_merge_command, JunitMergeOptions(
        tuple(a.reports), a.out)))


def _all_parser(sub: Any) -> None:
    p = sub.add_parser("all", help="the main job: tree, apply, config, build, test both "
                       "variants, report",
                       description="Everything on the kernel tree (--tree, --kernel or "
                       "--tarball; else the one an earlier `wb tree --tree/--kernel/"
                       "--tarball` set up; else the default source, Debian's "
                       "linux-source-6.12): set up the tree, apply the series for its kernel "
                       "(as wb apply chooses it, or --patches DIR), configure and "
                       "build base "
                       "and patched, "
                       "boot each and run the in-guest tests, and write JUnit/JSON per "
                       "variant plus summary.md in the run directory. Steps already done "
                       "(tree, unchanged builds) are not redone.")
    _add_source(p, f"default: the tree `wb tree` set up, else {DEFAULT_KERNEL}")
    _add_patches(p)
    _add_config(p)
    _add_boot(p, timeout=1200)
    _add_tests(p)
    _add_debug(p)
    _add_jobs(p)
    p.set_defaults(command=lambda a: (all_command, AllOptions(
        workdir=a.workdir, debug=a.debug, **_boot_options(a),
        tree=_tree_choice(a), patches=a.patches, config=_config(a),
        selection=_selection(a), jobs=a.jobs)))


def _kcidb_parser(sub: Any) -> None:
    p = sub.add_parser("kcidb", help="a wb all run and its wb bench figures as KCIDB JSON",
                       description="Export a `wb all` run as KCIDB I/O v5.3 JSON, the "
                       "submission format of the KernelCI database: a checkout of the base "
                       "and one of the base with the series (patchset_hash of the series "
                       "files, in order), a build per kernel the run built (compiler, config, "
                       "status, duration, log), a test per KTAP result of each kernel (status "
                       "PASS/FAIL/SKIP/ERROR/MISS), and the figures of the newest finished "
                       "`wb bench` run of the same series head as tests with status DONE and "
                       "a number. Validated against kcidb_io's schema before anything is "
                       "written; needs no run directory of its own.")
    p.add_argument("--run", type=Path, metavar="RUNDIR",
                   help="the `wb all` run to export: its directory or its name in runs/ "
                        "(default: the newest finished run of the tree's series head, with "
                        "the integrity suite on every file system, as `wb evidence` cites it)")
    p.add_argument("-o", "--out", metavar="FILE",
                   help="where to write it, '-' for standard output (default: kcidb.json in "
                        "the run directory; a file in a run directory is never overwritten)")
    p.add_argument("--origin", default=KCIDB_ORIGIN,
                   help=f"the CI system's name in KCIDB, the prefix of every id: lower-case "
                        f"letters, digits, _ (default: {KCIDB_ORIGIN})")
    p.add_argument("--tree-name", metavar="NAME",
                   help="the checkouts' tree_name (default: the kernel tarball's name, e.g. "
                        "linux-source-6.12, or the checkout's directory name)")
    p.set_defaults(command=lambda a: (kcidb_command, KcidbOptions(
        workdir=a.workdir, run=a.run, out=a.out, origin=a.origin, tree_name=a.tree_name)))


def _b4_check_parser(sub: Any) -> None:
    p = sub.add_parser("b4-check", help="b4 review's external check: the runs' verdict on a "
                       "patch or cover letter mail",
                       description="A check command for b4 0.16's `b4 review` "
                       "(b4.review-perpatch-check-cmd, b4.review-series-check-cmd): reads a "
                       "patch or cover letter mail on standard input and prints the JSON b4 "
                       "reads: for patch k/M, the `wb series` verdict (build, new warnings, "
                       "checkpatch, boot and integrity subset) of the commit of the tree's "
                       "series with its subject; for the cover letter (0/M), the `wb all`, "
                       "`wb series` and `wb bench` verdicts of the series head; each says "
                       "whether its run tested the current head. A mail that matches no "
                       "commit, or a missing run, is a warning saying what to run. Exit "
                       "status 0 whenever it printed JSON. Reads runs only: it neither "
                       "makes a run directory nor waits for a running wb.")
    p.add_argument("--series", action="store_true",
                   help="the series' verdicts whatever the mail (for "
                        "b4.review-series-check-cmd: b4 runs it on the first patch of a "
                        "series without a cover letter)")
    p.set_defaults(command=lambda a: (b4_check_command, B4CheckOptions(
        workdir=a.workdir, series=a.series)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wb", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--workdir", help="work directory (default: $WB_WORKDIR, else work/ "
                        "of the checkout wb runs from, else ./work)")
    sub = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")
    for add in (_tree_parser, _apply_parser, _config_parser, _build_parser, _run_parser,
                _test_parser, _bench_parser, _series_parser, _precheck_parser, _evidence_parser,
                _junit_merge_parser, _all_parser, _kcidb_parser, _b4_check_parser):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A shell script that starts wb as a background job (`wb all &`) leaves
    # SIGINT ignored, and Python then never raises KeyboardInterrupt: Ctrl-C
    # or CI cancelling the job would leave QEMU running and the run unmarked.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    execute, options = args.command(args)
    try:
        if isinstance(options, JunitMergeOptions):
            return junit_merge_command(options)
        if isinstance(options, (KcidbOptions, B4CheckOptions)):
            return int(execute(options))  # they only read runs: no run directory
        return run_command(args.name, execute, options)
    except WorkbenchError as err:
        print(f"wb: error: {err}", file=sys.stderr)
        if err.hint:
            print(f"wb: hint: {err.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log.warn("interrupted; finished steps are kept, the run is marked incomplete")
        return 130
