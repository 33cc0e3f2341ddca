"""``wb evidence`` pieces on recorded results: the integrity KTAP and bench
samples of real runs (tests/data/golden), and real git format-patch on a small
repository."""

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import DATA
from fakes import FAKES
from workbench import bench, evidence
from workbench.errors import WorkbenchError
from workbench.records import (AccelRecord, ApplyStage, BenchStage, CommitStage, ConfigStage,
                               RecordError, RunRecord, TestsBuildStage, TestStage)
from workbench.status import Status
from workbench.source import KernelTree
from workbench.workspace import Workspace

GOLDEN = DATA / "golden"
HEAD = "a" * 40


def make_run(ws: Workspace, name: str, record: RunRecord) -> Path:
    path = ws.runs / name
    path.mkdir(parents=True)
    record.save(path / "run.json")
    return path


# As `wb all` records them on a host whose QEMU aborts under KVM.
ACCEL = AccelRecord("tcg", "KVM is present but QEMU fails with it within 0.1 s: "
                    "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69")
TOOLS = {"qemu": "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", "virtme_ng": "1.42"}


def variant_tested(variant: str, counts: dict[str, int]) -> TestStage:
    return TestStage(Status.PASS, f"tests-{variant}/junit.xml", f"tests-{variant}/results.json",
                     counts, Status.PASS, "exit 0", 80.0)


def all_record(head: str = HEAD, status: Status = Status.PASS,
               complete: bool = True) -> RunRecord:
    return RunRecord("all", [], "2026-11-22T08:00:00", complete, status, {
        "apply": ApplyStage(Status.PASS, head, [head], ["0001-splice.patch"]),
        "config base": ConfigStage(Status.PASS, "1" * 64),
        "config patched": ConfigStage(Status.PASS, "2" * 64),
        "test base": variant_tested("base", {"PASS": 900, "SKIP": 320}),
        "test patched": variant_tested("patched", {"PASS": 1130, "SKIP": 90})},
        accel=ACCEL, tools=TOOLS)


def series_record(subjects: list[str]) -> RunRecord:
    commits = {f"series {i}": CommitStage(Status.PASS, f"{i:040x}", subject, Status.PASS)
               for i, subject in enumerate(subjects, 1)}
    return RunRecord("series", [], "2026-11-22T08:10:00", True, Status.PASS,
                     {"apply": ApplyStage(Status.PASS, HEAD), **commits})


@pytest.fixture
def cited(tmp_path: Path) -> dict[str, evidence.CitedRun | None]:
    ws = Workspace(tmp_path / "work")
    all_run = make_run(ws, "20261122-080000-all", all_record())
    for variant in ("base", "patched"):
        (all_run / f"tests-{variant}").mkdir()
        shutil.copy(GOLDEN / f"integrity-{variant}.ktap", all_run / f"tests-{variant}" /
                    "results.ktap")
    series_run = make_run(ws, "20261122-081000-series",
                          series_record(["splice: add SPLICE_F_STABLE"]))
    (series_run / "series.md").write_text("| # | commit |\n|---|---|\n| 1 | `abc` |\n")
    recorded = json.loads((GOLDEN / "bench-quick.json").read_text())
    bench_run = make_run(ws, "20261122-082000-bench", RunRecord(
        "bench", [], "2026-11-22T08:20:00", True, Status.PASS,
        {"bench": BenchStage(Status.PASS, "icount", {}, "bench/bench.md", HEAD,
                             "bench/bench.json")}))
    (bench_run / "bench").mkdir()
    bench.write_report(recorded["samples"], bench_run / "bench", "icount", recorded["context"])
    return {c: evidence.cited_run(ws, c, HEAD) for c in evidence.CITED}


