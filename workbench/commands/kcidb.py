"""``wb kcidb``: a `wb all` run and the `wb bench` run of its series head as
KCIDB I/O JSON (see ``kcidb``). It reads finished runs and writes one file,
so it needs no run directory of its own, nor the work directory's lock."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench import evidence, kcidb, log
from workbench.commands import Common
from workbench.errors import WorkbenchError
from workbench.proc import git
from workbench.records import RunRecord
from workbench.source import load_tree, variant_rev
from workbench.workspace import Workspace

OUTPUT_NAME = "kcidb.json"


@dataclass(frozen=True, kw_only=True)
class KcidbOptions(Common):
    run: Path | None = None  # --run; None: the newest finished `wb all` run of the head
    out: str | None = None  # -o; None: the run directory's kcidb.json; "-": stdout
    origin: str = kcidb.ORIGIN
    tree_name: str | None = None  # None: the tarball's or the checkout's name


def named_run(ws: Workspace, given: Path) -> evidence.CitedRun:
    """The `wb all` run ``given`` names: its directory, or its name in runs/."""
    path = given if given.is_dir() else ws.runs / given
    if not (path / "run.json").is_file():
        raise WorkbenchError(f"--run {given}: no run directory (no run.json in {path})",
                             hint=f"name a `wb all` run directory, e.g. {ws.runs / 'latest'}")
    path = path.resolve()
    record = RunRecord.read(path / "run.json")
    if record.command != "all":
        raise WorkbenchError(f"--run {given}: {path.name} is a `wb {record.command}` run, "
                             "not a `wb all` run")
    run = evidence.CitedRun("all", path, record)
    if not record.complete:
        log.warn(f"the run {path.name} is incomplete "
                 f"({record.incomplete_reason or 'it did not finish'}): exporting what it "
                 "finished")
    return run


def newest_run(ws: Workspace, head: str) -> evidence.CitedRun:
    """The `wb all` run `wb evidence` would cite: the newest finished run of
    ``head`` (with the integrity suite on every file system)."""
    found = evidence.cited_run(ws, "all", head)
    if found is None:
        raise WorkbenchError(f"no `wb all` run in {ws.runs} (of the integrity suite on every "
                             "file system, the one `wb evidence` cites)",
                             hint="run `wb all`, or name another run with --run RUNDIR")
    if not found.record.complete:
        raise WorkbenchError(f"no finished `wb all` run in {ws.runs}: the newest, "
                             f"{found.path.name}, is incomplete "
                             f"({found.record.incomplete_reason or 'it did not finish'})",
                             hint="run `wb all`, or export it anyway with --run "
                                  f"{found.path}")
    if found.tested_head() != head:
        raise WorkbenchError(f"the newest finished `wb all` run, {found.path.name}, tested "
                             f"{found.tested_head()[:12] or 'no series'}; the tree's series "
                             f"head is now {head[:12]}",
                             hint="run `wb all` to test the series as it is now, or export "
                                  f"the older run with --run {found.path}")
    return found


def kcidb_command(options: KcidbOptions) -> int:
    ws = Workspace.from_env(options.workdir)
    if options.run is not None:
        all_run = named_run(ws, options.run)
    else:
        tree = load_tree(ws)
        all_run = newest_run(ws, git(tree.path, "rev-parse", variant_rev(tree, "patched")))
    log.info(f"`wb all` run: {all_run.path}")
    head = all_run.tested_head()
    bench_run = kcidb.bench_of(all_run, evidence.cited_run(ws, "bench", head) if head else None)
    if bench_run is not None:
        log.info(f"`wb bench` run: {bench_run.path}")
    data = kcidb.Exporter(options.origin, options.tree_name).export(all_run, bench_run)
    kcidb.validate(data)
    text = json.dumps(data, indent=2) + "\n"
    if options.out == "-":
        sys.stdout.write(text)
        log.info(f"KCIDB I/O v{kcidb.SCHEMA[0]}.{kcidb.SCHEMA[1]}, valid: {kcidb.counts(data)}")
        return 0
    out = Path(options.out) if options.out else all_run.path / OUTPUT_NAME
    write(out, text, ws)
    print(f"wb kcidb: {out} (KCIDB I/O v{kcidb.SCHEMA[0]}.{kcidb.SCHEMA[1]}, valid: "
          f"{kcidb.counts(data)})", flush=True)
    return 0


def write(out: Path, text: str, ws: Workspace) -> None:
    """Write ``out``; a file in a run directory is never overwritten (an
    equal export of it is left as it is)."""
    if out.is_dir():
        raise WorkbenchError(f"-o {out}: a directory", hint=f"-o {out / OUTPUT_NAME}")
    if out.exists():
        if out.read_text(errors="replace") == text:
            log.info(f"{out} is already this export")
            return
        if out.resolve().is_relative_to(ws.runs.resolve()):
            raise WorkbenchError(f"{out} exists: files in a run directory are never "
                                 "overwritten",
                                 hint="-o FILE writes the export elsewhere; delete the file "
                                      "to export into the run directory again")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
