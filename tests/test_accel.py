"""The accelerator: KVM only when a kernel really boots under it.

The probe boots are replayed from QEMU's behaviour captured on these hosts
(tests/data/golden/kvm-probe-*.json, tests/capture_golden.py kvm-probe):
- kvm-probe-host.json: with vng's "-cpu host", QEMU aborts at once
  ("failed to set MSR");
- kvm-probe-default-cpu.json: with QEMU's default CPU model, QEMU runs under
  KVM but the kernel prints nothing, while the same image under TCG prints
  its banner within a second.
No host here has a working KVM; a working one is a kernel printing its banner,
which the captured TCG boot of the same image shows (real output and timing).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FAKES
from workbench import accel
from workbench.accel import Accel, Accelerator, ProbeBoot, judge, probe, requested_accel
from workbench.errors import WorkbenchError

ABORTS = "kvm-probe-host.json"
SILENT = "kvm-probe-default-cpu.json"


def golden_boots(data: Path, name: str) -> dict[str, ProbeBoot]:
    record = json.loads((data / "golden" / name).read_text())
    return {k: ProbeBoot(v["accel"], tuple(tuple(c) for c in v["chunks"]), v["exit_status"],
                         v["seconds"]) for k, v in record["boots"].items()}


def working_kvm(data: Path) -> ProbeBoot:
    """The captured TCG boot's output and timing, standing for a KVM boot that works."""
    tcg = golden_boots(data, SILENT)["tcg"]
    return ProbeBoot("kvm", tcg.chunks, tcg.exit_status, tcg.seconds)


def working_kvm_host(data: Path, tmp_path: Path) -> Path:
    """Probe boots of a host whose KVM works: the captured TCG boot of the
    image (its real output and timing) stands for the KVM boot."""
    record = json.loads((data / "golden" / SILENT).read_text())
    record["boots"]["kvm"] = record["boots"]["tcg"] | {"accel": "kvm"}
    path = tmp_path / "working.json"
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch, data: Path):
    """QEMU replaced by the replay of a captured host; /dev/kvm present."""
    kvm_device = tmp_path / "kvm"
    kvm_device.touch()
    monkeypatch.setattr(accel, "KVM_DEVICE", kvm_device)
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    calls = tmp_path / "qemu-calls"
    monkeypatch.setenv("FAKE_QEMU_CALLS", str(calls))

    def use(golden: str | Path) -> Path:
        path = golden if isinstance(golden, Path) else data / "golden" / golden
        monkeypatch.setenv("FAKE_QEMU_PROBES", str(path))
        return calls
    return use


def probes(calls: Path) -> list[str]:
    lines = calls.read_text().splitlines() if calls.exists() else []
    return [line.split()[1] for line in lines if line.startswith("-accel")]


def test_qemu_that_aborts_under_kvm_means_tcg(data: Path):
    boots = golden_boots(data, ABORTS)
    assert boots["kvm"].exit_status not in (None, 0)
    chosen = judge(boots["kvm"], None)
    assert chosen.name == "tcg"
    assert "QEMU fails with it" in chosen.reason
    assert "failed to set MSR" in chosen.reason


def test_kvm_guest_that_prints_nothing_means_tcg(data: Path):
    boots = golden_boots(data, SILENT)
    assert boots["kvm"].exit_status is None and boots["kvm"].banner_seconds is None
    chosen = judge(boots["kvm"], boots["tcg"])
    assert chosen.name == "tcg"
    assert "printed nothing" in chosen.reason
    assert f"printed its banner in {boots['tcg'].banner_seconds:.1f} s" in chosen.reason


def test_kernel_banner_under_kvm_means_kvm(data: Path):
    chosen = judge(working_kvm(data), None)
    assert chosen == Accel("kvm", f"a kernel under KVM printed its banner in "
                                  f"{working_kvm(data).banner_seconds:.1f} s")


def test_silent_under_both_says_so(data: Path):
    silent = golden_boots(data, SILENT)["kvm"]
    chosen = judge(silent, ProbeBoot("tcg", silent.chunks, None, silent.seconds))
    assert chosen.name == "tcg" and "nor under TCG" in chosen.reason


def test_probe_boots_the_image_and_stops_at_qemus_abort(fake_host, tmp_path: Path):
    calls = fake_host(ABORTS)
    chosen = probe(tmp_path / "bzImage")
    assert chosen.name == "tcg" and "failed to set MSR" in chosen.reason
    assert probes(calls) == ["kvm"]  # no TCG boot needed to explain an abort
    assert "-kernel" in calls.read_text() and "console=ttyS0" in calls.read_text()


