"""``wb kcidb``: a run's results as KCIDB I/O v5.3 JSON, the submission format
of the KernelCI database (schema: ``kcidb_io.schema.V5_3``).

A `wb all` run, and the `wb bench` run of the same series head, become:

    checkouts  two: the base (the tree's base commit, no patches) and the
               patched checkout, the same commit with the series on top
               (patchset_hash, patchset_files). KCIDB ties every build to
               the code it built, and the base kernel is not built from the
               series: one checkout for both would report the base kernel's
               results (its skipped SPLICE_F_STABLE cases, its reproduced
               corruption) as the series'.
    builds     one per kernel the run configured and built ("base",
               "patched", "base-debug", ...), each of its checkout
    tests      per kernel, the boot as the root test (path "": every test of
               the build) and every node of its KTAP tree, from
               tests-<kernel>/results.json (the KTAP tree, with each kernel
               report attributed to the case it appeared in); the bench
               figures as tests with status DONE and a number: the ratios on
               the patched build, each kernel's throughput on its build.

Ids are ``ORIGIN:RUN:...`` with RUN the run directory's name: exporting a run
again gives the same objects (KCIDB merges equal ids), another run new ones.
File URLs are file:// URLs of this machine; KCIDB requires absolute URIs.
"""

import datetime
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import __version__, log
from workbench.errors import WorkbenchError
from workbench.evidence import CitedRun
from workbench.kconfig import ARCH
from workbench.ktap import Result
from workbench.proc import git
from workbench.records import (ApplyStage, BenchStage, BuildStage, ConfigStage, RunRecord,
                               TestStage, TreeStage)
from workbench.report import environment_line
from workbench.series import commit_patch_id, patch_id
from workbench.status import Status

SCHEMA = (5, 3)  # the version written, and validated against (kcidb_io.schema.V5_3)
ORIGIN = "wb"  # the CI system's name in KCIDB (--origin): [a-z0-9_]+
LOG_EXCERPT_MAX = 16384  # characters: KCIDB's limit for a log_excerpt

# Our outcome of a stage (a boot, a build) in KCIDB's terms. KCIDB: FAIL, the
# code is faulty; ERROR, the test did not complete and the code's status is
# unknown; MISS, the harness failed and nothing ran; SKIP, not applicable.
KCIDB_STATUS: dict[Status, str] = {
    Status.PASS: "PASS",
    Status.SKIP: "SKIP",
    Status.FAIL: "FAIL",
    # The kernel reported a bug (BUG, WARNING, KASAN, lockdep) or panicked:
    # the tested code is faulty.
    Status.OOPS: "FAIL",
    Status.PANIC: "FAIL",
    # The guest hung and was killed: the kernel or a test program, which one
    # is not known, so the code's status is not either.
    Status.TIMEOUT: "ERROR",
    # QEMU or vng failed: the kernel did not run.
    Status.INFRA: "MISS",
    # The series does not apply (the checkout is not valid), the config lacks
    # an option asked for, the build fails: the code (series or config) fails.
    Status.APPLY_FAILURE: "FAIL",
    Status.CONFIG_FAILURE: "FAIL",
    Status.BUILD_FAILURE: "FAIL",
}
# A KTAP result in KCIDB's terms; a kernel report during a case fails it
# whatever its KTAP result (as in the JUnit report).
KTAP_STATUS: dict[Result, str] = {
    Result.PASS: "PASS",
    Result.FAIL: "FAIL",
    Result.SKIP: "SKIP",
    Result.XFAIL: "PASS",  # failed as expected: a pass, as wb counts it
    Result.TODO: "SKIP",  # known not to work yet: no verdict (JUnit: skipped)
    Result.ERROR: "ERROR",  # no result: the program crashed or its output stopped
}
# Measurements: no verdict on the code, a number.
MEASURED = "DONE"

_NOT_IN_PATH = re.compile(r"[^A-Za-z0-9_-]+")


def path_parts(name: str) -> list[str]:
    """A KTAP name as KCIDB path components. KTAP names are hierarchical
    already and say so with dots (splice_integrity.ext4,
    ext4.stable.tcp.write.before_confirm), which KCIDB paths separate
    components with; any other character a component cannot hold becomes
    "_" (the KTAP name itself is kept in the test's misc)."""
    parts = [_NOT_IN_PATH.sub("_", part).strip("_") for part in name.split(".")]
    return [p for p in parts if p] or ["_"]


