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
from workbench import bench, evidence, letter, submission
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
    values = {"series_summary": evidence.series_summary(cited["series"]),
              "kernel_version": "6.12.117", "base_commit": "b" * 40,
              "config_sha256": "base 111, patched 222",
              "results_summary": evidence.results_summary(cited["all"]),
              "stable_summary": evidence.stable_summary(cited["all"]),
              "perf_summary": evidence.perf_summary(cited["bench"]),
              "environment": "  QEMU: test", "reproduce_command": evidence.REPRODUCE,
              "precheck_summary": evidence.precheck_summary(None),
              "bundle": "  evidence/v1/", "base_source": "Not an upstream commit: test",
              "backport": "Backport: test"}
    subject, body = evidence.fill_template(evidence.TEMPLATE.read_text(), values)
    assert "commit " + "b" * 40 + "\nNot an upstream commit: test\n" in body
    assert "\nBackport: test\n" in body
    assert subject == "splice: add SPLICE_F_STABLE for data as of the splice"
    assert "${" not in body
    # Plain text: no Markdown table or emphasis, 75 columns but for links.
    assert "|---|" not in body and "**" not in body
    assert letter.too_wide(body) == []
    assert "  01/01 PASS  splice: add SPLICE_F_STABLE" in body
    assert "  clock: icount" in body and "plain splice, patched/base (target >= 0.995)" in body
    assert "  ext4: 120 cells, 0 failed; observed" in body
    with pytest.raises(WorkbenchError, match="perf_summary"):
        evidence.fill_template(evidence.TEMPLATE.read_text(),
                               {k: v for k, v in values.items() if k != "perf_summary"})


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


def small_series(tmp_path: Path) -> KernelTree:
    """A tree with get_maintainer.pl and checkpatch.pl (the fakes replaying the
    real ones) and a two-commit series on wb/patched: the placeholder's, and
    a real co-author's."""
    repo = tmp_path / "linux"
    (repo / "scripts").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "scripts/get_maintainer.pl").symlink_to(FAKES / "get_maintainer")
    (repo / "scripts/checkpatch.pl").symlink_to(FAKES / "checkpatch")
    (repo / "splice.c").write_text("int a;\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "wb/patched")
    for n, author in ((1, STAND_IN), (2, "Co Author <co@example.org>")):
        (repo / "splice.c").write_text(f"int a;\nint b{n};\n")
        git(repo, "commit", "-q", "-am", f"splice: change {n}\n\nBecause.\n\n"
            f"Signed-off-by: {author}", f"--author={author}")
    git(repo, "checkout", "-q", "--detach")
    return KernelTree(repo, base, "6.12.117", "test")


STAND_IN = "Workbench Developer <dev@example.org>"
SUBMITTER = ("A Developer", "a@example.org")


def test_b4_writes_the_messages_of_the_reauthored_series(tmp_path):
    """Real b4: prep enrolls the branch, --auto-to-cc runs get_maintainer.pl,
    --check runs checkpatch.pl, send -o writes what would be mailed."""
    tree = small_series(tmp_path)
    placeholder = evidence.placeholder_author(evidence.TEMPLATE.read_text())
    assert placeholder == ("Workbench Developer", "dev@example.org")
    head = submission.reauthor(tree, SUBMITTER, placeholder)
    assert submission.tested_trees(tree, head)
    prepared = submission.prepare(tree, head, SUBMITTER, 2, "splice: the subject",
                                  "The body.\n", [evidence.TO_LIST], list(evidence.CC_LISTS),
                                  tmp_path / "b4.log")
    assert prepared.to[0] == evidence.TO_LIST
    assert "Alexander Viro <viro@zeniv.linux.org.uk>" in prepared.to
    assert set(evidence.CC_LISTS) <= set(prepared.cc) and "linux-xfs@vger.kernel.org" in \
        prepared.cc
    assert submission.check(tree, prepared, tmp_path / "check.txt").ok
    messages = submission.write_messages(tree, prepared, tmp_path / "messages",
                                         tmp_path / "b4.log")
    cover, first, second = (m.read_text() for m in messages)
    assert "Subject: [PATCH v2 0/2] splice: the subject" in cover
    assert "From: A Developer <a@example.org>" in cover
    assert "The body." in cover and f"base-commit: {tree.base_commit}" in cover
    # The placeholder's patch is the submitter's; a real co-author stays.
    assert "Signed-off-by: A Developer <a@example.org>\n" in first
    assert "dev@example.org" not in first
    assert "\nFrom: Co Author <co@example.org>\n" in second
    for text in (cover, first, second):
        headers = text.partition("\n\n")[0]
        assert "To: linux-fsdevel@vger.kernel.org" in headers
        assert "linux-api@vger.kernel.org" in headers
    # The tree is left as wb left it: detached, where it was.
    assert git(tree.path, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"
    manifest = evidence.write_manifest(tmp_path / "messages")
    check = subprocess.run(["sha256sum", "-c", manifest.name], cwd=tmp_path / "messages",
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == 3


def test_b4_check_fails_on_a_checkpatch_finding(tmp_path):
    tree = small_series(tmp_path)
    git(tree.path, "checkout", "-q", "wb/patched")
    (tree.path / "splice.c").write_text("int a;\nint b2; \n")  # trailing whitespace
    git(tree.path, "commit", "-q", "-am", "splice: change 3\n\nBecause.\n\n"
        f"Signed-off-by: {STAND_IN}", f"--author={STAND_IN}")
    git(tree.path, "checkout", "-q", "--detach")
    placeholder = ("Workbench Developer", "dev@example.org")
    head = submission.reauthor(tree, SUBMITTER, placeholder)
    prepared = submission.prepare(tree, head, SUBMITTER, 1, "s", "b\n", [evidence.TO_LIST],
                                  [], tmp_path / "b4.log")
    checked = submission.check(tree, prepared, tmp_path / "check.txt")
    assert not checked.ok
    assert "ERROR: trailing whitespace" in checked.log.read_text()


def test_range_diff_against_the_tagged_previous_revision(tmp_path):
    tree = small_series(tmp_path)
    placeholder = ("Workbench Developer", "dev@example.org")
    v1 = submission.reauthor(tree, SUBMITTER, placeholder)
    assert submission.range_diff(tree, 1, v1) is None
    assert submission.range_diff(tree, 2, v1) is None  # v1 never tagged
    submission.tag_revision(tree, 1, v1)
    git(tree.path, "checkout", "-q", "wb/patched")
    (tree.path / "splice.c").write_text("int a;\nint b3;\n")
    git(tree.path, "commit", "-q", "-a", "--amend", "--no-edit")
    git(tree.path, "checkout", "-q", "--detach")
    v2 = submission.reauthor(tree, SUBMITTER, placeholder)
    summary, full = submission.range_diff(tree, 2, v2)
    # A one-line commit rewritten whole: range-diff pairs it as dropped + added.
    assert summary.splitlines() == ["   1 =  1 splice: change 1", "   2 <  - splice: change 2",
                                    "   - >  2 splice: change 2"]
    assert full.splitlines()[1].startswith("2:  ") and " < -:  " in full


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


def test_environment_names_each_cited_runs_accelerator_and_tools(cited):
    text = " ".join(evidence.environment(cited).split())
    assert letter.too_wide(evidence.environment(cited)) == []
    assert (f"wb all: accelerator TCG ({ACCEL.reason}); QEMU {TOOLS['qemu']}, "
            f"virtme-ng 1.42") in text
    # A run from before runs recorded them says so rather than guessing.
    assert "wb series: accelerator not recorded" in text and "QEMU unknown" in text
    assert "performance clock: icount" in text
