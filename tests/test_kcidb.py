"""`wb kcidb`: a work directory's `wb all` and `wb bench` runs as KCIDB I/O
v5.3 JSON, checked with kcidb_io's own schema. The tree and its series are
real (`wb tree` and `wb apply` on the fake kernel tree); the runs are records
around them with the KTAP, consoles and bench samples of real boots
(tests/data/golden)."""

import datetime
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest
from kcidb_io.schema import LATEST, V5_3

from conftest import DATA
from fakes.applied import Applied, applied
from fakes.fakelinux import ADD_FLAG, KERNEL_VERSION, USE_FLAG, WARNS
from test_cli import wb
from test_evidence import ACCEL, TOOLS, make_run, variant_tested
from workbench import bench, kcidb, ktap
from workbench.errors import WorkbenchError
from workbench.evidence import CitedRun
from workbench.ktap import Result
from workbench.records import (ApplyStage, BenchStage, BuildStage, ConfigStage, RunRecord,
                               TreeStage)
from workbench.results import write_results
from workbench.status import Status, worst

GOLDEN = DATA / "golden"
ALL_RUN = "20261122-080000-all"
BENCH_RUN = "20261122-090000-bench"
COMPILER = "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"
FRAGMENTS = ["virtme", "filesystems", "net", "crashtest"]
MAKE = "make -C /work/linux O=/work/build/patched ARCH=x86_64 CC=ccache gcc -j2 bzImage"


@dataclass(frozen=True)
class Kernel:
    """One kernel of the made-up `wb all` run: its build, and the golden
    KTAP and console its boot wrote (None: the build failed, no boot)."""
    label: str
    status: Status
    golden: str | None


KERNELS = (Kernel("base", Status.FAIL, "failing"),  # FAIL, SKIP, XFAIL, TODO
           Kernel("patched", Status.OOPS, "warn-in-case"),  # a WARNING during case "second"
           Kernel("patched-debug", Status.PANIC, "crash-midway"),  # no result after a panic
           Kernel("base-debug", Status.BUILD_FAILURE, None))


def all_run(a: Applied, name: str = ALL_RUN, complete: bool = True) -> Path:
    """A `wb all` run of the tree's series with KERNELS' builds and boots."""
    stages = {"tree": TreeStage(Status.PASS, str(a.tree), KERNEL_VERSION, a.base,
                                str(a.checkout)),
              "apply": ApplyStage(Status.PASS, a.head, a.commits, a.apply["patches"],
                                  series=a.apply["series"], kernels=a.apply["kernels"])}
    for k in KERNELS:
        debug = k.label.endswith("-debug")
        stages[f"config {k.label}"] = ConfigStage(Status.PASS, "1" * 64, "tinyconfig",
                                                  FRAGMENTS + ["debug"] * debug)
        failed = k.golden is None
        stages[f"build {k.label}"] = BuildStage(
            Status.BUILD_FAILURE if failed else Status.PASS,
            a.base if k.label.startswith("base") else a.head, 312.4,
            # Recorded where the run was made; the export links the copy it reads.
            f"/elsewhere/runs/{name}/build-{k.label}.log",
            ["fs/splice.c:22:17: error: expected expression before ';' token"] * failed,
            COMPILER)
        if not failed:
            stages[f"test {k.label}"] = replace(variant_tested(k.label, {"PASS": 1}),
                                                status=k.status, boot=k.status)
    path = make_run(a.ws, name, RunRecord(
        "all", ["all"], "2026-11-22T08:00:00", complete, worst(k.status for k in KERNELS),
        stages, accel=ACCEL, tools=TOOLS))
    for k in KERNELS:
        (path / f"build-{k.label}.log").write_text(f"$ {MAKE}\n  CC      fs/splice.o\n")
        if k.golden is None:
            continue
        out = path / f"tests-{k.label}"
        lines = (GOLDEN / f"{k.golden}.ktap").read_text()
        console = GOLDEN / f"{k.golden}.console"
        console_text = console.read_text() if console.exists() else ""
        write_results(ktap.parse(lines.splitlines(), k.label), k.label, out, console_text)
        (out / "results.ktap").write_text(lines)
        (out / "console.log").write_text(console_text)
    return path