def patchset_hash(patches: list[bytes]) -> str:
    """KCIDB's patchset hash: sha256 over the newline-terminated sha256 of
    each patch, in order of application (the schema's example: `sha256sum
    *.patch | cut -c-64 | sha256sum | cut -c-64`); "" for no patches."""
    if not patches:
        return ""
    hashes = "".join(hashlib.sha256(patch).hexdigest() + "\n" for patch in patches)
    return hashlib.sha256(hashes.encode()).hexdigest()


def file_url(path: Path) -> str:
    return path.resolve().as_uri()


def timestamp(recorded: str) -> str:
    """A run record's time (local time without an offset, as wb writes it) as
    KCIDB's RFC 3339 date-time, which needs the offset."""
    return datetime.datetime.fromisoformat(recorded).astimezone().isoformat()


@dataclass(frozen=True)
class Patchset:
    files: tuple[Path, ...]
    hash: str


def applied_patchset(run: CitedRun) -> Patchset:
    """The series files the run applied, in order, and their KCIDB hash.

    KCIDB defines the hash over "each patch from the patchset", the files
    patchset_files lists, "in a format accepted by git apply": the patches
    that were applied, which anyone can fetch and hash again. Those are the
    series files `git am` took, not a `git format-patch` of the commits it
    made: format-patch writes other bytes (the commit it was made from, the
    git version that made it), so the same series would hash differently on
    every machine and never match another CI system's hash of the mailed
    patches. Each file is checked against the commit the run made of it (git
    patch-id), so that a series edited since the run is refused rather than
    exported as tested.
    """
    applied = run.record.stage("apply", ApplyStage)
    where = f"the `wb all` run {run.path.name}"
    if applied is None:
        raise WorkbenchError(f"{where} applied no series (it stopped before `wb apply`)",
                             hint="name a run that got further with --run")
    if not applied.series:
        raise WorkbenchError(f"{where} does not name the series directory it applied (a "
                             "record of an older wb): its patchset cannot be named",
                             hint="run `wb all` again")
    files = tuple(Path(applied.series) / name for name in applied.patches)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise WorkbenchError(f"{where} applied {', '.join(missing)}, which is gone: its "
                             "patchset cannot be hashed",
                             hint="restore the series it applied, or run `wb all` again")
    if applied.status is Status.PASS:
        _check_unchanged(run, files, applied.commits)
    return Patchset(files, patchset_hash([f.read_bytes() for f in files]))


def _check_unchanged(run: CitedRun, files: tuple[Path, ...], commits: list[str]) -> None:
    tree_stage = run.record.stage("tree", TreeStage)
    tree = Path(tree_stage.path) if tree_stage else None
    for file, commit in zip(files, commits):
        if tree is None or not _has_commit(tree, commit):
            log.warn(f"cannot check that {file.name} is still the patch the run applied: "
                     f"commit {commit[:12]} is not in {tree or 'the tree'} any more")
            return
        if patch_id(tree, file.read_text(errors="replace")) != commit_patch_id(tree, commit):
            raise WorkbenchError(
                f"{file} changed since the `wb all` run {run.path.name} applied it as "
                f"{commit[:12]}: the run did not test this patchset",
                hint="run `wb all` again to test the series as it is now, or restore the "
                     "patch (git checkout -- FILE)")


def _has_commit(tree: Path, commit: str) -> bool:
    try:
        git(tree, "cat-file", "-e", f"{commit}^{{commit}}")
    except WorkbenchError:
        return False
    return True


def default_tree_name(origin: str) -> str:
    """A name for the tree the base comes from: a tarball's name without its
    suffixes (linux-source-6.12), or the checkout's directory name."""
    if Path(origin).is_dir():
        return Path(origin).name
    name = Path(origin.rsplit(":", 2)[0]).name
    return re.sub(r"\.tar(\.\w+)?$", "", name)


def _labels(record: RunRecord) -> list[str]:
    """The kernels the run configured or built, in the order it did."""
    labels: dict[str, None] = {}
    for name in record.stages:
        kind, _, label = name.partition(" ")
        if kind in ("config", "build") and label and label != "tests":
            labels[label] = None
    return list(labels)


