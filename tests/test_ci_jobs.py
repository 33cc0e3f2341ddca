"""The CI jobs of ci/, run here as GitHub Actions and GitLab CI would run them.

Each job's own steps come from the YAML (GitHub `run:` steps, GitLab
`before_script` + `script` + `after_script`) and run with bash in a fresh
project directory per job, with the runner behaviour the jobs depend on
emulated: the environment the YAML sets (matrix values filled in), caches
saved and restored by key, artefacts uploaded (symlinks followed, paths
relative to the patterns' common directory) and downloaded (one directory per
artefact), a job's time limit, and what still runs after it (GitHub: steps
with `if: always()`; GitLab: not after_script). Package installs are skipped:
each project has its .venv/bin/wb already, either the real wb or
tests/data/ci/fake_wb.py, which builds and boots nothing but records what it
was asked and writes real JUnit reports.

Known gaps: jobs run one after the other, not in parallel; GitLab's cache is
one shared store (as on runners with a distributed cache); only the actions
and `if:` conditions the files use are emulated (others fail the test).
"""

import fnmatch
import glob
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from junitparser import JUnitXml

CI = Path(__file__).resolve().parent.parent / "ci"
FAKE_WB = Path(__file__).resolve().parent / "data" / "ci" / "fake_wb.py"
REAL_WB = Path(sys.executable).parent / "wb"

# Script lines that install packages or the virtualenv: every emulated
# project has its .venv/bin/wb already.
INSTALL = re.compile(r"\bapt-get\b|\bmake setup\b|\bpip install\b|-m venv\b")
# A job that never ends is a failure of the test, not a wait.
SAFETY_SECONDS = 120
# How much of a job's time limit its setup (packages, virtualenv, source) and
# the upload of its results may take: wb gets the rest.
SETUP_MINUTES = 10


def load(name: str) -> dict:
    return yaml.safe_load((CI / name).read_text())


def lines(value) -> list[str]:
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def minutes(value) -> float:
    """A GitLab `timeout:` ("2h 30m", "90 minutes") or a number of minutes."""
    if isinstance(value, (int, float)):
        return float(value)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", str(value)):
        total += float(number) * {"h": 60, "m": 1, "s": 1 / 60}[unit[0]]
    return total


@dataclass
class JobRun:
    system: str
    name: str
    matrix: dict
    project: Path
    env: dict = field(default_factory=dict)  # what the YAML sets, expanded
    timeout_minutes: float = 0.0
    status: int = 0  # exit status of the first failing step (0: every step passed)
    timed_out: bool = False
    output: str = ""
    artifacts: dict = field(default_factory=dict)  # name -> {relative path: file}
    reports: list = field(default_factory=list)  # GitLab artifacts:reports:junit files
    summary: str = ""  # what the job wrote to $GITHUB_STEP_SUMMARY
    uses: list = field(default_factory=list)  # GitHub actions the job ran

    @property
    def passed(self) -> bool:
        return self.status == 0 and not self.timed_out

    def calls(self) -> list[dict]:
        """What fake_wb.py (or the logging wrapper of the real wb) recorded."""
        log = self.project.parent / f"{self.project.name}.wb.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


