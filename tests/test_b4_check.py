"""`wb b4-check` as b4 0.16 runs it: real b4 (b4.review.checks, the code
behind `b4 review`'s checks) feeds it `git format-patch` mails of a series
the real `wb apply` applied to the fake kernel tree, and parses its JSON;
the work directory's runs are records made up around that series."""

import email
import email.policy
import json
import shlex
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from b4.review import checks

from fakes.applied import Applied, applied
from fakes.fakelinux import ADD_FLAG, TRAILING_SPACE, USE_FLAG, WARNS, git
from test_evidence import all_record, make_run
from workbench.commits import Checkpatch
from workbench.records import ApplyStage, BenchStage, CommitStage, RunRecord
from workbench.status import Status

SERIES = (ADD_FLAG, USE_FLAG, WARNS)
WARNING = "init/main.c: unused variable 'wb_unused' [-Wunused-variable]"
COUNTS = {"PASS": 488, "FAIL": 0, "SKIP": 0, "XFAIL": 0, "TODO": 0, "ERROR": 0}
CLEAN = Checkpatch(0, 0, 0, ())


def series_run(a: Applied, name: str = "20261122-081000-series") -> Path:
    """`wb series` of the tree's series: commits 1 and 2 pass, 3 adds a warning."""
    stages = {"apply": ApplyStage(Status.PASS, a.head, a.commits)}
    for index, (commit, patch) in enumerate(zip(a.commits, SERIES), 1):
        warns = patch is WARNS
        stages[f"series {index}"] = CommitStage(
            Status.FAIL if warns else Status.PASS, commit, patch.subject, Status.PASS,
            [WARNING] * warns, CLEAN, Status.PASS, COUNTS,
            f"new compiler warning: {WARNING}" if warns else "")
    return make_run(a.ws, name, RunRecord("series", ["series"], "2026-11-22T08:10:00", True,
                                          Status.FAIL, stages))


def bench_run(a: Applied, missed: list[str]) -> Path:
    return make_run(a.ws, "20261122-082000-bench", RunRecord(
        "bench", ["bench"], "2026-11-22T08:20:00", True, Status.PASS,
        {"bench": BenchStage(Status.PASS, "icount", {}, "bench/bench.md", a.head,
                             "bench/bench.json", [], missed)}))


def mails(a: Applied, out: Path) -> list[tuple[str, EmailMessage]]:
    """`git format-patch --cover-letter -v2 --thread` of the tree's series,
    as b4 holds messages: (message-id, EmailMessage), the cover letter first."""
    git(a.tree, "format-patch", "-q", "--cover-letter", "-v2", "--thread",
        f"--base={a.base}", "-o", str(out), f"{a.base}..wb/patched")
    found = []
    for path in sorted(out.glob("*.patch")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found.append((str(msg["message-id"]).strip("<>"), msg))
    return found


def command(a: Applied, *extra: str) -> str:
    """The line a user puts in b4.review-perpatch-check-cmd."""
    return shlex.join([sys.executable, "-m", "workbench", "--workdir",
                       str(a.workbench.workdir), "b4-check", *extra])


def per_patch(a: Applied, mail: tuple[str, EmailMessage]) -> list[dict[str, str]]:
    """What b4 made of our output for one patch (b4 review runs them so)."""
    return checks.run_perpatch_checks([mail], [command(a)], str(a.tree))[mail[0]]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Applied, list[tuple[str, EmailMessage]]]:
    root = tmp_path_factory.mktemp("b4")
    a = applied(root, *SERIES)
    make_run(a.ws, "20261122-080000-all", all_record(a.head))
    series_run(a)
    bench_run(a, [])
    return a, mails(a, root / "mails")


def test_the_mails_are_the_series(reviewed) -> None:
    a, found = reviewed
    subjects = [str(msg["subject"]) for _, msg in found]
    assert subjects[0] == "[PATCH v2 0/3] *** SUBJECT HERE ***"
    assert subjects[1:] == [f"[PATCH v2 {i}/3] {p.subject}" for i, p in enumerate(SERIES, 1)]


