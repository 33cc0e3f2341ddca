"""Benchmark statistics, comparisons, tables and plots on samples recorded by a
real `wb bench --quick` run (icount, base and patched 6.12.117 kernels,
tests/data/golden/bench-quick.json)."""

import json

import numpy as np
import pytest

from conftest import DATA
from workbench import bench, stats

RECORDED = json.loads((DATA / "golden" / "bench-quick.json").read_text())
SAMPLES = RECORDED["samples"]


def series(**where) -> list[float]:
    values = bench.throughput(SAMPLES, **where)
    assert values, where
    return values


def test_recorded_run_interleaved_both_kernels_in_every_round():
    assert bench.boot_order(2, ("base", "patched")) == [
        (0, "base"), (0, "patched"), (1, "base"), (1, "patched")]
    rounds = {(s["round"], s["kernel"]) for s in SAMPLES}
    assert rounds == {(1, "base"), (1, "patched"), (2, "base"), (2, "patched")}
    assert {s["mode"] for s in SAMPLES} == {"icount"}


def test_estimate_is_the_median_with_an_interval_around_it():
    values = series(kernel="patched", method="splice", fs="ext4", sink="unix", size=65536)
    est = stats.estimate(values)
    assert est.median == pytest.approx(float(np.median(values)))
    assert est.low <= est.median <= est.high and est.n == len(values) == 6
    assert 0 <= est.spread < 0.05, "icount: a few percent at most between boots"
    # The same samples give the same interval: the bootstrap is seeded.
    assert stats.estimate(values) == est


def test_overlapping_intervals_say_no_measurable_difference():
    base = series(kernel="base", method="splice", fs="tmpfs", sink="unix", size=65536)
    patched = series(kernel="patched", method="splice", fs="tmpfs", sink="unix", size=65536)
    r = stats.ratio(patched, base)
    assert r.verdict == stats.NO_DIFFERENCE
    assert r.low <= r.value <= r.high


def test_separate_intervals_give_a_direction():
    plain = series(kernel="patched", method="splice", fs="ext4", sink="unix", size=65536)
    copy = series(kernel="patched", method="stable_copy", fs="ext4", sink="unix", size=65536)
    assert stats.ratio(copy, plain).verdict == "lower"
    assert stats.ratio(plain, copy).verdict == "higher"


def test_comparisons_cover_every_target_and_cell():
    comparisons = bench.compare(SAMPLES)
    cells = {(s["fs"], s["sink"], s["size"]) for s in SAMPLES if s["sink"] != "none"}
    assert len(comparisons) == len(bench.TARGETS) * len(cells)
    copy = [c for c in comparisons if c.target.startswith("stable copy")]
    # The copy target covers sockets from 64 KiB, nothing else.
    assert {(c.sink, c.size) for c in copy if c.applies} == {("unix", 65536)}
    # The zero-copy target: zero-copy file systems into /dev/null, the one
    # sink that still takes page references (sockets and files get copies).
    optimistic = [c for c in comparisons if c.target.startswith("stable optimistic")]
    assert {(c.fs, c.sink) for c in optimistic if c.applies} == {("ext4", "devnull")}


def test_markdown_table_rows_and_labels():
    comparisons = bench.compare(SAMPLES)
    text = bench.markdown(comparisons, SAMPLES, "icount", RECORDED["context"])
    rows = [line for line in text.splitlines() if line.startswith("| stable")
            or line.startswith("| plain")]
    assert len(rows) == len(comparisons)
    assert text.startswith("Clock: **icount**")
    assert "| ext4 | unix | 64K |" in text and "no measurable difference" in text
    assert "Cost of SPLICE_F_STABLE per 4 KiB request" in text
    assert "(wall clock under emulation: noise)" in bench.markdown(comparisons, SAMPLES, "tcg",
                                                                     {})


def test_report_writes_json_table_and_plots(tmp_path):
    md, js, plots, comparisons = bench.write_report(SAMPLES, tmp_path, "icount",
                                                    RECORDED["context"])
    record = json.loads(js.read_text())
    assert record["mode"] == "icount" and len(record["samples"]) == len(SAMPLES)
    assert len(record["comparisons"]) == len(comparisons)
    assert sorted(p.name for p in plots) == ["ratios.png", "throughput-ext4.png",
                                             "throughput-tmpfs.png"]
    for png in plots:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_clock_mode_defaults_and_refuses_kvm_without_kvm():
    from workbench.boot import Accel
    from workbench.errors import WorkbenchError
    tcg = Accel("tcg", "KVM is present but QEMU fails with it")
    assert bench.clock_mode(None, tcg) == "icount"
    assert bench.clock_mode(None, Accel("kvm", "KVM works")) == "kvm"
    assert bench.clock_mode("tcg", tcg) == "tcg"
    with pytest.raises(WorkbenchError, match="QEMU fails"):
        bench.clock_mode("kvm", tcg)


def test_figures_per_method_with_cpu_and_syscalls():
    rows = bench.figures(SAMPLES)
    row = next(r for r in rows if (r["kernel"], r["fs"], r["sink"], r["method"], r["size"])
               == ("patched", "ext4", "unix", "pread_write", 65536))
    # One pread and at least one write per 64 KiB request, and the receiver's
    # recv calls: at least 32 system calls per MiB.
    assert row["syscalls_per_mib"] >= 32 and row["n"] == 6
    assert row["mib_s_low"] <= row["mib_s"] <= row["mib_s_high"]
    assert row["cpu_s_per_gib"] > 0
    memcpy = [r for r in rows if r["method"] == "memcpy"]
    assert memcpy and {r["sink"] for r in memcpy} == {"none"}


def test_icount_figures_leave_out_other_guest_activity():
    """Recorded in a full run: three repetitions of patched plain splice took
    18-78 ms of guest time instead of 10.2 ms (other guest work ran on the one
    vCPU), while their CPU time stayed 10.25 ms."""
    recorded = json.loads((DATA / "golden" / "bench-btrfs-background.json").read_text())
    samples = recorded["samples"]
    assert max(s["seconds"] for s in samples) > 5 * min(s["seconds"] for s in samples)
    where = dict(fs="btrfs", sink="devnull", size=4096, method="splice")
    elapsed = [s["bytes"] / bench.MIB / s["seconds"] for s in samples
               if all(s[k] == v for k, v in (where | {"kernel": "patched"}).items())]
    base = bench.throughput(samples, kernel="base", **where)
    assert stats.ratio(elapsed, base).value < 0.9  # what elapsed time made of it
    ratio = stats.ratio(bench.throughput(samples, kernel="patched", **where), base)
    assert 0.99 < ratio.value < 1.0
