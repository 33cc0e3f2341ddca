"""The third-party suite: splice tests nobody here wrote, run in the guest.

liburing's io_uring splice tests, xfstests' fsstress (its ``splice`` op
mixed with the ways a file changes) and the commands of its splice tests
(generic/591 and generic/249), run directly in the guest rather
than under fstests' ``check``, and the kernel tree's own selftests that
splice (mm/cow's vmsplice cases, net/tls's splice cases, on kTLS). Sources are snapshots whose file name carries
the upstream commit (``NAME-COMMIT.tar.xz`` in ``THIRD_PARTY_DIR``) or a
user's own checkout or tarball; the workbench's additions to them
(``kernel_tests/thirdparty/NAME/*.patch``: the tests an upstream submission
adds there) are applied on top. Each source is unpacked and built once per
(source, patches) under the tests' build directory.
"""

import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from workbench import log
from workbench.build import install_uapi_headers
from workbench.digest import digest
from workbench.errors import WorkbenchError
from workbench.proc import git, run
from workbench.testplan import PlannedTest
from workbench.workspace import KERNEL_TESTS_DIR, PROJECT_ROOT

THIRD_PARTY_DIR = Path(os.environ.get("WB_THIRD_PARTY",
                                      PROJECT_ROOT.parent / "shared" / "third_party"))
PATCHES_DIR = KERNEL_TESTS_DIR / "thirdparty"
UPSTREAM = {"liburing": "https://github.com/axboe/liburing",
            "xfstests": "https://git.kernel.org/pub/scm/fs/xfs/xfstests-dev.git"}
# A file that only a tree of that project has.
MARKER = {"liburing": "test/splice.c", "xfstests": "ltp/fsstress.c"}
# liburing's splice tests: upstream's, and ours (from PATCHES_DIR/liburing).
LIBURING_TESTS = ("splice", "splice-stable")
LIBURING_SKIP = 77  # liburing's T_EXIT_SKIP
# Where liburing's tests cannot run, and why (measured in the guest, base kernel).
LIBURING_UNSUPPORTED = {
    "9p": "liburing truncates files it has unlinked; 9p fails ftruncate on them (ENOENT)"}
DISK_FILESYSTEMS = ("ext4", "xfs", "btrfs")  # where fsstress runs: clone, collapse, ...
# fsstress: the splice op among the operations that change a file's data
# under it; the op names are ltp/fsstress.c's.
FSSTRESS_OPS = {"splice": 20, "write": 10, "writev": 4, "mwrite": 6, "read": 6, "mread": 4,
                "clonerange": 4, "deduperange": 4, "copyrange": 4, "zero": 3, "collapse": 3,
                "insert": 3, "punch": 3, "truncate": 4, "fsync": 2, "creat": 4, "unlink": 2,
                "rename": 2, "dwrite": 2, "dread": 2}
FSSTRESS_OPERATIONS = 2000  # per process, 2 processes: about 40 s per filesystem under TCG
# The kernel tree's selftests, built against its own uapi headers.
SELFTESTS = "tools/testing/selftests"
KSFT_SELECT = KERNEL_TESTS_DIR / "thirdparty" / "ksft-select.sh"
# net/tls: the ciphers every kTLS build has (configs/net.config); rekey cases
# need key updates, which 6.12's kTLS lacks.
TLS_VARIANTS = ("12_aes_gcm", "13_aes_gcm")
_TLS_SPLICE_TEST = re.compile(r"^TEST_F\(tls, (\w*splice\w*)\)", re.M)
_SNAPSHOT_NAME = re.compile(r"^(?P<name>[a-z]+)-(?P<commit>[0-9a-f]{7,40})\.tar\.(xz|gz|bz2)$")


@dataclass(frozen=True)
class Source:
    name: str  # "liburing" or "xfstests"
    path: Path  # a tarball or a directory
    revision: str  # the upstream commit, as far as known


@dataclass(frozen=True)
class Built:
    source: Source
    path: Path  # the unpacked, patched and built tree
    patches: tuple[str, ...]  # the workbench's patches applied to it