def bench_run(a: Applied, head: str, name: str = BENCH_RUN) -> Path:
    """A `wb bench` run of ``head`` with the samples of a real `wb bench --quick`."""
    recorded = json.loads((GOLDEN / "bench-quick.json").read_text())
    path = make_run(a.ws, name, RunRecord(
        "bench", ["bench", "--quick"], "2026-11-22T09:00:00", True, Status.PASS,
        {"bench": BenchStage(Status.PASS, "icount", {}, "bench/bench.md", head,
                             "bench/bench.json", [], ["plain splice, patched/base ext4 "
                                                      "devnull 4096"])},
        accel=ACCEL, tools=TOOLS))
    (path / "bench").mkdir()
    samples = recorded["samples"]
    (path / "bench" / "bench.json").write_text(json.dumps({
        "mode": recorded["mode"], "context": recorded["context"], "samples": samples,
        "figures": bench.figures(samples),
        "comparisons": [asdict(c) | {"met": c.met} for c in bench.compare(samples)]}))
    (path / "bench" / "bench.md").write_text("| comparison |\n")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """A tree with a two-patch series, a `wb all` run and a `wb bench` run of it."""
    a = applied(tmp_path_factory.mktemp("kcidb"), ADD_FLAG, USE_FLAG)
    all_run(a)
    bench_run(a, a.head)
    return a


@pytest.fixture(scope="module")
def exported(workdir: Applied) -> dict:
    """`wb kcidb` of that work directory, as it wrote it."""
    proc = wb("kcidb", workdir=workdir.workbench.workdir)
    assert proc.returncode == 0, proc.stderr
    out = workdir.ws.runs / ALL_RUN / "kcidb.json"
    assert proc.stdout.startswith(f"wb kcidb: {out} (KCIDB I/O v5.3, valid: 2 checkouts, "
                                  "4 builds, ")
    return json.loads(out.read_text())


@pytest.fixture
def plain(tmp_path: Path) -> Applied:
    """A tree with its series applied and nothing run yet."""
    return applied(tmp_path, ADD_FLAG, USE_FLAG)


def by_path(data: dict, build: str) -> dict[str, dict]:
    """The KTAP results (not the bench figures) of ``build`` by path."""
    return {t["path"]: t for t in data["tests"]
            if t["build_id"] == build and not t["path"].startswith("bench.")}


def test_the_export_is_valid_kcidb(exported: dict, workdir: Applied) -> None:
    V5_3.validate(exported)  # raises naming what is wrong
    assert V5_3.is_valid(exported) and LATEST.is_valid(exported)
    assert exported["version"] == {"major": 5, "minor": 3}
    for kind in ("checkouts", "builds", "tests"):
        ids = [o["id"] for o in exported[kind]]
        assert len(ids) == len(set(ids)), kind

    base, patched = exported["checkouts"]
    prefix = f"wb:{ALL_RUN}"
    assert (base["id"], patched["id"]) == (f"{prefix}:base", f"{prefix}:patched")
    for checkout in (base, patched):
        assert checkout["origin"] == "wb" and checkout["git_commit_hash"] == workdir.base
        assert checkout["tree_name"] == "linux", "the checkout's directory name"
        assert checkout["valid"] is True
        started = datetime.datetime.fromisoformat(checkout["start_time"])
        assert started.tzinfo is not None, "RFC 3339 needs the offset"
        assert started.replace(tzinfo=None) == datetime.datetime(2026, 11, 22, 8)
    assert base["patchset_hash"] == "" and "patchset_files" not in base
    assert [f["name"] for f in patched["patchset_files"]] == workdir.apply["patches"]
    assert [f["url"] for f in patched["patchset_files"]] == [p.as_uri()
                                                             for p in workdir.files()]
    assert patched["misc"]["head"] == workdir.head

    builds = {b["misc"]["label"]: b for b in exported["builds"]}
    assert list(builds) == [k.label for k in KERNELS]
    run_dir = workdir.ws.runs / ALL_RUN
    for label, build in builds.items():
        assert build["checkout_id"] == f"{prefix}:{label.split('-')[0]}"
        assert build["architecture"] == "x86_64" and build["compiler"] == COMPILER
        assert build["config_name"] == "tinyconfig+virtme+filesystems+net+crashtest" + (
            "+debug" if label.endswith("-debug") else "")
        assert build["duration"] == 312.4 and build["command"] == MAKE
        assert build["log_url"] == (run_dir / f"build-{label}.log").as_uri()
    assert [b["status"] for b in builds.values()] == ["PASS", "PASS", "PASS", "FAIL"]
    assert "expected expression" in builds["base-debug"]["log_excerpt"]

    # Every KTAP node of every boot, and its root.
    for k in KERNELS:
        build_id = f"{prefix}:{k.label}"
        if k.golden is None:
            assert by_path(exported, build_id) == {}
            continue
        tree = ktap.parse((GOLDEN / f"{k.golden}.ktap").read_text().splitlines(), k.label)
        paths = by_path(exported, build_id)
        assert len([t for t in exported["tests"] if t["build_id"] == build_id
                    and not t["path"].startswith("bench.")]) == len(list(tree.walk()))
        assert {t["misc"]["ktap_name"] for t in paths.values() if t["path"]} == \
            {c.name for c in tree.walk()} - {k.label}
        assert paths[""]["log_url"] == (run_dir / f"tests-{k.label}" / "console.log").as_uri()
    patched_tests = by_path(exported, f"{prefix}:patched")
    assert "warn_in_case.tmpfs.second" in patched_tests
    assert patched_tests[""]["environment"]["misc"]["accel"] == "tcg"