def _environment(record: RunRecord, misc: dict[str, Any] | None = None) -> dict[str, Any]:
    extra = {"accel": record.accel.name, "accel_reason": record.accel.reason} \
        if record.accel else {}
    return {"comment": environment_line(record),
            "misc": {**extra, **record.tools, **(misc or {})}}


def _first_command(log_path: Path) -> str:
    """The command line a wb log starts with ("$ make ...")."""
    try:
        with log_path.open(errors="replace") as f:
            first = f.readline()
    except FileNotFoundError:
        return ""
    return first[2:].strip() if first.startswith("$ ") else ""


def _excerpt(lines: list[str]) -> str:
    return "\n".join(lines)[-LOG_EXCERPT_MAX:]


@dataclass
class Exporter:
    origin: str
    tree_name: str | None = None

    def export(self, all_run: CitedRun, bench_run: CitedRun | None = None) -> dict[str, Any]:
        """The KCIDB data of ``all_run`` (and the figures of ``bench_run``)."""
        record = all_run.record
        prefix = f"{self.origin}:{all_run.path.name}"
        checkouts = self.checkouts(all_run, prefix)
        checkout_ids = {c["misc"]["variant"]: c["id"] for c in checkouts}
        builds, tests = [], []
        for label in _labels(record):
            variant = label.split("-", 1)[0]
            build = self.build(all_run, label, f"{prefix}:{label}", checkout_ids[variant])
            builds.append(build)
            tests += self.tests(all_run, label, build["id"])
        if bench_run is not None:
            tests += self.bench_tests(bench_run, {b["misc"]["label"]: b["id"] for b in builds})
        return {"version": {"major": SCHEMA[0], "minor": SCHEMA[1]},
                "checkouts": checkouts, "builds": builds, "tests": tests}

    def checkouts(self, run: CitedRun, prefix: str) -> list[dict[str, Any]]:
        record = run.record
        tree = record.stage("tree", TreeStage)
        if tree is None:
            raise WorkbenchError(f"the `wb all` run {run.path.name} set up no kernel tree "
                                 "(it stopped first): nothing to export",
                                 hint="name a run that got further with --run")
        applied = record.stage("apply", ApplyStage)
        patchset = applied_patchset(run)
        common = {"origin": self.origin, "git_commit_hash": tree.base_commit,
                  "tree_name": self.tree_name or default_tree_name(tree.origin),
                  "start_time": timestamp(record.started)}
        misc = {"kernel_version": tree.version, "tree_origin": tree.origin,
                "base_upstream": Path(tree.origin).is_dir(), "run": run.path.name,
                "wb_version": __version__}
        base = common | {
            "id": f"{prefix}:base", "patchset_hash": "", "valid": tree.status.ok,
            "comment": f"Linux {tree.version}: the base of the series",
            "misc": misc | {"variant": "base"}}
        patched = common | {
            "id": f"{prefix}:patched", "patchset_hash": patchset.hash,
            "patchset_files": [{"name": f.name, "url": file_url(f)} for f in patchset.files],
            "valid": applied is not None and applied.status.ok,
            "comment": f"Linux {tree.version} with the {len(patchset.files)} patches of "
                       f"{Path(applied.series).name if applied else 'the series'}/",
            "misc": misc | {"variant": "patched", "series": applied.series if applied else "",
                            "kernels": applied.kernels if applied else "",
                            "head": applied.head if applied else ""}}
        apply_log = run.path / "apply.log"
        if apply_log.is_file():
            patched["log_url"] = file_url(apply_log)
        if applied is not None and applied.failed_patch:
            patched["log_excerpt"] = _excerpt([f"{applied.failed_patch} does not apply at "
                                               f"{', '.join(applied.failed_at)}"])
        return [base, patched]

    def build(self, run: CitedRun, label: str, build_id: str,
              checkout_id: str) -> dict[str, Any]:
        built = run.record.stage(f"build {label}", BuildStage)
        configured = run.record.stage(f"config {label}", ConfigStage)
        build: dict[str, Any] = {"id": build_id, "origin": self.origin,
                                 "checkout_id": checkout_id, "architecture": ARCH,
                                 "comment": f"the {label} kernel"}
        misc: dict[str, Any] = {"label": label}
        if configured is not None:
            fragments = [Path(f).name.removesuffix(".config") for f in configured.fragments]
            if configured.base_target:
                build["config_name"] = "+".join([configured.base_target, *fragments])
            misc |= {"config_sha256": configured.sha256, "fragments": configured.fragments}
        if built is not None:
            log_path = run.path / f"build-{label}.log"
            build |= {"status": KCIDB_STATUS[built.status], "duration": built.seconds}
            if built.compiler:
                build["compiler"] = built.compiler
            if log_path.is_file():
                build["log_url"] = file_url(log_path)
                if command := _first_command(log_path):
                    build["command"] = command
            if built.errors:
                build["log_excerpt"] = _excerpt(built.errors)
            misc["commit"] = built.commit
        elif configured is not None and not configured.status.ok:
            # The config check failed: the kernel was not built.
            build["status"] = KCIDB_STATUS[configured.status]
            build["log_excerpt"] = _excerpt([configured.error])
            config_log = run.path / f"config-{label}.log"
            if config_log.is_file():
                build["log_url"] = file_url(config_log)
        build["misc"] = misc
        return build

    def tests(self, run: CitedRun, label: str, build_id: str) -> list[dict[str, Any]]:
        """The boot of one kernel (the root test) and its KTAP results."""
        tested = run.record.stage(f"test {label}", TestStage)
        if tested is None:
            return []
        out_dir = run.path / f"tests-{label}"
        console, ktap = out_dir / "console.log", out_dir / "results.ktap"
        root: dict[str, Any] = {
            "id": f"{build_id}:", "build_id": build_id, "origin": self.origin, "path": "",
            "status": KCIDB_STATUS[tested.status], "duration": tested.boot_seconds,
            "start_time": timestamp(run.record.started),
            "comment": f"boot of the {label} kernel: {tested.boot.value} {tested.boot_reason}",
            "environment": _environment(run.record),
            "misc": {"boot": tested.boot.value, "boot_reason": tested.boot_reason,
                     "counts": tested.counts, "integrity_failed": tested.integrity_failed}}
        if console.is_file():
            root["log_url"] = file_url(console)
        outputs = [p for p in (ktap, out_dir / "results.json", out_dir / "junit.xml",
                               out_dir / "integrity.json") if p.is_file()]
        if outputs:
            root["output_files"] = [{"name": p.name, "url": file_url(p)} for p in outputs]
        results = out_dir / "results.json"
        if not results.is_file():
            log.warn(f"{results} missing: the {label} kernel's tests are not exported")
            return [root]
        data = json.loads(results.read_text())
        tests, seen = [root], {"": 1}
        for parts, node in _walk(data.get("tests", {}), []):
            path = ".".join(parts)
            seen[path] = seen.get(path, 0) + 1
            reports = node.get("kernel_reports", [])
            test: dict[str, Any] = {
                "id": f"{build_id}:{path}" + (f"#{seen[path]}" if seen[path] > 1 else ""),
                "build_id": build_id, "origin": self.origin, "path": path,
                "status": "FAIL" if reports else KTAP_STATUS[Result(node["result"])],
                "misc": {"ktap_name": node["name"], "ktap_result": node["result"]}}
            comment = "; ".join([*reports, *([node["reason"]] if node.get("reason") else [])])
            if comment:
                test["comment"] = comment
            if reports:
                test["misc"]["kernel_reports"] = reports
            if node.get("log"):
                test["log_excerpt"] = _excerpt(node["log"])
            if ktap.is_file():
                test["log_url"] = file_url(ktap)
            tests.append(test)
        return tests

    def bench_tests(self, bench_run: CitedRun, builds: dict[str, str]) -> list[dict[str, Any]]:
        """The bench run's figures: each ratio (on the patched build) and each
        kernel's throughput per cell (on its build), status DONE."""
        data = json.loads((bench_run.path / "bench" / "bench.json").read_text())
        mode = data["mode"]
        prefix = f"{self.origin}:{bench_run.path.name}"
        common: dict[str, Any] = {
            "origin": self.origin, "status": MEASURED,
            "start_time": timestamp(bench_run.record.started),
            "environment": _environment(bench_run.record, data["context"] | {"clock": mode})}
        table = bench_run.path / "bench" / "bench.md"
        if table.is_file():
            common["log_url"] = file_url(table)
        tests = []
        if "patched" in builds:
            for c in data["comparisons"]:
                path = ".".join(["bench", "ratio", *path_parts(c["target"]), c["fs"],
                                 c["sink"], _size(c["size"])])
                ratio = c["ratio"]
                met = ("met" if c["met"] else "MISSED") + f" (>= {c['floor']})"
                tests.append(common | {
                    "id": f"{prefix}:{path}", "build_id": builds["patched"], "path": path,
                    # A ratio of medians: dimensionless, so no unit.
                    "number": {"value": ratio["value"]},
                    "comment": f"{c['target']}, {c['fs']} into {c['sink']}, "
                               f"{_size(c['size'])} requests: {ratio['value']:.3f} "
                               f"({ratio['low']:.3f} - {ratio['high']:.3f}), "
                               f"{ratio['verdict']}; target "
                               + (met if c["applies"] else "does not apply"),
                    "misc": {"low": ratio["low"], "high": ratio["high"],
                             "verdict": ratio["verdict"], "floor": c["floor"],
                             "applies": c["applies"], "met": c["met"], "clock": mode}})
        for row in data["figures"]:
            if row["kernel"] not in builds:
                continue
            path = ".".join(["bench", "throughput", row["fs"], row["sink"], row["method"],
                             _size(row["size"])])
            tests.append(common | {
                "id": f"{prefix}:{row['kernel']}:{path}", "build_id": builds[row["kernel"]],
                "path": path, "number": {"value": row["mib_s"], "unit": "MiB/s"},
                "comment": f"median throughput ({mode} clock), {row['method']} from "
                           f"{row['fs']} into {row['sink']}, {_size(row['size'])} requests",
                "misc": {k: row[k] for k in ("mib_s_low", "mib_s_high", "spread", "n",
                                             "cpu_s_per_gib", "syscalls_per_mib")}
                | {"clock": mode}})
        return tests


