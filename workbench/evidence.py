"""``wb evidence``: the submission, with the results that back it.

It cites the newest finished ``wb all`` (tests of base and patched),
``wb series`` (per commit) and ``wb bench`` (performance) runs of the series
head, refuses (unless forced) when one is missing, incomplete, failed or of
another head, and writes ``evidence/vN/``:

    patches/          git format-patch --cover-letter -v N, the cover letter
                      body filled from the series' cover-letter.txt, or the
                      one the series of patches/ share (patches/cover-letter.txt)
    cover-letter.txt  the same cover letter as b4 prep --edit-cover wants it
    runs/<command>/   JUnit, JSON, tables and plots of the cited runs
    evidence.json     the figures, for the next revision to compare with
    backport/runs/    the same for the backport's runs (--backport WORKDIR)
    MANIFEST.sha256   sha256 of every file (sha256sum -c checks it)
"""

import hashlib
import json
import platform
import re
import shutil
import string
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import bench, ktap, letter
from workbench.errors import WorkbenchError
from workbench.proc import git, run
from workbench.records import (ApplyStage, BenchStage, ConfigStage, PrecheckStage, RecordError,
                               RunRecord, TestsBuildStage, TestStage)
from workbench.report import environment_line
from workbench.source import KernelTree, load_tree, variant_rev
from workbench.status import Status
from workbench.workspace import PATCHES_DIR, VARIANTS, Workspace

CITED = ("all", "series", "bench")
# The `wb all --suite` values whose runs the integrity matrix can come from.
INTEGRITY_SUITES = ("all", "integrity")
TEMPLATE_NAME = "cover-letter.txt"
TEMPLATE = PATCHES_DIR / TEMPLATE_NAME
# The list the series is for, and the lists get_maintainer.pl does not name
# for its files: the new flag is ABI and goes into man-pages, and sockets and
# io_uring are consumers of it.
TO_LIST = "linux-fsdevel@vger.kernel.org"
CC_LISTS = ("linux-api@vger.kernel.org", "linux-man@vger.kernel.org",
            "netdev@vger.kernel.org", "io-uring@vger.kernel.org")
REPRODUCE = ("make main && .venv/bin/wb series && .venv/bin/wb bench &&\n"
             "    .venv/bin/wb evidence")
# With the backport: each kernel in its own work directory (README).
REPRODUCE_WITH_BACKPORT = (
    "make setup && for k in 6.12 7.3; do w=\"--workdir work/$k\"\n"
    "    .venv/bin/wb $w all --kernel $k && .venv/bin/wb $w series &&\n"
    "    .venv/bin/wb $w bench\n"
    "  done && .venv/bin/wb --workdir work/7.3 evidence --backport work/6.12")
# What is copied from each cited run (globs relative to the run directory).
ARTEFACTS = {
    "all": ("run.json", "summary.md", "tests-*/junit.xml", "tests-*/results.json",
            "tests-*/results.ktap", "tests-*/integrity.json"),
    "series": ("run.json", "series.md", "series/*.checkpatch", "tests-series-*/junit.xml"),
    "bench": ("run.json", "bench/bench.md", "bench/bench.json", "bench/*.png"),
    "precheck": ("run.json", "precheck/precheck.txt", "precheck/precheck.json"),
}
# Cited when there is one: the robots' builds (wb precheck) cost minutes of
# their own; without a run the letter says they were not done here.
OPTIONAL = ("precheck",)


@dataclass(frozen=True)
class CitedRun:
    command: str
    path: Path
    record: RunRecord

    def full_suites(self) -> bool:
        """A `wb all` that ran the integrity suite on every file system (the
        default suites, or --suite integrity): the one the cover letter's
        integrity matrix comes from; not --suite fuzz/thirdparty/..., --fs,
        --filter or --program."""
        built = self.record.stage("build tests", TestsBuildStage)
        if built is not None and built.suite:
            return built.suite in INTEGRITY_SUITES and not built.narrowed
        # Records from before the stage said so: the command line does.
        argv = [part for arg in self.record.argv for part in arg.split("=", 1)]
        suite = argv[argv.index("--suite") + 1] if "--suite" in argv[:-1] else "all"
        return suite in INTEGRITY_SUITES and not {"--fs", "--filter", "--program"} & set(argv)

    def tested_head(self) -> str:
        """The commit of the series head this run tested."""
        if self.command == "bench":
            measured = self.record.stage("bench", BenchStage)
            return measured.patched_commit if measured else ""
        applied = self.record.stage("apply", ApplyStage)
        return applied.head if applied else ""

    def problem(self, head: str) -> str:
        """Why this run cannot back a submission of ``head`` ("" when it can)."""
        if not self.record.complete:
            reason = self.record.incomplete_reason or "it did not finish"
            return f"the `wb {self.command}` run {self.path.name} is incomplete: {reason}"
        if self.record.status is not Status.PASS:
            ended = self.record.status.value if self.record.status else "without a status"
            return f"the `wb {self.command}` run {self.path.name} ended {ended}"
        if self.tested_head() != head:
            return (f"the `wb {self.command}` run {self.path.name} tested "
                    f"{self.tested_head()[:12] or 'another series'}, the series is now "
                    f"{head[:12]}")
        return ""


