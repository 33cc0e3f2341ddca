"""``wb b4-check``: this work directory's results as a check of ``b4 review``.

b4 0.16 runs the commands of ``b4.review-perpatch-check-cmd`` on each patch
and those of ``b4.review-series-check-cmd`` on the cover letter (on the first
patch when there is none), with the message on standard input, and reads a
JSON array of ``{"tool", "status": "pass"|"warn"|"fail", "summary",
"details", "url"}`` from standard output (b4/review/checks.py,
``_run_external_cmd``); each tool becomes a column of its checks view.

A patch (``[PATCH vN k/M] subject``) is matched to the commit of the series
in the tree (base..wb/patched) with its subject, and gets that commit's
`wb series` verdict: build, new warnings, checkpatch, boot and integrity
subset. A result is for the tree's commit: when the mail's change is not
that commit's (git patch-id), or the run has no result for that exact
commit, it is a warning, not a verdict. A cover letter (0/M) gets the `wb
all`, `wb series` and `wb bench` verdicts of the series head. Missing runs,
no tree, or a mail that matches no commit are warnings that say what to run:
b4 always gets JSON.
"""

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from workbench import evidence
from workbench.errors import WorkbenchError
from workbench.proc import git
from workbench.records import BenchStage, CommitStage, RecordError, TestStage
from workbench.series import commit_patch_id, patch_id
from workbench.source import KernelTree, load_tree, variant_rev
from workbench.workspace import VARIANTS, Workspace

Entry = dict[str, str]
TOOL = "wb"  # what is about the tree or the mail, not a run

_PREFIX = re.compile(r"^\s*\[([^\]]*)\]\s*")
_COUNTER = re.compile(r"(?<!\d)0*(\d+)/0*(\d+)(?!\d)")
_BASE_COMMIT = re.compile(r"^base-commit: ([0-9a-f]{40})\s*$", re.M)


def entry(tool: str, status: str, summary: str, details: str = "", url: str = "") -> Entry:
    found = {"tool": tool, "status": status, "summary": summary, "details": details}
    return found | ({"url": url} if url else {})


@dataclass(frozen=True)
class Message:
    subject: str  # without its [PATCH ...] prefixes, whitespace collapsed
    counter: int | None  # k of "k/M" (0: the cover letter); None: no counter
    total: int | None  # M
    body: str

    @property
    def is_cover(self) -> bool:
        return self.counter == 0

    @property
    def base_commit(self) -> str:
        """A cover letter's base-commit: trailer (git format-patch --base)."""
        found = _BASE_COMMIT.search(self.body)
        return found[1] if found else ""


def parse_message(raw: bytes) -> Message:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)  # policy.default makes them
    subject = " ".join(str(msg.get("subject", "")).split())
    counter = total = None
    while m := _PREFIX.match(subject):
        if c := _COUNTER.search(m[1]):
            counter, total = int(c[1]), int(c[2])
        subject = subject[m.end():]
    part = msg.get_body(preferencelist=("plain",))
    try:
        body = part.get_content() if part is not None else ""
    except (KeyError, LookupError):  # an unknown charset or transfer encoding
        payload = part.get_payload(decode=True) if part is not None else b""
        body = payload.decode(errors="replace") if isinstance(payload, bytes) else ""
    return Message(subject, counter, total, body)


@dataclass(frozen=True)
class Commit:
    index: int  # 1-based, in the series
    sha: str
    subject: str


def series_commits(tree: KernelTree) -> list[Commit]:
    """The commits of base..wb/patched, in order."""
    out = git(tree.path, "log", "--reverse", "--format=%H %s",
              f"{tree.base_commit}..{variant_rev(tree, 'patched')}")
    pairs = [line.split(" ", 1) for line in out.splitlines() if line]
    return [Commit(i, sha, " ".join(rest[0].split()) if rest else "")
            for i, (sha, *rest) in enumerate(pairs, 1)]


def match(commits: list[Commit], message: Message) -> Commit | None:
    """The commit with the mail's subject: the k-th one of the series when
    its subject is that (two commits may share one), else the first."""
    same = [c for c in commits if c.subject == message.subject]
    return next((c for c in same if c.index == message.counter), same[0] if same else None)