def test_performance_figures_of_the_same_head_are_tests_with_a_number(
        exported: dict, workdir: Applied) -> None:
    data = json.loads((workdir.ws.runs / BENCH_RUN / "bench/bench.json").read_text())
    measured = [t for t in exported["tests"] if t["path"].startswith("bench.")]
    assert len(measured) == len(data["comparisons"]) + len(data["figures"])
    assert {t["status"] for t in measured} == {"DONE"}
    ratios = {t["path"]: t for t in measured if t["path"].startswith("bench.ratio.")}
    first = data["comparisons"][0]
    assert first["target"] == "plain splice, patched/base"
    path = f"bench.ratio.plain_splice_patched_base.{first['fs']}.{first['sink']}.4K"
    assert ratios[path]["number"] == {"value": first["ratio"]["value"]}
    assert ratios[path]["build_id"] == f"wb:{ALL_RUN}:patched"
    assert ratios[path]["id"] == f"wb:{BENCH_RUN}:{path}"
    assert ratios[path]["misc"]["clock"] == "icount"
    row = data["figures"][0]
    throughput = [t for t in measured if t["path"] == (
        f"bench.throughput.{row['fs']}.{row['sink']}.{row['method']}.4K")
        and t["build_id"] == f"wb:{ALL_RUN}:{row['kernel']}"]
    assert [t["number"] for t in throughput] == [{"value": row["mib_s"], "unit": "MiB/s"}]


def test_statuses_map_to_kcidb_ones(exported: dict) -> None:
    allowed = set(V5_3.json["$defs"]["status"]["enum"])
    assert set(kcidb.KCIDB_STATUS) == set(Status) and set(kcidb.KTAP_STATUS) == set(Result)
    assert set(kcidb.KCIDB_STATUS.values()) | set(kcidb.KTAP_STATUS.values()) <= allowed
    assert (kcidb.KCIDB_STATUS[Status.TIMEOUT], kcidb.KCIDB_STATUS[Status.INFRA]) == \
        ("ERROR", "MISS")
    prefix = f"wb:{ALL_RUN}"
    base = by_path(exported, f"{prefix}:base")
    assert {path: t["status"] for path, t in base.items()} == {
        "": "FAIL",
        "failing_test.tmpfs": "FAIL",
        "failing_test.tmpfs.global.splice_passes": "PASS",
        "failing_test.tmpfs.global.splice_fails_on_purpose": "FAIL",
        "failing_test.tmpfs.global.skips_on_purpose": "SKIP",
        "failing_test.tmpfs.expected.known_bug.fails_as_expected": "PASS",  # XFAIL
        "no_plan.tmpfs": "PASS",
        "no_plan.tmpfs.first": "PASS",
        "no_plan.tmpfs.second": "SKIP",  # TODO
        "no_plan.tmpfs.third": "SKIP"}
    assert base["failing_test.tmpfs.global.skips_on_purpose"]["comment"] == \
        "nothing to do here"
    assert "expecting 8192 bytes" in base[
        "failing_test.tmpfs.global.splice_fails_on_purpose"]["log_excerpt"]
    # The KTAP says ok; the kernel's WARNING while the case ran fails it.
    patched = by_path(exported, f"{prefix}:patched")
    assert [patched[p]["status"] for p in ("", "warn_in_case.tmpfs.first",
                                           "warn_in_case.tmpfs.second")] == \
        ["FAIL", "PASS", "FAIL"]
    assert patched["warn_in_case.tmpfs.second"]["misc"]["ktap_result"] == "PASS"
    assert "WARNING" in patched["warn_in_case.tmpfs.second"]["comment"]
    panicked = by_path(exported, f"{prefix}:patched-debug")
    assert [panicked[p]["status"] for p in ("", "crash_midway.tmpfs.before_the_crash",
                                            "crash_midway.tmpfs.test_2")] == \
        ["FAIL", "PASS", "ERROR"]