def locate(name: str, given: Path | None = None) -> Source:
    """The source of ``name``: ``given`` (a checkout or a tarball), else the
    newest snapshot in THIRD_PARTY_DIR; a clear error without either."""
    if given is None:
        snapshots = sorted(THIRD_PARTY_DIR.glob(f"{name}-*.tar.*"), key=lambda p: p.stat().st_mtime)
        if not snapshots:
            raise WorkbenchError(
                f"no {name} source for the third-party suite: no {name}-COMMIT.tar.xz in "
                f"{THIRD_PARTY_DIR}",
                hint=f"name a checkout of {UPSTREAM[name]} (or a tarball of one) with "
                     f"--{name} PATH, or set WB_THIRD_PARTY to a directory of snapshots")
        given = snapshots[-1]
    if given.is_dir():
        if not (given / MARKER[name]).is_file():
            raise WorkbenchError(f"--{name} {given}: not a {name} tree (no {MARKER[name]})")
        revision = git(given, "rev-parse", "HEAD") if (given / ".git").exists() else "unknown"
        return Source(name, given.resolve(), revision)
    if not given.is_file():
        raise WorkbenchError(f"--{name} {given}: no such file or directory")
    match = _SNAPSHOT_NAME.match(given.name)
    return Source(name, given.resolve(), match["commit"] if match else "unknown")


def own_patches(name: str) -> list[Path]:
    return sorted((PATCHES_DIR / name).glob("*.patch"))


def prepare(source: Source, root: Path, log_path: Path) -> tuple[Path, bool]:
    """Unpack ``source`` with our patches applied under ``root``: (tree, built
    already). The directory's name is a digest of its inputs."""
    patches = own_patches(source.name)
    key = digest([str(source.path), source.revision,
                  str(source.path.stat().st_mtime_ns) if source.path.is_file() else "",
                  *(p.read_bytes() for p in patches)])[:12]
    tree = root / f"{source.name}-{key}"
    if (tree / ".wb-built").exists():
        return tree, True
    shutil.rmtree(tree, ignore_errors=True)
    log.info(f"third-party: unpacking {source.name} {source.revision[:12]} from {source.path}")
    if source.path.is_dir():
        shutil.copytree(source.path, tree, symlinks=True,
                        ignore=shutil.ignore_patterns(".git"))
    else:
        unpack_single_directory(source.path, tree)
    for patch in patches:
        proc = run(["patch", "-p1", "--forward", "--batch", "-d", str(tree), "-i", str(patch)],
                   log=log_path, check=False)
        if proc.returncode != 0:
            raise WorkbenchError(f"{patch.name} does not apply to {source.name} "
                                 f"{source.revision[:12]} ({source.path})",
                                 hint=f"see {log_path}; the patch is against the snapshot in "
                                      f"{THIRD_PARTY_DIR}")
    return tree, False