def kill_session(sid: int) -> None:
    """Kill every process of a session, as a runner stops a container: the
    `timeout` utility puts its command in a process group of its own."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def files_under(path: Path, follow: bool) -> list[Path]:
    if path.is_file():
        return [path]
    return [Path(root) / name for root, _, names in os.walk(path, followlinks=follow)
            for name in names if (Path(root) / name).is_file()]


def upload(project: Path, spec: str) -> dict[Path, Path]:
    """What actions/upload-artifact stores for `path:` (one pattern a line,
    `!` excludes): every matching file, symlinks followed, named relative to
    the least common ancestor of the patterns' search paths (each pattern up
    to its first wildcard)."""
    found: set[Path] = set()
    search = []
    for pattern in lines(spec):
        hits = {f for hit in glob.glob(str(project / pattern.lstrip("!")), recursive=True)
                for f in files_under(Path(hit), follow=True)}
        if pattern.startswith("!"):
            found -= hits
            continue
        found |= hits
        parts = Path(pattern).parts
        cut = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
        search.append(project.joinpath(*parts[:cut]))
    if not search:
        return {}
    root = Path(os.path.commonpath(search))
    if root.is_file():
        root = root.parent
    return {f.relative_to(root): f for f in found}


def gitlab_paths(project: Path, patterns) -> dict[Path, Path]:
    """GitLab's artifacts:paths and reports: globs relative to the project;
    symlinks are archived as links, not followed."""
    found = {}
    for pattern in as_list(patterns):
        for hit in glob.glob(str(project / pattern), recursive=True):
            for f in files_under(Path(hit), follow=False):
                found[f.relative_to(project)] = f
    return found


def copy_files(files: dict[Path, Path], into: Path) -> None:
    for relative, source in files.items():
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, into / relative)


class Runner:
    """Runs jobs of ci/ files. One Runner is one pipeline; pass the caches of
    an earlier one to have them persist, as they do between pipelines."""

    def __init__(self, root: Path, wb: Path = FAKE_WB, env: dict | None = None,
                 caches: list | None = None, pipeline_id: int = 1,
                 wb_minutes: float | None = None, job_seconds: float | None = None):
        self.root = root
        self.wb = wb
        self.env = env or {}
        self.caches = [] if caches is None else caches  # [(key, paths, stored dir)]
        self.pipeline_id = pipeline_id
        # Time, shrunk: WB_MINUTES as the job sets it becomes wb_minutes, and a
        # job's time limit job_seconds.
        self.wb_minutes = wb_minutes
        self.job_seconds = job_seconds
        self.jobs: list[JobRun] = []
        self.artifacts: dict[str, dict] = {}  # GitHub: the pipeline's artefacts by name

    # -- a job's machine -------------------------------------------------
    def project(self, system: str, name: str) -> Path:
        project = self.root / f"p{self.pipeline_id}-{system}-{len(self.jobs):02d}-{name}"
        shutil.copytree(CI, project / "ci")
        (project / ".venv/bin").mkdir(parents=True)
        wb = project / ".venv/bin/wb"
        log = project.parent / f"{project.name}.wb.log"
        if self.wb == FAKE_WB:
            wb.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_WB} "$@"\n')
        else:  # the real wb, every call logged
            wb.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                          f"with open({str(log)!r}, 'a') as log:\n"
                          f"    log.write(json.dumps({{'argv': sys.argv[1:]}}) + '\\n')\n"
                          f"os.execv({str(self.wb)!r}, [{str(self.wb)!r}, *sys.argv[1:]])\n")
        wb.chmod(0o755)
        (project.parent / f"{project.name}-home").mkdir()
        return project

    def base_env(self, project: Path) -> dict:
        return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "CI": "true",
                "HOME": str(project.parent / f"{project.name}-home"),
                "WB_WORKDIR": str(project / "work"),
                "FAKE_WB_LOG": str(project.parent / f"{project.name}.wb.log")}

    def shell(self, job: JobRun, script: str, env: dict, deadline: float | None,
              flags: tuple[str, ...] = ("-e",)) -> tuple[int, bool]:
        """bash runs ``script`` in the project; at ``deadline`` the job's
        processes are killed, as the runner does at the job's time limit."""
        path = job.project.parent / f"{job.project.name}.step.sh"
        path.write_text(script + "\n")
        out = job.project.parent / f"{job.project.name}.out"
        with out.open("a") as sink:
            proc = subprocess.Popen(["bash", *flags, str(path)], cwd=job.project, env=env,
                                    stdout=sink, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
            limit = SAFETY_SECONDS if deadline is None else deadline - time.monotonic()
            try:
                status, timed_out = proc.wait(timeout=max(limit, 0)), False
            except subprocess.TimeoutExpired:
                kill_session(proc.pid)
                proc.wait()
                assert deadline is not None, f"{job.name}: a step ran {SAFETY_SECONDS} s"
                status, timed_out = -signal.SIGKILL, True
        kill_session(proc.pid)  # what the step left behind ends with the job
        job.output = out.read_text()
        return status, timed_out

    def deadline(self, job: JobRun) -> float | None:
        seconds = self.job_seconds
        return None if seconds is None else time.monotonic() + seconds

    def shrink(self, env: dict) -> dict:
        if self.wb_minutes is not None:
            env = env | {"WB_MINUTES": f"{self.wb_minutes:.4f}"}
        return env

    # -- caches ----------------------------------------------------------
    def restore(self, keys: list[str], paths: list[str], where) -> bool:
        """Exact key first, then each restore key as a prefix, newest first;
        only an entry saved with the same paths matches (GitHub's cache version)."""
        for position, key in enumerate(keys):
            for saved_key, saved_paths, stored in reversed(self.caches):
                if saved_paths == paths and (saved_key == key if position == 0
                                             else saved_key.startswith(key)):
                    for i, path in enumerate(paths):
                        if (stored / str(i)).exists():
                            shutil.copytree(stored / str(i), where(path), symlinks=True,
                                            dirs_exist_ok=True)
                    return position == 0
        return False

    def save(self, key: str, paths: list[str], where, replace: bool) -> None:
        """GitHub keeps the first entry of a key and warns when a path does
        not exist; GitLab replaces the entry."""
        existing = [entry for entry in self.caches if entry[0] == key and entry[1] == paths]
        if existing and not replace:
            return
        if not any(where(p).exists() for p in paths):
            return  # "Path Validation Error": nothing saved
        for entry in existing:
            self.caches.remove(entry)
        stored = self.root / "caches" / f"{len(self.caches)}-{time.monotonic_ns()}"
        for i, path in enumerate(paths):
            if where(path).exists():
                shutil.copytree(where(path), stored / str(i), symlinks=True)
        stored.mkdir(parents=True, exist_ok=True)
        self.caches.append((key, paths, stored))

    # -- GitHub Actions --------------------------------------------------
    @staticmethod
    def github_matrices(job: dict) -> list[dict]:
        matrix = job.get("strategy", {}).get("matrix", {})
        assert not {"include", "exclude"} & set(matrix), "emulate include/exclude first"
        return [dict(zip(matrix, values)) for values in itertools.product(*matrix.values())]

    @staticmethod
    def github_condition(condition: str, state: str) -> bool:
        condition = re.sub(r"^\$\{\{\s*|\s*\}\}$", "", condition.strip())
        known = {"success()": state == "success", "always()": True,
                 "failure()": state == "failure", "cancelled()": state == "cancelled",
                 "!cancelled()": state != "cancelled"}
        assert condition in known, f"emulate `if: {condition}` first"
        return known[condition]

    def github_job(self, workflow: dict, name: str, matrix: dict | None = None) -> JobRun:
        spec = workflow["jobs"][name]
        matrix = matrix if matrix is not None else (self.github_matrices(spec) or [{}])[0]
        project = self.project("github", name)
        job = JobRun("github", name, matrix, project,
                     timeout_minutes=float(spec.get("timeout-minutes", 360)))
        self.jobs.append(job)
        # In a container job ${{ github.workspace }} is the host's path, not
        # the container's $GITHUB_WORKSPACE (actions/runner#2058); in the
        # container that path is in the container's own filesystem, which
        # ends with the job.
        host_view = self.root / f"{project.name}-container/home/runner/work/wb/wb"
        context = {"github.workspace": str(host_view if "container" in spec else project),
                   "github.run_id": str(self.pipeline_id), "github.run_attempt": "1",
                   **{f"matrix.{k}": str(v) for k, v in matrix.items()}}

        def expand(text) -> str:
            def value(m):
                assert m[1] in context, f"emulate ${{{{ {m[1]} }}}} first"
                return context[m[1]]
            return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", value, str(text))

        job.env = {k: expand(v) for k, v in {**workflow.get("env", {}),
                                               **spec.get("env", {})}.items()}
        summary = project.parent / f"{project.name}.summary"
        github_env = project.parent / f"{project.name}.github-env"
        summary.touch()
        github_env.touch()
        home = Path(self.base_env(project)["HOME"])

        def where(path: str) -> Path:
            return home / path[2:] if path.startswith("~/") else project / path

        deadline = self.deadline(job)
        state = "success"
        post_saves = []
        for step in spec["steps"]:
            if not self.github_condition(step.get("if", "success()"), state):
                continue
            if "uses" in step:
                status = self.github_action(job, step, expand, where, post_saves)
                timed_out = False
            else:
                script = "\n".join(line for line in expand(step["run"]).splitlines()
                                   if not INSTALL.search(line))
                if not script.strip():
                    continue
                env = (self.base_env(project) | job.env
                       | {k: expand(v) for k, v in step.get("env", {}).items()}
                       | dict(line.split("=", 1) for line in lines(github_env.read_text()))
                       | {"GITHUB_WORKSPACE": str(project), "GITHUB_STEP_SUMMARY": str(summary),
                          "GITHUB_ENV": str(github_env)})
                status, timed_out = self.shell(job, script, self.shrink(env | self.env),
                                               deadline if state != "cancelled" else None)
            if timed_out:
                state, job.timed_out = "cancelled", True
            elif status and state == "success":
                state, job.status = "failure", status
        if state == "success":
            for save in post_saves:
                save()
        job.summary = summary.read_text()
        return job

    def github_action(self, job: JobRun, step: dict, expand, where, post_saves) -> int:
        action = step["uses"].split("@")[0]
        job.uses.append(step["uses"])
        given = {k: expand(v) for k, v in step.get("with", {}).items()}
        if action in ("actions/cache", "actions/cache/restore"):
            paths = lines(given["path"])
            hit = self.restore([given["key"], *lines(given.get("restore-keys"))], paths, where)
            if action == "actions/cache" and not hit:
                post_saves.append(lambda: self.save(given["key"], paths, where, replace=False))
        elif action == "actions/cache/save":
            self.save(given["key"], lines(given["path"]), where, replace=False)
        elif action == "actions/upload-artifact":
            files = upload(job.project, given["path"])
            name = given.get("name", "artifact")
            if not files and given.get("if-no-files-found", "warn") == "error":
                return 1
            if name in self.artifacts:
                return 1  # artefacts are immutable: a second upload of a name fails
            self.artifacts[name] = job.artifacts[name] = files
        elif action == "actions/download-artifact":
            into = job.project / given.get("path", ".")
            names = ([given["name"]] if "name" in given else
                     [n for n in self.artifacts if fnmatch.fnmatch(n, given.get("pattern", "*"))])
            for name in names:
                single = "name" in given or given.get("merge-multiple") == "true"
                copy_files(self.artifacts[name], into if single else into / name)
        return 0

    def github_pipeline(self, workflow: dict) -> dict[str, list[JobRun]]:
        runs: dict[str, list[JobRun]] = {}
        pending = list(workflow["jobs"])
        while pending:
            name = next(n for n in pending if all(need in runs for need in
                                                  as_list(workflow["jobs"][n].get("needs"))))
            pending.remove(name)
            spec = workflow["jobs"][name]
            needed = [job for need in as_list(spec.get("needs")) for job in runs[need]]
            state = "success" if all(job.passed for job in needed) else "failure"
            runs[name] = ([self.github_job(workflow, name, m)
                           for m in self.github_matrices(spec) or [{}]]
                          if self.github_condition(spec.get("if", "success()"), state) else [])
        return runs

    # -- GitLab CI -------------------------------------------------------
    GITLAB_KEYWORDS = {"default", "stages", "variables", "include", "workflow", "image",
                       "services", "before_script", "after_script", "cache"}

    @classmethod
    def gitlab_jobs(cls, pipeline: dict) -> list[str]:
        return [k for k, v in pipeline.items() if isinstance(v, dict)
                and k not in cls.GITLAB_KEYWORDS and not k.startswith(".")]

    @staticmethod
    def gitlab_resolve(pipeline: dict, name: str) -> dict:
        """`extends` (hashes merged deeply, the rest overridden) and `default:`."""
        spec = pipeline[name]
        merged: dict = {}
        for parent in as_list(spec.get("extends")):
            parent_spec = Runner.gitlab_resolve(pipeline, parent)
            merged = {**merged, **{k: ({**merged[k], **v} if isinstance(v, dict)
                                       and isinstance(merged.get(k), dict) else v)
                                   for k, v in parent_spec.items()}}
        for k, v in spec.items():
            merged[k] = ({**merged[k], **v} if isinstance(v, dict)
                         and isinstance(merged.get(k), dict) else v)
        for k, v in pipeline.get("default", {}).items():
            merged.setdefault(k, v)
        merged.pop("extends", None)
        return merged

    @staticmethod
    def gitlab_matrices(spec: dict) -> list[dict]:
        found = []
        for entry in spec.get("parallel", {}).get("matrix", []):
            axes = {k: as_list(v) for k, v in entry.items()}
            found += [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
        return found

    def gitlab_job(self, pipeline: dict, name: str, matrix: dict | None = None) -> JobRun:
        spec = self.gitlab_resolve(pipeline, name)
        matrix = matrix if matrix is not None else (self.gitlab_matrices(spec) or [{}])[0]
        project = self.project("gitlab", name)
        job = JobRun("gitlab", name, matrix, project,
                     timeout_minutes=minutes(spec.get("timeout", "1h")))
        self.jobs.append(job)
        variables = {"CI_PROJECT_DIR": str(project), "CI_JOB_ID": str(len(self.jobs)),
                     "CI_JOB_NAME": name, "CI_PIPELINE_ID": str(self.pipeline_id)}

        def expand(text) -> str:
            return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), str(text))

        for k, v in {**pipeline.get("variables", {}), **spec.get("variables", {}),
                     **matrix}.items():
            variables[k] = job.env[k] = expand(v)

        def where(path: str) -> Path:
            return project / path

        caches = [{"policy": "pull-push", "when": "on_success", **c}
                  for c in as_list(spec.get("cache"))]
        for cache in caches:
            if "pull" in cache["policy"]:
                self.restore([expand(cache["key"])], [expand(p) for p in cache["paths"]], where)
        needs = [n if isinstance(n, str) else n["job"] for n in as_list(spec.get("needs"))]
        stages = self.gitlab_stages(pipeline)
        for other in self.jobs[:-1]:
            other_spec = self.gitlab_resolve(pipeline, other.name)
            if (other.name in needs if "needs" in spec else
                    stages.index(other_spec.get("stage", "test"))
                    < stages.index(spec.get("stage", "test"))):
                copy_files(other.artifacts.get("artifacts", {}), project)

        env = self.shrink(self.base_env(project) | variables | self.env)
        script = "\n".join(line for line in [*as_list(spec.get("before_script")),
                                             *as_list(spec.get("script"))]
                           if not INSTALL.search(line))
        job.status, job.timed_out = self.shell(job, script, env, self.deadline(job),
                                               flags=("-eo", "pipefail"))
        if spec.get("after_script") and not job.timed_out:  # not after a timeout
            self.shell(job, "\n".join(as_list(spec["after_script"])), env, None)
        for cache in caches:
            if "push" in cache["policy"] and (job.passed or cache["when"] == "always"):
                self.save(expand(cache["key"]), [expand(p) for p in cache["paths"]], where,
                          replace=True)
        artifacts = spec.get("artifacts", {})
        when = artifacts.get("when", "on_success")
        if when == "always" or (when == "on_success") == job.passed:
            job.artifacts["artifacts"] = gitlab_paths(
                project, [expand(p) for p in as_list(artifacts.get("paths"))])
            junit = artifacts.get("reports", {}).get("junit")
            job.reports = sorted(gitlab_paths(project, [expand(p) for p in as_list(junit)])
                                 .values())
        return job

    @staticmethod
    def gitlab_stages(pipeline: dict) -> list[str]:
        return [".pre", *pipeline.get("stages", ["build", "test", "deploy"]), ".post"]

    def gitlab_pipeline(self, pipeline: dict) -> dict[str, list[JobRun]]:
        stages = self.gitlab_stages(pipeline)
        names = sorted(self.gitlab_jobs(pipeline), key=lambda n: stages.index(
            self.gitlab_resolve(pipeline, n).get("stage", "test")))
        runs: dict[str, list[JobRun]] = {}
        for name in names:
            spec = self.gitlab_resolve(pipeline, name)
            failed = any(not job.passed for job in self.jobs)
            if spec.get("when", "on_success") == "always" or not failed:
                runs[name] = [self.gitlab_job(pipeline, name, m)
                              for m in self.gitlab_matrices(spec) or [{}]]
        return runs