def test_patchset_hash_is_the_one_kcidb_defines(exported: dict, workdir: Applied) -> None:
    """The schema's own recipe, by the shell, over the series files in order."""
    files = workdir.files()
    assert [f.name for f in files] == sorted(f.name for f in files), "*.patch is in order"
    by_shell = subprocess.run("sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64",
                              shell=True, cwd=workdir.patches, capture_output=True, text=True,
                              check=True).stdout.strip()
    assert len(by_shell) == 64
    assert exported["checkouts"][1]["patchset_hash"] == by_shell
    assert kcidb.patchset_hash([f.read_bytes() for f in files]) == by_shell
    assert kcidb.patchset_hash([f.read_bytes() for f in reversed(files)]) != by_shell
    assert kcidb.patchset_hash([]) == ""


def test_an_invalid_value_is_refused_naming_its_place(exported: dict, workdir: Applied,
                                                      tmp_path: Path) -> None:
    broken = json.loads(json.dumps(exported))
    broken["tests"][3]["status"] = "BROKEN"
    with pytest.raises(WorkbenchError, match=rf"^the export is not valid KCIDB I/O v5\.3: "
                                             rf"tests\[3\]\.status \(test {broken['tests'][3]['id']}\):"
                                             rf" 'BROKEN' is not one of"):
        kcidb.validate(broken)
    broken = json.loads(json.dumps(exported))
    broken["builds"][0]["log_url"] = "build-base.log"  # not an absolute URI
    with pytest.raises(WorkbenchError, match=r"builds\[0\]\.log_url .*is not a 'uri'"):
        kcidb.validate(broken)
    # From the command line: nothing is written.
    out = tmp_path / "kcidb.json"
    proc = wb("kcidb", "--origin", "Not Valid", "-o", str(out),
              workdir=workdir.workbench.workdir)
    assert proc.returncode == 2
    assert "wb: error: the export is not valid KCIDB I/O v5.3: checkouts[0]." in proc.stderr
    assert "'Not Valid:" in proc.stderr and not out.exists()


def test_export_to_stdout_and_to_a_file_of_ones_own(workdir: Applied, tmp_path: Path,
                                                    exported: dict) -> None:
    proc = wb("kcidb", "-o", "-", "--origin", "my_ci", "--tree-name", "mainline",
              workdir=workdir.workbench.workdir)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert V5_3.is_valid(data)
    assert {c["tree_name"] for c in data["checkouts"]} == {"mainline"}
    assert all(o["id"].startswith("my_ci:") and o["origin"] == "my_ci"
               for kind in ("checkouts", "builds", "tests") for o in data[kind])
    assert len(data["tests"]) == len(exported["tests"])
    out = tmp_path / "out" / "kcidb.json"
    out.parent.mkdir()
    out.write_text("old\n")  # a file of one's own is replaced
    assert wb("kcidb", "-o", str(out), workdir=workdir.workbench.workdir).returncode == 0
    assert json.loads(out.read_text()) == exported


def test_a_file_in_a_run_directory_is_never_overwritten(plain: Applied) -> None:
    run = all_run(plain)
    first = wb("kcidb", workdir=plain.workbench.workdir)
    assert first.returncode == 0, first.stderr
    assert "no `wb bench` run in this work directory: the export has no performance " \
           "figures" in first.stderr
    written = (run / "kcidb.json").read_text()
    again = wb("kcidb", workdir=plain.workbench.workdir)
    assert again.returncode == 0 and "is already this export" in again.stderr
    bench_run(plain, plain.head)  # the export would now differ
    refused = wb("kcidb", workdir=plain.workbench.workdir)
    assert refused.returncode == 2
    assert f"{run / 'kcidb.json'} exists: files in a run directory are never overwritten" \
        in refused.stderr
    assert (run / "kcidb.json").read_text() == written
    results = run / "tests-base" / "results.json"
    before = results.read_text()
    proc = wb("kcidb", "-o", str(results), workdir=plain.workbench.workdir)
    assert proc.returncode == 2 and results.read_text() == before


