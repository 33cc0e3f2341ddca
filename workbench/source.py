"""Stage 1: a kernel git tree to work on, with its base commit recorded.

Default: Debian's linux-source-6.12 tarball unpacked into ``work/linux`` as a
git repository whose first commit is the pristine source, tagged ``wb/base``.
With ``--tree PATH`` a worktree of the user's own kernel checkout is made at
``work/linux`` instead, so their checkout is never switched or modified.
"""

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import log
from workbench.errors import WorkbenchError
from workbench.proc import git, run
from workbench.workspace import PROJECT_ROOT, Workspace

DEFAULT_TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
SHARED_KERNELS_DIR = Path(os.environ.get("WB_SHARED_KERNELS",
                                         PROJECT_ROOT.parent / "shared" / "kernels"))


@dataclass(frozen=True)
class KnownKernel:
    """The source ``--kernel NAME`` stands for, and how a machine gets it."""
    tarball: Path
    how_to_get: str


KNOWN_KERNELS = {
    "6.12": KnownKernel(DEFAULT_TARBALL, "apt-get install linux-source-6.12"),
    "7.3": KnownKernel(SHARED_KERNELS_DIR / "linux-7.3-rc7-debian.tar.xz",
                       "it is Debian's linux-source-7.3 tarball (7.3~rc7-1~exp1), looked "
                       f"for in {SHARED_KERNELS_DIR} ($WB_SHARED_KERNELS)"),
}
DEFAULT_KERNEL = "6.12"
BASE_TAG = "wb/base"
PATCHED_BRANCH = "wb/patched"

# A fixed identity and date make the base commit of a given tarball the same
# hash on every machine, so runs on different hosts name the same base.
_PRISTINE_ENV = {
    "GIT_AUTHOR_NAME": "workbench", "GIT_AUTHOR_EMAIL": "workbench@localhost",
    "GIT_COMMITTER_NAME": "workbench", "GIT_COMMITTER_EMAIL": "workbench@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class KernelTree:
    path: Path
    base_commit: str
    version: str
    origin: str  # the tarball, or the user's tree

    def save(self, ws: Workspace) -> None:
        record = asdict(self) | {"path": str(self.path)}
        ws.tree_record.write_text(json.dumps(record, indent=2) + "\n")


def load_tree(ws: Workspace) -> KernelTree:
    record = ws.read_json(ws.tree_record)
    if record is None or not (ws.tree / ".git").exists():
        raise WorkbenchError(f"no kernel tree in {ws.root}", hint="run `wb tree` first")
    return KernelTree(**(record | {"path": Path(record["path"])}))


def chosen_tree(ws: Workspace) -> KernelTree | None:
    """The tree set up earlier from a source other than the default one (a
    checkout, another kernel's tarball), which stays until another is chosen.
    A tree of the default tarball is not returned: it is set up again when
    the package's tarball changes."""
    try:
        tree = load_tree(ws)
    except WorkbenchError:
        return None
    if Path(tree.origin).is_dir():
        return tree
    tarball = tree.origin.rsplit(":", 2)[0]
    return None if tarball == str(DEFAULT_TARBALL.resolve()) else tree


def kernel_version(tree: Path) -> str:
    try:
        makefile = (tree / "Makefile").read_text(errors="replace")
    except FileNotFoundError:
        raise WorkbenchError(f"{tree} is not a kernel source tree (no Makefile)") from None
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION) = *(\S*)",
                             makefile, re.M))
    if "VERSION" not in fields or not (tree / "Kconfig").exists():
        raise WorkbenchError(f"{tree} is not a kernel source tree")
    return "{VERSION}.{PATCHLEVEL}.{SUBLEVEL}{EXTRAVERSION}".format(**{"EXTRAVERSION": ""} | fields)


def tree_from_tarball(ws: Workspace, tarball: Path = DEFAULT_TARBALL) -> KernelTree:
    """Unpack ``tarball`` into a fresh git repo unless that was already done."""
    if not tarball.exists():
        known = [k for k in KNOWN_KERNELS.values() if k.tarball == tarball]
        raise WorkbenchError(
            f"kernel source {tarball} not found",
            hint=(f"{known[0].how_to_get}; or pass --tree PATH" if known
                  else "pass an existing tarball, --kernel NAME or --tree PATH"))
    stamp = f"{tarball.resolve()}:{tarball.stat().st_size}:{int(tarball.stat().st_mtime)}"
    record = ws.read_json(ws.tree_record)
    if record and record.get("origin") == stamp and (ws.tree / ".git").exists():
        tree = load_tree(ws)
        log.info(f"kernel tree {tree.path} already set up (base {tree.base_commit[:12]})")
        return tree

    _remove_tree(ws)
    staging = ws.root / "linux.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log.info(f"unpacking {tarball} (about a minute)")
    run(["tar", "-x", "-I", "xz -T0", "-f", str(tarball), "-C", str(staging),
         "--strip-components=1", "--no-same-owner"])
    version = kernel_version(staging)
    log.info(f"committing pristine {version} source as the base commit")
    git(staging, "init", "-q", "-b", "wb/pristine")
    # Debian's .gitignore ignores the whole top level: force-add the tree.
    git(staging, "add", "-f", "-A", ".")
    env = os.environ | _PRISTINE_ENV
    run(["git", "-C", str(staging), "commit", "-q", "--no-verify", "-m",
         f"Linux {version} (pristine source from {tarball.name})"], env=env)
    git(staging, "tag", "-f", BASE_TAG)
    os.replace(staging, ws.tree)
    tree = KernelTree(ws.tree, git(ws.tree, "rev-parse", "HEAD"), version, stamp)
    tree.save(ws)
    return tree


def tree_from_checkout(ws: Workspace, user_tree: Path, base: str = "HEAD") -> KernelTree:
    """Use the user's kernel checkout through a detached worktree at ``work/linux``."""
    user_tree = user_tree.resolve()
    if not (user_tree / ".git").exists():
        raise WorkbenchError(f"{user_tree} is not a git checkout",
                             hint="pass the top directory of a kernel git tree")
    kernel_version(user_tree)
    base_commit = git(user_tree, "rev-parse", "--verify", f"{base}^{{commit}}")
    _remove_tree(ws)
    log.info(f"adding a worktree of {user_tree} at {ws.tree} (base {base_commit[:12]})")
    git(user_tree, "worktree", "prune")
    git(user_tree, "worktree", "add", "-f", "--detach", str(ws.tree), base_commit)
    git(ws.tree, "tag", "-f", BASE_TAG, base_commit)
    tree = KernelTree(ws.tree, base_commit, kernel_version(ws.tree), str(user_tree))
    tree.save(ws)
    return tree


def variant_rev(tree: KernelTree, variant: str) -> str:
    """The commit a variant builds from: the base, or the base plus the series."""
    if variant == "base":
        return BASE_TAG
    try:
        git(tree.path, "rev-parse", "--verify", "-q", f"refs/heads/{PATCHED_BRANCH}")
    except WorkbenchError:
        raise WorkbenchError(f"no patched branch in {tree.path}",
                             hint="run `wb apply` first") from None
    return PATCHED_BRANCH


def checkout(tree: KernelTree, rev: str) -> None:
    """Switch the tree to ``rev``; only files that differ are rewritten."""
    git(tree.path, "checkout", "-q", "--detach", rev)


def _remove_tree(ws: Workspace) -> None:
    if ws.tree.exists() or ws.tree.is_symlink():
        log.info(f"removing the previous tree at {ws.tree}")
        shutil.rmtree(ws.tree)
    ws.tree_record.unlink(missing_ok=True)