def cited_run(ws: Workspace, command: str, head: str) -> CitedRun | None:
    """The run of ``command`` that the evidence for ``head`` cites.

    The newest finished run that tested ``head``, whatever its outcome (a
    failure is never hidden behind an older pass); else the newest finished
    run, else the newest run, for ``problem()`` to explain. A run that
    stopped early (bad input, Ctrl-C) does not shadow a finished one.
    Run directories sort by their date.
    """
    pattern = re.compile(rf"^\d{{8}}-\d{{6}}-{command}(\.\d+)?$")
    names = sorted((p.name for p in ws.runs.glob(f"*-{command}*") if pattern.match(p.name)),
                   reverse=True)
    runs = []
    for name in names:
        path = ws.runs / name / "run.json"
        if not path.exists():
            continue
        try:
            runs.append(CitedRun(command, ws.runs / name, RunRecord.read(path)))
        except RecordError as err:
            raise RecordError(f"cannot read the `wb {command}` run {name}: {err}",
                              hint=f"move {ws.runs / name} out of {ws.runs} to pass it "
                                   "over") from None
    if command == "all":  # runs of other suites back other claims
        runs = [r for r in runs if r.full_suites()]
    finished = [r for r in runs if r.record.complete]
    of_head = [r for r in finished if r.tested_head() == head]
    return next(iter(of_head or finished or runs), None)


def problems(cited: dict[str, CitedRun | None], head: str) -> list[str]:
    found = []
    for command in CITED:
        run_ = cited.get(command)
        if run_ is None:
            found.append(f"no `wb {command}` run in this work directory: run `wb {command}`"
                         + (" (with the integrity suite, on every file system)"
                            if command == "all" else ""))
        elif run_.problem(head):
            found.append(run_.problem(head))
    return found


def ktap_trees(all_run: CitedRun) -> dict[str, ktap.TestCase]:
    """Each variant's KTAP results of a `wb all` run."""
    trees = {}
    for variant in VARIANTS:
        ktap_path = all_run.path / f"tests-{variant}" / "results.ktap"
        if ktap_path.exists():
            trees[variant] = ktap.parse(ktap_path.read_text(errors="replace").splitlines(),
                                        name=variant)
    return trees


def results_summary(all_run: CitedRun) -> str:
    trees = ktap_trees(all_run)
    return letter.results_summary(trees) if trees else "  (no test results)"


def stable_summary(all_run: CitedRun) -> str:
    trees = ktap_trees(all_run)
    return letter.stable_summary(trees["patched"]) if "patched" in trees else \
        "  (no results of the patched kernel)"


def precheck_summary(precheck_run: CitedRun | None) -> str:
    """The first failing commit and the configurations, from precheck.txt."""
    if precheck_run is None:
        return ("  (not run here: no `wb precheck` of this series head; the kernel test\n"
                "  robot's builds are its to report)")
    stage = precheck_run.record.stage("precheck", PrecheckStage)
    if stage is None:
        return f"  (the `wb precheck` run {precheck_run.path.name} stopped before its table)"
    verdict = (f"first failing commit {stage.first_failure}" if stage.first_failure
               else "every commit passes every configuration that builds here")
    return letter.wrap(f"wb precheck, {stage.commits} commits x {len(stage.configurations)} "
                       f"configurations ({', '.join(stage.configurations)}): {verdict}")


def series_summary(series_run: CitedRun) -> str:
    return letter.series_summary(series_run.record.commit_stages())


def perf_summary(bench_run: CitedRun) -> str:
    data = bench_run.path / "bench" / "bench.json"
    if not data.exists():  # a run that stopped early, cited with --force
        return f"  (missing: the `wb bench` run {bench_run.path.name} wrote no bench.json)"
    return letter.perf_summary(json.loads(data.read_text()))