def test_probe_of_a_silent_kvm_boots_the_same_image_under_tcg(fake_host, tmp_path: Path):
    calls = fake_host(SILENT)
    chosen = probe(tmp_path / "bzImage", limit=3)
    assert chosen.name == "tcg"
    assert "printed nothing in 3 s, while the same image under TCG printed its banner" in \
        chosen.reason
    assert probes(calls) == ["kvm", "tcg"]


def test_choice_is_probed_once_per_host_boot(fake_host, tmp_path: Path):
    calls = fake_host(ABORTS)
    cache = tmp_path / "accel.json"
    first = Accelerator(cache).choose(tmp_path / "bzImage")
    again = Accelerator(cache).choose(tmp_path / "bzImage")
    assert first == again and first.name == "tcg"
    assert probes(calls) == ["kvm"]
    # A record from another host boot (or QEMU binary) is not trusted.
    record = json.loads(cache.read_text())
    cache.write_text(json.dumps(record | {"key": "another-boot"}))
    Accelerator(cache).choose(tmp_path / "bzImage")
    assert probes(calls) == ["kvm", "kvm"]


def test_requested_tcg_probes_nothing(fake_host, tmp_path: Path):
    calls = fake_host(ABORTS)
    chosen = Accelerator(tmp_path / "accel.json", "tcg").choose(tmp_path / "bzImage")
    assert chosen == Accel("tcg", "requested (--accel tcg)")
    assert probes(calls) == []


def test_requested_kvm_where_it_is_unusable_is_an_error(fake_host, tmp_path: Path):
    fake_host(ABORTS)
    cache = tmp_path / "accel.json"
    with pytest.raises(WorkbenchError, match="--accel kvm, but KVM is unusable here: "
                                             "KVM is present but QEMU fails"):
        Accelerator(cache, "kvm").choose(tmp_path / "bzImage")
    # Known from the probe now: refused before any build.
    with pytest.raises(WorkbenchError, match="failed to set MSR"):
        Accelerator(cache, "kvm", "WB_ACCEL=kvm").refuse_early()


def test_fall_back_holds_for_later_commands(fake_host, tmp_path: Path, data: Path):
    fake_host(working_kvm_host(data, tmp_path))
    cache = tmp_path / "accel.json"
    accelerator = Accelerator(cache)
    assert accelerator.choose(tmp_path / "bzImage").name == "kvm"
    accelerator.fall_back("a boot under KVM printed no kernel banner in 30 s")
    assert Accelerator(cache).choose(tmp_path / "bzImage") == Accel(
        "tcg", "a boot under KVM printed no kernel banner in 30 s")
    with pytest.raises(WorkbenchError, match="--accel kvm, but a boot under KVM"):
        Accelerator(cache, "kvm").fall_back("a boot under KVM printed no kernel banner")


def test_requested_accel_option_environment_default(monkeypatch):
    monkeypatch.delenv("WB_ACCEL", raising=False)
    assert requested_accel(None) == ("auto", "the default")
    monkeypatch.setenv("WB_ACCEL", "tcg")
    assert requested_accel(None) == ("tcg", "WB_ACCEL=tcg")
    assert requested_accel("kvm") == ("kvm", "--accel kvm")
    monkeypatch.setenv("WB_ACCEL", "qemu")
    with pytest.raises(WorkbenchError, match="WB_ACCEL='qemu' is not one of auto, kvm, tcg"):
        requested_accel(None)


# -- the real `wb run` against fakes: captured QEMU probes, captured consoles --

def fake_workdir(tmp_path: Path) -> Path:
    """A work directory with a built patched kernel, as far as `wb run` looks."""
    workdir = tmp_path / "work"
    image = workdir / "build/patched/arch/x86/boot/bzImage"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"not booted: vng and QEMU are replays")
    return workdir


def wb_run(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, dict]:
    workdir = tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workdir", str(workdir),
                           "run", "--exec", "true", "--timeout", "30", *args],
                          capture_output=True, text=True, env=os.environ | env)
    record = json.loads((workdir / "runs/latest/run.json").read_text())
    return proc.returncode, proc.stderr, record