def cases(path: Path) -> int:
    return JUnitXml.fromfile(str(path)).tests


def report_cases(tmp: Path) -> int:
    """Test cases in one report fake_wb.py writes (a real boot's KTAP)."""
    from workbench.ktap import parse
    from workbench.results import write_results
    root = parse((FAKE_WB.parent.parent / "golden/clean-run.ktap").read_text().splitlines(),
                 "base")
    return cases(write_results(root, "base", tmp)[0])


# The kernels the CI files' kernel axis names, and the release line
# (source.KNOWN_KERNELS) each is: Debian's 6.12 package, and mainline 7.3.
AXIS = {"debian-6.12": "6.12", "v7.3-rc7": "7.3"}


def fake_kernel_git(path: Path, release: tuple[str, str, str, str], ref: str,
                    branch: bool = False) -> Path:
    """A repository with a kernel-shaped commit of Linux ``release`` (VERSION,
    PATCHLEVEL, SUBLEVEL, EXTRAVERSION) at tag (or branch) ``ref``, for
    KERNEL_GIT: what `wb tree --tree` accepts, nothing that builds."""
    path.mkdir(parents=True, exist_ok=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-C", str(path)]
    if not (path / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "master", str(path)], check=True)
    (path / "Kconfig").write_text("mainmenu \"test\"\n")
    (path / "fs").mkdir(exist_ok=True)
    (path / "fs" / "splice.c").write_text("".join(f"line {i}\n" for i in range(1, 41)))
    (path / "Makefile").write_text("VERSION = {}\nPATCHLEVEL = {}\nSUBLEVEL = {}\n"
                                   "EXTRAVERSION = {}\n".format(*release))
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Linux {}.{}.{}{}".format(*release)],
                   check=True)
    subprocess.run([*git, "branch" if branch else "tag", ref], check=True)
    return path