def test_counts(all_run: CitedRun) -> dict[str, dict[str, int]]:
    tested = {v: all_run.record.stage(f"test {v}", TestStage) for v in VARIANTS}
    return {v: stage.counts if stage else {} for v, stage in tested.items()}


def environment(cited: dict[str, CitedRun | None]) -> str:
    """The tools and accelerator of the cited runs (each run's own record)."""
    gcc = run(["gcc", "--version"], check=False).stdout.splitlines()
    lines = []
    for command, cited_run in cited.items():
        if cited_run is not None:
            lines.append(letter.wrap(f"wb {command}: {environment_line(cited_run.record)}"))
    bench_run = cited.get("bench")
    measured = bench_run.record.stage("bench", BenchStage) if bench_run else None
    lines += [letter.wrap(f"compiler: {gcc[0] if gcc else 'unknown'}"),
              letter.wrap(f"host: {platform.platform()}, {bench.host_cpu()}")]
    if measured:
        lines.append(f"  performance clock: {measured.mode}")
    return "\n".join(lines)


def figures(cited: dict[str, CitedRun | None]) -> dict[str, Any]:
    """What evidence.json keeps for the next revision to compare with."""
    out: dict[str, Any] = {}
    if all_run := cited.get("all"):
        out["tests"] = test_counts(all_run)
        configured = {v: all_run.record.stage(f"config {v}", ConfigStage) for v in VARIANTS}
        out["config_sha256"] = {v: c.sha256 if c else "" for v, c in configured.items()}
    if series_run := cited.get("series"):
        out["series"] = [{"subject": s.subject, "status": s.status.value, "why": s.why}
                         for s in series_run.record.commit_stages()]
    bench_json = (bench_run.path / "bench" / "bench.json") if (bench_run := cited.get(
        "bench")) else None
    if bench_json is not None and bench_json.exists():
        data = json.loads(bench_json.read_text())
        out["bench"] = {"mode": data["mode"], "ratios": {
            f"{c['target']} {c['fs']} {c['sink']} {c['size']}": round(c["ratio"]["value"], 4)
            for c in data["comparisons"]}}
    return out


def changes(previous: dict, current: dict, version: int) -> str:
    """What changed in the results since the previous revision's evidence."""
    lines = []
    for variant, counts in current.get("tests", {}).items():
        before = previous.get("tests", {}).get(variant, {})
        diff = {k: (before.get(k, 0), v) for k, v in counts.items() if before.get(k, 0) != v}
        if diff:
            lines.append(f" - tests {variant}: " + ", ".join(
                f"{k} {old} -> {new}" for k, (old, new) in sorted(diff.items())))
    old_ratios = previous.get("bench", {}).get("ratios", {})
    if previous.get("bench", {}).get("mode") == current.get("bench", {}).get("mode"):
        for key, value in current.get("bench", {}).get("ratios", {}).items():
            if key in old_ratios and abs(old_ratios[key] - value) >= 0.005:
                lines.append(f" - {key}: {old_ratios[key]:.3f} -> {value:.3f}")
    elif old_ratios:
        lines.append(" - performance: clock mode changed, ratios not compared")
    old_series = [s["status"] for s in previous.get("series", [])]
    new_series = [s["status"] for s in current.get("series", [])]
    if old_series != new_series:
        lines.append(f" - per-commit results: {' '.join(old_series) or 'none'} -> "
                     f"{' '.join(new_series) or 'none'}")
    body = "\n".join(letter.wrap(line.removeprefix(" - "), indent=" - ") for line in lines)
    return f"Changes in results since v{version - 1}:\n{body or ' - none'}\n"


def base_source(tree: KernelTree, trailer: bool = True) -> str:
    """Where the base commit comes from. A tarball's tree is the workbench's
    own commit of it, which no upstream repository has; ``trailer``: the
    patches' base-commit: names it."""
    if Path(tree.origin).is_dir():
        return f"The base commit is the one the series applies to in {tree.origin}."
    tarball = Path(tree.origin.rsplit(":", 2)[0]).name
    return (f"Not an upstream commit: the base is {tarball}, Debian's source of Linux "
            f"{tree.version} with Debian's patches, as the workbench committed it"
            + (" (base-commit: below names that commit)." if trailer else "."))


