"""kernel_tests/splice_fuzz on the host kernel (no root: tmpfs in /dev/shm,
sockets). The host has no SPLICE_F_STABLE, so the stable classes skip, and
--assume-stable checks the checker: modelled as stable, plain splice must be
caught, shrunk, and written as a reproducer that reproduces by itself."""

import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def splice_fuzz(kselftest_headers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kernel_tests")
    subprocess.run(["make", "-s", "-C", str(PROJECT_ROOT / "kernel_tests"),
                    f"KDIR={kselftest_headers}", f"OUTPUT={out}", f"{out}/splice_fuzz"],
                   check=True, capture_output=True)
    return out / "splice_fuzz"


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="splice-fuzz-") as name:
        yield Path(name)


def fuzz(program: Path, directory: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), "--dir", str(directory), *args],
                          env={"SPLICE_TEST_OUT": str(out), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_no_false_alarm_on_the_host_kernel(splice_fuzz: Path, shm_dir: Path,
                                           tmp_path: Path) -> None:
    proc = fuzz(splice_fuzz, shm_dir, tmp_path, "--seconds", "4", "--seed", "7")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "seed 7" in proc.stdout
    assert re.search(r"^ok \d+ tmpfs\.stream_sources$", proc.stdout, re.M)
    assert re.search(r"throughput: \d+ sequences in [\d.]+ s of search", proc.stdout)
    assert list(tmp_path.iterdir()) == [], "no reproducer without a failure"


def test_plain_splice_modelled_as_stable_is_caught_shrunk_and_reproduced(
        splice_fuzz: Path, shm_dir: Path, tmp_path: Path) -> None:
    proc = fuzz(splice_fuzz, shm_dir, tmp_path, "--seconds", "3", "--seed", "7",
                "--assume-stable", "--shrink-seconds", "10", "--class", "file_stable")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert re.search(r"^not ok 1 tmpfs\.file_stable # .*stable data changed", proc.stdout, re.M)
    minimal = re.search(r"minimal sequence: (\d+) ops", proc.stdout)
    assert minimal and int(minimal.group(1)) <= 4, proc.stdout[-3000:]
    replay = re.search(r"replay: splice_fuzz --dir \S+ --replay '([^']+)'", proc.stdout)
    assert replay, proc.stdout[-3000:]
    # The replay line fails the same way again; without the model's
    # assumption it is plain splice doing what it may.
    again = fuzz(splice_fuzz, shm_dir, tmp_path / "replay", "--replay", replay.group(1),
                 "--assume-stable")
    assert "failed as stable data changed" in again.stdout, again.stdout
    honest = fuzz(splice_fuzz, shm_dir, tmp_path / "replay", "--replay", replay.group(1))
    assert "failed as" not in honest.stdout, honest.stdout
    # Each failure's standalone reproducer reproduces by itself.
    sources = sorted(tmp_path.glob("splice_fuzz-repro-tmpfs-file_stable-*.c"))
    assert len(sources) == proc.stdout.count("minimal sequence:")
    for source in sources:
        subprocess.run(["cc", "-o", str(tmp_path / "repro"), str(source)], check=True)
        repro = subprocess.run([str(tmp_path / "repro"), str(shm_dir)], capture_output=True,
                               text=True, timeout=60)
        assert repro.returncode == 1 and "REPRODUCED" in repro.stdout, (source, repro.stdout)