@pytest.fixture(scope="module")
def pipeline_kernel_git(tmp_path_factory) -> Path:
    """KERNEL_GIT for whole pipelines: the tag the kernel axis names (the
    stand-in wb only needs the clone to succeed)."""
    return fake_kernel_git(tmp_path_factory.mktemp("kernel-git") / "linux",
                           ("7", "3", "0", "-rc7"), "v7.3-rc7")


# -- whole pipelines: twice, the second with the caches the first left ---------

@pytest.fixture(scope="module")
def github_pipelines(tmp_path_factory, pipeline_kernel_git) -> list[dict[str, list[JobRun]]]:
    root = tmp_path_factory.mktemp("github")
    env = {"KERNEL_GIT": str(pipeline_kernel_git)}
    first = Runner(root, pipeline_id=1, env=env)
    second = Runner(root, pipeline_id=2, env=env, caches=first.caches)
    workflow = load("github-actions.yml")
    return [first.github_pipeline(workflow), second.github_pipeline(workflow)]


@pytest.fixture(scope="module")
def gitlab_pipelines(tmp_path_factory, pipeline_kernel_git) -> list[dict[str, list[JobRun]]]:
    root = tmp_path_factory.mktemp("gitlab")
    env = {"KERNEL_GIT": str(pipeline_kernel_git)}
    first = Runner(root, pipeline_id=1, env=env)
    second = Runner(root, pipeline_id=2, env=env, caches=first.caches)
    pipeline = load("gitlab-ci.yml")
    return [first.gitlab_pipeline(pipeline), second.gitlab_pipeline(pipeline)]


