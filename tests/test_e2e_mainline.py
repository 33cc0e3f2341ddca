"""End to end on mainline: Debian's Linux 7.3-rc7 source and the series for
submission (patches/, chosen by the tree's version), in a work directory of
its own (work/e2e-7.3/, or $WB_E2E_MAINLINE_WORKDIR). ccache, shared by every
work directory, serves what an earlier build compiled.

make test sets the tree up, applies the series and runs the robots' builds
of every commit on it (wb precheck, 32-bit and sparse): no kernel of its own,
because two more cold kernel builds would double its time. The 7.3 kernel
pair (`wb all --kernel 7.3`: that the series holds with ext4's large folios,
and the mainline evidence with the 6.12 job as its backport) is `make
test-mainline` (WB_E2E_EXTRA=mainline). The 6.12 job (test_e2e.py) checks
the workbench itself: failures, hangs, Ctrl-C, reruns, wb series, bench.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_wb

from workbench.source import KNOWN_KERNELS
from workbench.workspace import PATCHES_DIR, PROJECT_ROOT

pytestmark = pytest.mark.e2e

WORKDIR = Path(os.environ.get("WB_E2E_MAINLINE_WORKDIR", PROJECT_ROOT / "work" / "e2e-7.3"))
TARBALL = KNOWN_KERNELS["7.3"].tarball


def wb(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return e2e_wb.wb(WORKDIR, *args, timeout=timeout)


def _skip_without_tarball() -> None:
    if not TARBALL.exists():
        pytest.skip(f"{TARBALL} not on this machine: {KNOWN_KERNELS['7.3'].how_to_get}")


@pytest.fixture(scope="session")
def mainline_precheck() -> Path:
    """`wb precheck` of the mainline series in 32-bit (W=1) and with sparse:
    the tree set up from the tarball, the series applied, every commit's
    touched objects built in both configurations."""
    _skip_without_tarball()
    assert wb("tree", "--kernel", "7.3").returncode == 0
    proc = wb("precheck", "--config", "i386-w1", "--config", "sparse")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (WORKDIR / "runs" / "latest").resolve()


@pytest.fixture(scope="session")
def mainline_job() -> Path:
    _skip_without_tarball()
    proc = wb("all", "--kernel", "7.3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (WORKDIR / "runs" / "latest").resolve()


def test_mainline_tree_gets_the_mainline_series(mainline_precheck: Path):
    applied = json.loads((mainline_precheck / "run.json").read_text())["stages"]["apply"]
    listed = [line for line in (PATCHES_DIR / "series").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert applied["patches"] == listed
    assert applied["series"] == str(PATCHES_DIR), "not the 6.12 backport"
    assert applied["kernels"] == ">=7.3"
    tree = json.loads((WORKDIR / "tree.json").read_text())
    assert tree["version"].startswith("7.3"), tree


def test_precheck_of_the_mainline_series_in_32_bit_and_with_sparse(mainline_precheck: Path):
    """The robots' builds of the series as posted: a 32-bit build (where
    the cookie does not fit a u64: patch 5 once stored ~0ULL in an unsigned
    long, which gcc -Woverflow reports) and sparse, every commit; a sparse
    too old for the kernel is reported as not run, never as a pass."""
    text = (mainline_precheck / "precheck" / "precheck.txt").read_text()
    assert "Every commit passes every configuration that builds here." in text
    data = json.loads((mainline_precheck / "precheck" / "precheck.json").read_text())
    patches = json.loads((mainline_precheck / "run.json").read_text())["stages"]["apply"][
        "patches"]
    assert len(data["cells"]) == 2 * len(patches)
    assert {c["status"] for c in data["cells"] if c["configuration"] == "i386 W=1"} == {"PASS"}
    # Every object the series touches is enabled by the fragments.
    assert data["left_out"] == {}
    sparse_log = (mainline_precheck / "precheck" / "logs" / "sparse-base.log").read_text()
    sparse = [c for c in data["cells"] if c["configuration"] == "sparse"]
    if "sparse is not available or not up to date" in sparse_log:
        # 7.x wants a newer sparse than Debian 12's 0.6.4: Kbuild then
        # builds unchecked, which precheck reports instead of passing.
        assert {c["status"] for c in sparse} == {"SKIP"}
        assert all(c["detail"].startswith("Kbuild ran no sparse") for c in sparse)
        assert "skipped sparse: Kbuild ran no sparse" in text
    else:
        assert "CHECK   " in sparse_log and "fs/splice.c" in sparse_log
        assert {c["status"] for c in sparse} == {"PASS"}


@pytest.mark.extra("mainline")
def test_stable_holds_on_every_filesystem_with_large_folios(mainline_job: Path):
    """Every stable cell passes (its data is OLD or the consumer got ESTALE),
    on base every stable cell skips; ext4 caches files in large folios on 7.3,
    so several buffers share a folio that truncation zeroes in place."""
    cells = {v: json.loads((mainline_job / f"tests-{v}" / "integrity.json").read_text())["cells"]
             for v in ("base", "patched")}
    stable = [c for c in cells["patched"] if c["mode"] == "stable"]
    assert {c["fs"] for c in stable} == {"tmpfs", "ext4", "xfs", "btrfs", "9p"}
    failed = [c["name"] for c in stable if c["result"] not in ("PASS", "SKIP")]
    assert not failed, failed
    assert not [c for c in stable if {"NEW", "TORN"} & set(c["observed"])]
    assert {c["result"] for c in cells["base"] if c["mode"] == "stable"} == {"SKIP"}
    # The reproducers show plain splice's problem on this kernel too.
    plain_ext4 = [c for c in cells["base"] if c["mode"] == "plain" and c["fs"] == "ext4"]
    assert any({"NEW", "TORN"} & set(c["observed"]) for c in plain_ext4)


BACKPORT_WORKDIR = Path(os.environ.get("WB_E2E_WORKDIR", PROJECT_ROOT / "work" / "e2e"))
SUBMITTER = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "user.name",
             "GIT_CONFIG_VALUE_0": "Ada Submitter", "GIT_CONFIG_KEY_1": "user.email",
             "GIT_CONFIG_VALUE_1": "ada@example.com"}


@pytest.mark.extra("mainline")
def test_evidence_on_mainline_carries_the_backport(tmp_path: Path, mainline_job: Path):
    """The 6.12 main job's work directory (test_e2e.py) is the backport's. Only
    wb all ran here: --force, and the cover letter lists the missing runs."""
    if not (BACKPORT_WORKDIR / "tree.json").exists():
        pytest.skip(f"no 6.12 work directory at {BACKPORT_WORKDIR}: run tests/test_e2e.py")
    out = tmp_path / "evidence"
    refused = subprocess.run(
        [sys.executable, "-m", "workbench", "--workdir", str(WORKDIR), "evidence", "-v", "1",
         "--out", str(out)], capture_output=True, text=True, env={**os.environ, **SUBMITTER})
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "no backport results: pass --backport WORKDIR" in refused.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "--workdir", str(WORKDIR), "evidence", "-v", "1",
         "--out", str(out), "--backport", str(BACKPORT_WORKDIR), "--force"],
        capture_output=True, text=True, env={**os.environ, **SUBMITTER})
    assert proc.returncode == 0, proc.stderr[-3000:]
    letter = (out / "v1" / "cover-letter.txt").read_text()
    tree = json.loads((WORKDIR / "tree.json").read_text())
    assert f"Base: {tree['version']}, commit {tree['base_commit']}\n" in letter
    flat = " ".join(letter.split())  # the letter is wrapped at 75 columns
    assert "Not an upstream commit: the base is linux-7.3-rc7-debian.tar.xz" in flat
    assert "Backport to Linux 6.12." in letter and "Cells with the flag, patched kernel:" \
        in letter
    assert flat.count("(base-commit: below names that commit)") == 1, "mainline's only"
    assert "evidence --backport work/6.12" in letter
    record = json.loads((out / "v1" / "evidence.json").read_text())
    assert record["base_upstream"] is False and record["series_dir"] == str(PATCHES_DIR)
    assert record["backport"]["kernel_version"].startswith("6.12.")
    assert record["backport"]["tests"]["patched"]["PASS"] > 0
    assert (out / "v1" / "backport" / "runs" / "all" / "run.json").exists()
    messages = sorted((out / "v1" / "messages").glob("*.eml"))
    assert len(messages) == 1 + len([line for line in (PATCHES_DIR / "series").read_text()
                                     .splitlines() if line.strip() and not line.startswith("#")])
    assert f"base-commit: {tree['base_commit']}" in messages[0].read_text()
