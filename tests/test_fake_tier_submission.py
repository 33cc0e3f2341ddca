"""The middle tier for the submission: `wb series`, `wb bench --quick` and
`wb evidence`, the real wb end to end against the fakes of test_fake_tier.py
(tests/fakes: a kernel-shaped tree, a vng replaying captured boots), with:

- kernel_tests/ really compiled, against a real kernel's kselftest headers
  (conftest.kselftest_headers: Debian's linux-source-6.12, once a session);
- scripts/checkpatch.pl replaying captured --strict reports
  (tests/fakes/checkpatch: the bad one for trailing whitespace);
- compiler warnings of gcc -Wall on the fake tree's C files;
- integrity KTAP captured from real boots, cut to the boot's plan, and
  splice_perf's --json files made of the samples a real `wb bench --quick`
  recorded (tests/data/golden/bench-quick.json; Boot.only_planned, Boot.perf).
"""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import fakelinux
from fakes.fakelinux import (ADD_FLAG, BREAKS_BUILD, TRAILING_SPACE, USE_FLAG, WARNS, git,
                             series)
from fakes.wb import BENCH_SAMPLES, SUBMITTER, Boot, Result, Workbench, sha256
from workbench.evidence import TEMPLATE

SEED = "1"  # the seed of the captured integrity runs
# What `wb all` (smoke, integrity, selftests on every filesystem) wrote on
# Debian's 6.12 with the series (work/e2e of `make test`, 2026-12-07): base,
# patched. The cover letter's claims name tests of these.
ALL_BOOTS = [Boot("clean-run", ktap="all-base-6.12"),
             Boot("clean-run", ktap="all-patched-6.12")]
# A commit's integrity subset (tmpfs and ext4 by default) of a patched kernel.
SERIES_BOOT = Boot("clean-run", ktap="integrity-patched", only_planned=True)
# Those two filesystems' cases in the captured run: all pass.
SUBSET_COUNTS = {"PASS": 488, "FAIL": 0, "SKIP": 0, "XFAIL": 0, "TODO": 0, "ERROR": 0}
RECORDED = json.loads(BENCH_SAMPLES.read_text())["samples"]
# What the recorded samples miss of the targets (bench.TARGETS), in table order.
MISSED = ["plain splice, patched/base ext4 devnull 4096",
          "stable optimistic/plain splice ext4 devnull 65536",
          "stable copy/pread+write ext4 unix 65536",
          "stable copy/pread+write tmpfs unix 65536"]
WARNING = re.compile(r"init/main\.c: unused variable .wb_unused. \[-Wunused-variable\]")


def bench_boots(rounds: int = 2) -> list[Boot]:
    """A B A B: each boot's splice_perf writes that kernel's samples of that round.
    (The boot's own KTAP is not what `wb bench` reads: any passing one does.)"""
    return [Boot("clean-run", ktap=True, perf=(kernel, r)) for r in range(1, rounds + 1)
            for kernel in ("base", "patched")]


def exits(result: Result, status: int = 0) -> Result:
    """``result``, which must have ended with exit ``status``."""
    assert result.status == status, result.output[-4000:]
    return result


def series_rows(table: str) -> dict[int, list[str]]:
    """series.md's rows by commit number, as lists of cells."""
    rows = [line.strip("|").split(" | ") for line in table.splitlines()
            if re.match(r"^\| \d+ \|", line)]
    return {int(cells[0].strip()): [c.strip() for c in cells] for cells in rows}


def compiled(log: Path) -> list[str]:
    """The objects a build compiled."""
    return re.findall(r"^  CC      (\S+)$", log.read_text(), re.M)


def sorted_samples(samples: list[dict]) -> list[dict]:
    return sorted(samples, key=lambda s: json.dumps(s, sort_keys=True))