def builds(runs: dict[str, list[JobRun]]) -> list[tuple[str, dict]]:
    return [(f"{job.name} {job.matrix}", call) for jobs in runs.values() for job in jobs
            for call in job.calls() if "build" in call]


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_each_kernel_is_built_once_and_ccache_persists_between_pipelines(
        system: str, request):
    """A kernel is built cold once per pipeline (not once per filesystem),
    and not at all in the next: the cache the build jobs save is the one the
    other jobs' ccache reads and writes (in a GitHub container job,
    ${{ github.workspace }} is not where actions/cache looks)."""
    first, second = request.getfixturevalue(f"{system}_pipelines")
    done = builds(first)
    kernels = {call["build"] for _, call in done}
    cold = sorted(f"{call['build']} in {job} (ccache {call['ccache']})"
                  for job, call in done if call["cold"])
    # 8 kernels: (debian-6.12, v7.3-rc7) x (default, debug) x (base, patched)
    assert len(cold) == len(kernels) == 8, "one cold build per kernel:\n" + "\n".join(cold)
    again = [f"{call['build']} in {job}" for job, call in builds(second) if call["cold"]]
    assert not again, "the next pipeline builds from the saved ccache:\n" + "\n".join(again)


def wb_test_jobs(runs: dict[str, list[JobRun]]) -> list[JobRun]:
    """The jobs that ran `wb all` on one filesystem."""
    return [job for named in runs.values() for job in named
            if any(c.get("argv", [""])[0] == "all" and "--fs" in c["argv"] for c in job.calls())]