def unpack_single_directory(tarball: Path, dest: Path) -> None:
    """Unpack a tarball holding one top-level directory as ``dest``."""
    staging = dest.with_name(dest.name + ".unpack")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(staging, filter="tar")
    except (tarfile.TarError, OSError) as e:
        raise WorkbenchError(f"cannot unpack {tarball}: {e}") from None
    tops = list(staging.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise WorkbenchError(f"{tarball} does not hold one top-level directory")
    tops[0].rename(dest)
    staging.rmdir()


def build_liburing(source: Source, root: Path, log_path: Path) -> Built:
    tree, done = prepare(source, root, log_path)
    if not done:
        log.info("third-party: building liburing's splice tests")
        run(["./configure"], cwd=tree, log=log_path)
        run(["make", "-C", "src"], cwd=tree, log=log_path)
        run(["make", "-C", "test", *(f"{t}.t" for t in LIBURING_TESTS)], cwd=tree, log=log_path)
        (tree / ".wb-built").touch()
    return Built(source, tree, tuple(p.name for p in own_patches(source.name)))


def build_xfstests(source: Source, root: Path, log_path: Path) -> Built:
    tree, done = prepare(source, root, log_path)
    if not done:
        log.info("third-party: building xfstests' fsstress and splice-test (about a minute)")
        run(["make", "configure"], cwd=tree, log=log_path)
        run(["./configure"], cwd=tree, log=log_path)
        run(["make", "-C", "lib"], cwd=tree, log=log_path)
        run(["make", "-C", "ltp", "fsstress"], cwd=tree, log=log_path)
        run(["make", "-C", "src", "splice-test", "min_dio_alignment"], cwd=tree, log=log_path)
        (tree / ".wb-built").touch()
    return Built(source, tree, tuple(p.name for p in own_patches(source.name)))


def liburing_plan(built: Built, filesystems: tuple[str, ...]) -> list[PlannedTest]:
    # liburing's tests exit 77 to skip; the guest runner's skip status is 4.
    return [PlannedTest(f"thirdparty.liburing.{t}.{fs}", fs,
                        f"echo '{LIBURING_UNSUPPORTED[fs]}'; exit 4"
                        if fs in LIBURING_UNSUPPORTED else
                        f"{built.path / 'test' / (t + '.t')}; rc=$?; "
                        f"[ $rc -eq {LIBURING_SKIP} ] && exit 4; exit $rc")
            for t in LIBURING_TESTS for fs in filesystems]


def xfstests_plan(built: Built, filesystems: tuple[str, ...], seed: int) -> list[PlannedTest]:
    fsstress = built.path / "ltp" / "fsstress"
    splice_test = built.path / "src" / "splice-test"
    # generic/591's sector size, found as the test finds it.
    dio_alignment = (f"$({built.path / 'src' / 'min_dio_alignment'} $SPLICE_TEST_DIR "
                     "$(findmnt -no SOURCE --target $SPLICE_TEST_DIR))")
    ops = " ".join(f"-f {op}={freq}" for op, freq in FSSTRESS_OPS.items())
    plan = []
    for fs in filesystems:
        if fs in DISK_FILESYSTEMS:
            plan.append(PlannedTest(
                f"thirdparty.fsstress.{fs}", fs,
                f"{fsstress} -d $SPLICE_TEST_DIR/fsstress -p 2 -n {FSSTRESS_OPERATIONS} "
                f"-s {seed} -z {ops}"))
        # generic/591: splice from a file into a pipe that is read, with and
        # without O_DIRECT, by a concurrent and by a sequential reader.
        plan.append(PlannedTest(
            f"thirdparty.xfstests.generic-591.{fs}", fs,
            f"sector={dio_alignment} && " + " && ".join(
                f"{splice_test} {args} $SPLICE_TEST_DIR/g591"
                for args in ("-s $sector -r", "-rd", "-s $sector", "-d"))))
        # generic/249: 32 MiB through sendfile(2), compared.
        plan.append(PlannedTest(
            f"thirdparty.xfstests.generic-249.{fs}", fs,
            'xfs_io -f -c "pwrite -S 0xa5a55a5a 0 32768k" -c fsync g249.src >/dev/null && '
            'xfs_io -f -c "sendfile -i g249.src 0 32768k" -c fsync g249.dst >/dev/null && '
            "cmp g249.src g249.dst"))
    return plan


def fix_tls_rekey_backport(source: str) -> str:
    """6.12.y's net/tls.c calls tls_crypto_info_init() with a key generation
    that its definition there lacks (the rekey tests were backported without
    the helper's new argument), so it does not compile: drop the argument.
    Only the rekey tests pass it, and they are not run here."""
    if not re.search(r"tls_crypto_info_init\([^)]*\*tls12\)\s*\{", source):
        return source  # the definition takes it: nothing to fix
    return re.sub(r"tls_crypto_info_init\(([^,;()]+),([^,;()]+),([^,;()]+),\s*\d+\)",
                  r"tls_crypto_info_init(\1,\2,\3)", source)


def kernel_selftests_plan(tree: Path, root: Path, log_path: Path) -> list[PlannedTest]:
    """Build mm/cow and net/tls from ``tree`` against its uapi headers (make
    headers_install) and plan their splice cases; a tree without one of
    them gets a skip that says so."""
    selftests = tree / SELFTESTS
    # 7.x renamed the mm selftests' thp_settings.c to hugepage_settings.c.
    settings = next((f for f in ("hugepage_settings.c", "thp_settings.c")
                     if (selftests / "mm" / f).is_file()), "thp_settings.c")
    sources = {"mm-cow.vmsplice": [selftests / "mm" / f
                                   for f in ("cow.c", "vm_util.c", settings)],
               "net-tls.splice": [selftests / "net" / "tls.c"]}
    plan, present = [], []
    for name, files in sources.items():
        absent = [p for p in files if not p.is_file()]
        if absent:
            plan.append(PlannedTest(f"thirdparty.kselftest.{name}", "none",
                                    f"echo 'the kernel tree has no "
                                    f"{absent[0].relative_to(tree)}'; exit 4"))
        else:
            present.append(name)
    if not present:
        return plan
    out = root / "kselftest"
    shutil.rmtree(out, ignore_errors=True)
    log.info("third-party: building the kernel tree's " + " and ".join(present) + " selftests")
    # Up to 6.x the selftests include "../kselftest.h", since 7.x "kselftest.h"
    # with the selftests directory on the include path, as lib.mk sets it.
    cflags = ["-O2", "-Wall", "-isystem", str(install_uapi_headers(tree, out, log_path)),
              "-iquote", str(selftests)]
    if "net-tls.splice" in present:
        tls_source = sources["net-tls.splice"][0]
        text = tls_source.read_text()
        # A fixed copy; its "../kselftest_harness.h" is found in the tree.
        copy = out / "net" / "tls.c"
        copy.parent.mkdir(parents=True)
        copy.write_text(fix_tls_rekey_backport(text))
        run(["gcc", *cflags, "-iquote", str(tls_source.parent), str(copy), "-o",
             str(out / "tls"), "-lpthread"], log=log_path)
        tests = sorted({t for t in _TLS_SPLICE_TEST.findall(text) if "rekey" not in t})
        selected = " ".join(f"-r tls.{v}.{t}" for v in TLS_VARIANTS for t in tests)
        # Without kTLS the harness says so once and passes every case on
        # plain TCP: fail instead.
        plan.append(PlannedTest(
            "thirdparty.kselftest.net-tls.splice", "none",
            "grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp || "
            "{ echo 'no kTLS in this kernel (CONFIG_TLS): the cases would pass on plain TCP'; "
            f"exit 1; }}; {out / 'tls'} {selected}"))
    if "mm-cow.vmsplice" in present:
        # cow.c includes "local_config.h" ("local_config.h_gen" since 7.x),
        # which the mm Makefile writes; empty, it leaves out the io_uring
        # cases, which do not splice.
        (out / "local_config.h").touch()
        (out / "local_config.h_gen").touch()
        run(["gcc", *cflags, "-I", str(out), *map(str, sources["mm-cow.vmsplice"]),
             "-o", str(out / "cow"), "-lrt", "-lpthread", "-lm"], log=log_path)
        plan.append(PlannedTest("thirdparty.kselftest.mm-cow.vmsplice", "none",
                                f"sh {KSFT_SELECT} vmsplice {out / 'cow'}"))
    return sorted(plan, key=lambda t: t.name)


def plan(root: Path, log_path: Path, filesystems: tuple[str, ...], seed: int,
         kernel_tree: Path, liburing: Path | None = None,
         xfstests: Path | None = None) -> list[PlannedTest]:
    """Locate, build and plan the suite; ``liburing``/``xfstests``: the
    user's sources instead of the snapshots; the kernel selftests come from
    ``kernel_tree``."""
    root.mkdir(parents=True, exist_ok=True)
    uring = build_liburing(locate("liburing", liburing), root, log_path)
    fstests = build_xfstests(locate("xfstests", xfstests), root, log_path)
    log.info(f"third-party: liburing {uring.source.revision[:12]}"
             f"{' + ' + ', '.join(uring.patches) if uring.patches else ''}; "
             f"xfstests {fstests.source.revision[:12]}")
    return (liburing_plan(uring, filesystems) + xfstests_plan(fstests, filesystems, seed) +
            kernel_selftests_plan(kernel_tree, root, log_path))
