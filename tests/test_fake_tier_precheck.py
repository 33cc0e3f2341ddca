"""`wb precheck` end to end on the fake kernel tree (tests/fakes/fakelinux.py),
whose single-object builds take W=1, C=1 and ARCH=i386 as Kbuild does:
the compilers, sparse and the arm64 cross compiler are the real ones
(scripts/install-deps.sh installs them), so each configuration finds what
it finds for real."""

import json
import shutil

import pytest

from fakes.fakelinux import ADD_FLAG, Patch, series
from fakes.wb import Workbench
from workbench import precheck

# sparse only: a global without a declaration ("Should it be static?"); gcc
# and clang W=1 do not warn about variables.
UNDECLARED = Patch("splice: count spliced bytes", {"fs/splice.c": (
    "int splice_flags_valid", "int wb_spliced;\n\nint splice_flags_valid")})
# Every compiler with W=1: a global function without a prototype.
NO_PROTOTYPE = Patch("splice: add a helper", {"fs/splice.c": (
    "int splice_flags_valid", "int wb_helper(void)\n{\n\treturn 1;\n}\n\n"
    "int splice_flags_valid")})
# 64-bit only: the build fails on i386 alone.
SIXTY_FOUR_BIT = Patch("splice: rely on a 64-bit long", {"fs/splice.c": (
    "int splice_flags_valid",
    "_Static_assert(sizeof(long) == 8, \"64-bit only\");\n\nint splice_flags_valid")})

TOOLS = ("sparse", "clang-19", "aarch64-linux-gnu-gcc")


@pytest.fixture
def checked(workbench: Workbench, fake_tree):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/install-deps.sh)")
    patches = series(fake_tree, ADD_FLAG, UNDECLARED, NO_PROTOTYPE, SIXTY_FOUR_BIT)
    assert workbench.wb("tree", "--tree", str(fake_tree)).status == 0
    result = workbench.wb("precheck", "--patches", str(patches))
    return result


def cells(result) -> dict[tuple[int, str], dict]:
    data = json.loads((result.run / "precheck" / "precheck.json").read_text())
    return {(c["commit"], c["configuration"]): c for c in data["cells"]}


def test_each_configuration_finds_what_its_tools_find(checked):
    assert checked.status == 1, checked.output[-3000:]
    found = cells(checked)
    status = {key: cell["status"] for key, cell in found.items()}
    for name in ("gcc W=1", "sparse", "clang-19 W=1", "i386 W=1", "arm64 W=1"):
        assert status[(1, name)] == "PASS", name
    # 2: the undeclared global, which only sparse reports.
    assert status[(2, "sparse")] == "FAIL"
    assert "symbol 'wb_spliced' was not declared" in found[(2, "sparse")]["detail"]
    assert all(status[(2, n)] == "PASS" for n in ("gcc W=1", "clang-19 W=1", "i386 W=1"))
    # 3: no prototype, which every W=1 compiler reports (and sparse too).
    for name in ("gcc W=1", "clang-19 W=1", "i386 W=1", "arm64 W=1", "sparse"):
        assert status[(3, name)] == "FAIL", name
        assert "wb_helper" in found[(3, name)]["detail"], found[(3, name)]
    # 4: the 64-bit assumption breaks the 32-bit build only; the warnings of
    # commit 3 are old by now.
    assert status[(4, "i386 W=1")] == "BUILD_FAILURE"
    assert "64-bit only" in found[(4, "i386 W=1")]["detail"]
    assert all(status[(4, n)] == "PASS" for n in ("gcc W=1", "clang-19 W=1", "arm64 W=1"))
    # The fake Kconfig has no IO_URING: turning it off is trivially true;
    # modules survive; every log is kept.
    assert status[(1, "no IO_URING")] == "PASS" and status[(1, "fs as modules")] == "PASS"
    from pathlib import Path
    assert all(Path(cell["log"]).is_file() for cell in found.values() if cell["log"])


def test_the_table_names_the_first_failing_commit(checked):
    text = (checked.run / "precheck" / "precheck.txt").read_text()
    assert "First failing commit: 02 in sparse: new warning: fs/splice.c: symbol " \
        "'wb_spliced' was not declared. Should it be static?" in " ".join(text.split())
    assert "  03     W  W  W  W  W  W  W  W  splice: add a helper\n" in text
    assert "  04     ok ok ok B  ok ok ok ok splice: rely on a 64-bit long\n" in text
    assert all(len(line) <= 75 for line in text.splitlines())
    stage = checked.record["stages"]["precheck"]
    assert stage["status"] == "FAIL" and stage["commits"] == 4
    assert stage["configurations"] == [t.name for t in precheck.TARGETS]
    assert stage["first_failure"].startswith("02 sparse: new warning")


def test_a_second_run_reuses_the_builds(checked, workbench):
    again = workbench.wb("precheck", "--config", "gcc-w1", "--patches",
                         checked.record["stages"]["apply"]["series"])
    logs = again.run / "precheck" / "logs"
    # The base's object is rebuilt after commit 4's checkout (its source
    # changed back); the .config of the first run is kept, not made again.
    assert again.status == 1 and "CC      fs/splice.o" in (logs / "gcc-w1-base.log").read_text()
    assert not (logs / "gcc-w1-config.log").exists()


def test_an_unknown_configuration_is_named(workbench, fake_tree):
    assert workbench.wb("tree", "--tree", str(fake_tree)).status == 0
    refused = workbench.wb("precheck", "--config", "gcc-w2")
    assert refused.status == 2
    assert "unknown precheck configuration(s): gcc-w2" in refused.stderr
    assert "known: gcc-w1, sparse," in refused.stderr


def test_a_sparse_the_kernel_refuses_checks_nothing(data):
    """Kbuild of 7.3 with Debian 12's sparse 0.6.4 (a real log of that
    configuration's base build): C=1 warns once and builds on unchecked,
    which must not count as a pass."""
    refused = (data / "golden/precheck-sparse-too-old-7.3.log").read_text()
    assert precheck.refused_checker(refused).startswith("Kbuild ran no sparse: 'C=1 specified")
    checked = refused.replace("C=1 specified, but sparse is not available or not up to date",
                              "  CHECK   fs/splice.c")
    assert precheck.refused_checker(checked) == ""