def test_newest_finished_run_of_the_series_head_is_cited(cited, tmp_path):
    ws = Workspace(tmp_path / "work")
    make_run(ws, "20261122-070000-all", all_record())  # older: not cited
    make_run(ws, "20261122-090000-allx", all_record())  # another command
    assert evidence.cited_run(ws, "all", HEAD).path.name == "20261122-080000-all"
    assert evidence.cited_run(ws, "evidence", HEAD) is None
    assert evidence.problems(cited, HEAD) == []
    # Stopped early (bad input): it does not shadow the finished run.
    make_run(ws, "20261122-090000-all", all_record(complete=False))
    # Finished, but on another series (wb all --patches elsewhere).
    make_run(ws, "20261122-091000-all", all_record(head="b" * 40))
    assert evidence.cited_run(ws, "all", HEAD).path.name == "20261122-080000-all"
    # A newer failure of the same head is cited, not hidden behind the pass.
    make_run(ws, "20261122-092000-all", all_record(status=Status.FAIL))
    assert evidence.cited_run(ws, "all", HEAD).path.name == "20261122-092000-all"
    # Nothing finished on this head: the newest finished run, to be named stale.
    assert evidence.cited_run(ws, "all", "c" * 40).path.name == "20261122-092000-all"


def test_runs_of_other_suites_do_not_shadow_the_full_one(cited, tmp_path):
    """The integrity matrix comes from a `wb all` that ran the integrity suite
    on every file system: a later --suite thirdparty, --fs or --filter run of
    the same head is not cited instead (seen: an empty matrix)."""
    ws = Workspace(tmp_path / "work")
    for name, suite, narrowed in (("20261122-090000-all", "thirdparty", False),
                                  ("20261122-091000-all", "all", True)):
        record = all_record()
        record.stages["build tests"] = TestsBuildStage(Status.PASS, "c" * 40, 1, [], suite,
                                                       narrowed)
        make_run(ws, name, record)
    # Records from before the stage named its suite: their command line.
    make_run(ws, "20261122-092000-all", replace(all_record(), argv=["all", "--suite=fuzz"]))
    make_run(ws, "20261122-093000-all", replace(all_record(), argv=["all", "--fs", "ext4"]))
    make_run(ws, "20261122-093500-all", replace(all_record(), argv=["all", "--suite",
                                                                    "integrity"]))
    assert evidence.cited_run(ws, "all", HEAD).path.name == "20261122-093500-all"
    full = all_record()
    full.stages["build tests"] = TestsBuildStage(Status.PASS, "c" * 40, 1, [], "all", False)
    make_run(ws, "20261122-094000-all", full)
    assert evidence.cited_run(ws, "all", HEAD).path.name == "20261122-094000-all"
    # No run with the integrity suite at all: said so.
    other = Workspace(tmp_path / "other")
    make_run(other, "20261122-090000-all", replace(all_record(), argv=["all", "--suite",
                                                                       "fuzz"]))
    found = {c: evidence.cited_run(other, c, HEAD) for c in evidence.CITED}
    assert ("no `wb all` run in this work directory: run `wb all` (with the integrity "
            "suite, on every file system)") in evidence.problems(found, HEAD)


def test_missing_failing_incomplete_and_stale_runs_are_named(tmp_path: Path):
    ws = Workspace(tmp_path / "work")
    failing = evidence.CitedRun("all", make_run(ws, "20261122-080000-all",
                                                all_record(status=Status.FAIL)),
                                all_record(status=Status.FAIL))
    stale = evidence.CitedRun("series", ws.runs / "x-series", all_record(head="b" * 40))
    incomplete = evidence.CitedRun("bench", ws.runs / "y-bench", RunRecord(
        "bench", [], "2026-11-22T08:00:00", incomplete_reason="interrupted"))
    found = evidence.problems({"all": failing, "series": stale, "bench": incomplete}, HEAD)
    assert found == [
        "the `wb all` run 20261122-080000-all ended FAIL",
        "the `wb series` run x-series tested bbbbbbbbbbbb, the series is now aaaaaaaaaaaa",
        "the `wb bench` run y-bench is incomplete: interrupted"]
    assert evidence.problems({}, HEAD)[0] == ("no `wb all` run in this work directory: "
                                              "run `wb all` (with the integrity suite, "
                                              "on every file system)")


