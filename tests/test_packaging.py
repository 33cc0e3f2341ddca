"""The workbench as a package: `pip install .` carries the series, configs and
in-guest tests, and commands that compute no statistics do not pay for
importing numpy, scipy or matplotlib."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "matplotlib")


def imported_modules(*args: str, cwd: Path = ROOT) -> set[str]:
    """The modules `python -m workbench ARGS` imports (python -X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "workbench", *args],
                          capture_output=True, text=True, cwd=cwd)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "workbench" in names, proc.stderr[-2000:]
    return names


def test_help_imports_no_statistics_libraries():
    assert not imported_modules("--help") & set(HEAVY)


def test_junit_merge_imports_no_statistics_libraries(tmp_path: Path, data: Path):
    from workbench.ktap import parse
    from workbench.results import write_results
    root = parse((data / "golden/clean-run.ktap").read_text().splitlines(), "base")
    junit, _ = write_results(root, "base", tmp_path / "job/tests-base")
    assert not imported_modules("junit-merge", "--out", str(tmp_path / "m.xml"),
                                str(junit)) & set(HEAVY)


def test_statistics_still_work_when_imported_late():
    from workbench import stats
    assert stats.estimate([1.0, 2.0, 3.0]).median == 2.0


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip install .` of this checkout into a directory of its own. The wheel
    is built from a copy without build/: setuptools' build/lib keeps files
    that are gone from the checkout (a series moved to another directory),
    and the wheel would carry them."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "work", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out / "dist"), str(source)],
                   check=True, capture_output=True)
    wheel = next((out / "dist").glob("*.whl"))
    target = out / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    return target


def run_installed(installed: Path, code: str, cwd: Path) -> str:
    """Run ``code`` against the installed copy only: no site (so not the
    editable install of the checkout), its dependencies from this venv."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(installed), sysconfig.get_paths()["purelib"]])}
    env.pop("WB_WORKDIR", None)
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_installed_package_finds_series_configs_and_tests(installed: Path, tmp_path: Path):
    out = run_installed(installed, """
import workbench
from workbench.kconfig import fragment_path
from workbench.series import available_series, choose_series, shared
from workbench.workspace import DEFAULT_WORKDIR, KERNEL_TESTS_DIR, PATCHES_DIR, Workspace
print(workbench.__file__)
print(" ".join(f"{s.directory.relative_to(PATCHES_DIR)}:{len(s.patches)}:{s.kernels}"
               for s in available_series()))
print(shared(choose_series("6.12.117").directory, "cover-letter.txt").is_file(),
      (PATCHES_DIR / "man-pages" / "series").is_file())
print(fragment_path("virtme").read_text().count("CONFIG_"))
print((KERNEL_TESTS_DIR / "guest-runner.sh").is_file(), (KERNEL_TESTS_DIR / "Makefile").is_file())
print(Workspace.from_env().root)
""", cwd=tmp_path)
    module, series, shared, options, tests, workdir = out.splitlines()
    assert module.startswith(str(installed))
    # Every series of the checkout's patches/, each with every patch it lists.
    from workbench.series import available_series
    from workbench.workspace import PATCHES_DIR
    assert series == " ".join(f"{s.directory.relative_to(PATCHES_DIR)}:{len(s.patches)}:"
                              f"{s.kernels}" for s in available_series())
    assert ":13:6.12" in series
    assert shared == "True True", "the cover letter and man-pages/ the series share"
    assert int(options) > 10
    assert tests == "True True"
    assert workdir == str(tmp_path / "work"), "installed, the work directory is ./work"


def test_installed_wb_help_runs(installed: Path, tmp_path: Path):
    out = run_installed(installed, "import sys; sys.argv = ['wb', '--help']\n"
                        "from workbench.cli import main; main()", cwd=tmp_path)
    assert "usage: wb" in out


def test_checkout_uses_its_own_files():
    from workbench.workspace import DEFAULT_WORKDIR, PATCHES_DIR
    assert PATCHES_DIR == ROOT / "patches"
    assert DEFAULT_WORKDIR == ROOT / "work"