def test_a_passing_commit_passes(reviewed) -> None:
    a, found = reviewed
    results = per_patch(a, found[1])
    assert [(r["tool"], r["status"]) for r in results] == [("wb-series", "pass")]
    assert results[0]["summary"] == ("PASS: build PASS, 0 new warnings, checkpatch 0/0/0, "
                                     "boot+tests PASS (488 pass)")
    details = results[0]["details"]
    assert details.startswith(f"commit 1/3 {a.commits[0][:12]} {ADD_FLAG.subject}\n")
    assert (f"run: {a.ws.runs / '20261122-081000-series'} (tested the current series head "
            f"{a.head[:12]})") in details


def test_a_failing_commit_fails(reviewed) -> None:
    a, found = reviewed
    results = per_patch(a, found[3])
    assert [(r["tool"], r["status"]) for r in results] == [("wb-series", "fail")]
    assert results[0]["summary"].startswith("FAIL: build PASS, 1 new warning, ")
    assert f"new warning: {WARNING}" in results[0]["details"]
    assert f"why: new compiler warning: {WARNING}" in results[0]["details"]


def test_a_mail_that_matches_no_commit_warns(reviewed, tmp_path: Path) -> None:
    a, found = reviewed
    other = EmailMessage()
    other["Subject"] = "[PATCH v2 2/3] mm: a patch of another series"
    other["Message-Id"] = "<other@example.org>"
    other.set_content("Not in the tree.\n")
    results = per_patch(a, ("other@example.org", other))
    assert [(r["tool"], r["status"]) for r in results] == [("wb", "warn")]
    assert results[0]["summary"] == f"matches no commit of the series in {a.tree}"
    assert f"2/3 {a.commits[1][:12]} {USE_FLAG.subject}" in results[0]["details"]

    # The subject of commit 2, but another change: wb's verdict is not the mail's.
    msgid, msg = found[2]
    body = msg.get_content().replace("| SPLICE_F_STABLE)", "| SPLICE_F_STABLE | 0x20)")
    changed = EmailMessage()
    changed["Subject"] = msg["subject"]
    changed["Message-Id"] = msg["message-id"]
    changed.set_content(body)
    results = per_patch(a, (msgid, changed))
    assert [(r["tool"], r["status"]) for r in results] == [("wb-series", "warn")]
    assert results[0]["summary"].startswith(
        f"the mail's change is not commit 2/3 {a.commits[1][:12]}'s, which wb tested: PASS")


def test_the_cover_letter_gets_the_series_verdicts(reviewed) -> None:
    a, found = reviewed
    results = checks.run_series_checks(found[0], [command(a)], str(a.tree))
    assert [(r["tool"], r["status"]) for r in results] == [
        ("wb-all", "pass"), ("wb-series", "fail"), ("wb-bench", "pass")]
    tested = f"(tested the current series head {a.head[:12]})"
    assert all(r["details"].endswith(tested) for r in results)
    assert results[0]["summary"] == ("base PASS (900 pass, 320 skip); patched PASS "
                                     "(1130 pass, 90 skip)")
    assert results[1]["summary"] == (
        f"the `wb series` run 20261122-081000-series ended FAIL: 3 commits, first failing: "
        f"3 {a.commits[2][:12]} {WARNS.subject}: FAIL new compiler warning: {WARNING}")
    assert results[2]["summary"] == "clock icount: every target met"
    # A cover letter of another series: said first, the tree's results after.
    msgid, cover = found[0]
    other = EmailMessage()
    other["Subject"] = "[PATCH v3 0/4] splice: SPLICE_F_STABLE"
    other.set_content(cover.get_content().replace(a.base, "c" * 40))
    results = checks.run_series_checks((msgid, other), [command(a)], str(a.tree))
    assert [(r["tool"], r["status"], r["summary"]) for r in results[:2]] == [
        ("wb", "warn", "the mail's series has 4 patches, the tree's has 3"),
        ("wb", "warn", f"the series is based on cccccccccccc, the tree's base is "
                       f"{a.base[:12]}")]
    assert [r["tool"] for r in results[2:]] == ["wb-all", "wb-series", "wb-bench"]
    # A series without a cover letter: --series on its first patch.
    results = checks.run_series_checks(found[1], [command(a, "--series")], str(a.tree))
    assert [r["tool"] for r in results] == ["wb-all", "wb-series", "wb-bench"]