def _walk(node: dict[str, Any], parents: list[str]
          ) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """Every node below ``node`` (results.json's KTAP tree), with its path."""
    for sub in node.get("subtests", []):
        parts = [*parents, *path_parts(sub["name"])]
        yield parts, sub
        yield from _walk(sub, parts)


def _size(n: int) -> str:
    for unit, shift in (("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def bench_of(all_run: CitedRun, bench_run: CitedRun | None) -> CitedRun | None:
    """``bench_run`` if it measured the series head ``all_run`` tested, and
    finished; else None, saying why (the export then has no figures)."""
    if bench_run is None:
        log.warn("no `wb bench` run in this work directory: the export has no performance "
                 "figures (run `wb bench`)")
        return None
    head = all_run.tested_head()
    measured = bench_run.record.stage("bench", BenchStage)
    why = ""
    if not bench_run.record.complete or measured is None:
        why = "it did not finish"
    elif bench_run.tested_head() != head:
        why = f"it measured {bench_run.tested_head()[:12]}, not {head[:12]}"
    elif not (bench_run.path / "bench" / "bench.json").is_file():
        why = "it wrote no bench/bench.json"
    if why:
        log.warn(f"the `wb bench` run {bench_run.path.name} is left out: {why} (run "
                 "`wb bench` for figures of this series head)")
        return None
    return bench_run


def validate(data: dict[str, Any]) -> None:
    """Refuse ``data`` unless it is valid KCIDB I/O v5.3, naming the place
    that is not (kcidb_io's own schema, formats checked)."""
    import jsonschema  # kcidb_io's dependency; both cost a fraction of a second to import
    from kcidb_io.schema import V5_3

    try:
        V5_3.validate(data)
    except jsonschema.exceptions.ValidationError as err:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        where = where.lstrip(".") or "the top level"
        parts = list(err.absolute_path)
        named = ""
        if len(parts) >= 2 and isinstance(parts[1], int) and isinstance(parts[0], str):
            obj = data.get(parts[0], [])[parts[1]]
            if isinstance(obj, dict) and "id" in obj:
                named = f" ({parts[0][:-1]} {obj['id']})"
        raise WorkbenchError(f"the export is not valid KCIDB I/O v{SCHEMA[0]}.{SCHEMA[1]}: "
                             f"{where}{named}: {err.message}",
                             hint="nothing was written; a wrong --origin or --tree-name is "
                                  "yours to fix, anything else is a bug of wb kcidb") from None


def counts(data: dict[str, Any]) -> str:
    return ", ".join(f"{len(data.get(kind, []))} {kind}" for kind in ("checkouts", "builds",
                                                                        "tests"))
