"""``wb evidence -v N``: the submission and the runs that back it (see ``evidence``)."""

import json
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from workbench import b4check, evidence, kcidb, letter, log, submission
from workbench.commands import Common
from workbench.context import Context
from workbench.errors import WorkbenchError
from workbench.proc import git
from workbench.records import EvidenceStage
from workbench.series import choose_series, shared
from workbench.source import load_tree, variant_rev
from workbench.status import Status
from workbench.workspace import PATCHES_DIR


@dataclass(frozen=True, kw_only=True)
class EvidenceOptions(Common):
    version: int = 1
    out: Path | None = None  # None: <workdir>/evidence
    force: bool = False
    # The series the tree carries (wb apply --patches; None: the series for
    # the tree's kernel): its cover letter template, or the one its parent
    # directory shares (patches/ for patches/stable-6.12)
    patches: Path | None = None
    # The work directory whose tree carries the backport, with its runs
    backport: Path | None = None


def evidence_command(ctx: Context, options: EvidenceOptions) -> Status:
    tree = load_tree(ctx.ws)
    version = options.version
    if version < 1:
        raise WorkbenchError(f"-v {version}: revisions count from 1")
    series_dir = choose_series(tree.version, options.patches).directory
    backport = backport_of(series_dir, options.backport)
    template_path = shared(series_dir, evidence.TEMPLATE_NAME)
    try:
        template = template_path.read_text()
    except OSError as err:
        raise WorkbenchError(f"{template_path}: cannot read the cover letter template: "
                             f"{err.strerror} (nor is there one in {series_dir.parent}, "
                             "which its series directories share)",
                             hint="--patches names the directory of the series the tree "
                                  "carries (as given to wb apply)") from None
    log.info(f"cover letter template: {template_path}")
    placeholder = evidence.placeholder_author(template, template_path)
    author = evidence.submitter(tree, placeholder)
    head = git(tree.path, "rev-parse", variant_rev(tree, "patched"))
    cited = {c: evidence.cited_run(ctx.ws, c, head) for c in evidence.CITED}
    missing = evidence.problems(cited, head)
    robots = evidence.cited_run(ctx.ws, "precheck", head)
    if robots is not None and robots.problem(head):
        missing.append(robots.problem(head))
    if backport is not None:
        missing += backport.problems()
    elif series_dir.resolve() == PATCHES_DIR.resolve():
        missing.append("no backport results: pass --backport WORKDIR, the work directory "
                       "of a tree that carries a backport (e.g. patches/stable-6.12 on "
                       "`wb tree --kernel 6.12`) with its `wb all`, `wb series` and "
                       "`wb bench` runs")
    root = (options.out or ctx.ws.root / "evidence").resolve()
    out_dir = root / f"v{version}"
    if out_dir.exists():
        raise WorkbenchError(f"{out_dir} exists: evidence is never overwritten",
                             hint=f"a new revision is -v {version + 1}; delete the "
                                  "directory to redo this one")
    current = evidence.figures(cited)

    def cited_or(command: str, make: Callable[[evidence.CitedRun], str]) -> str:
        cited_run = cited.get(command)
        return make(cited_run) if cited_run else f"  (missing: no `wb {command}` run)"

    configs = current.get("config_sha256", {})
    values = {
        "series_summary": cited_or("series", evidence.series_summary),
        "kernel_version": tree.version,
        "base_commit": tree.base_commit,
        "config_sha256": ", ".join(f"{v} {sha[:16]}" for v, sha in configs.items()) or "n/a",
        "results_summary": cited_or("all", evidence.results_summary),
        "stable_summary": cited_or("all", evidence.stable_summary),
        "perf_summary": cited_or("bench", evidence.perf_summary),
        "environment": evidence.environment(cited),
        "precheck_summary": evidence.precheck_summary(robots),
        "bundle": letter.wrap(f"evidence/v{version}/ (runs/, backport/runs/, claims.txt, "
                              "b4-check.txt, b4-review.json, kcidb.json; MANIFEST.sha256 "
                              "lists every file)"),
        "reproduce_command": (evidence.REPRODUCE_WITH_BACKPORT if backport
                              else evidence.REPRODUCE),
        "base_source": textwrap.fill(evidence.base_source(tree), letter.WIDTH),
        "backport": backport_text(series_dir, backport),
    }
    subject, body = evidence.fill_template(template, values, template_path)
    claims = letter.check_claims(letter.claim_refs(body), ktap_trees(cited.get("all")))
    missing += [f"cover letter claim without a test: {c}"
                for c in letter.unreferenced_claims(body)]
    missing += [f"cover letter claim {c.problem}" for c in claims if c.problem]
    series_head = submission.reauthor(tree, author, placeholder)
    previous = ctx.ws.read_json(root / f"v{version - 1}" / "evidence.json")
    if previous is not None:
        body += "\n" + evidence.changes(previous, current, version)
    range_diff = submission.range_diff(tree, version, series_head)
    if range_diff is not None:
        body += (f"\nRange-diff against v{version - 1} (all of it: range-diff.txt in the "
                 f"bundle):\n{range_diff[0]}\n")
    missing += [f"cover letter line {len(line)} columns wide: {line[:50]}..."
                for line in letter.too_wide(body)]
    missing += [f"commit message line {line}" for line in submission.wide_commit_lines(
        tree, series_head)]
    if missing and not options.force:
        raise WorkbenchError("refusing to write evidence: the runs it would cite do not "
                             "back the current series:\n"
                             + "\n".join(f"  - {m}" for m in missing),
                             hint="rerun those, or pass --force to write it anyway "
                                  "(the cover letter then says what is missing)")
    if missing:
        body += "\nNot backed by a complete, passing run (written with --force):\n" + \
            "\n".join(letter.wrap(m, indent=" - ") for m in missing) + "\n"
    results = kcidb_export(cited.get("all"), cited.get("bench"), missing, options.force)
    b4_log = ctx.run.path / "b4.log"
    prepared = submission.prepare(tree, series_head, author, version, subject, body,
                                  [evidence.TO_LIST], list(evidence.CC_LISTS), b4_log)
    checked = submission.check(tree, prepared, ctx.run.path / "b4-check.txt")
    if not checked.ok:
        problem = f"b4 prep --check found problems (see {checked.log})"
        if not options.force:
            raise WorkbenchError(f"refusing to write evidence: {problem}",
                                 hint="fix the patches, or pass --force")
        missing.append(problem)
    out_dir.mkdir(parents=True)
    messages = submission.write_messages(tree, prepared, out_dir / "messages", b4_log)
    submission.tag_revision(tree, version, prepared.head)
    (out_dir / "cover-letter.txt").write_text(f"{subject}\n\n{body}")
    (out_dir / "claims.txt").write_text(letter.claims_table(claims))
    shutil.copy2(checked.log, out_dir / "b4-check.txt")
    if range_diff is not None:
        (out_dir / "range-diff.txt").write_text(range_diff[1] + "\n")
    if results is not None:
        (out_dir / "kcidb.json").write_text(json.dumps(results, indent=2) + "\n")
    # What a maintainer's `b4 review` shows of this workbench's runs, per message.
    review = {m.name: b4check.check(ctx.ws, m.read_bytes()) for m in messages}
    (out_dir / "b4-review.json").write_text(json.dumps(review, indent=2) + "\n")
    evidence.copy_artefacts({**cited, "precheck": robots}, out_dir)
    if backport is not None:
        evidence.copy_artefacts(backport.cited, out_dir / "backport")
    record = {"version": version, "kernel_version": tree.version,
              "to": prepared.to, "cc": prepared.cc, "b4_branch": prepared.branch,
              "b4_head": prepared.head, "b4_check_clean": checked.ok,
              "messages": [m.name for m in messages],
              "claims": [{"line": c.ref.line, "kernel": c.ref.variant,
                          "pattern": c.ref.pattern, "passed": c.passed,
                          "skipped": c.skipped, "failed": list(c.failed)} for c in claims],
              "base_commit": tree.base_commit, "base_upstream": Path(tree.origin).is_dir(),
              "base_source": evidence.base_source(tree), "series_dir": str(series_dir),
              "forced": bool(missing), "missing": missing,
              "runs": {c: r.path.name for c, r in {**cited, "precheck": robots}.items() if r},
              "b4_review": {name: [e["status"] for e in entries]
                            for name, entries in review.items()},
              **current,
              "backport": backport.record() if backport else None}
    (out_dir / "evidence.json").write_text(json.dumps(record, indent=2) + "\n")
    manifest = evidence.write_manifest(out_dir)
    cover = messages[0]
    ctx.run.stage("evidence", EvidenceStage(Status.PASS, str(out_dir), str(cover),
                                            str(manifest), missing))
    log.info(f"evidence v{version}: {out_dir} ({len(messages)} messages as b4 send would "
             f"send them, in {out_dir / 'messages'}; b4 branch {prepared.branch})")
    return Status.PASS


