import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import build_parser, main


def wb(*args: str, workdir: Path, env: dict[str, str] | None = None
       ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", "--workdir", str(workdir), *args],
                          capture_output=True, text=True,
                          env=None if env is None else os.environ | env)


COMMANDS = ["tree", "apply", "config", "build", "run", "test", "bench", "series", "precheck", "evidence",
            "junit-merge", "all", "kcidb", "b4-check"]


def test_the_commands_are_those_the_readme_lists():
    parser = build_parser()
    assert sorted(parser._subparsers._group_actions[0].choices) == sorted(COMMANDS)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for command in COMMANDS:
        assert f"| `wb {command}" in readme, command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_saying_what_it_does(command: str):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    assert sub.description and len(sub.description) > 60
    help_text = subprocess.run([sys.executable, "-m", "workbench", command, "--help"],
                               capture_output=True, text=True)
    assert help_text.returncode == 0 and f"usage: wb {command}" in help_text.stdout


def test_run_requires_a_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
    assert "--exec" in capsys.readouterr().err


def test_unknown_variant_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--variant", "nonsense"])
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_missing_tarball_is_a_clear_error(tmp_path: Path):
    proc = wb("tree", "--tarball", str(tmp_path / "nope.tar.xz"), workdir=tmp_path / "w")
    assert proc.returncode == 2
    assert f"kernel source {tmp_path / 'nope.tar.xz'} not found" in proc.stderr
    assert "pass an existing tarball, --kernel NAME or --tree PATH" in proc.stderr


def test_a_known_kernel_that_is_missing_says_where_it_was_looked_for(tmp_path: Path):
    shared = tmp_path / "shared-kernels"
    proc = wb("all", "--kernel", "7.3", workdir=tmp_path / "w",
              env={"WB_SHARED_KERNELS": str(shared)})
    assert proc.returncode == 2
    assert f"kernel source {shared}/linux-7.3-rc7-debian.tar.xz not found" in proc.stderr
    assert f"Debian's linux-source-7.3 tarball (7.3~rc7-1~exp1), looked for in {shared}" \
        in proc.stderr
    assert not (tmp_path / "w" / "linux").exists()


def test_not_a_kernel_tree(tmp_path: Path):
    (tmp_path / "repo").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    proc = wb("tree", "--tree", str(tmp_path / "repo"), workdir=tmp_path / "w")
    assert proc.returncode == 2
    assert "is not a kernel source tree" in proc.stderr


def test_commands_before_tree_say_to_run_wb_tree(tmp_path: Path):
    proc = wb("apply", workdir=tmp_path / "w")
    assert proc.returncode == 2
    assert "no kernel tree" in proc.stderr and "wb tree" in proc.stderr


def test_unknown_fragment_fails_before_building(tmp_path: Path, mini_tree: Path):
    assert wb("tree", "--tree", str(mini_tree), workdir=tmp_path / "w").returncode == 0
    proc = wb("config", "--variant", "base", "--fragment", "bogus", workdir=tmp_path / "w")
    assert proc.returncode == 2
    assert "unknown config fragment 'bogus'" in proc.stderr


def test_failed_run_is_recorded_incomplete(tmp_path: Path):
    import json
    wb("apply", workdir=tmp_path / "w")
    record = json.loads((tmp_path / "w" / "runs" / "latest" / "run.json").read_text())
    assert record["complete"] is False
    assert "no kernel tree" in record["incomplete_reason"]


def test_install_deps_prints_the_exact_command_when_not_root():
    script = Path(__file__).resolve().parent.parent / "scripts" / "install-deps.sh"
    # "wb-no-such-package" is never installed, so the script must ask for it.
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "bash", str(script), "wb-no-such-package"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "missing Debian packages: wb-no-such-package" in proc.stderr
    assert ("apt-get update && apt-get install -y --no-install-recommends wb-no-such-package"
            in proc.stderr)


def test_install_deps_does_nothing_when_all_is_installed():
    script = Path(__file__).resolve().parent.parent / "scripts" / "install-deps.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_debug_build_without_a_debug_config_says_how_to_make_one(tmp_path: Path):
    """--debug kernels live in build/<variant>-debug/ and have their own .config."""
    import json
    work = tmp_path / "w"
    (work / "linux").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work / "linux")], check=True)
    (work / "tree.json").write_text(json.dumps({
        "path": str(work / "linux"), "version": "6.12.117", "base_commit": "0" * 40,
        "origin": "test"}))
    proc = wb("build", "--debug", "--variant", "patched", workdir=work)
    assert proc.returncode == 2, proc.stderr
    assert f"no .config in {work}/build/patched-debug" in proc.stderr
    assert "wb config --debug --variant patched" in proc.stderr
