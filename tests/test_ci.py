"""The CI definitions in ci/: they parse, their matrices name filesystems and
fragment sets wb knows, and every wb command line they run is one wb accepts."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

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


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_every_wb_command_line_is_accepted_by_wb(name):
    calls = [call for snippet in scripts(load(name)) for call in wb_calls(snippet)]
    commands = {call[0] for call in calls}
    assert {"all", "series", "bench", "evidence", "junit-merge"} <= commands
    parser = build_parser()
    for call in calls:
        try:
            parser.parse_args(call)
        except SystemExit:
            pytest.fail(f"{name}: wb does not accept `wb {shlex.join(call)}`")


def test_github_matrix_uses_known_filesystems_and_merges_junit():
    workflow = load("github-actions.yml")
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
    assert set(matrix["fs"]) <= set(FILESYSTEMS)
    assert set(matrix["fragments"]) == {"default", "debug"} and matrix["kernel"]
    assert workflow["jobs"]["junit"]["needs"] == ["test"]
    uploads = [s for s in workflow["jobs"]["test"]["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and "tests-*/" in uploads[0]["with"]["path"]
    # Containers must start on runners without /dev/kvm too (wb then uses TCG).
    for job in workflow["jobs"].values():
        assert "--device /dev/kvm" not in job.get("container", {}).get("options", "")


def test_gitlab_matrix_uses_known_filesystems_and_merges_junit():
    pipeline = load("gitlab-ci.yml")
    (matrix,) = pipeline["wb"]["parallel"]["matrix"]
    assert set(matrix["WB_FS"]) <= set(FILESYSTEMS)
    assert set(matrix["WB_FRAGMENTS"]) == {"default", "debug"}
    assert pipeline["junit-merge"]["needs"] == ["wb"]
    assert pipeline["junit-merge"]["artifacts"]["reports"]["junit"] == "junit-merged.xml"
    # A failing `wb all` ends `script`: the results are collected after it.
    assert any("results/" in line for line in pipeline["wb"]["after_script"])
    assert pipeline["wb"]["artifacts"]["when"] == "always"


def test_a_misspelt_command_would_be_caught():
    (call,) = wb_calls('.venv/bin/wb all --filesystem "$WB_FS"')
    assert call == ["all", "--filesystem", "ext4"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(call)
