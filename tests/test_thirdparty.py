"""The third-party suite: finding, unpacking, patching and building liburing
and xfstests, and what it plans. Fake trees whose build steps log themselves
(fakes/thirdparty.py) stand in for the real ones; the project's own patches
are checked against the real snapshots."""

import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from fakes.thirdparty import fake_liburing, fake_xfstests, write_script
from workbench import thirdparty
from workbench.errors import WorkbenchError

SNAPSHOTS = Path(thirdparty.THIRD_PARTY_DIR)
GOLDEN = Path(__file__).parent / "data" / "golden"


@pytest.fixture
def own_patches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory of the workbench's patches to third-party trees."""
    patches = tmp_path / "patches"
    (patches / "liburing").mkdir(parents=True)
    monkeypatch.setattr(thirdparty, "PATCHES_DIR", patches)
    return patches


ADD_TEST = """\
--- a/test/splice-stable.c
+++ b/test/splice-stable.c
@@ -0,0 +1 @@
+/* ours */
"""


def test_no_snapshot_and_no_source_says_how_to_name_one(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thirdparty, "THIRD_PARTY_DIR", tmp_path)
    with pytest.raises(WorkbenchError, match=f"no liburing-COMMIT.tar.xz in {tmp_path}") as e:
        thirdparty.locate("liburing")
    assert e.value.hint and "--liburing PATH" in e.value.hint and "WB_THIRD_PARTY" in e.value.hint


def test_a_directory_that_is_not_the_project_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="not a xfstests tree \\(no ltp/fsstress.c\\)"):
        thirdparty.locate("xfstests", tmp_path)
    with pytest.raises(WorkbenchError, match="no such file or directory"):
        thirdparty.locate("xfstests", tmp_path / "missing.tar.xz")


def test_a_snapshot_names_its_upstream_commit(tmp_path: Path) -> None:
    tarball = tmp_path / "liburing-27255f4c.tar.xz"
    tarball.write_bytes(b"")
    assert thirdparty.locate("liburing", tarball).revision == "27255f4c"
    other = tmp_path / "liburing-latest.tar.gz"
    other.write_bytes(b"")
    assert thirdparty.locate("liburing", other).revision == "unknown"


def test_a_checkout_names_its_commit(tmp_path: Path) -> None:
    tree = fake_liburing(tmp_path)
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert thirdparty.locate("liburing", tree).revision == head


def test_plan_builds_once_with_our_patches_and_plans_every_filesystem(
        tmp_path: Path, own_patches: Path) -> None:
    (own_patches / "liburing/0001-add.patch").write_text(ADD_TEST)
    sources = tmp_path / "sources"
    uring = fake_liburing(sources)
    # xfstests from a tarball of one top-level directory, as the snapshots are.
    tarball = sources / "xfstests-63a29724.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(fake_xfstests(sources / "unpacked"), arcname="xfstests")
    root = tmp_path / "build"

    kernel = tmp_path / "linux"  # no selftests in it: they are planned as skips
    kernel.mkdir()
    plan = thirdparty.plan(root, tmp_path / "log", ("tmpfs", "ext4"), 7, kernel, uring, tarball)

    assert (root / "steps").read_text().split() == [
        "configure", "src", "splice.t", "splice-stable.t",
        "configure", "lib/default", "ltp/fsstress", "src/splice-test", "src/min_dio_alignment"]
    assert [t.name for t in plan] == [
        "thirdparty.liburing.splice.tmpfs", "thirdparty.liburing.splice.ext4",
        "thirdparty.liburing.splice-stable.tmpfs", "thirdparty.liburing.splice-stable.ext4",
        "thirdparty.xfstests.generic-591.tmpfs", "thirdparty.xfstests.generic-249.tmpfs",
        "thirdparty.fsstress.ext4", "thirdparty.xfstests.generic-591.ext4",
        "thirdparty.xfstests.generic-249.ext4",
        "thirdparty.kselftest.mm-cow.vmsplice", "thirdparty.kselftest.net-tls.splice"]
    skip = subprocess.run(["sh", "-c", plan[-1].command], capture_output=True, text=True)
    assert (skip.returncode, skip.stdout) == (
        4, "the kernel tree has no tools/testing/selftests/net/tls.c\n")
    built_uring = next(root.glob("liburing-*"))
    assert (built_uring / "test/splice-stable.c").read_text() == "/* ours */\n"
    assert not (uring / "test/splice-stable.c").exists(), "the user's tree is not touched"
    fsstress = next(t for t in plan if t.name == "thirdparty.fsstress.ext4").command
    assert " -s 7 " in fsstress and "-f splice=20" in fsstress and "-z" in fsstress

    # The same inputs again: nothing is rebuilt. A changed patch: a new tree.
    assert thirdparty.plan(root, tmp_path / "log", ("tmpfs", "ext4"), 7, kernel, uring,
                           tarball) == plan
    assert len((root / "steps").read_text().split()) == 9
    (own_patches / "liburing/0001-add.patch").write_text(ADD_TEST.replace("ours", "ours, v2"))
    thirdparty.plan(root, tmp_path / "log", ("tmpfs",), 7, kernel, uring, tarball)
    assert (root / "steps").read_text().split()[9:] == [
        "configure", "src", "splice.t", "splice-stable.t"]
    assert len(list(root.glob("liburing-*"))) == 2