@dataclass(frozen=True)
class Backport:
    """The backport's tree and runs, from the work directory that tested it."""
    workdir: Path
    tree: KernelTree
    head: str
    cited: dict[str, CitedRun | None]

    @classmethod
    def read(cls, workdir: Path) -> "Backport":
        ws = Workspace(workdir.resolve())
        tree = load_tree(ws)
        head = git(tree.path, "rev-parse", variant_rev(tree, "patched"))
        return cls(ws.root, tree, head, {c: cited_run(ws, c, head) for c in CITED})

    def series_dir(self) -> Path | None:
        """The series its cited `wb all` run applied (None: no such run, or
        one recorded before runs named their series)."""
        tested = self.cited.get("all")
        applied = tested.record.stage("apply", ApplyStage) if tested else None
        return Path(applied.series) if applied and applied.series else None

    def problems(self) -> list[str]:
        return [f"backport (Linux {self.tree.version}, {self.workdir}): {p}"
                for p in problems(self.cited, self.head)]

    def section(self) -> str:
        """The cover letter's part on the backport: its base, per-commit,
        integrity and performance results."""
        cited = self.cited

        def of(command: str, summary: Any) -> str:
            found = cited.get(command)
            return summary(found) if found else f"  (missing: no `wb {command}` run)"

        title = f"Backport to Linux {self.tree.version}"
        return "\n".join([
            title, "-" * len(title),
            f"Base: {self.tree.version}, commit {self.tree.base_commit}",
            textwrap.fill(base_source(self.tree, trailer=False), letter.WIDTH),
            f"Series head: {self.head}", "",
            "Per commit (wb series):", of("series", series_summary), "",
            "Tests per file system:", "", of("all", results_summary), "",
            "Cells with the flag, patched kernel:", "", of("all", stable_summary), "",
            "Performance:", "", of("bench", perf_summary), "",
            "Environment:", environment(cited)])

    def record(self) -> dict[str, Any]:
        return {"kernel_version": self.tree.version, "base_commit": self.tree.base_commit,
                "base_source": base_source(self.tree, trailer=False), "head": self.head,
                "workdir": str(self.workdir),
                "runs": {c: r.path.name for c, r in self.cited.items() if r},
                **figures(self.cited)}


def fill_template(template: str, values: dict[str, str],
                  source: Path = TEMPLATE) -> tuple[str, str]:
    """(subject, body) of the cover letter template (read from ``source``)
    with ``values`` filled in."""
    head, _, body = template.partition("\n\n")
    subject = next((line.split(":", 1)[1].strip() for line in head.splitlines()
                    if line.startswith("Subject:")), "")
    subject = re.sub(r"^\[PATCH[^\]]*\]\s*", "", subject)
    try:
        return subject, string.Template(body).substitute(values)
    except KeyError as err:
        raise WorkbenchError(f"{source}: no value for ${{{err.args[0]}}}") from None


def placeholder_author(template: str, source: Path = TEMPLATE) -> tuple[str, str]:
    """(name, email) of the template's From: line, the identity the patches in
    patches/ carry; the submission carries the submitter's instead."""
    for line in template.partition("\n\n")[0].splitlines():
        if m := re.match(r"^From:\s*(.*?)\s*<([^>]+)>\s*$", line):
            return m[1], m[2]
    raise WorkbenchError(f"{source}: no 'From: Name <email>' line in the header")


def submitter(tree: KernelTree, placeholder: tuple[str, str]) -> tuple[str, str]:
    """(name, email) of the user's git identity in ``tree``: the From: and
    Signed-off-by: of the submission."""
    ident = tuple(run(["git", "-C", str(tree.path), "config", "--get", key],
                      check=False).stdout.strip() for key in ("user.name", "user.email"))
    hint = ("set it with `git config --global user.name 'Your Name'` and "
            "`git config --global user.email you@example.org`: the patches are sent "
            "From: and Signed-off-by: you")
    if not all(ident):
        raise WorkbenchError("no git identity (user.name and user.email) to sign the "
                             "submission with", hint=hint)
    if ident == placeholder:
        raise WorkbenchError(f"the git identity {ident[0]} <{ident[1]}> is the series' "
                             "placeholder author, not a person", hint=hint)
    return ident[0], ident[1]


def copy_artefacts(cited: dict[str, CitedRun | None], out_dir: Path) -> None:
    for command, run_ in cited.items():
        if run_ is None:
            continue
        for pattern in ARTEFACTS[command]:
            for src in sorted(run_.path.glob(pattern)):
                dest = out_dir / "runs" / command / src.relative_to(run_.path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)


def write_manifest(out_dir: Path) -> Path:
    lines = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(out_dir)}\n")
    manifest = out_dir / "MANIFEST.sha256"
    manifest.write_text("".join(lines))
    return manifest
