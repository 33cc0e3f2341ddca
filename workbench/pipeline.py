"""The pipeline: each ``wb`` command runs its stages inside a fresh run directory.

source -> series -> config -> build -> boot -> run tests -> results -> report.
Every stage records its outcome in ``run.json`` as soon as it finishes, so an
interrupted or failed run keeps what finished and says it is incomplete.
"""

import argparse
from dataclasses import asdict, replace
import hashlib
import json
import secrets
from pathlib import Path

from workbench import bench, commits, evidence, guest_tests, integrity, log
from workbench.accel import Accel, Accelerator, requested_accel
from workbench.boot import BootRequest, boot, tool_versions
from workbench.build import BuildResult, build_kernel, built_commit, make_vars, switch_to
from workbench.errors import WorkbenchError
from workbench.kconfig import DEBUG_FRAGMENT, DEFAULT_FRAGMENTS, fragment_path, make_config
from workbench.log import PhaseTimer
from workbench.proc import git
from workbench.report import write_summary
from workbench.results import merge_junit, report_labels
from workbench.rundir import Run
from workbench.series import Series, apply_series
from workbench.source import (PATCHED_BRANCH, KernelTree, load_tree, tree_from_checkout,
                              tree_from_tarball, user_tree, variant_rev)
from workbench.status import Status, worst
from workbench.workspace import PATCHES_DIR, VARIANTS, Workspace