def check(ws: Workspace, raw: bytes, series: bool = False) -> list[Entry]:
    """The entries for the message ``raw``: a cover letter's (or with
    ``series``, any message's) series verdicts, else its patch's."""
    message = parse_message(raw)
    if not message.subject:
        return [entry(TOOL, "warn", "no message with a subject on standard input",
                      "b4 passes the patch or cover letter mail on standard input")]
    try:
        tree = load_tree(ws)
        head = git(tree.path, "rev-parse", variant_rev(tree, "patched"))
        commits = series_commits(tree)
        if series or message.is_cover:
            return series_entries(ws, tree, head, commits, message)
        return patch_entries(ws, tree, head, commits, message)
    except WorkbenchError as err:  # no tree, a git that fails: said, as b4 shows it
        return [entry(TOOL, "warn", f"{err}" + (f": {err.hint}" if err.hint else ""),
                      f"work directory {ws.root}")]


# -- a patch --------------------------------------------------------------

def patch_entries(ws: Workspace, tree: KernelTree, head: str, commits: list[Commit],
                  message: Message) -> list[Entry]:
    commit = match(commits, message)
    if commit is None:
        listed = "\n".join(f"  {c.index}/{len(commits)} {c.sha[:12]} {c.subject}"
                           for c in commits) or "  (none: the series is empty)"
        return [entry(TOOL, "warn", f"matches no commit of the series in {tree.path}",
                      f"subject: {message.subject}\nthe series (base..wb/patched):\n{listed}"
                      "\n`wb apply` the series this mail is from to test it")]
    where = f"commit {commit.index}/{len(commits)} {commit.sha[:12]}"
    differs = patch_id(tree.path, message.body) not in ("", commit_patch_id(tree.path,
                                                                           commit.sha))
    try:
        run = evidence.cited_run(ws, "series", head)
    except RecordError as err:
        return [entry("wb-series", "warn", str(err), err.hint or "")]
    if run is None:
        return [entry("wb-series", "warn", f"no `wb series` run for {where}",
                      f"run `wb series` in {ws.root} for its per-commit checks")]
    stages = run.record.commit_stages()
    stage = next((s for s in stages if s.commit == commit.sha), None)
    url = _url(run.path / "series.md")
    if stage is None:
        other = next((s for s in stages if s.subject == commit.subject), None)
        said = (f"it tested another version of this commit ({other.commit[:12]}: "
                f"{other.status.value})" if other else "it has no result for it")
        return [entry("wb-series", "warn",
                      f"the `wb series` run {run.path.name} did not test {where}: {said}",
                      f"run `wb series` to check the series as the tree has it\n"
                      f"run: {run.path}", url)]
    summary = f"{stage.status.value}: {verdict(stage)}"
    if run.tested_head() != head:
        summary += (f" (the run {run.path.name} tested an older series head; this commit "
                    "is the same)")
    status = "pass" if stage.status.ok else "fail"
    if differs:
        status = "warn"
        summary = (f"the mail's change is not {where}'s, which wb tested: {summary}")
    details = [f"{where} {commit.subject}", *commit_details(stage),
               f"run: {run.path} ({_head_note(run, head)})"]
    if differs:
        details.append("the mail's diff and the commit's differ (git patch-id): `wb apply` "
                       "the series this mail is from, then `wb series`")
    if message.counter is not None and message.counter != commit.index:
        details.append(f"the mail is patch {message.counter}/{message.total}, the commit is "
                       f"{commit.index}/{len(commits)} of the tree's series")
    return [entry("wb-series", status, summary, "\n".join(details), url)]


def verdict(stage: CommitStage) -> str:
    """A commit's checks on one line: build, warnings, checkpatch, boot and tests."""
    checkpatch = stage.checkpatch
    parts = [f"build {stage.build.value}",
             f"{len(stage.new_warnings)} new warning{'s' if len(stage.new_warnings) != 1 else ''}",
             f"checkpatch {checkpatch.errors}/{checkpatch.warnings}/{checkpatch.checks}"
             if checkpatch else "checkpatch not run",
             f"boot+tests {stage.tests.value}" + (f" ({_counts(stage.counts)})"
                                                  if stage.counts else "")
             if stage.tests else "not booted"]
    return ", ".join(parts)