def test_per_commit_results_keep_the_order_of_the_series(tmp_path: Path):
    """"series 10" sorts before "series 2" as a string; the series order is by number."""
    ws = Workspace(tmp_path / "work")
    subjects = [f"patch {i}" for i in range(1, 12)]
    make_run(ws, "20261122-081000-series", series_record(subjects))
    cited = {"series": evidence.cited_run(ws, "series", HEAD)}
    assert [s["subject"] for s in evidence.figures(cited)["series"]] == subjects


def test_a_record_of_another_layout_is_refused_by_name(tmp_path: Path):
    ws = Workspace(tmp_path / "work")
    path = make_run(ws, "20261122-081000-series", series_record(["patch 1"]))
    record = json.loads((path / "run.json").read_text())
    record["stages"]["series 1"]["checkpatch"] = "clean"
    (path / "run.json").write_text(json.dumps(record))
    with pytest.raises(RecordError, match=r"run 20261122-081000-series: .*stage 'series 1': "
                                          r"checkpatch: expected an object"):
        evidence.cited_run(ws, "series", HEAD)


def test_cover_letter_template_is_filled_with_the_results(cited):
    values = {"series_table": (cited["series"].path / "series.md").read_text(),
              "kernel_version": "6.12.117", "base_commit": "b" * 40,
              "config_sha256": "base 111, patched 222",
              "integrity_table": evidence.integrity_table(cited["all"]),
              "perf_table": evidence.perf_table(cited["bench"]),
              "environment": "  QEMU: test", "reproduce_command": evidence.REPRODUCE,
              "base_source": "Not an upstream commit: test", "backport": "Backport: test"}
    subject, body = evidence.fill_template(evidence.TEMPLATE.read_text(), values)
    assert "commit " + "b" * 40 + "\nNot an upstream commit: test\n" in body
    assert "\nBackport: test\n" in body
    assert subject == "splice: add SPLICE_F_STABLE for data as of the splice"
    assert "${" not in body
    assert "| base | tmpfs | plain |" in body and "| patched | ext4 | stable |" in body
    assert "Clock: **icount**" in body and "plain splice, patched/base" in body
    assert "Figures (medians" not in body  # the raw figures stay in bench.md
    with pytest.raises(WorkbenchError, match="perf_table"):
        evidence.fill_template(evidence.TEMPLATE.read_text(),
                               {k: v for k, v in values.items() if k != "perf_table"})


def test_next_revision_says_what_changed(cited):
    v1 = evidence.figures(cited)
    assert v1["tests"]["patched"] == {"PASS": 1130, "SKIP": 90}
    assert v1["bench"]["mode"] == "icount" and v1["bench"]["ratios"]
    v2 = json.loads(json.dumps(v1))
    v2["tests"]["patched"]["PASS"] = 1129
    v2["tests"]["patched"]["FAIL"] = 1
    key = next(iter(v2["bench"]["ratios"]))
    v2["bench"]["ratios"][key] -= 0.02
    text = evidence.changes(v1, v2, 2)
    assert text.startswith("Changes in results since v1:")
    assert " - tests patched: FAIL 0 -> 1, PASS 1130 -> 1129" in text
    assert f" - {key}: " in text
    assert evidence.changes(v1, v1, 2).endswith(" - none\n")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], check=True, text=True,
                          capture_output=True).stdout.strip()