@pytest.fixture
def fake_boots(tmp_path: Path, data: Path, fake_host):
    """vng replays a KVM boot that prints vng's preamble and then nothing
    (captured with vng on this host) and, under TCG, a real clean run."""
    fake_workdir(tmp_path)
    calls = tmp_path / "vng-calls"
    return calls, {"WB_VNG": str(FAKES / "vng"), "FAKE_VNG_CALLS": str(calls),
                   "FAKE_VNG_KVM_CONSOLE": str(data / "golden/kvm-silent-vng.console"),
                   "FAKE_VNG_KVM_HANGS": "1",
                   "FAKE_VNG_TCG_CONSOLE": str(data / "golden/exit0.console"),
                   "WB_KVM_SILENCE_SECONDS": "2", "WB_ACCEL": "auto"}


def test_wb_run_falls_back_to_tcg_when_the_kvm_boot_is_silent(tmp_path: Path, data: Path,
                                                               fake_boots, fake_host):
    calls, env = fake_boots
    fake_host(working_kvm_host(data, tmp_path))  # the probe passes: the kernel printed
    status, err, run = wb_run(tmp_path, env=env)
    assert status == 0, err
    assert ["--disable-kvm" in line for line in calls.read_text().splitlines()] == [False, True]
    assert run["accel"]["name"] == "tcg"
    assert "a boot under KVM printed no kernel banner in 2 s" in run["accel"]["reason"]
    assert err.count("accelerator TCG") == 1, "said once, with the reason"
    assert (Path(run["stages"]["run patched"]["console"]).parent
            / "console-patched-kvm-silent.log").exists()
    # Later commands on this host boot go straight to TCG.
    calls.unlink()
    status, err, run = wb_run(tmp_path, env=env)
    assert status == 0 and run["accel"]["name"] == "tcg"
    assert ["--disable-kvm" in line for line in calls.read_text().splitlines()] == [True]


def test_wb_run_accel_kvm_where_qemu_aborts_is_exit_2(tmp_path: Path, fake_boots, fake_host):
    _, env = fake_boots
    fake_host(ABORTS)
    status, err, run = wb_run(tmp_path, "--accel", "kvm", env=env)
    assert status == 2
    assert "--accel kvm, but KVM is unusable here" in err and "failed to set MSR" in err
    assert run["complete"] is False
    status, err, _ = wb_run(tmp_path, env=env | {"WB_ACCEL": "tcg"})
    assert status == 0 and "accelerator TCG: requested (WB_ACCEL=tcg)" in err


def test_wb_run_records_accelerator_and_tool_versions(tmp_path: Path, fake_boots, fake_host):
    _, env = fake_boots
    fake_host(ABORTS)
    status, err, run = wb_run(tmp_path, env=env)
    assert status == 0, err
    assert run["accel"]["name"] == "tcg" and "failed to set MSR" in run["accel"]["reason"]
    assert run["tools"]["qemu"] == json.loads(
        (Path(os.environ["FAKE_QEMU_PROBES"])).read_text())["qemu"]
    assert run["tools"]["virtme_ng"].startswith("1.")


def test_kvm_clock_benchmark_refuses_a_boot_that_fell_back_to_tcg(tmp_path: Path, data: Path,
                                                                  fake_boots, fake_host,
                                                                  monkeypatch):
    """A KVM boot that printed nothing is redone under TCG; its wall clock is
    not a kvm-clock sample, and the benchmark says so instead of mixing them."""
    from workbench import bench
    calls, env = fake_boots
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("workbench.boot.KVM_SILENCE_SECONDS", 2.0)
    fake_host(working_kvm_host(data, tmp_path))
    image = tmp_path / "work/build/patched/arch/x86/boot/bzImage"
    accelerator = Accelerator(tmp_path / "accel.json")
    assert bench.clock_mode(None, accelerator.choose(image)) == "kvm"
    with pytest.raises(WorkbenchError, match=r"fell back to TCG .*emulation noise"):
        bench.run_rounds({"patched": image}, tmp_path / "splice_perf", bench.QUICK, "kvm",
                         tmp_path / "bench", accelerator, timeout=30)
    assert accelerator.current.name == "tcg"


def test_icount_boots_are_tcg_and_recorded_as_such(fake_host, tmp_path: Path, data: Path):
    """QEMU's -icount needs TCG, also on a host whose KVM works; the run
    records what the boots used, not what the probe would have chosen."""
    calls = fake_host(working_kvm_host(data, tmp_path))
    recorded: list[Accel] = []
    accelerator = Accelerator(tmp_path / "accel.json", on_choice=recorded.append)
    pinned = accelerator.pinned_to_tcg("clock mode icount")
    assert pinned.choose(tmp_path / "bzImage") == Accel("tcg", "requested (clock mode icount)")
    assert recorded == [Accel("tcg", "requested (clock mode icount)")]
    assert probes(calls) == []