def commit_details(stage: CommitStage) -> list[str]:
    lines = [f"build: {stage.build.value}"]
    lines += [f"new warning: {w}" for w in stage.new_warnings]
    if stage.checkpatch:
        lines.append(f"checkpatch --strict: {stage.checkpatch.summary()}")
        lines += [f"  {m}" for m in stage.checkpatch.messages]
    lines.append(f"boot and integrity subset: {stage.tests.value} ({_counts(stage.counts)})"
                 if stage.tests else "boot and integrity subset: not booted")
    if stage.why:
        lines.append(f"why: {stage.why}")
    return lines


# -- the series -----------------------------------------------------------

def series_entries(ws: Workspace, tree: KernelTree, head: str, commits: list[Commit],
                   message: Message) -> list[Entry]:
    entries = []
    if message.total is not None and message.total != len(commits):
        entries.append(entry(TOOL, "warn", f"the mail's series has {message.total} patches, "
                             f"the tree's has {len(commits)}",
                             "the results below are of the tree's series: `wb apply` the "
                             "series this mail is from to test it"))
    if message.base_commit and message.base_commit != tree.base_commit:
        entries.append(entry(TOOL, "warn", f"the series is based on {message.base_commit[:12]}, "
                             f"the tree's base is {tree.base_commit[:12]}",
                             f"the results below are of the series on {tree.base_commit}"))
    for command in evidence.CITED:
        entries.append(run_entry(ws, command, head))
    return entries


def run_entry(ws: Workspace, command: str, head: str) -> Entry:
    """The verdict of the run of ``command`` that `wb evidence` would cite."""
    tool = f"wb-{command}"
    try:
        run = evidence.cited_run(ws, command, head)
    except RecordError as err:
        return entry(tool, "warn", str(err), err.hint or "")
    if run is None:
        what = " (the integrity suite on every file system)" if command == "all" else ""
        return entry(tool, "warn", f"no `wb {command}` run{what}",
                     f"run `wb {command}` in {ws.root}")
    summary = {"all": _all_summary, "series": _series_summary,
               "bench": _bench_summary}[command](run)
    problem = run.problem(head)
    if not run.record.complete or run.tested_head() != head:
        status = "warn"
    elif problem:
        status = "fail"  # finished on this head, and failed
    elif command == "bench" and (measured := run.record.stage("bench", BenchStage)) \
            and measured.missed_targets:
        status = "warn"
    else:
        status = "pass"
    details = f"run: {run.path} ({_head_note(run, head)})"
    url = {"all": "summary.md", "series": "series.md", "bench": "bench/bench.md"}[command]
    return entry(tool, status, f"{problem}: {summary}" if problem else summary, details,
                 _url(run.path / url))


def _all_summary(run: evidence.CitedRun) -> str:
    parts = []
    for variant in VARIANTS:
        tested = run.record.stage(f"test {variant}", TestStage)
        if tested is None:
            parts.append(f"{variant}: not tested")
            continue
        failed = (f", {len(tested.integrity_failed)} integrity cells failed"
                  if tested.integrity_failed else "")
        parts.append(f"{variant} {tested.status.value} ({_counts(tested.counts)}{failed})")
    return "; ".join(parts)


def _series_summary(run: evidence.CitedRun) -> str:
    stages = run.record.commit_stages()
    if not stages:
        return "no commit checked"
    failed = next((s for s in stages if not s.status.ok), None)
    if failed is None:
        return f"{len(stages)} commits, every one passed"
    index = stages.index(failed) + 1
    return (f"{len(stages)} commits, first failing: {index} {failed.commit[:12]} "
            f"{failed.subject}: {failed.status.value} {failed.why}".rstrip())


def _bench_summary(run: evidence.CitedRun) -> str:
    measured = run.record.stage("bench", BenchStage)
    if measured is None:
        return "no measurement"
    missed = measured.missed_targets
    if not missed:
        return f"clock {measured.mode}: every target met"
    return (f"clock {measured.mode}: {len(missed)} target{'s' if len(missed) != 1 else ''} "
            f"missed: {'; '.join(missed)}")


def _head_note(run: evidence.CitedRun, head: str) -> str:
    tested = run.tested_head()
    if tested == head:
        return f"tested the current series head {head[:12]}"
    return f"tested {tested[:12] or 'no series'}, the series head is now {head[:12]}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k.lower()}" for k, n in counts.items() if n) or "no results"


def _url(path: Path) -> str:
    return path.resolve().as_uri() if path.exists() else ""
