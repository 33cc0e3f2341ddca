import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import e2e_wb
from fakes import fakelinux
from fakes.wb import Workbench
from workbench.source import DEFAULT_TARBALL

DATA = Path(__file__).parent / "data"
# How long the session's one extraction of the kselftest headers took.
_EXTRACTED: dict[str, float] = {}
# Seconds per test module: its tests' setup, call and teardown (a session
# fixture's setup, such as the main job, counts for the module that needs it
# first).
_MODULE_SECONDS: dict[str, float] = {}


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def mini_tree(tmp_path: Path) -> Path:
    """A tiny git repo shaped like a kernel tree (Makefile, Kconfig, one C file),
    with its first commit tagged wb/base: enough for real git am runs."""
    tree = tmp_path / "linux"
    (tree / "fs").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n"
                                   "EXTRAVERSION =\n")
    (tree / "Kconfig").write_text("mainmenu \"test\"\n")
    (tree / "fs" / "splice.c").write_text("".join(f"line {i}\n" for i in range(1, 41)))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-C", str(tree)]
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    subprocess.run([*git, "tag", "wb/base"], check=True)
    return tree


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    """A kernel-shaped git checkout that `wb tree --tree` accepts and on which
    config, build and apply really run (tests/fakes/fakelinux.py)."""
    return fakelinux.create(tmp_path / "src" / "linux")


@pytest.fixture
def workbench(tmp_path: Path) -> Iterator[Workbench]:
    """A work directory for the real `wb` against the fakes (tests/fakes/wb.py)."""
    workbench = Workbench(tmp_path)
    yield workbench
    workbench.kill_leftover_guests()


@pytest.fixture(scope="session")
def kselftest_headers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a real kernel's kselftest headers, which kernel_tests/
    compiles against (fakelinux.create(..., kselftest=...)): taken from Debian's
    linux-source-6.12 (scripts/install-deps.sh installs it) once per session.
    No kernel source is kept in this repository."""
    if not DEFAULT_TARBALL.exists():
        pytest.skip(f"{DEFAULT_TARBALL} not installed (scripts/install-deps.sh): no "
                    "kselftest headers to compile kernel_tests/ against")
    start = time.monotonic()
    out = fakelinux.extract_kselftest_headers(DEFAULT_TARBALL,
                                              tmp_path_factory.mktemp("kselftest"))
    _EXTRACTED[str(DEFAULT_TARBALL)] = time.monotonic() - start
    return out


@pytest.fixture(scope="session")
def kernel_selftest_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernel-shaped tree holding Debian 6.12's net/tls selftest (and no
    mm/cow), whose ``make headers_install`` copies the host's uapi headers:
    new enough for tls.c, too old for cow.c, which the e2e tests build."""
    if not DEFAULT_TARBALL.exists():
        pytest.skip(f"{DEFAULT_TARBALL} not installed (scripts/install-deps.sh)")
    start = time.monotonic()
    out = fakelinux.extract_kselftest_headers(
        DEFAULT_TARBALL, tmp_path_factory.mktemp("linux"),
        extra=(f"{fakelinux.SELFTESTS}/net/tls.c",))
    _EXTRACTED[str(DEFAULT_TARBALL)] = (_EXTRACTED.get(str(DEFAULT_TARBALL), 0.0)
                                        + time.monotonic() - start)
    (out / "Makefile").write_text(
        "headers_install:\n\tmkdir -p $(INSTALL_HDR_PATH)/include\n"
        "\tcp -r /usr/include/linux /usr/include/asm-generic "
        "/usr/include/x86_64-linux-gnu/asm $(INSTALL_HDR_PATH)/include/\n")
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the end-to-end tests marked extra(NAME) unless WB_E2E_EXTRA names it."""
    try:
        wanted = e2e_wb.extras_wanted(os.environ.get("WB_E2E_EXTRA", ""))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    for item in items:
        for mark in item.iter_markers("extra"):
            reason = e2e_wb.extra_skip_reason(mark.args[0], wanted)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::")[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for tarball, seconds in _EXTRACTED.items():
        terminalreporter.write_line(f"kselftest headers extracted from {tarball} "
                                    f"in {seconds:.1f} s (once per session)")
    slow = sorted(((s, m) for m, s in _MODULE_SECONDS.items() if s >= 1), reverse=True)
    if slow:
        terminalreporter.section("time per test module (1 s or more)")
        for seconds, module in slow:
            terminalreporter.write_line(f"{seconds / 60:6.1f} min  {module}")
    if e2e_wb.LEDGER:
        terminalreporter.section("end-to-end: kernel builds and wb calls")
        for line in e2e_wb.summary(e2e_wb.LEDGER):
            terminalreporter.write_line(line)
