"""The CI definitions in ci/: they validate against the published schemas and
pass actionlint, every wb command line they run is one wb accepts, and what
their jobs do is run here: the job script on a fake kernel branch, the merge
job on artefacts laid out as the upload and download actions lay them out."""

import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from junitparser import JUnitXml

from workbench.cli import build_parser
from workbench.guest_tests import FILESYSTEMS

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


def test_gitlab_counts_every_case_once_and_collects_results_without_after_script():
    pipeline = load("gitlab-ci.yml")
    reporting = [k for k, v in pipeline.items() if isinstance(v, dict)
                 and "junit" in v.get("artifacts", {}).get("reports", {})]
    assert reporting == ["wb-test"]
    # after_script does not run when a job times out: the job script collects.
    assert not any("after_script" in v for v in pipeline.values() if isinstance(v, dict))
    hours = {"1h": 1, "2h": 2, "2h 30m": 2.5}
    assert hours[pipeline["wb-evidence"]["timeout"]] < 3, "below GitLab's hosted 3 h cap"


def test_builds_once_per_kernel_and_fragment_set_with_a_persistent_ccache():
    workflow, pipeline = load("github-actions.yml"), load("gitlab-ci.yml")
    build = workflow["jobs"]["build"]
    assert "fs" not in build["strategy"]["matrix"]
    assert workflow["jobs"]["test"]["needs"] == "build"
    uses = [s.get("uses", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert "actions/cache/save@v5" in uses and "actions/cache/restore@v5" in uses
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert workflow["permissions"] == {"contents": "read"}
    assert pipeline["wb-build"]["cache"]["policy"] == "pull-push"
    assert pipeline["wb-test"]["cache"]["key"] == pipeline["wb-build"]["cache"]["key"]
    assert all(v.get("interruptible") for k, v in pipeline.items() if k.startswith(".wb-setup"))


def fake_project(tmp_path: Path, wb: str) -> Path:
    """A clone's layout for ci/wb-job.sh: the script, and .venv/bin/wb."""
    project = tmp_path / "project"
    (project / "ci").mkdir(parents=True)
    shutil.copy(CI / "wb-job.sh", project / "ci")
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/wb").symlink_to(wb)
    return project


def run_job(project: Path, job: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(project / "ci/wb-job.sh"), job], capture_output=True,
                          text=True, cwd=project,
                          env=os.environ | {"WB_WORKDIR": str(project / "work")} | env)


def real_wb() -> str:
    return str(Path(sys.executable).parent / "wb")


@pytest.fixture
def kernel_git(tmp_path: Path, mini_tree: Path) -> Path:
    """A repository with a kernel branch other than Debian's 6.12, as KERNEL_GIT."""
    subprocess.run(["git", "-C", str(mini_tree), "branch", "linux-7.0.y"], check=True)
    return mini_tree


@pytest.mark.parametrize("job", ["build", "test"])
def test_kernel_axis_tests_the_kernel_it_names(tmp_path: Path, kernel_git: Path, job: str):
    """The job clones the branch and wb runs on that tree (the patches do not
    apply to the fake tree: wb stops there, exit 7, after recording it)."""
    project = fake_project(tmp_path, real_wb())
    proc = run_job(project, job, WB_KERNEL="linux-7.0.y", KERNEL_GIT=str(kernel_git),
                   WB_FS="tmpfs", WB_FRAGMENTS="default")
    assert proc.returncode == 7, proc.stderr
    records = [json.loads(p.read_text()) for p in (project / "results").glob("*/run.json")]
    trees = [r["stages"]["tree"] for r in records if "tree" in r["stages"]]
    assert trees and all(t["origin"] == str(project / "kernel-src") for t in trees)
    assert all(t["version"] == "6.12.117" for t in trees)  # the fake tree's Makefile
    assert all("linux-source" not in json.dumps(r) for r in records)


def test_test_job_collects_results_when_wb_fails(tmp_path: Path, data: Path):
    """Whatever wb's exit status, every run directory is collected once, not
    through the runs/latest link."""
    fake_wb = tmp_path / "fake-wb"
    fake_wb.write_text(f"""#!/bin/sh
run=$WB_WORKDIR/runs/20261124-120000-all
mkdir -p "$run/tests-base" && cp {data}/golden/clean-run.ktap "$run/tests-base/results.ktap"
ln -sfn 20261124-120000-all "$WB_WORKDIR/runs/latest"
exit 1
""")
    fake_wb.chmod(0o755)
    project = fake_project(tmp_path, str(fake_wb))
    proc = run_job(project, "test", WB_FS="ext4", WB_FRAGMENTS="default")
    assert proc.returncode == 1
    assert sorted(p.name for p in (project / "results").iterdir()) == ["20261124-120000-all"]


def upload(project: Path, path_spec: str) -> dict[Path, Path]:
    """What actions/upload-artifact stores for ``path_spec`` (one pattern a
    line, `!` excludes): every matching file, symlinks followed, named
    relative to the least common ancestor of the patterns' search paths (each
    pattern up to its first wildcard)."""
    files: set[Path] = set()
    search_paths = []
    for pattern in path_spec.split():
        hits = {Path(hit) for hit in glob.glob(str(project / pattern.lstrip("!")))}
        found = {f for hit in hits for f in ([hit] if hit.is_file() else hit.rglob("*"))
                 if f.is_file()}
        if pattern.startswith("!"):
            files -= found
            continue
        files |= found
        literal = list(Path(pattern).parts)
        cut = next((i for i, part in enumerate(literal) if glob.has_magic(part)), len(literal))
        search_paths.append(project.joinpath(*literal[:cut]))
    root = Path(os.path.commonpath(search_paths))
    return {f.relative_to(root): f for f in files}


def download(artifacts: dict[str, dict[Path, Path]], into: Path) -> None:
    """actions/download-artifact with a pattern: one directory per artifact."""
    for name, files in artifacts.items():
        for relative, source in files.items():
            (into / name / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, into / name / relative)


def test_github_merge_job_merges_every_test_jobs_report(tmp_path: Path, data: Path):
    from workbench.ktap import parse
    from workbench.results import write_results
    workflow = load("github-actions.yml")
    uploads = {}
    for fs in ("ext4", "xfs"):
        # One test job's results/ as ci/wb-job.sh collects it.
        work = tmp_path / fs / "work"
        run = work / "runs" / "20261124-120000-all"
        for variant in ("base", "patched"):
            root = parse((data / "golden/clean-run.ktap").read_text().splitlines(), variant)
            write_results(root, variant, run / f"tests-{variant}")
        (work / "runs/latest").symlink_to(run.name)
        project = fake_project(tmp_path / fs, "/bin/true")
        (project / "work").symlink_to(work)
        assert run_job(project, "test", WB_FS=fs).returncode == 0
        step = next(s for s in workflow["jobs"]["test"]["steps"]
                    if s.get("uses", "").startswith("actions/upload-artifact"))
        name = step["with"]["name"].replace("${{ matrix.kernel }}", "debian-6.12").replace(
            "${{ matrix.fragments }}", "default").replace("${{ matrix.fs }}", fs)
        uploads[name] = upload(project, step["with"]["path"])
    fetch = next(s for s in workflow["jobs"]["junit"]["steps"]
                 if s.get("uses", "").startswith("actions/download-artifact"))
    assert all(fnmatch.fnmatch(name, fetch["with"]["pattern"]) for name in uploads)
    download(uploads, tmp_path / "merge" / fetch["with"]["path"])
    merge = next(s["run"] for s in workflow["jobs"]["junit"]["steps"]
                 if "junit-merge" in s.get("run", ""))
    command = next(line for line in merge.splitlines() if "junit-merge" in line)
    command = command.strip().replace(".venv/bin/wb", shlex.quote(real_wb()))
    proc = subprocess.run(command, shell=True, cwd=tmp_path / "merge", capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    merged = JUnitXml.fromfile(str(tmp_path / "merge/junit-merged.xml"))
    one = JUnitXml.fromfile(str(tmp_path / "ext4/work/runs/20261124-120000-all/tests-base/"
                                "junit.xml"))
    assert merged.tests == 4 * one.tests, "two jobs x two variants, each case once"