def test_format_patch_cover_letter_and_manifest(tmp_path):
    repo = tmp_path / "linux"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "splice.c").write_text("int a;\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "wb/patched")
    placeholder = evidence.placeholder_author(evidence.TEMPLATE.read_text())
    assert placeholder == ("Workbench Developer", "dev@example.org")
    stand_in = "Workbench Developer <dev@example.org>"
    for n, author in ((1, stand_in), (2, "Co Author <co@example.org>")):
        (repo / "splice.c").write_text(f"int a;\nint b{n};\n")
        git(repo, "commit", "-q", "-am", f"splice: change {n}\n\nBecause.\n\n"
            f"Signed-off-by: {author}", f"--author={author}")
    tree = KernelTree(repo, base, "6.12.117", "test")
    out = tmp_path / "v2"
    cover = evidence.format_patches(
        tree, out / "patches", 2, "splice: the subject", "The body.\n",
        ("A Developer", "a@example.org"), placeholder, ["list@example.org"],
        ["B <b@example.org>", '"C. O\'Neil" <c@example.org>'])
    assert cover.name == "v2-0000-cover-letter.patch"
    text = cover.read_text()
    assert "Subject: [PATCH v2 0/2] splice: the subject" in text
    assert "From: A Developer <a@example.org>" in text
    assert "The body." in text and f"base-commit: {base}" in text
    first, second = sorted((out / "patches").glob("v2-000[12]-*.patch"))
    # The placeholder's patch is the submitter's; a real co-author stays.
    assert "From: A Developer <a@example.org>\n" in first.read_text()
    assert "Signed-off-by: A Developer <a@example.org>\n" in first.read_text()
    assert "dev@example.org" not in first.read_text()
    assert "From: Co Author <co@example.org>\n" in second.read_text()
    for patch in (cover, first, second):
        headers = patch.read_text().partition("\n\n")[0]
        assert "To: list@example.org" in headers
        assert "Cc: B <b@example.org>" in headers and "C. O'Neil" in headers
    manifest = evidence.write_manifest(out)
    check = subprocess.run(["sha256sum", "-c", manifest.name], cwd=out, capture_output=True,
                           text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == 3


def test_submitter_is_the_git_identity_never_the_placeholder(tmp_path, monkeypatch):
    repo = tmp_path / "linux"
    git(tmp_path, "init", "-q", str(repo))
    tree = KernelTree(repo, "0" * 40, "6.12.117", "test")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    placeholder = ("Workbench Developer", "dev@example.org")
    with pytest.raises(WorkbenchError, match="no git identity"):
        evidence.submitter(tree, placeholder)
    git(repo, "config", "user.name", "Workbench Developer")
    git(repo, "config", "user.email", "dev@example.org")
    with pytest.raises(WorkbenchError, match="placeholder author, not a person"):
        evidence.submitter(tree, placeholder)
    git(repo, "config", "user.name", "Ada Submitter")
    assert evidence.submitter(tree, placeholder) == ("Ada Submitter", "dev@example.org")


def test_recipients_from_get_maintainer_and_the_abi_lists(tmp_path):
    """The kernel tree's get_maintainer.pl (the fake replays the real one's
    output for the series on 6.12), de-duplicated, linux-fsdevel as To."""
    repo = tmp_path / "linux"
    git(tmp_path, "init", "-q", str(repo))
    (repo / "splice.c").write_text("int a;\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "wb/patched")
    (repo / "splice.c").write_text("int b;\n")
    git(repo, "commit", "-q", "-am", "change")
    tree = KernelTree(repo, base, "6.12.117", "test")
    with pytest.raises(WorkbenchError, match="get_maintainer.pl not found"):
        evidence.recipients(tree)
    (repo / "scripts").mkdir()
    (repo / "scripts/get_maintainer.pl").symlink_to(FAKES / "get_maintainer")
    to, cc = evidence.recipients(tree)
    assert to == ["linux-fsdevel@vger.kernel.org"]
    assert cc[0] == "Alexander Viro <viro@zeniv.linux.org.uk>"
    assert "linux-fsdevel@vger.kernel.org" not in cc and len(cc) == len(set(cc))
    assert cc[-4:] == list(evidence.CC_LISTS)


def test_environment_names_each_cited_runs_accelerator_and_tools(cited):
    text = evidence.environment(cited)
    assert (f"wb all: accelerator TCG ({ACCEL.reason}); QEMU {TOOLS['qemu']}, "
            f"virtme-ng 1.42") in text
    # A run from before runs recorded them says so rather than guessing.
    assert "wb series: accelerator not recorded" in text and "QEMU unknown" in text
    assert "performance clock: icount" in text