def merge_job(runs: dict[str, list[JobRun]]) -> tuple[JobRun, Path]:
    """The job that ran `wb junit-merge`, and the file it wrote."""
    for job in (job for named in runs.values() for job in named):
        for call in job.calls():
            if call.get("argv", [""])[0] == "junit-merge":
                return job, Path(call["cwd"]) / call["argv"][call["argv"].index("--out") + 1]
    pytest.fail("no job runs wb junit-merge")


def test_github_merge_job_merges_every_test_jobs_report(github_pipelines, tmp_path):
    """The merge job downloads what the test jobs uploaded and runs its own
    command line on it; every test job's two reports are in the result once."""
    runs = github_pipelines[0]
    tests = wb_test_jobs(runs)
    assert len(tests) == 16, "2 kernels x 2 fragment sets x 4 filesystems"
    merge, merged = merge_job(runs)
    assert merge.passed, merge.output
    assert cases(merged) == len(tests) * 2 * report_cases(tmp_path)
    assert any(u.startswith("mikepenz/action-junit-report") for u in merge.uses)
    assert all(job.summary.startswith("# fake run") for job in tests), "summary.md shown"


def test_gitlab_counts_every_case_once(gitlab_pipelines, tmp_path):
    """GitLab adds up the JUnit reports (artifacts:reports:junit) of every job
    of a pipeline: each case must be in exactly one."""
    runs = gitlab_pipelines[0]
    tests = wb_test_jobs(runs)
    assert len(tests) == 16, "2 kernels x 2 fragment sets x 4 filesystems"
    expected = len(tests) * 2 * report_cases(tmp_path)
    jobs = [job for named in runs.values() for job in named]
    assert sum(cases(report) for job in jobs for report in job.reports) == expected
    merge, merged = merge_job(runs)
    assert merge.passed, merge.output
    assert cases(merged) == expected, "the merged file has every job's cases"


