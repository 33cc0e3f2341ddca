"""``wb precheck``: the builds the robots will do, for every commit (see ``precheck``)."""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import log, precheck
from workbench.commands import Common
from workbench.commands.prepare import apply
from workbench.context import Context
from workbench.errors import WorkbenchError
from workbench.records import PrecheckStage
from workbench.series import choose_series
from workbench.source import PATCHED_BRANCH, load_tree
from workbench.status import Status


@dataclass(frozen=True, kw_only=True)
class PrecheckOptions(Common):
    patches: Path | None = None  # --patches; None: the series for the tree's kernel
    targets: tuple[str, ...] = ()  # configuration names; (): all of precheck.TARGETS
    jobs: int | None = None


def chosen_targets(names: tuple[str, ...]) -> tuple[precheck.Target, ...]:
    if not names:
        return precheck.TARGETS
    known = {t.slug: t for t in precheck.TARGETS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WorkbenchError(f"unknown precheck configuration(s): {', '.join(unknown)}",
                             hint=f"known: {', '.join(known)}")
    return tuple(known[n] for n in names)


def precheck_command(ctx: Context, options: PrecheckOptions) -> Status:
    tree = load_tree(ctx.ws)
    targets = chosen_targets(options.targets)
    apply(ctx, tree, choose_series(tree.version, options.patches))
    out_dir = ctx.run.path / "precheck"
    with ctx.timer.phase("precheck"):
        result = precheck.run_precheck(tree, tree.base_commit, PATCHED_BRANCH, targets,
                                       ctx.ws.root / "build" / "precheck", out_dir,
                                       options.jobs or os.cpu_count() or 1)
    text = precheck.table(result)
    (out_dir / "precheck.txt").write_text(text)
    data = {"seconds": result.seconds,
            "configurations": [asdict(t) for t in result.targets],
            "commits": [{"commit": c, "subject": s} for c, s in result.commits],
            "left_out": result.left_out,
            "base": {n: asdict(c) | {"status": c.status.value} for n, c in result.base.items()},
            "cells": [{"commit": i, "configuration": n, **asdict(c), "status": c.status.value}
                      for (i, n), c in sorted(result.cells.items())]}
    (out_dir / "precheck.json").write_text(json.dumps(data, indent=1) + "\n")
    first = result.first_failure()
    summary = f"{first[0]:02d} {first[1]}: {first[2].detail}" if first else ""
    status = Status.FAIL if first else Status.PASS
    ctx.run.stage("precheck", PrecheckStage(
        status, str(out_dir / "precheck.txt"), str(out_dir / "precheck.json"),
        len(result.commits), [t.name for t in targets], summary, result.seconds))
    print(text, end="")
    log.info(f"precheck: {out_dir / 'precheck.txt'}")
    return status