class Pipeline:
    """The stages, sharing one workspace, run directory and phase timer."""

    def __init__(self, ws: Workspace, run: Run, timer: PhaseTimer, debug: bool = False,
                 accel: tuple[str, str] = ("auto", "")):
        self.ws = ws
        self.run = run
        self.timer = timer
        # Debug kernels (configs/debug.config) get build dirs of their own.
        self.debug = debug
        self.accelerator = Accelerator(ws.root / "accel.json", *accel,
                                       on_choice=self._record_accel)
        self._plan: list[guest_tests.PlannedTest] | None = None

    # -- source ---------------------------------------------------------
    def tree(self, checkout: Path | None, base: str = "HEAD", tarball: Path | None = None,
             keep_checkout: bool = False) -> KernelTree:
        """``keep_checkout``: a user's tree set up earlier stays, rather than
        the default source replacing it (`wb tree --tree X` then `wb all`)."""
        with self.timer.phase("tree"):
            if checkout is not None:
                tree = tree_from_checkout(self.ws, checkout, base)
            elif keep_checkout and (kept := user_tree(self.ws)) is not None:
                log.info(f"using the tree `wb tree --tree` set up: {kept.origin}")
                tree = kept
            else:
                tree = tree_from_tarball(self.ws, *(tarball,) if tarball else ())
        self.run.stage("tree", Status.PASS, path=str(tree.path), version=tree.version,
                       base_commit=tree.base_commit, origin=tree.origin)
        log.info(f"kernel {tree.version}, base commit {tree.base_commit[:12]}")
        return tree

    # -- series ---------------------------------------------------------
    def apply(self, tree: KernelTree, patches_dir: Path = PATCHES_DIR) -> str:
        series = Series.read(patches_dir)
        key = _digest([tree.base_commit, *(p.read_bytes() for p in series.patches)])
        record_path = self.ws.root / "series.json"
        record = self.ws.read_json(record_path) or {}
        with self.timer.phase("apply"):
            if record.get("key") == key and _branch_head(tree) == record.get("head"):
                log.info(f"series of {len(series.patches)} patches already applied")
                head, commits = record["head"], record["commits"]
            else:
                result = apply_series(tree, series, self.run.path / "apply.log")
                if result.status is not Status.PASS:
                    record_path.unlink(missing_ok=True)
                    self.run.stage("apply", result.status,
                                   failed_patch=result.failed_patch.name,
                                   failed_at=list(result.failed_at))
                    where = ", ".join(result.failed_at) or "see apply.log"
                    raise WorkbenchError(
                        f"patch {result.failed_patch.name} does not apply to "
                        f"{tree.base_commit[:12]}: failed at {where}\n"
                        f"{_git_errors(result.git_output)}",
                        hint=f"the tree is back at the base; refresh the patch "
                             f"(full output in {self.run.path / 'apply.log'})",
                        status=Status.APPLY_FAILURE)
                head, commits = result.head, list(result.commits)
                record_path.write_text(json.dumps({"key": key, "head": head,
                                                   "commits": commits}) + "\n")
        self.run.stage("apply", Status.PASS, head=head, commits=commits,
                       patches=[p.name for p in series.patches])
        return head

    def label(self, variant: str) -> str:
        """The variant's name in build dirs, stages and results: patched-debug."""
        return f"{variant}-debug" if self.debug else variant

    def build_dir(self, variant: str) -> Path:
        return self.ws.build_dir(self.label(variant))

    def _command(self, command: str, variant: str) -> str:
        """The wb command line that makes this variant's stage, for hints."""
        return f"`wb {command}{' --debug' if self.debug else ''} --variant {variant}`"

    def fragments(self, fragments: list[str] | None) -> tuple[str, ...]:
        chosen = tuple(fragments or DEFAULT_FRAGMENTS)
        return (*chosen, DEBUG_FRAGMENT) if self.debug else chosen

    # -- config ---------------------------------------------------------
    def config(self, tree: KernelTree, variant: str, fragments: tuple[str, ...],
               base_target: str) -> None:
        self._config(tree, self.label(variant), variant_rev(tree, variant),
                     self.build_dir(variant), fragments, base_target)

    def _config(self, tree: KernelTree, label: str, rev: str, build_dir: Path,
                fragments: tuple[str, ...], base_target: str) -> None:
        commit = switch_to(tree, rev, build_dir)
        key = _digest([commit, base_target, *(fragment_path(f).read_bytes() for f in fragments)])
        previous = self.ws.read_json(build_dir / "wb-config.json") or {}
        with self.timer.phase(f"config {label}"):
            if previous.get("inputs") == key and _sha256(build_dir / ".config") == previous.get(
                    "sha256"):
                log.info(f"config {label}: unchanged inputs, keeping {build_dir}/.config")
                sha, base_target = previous["sha256"], previous["base_target"]
            else:
                try:
                    cfg = make_config(tree.path, build_dir, fragments, base_target, make_vars(),
                                      self.run.path / f"config-{label}.log")
                except WorkbenchError as err:
                    self.run.stage(f"config {label}", Status.CONFIG_FAILURE, error=str(err))
                    err.status = err.status or Status.CONFIG_FAILURE
                    raise
                cfg.save(build_dir / "wb-config.json", inputs=key)
                sha = cfg.sha256
        self.run.stage(f"config {label}", Status.PASS, sha256=sha, base_target=base_target,
                       fragments=list(fragments))
        log.info(f"config {label}: sha256 {sha[:16]}")

    # -- build ----------------------------------------------------------
    def build(self, tree: KernelTree, variant: str, jobs: int | None) -> Path:
        build_dir = self.build_dir(variant)
        label = self.label(variant)
        if not (build_dir / ".config").exists():
            raise WorkbenchError(f"no .config in {build_dir}",
                                 hint=f"run {self._command('config', variant)} first")
        with self.timer.phase(f"build {label}"):
            result = build_kernel(tree, label, variant_rev(tree, variant), build_dir,
                                  self.run.path / f"build-{label}.log", jobs)
        self.run.stage(f"build {label}", result.status, commit=result.commit,
                       seconds=result.seconds, log=str(result.log),
                       errors=list(result.errors))
        if result.status is not Status.PASS:
            shown = "\n".join(f"  {line}" for line in result.errors) or "  (see the log)"
            raise WorkbenchError(f"build of {label} failed:\n{shown}",
                                 hint=f"full log: {result.log}", status=Status.BUILD_FAILURE)
        return result.image

    # -- boot -----------------------------------------------------------
    def _record_accel(self, accel: Accel) -> None:
        """run.json says which accelerator the boots used and why."""
        self.run.record["accel"] = {"name": accel.name, "reason": accel.reason}
        self.run.save()

    def image(self, variant: str) -> Path:
        image = self.build_dir(variant) / "arch/x86/boot/bzImage"
        if not image.exists():
            raise WorkbenchError(f"no kernel image for {self.label(variant)} at {image}",
                                 hint=f"run {self._command('config', variant)} and "
                                      f"{self._command('build', variant)} first")
        return image

    def run_command(self, variant: str, command: str, timeout: float) -> Status:
        label = self.label(variant)
        with self.timer.phase(f"run {label}"):
            result = boot(BootRequest(self.image(variant), command, timeout=timeout),
                          self.run.path / f"console-{label}.log", self.accelerator)
        self.run.stage(f"run {label}", result.status, exit_code=result.exit_code,
                       reason=result.reason, console=str(result.console_log),
                       reports=[r.headline for r in result.reports])
        for report in result.reports:
            log.warn(f"kernel {report.kind} at console line {report.line}: {report.headline}")
        log.info(f"run {label}: {result.status.value} {result.reason} "
                 f"(console: {result.console_log})")
        return result.status

    # -- tests ----------------------------------------------------------
    def test_plan(self, tree: KernelTree, args: argparse.Namespace
                  ) -> list[guest_tests.PlannedTest]:
        """Build the in-guest tests once and plan them; every variant runs the
        same programs. They come from the newest source (the patched tree when
        the series is applied), so new tests also run, and skip, on the base."""
        if self._plan is not None:
            return self._plan
        if args.seed is None:
            args.seed = secrets.randbelow(2**32)
        log.info(f"integrity seed {args.seed} (--seed {args.seed} replays)")
        filesystems = tuple(args.filesystems or guest_tests.FILESYSTEMS)
        out_dir = self.ws.root / "build" / "tests"
        with self.timer.phase("build tests"):
            rev = PATCHED_BRANCH if _branch_head(tree) else variant_rev(tree, "base")
            commit = switch_to(tree, rev, out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            build_log = self.run.path / "build-tests.log"
            plan = []
            if args.program:
                plan = guest_tests.program_plan(args.program, filesystems)
            if not args.program and args.suite in ("smoke", "integrity", "all"):
                tests_dir = guest_tests.build_kernel_tests(tree.path, out_dir / "kernel_tests",
                                                           build_log)
            if not args.program and args.suite in ("smoke", "all"):
                plan += guest_tests.program_plan([tests_dir / "splice_smoke"], filesystems)
            if not args.program and args.suite in ("integrity", "all"):
                plan += guest_tests.program_plan(
                    [tests_dir / "splice_integrity"], filesystems,
                    guest_tests.integrity_arguments(args.seed, args.filter))
            if not args.program and args.suite in ("selftests", "all"):
                install = guest_tests.build_splice_selftests(tree.path, out_dir, build_log)
                plan += guest_tests.selftest_plan(install, filesystems)
        self.run.stage("build tests", Status.PASS, commit=commit, seed=args.seed,
                       programs=[t.name for t in plan])
        self._plan = plan
        return plan

    # -- bench ----------------------------------------------------------
    def bench(self, tree: KernelTree, args: argparse.Namespace) -> Status:
        plan = bench.QUICK if args.quick else bench.FULL
        plan = replace(plan, filesystems=tuple(args.filesystems or plan.filesystems),
                       rounds=args.rounds or plan.rounds, reps=args.reps or plan.reps)
        images = {v: self.image(v) for v in VARIANTS}
        mode = bench.clock_mode(args.clock, self.accelerator.choose(images["patched"]))
        if mode == "tcg":
            log.warn("clock tcg: wall clock under emulation; the figures are noise")
        out_dir = self.ws.root / "build" / "tests"
        with self.timer.phase("build tests"):
            rev = PATCHED_BRANCH if _branch_head(tree) else variant_rev(tree, "base")
            switch_to(tree, rev, out_dir)
            tests_dir = guest_tests.build_kernel_tests(tree.path, out_dir / "kernel_tests",
                                                       self.run.path / "build-tests.log")
        context = {"clock": mode, "cpu": bench.host_cpu(),
                   "accel": "kvm" if mode == "kvm" else "tcg",
                   "guest cpus": 1 if mode == "icount" else 2}
        for v in VARIANTS:
            config = self.ws.read_json(self.build_dir(v) / "wb-config.json") or {}
            context[f"{v} kernel"] = (f"{tree.version} {built_commit(self.build_dir(v))[:12]} "
                                      f"config {config.get('sha256', '')[:12]}")
        bench_dir = self.run.path / "bench"
        with self.timer.phase("bench"):
            samples = bench.run_rounds(images, tests_dir / "splice_perf", plan, mode,
                                       bench_dir, self.accelerator, args.timeout)
        md, js, plots, comparisons = bench.write_report(samples, bench_dir, mode, context)
        missed = [f"{c.target} {c.fs} {c.sink} {c.size}" for c in comparisons
                  if c.applies and not c.met]
        status = Status.FAIL if missed and args.check_targets else Status.PASS
        self.run.stage("bench", status, mode=mode, plan=asdict(plan), table=str(md),
                       patched_commit=built_commit(self.build_dir("patched")),
                       json=str(js), plots=[str(p) for p in plots], missed_targets=missed)
        print(md.read_text(), flush=True)
        return status

    # -- series, commit by commit ---------------------------------------
    def series(self, tree: KernelTree, args: argparse.Namespace) -> Status:
        """Build, check and test every commit of the series in order."""
        patches_dir = args.patches or PATCHES_DIR
        if not Series.read(patches_dir).patches:
            raise WorkbenchError(f"{patches_dir}/series lists no patches: there is no commit "
                                 "to check")
        self.apply(tree, patches_dir)
        series_commits = self.run.record["stages"]["apply"]["commits"]
        build_dir = self.ws.build_dir("series")
        base_rev = variant_rev(tree, "base")
        self._config(tree, "series", base_rev, build_dir, self.fragments(args.fragments),
                     args.base_target)
        ledger_path = build_dir / "wb-warnings.json"
        ledger = commits.WarningLedger.from_json(self.ws.read_json(ledger_path) or {})

        def build(label: str, rev: str) -> tuple[BuildResult, str]:
            log_path = self.run.path / f"build-{label}.log"
            with self.timer.phase(f"build {label}"):
                result = build_kernel(tree, label, rev, build_dir, log_path, args.jobs)
            return result, log_path.read_text(errors="replace")

        # The base first: the warnings every commit is compared with.
        result, text = build("series-base", base_rev)
        if result.status is not Status.PASS:
            raise WorkbenchError(f"the base {tree.base_commit[:12]} does not build:\n"
                                 + "\n".join(result.errors), hint=f"log: {result.log}",
                                 status=Status.BUILD_FAILURE)
        ledger.new_in(text, tree.path, build_dir, ())
        ledger_path.write_text(json.dumps(ledger.to_json()) + "\n")

        args.suite = "integrity"
        args.filesystems = args.filesystems or list(commits.SUBSET_FILESYSTEMS)
        plan = self.test_plan(tree, args)
        patch_dir = self.run.path / "series"
        patch_dir.mkdir(exist_ok=True)
        results = []
        for index, commit in enumerate(series_commits, 1):
            subject = git(tree.path, "log", "-1", "--format=%s", commit)
            log.info(f"series {index}/{len(series_commits)}: {commit[:12]} {subject}")
            touched = commits.touched_files(tree.path, commit)
            built, text = build(f"series-{index:02d}", commit)
            new_warnings = ledger.new_in(text, tree.path, build_dir, touched)
            ledger_path.write_text(json.dumps(ledger.to_json()) + "\n")
            checkpatch = commits.run_checkpatch(
                tree.path, commit, patch_dir / f"{index:04d}.patch", args.checkpatch_ignore)
            tests, counts, reason = None, {}, (built.errors[0] if built.errors else "see log")
            if built.status is Status.PASS:
                with self.timer.phase(f"test series-{index:02d}"):
                    run = guest_tests.run_plan(plan, built.image, f"series-{index:02d}",
                                               self.run.path / f"tests-series-{index:02d}",
                                               self.accelerator, args.timeout,
                                               properties={"kernel_commit": commit,
                                                           "seed": args.seed})
                tests, counts = run.status, run.tree.counts()
                reason = run.boot.reason if not run.boot.status.ok else ", ".join(
                    f"{leaf.name} {leaf.result.value}" for leaf in run.tree.leaves()
                    if leaf.result.failed)[:300]
            result = commits.CommitResult(index, commit, subject, touched, built.status,
                                          built.seconds, new_warnings, checkpatch, tests,
                                          counts, reason)
            results.append(result)
            self.run.stage(f"series {index}", result.status, commit=commit, subject=subject,
                           build=built.status.value, new_warnings=list(new_warnings),
                           checkpatch=asdict(checkpatch), tests=tests and tests.value,
                           counts=counts, why=result.why())
            log.info(f"series {index}: {result.status.value} {result.why()}".rstrip())
            # After every commit: an interrupted run keeps the table so far.
            table = commits.markdown(results, len(series_commits))
            (self.run.path / "series.md").write_text(table)
        print(table, flush=True)
        failed = commits.first_failure(results)
        return failed.status if failed else Status.PASS

    # -- evidence -------------------------------------------------------
    def evidence(self, tree: KernelTree, args: argparse.Namespace) -> Status:
        if args.version < 1:
            raise WorkbenchError(f"-v {args.version}: revisions count from 1")
        head = git(tree.path, "rev-parse", variant_rev(tree, "patched"))
        cited = {c: evidence.cited_run(self.ws, c, head) for c in evidence.CITED}
        missing = evidence.problems(cited, head)
        if missing and not args.force:
            raise WorkbenchError("refusing to write evidence: the runs it would cite do not "
                                 "back the current series:\n"
                                 + "\n".join(f"  - {m}" for m in missing),
                                 hint="rerun those, or pass --force to write it anyway "
                                      "(the cover letter then says what is missing)")
        root = (args.out or self.ws.root / "evidence").resolve()
        out_dir = root / f"v{args.version}"
        if out_dir.exists():
            raise WorkbenchError(f"{out_dir} exists: evidence is never overwritten",
                                 hint=f"a new revision is -v {args.version + 1}; delete the "
                                      "directory to redo this one")
        current = evidence.figures(cited)

        def cited_or(command: str, make) -> str:
            run_ = cited.get(command)
            return make(run_) if run_ else f"(missing: no `wb {command}` run)"

        configs = current.get("config_sha256", {})
        values = {
            "series_table": cited_or("series", lambda r: (r.path / "series.md").read_text()
                                     .rstrip()),
            "kernel_version": tree.version,
            "base_commit": tree.base_commit,
            "config_sha256": ", ".join(f"{v} {sha}" for v, sha in configs.items()) or "n/a",
            "integrity_table": cited_or("all", evidence.integrity_table),
            "perf_table": cited_or("bench", evidence.perf_table),
            "environment": evidence.environment(cited),
            "reproduce_command": evidence.REPRODUCE,
        }
        template = evidence.TEMPLATE.read_text()
        subject, body = evidence.fill_template(template, values)
        previous = self.ws.read_json(root / f"v{args.version - 1}" / "evidence.json")
        if previous is not None:
            body += "\n" + evidence.changes(previous, current, args.version)
        if missing:
            body += "\nNot backed by a complete, passing run (written with --force):\n" + \
                "\n".join(f" - {m}" for m in missing) + "\n"
        cover = evidence.format_patches(tree, out_dir / "patches", args.version, subject, body,
                                        evidence.sender(template))
        (out_dir / "cover-letter.txt").write_text(f"{subject}\n\n{body}")
        evidence.copy_artefacts(cited, out_dir)
        record = {"version": args.version, "kernel_version": tree.version,
                  "base_commit": tree.base_commit, "forced": bool(missing), "missing": missing,
                  "runs": {c: r.path.name for c, r in cited.items() if r}, **current}
        (out_dir / "evidence.json").write_text(json.dumps(record, indent=2) + "\n")
        manifest = evidence.write_manifest(out_dir)
        self.run.stage("evidence", Status.PASS, path=str(out_dir), cover_letter=str(cover),
                       manifest=str(manifest), missing=missing)
        log.info(f"evidence v{args.version}: {out_dir} (cover letter {cover.name})")
        return Status.PASS

    def test(self, tree: KernelTree, variant: str, args: argparse.Namespace
             ) -> guest_tests.TestRun:
        plan = self.test_plan(tree, args)
        label = self.label(variant)
        out_dir = self.run.path / f"tests-{label}"
        config = self.ws.read_json(self.build_dir(variant) / "wb-config.json") or {}
        properties = {"kernel_commit": built_commit(self.build_dir(variant)),
                      "config_sha256": config.get("sha256", ""), "seed": args.seed}
        with self.timer.phase(f"test {label}"):
            result = guest_tests.run_plan(plan, self.image(variant), label, out_dir,
                                          self.accelerator, args.timeout,
                                          properties=properties)
        if result.boot.first_test_seconds is not None:
            self.timer.phases[f"boot to first test {label}"] = result.boot.first_test_seconds
        counts = result.tree.counts()
        matrix = integrity.collect(result.tree)
        extra = {}
        if matrix.cells or matrix.checks:
            extra["integrity"] = str(integrity.write_matrix(matrix, out_dir / "integrity.json"))
            extra["integrity_failed"] = matrix.failed()
        self.run.stage(f"test {label}", result.status, **extra, junit=str(result.junit),
                       json=str(result.json), counts=counts, boot=result.boot.status.value,
                       boot_reason=result.boot.reason, boot_seconds=result.boot.seconds)
        log.info(f"test {label}: {result.status.value} "
                 + " ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
                 + f" ({result.junit})")
        return result


def _digest(parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _branch_head(tree: KernelTree) -> str | None:
    try:
        return git(tree.path, "rev-parse", "--verify", "-q", f"refs/heads/{PATCHED_BRANCH}")
    except WorkbenchError:
        return None


def _git_errors(output: str) -> str:
    return "\n".join(line for line in output.splitlines()
                     if line.startswith(("error:", "Patch failed", "Applying")))


def _variants(args: argparse.Namespace) -> tuple[str, ...]:
    return (args.variant,) if getattr(args, "variant", None) else VARIANTS


def _do_tree(p: Pipeline, args) -> Status:
    p.tree(args.tree, args.base, args.tarball)
    return Status.PASS


def _do_apply(p: Pipeline, args) -> Status:
    p.apply(load_tree(p.ws), args.patches or PATCHES_DIR)
    return Status.PASS


def _do_config(p: Pipeline, args) -> Status:
    tree = load_tree(p.ws)
    for variant in _variants(args):
        p.config(tree, variant, p.fragments(args.fragments), args.base_target)
    return Status.PASS


def _do_build(p: Pipeline, args) -> Status:
    tree = load_tree(p.ws)
    for variant in _variants(args):
        p.build(tree, variant, args.jobs)
    return Status.PASS


def _do_run(p: Pipeline, args) -> Status:
    return p.run_command(args.variant, args.exec_command, args.timeout)


def _do_test(p: Pipeline, args) -> Status:
    return p.test(load_tree(p.ws), args.variant, args).status


def _do_all(p: Pipeline, args) -> Status:
    tree = p.tree(args.tree, args.base, keep_checkout=True)
    p.apply(tree)
    fragments = p.fragments(args.fragments)
    for variant in VARIANTS:
        p.config(tree, variant, fragments, args.base_target)
        p.build(tree, variant, args.jobs)
    results = [p.test(tree, variant, args) for variant in VARIANTS]
    summary = write_summary(p.run.path, tree, p.run.record, results, p.timer.phases)
    print(summary.read_text(), flush=True)
    return worst(r.status for r in results)


def _do_bench(p: Pipeline, args) -> Status:
    return p.bench(load_tree(p.ws), args)


def _do_series(p: Pipeline, args) -> Status:
    return p.series(load_tree(p.ws), args)


def _do_evidence(p: Pipeline, args) -> Status:
    return p.evidence(load_tree(p.ws), args)


_COMMANDS = {"tree": _do_tree, "apply": _do_apply, "config": _do_config, "build": _do_build,
             "run": _do_run, "test": _do_test, "all": _do_all, "bench": _do_bench,
             "series": _do_series, "evidence": _do_evidence}


def run_command(args: argparse.Namespace) -> int:
    """Run one ``wb`` command in its own run directory, under the workspace lock."""
    ws = Workspace.from_env(args.workdir)
    with ws.lock():
        run = Run.create(ws, args.command)
        log.info(f"run directory: {run.path}")
        timer = PhaseTimer()
        try:
            run.record["tools"] = tool_versions()
            pipe = Pipeline(ws, run, timer, debug=getattr(args, "debug", False),
                            accel=(requested_accel(args.accel) if hasattr(args, "accel")
                                   else ("auto", "")))
            pipe.accelerator.refuse_early()
            status = _COMMANDS[args.command](pipe, args)
        except WorkbenchError as err:
            if err.status is None:
                run.abandon(f"error: {err}", timer.phases)
                raise
            run.record["error"] = str(err)
            run.finish(err.status, timer.phases)
            print(f"wb: {err.status.value}: {err}", flush=True)
            if err.hint:
                print(f"wb: hint: {err.hint}", flush=True)
            return err.status.exit_code
        except KeyboardInterrupt:
            run.abandon("interrupted", timer.phases)
            raise
        except Exception as err:
            run.abandon(f"internal error: {err!r}", timer.phases)
            raise
        run.finish(status, timer.phases)
    print(timer.summary(), flush=True)
    print(f"wb {args.command}: {status.value} (run directory {run.path})", flush=True)
    return status.exit_code


def merge_junit_reports(reports: list[Path], out: Path) -> int:
    """``wb junit-merge``: no work directory, no run directory."""
    missing = [str(p) for p in reports if not p.is_file()]
    if missing:
        raise WorkbenchError(f"no such report: {', '.join(missing)}")
    merged = merge_junit(report_labels(reports), out)
    log.info(f"merged {len(reports)} reports into {out}: {merged.tests} tests, "
             f"{merged.failures} failures, {merged.errors} errors, {merged.skipped} skipped")
    return 1 if merged.failures or merged.errors else 0
