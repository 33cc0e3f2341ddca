"""The CI definitions in ci/, read: they validate against the published
schemas and pass actionlint, every wb command line they run is one wb accepts,
and the settings no job run shows are there. tests/test_ci_jobs.py runs the
jobs."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_ci_jobs import Runner, minutes
from workbench.cli import build_parser

CI = Path(__file__).resolve().parent.parent / "ci"
WB_CALL = re.compile(r"(?:^|[\s;&|(])(?:\.venv/bin/)?wb\s+([^\n;&|)]*)")
# Values the jobs' variables take (the first matrix entry, and the debug set).
VARIABLES = {"WB_FS": "ext4", "WB_KERNEL": "debian-6.12", "CI_JOB_ID": "1", "debug": "--debug"}


def load(name: str) -> dict:
    return yaml.safe_load((CI / name).read_text())


def scripts(node) -> list[str]:
    """Every shell snippet of a workflow: GitHub `run:` and GitLab `script:`."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                found.append(value)
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                found += [v for v in value if isinstance(v, str)]
            else:
                found += scripts(value)
    elif isinstance(node, list):
        for value in node:
            found += scripts(value)
    return found


def wb_calls(text: str) -> list[list[str]]:
    calls = []
    for match in WB_CALL.finditer(text):
        line = re.sub(r'"?\$\{?(\w+)\}?"?', lambda m: VARIABLES.get(m[1], m[0]), match[1])
        calls.append(shlex.split(line))
    return calls


def job_script_calls() -> list[list[str]]:
    """The wb command lines of ci/wb-job.sh, with its variables filled in."""
    text = (CI / "wb-job.sh").read_text().replace("\\\n", " ")
    fill = {'"${tree[@]}"': "--tree kernel-src", '"${debug[@]}"': "--debug",
            '"${WB_FS:?WB_FS names the filesystem}"': "ext4"}
    calls = []
    for line in text.splitlines():
        if '"$wb" ' not in line:
            continue
        call = line.split('"$wb" ', 1)[1]
        for variable, value in fill.items():
            call = call.replace(variable, value)
        calls.append(shlex.split(call))
    return calls


def test_every_wb_command_line_is_accepted_by_wb():
    calls = job_script_calls()
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        calls += [call for snippet in scripts(load(name)) for call in wb_calls(snippet)]
    commands = {call[0] for call in calls}
    assert {"tree", "apply", "config", "build", "all", "series", "bench", "evidence",
            "junit-merge"} <= commands
    parser = build_parser()
    for call in calls:
        try:
            parser.parse_args(call)
        except SystemExit:
            pytest.fail(f"wb does not accept `wb {shlex.join(call)}`")
    bench = next(call for call in calls if call[0] == "bench")
    assert "--clock" in bench, "the benchmark's clock is chosen, not left to the runner"


def test_every_job_runs_the_shared_job_script():
    workflow, pipeline = load("github-actions.yml"), load("gitlab-ci.yml")
    jobs = [*workflow["jobs"].values(), *(v for k, v in pipeline.items()
                                         if isinstance(v, dict) and not k.startswith("."))]
    runs = ["\n".join(scripts(job)) for job in jobs]
    for job in ("build", "test", "evidence"):
        assert sum(f"ci/wb-job.sh {job}" in text for text in runs) == 2, job


def test_a_misspelt_command_would_be_caught():
    (call,) = wb_calls('.venv/bin/wb all --filesystem "$WB_FS"')
    assert call == ["all", "--filesystem", "ext4"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(call)


# -- the published schemas and linters, offline --------------------------------

def venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@pytest.mark.parametrize("name,schema", [("github-actions.yml", "vendor.github-workflows"),
                                         ("gitlab-ci.yml", "vendor.gitlab-ci")])
def test_files_validate_against_the_published_schemas(name: str, schema: str):
    proc = subprocess.run([venv_tool("check-jsonschema"), "--builtin-schema", schema,
                           str(CI / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_github_workflow_passes_actionlint():
    """actionlint also runs shellcheck on every `run:` script (shellcheck is
    one of the Debian packages scripts/install-deps.sh installs)."""
    assert shutil.which("shellcheck"), "shellcheck missing: run scripts/install-deps.sh"
    proc = subprocess.run([venv_tool("actionlint"), str(CI / "github-actions.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_job_script_passes_shellcheck():
    proc = subprocess.run(["shellcheck", str(CI / "wb-job.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# -- what the jobs do, run for real ---------------------------------------------

def test_gitlab_include_leaks_nothing_into_the_including_project():
    pipeline = load("gitlab-ci.yml")
    assert not {"default", "stages", "variables", "workflow"} & set(pipeline)
    jobs = {k: v for k, v in pipeline.items() if not k.startswith(".")}
    # Stages every GitLab project has, so the includer needs to declare none.
    assert {job["stage"] for job in jobs.values()} <= {"build", "test", "deploy", ".pre",
                                                       ".post"}
    assert all(k.startswith("wb-") for k in jobs), "job names that cannot clash"


def test_jobs_end_before_the_hosted_runners_cap():
    """GitHub stops a hosted job at 6 h, GitLab at 3 h: a job's own limit must
    come first, or its results go with it."""
    workflow, pipeline = load("github-actions.yml"), load("gitlab-ci.yml")
    for name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes", 360) < 360, name
    for name, job in pipeline.items():
        if isinstance(job, dict) and "timeout" in job:
            assert minutes(job["timeout"]) < 180, name


def test_superseded_runs_are_cancelled_and_the_workflow_only_reads():
    workflow, pipeline = load("github-actions.yml"), load("gitlab-ci.yml")
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        # Only the report job writes: the check run it publishes.
        assert job.get("permissions", {}) in ({}, {"contents": "read", "checks": "write"}), name
    jobs = {k: Runner.gitlab_resolve(pipeline, k) for k in Runner.gitlab_jobs(pipeline)}
    assert all(job.get("interruptible") is True for job in jobs.values())


# The first major of each action that runs on Node 24 (Node 20 is removed
# from the runners): their release notes, e.g. "actions/upload-artifact@v6
# now runs on Node.js 24 (runs.using: node24)".
NODE24 = {"actions/checkout": 5, "actions/cache": 5, "actions/cache/restore": 5,
          "actions/cache/save": 5, "actions/upload-artifact": 6,
          "actions/download-artifact": 7, "mikepenz/action-junit-report": 6}


def test_actions_run_on_node24():
    for job in load("github-actions.yml")["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                action, version = step["uses"].split("@")
                assert action in NODE24, f"{action}: which major runs on Node 24?"
                assert int(version.lstrip("v").split(".")[0]) >= NODE24[action], step["uses"]