# -- the kernel axis: a kernel other than Debian's is the kernel tested ---------

@pytest.fixture
def kernel_git(tmp_path: Path) -> Path:
    """KERNEL_GIT: a repository whose branch linux-7.0.y is a kernel 7.0.3, a
    kernel no series is for, and whose tag v7.3-rc7 is a 7.3.0-rc7."""
    path = fake_kernel_git(tmp_path / "linux", ("7", "0", "3", ""), "linux-7.0.y",
                           branch=True)
    return fake_kernel_git(path, ("7", "3", "0", "-rc7"), "v7.3-rc7")


def kernel_axis_jobs() -> list[tuple[str, str]]:
    found = [("github", name) for name, job in load("github-actions.yml")["jobs"].items()
             if "kernel" in job.get("strategy", {}).get("matrix", {})]
    pipeline = load("gitlab-ci.yml")
    found += [("gitlab", name) for name in Runner.gitlab_jobs(pipeline)
              if any("WB_KERNEL" in m for m in
                     Runner.gitlab_matrices(Runner.gitlab_resolve(pipeline, name)))]
    return found


def axis_kernels(system: str, name: str) -> list[str]:
    if system == "github":
        return load("github-actions.yml")["jobs"][name]["strategy"]["matrix"]["kernel"]
    pipeline = load("gitlab-ci.yml")
    return sorted({m["WB_KERNEL"] for m in Runner.gitlab_matrices(
        Runner.gitlab_resolve(pipeline, name))}, key=list(AXIS).index)


@pytest.mark.parametrize("system,name", kernel_axis_jobs())
def test_kernel_axis_names_the_kernels_the_project_supports(system: str, name: str):
    """Debian's 6.12 package (first: the default, that jobs without the axis
    use) and 7.3, the two kernels of `wb tree --kernel` and of the series."""
    from workbench.source import KNOWN_KERNELS
    assert axis_kernels(system, name) == list(AXIS)
    assert sorted(AXIS.values()) == sorted(KNOWN_KERNELS)


def run_axis_job(tmp_path: Path, kernel_git: Path, system: str, name: str,
                 kernel: str) -> JobRun:
    """The job's own script with the real wb, the kernel axis set to ``kernel``."""
    runner = Runner(tmp_path, wb=REAL_WB, env={"KERNEL_GIT": str(kernel_git)})
    if system == "github":
        spec = load("github-actions.yml")["jobs"][name]
        return runner.github_job(load("github-actions.yml"), name,
                                 Runner.github_matrices(spec)[0] | {"kernel": kernel})
    pipeline = load("gitlab-ci.yml")
    matrix = Runner.gitlab_matrices(Runner.gitlab_resolve(pipeline, name))[0]
    return runner.gitlab_job(pipeline, name, matrix | {"WB_KERNEL": kernel})


def recorded_trees(job: JobRun) -> list[dict]:
    runs = job.project / "work/runs"
    records = [json.loads(p.read_text()) for p in runs.glob("*/run.json")
               if not p.parent.is_symlink()]
    assert "linux-source" not in json.dumps(records)
    return [r["stages"]["tree"] for r in records if "tree" in r["stages"]]


