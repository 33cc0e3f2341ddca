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


def test_ccache_misses_compile_once_and_hits_across_modes(tmp_path: Path, monkeypatch):
    """Real ccache, with a compile line shaped like Kbuild's (-Wp,-MMD): in
    depend mode a miss takes its key from the compiler's dependency file (no
    preprocessor run first), and an entry made so is a hit for a ccache
    without it (a user's CCACHE_NODEPEND is kept)."""
    (tmp_path / "h.h").write_text("#define X 1\n")
    (tmp_path / "a.c").write_text('#include "h.h"\nint f(void) { return X; }\n')
    monkeypatch.delenv("CCACHE_DEPEND", raising=False)
    env = ccache_env(tmp_path / "linux") | {"CCACHE_DIR": str(tmp_path / "cache")}
    assert env["CCACHE_DEPEND"] == "1" and env["CCACHE_BASEDIR"] == str(tmp_path)

    def compile_logged(log: str, extra: dict[str, str]) -> str:
        subprocess.run(["ccache", "gcc", "-Wp,-MMD,.a.o.d", "-c", "a.c", "-o", "a.o"],
                       cwd=tmp_path, check=True,
                       env=os.environ | env | extra | {"CCACHE_LOGFILE": str(tmp_path / log)})
        return (tmp_path / log).read_text()

    assert "Got result key from dependency file" in compile_logged("miss.log", {})
    env.pop("CCACHE_DEPEND")
    assert "Result: direct_cache_hit" in compile_logged("hit.log", {"CCACHE_NODEPEND": "1"})
    monkeypatch.setenv("CCACHE_NODEPEND", "1")
    assert "CCACHE_DEPEND" not in ccache_env(tmp_path / "linux")


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