def manifest_checks(out: Path) -> set[str]:
    """The files MANIFEST.sha256 lists, after sha256sum -c verified them all."""
    check = subprocess.run(["sha256sum", "-c", "--strict", "MANIFEST.sha256"], cwd=out,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return {line.split("  ", 1)[1] for line in (out / "MANIFEST.sha256").read_text()
            .splitlines()}


def files_in(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def backport(tree: Path, *patches: fakelinux.Patch) -> Path:
    """The fake tree's series laid out as a backport in a patches/ directory
    like the project's: patches/stable-7.0/ (its series file: "# kernel:
    7.0"), with the cover letter at patches/, shared by its series."""
    directory = series(tree, *patches, name="patches/stable-7.0")
    shutil.copy(TEMPLATE, directory.parent / TEMPLATE.name)
    return directory


def applied_tree(tree: Path, patches: list[Path], clone: Path) -> str:
    """The tree object of ``patches`` applied with git am onto a clone of ``tree``."""
    subprocess.run(["git", "clone", "-q", str(tree), str(clone)], check=True)
    git(clone, "am", "-q", *map(str, patches))
    return git(clone, "rev-parse", "HEAD^{tree}")


# -- fixtures -------------------------------------------------------------------

@dataclass(frozen=True)
class Submission:
    """One work directory after `wb all`, `wb series`, `wb bench --quick`,
    `wb precheck` and `wb evidence -v 1` of a series that passes."""
    workbench: Workbench
    tree: Path  # the user's kernel checkout (`wb tree --tree`)
    patches: Path
    all: Result
    series: Result
    bench: Result
    evidence: Result
    precheck: Result

    @property
    def base(self) -> str:
        return self.all.record["stages"]["tree"]["base_commit"]

    @property
    def commits(self) -> list[str]:
        return self.all.record["stages"]["apply"]["commits"]

    @property
    def head(self) -> str:
        return self.all.record["stages"]["apply"]["head"]

    def config_sha(self, variant: str) -> str:
        return self.all.record["stages"][f"config {variant}"]["sha256"]

    @property
    def v1(self) -> Path:
        return self.workbench.workdir / "evidence" / "v1"


@pytest.fixture(scope="module")
def submission(tmp_path_factory: pytest.TempPathFactory,
               kselftest_headers: Path) -> Iterator[Submission]:
    root = tmp_path_factory.mktemp("submission")
    tree = fakelinux.create(root / "src" / "linux", kselftest=kselftest_headers)
    patches = backport(tree, ADD_FLAG, USE_FLAG)
    workbench = Workbench(root)
    exits(workbench.wb("tree", "--tree", str(tree)))
    all_ = exits(workbench.wb("all", "--patches", str(patches), "--suite", "integrity",
                           "--seed", SEED, boots=ALL_BOOTS))
    series_ = exits(workbench.wb("series", "--patches", str(patches), "--seed", SEED,
                              boots=[SERIES_BOOT]))
    bench = exits(workbench.wb("bench", "--quick", boots=bench_boots()))
    precheck = exits(workbench.wb("precheck", "--patches", str(patches)))
    evidence = exits(workbench.wb("evidence", "-v", "1", "--patches", str(patches)))
    yield Submission(workbench, tree, patches, all_, series_, bench, evidence, precheck)
    workbench.kill_leftover_guests()


@dataclass(frozen=True)
class FailingSeries:
    workbench: Workbench
    patches: Path
    first: Result  # the first `wb series` of it in this work directory

    @property
    def commits(self) -> list[str]:
        return self.first.record["stages"]["apply"]["commits"]


@pytest.fixture(scope="module")
def failing_series(tmp_path_factory: pytest.TempPathFactory,
                   kselftest_headers: Path) -> Iterator[FailingSeries]:
    """`wb series` of: a clean commit, one with a new warning, one with style
    problems (the warning still there, a line lower), one that breaks the build."""
    root = tmp_path_factory.mktemp("failing-series")
    tree = fakelinux.create(root / "src" / "linux", kselftest=kselftest_headers)
    patches = series(tree, ADD_FLAG, WARNS, TRAILING_SPACE, BREAKS_BUILD)
    workbench = Workbench(root)
    exits(workbench.wb("tree", "--tree", str(tree)))
    first = workbench.wb("series", "--patches", str(patches), "--seed", SEED,
                         boots=[SERIES_BOOT])
    yield FailingSeries(workbench, patches, first)
    workbench.kill_leftover_guests()


@pytest.fixture
def series_applied(workbench: Workbench, tmp_path: Path) -> Workbench:
    """A work directory with the series applied and no run to cite, on a fake
    tree of Linux 6.12: `wb evidence` takes the cover letter of the project's
    own series for 6.12 (patches/stable-6.12), the one patches/ shares."""
    tree = fakelinux.create(tmp_path / "src" / "linux", release="6.12.117")
    exits(workbench.wb("tree", "--tree", str(tree)))
    exits(workbench.wb("apply", "--patches", str(series(tree, ADD_FLAG, USE_FLAG,
                                                        kernel="6.12"))))
    return workbench


@pytest.fixture
def incomplete_bench(series_applied: Workbench) -> Result:
    """A `wb bench` that stopped on bad input (no kernel built): incomplete."""
    bench = exits(series_applied.wb("bench", "--quick"), 2)
    assert bench.record["complete"] is False
    return bench


# -- wb series ------------------------------------------------------------------

def test_series_of_a_clean_series_passes_every_commit(submission: Submission) -> None:
    result = submission.series
    run, record = result.run, result.record
    assert record["command"] == "series" and record["complete"] is True
    assert record["status"] == "PASS"
    assert list(record["stages"]) == ["apply", "config series", "build tests", "series 1",
                                      "series 2"]
    assert record["stages"]["apply"]["head"] == submission.head, "the series `wb all` tested"

    table = (run / "series.md").read_text()
    assert table.rstrip().endswith("\nEvery commit passed.")
    assert table in result.stdout
    rows = series_rows(table)
    assert list(rows) == [1, 2]
    for index, (commit, patch) in enumerate(zip(submission.commits, (ADD_FLAG, USE_FLAG)), 1):
        stage = record["stages"][f"series {index}"]
        assert stage == {
            "status": "PASS", "commit": commit, "subject": patch.subject, "build": "PASS",
            "new_warnings": [],
            "checkpatch": {"errors": 0, "warnings": 0, "checks": 0, "messages": []},
            "tests": "PASS", "counts": SUBSET_COUNTS, "why": ""}
        _, short, subject, build, warnings, checkpatch, tests, verdict = rows[index]
        assert (short, subject, warnings, checkpatch, verdict) == (
            f"`{commit[:12]}`", patch.subject, "0", "0/0/0", "PASS")
        assert build.startswith("PASS (")
        assert tests == f"PASS ({SUBSET_COUNTS['PASS']} pass, 0 fail, 0 skip)"

        # The patch as format-patch makes it, and checkpatch's report on it.
        kept = run / "series" / f"{index:04d}.patch"
        assert kept.read_text() == subprocess.run(
            ["git", "-C", str(submission.tree), "format-patch", "-1", "--stdout", commit],
            check=True, capture_output=True, text=True).stdout
        report = kept.with_suffix(".checkpatch").read_text()
        assert f'"[PATCH] {patch.subject}" has no obvious style problems' in report
        assert "NOTE: Ignored message types: FILE_PATH_CHANGES" in report, "the default"

        # Each commit's own boot: the integrity subset, seeded, on tmpfs and ext4.
        out = run / f"tests-series-{index:02d}"
        program = submission.workbench.workdir / "build/tests/kernel_tests/splice_integrity"
        assert (out / "plan.tsv").read_text() == "".join(
            f"splice_integrity.{fs}\t{fs}\t{program} --seed {SEED}\n" for fs in ("tmpfs", "ext4"))
        results = json.loads((out / "results.json").read_text())
        assert results["kernel_commit"] == commit and results["seed"] == int(SEED)
        assert results["counts"] == stage["counts"]
        assert (out / "junit.xml").exists()

    # All in build/series: the base first, then only what each commit changed.
    assert len(result.vng_calls) == 2
    image = submission.workbench.workdir / "build/series/arch/x86/boot/bzImage"
    assert all(f"--run {image} " in call for call in result.vng_calls)
    assert sorted(compiled(run / "build-series-base.log")) == ["fs/splice.o", "init/main.o"]
    assert compiled(run / "build-series-01.log") == ["fs/splice.o"]
    assert compiled(run / "build-series-02.log") == ["fs/splice.o"]


def test_series_names_the_first_commit_with_a_new_warning(
        failing_series: FailingSeries) -> None:
    result = exits(failing_series.first, 1)
    run, record = result.run, result.record
    assert record["status"] == "FAIL" and record["complete"] is True
    warns = failing_series.commits[1]
    stages = [record["stages"][f"series {i}"] for i in range(1, 5)]
    assert [s["status"] for s in stages] == ["PASS", "FAIL", "FAIL", "BUILD_FAILURE"]

    # 2: the warning gcc -Wall gives for the line it adds; it still boots.
    assert len(stages[1]["new_warnings"]) == 1
    assert WARNING.fullmatch(stages[1]["new_warnings"][0]), stages[1]["new_warnings"]
    assert stages[1]["why"] == f"new compiler warning: {stages[1]['new_warnings'][0]}"
    assert stages[1]["tests"] == "PASS" and stages[1]["checkpatch"]["errors"] == 0
    table = (run / "series.md").read_text()
    assert table.rstrip().splitlines()[-1] == (
        f"First failing commit: 2 `{warns[:12]}` {WARNS.subject}: {stages[1]['why']}")
    assert series_rows(table)[2][4] == "1"

    # 3: checkpatch's errors; the warning it moved a line down is not new.
    warned_at = [re.findall(r"^init/main\.c:(\d+):\d+: warning: unused variable",
                            (run / f"build-series-{i:02d}.log").read_text(), re.M)
                 for i in (2, 3)]
    assert warned_at == [["4"], ["5"]], "init/main.c compiled again, the warning moved"
    assert stages[2]["new_warnings"] == []
    assert stages[2]["checkpatch"]["errors"] == 4 and stages[2]["checkpatch"]["warnings"] == 3
    assert "ERROR: trailing whitespace" in stages[2]["checkpatch"]["messages"]
    assert stages[2]["why"] == ("checkpatch: 4 errors, 3 warnings, 0 checks (WARNING: Missing "
                                "commit description - Add an appropriate one)")
    report = (run / "series/0003.checkpatch").read_text()
    assert f'"[PATCH] {TRAILING_SPACE.subject}" has style problems, please review.' in report
    assert series_rows(table)[3][5] == "4/3/0"

    # 4: the compiler's error; not booted.
    assert stages[3]["build"] == "BUILD_FAILURE" and stages[3]["tests"] is None
    assert re.match(r"build BUILD_FAILURE: fs/splice\.c:\d+:\d+: error: expected expression "
                    r"before", stages[3]["why"]), stages[3]["why"]
    assert not (run / "tests-series-04").exists()
    assert series_rows(table)[4][6:] == ["-", "BUILD_FAILURE"]
    assert len(result.vng_calls) == 3


def test_series_run_again_names_the_same_warning(failing_series: FailingSeries) -> None:
    assert failing_series.first.status == 1
    again = exits(failing_series.workbench.wb("series", "--patches",
                                              str(failing_series.patches), "--seed", SEED,
                                              boots=[SERIES_BOOT]), 1)
    # The base build compiled init/main.c again, without the warning ...
    assert "init/main.o" in compiled(again.run / "build-series-base.log")
    assert "warning:" not in (again.run / "build-series-base.log").read_text()
    # ... and commit 2's build warns again: new in the file since it was compiled.
    assert re.search(r"^init/main\.c:4:\d+: warning: unused variable",
                     (again.run / "build-series-02.log").read_text(), re.M)
    stage = again.record["stages"]["series 2"]
    assert stage["status"] == "FAIL" and len(stage["new_warnings"]) == 1
    assert (again.run / "series.md").read_text().rstrip().splitlines()[-1].startswith(
        f"First failing commit: 2 `{failing_series.commits[1][:12]}`")


# -- wb bench --quick -----------------------------------------------------------

def test_bench_quick_compares_the_recorded_samples(submission: Submission) -> None:
    result = submission.bench
    run, record = result.run, result.record
    workdir = submission.workbench.workdir
    assert record["status"] == "PASS" and record["complete"] is True
    bench_dir = run / "bench"
    plots = [bench_dir / name for name in ("throughput-ext4.png", "throughput-tmpfs.png",
                                           "ratios.png")]
    assert record["stages"]["bench"] == {
        "status": "PASS", "mode": "icount",
        "plan": {"filesystems": ["ext4", "tmpfs"], "sinks": ["unix", "devnull"],
                 "sizes": ["4K", "64K"], "reps": 3, "rounds": 2, "file_size": "4M"},
        "table": str(bench_dir / "bench.md"), "patched_commit": submission.head,
        "json": str(bench_dir / "bench.json"), "plots": list(map(str, plots)),
        "missed_targets": MISSED}, "missed targets are reported, not failed, by default"
    for plot in plots:
        assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    # A B A B, under icount on one vCPU, each boot with a plan of its own.
    program = workdir / "build/tests/kernel_tests/splice_perf"
    assert program.read_bytes().startswith(b"\x7fELF"), "compiled for real"
    boots = [("base", 1), ("patched", 1), ("base", 2), ("patched", 2)]
    assert len(result.vng_calls) == len(boots)
    for call, (kernel, round_no) in zip(result.vng_calls, boots):
        boot_dir = bench_dir / f"round{round_no}-{kernel}"
        assert f"--run {workdir}/build/{kernel}/arch/x86/boot/bzImage " in call
        assert "--cpus 1 " in call and "--disable-kvm" in call
        assert "--qemu-opts=-icount shift=0,sleep=off" in call
        assert f"--rwdir={boot_dir} " in call
        assert (boot_dir / "plan.tsv").read_text() == "".join(
            f"splice_perf.{fs}\t{fs}\t{program} --file-size 4M --sizes 4K,64K --reps 3 "
            f"--sinks unix,devnull --json {boot_dir}/perf-{fs}.json\n" for fs in ("ext4", "tmpfs"))

    # Every sample the guests wrote, as splice_perf measured it.
    data = json.loads((bench_dir / "bench.json").read_text())
    assert sorted_samples(data["samples"]) == sorted_samples(RECORDED)
    assert json.loads((bench_dir / "samples.json").read_text()) == data["samples"]
    assert data["mode"] == "icount" and len(data["comparisons"]) == 24
    kernels = {v: f"{fakelinux.KERNEL_VERSION} {commit[:12]} config "
                  f"{submission.config_sha(v)[:12]}"
               for v, commit in (("base", submission.base), ("patched", submission.head))}
    assert {k: v for k, v in data["context"].items() if k != "cpu"} == {
        "clock": "icount", "accel": "tcg", "guest cpus": 1,
        "base kernel": kernels["base"], "patched kernel": kernels["patched"]}

    table = (bench_dir / "bench.md").read_text()
    assert table.startswith("Clock: **icount** (CPU time of the benchmark process")
    assert table in result.stdout
    row = next(line for line in table.splitlines()
               if line.startswith("| plain splice, patched/base | ext4 | devnull | 4K |"))
    assert row.startswith("| plain splice, patched/base | ext4 | devnull | 4K | 0.988 | ")
    assert row.endswith(" | lower | MISSED (>= 0.995) |")
    assert "Cost of SPLICE_F_STABLE per 4 KiB request (patched kernel, guest ns):" in table
    assert re.search(r"^\| ext4 \| unix \| \d+ \|$", table, re.M)
    assert record["accel"] == {"name": "tcg", "reason": "requested (clock mode icount)"}


# -- wb evidence ----------------------------------------------------------------

def test_backport_must_be_another_series(submission: Submission, tmp_path: Path) -> None:
    """--backport names the work directory of the other kernel's tree; this
    work directory's own tree carries this very series."""
    workbench = submission.workbench
    refused = exits(workbench.wb("evidence", "-v", "7", "--out", str(tmp_path),
                                 "--patches", str(submission.patches),
                                 "--backport", str(workbench.workdir)), 2)
    assert (f"--backport {workbench.workdir}: its tree (Linux {fakelinux.KERNEL_VERSION}) "
            f"carries the same series as this one ({submission.patches})") in refused.stderr
    assert not (tmp_path / "v7").exists()
    missing = exits(workbench.wb("evidence", "-v", "7", "--out", str(tmp_path),
                                 "--patches", str(submission.patches),
                                 "--backport", str(tmp_path / "nothing")), 2)
    assert f"no kernel tree in {tmp_path / 'nothing'}" in missing.stderr


def test_evidence_v1_cites_the_three_runs(submission: Submission, tmp_path: Path) -> None:
    result, out = submission.evidence, submission.v1
    cited = {"all": submission.all, "series": submission.series, "bench": submission.bench}
    # The backport's directory has no cover letter: the one patches/ shares.
    assert (f"[wb] series: {submission.patches} (kernel 7.0) for Linux "
            f"{fakelinux.KERNEL_VERSION}\n") in result.stderr
    assert (f"[wb] cover letter template: {submission.patches.parent}/cover-letter.txt\n"
            in result.stderr)
    messages = sorted(p.relative_to(out).as_posix() for p in (out / "messages").glob("*.eml"))
    cover = out / messages[0]
    assert result.record["stages"]["evidence"] == {
        "status": "PASS", "path": str(out), "cover_letter": str(cover),
        "manifest": str(out / "MANIFEST.sha256"), "missing": []}
    artefacts = {
        "all": ["run.json", "summary.md",
                *(f"tests-{v}/{f}" for v in ("base", "patched")
                  for f in ("integrity.json", "junit.xml", "results.json", "results.ktap"))],
        "series": ["run.json", "series.md", "series/0001.checkpatch", "series/0002.checkpatch",
                   "tests-series-01/junit.xml", "tests-series-02/junit.xml"],
        "bench": ["run.json", "bench/bench.md", "bench/bench.json", "bench/ratios.png",
                  "bench/throughput-ext4.png", "bench/throughput-tmpfs.png"],
        "precheck": ["run.json", "precheck/precheck.txt", "precheck/precheck.json"]}
    cited["precheck"] = submission.precheck
    assert len(messages) == 3 and messages[0].startswith("messages/0000-")
    expected = {*messages, "cover-letter.txt", "evidence.json", "claims.txt", "b4-check.txt",
                "kcidb.json", "b4-review.json",
                *(f"runs/{c}/{f}" for c, files in artefacts.items() for f in files)}
    assert files_in(out) == expected | {"MANIFEST.sha256"}
    assert manifest_checks(out) == expected
    for command, files in artefacts.items():
        for name in files:
            assert sha256(out / "runs" / command / name) == sha256(cited[command].run / name)

    # The messages are the series: applied to the base, they make its head.
    assert applied_tree(submission.tree, [out / p for p in messages[1:]], tmp_path / "am") == \
        git(submission.tree, "rev-parse", f"{submission.head}^{{tree}}")
    # b4 prep --check ran checkpatch on both patches and found nothing.
    assert "Success: 2, Warning: 0, Error: 0" in (out / "b4-check.txt").read_text()
    # The runs as KCIDB I/O, valid against kcidb-io's schema.
    from workbench import kcidb
    kcidb.validate(json.loads((out / "kcidb.json").read_text()))
    # What `b4 review` would show of the runs, per message: the series'
    # verdicts on the cover letter, each commit's on its patch.
    review = json.loads((out / "b4-review.json").read_text())
    assert sorted(review) == [Path(m).name for m in messages]
    statuses = {(name[:4], e["tool"]): e["status"] for name, entries in review.items()
                for e in entries}
    # The recorded samples miss four targets (MISSED): b4 review shows a warning.
    assert statuses.pop(("0000", "wb-bench")) == "warn"
    assert set(statuses.values()) == {"pass"}, statuses

    letter = cover.read_text()
    # b4 names revision 1 as the lists do: no "v1".
    assert "Subject: [PATCH 0/2] splice: add SPLICE_F_STABLE for data as of the splice" \
        in letter
    # From: and the recipients: the submitter's git identity, linux-fsdevel,
    # whom get_maintainer.pl names (through b4 prep --auto-to-cc) and the
    # lists of the ABI's consumers.
    assert f"From: {SUBMITTER[0]} <{SUBMITTER[1]}>" in letter
    # The fake series has an author of its own (not the placeholder): kept.
    assert "\nFrom: Fake Dev <dev@example.org>\n" in (out / messages[1]).read_text()
    headers = letter.partition("\n\n")[0].replace("\n ", " ")
    assert "To: linux-fsdevel@vger.kernel.org" in headers
    for cc in ("linux-xfs@vger.kernel.org", "linux-api@vger.kernel.org",
               "linux-man@vger.kernel.org", "netdev@vger.kernel.org",
               "io-uring@vger.kernel.org"):
        assert cc in headers.split("Cc: ", 1)[1], cc
    assert "Alexander Viro <viro@zeniv.linux.org.uk>" in headers
    for unfilled in ("${", "*** SUBJECT HERE ***", "*** BLURB HERE ***", "(missing:",
                     "|---|", "**"):
        assert unfilled not in letter
    assert f"base-commit: {submission.base}" in letter
    base_sha, patched_sha = submission.config_sha("base"), submission.config_sha("patched")
    assert ("wb precheck, 2 commits x 8 configurations (gcc W=1, sparse, clang-19 W=1, "
            "i386 W=1, arm64 W=1, no BLOCK, no IO_URING, fs as modules): every commit "
            "passes every configuration that builds here") in " ".join(letter.split())
    for text in ("  01/02 PASS  splice: add SPLICE_F_STABLE",
                 f"Base: {fakelinux.KERNEL_VERSION}, commit {submission.base}",
                 f"Kernel config sha256: base {base_sha[:16]}, patched {patched_sha[:16]}",
                 "  clock: icount",
                 "plain splice, patched/base (target >= 0.995)",
                 "  wb bench: accelerator TCG (requested (clock mode icount)); QEMU ",
                 "  performance clock: icount",
                 "  make main && .venv/bin/wb series && .venv/bin/wb bench &&\n"
                 "    .venv/bin/wb evidence"):
        assert text in letter, text
    assert "Changes in results since" not in letter, "there is no v0"
    # A checkout's base is its own commit; this series is itself a backport.
    assert f"{submission.base}\nThe base commit is the one the series applies to in " in letter
    assert "\nThis is the backport (stable-7.0) of the mainline series in patches/.\n" in letter
    subject, _, body = (out / "cover-letter.txt").read_text().partition("\n\n")
    assert subject == "splice: add SPLICE_F_STABLE for data as of the splice"
    assert body.split("\nTo: ")[0].rstrip() in letter

    record = json.loads((out / "evidence.json").read_text())
    counts = {v: submission.all.record["stages"][f"test {v}"]["counts"]
              for v in ("base", "patched")}
    assert record["to"][0] == "linux-fsdevel@vger.kernel.org"
    assert {"linux-api@vger.kernel.org", "linux-man@vger.kernel.org",
            "netdev@vger.kernel.org", "io-uring@vger.kernel.org"} <= set(record["cc"])
    assert record["claims"] and all(c["passed"] and not c["failed"] for c in record["claims"])
    assert record["b4_check_clean"] is True and record["messages"] == [
        Path(m).name for m in messages]
    kept = ("bench", "to", "cc", "claims", "b4_check_clean", "messages", "b4_head",
            "b4_branch", "b4_review")
    assert {k: v for k, v in record.items() if k not in kept} == {
        "version": 1, "kernel_version": fakelinux.KERNEL_VERSION,
        "base_commit": submission.base, "base_upstream": True,
        "base_source": record["base_source"], "series_dir": str(submission.patches),
        "backport": None, "forced": False, "missing": [],
        "runs": {c: r.run.name for c, r in cited.items()}, "tests": counts,
        "config_sha256": {"base": base_sha, "patched": patched_sha},
        "series": [{"subject": p.subject, "status": "PASS", "why": ""}
                   for p in (ADD_FLAG, USE_FLAG)]}
    assert record["bench"]["mode"] == "icount" and len(record["bench"]["ratios"]) == 24
    assert record["bench"]["ratios"]["plain splice, patched/base ext4 devnull 4096"] == 0.9877


def test_evidence_revisions_follow_the_runs_they_cite(submission: Submission) -> None:
    """After v1: never overwritten; refused for another series head, for a
    newer failed run (which an older pass does not hide) but not for one that
    stopped on bad input; v2 says what changed since v1."""
    workbench, v1 = submission.workbench, submission.v1
    kept = {name: sha256(v1 / name) for name in files_in(v1)}

    cover = ("--patches", str(submission.patches))
    again = exits(workbench.wb("evidence", "-v", "1", *cover), 2)
    assert f"{v1} exists: evidence is never overwritten" in again.stderr
    assert "a new revision is -v 2" in again.stderr
    assert {name: sha256(v1 / name) for name in files_in(v1)} == kept

    # Another series head: every cited run tested the old one.
    exits(workbench.wb("apply", "--patches", str(series(submission.tree, ADD_FLAG, name="v0"))))
    other = exits(workbench.wb("evidence", "-v", "2", *cover), 2)
    assert "refusing to write evidence" in other.stderr
    new_head = submission.commits[0]
    for command in ("all", "series", "bench"):
        run = getattr(submission, command).run.name
        assert (f"  - the `wb {command}` run {run} tested {submission.head[:12]}, the series "
                f"is now {new_head[:12]}") in other.stderr
    assert not (v1.parent / "v2").exists()
    exits(workbench.wb("apply", "--patches", str(submission.patches)))

    # --check-targets: the recorded samples miss targets, so the bench fails ...
    checked = exits(workbench.wb("bench", "--quick", "--check-targets", boots=bench_boots()), 1)
    assert checked.record["status"] == "FAIL" and checked.record["complete"] is True
    assert checked.record["stages"]["bench"]["missed_targets"] == MISSED
    # ... and is what the evidence cites, not the older bench that passed.
    failed = exits(workbench.wb("evidence", "-v", "2", *cover), 2)
    assert f"  - the `wb bench` run {checked.run.name} ended FAIL" in failed.stderr
    assert "`wb all`" not in failed.stderr and "`wb series`" not in failed.stderr

    # A bench with one round: other figures. A later one that stopped on bad
    # input (no kvm clock on TCG) is passed over.
    one_round = exits(workbench.wb("bench", "--quick", "--rounds", "1", boots=bench_boots(1)))
    assert len(one_round.vng_calls) == 2
    refused = exits(workbench.wb("bench", "--quick", "--clock", "kvm"), 2)
    assert refused.record["complete"] is False and refused.vng_calls == []
    v2 = exits(workbench.wb("evidence", "-v", "2", *cover))
    out = Path(v2.record["stages"]["evidence"]["path"])
    assert out == v1.parent / "v2"
    record = json.loads((out / "evidence.json").read_text())
    assert record["runs"]["bench"] == one_round.run.name and record["missing"] == []
    assert manifest_checks(out) == files_in(out) - {"MANIFEST.sha256"}
    letter = next((out / "messages").glob("0000-*.eml")).read_text()
    assert "Subject: [PATCH v2 0/2] " in letter
    changes = letter.split("Changes in results since v1:\n", 1)[1].split("\n\n", 1)[0]
    # The ratios of round 1 alone, against those of both rounds in v1.
    v1_ratios = json.loads((v1 / "evidence.json").read_text())["bench"]["ratios"]
    changed = {k: (v1_ratios[k], v) for k, v in record["bench"]["ratios"].items()
               if abs(v1_ratios[k] - v) >= 0.005}
    assert changed, "round 1 alone gives other ratios"
    assert changes.splitlines() == [f" - {k}: {old:.3f} -> {new:.3f}"
                                    for k, (old, new) in changed.items()]
    assert {name: sha256(v1 / name) for name in files_in(v1)} == kept


def test_evidence_refuses_without_runs_and_force_lists_them(series_applied: Workbench
                                                             ) -> None:
    missing = [f"no `wb {c}` run in this work directory: run `wb {c}`"
               + (" (with the integrity suite, on every file system)" if c == "all" else "")
               for c in ("all", "series", "bench")]
    refused = exits(series_applied.wb("evidence"), 2)
    assert "refusing to write evidence: the runs it would cite do not back the current " \
        "series:" in refused.stderr
    assert all(f"  - {m}\n" in refused.stderr for m in missing), refused.stderr
    assert "pass --force to write it anyway" in refused.stderr
    assert refused.record["complete"] is False
    out = series_applied.workdir / "evidence/v1"
    assert not out.exists()

    forced = exits(series_applied.wb("evidence", "--force"))
    listed = forced.record["stages"]["evidence"]["missing"]
    # Then the claims, whose tests no run shows.
    assert listed[:3] == missing and listed[3:]
    assert all(m.startswith("cover letter claim line ") and "no test of the" in m
               for m in listed[3:])
    letter = next((out / "messages").glob("0000-*.eml")).read_text()
    for command in ("all", "series", "bench"):
        assert f"(missing: no `wb {command}` run)" in letter
    assert "Kernel config sha256: n/a" in letter and "${" not in letter
    flat = " ".join(letter.split("Not backed by a complete, passing run (written with "
                                 "--force):\n", 1)[1].split())
    assert all(f"- {m}" in flat for m in missing)
    record = json.loads((out / "evidence.json").read_text())
    assert record["forced"] is True and record["missing"] == listed and record["runs"] == {}
    messages = {f"messages/{m}" for m in record["messages"]}
    assert len(messages) == 3
    assert manifest_checks(out) == {"cover-letter.txt", "evidence.json", "claims.txt",
                                    "b4-check.txt", "b4-review.json", *messages}
    assert "(not run here: no `wb precheck` of this series head" in letter


def test_evidence_of_the_backport_takes_the_cover_letter_patches_shares(
        series_applied: Workbench) -> None:
    """Without --patches, the series for the tree's kernel: on 6.12 the
    backport, patches/stable-6.12, whose cover letter is patches/'s."""
    from workbench.workspace import PATCHES_DIR
    forced = exits(series_applied.wb("evidence", "--force"))
    assert "[wb] series: patches/stable-6.12 (kernel 6.12) for Linux 6.12.117\n" in forced.stderr
    assert f"[wb] cover letter template: {PATCHES_DIR}/cover-letter.txt\n" in forced.stderr
    assert not (PATCHES_DIR / "stable-6.12" / TEMPLATE.name).exists()
    subject = re.search(r"^Subject: \[PATCH[^]]*\] (.*)$", TEMPLATE.read_text(), re.M)
    assert subject, "the template's subject"
    letter = (series_applied.workdir / "evidence/v1/cover-letter.txt").read_text()
    assert letter.startswith(f"{subject[1]}\n\n")


def test_evidence_takes_the_cover_letter_of_the_series_it_names(series_applied: Workbench,
                                                              tmp_path: Path) -> None:
    """An older revision's evidence (its series applied with --patches) gets
    that series' cover letter, not the one of patches/; a directory without
    one is named and nothing is written."""
    empty = tmp_path / "no-letter"
    empty.mkdir()
    (empty / "series").write_text("# kernel: 6.12\n")
    refused = exits(series_applied.wb("evidence", "--force", "--patches", str(empty)), 2)
    assert (f"{empty}/cover-letter.txt: cannot read the cover letter template: No such "
            f"file or directory (nor is there one in {tmp_path}, which its series "
            "directories share)") in refused.stderr
    assert not (series_applied.workdir / "evidence").exists()

    # A revision checked out of git from before series files named kernels.
    older = tmp_path / "v1"
    older.mkdir()
    (older / "series").write_text("# SPLICE_F_STABLE v1\n")
    head, _, body = TEMPLATE.read_text().partition("\n\n")
    head = re.sub(r"^Subject: .*$", "Subject: [PATCH 0/2] splice: the older revision",
                  head, flags=re.M)
    (older / "cover-letter.txt").write_text(f"{head}\n\nThe older text.\n\n{body}")
    used = exits(series_applied.wb("evidence", "--force", "--patches", str(older)))
    assert (f"[wb] warning: {older}/series has no kernel line: using it for Linux 6.12.117 as "
            "--patches asks") in used.stderr
    assert f"[wb] cover letter template: {older}/cover-letter.txt\n" in used.stderr
    letter = (series_applied.workdir / "evidence/v1/cover-letter.txt").read_text()
    assert letter.startswith("splice: the older revision\n\nThe older text.\n")


def test_evidence_refuses_without_a_git_identity(series_applied: Workbench,
                                                 tmp_path: Path) -> None:
    """The submission is sent From: and Signed-off-by: whoever runs wb: without
    an identity (or with the series' placeholder) nothing is written, even
    with --force."""
    nobody = {"GIT_CONFIG_COUNT": "0", "GIT_CONFIG_GLOBAL": str(tmp_path / "none"),
              "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    refused = exits(series_applied.wb("evidence", "--force", env=nobody), 2)
    assert "no git identity (user.name and user.email) to sign the submission with" \
        in refused.stderr
    assert "git config --global user.name" in refused.stderr
    placeholder = {"GIT_CONFIG_VALUE_0": "Workbench Developer",
                   "GIT_CONFIG_VALUE_1": "dev@example.org"}
    refused = exits(series_applied.wb("evidence", "--force", env=placeholder), 2)
    assert "the git identity Workbench Developer <dev@example.org> is the series' " \
        "placeholder author, not a person" in refused.stderr
    assert not (series_applied.workdir / "evidence").exists()


def test_evidence_names_an_incomplete_run(series_applied: Workbench,
                                          incomplete_bench: Result) -> None:
    refused = exits(series_applied.wb("evidence"), 2)
    image = series_applied.workdir / "build/base/arch/x86/boot/bzImage"
    assert (f"  - the `wb bench` run {incomplete_bench.run.name} is incomplete: error: no "
            f"kernel image for base at {image}\n") in refused.stderr
    assert not (series_applied.workdir / "evidence").exists()


def test_evidence_force_lists_an_incomplete_run(series_applied: Workbench,
                                                incomplete_bench: Result) -> None:
    forced = series_applied.wb("evidence", "--force")
    assert "Traceback" not in forced.stderr
    exits(forced)
    letter = (series_applied.workdir / "evidence/v1/cover-letter.txt").read_text()
    assert f" - the `wb bench` run {incomplete_bench.run.name} is incomplete: " in letter


def test_fuzz_suite_runs_the_random_tester_per_filesystem(submission: Submission) -> None:
    """--suite fuzz plans the built splice_fuzz with the run's seed and time box on
    each filesystem."""
    result = submission.workbench.wb("test", "--suite", "fuzz", "--fs", "tmpfs", "--fs", "ext4",
                                     "--seconds", "7", "--seed", "5",
                                     boots=[Boot("clean-run", ktap=True)])
    plan = (result.run / "tests-patched/plan.tsv").read_text().splitlines()
    program = submission.workbench.workdir / "build/tests/kernel_tests/splice_fuzz"
    assert plan == [f"splice_fuzz.{fs}\t{fs}\t{program} --seed 5 --seconds 7"
                    for fs in ("tmpfs", "ext4")]
    assert program.read_bytes()[:4] == b"\x7fELF", "really compiled"
    assert result.record["stages"]["build tests"]["seed"] == 5