def test_liburing_skip_is_the_runners_skip(tmp_path: Path, own_patches: Path) -> None:
    built = thirdparty.build_liburing(thirdparty.locate("liburing", fake_liburing(tmp_path)),
                                      tmp_path / "build", tmp_path / "log")
    test = thirdparty.liburing_plan(built, ("tmpfs",))[0]
    # The fake .t exits 77, liburing's T_EXIT_SKIP; guest-runner.sh's skip is 4.
    assert subprocess.run(["sh", "-c", test.command]).returncode == 4


def test_liburing_on_9p_skips_and_says_why(tmp_path: Path, own_patches: Path) -> None:
    built = thirdparty.build_liburing(thirdparty.locate("liburing", fake_liburing(tmp_path)),
                                      tmp_path / "build", tmp_path / "log")
    for test in thirdparty.liburing_plan(built, ("9p",)):
        proc = subprocess.run(["sh", "-c", test.command], capture_output=True, text=True)
        assert proc.returncode == 4 and "ftruncate" in proc.stdout, (test.name, proc)


def test_generic_591_uses_the_sector_size_the_filesystem_reports(
        tmp_path: Path, own_patches: Path) -> None:
    """The test's four splice-test runs get -s from min_dio_alignment, as
    generic/591 does; a fixed 4096 makes its concurrent reader miscount."""
    tree = fake_xfstests(tmp_path / "src")
    built = thirdparty.build_xfstests(thirdparty.locate("xfstests", tree), tmp_path / "build",
                                      tmp_path / "log")
    write_script(built.path / "src/min_dio_alignment", 'echo "$@" > ../calls; echo 512\n')
    write_script(built.path / "src/splice-test", 'echo "$@" >> ../calls\n')
    test = next(t for t in thirdparty.xfstests_plan(built, ("ext4",), 1)
                if t.name == "thirdparty.xfstests.generic-591.ext4")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["sh", "-c", test.command], cwd=built.path / "src",
                          env={"PATH": "/usr/bin:/bin", "SPLICE_TEST_DIR": str(mnt)})
    assert proc.returncode == 0
    calls = (built.path / "calls").read_text().splitlines()
    assert calls[0].split()[0] == str(mnt)  # the mount point, then its source
    assert calls[1:] == [f"{args} {mnt}/g591" for args in ("-s 512 -r", "-rd", "-s 512", "-d")]


def test_a_patch_that_does_not_apply_names_itself_and_builds_nothing(
        tmp_path: Path, own_patches: Path) -> None:
    (own_patches / "liburing/0001-change.patch").write_text(
        "--- a/test/splice.c\n+++ b/test/splice.c\n@@ -1 +1 @@\n-/* not there */\n+/* x */\n")
    root = tmp_path / "build"
    with pytest.raises(WorkbenchError, match="0001-change.patch does not apply to liburing"):
        thirdparty.build_liburing(thirdparty.locate("liburing", fake_liburing(tmp_path)),
                                  root, tmp_path / "log")
    assert not (root / "steps").exists()


@pytest.mark.parametrize("name", ["liburing", "xfstests"])
def test_our_patches_apply_to_the_snapshots(tmp_path: Path, name: str) -> None:
    """What kernel_tests/thirdparty holds stays applicable to ../shared/third_party."""
    source = thirdparty.locate(name)
    tree = tmp_path / name
    thirdparty.unpack_single_directory(source.path, tree)
    for patch in thirdparty.own_patches(name):
        subprocess.run(["patch", "-p1", "--dry-run", "--batch", "--forward", "-s",
                        "-d", str(tree), "-i", str(patch)], check=True)
    assert (tree / thirdparty.MARKER[name]).is_file()


# mm/cow as the host kernel (6.18, THP on, no swap) ran it: flat TAP whose
# results are named by outcome, the case in the "# [RUN]" line before each.
COW_OUTPUT = GOLDEN / "mm-cow-host.tap"