def test_no_run_an_unreadable_run_and_a_run_of_another_head_are_named(plain: Applied) -> None:
    workdir = plain.workbench.workdir
    proc = wb("kcidb", workdir=workdir)
    assert proc.returncode == 2
    assert f"wb: error: no `wb all` run in {plain.ws.runs}" in proc.stderr
    assert "hint: run `wb all`, or name another run with --run RUNDIR" in proc.stderr

    all_run(plain, "20261122-070000-all", complete=False)
    proc = wb("kcidb", workdir=workdir)
    assert proc.returncode == 2
    assert "no finished `wb all` run" in proc.stderr and "20261122-070000-all, is " \
        "incomplete" in proc.stderr

    tested = all_run(plain)
    new_head = plain.reapply(ADD_FLAG, USE_FLAG, WARNS, name="patches-v2")
    proc = wb("kcidb", workdir=workdir)
    assert proc.returncode == 2
    assert (f"the newest finished `wb all` run, {ALL_RUN}, tested {plain.head[:12]}; the "
            f"tree's series head is now {new_head[:12]}") in proc.stderr
    # Named, it is exported as the run it is.
    proc = wb("kcidb", "--run", ALL_RUN, "-o", "-", workdir=workdir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["checkouts"][1]["misc"]["head"] == plain.head

    bench = bench_run(plain, plain.head)
    proc = wb("kcidb", "--run", str(bench), workdir=workdir)
    assert proc.returncode == 2
    assert f"{BENCH_RUN} is a `wb bench` run, not a `wb all` run" in proc.stderr

    (tested / "run.json").write_text("{")
    proc = wb("kcidb", "--run", str(tested), workdir=workdir)
    assert proc.returncode == 2 and f"{tested / 'run.json'}: not JSON" in proc.stderr
    proc = wb("kcidb", workdir=workdir)
    assert proc.returncode == 2
    assert f"cannot read the `wb all` run {ALL_RUN}" in proc.stderr


def test_a_series_edited_since_the_run_is_refused(plain: Applied) -> None:
    all_run(plain)
    edited = plain.files()[1]
    edited.write_text(edited.read_text().replace("| SPLICE_F_STABLE)", "| SPLICE_F_STABLE | 0x20)"))
    proc = wb("kcidb", workdir=plain.workbench.workdir)
    assert proc.returncode == 2
    assert (f"{edited} changed since the `wb all` run {ALL_RUN} applied it as "
            f"{plain.commits[1][:12]}") in proc.stderr
    shutil.rmtree(plain.patches)
    proc = wb("kcidb", workdir=plain.workbench.workdir)
    assert proc.returncode == 2 and "which is gone" in proc.stderr


def test_a_bench_run_of_another_head_is_left_out(plain: Applied) -> None:
    run = all_run(plain)
    bench_run(plain, "b" * 40)
    exporter = kcidb.Exporter("wb")
    cited = CitedRun("all", run, RunRecord.read(run / "run.json"))
    bench = CitedRun("bench", plain.ws.runs / BENCH_RUN,
                     RunRecord.read(plain.ws.runs / BENCH_RUN / "run.json"))
    assert kcidb.bench_of(cited, bench) is None
    assert any(t["path"].startswith("bench.") for t in exporter.export(cited, bench)["tests"])
    proc = wb("kcidb", "-o", "-", workdir=plain.workbench.workdir)
    assert proc.returncode == 0, proc.stderr
    assert f"the `wb bench` run {BENCH_RUN} is left out: it measured bbbbbbbbbbbb" in proc.stderr
    assert not any(t["path"].startswith("bench.") for t in json.loads(proc.stdout)["tests"])


def test_path_of_a_ktap_name() -> None:
    assert kcidb.path_parts("splice_integrity.ext4") == ["splice_integrity", "ext4"]
    assert kcidb.path_parts("vmsplice() + unmap in child ... with THP (2048 kB)") == \
        ["vmsplice_unmap_in_child", "with_THP_2048_kB"]
    assert kcidb.path_parts("selftests.splice.short_splice_read.sh") == \
        ["selftests", "splice", "short_splice_read", "sh"]
    assert kcidb.path_parts("...") == ["_"]
    assert all(V5_3.path_re.match(".".join(kcidb.path_parts(name)))
               for name in ("a b.c", "ünïcode", "x/y:z", "", "generic-591.tmpfs"))
