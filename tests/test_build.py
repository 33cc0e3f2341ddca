"""Build-stage logic on real build logs, and the mtime bookkeeping with real git and make."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from workbench.build import ccache_env, compiler_of, first_errors, switch_to
from workbench.source import KernelTree

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]


def test_first_errors_of_a_real_compile_failure(data: Path):
    errors = first_errors((data / "golden/build-compile-error.log").read_text())
    assert errors[0].endswith("fs/splice.c:22:17: error: expected expression before ‘;’ token")
    assert any(e.startswith("make[") for e in errors)


def test_first_errors_of_a_real_link_failure(data: Path):
    errors = first_errors((data / "golden/build-link-error.log").read_text())
    assert errors[0] == "splice.c:(.text+0x7c4): undefined reference to `pipe_discard_stale'"


def test_ccache_replays_warnings_that_name_sources_relative_to_the_build(tmp_path: Path):
    """Real ccache, with a compile line shaped like Kbuild's out-of-tree one
    (an absolute source path, -Wp,-MMD): the warning names the source
    relative to the build directory, on the miss and on the hit that a second
    clone gets, as the warning ledgers need. (In depend mode it named the
    absolute path of the clone that compiled it first.)"""
    for clone in ("one", "two"):
        (tmp_path / clone / "linux").mkdir(parents=True)
        (tmp_path / clone / "build").mkdir()
        (tmp_path / clone / "linux" / "a.c").write_text("int f(void) { int unused; return 1; }\n")
    warnings = []
    for clone in ("one", "two"):
        root = tmp_path / clone
        env = os.environ | ccache_env(root / "linux") | {"CCACHE_DIR": str(tmp_path / "cache")}
        env.pop("CCACHE_DEPEND", None)
        proc = subprocess.run(["ccache", "gcc", "-Wall", "-Wp,-MMD,.a.o.d", "-c",
                               str(root / "linux" / "a.c"), "-o", "a.o"], cwd=root / "build",
                              env=env, capture_output=True, text=True, check=True)
        warnings.append([line for line in proc.stderr.splitlines() if "warning:" in line])
    assert warnings[0] == warnings[1] and warnings[0][0].startswith("../linux/a.c:1:"), warnings


def test_compiler_is_the_one_kconfig_recorded(tmp_path: Path):
    """What a kernel's .config says of its compiler (Kconfig runs `$(CC)
    --version`); a build dir without one, or a .config without it, says ""."""
    assert compiler_of(tmp_path) == ""
    (tmp_path / ".config").write_text(
        "CONFIG_CC_VERSION_TEXT=\"gcc (Debian 12.2.0-14+deb12u1) 12.2.0\"\nCONFIG_CC_IS_GCC=y\n")
    assert compiler_of(tmp_path) == "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"
    (tmp_path / ".config").write_text("CONFIG_SLUB_TINY=y\n")
    assert compiler_of(tmp_path) == ""


def up_to_date(tree: Path, build_dir: Path) -> bool:
    """``make -q``: is build_dir/splice.out newer than fs/splice.c?"""
    makefile = build_dir / "Makefile"
    makefile.write_text(f"{build_dir}/splice.out: {tree}/fs/splice.c\n\tcp $< $@\n")
    return subprocess.run(["make", "-q", "-f", str(makefile)]).returncode == 0


def build(tree: Path, build_dir: Path) -> None:
    """A successful 'build' of build_dir from the tree's current content, as if
    it had run a minute ago."""
    now = time.time()
    os.utime(tree / "fs/splice.c", (now - 200, now - 200))
    subprocess.run(["make", "-s", "-f", str(build_dir / "Makefile")], check=True)
    started = now - 100
    os.utime(build_dir / "splice.out", (now - 90, now - 90))
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    (build_dir / "wb-build-stats.json").write_text(
        json.dumps({"steps": 1, "commit": commit, "started": started, "dirty": []}))


@pytest.fixture
def tree(mini_tree: Path) -> KernelTree:
    """mini_tree with a branch "other" whose fs/splice.c differs from the base."""
    subprocess.run([*GIT, "-C", str(mini_tree), "checkout", "-q", "-b", "other"], check=True)
    (mini_tree / "fs/splice.c").write_text("other content\n")
    subprocess.run([*GIT, "-C", str(mini_tree), "commit", "-qam", "other"], check=True)
    return KernelTree(mini_tree, "", "6.12.117", "test")


def test_switching_away_and_back_costs_no_rebuild(tree: KernelTree, mini_tree: Path,
                                                  tmp_path: Path):
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    switch_to(tree, "wb/base", base_dir)
    up_to_date(mini_tree, base_dir)
    build(mini_tree, base_dir)
    switch_to(tree, "other", base_dir)    # the other variant's turn: rewrites splice.c
    switch_to(tree, "wb/base", base_dir)  # rewrites it back, fresh mtime
    assert up_to_date(mini_tree, base_dir)


def test_content_that_differs_from_the_last_build_is_rebuilt(tree: KernelTree, mini_tree: Path,
                                                            tmp_path: Path):
    bd = tmp_path / "bd"
    bd.mkdir()
    up_to_date(mini_tree, bd)
    build(mini_tree, bd)                  # built from "other"
    # Another build dir's switch left the file old while it has the base content.
    subprocess.run(["git", "-C", str(mini_tree), "checkout", "-q", "wb/base"], check=True)
    os.utime(mini_tree / "fs/splice.c", (946684800, 946684800))
    switch_to(tree, "wb/base", bd)
    assert not up_to_date(mini_tree, bd), "base content was never built in bd"


def test_uncommitted_edit_is_rebuilt(mini_tree: Path, tmp_path: Path):
    tree = KernelTree(mini_tree, "", "6.12.117", "test")
    bd = tmp_path / "bd"
    bd.mkdir()
    up_to_date(mini_tree, bd)
    build(mini_tree, bd)
    (mini_tree / "fs/splice.c").write_text("edited, not committed\n")
    switch_to(tree, "HEAD", bd)
    assert not up_to_date(mini_tree, bd)