def ksft_select(tmp_path: Path, output: str, pattern: str = "vmsplice",
                status: str = "exit 0") -> subprocess.CompletedProcess:
    program = tmp_path / "cow"
    write_script(program, f"cat {tmp_path / 'out'}\n{status}\n")
    (tmp_path / "out").write_text(output)
    return subprocess.run(["sh", str(thirdparty.KSFT_SELECT), pattern, str(program)],
                          capture_output=True, text=True)


def test_ksft_select_names_cow_cases_by_their_run_line(tmp_path: Path) -> None:
    proc = ksft_select(tmp_path, COW_OUTPUT.read_text(), status="exit 1")
    assert proc.returncode == 0, proc.stdout  # cow's own status counts dropped cases
    results = [line for line in proc.stdout.splitlines() if line.startswith(("ok", "not ok"))]
    names = [re.sub(r"^ok \d+ | # .*$", "", line) for line in results]
    assert proc.stdout.startswith("KTAP version 1\n1..216\n") and len(results) == 216
    assert len(set(names)) == 216 and all("vmsplice" in n for n in names)
    assert results[0] == "ok 1 vmsplice() + unmap in child ... with base page"
    assert results[1].endswith("with swapped out base page "
                               "# SKIP MADV_PAGEOUT did not work, is swap enabled?")


def test_ksft_select_fails_on_a_kept_failure_only(tmp_path: Path) -> None:
    text = COW_OUTPUT.read_text()
    run = "# [RUN] vmsplice() + unmap in child ... with base page\nok 109 No leak"
    assert run in text
    proc = ksft_select(tmp_path, text.replace(run, run.replace("ok 109 No", "not ok 109")))
    assert proc.returncode == 1
    assert "not ok 1 vmsplice() + unmap in child ... with base page # leak from parent" \
        in proc.stdout
    # A failure of a case that does not splice is not reported.
    other = "# [RUN] Basic COW after fork() ... with base page\nok"
    assert other in text
    proc = ksft_select(tmp_path, text.replace(other, other[:-2] + "not ok"))
    assert proc.returncode == 0 and "not ok" not in proc.stdout


def test_ksft_select_fails_when_the_program_dies_and_skips_when_nothing_matches(
        tmp_path: Path) -> None:
    proc = ksft_select(tmp_path, COW_OUTPUT.read_text(), status="kill -SEGV $$")
    assert proc.returncode == 1 and "died of signal 11" in proc.stdout
    proc = ksft_select(tmp_path, COW_OUTPUT.read_text(), pattern="splice_nothing")
    assert proc.returncode == 4 and "1..0" in proc.stdout
    missing = subprocess.run(["sh", str(thirdparty.KSFT_SELECT), "vmsplice",
                              str(tmp_path / "no-cow")], capture_output=True, text=True)
    assert missing.returncode == 1 and "could not be run (exit 127)" in missing.stdout


def test_tls_backport_fix_drops_only_the_missing_argument() -> None:
    broken = ("static void tls_crypto_info_init(uint16_t v, uint16_t c,\n"
              "\t\t\t\t struct tls_crypto_info_keys *tls12)\n{\n}\n"
              "\ttls_crypto_info_init(variant->tls_version, variant->cipher_type,\n"
              "\t\t\t     &tls12, 1);\n"
              "\ttls_crypto_info_init(variant->tls_version, variant->cipher_type, &tls12);\n")
    fixed = thirdparty.fix_tls_rekey_backport(broken)
    assert "&tls12, 1)" not in fixed and fixed.count("&tls12);") == 2
    # Mainline's definition takes the key generation: nothing is changed.
    mainline = broken.replace("*tls12)\n{", "*tls12,\n\t\t\t\t char key_generation)\n{")
    assert thirdparty.fix_tls_rekey_backport(mainline) == mainline


def test_kernel_tls_selftest_builds_from_the_real_source_and_selects_splice_cases(
        kernel_selftest_sources: Path, tmp_path: Path) -> None:
    """6.12.118's tls.c (which does not compile as shipped) built with the
    fix; every case the plan names exists in the binary's own list."""
    plan = thirdparty.kernel_selftests_plan(kernel_selftest_sources, tmp_path,
                                            tmp_path / "log")
    tls = next(t for t in plan if t.name == "thirdparty.kselftest.net-tls.splice")
    binary = tmp_path / "kselftest" / "tls"
    listing = subprocess.run([str(binary), "-l"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout  # on stderr
    selected = re.findall(r"-r tls\.(\w+)\.(\w+)", tls.command)
    assert len(selected) == 18 and ("13_aes_gcm", "splice_to_pipe") in selected
    assert all(re.search(rf"\b{v}\b", listing) and re.search(rf"\b{t}\b", listing)
               for v, t in selected)
    assert not any("rekey" in t for _, t in selected)
    assert "tcp_available_ulp" in tls.command, "no silent pass without kTLS"
