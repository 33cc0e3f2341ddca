"""End to end on mainline: Debian's Linux 7.3-rc7 source, the series for
submission (patches/, chosen by the tree's version), built and booted like
the 6.12 main job of test_e2e.py, in a work directory of its own
(work/e2e-7.3/, or $WB_E2E_MAINLINE_WORKDIR). ccache, shared by every work
directory, serves what an earlier build compiled.

The 6.12 job checks the workbench itself (failures, hangs, Ctrl-C, reruns,
the per-commit series, bench); this one checks what differs on mainline: the
series that applies there, and that it holds with ext4's large folios.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.source import KNOWN_KERNELS
from workbench.workspace import PATCHES_DIR, PROJECT_ROOT

pytestmark = pytest.mark.e2e

WORKDIR = Path(os.environ.get("WB_E2E_MAINLINE_WORKDIR", PROJECT_ROOT / "work" / "e2e-7.3"))
TARBALL = KNOWN_KERNELS["7.3"].tarball


def wb(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workdir", str(WORKDIR), *args],
                          capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(proc.stderr[-6000:])
    return proc


@pytest.fixture(scope="session")
def mainline_job() -> Path:
    if not TARBALL.exists():
        pytest.skip(f"{TARBALL} not on this machine: {KNOWN_KERNELS['7.3'].how_to_get}")
    proc = wb("all", "--kernel", "7.3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (WORKDIR / "runs" / "latest").resolve()


def test_mainline_tree_gets_the_mainline_series(mainline_job: Path):
    applied = json.loads((mainline_job / "run.json").read_text())["stages"]["apply"]
    listed = [line for line in (PATCHES_DIR / "series").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert applied["patches"] == listed
    assert applied["series"] == str(PATCHES_DIR), "not the 6.12 backport"
    assert applied["kernels"] == ">=7.3"
    tree = json.loads((WORKDIR / "tree.json").read_text())
    assert tree["version"].startswith("7.3"), tree


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