@pytest.mark.parametrize("system,name", kernel_axis_jobs())
def test_kernel_axis_7_3_gets_the_mainline_series(tmp_path: Path, kernel_git: Path,
                                                   system: str, name: str):
    """The axis' own 7.3 value: its tag is the tree, and the series chosen
    for it is the mainline one, patches/ (it does not apply to this fake
    tree: exit 7)."""
    (kernel,) = [k for k, line in AXIS.items() if line == "7.3"]
    job = run_axis_job(tmp_path, kernel_git, system, name, kernel)
    trees = recorded_trees(job)
    assert trees and all(t["version"] == "7.3.0-rc7" for t in trees), job.output
    assert job.status == 7, job.output
    assert "[wb] series: patches (kernel >=7.3) for Linux 7.3.0-rc7\n" in job.output


@pytest.mark.parametrize("system,name", kernel_axis_jobs())
def test_kernel_axis_tests_the_kernel_it_names(tmp_path: Path, kernel_git: Path, system: str,
                                               name: str):
    """The job's own script, with the real wb, on a kernel branch of KERNEL_GIT:
    after recording the tree it set up, wb stops where it chooses the series
    for the tree's kernel: no series is for 7.0, which is bad input (exit 2),
    said with the series there are."""
    job = run_axis_job(tmp_path, kernel_git, system, name, "linux-7.0.y")
    assert job.status == 2, job.output
    assert "wb: error: no series for Linux 7.0.3 in " in job.output
    assert "/patches/stable-6.12 (kernel 6.12)\n" in job.output
    assert "wb: hint: apply one anyway with --patches DIR" in job.output
    trees = recorded_trees(job)
    assert trees, job.output
    checkout = str(job.project / "kernel-src")
    assert all(t["origin"] == checkout and t["version"] == "7.0.3" for t in trees), trees
    # Explicit, not left to what an earlier command set up.
    for call in job.calls():
        argv = call["argv"]
        if argv[0] in ("tree", "all"):
            assert "--tree" in argv, f"`wb {' '.join(argv)}` does not name the tree"
            assert argv[argv.index("--tree") + 1] == "kernel-src", argv


# -- a job that runs out of time keeps its results -------------------------------

def result_jobs() -> list[tuple[str, str]]:
    """Jobs that run wb all and keep what it wrote as an artefact."""
    workflow, pipeline = load("github-actions.yml"), load("gitlab-ci.yml")
    found = []
    for name, job in workflow["jobs"].items():
        text = json.dumps(job)
        if ("upload-artifact" in text and "junit-merge" not in text
                and re.search(r"wb all|wb-job.sh (test|evidence)", text)):
            found.append(("github", name))
    for name in Runner.gitlab_jobs(pipeline):
        text = json.dumps(Runner.gitlab_resolve(pipeline, name))
        if ("artifacts" in text and "junit-merge" not in text
                and re.search(r"wb all|wb-job.sh (test|evidence)", text)):
            found.append(("gitlab", name))
    return found


@pytest.mark.parametrize("system,name", result_jobs())
def test_a_job_that_runs_out_of_time_keeps_its_results(tmp_path: Path, system: str, name: str):
    """wb hangs (a stuck boot). The job bounds wb's time (WB_MINUTES, below
    the job's limit by at least the setup's time), so the job script itself
    collects what wb wrote, fails, and the results are kept; GitLab runs no
    after_script after a timeout. Time shrinks: WB_MINUTES becomes 1 s, and
    the job's limit (minus the setup) 10 s."""
    runner = Runner(tmp_path, env={"FAKE_WB_HANG": "1", "WB_FS": "ext4"}, wb_minutes=1 / 60,
                    job_seconds=10)
    if system == "github":
        job = runner.github_job(load("github-actions.yml"), name)
        files = [f for files in job.artifacts.values() for f in files]
    else:
        job = runner.gitlab_job(load("gitlab-ci.yml"), name)
        files = list(job.artifacts.get("artifacts", {}))
    assert any(f.name == "junit.xml" for f in files), f"results lost:\n{job.output}"
    if system == "gitlab" and "reports" in Runner.gitlab_resolve(
            load("gitlab-ci.yml"), name).get("artifacts", {}):
        assert job.reports, "the test report is kept"
    assert not job.timed_out, f"{name}: the job hit its time limit:\n{job.output}"
    assert job.status != 0, "a job whose wb was stopped fails"
    assert "WB_MINUTES" in job.env, f"{name}: set WB_MINUTES next to the job's time limit"
    assert float(job.env["WB_MINUTES"]) + SETUP_MINUTES <= job.timeout_minutes