def kcidb_export(all_run: evidence.CitedRun | None, bench_run: evidence.CitedRun | None,
                 missing: list[str], force: bool) -> dict[str, Any] | None:
    """The cited runs as KCIDB I/O (validated); None without a `wb all` run.
    A run KCIDB cannot describe refuses the evidence, or with --force is listed."""
    if all_run is None:
        return None
    try:
        data = kcidb.Exporter("wb").export(all_run, kcidb.bench_of(all_run, bench_run))
        kcidb.validate(data)
    except WorkbenchError as err:
        if not force:
            raise WorkbenchError(f"refusing to write evidence: no KCIDB export of the "
                                 f"cited runs: {err}", hint=err.hint) from None
        missing.append(f"no KCIDB export: {err}")
        return None
    return data


def ktap_trees(all_run: evidence.CitedRun | None) -> dict[str, Any]:
    return evidence.ktap_trees(all_run) if all_run is not None else {}


def backport_of(series_dir: Path, workdir: Path | None) -> evidence.Backport | None:
    """The backport tested in ``workdir``: a tree there that carries another
    series than this tree's."""
    if workdir is None:
        return None
    backport = evidence.Backport.read(workdir)
    theirs = backport.series_dir()
    if theirs is None:
        raise WorkbenchError(f"--backport {workdir}: no `wb all` run there that names the "
                             "series it applied",
                             hint="run `wb all` in that work directory first")
    if theirs.resolve() == series_dir.resolve():
        raise WorkbenchError(f"--backport {workdir}: its tree (Linux {backport.tree.version}) "
                             f"carries the same series as this one ({series_dir})",
                             hint="name the work directory of the other kernel's tree")
    log.info(f"backport: Linux {backport.tree.version} in {backport.workdir}, series "
             f"{theirs}, head {backport.head[:12]}")
    return backport


def backport_text(series_dir: Path, backport: evidence.Backport | None) -> str:
    if backport is not None:
        return backport.section()
    if series_dir.resolve() == PATCHES_DIR.resolve():
        return "Backport: (missing: no --backport work directory)"
    return (f"This is the backport ({series_dir.name}) of the mainline series in "
            f"{PATCHES_DIR.name}/.")