def test_without_runs_each_check_says_what_to_run(tmp_path: Path) -> None:
    a = applied(tmp_path, *SERIES)
    found = mails(a, tmp_path / "mails")
    results = per_patch(a, found[1])
    assert [(r["tool"], r["status"], r["summary"]) for r in results] == [
        ("wb-series", "warn", f"no `wb series` run for commit 1/3 {a.commits[0][:12]}")]
    assert results[0]["details"] == f"run `wb series` in {a.workbench.workdir} for its " \
                                    "per-commit checks"
    results = checks.run_series_checks(found[0], [command(a)], str(a.tree))
    assert [(r["tool"], r["status"], r["details"]) for r in results] == [
        (f"wb-{c}", "warn", f"run `wb {c}` in {a.workbench.workdir}")
        for c in ("all", "series", "bench")]
    assert results[0]["summary"] == "no `wb all` run (the integrity suite on every file system)"
    # A missed performance target warns.
    bench_run(a, ["stable copy/pread+write ext4 unix 65536"])
    results = checks.run_series_checks(found[0], [command(a)], str(a.tree))
    assert (results[2]["status"], results[2]["summary"]) == (
        "warn", "clock icount: 1 target missed: stable copy/pread+write ext4 unix 65536")


def test_runs_of_an_older_series_head(tmp_path: Path) -> None:
    """The tree now has another third patch: the first two are the same
    commits, and their verdicts stand; the third was not tested."""
    a = applied(tmp_path, *SERIES)
    make_run(a.ws, "20261122-080000-all", all_record(a.head))
    series_run(a)
    head = a.reapply(ADD_FLAG, USE_FLAG, TRAILING_SPACE, name="patches-v3")
    commits = git(a.tree, "log", "--reverse", "--format=%H", f"{a.base}..wb/patched").split()
    assert commits[:2] == a.commits[:2] and commits[2] != a.commits[2]
    found = mails(a, tmp_path / "mails")
    first = per_patch(a, found[1])[0]
    assert first["status"] == "pass"
    assert first["summary"].endswith("(the run 20261122-081000-series tested an older "
                                     "series head; this commit is the same)")
    assert f"tested {a.head[:12]}, the series head is now {head[:12]}" in first["details"]
    third = per_patch(a, found[3])[0]
    assert (third["status"], third["summary"]) == (
        "warn", f"the `wb series` run 20261122-081000-series did not test commit 3/3 "
                f"{commits[2][:12]}: it has no result for it")
    results = checks.run_series_checks(found[0], [command(a)], str(a.tree))
    assert [r["status"] for r in results] == ["warn", "warn", "warn"]
    assert results[0]["summary"].startswith(f"the `wb all` run 20261122-080000-all tested "
                                            f"{a.head[:12]}, the series is now {head[:12]}")


def test_anything_on_stdin_gets_json_and_exit_0(tmp_path: Path) -> None:
    for stdin in (b"", b"not a mail at all", b"Subject: [PATCH 1/1] x\n\nbody\n"):
        proc = subprocess.run([sys.executable, "-m", "workbench", "--workdir",
                               str(tmp_path / "work"), "b4-check"], input=stdin,
                              capture_output=True)
        assert proc.returncode == 0, proc.stderr
        [result] = json.loads(proc.stdout)
        assert (result["tool"], result["status"]) == ("wb", "warn")
    assert result["summary"] == (f"no kernel tree in {tmp_path / 'work'}: run `wb tree` "
                                 "first")
