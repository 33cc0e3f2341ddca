"""The submission through b4: the tested series on an enrolled ``b4 prep``
branch, its recipients from ``b4 prep --auto-to-cc``, its checks from
``b4 prep --check``, and the messages ``b4 send`` would send, written by
``b4 send -o DIR`` (which sends nothing). Nothing is ever mailed.

The branch (``b4/stable-splice``) carries the tested commits re-authored by
the submitter: the same trees, the same messages with the placeholder's
Signed-off-by replaced. Its cover letter lives in the branch description
(b4's ``branch-description`` strategy), so the commits are the series' own
and no cover commit is inserted under them. Each evidence revision is tagged
``wb/evidence/vN``; the range-diff to the previous one goes into the letter
(b4's own ``${range_diff}`` needs the tag ``b4 send`` makes when it mails).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench import log
from workbench.commits import DEFAULT_CHECKPATCH_IGNORE
from workbench.errors import WorkbenchError
from workbench.letter import WIDTH, too_wide
from workbench.proc import git, run, venv_path
from workbench.source import PATCHED_BRANCH, KernelTree

B4_BRANCH = "b4/stable-splice"
# b4 prep -e wants a branch to fork from, not a commit.
FORK_BRANCH = "wb/b4-base"
TAG_PREFIX = "wb/evidence/v"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
B4 = [sys.executable, "-m", "b4.command"]


@dataclass(frozen=True)
class Prepared:
    branch: str
    head: str  # the re-authored series head
    revision: int
    author: tuple[str, str]
    to: list[str]
    cc: list[str]


@dataclass(frozen=True)
class Checked:
    ok: bool
    log: Path


def _config_env(pairs: dict[str, str]) -> dict[str, str]:
    """The environment with ``pairs`` added to git's command-line config
    (GIT_CONFIG_COUNT...), after any already there (the caller's identity)."""
    env = dict(os.environ) | {"PATH": venv_path()}  # checkpatch's spdxcheck.py: ply
    count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    for key, value in pairs.items():
        env[f"GIT_CONFIG_KEY_{count}"], env[f"GIT_CONFIG_VALUE_{count}"] = key, value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    return env


def b4(tree: KernelTree, *args: str, log_path: Path | None = None, check: bool = True,
       config: dict[str, str] | None = None) -> str:
    proc = run([*B4, *args], cwd=tree.path, env=_config_env(config or {}), log=log_path,
               check=False)
    if check and proc.returncode != 0:
        raise WorkbenchError(f"`b4 {' '.join(args)}` failed in {tree.path} (exit "
                             f"{proc.returncode}):\n{proc.stdout.strip()[-2000:]}",
                             hint="b4 is installed with the workbench (make setup)")
    return proc.stdout


def reauthor(tree: KernelTree, author: tuple[str, str], placeholder: tuple[str, str]) -> str:
    """The series base..wb/patched committed by ``author``: each commit with
    the tree of the tested one and its message, the placeholder's authorship
    and Signed-off-by replaced by the author's (a real co-author's commit
    stays theirs). Returns the new head."""
    stand_in = "{} <{}>".format(*placeholder)
    signer = "{} <{}>".format(*author)
    identity = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
                "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1]}
    parent = tree.base_commit
    commits = git(tree.path, "rev-list", "--reverse", f"{tree.base_commit}..{PATCHED_BRANCH}")
    for commit in commits.split():
        message = git(tree.path, "log", "-1", "--format=%B", commit)
        message = re.sub(rf"(?m)^Signed-off-by: {re.escape(stand_in)}$",
                         f"Signed-off-by: {signer}", message)
        name, email, date = git(tree.path, "log", "-1", "--format=%an%n%ae%n%aI",
                                commit).split("\n")
        authored = identity if (name, email) == placeholder else {
            **identity, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
        proc = run(["git", "-C", str(tree.path), "commit-tree", f"{commit}^{{tree}}",
                    "-p", parent, "-m", message],
                   env={**os.environ, **authored, "GIT_AUTHOR_DATE": date,
                        "GIT_COMMITTER_DATE": date})
        parent = proc.stdout.strip()
    return parent


def tested_trees(tree: KernelTree, head: str) -> bool:
    """Whether every commit of base..head has the tree of the tested commit
    at the same position of base..wb/patched."""
    def trees(tip: str) -> list[str]:
        return git(tree.path, "log", "--reverse", "--format=%T",
                   f"{tree.base_commit}..{tip}").split()
    return trees(head) == trees(PATCHED_BRANCH)


@contextmanager
def _on_branch(tree: KernelTree, branch: str, head: str) -> Iterator[None]:
    """With ``branch`` checked out at ``head`` (b4 works on the current
    branch); then back to what was checked out, detached, as wb leaves it."""
    previous = git(tree.path, "rev-parse", "HEAD")
    git(tree.path, "checkout", "-q", "-B", branch, head)
    try:
        yield
    finally:
        git(tree.path, "checkout", "-q", "--detach", previous)


def prepare(tree: KernelTree, head: str, author: tuple[str, str], revision: int,
            subject: str, body: str, to: list[str], cc: list[str],
            log_path: Path) -> Prepared:
    """The enrolled b4 branch at ``head`` (``reauthor``'s) for ``revision``,
    with the cover letter ``subject``/``body`` and its recipients: b4 prep
    --auto-to-cc (get_maintainer.pl on every patch) and the lists ``to``/``cc``."""
    if not tested_trees(tree, head):
        raise WorkbenchError("the re-authored series differs from the tested one")
    git(tree.path, "branch", "-f", FORK_BRANCH, tree.base_commit)
    enrolled = bool(run(["git", "-C", str(tree.path), "config", "--get",
                         f"branch.{B4_BRANCH}.b4-tracking"], check=False).stdout.strip())
    with _on_branch(tree, B4_BRANCH, head):
        if not enrolled:
            log.info(f"b4: enrolling {B4_BRANCH} (fork point {FORK_BRANCH})")
            b4(tree, "prep", "-e", FORK_BRANCH, log_path=log_path,
               config={"b4.prep-cover-strategy": "branch-description"})
        git(tree.path, "config", f"branch.{B4_BRANCH}.description", f"{subject}\n\n{body}")
        b4(tree, "prep", "--force-revision", str(revision), log_path=log_path)
        b4(tree, "prep", "--auto-to-cc", log_path=log_path,
           config={"b4.send-series-to": ", ".join(to), "b4.send-series-cc": ", ".join(cc)})
        cover = git(tree.path, "config", f"branch.{B4_BRANCH}.description")
    trailers = re.findall(r"(?m)^(To|Cc): (.+)$", cover)
    return Prepared(B4_BRANCH, head, revision, author,
                    [v for k, v in trailers if k == "To"], [v for k, v in trailers if k == "Cc"])


def check(tree: KernelTree, prepared: Prepared, out: Path) -> Checked:
    """b4 prep --check: checkpatch.pl on every patch, as b4 runs it, with
    wb series's options."""
    checkpatch = tree.path / "scripts" / "checkpatch.pl"
    # wb series's options: --strict, and new files may leave MAINTAINERS alone.
    ignore = ",".join(DEFAULT_CHECKPATCH_IGNORE)
    command = (f"{checkpatch} -q --terse --no-summary --mailback --showfile --strict "
               f"--ignore {ignore}")
    with _on_branch(tree, prepared.branch, prepared.head):
        output = b4(tree, "prep", "--no-cache", "--check", check=False,
                    config={"b4.prep-perpatch-check-cmd": command})
    output = _ANSI.sub("", output)
    out.write_text(output)
    # b4 exits 0 whatever checkpatch found; its last line counts the findings.
    totals = re.search(r"^Success: (\d+), Warning: (\d+), Error: (\d+)$", output, re.M)
    if totals is None:
        raise WorkbenchError(f"b4 prep --check printed no totals (see {out}):\n"
                             f"{output.strip()[-1500:]}")
    return Checked(totals[2] == totals[3] == "0", out)


def write_messages(tree: KernelTree, prepared: Prepared, out_dir: Path,
                   log_path: Path) -> list[Path]:
    """The messages ``b4 send`` would send, one .eml each, into ``out_dir``."""
    with _on_branch(tree, prepared.branch, prepared.head):
        # b4 sends From: the git identity; the same the commits were given.
        # Without a mail transport configured, b4 in a kernel tree picks its
        # web endpoint, which insists on signing: a sendmail command that can
        # only fail makes it write the messages as SMTP would send them
        # (-o never sends, whatever the transport).
        b4(tree, "send", "--no-sign", "-o", str(out_dir), log_path=log_path,
           config={"user.name": prepared.author[0], "user.email": prepared.author[1],
                   "sendemail.sendmailcmd": "false"})
    messages = sorted(out_dir.glob("*.eml"))
    if not messages:
        raise WorkbenchError(f"b4 send -o {out_dir} wrote no messages")
    return messages


def wide_commit_lines(tree: KernelTree, head: str) -> list[str]:
    """Lines of the series' commit messages wider than 75 columns."""
    found = []
    for commit in git(tree.path, "rev-list", "--reverse", f"{tree.base_commit}..{head}").split():
        subject = git(tree.path, "log", "-1", "--format=%s", commit)
        found += [f"{len(line)} columns wide in '{subject[:40]}': {line[:40]}..."
                  for line in too_wide(git(tree.path, "log", "-1", "--format=%B", commit))]
    return found


def tag_revision(tree: KernelTree, revision: int, head: str) -> None:
    git(tree.path, "tag", "-f", f"{TAG_PREFIX}{revision}", head)


def range_diff(tree: KernelTree, revision: int, head: str) -> tuple[str, str] | None:
    """(summary for the letter, full git range-diff) against the previous
    revision's tag; None for v1 or when that revision was never tagged."""
    old = f"{TAG_PREFIX}{revision - 1}"
    if revision < 2 or run(["git", "-C", str(tree.path), "rev-parse", "-q", "--verify",
                            f"refs/tags/{old}"], check=False).returncode != 0:
        return None
    ranges = (f"{tree.base_commit}..{old}", f"{tree.base_commit}..{head}")
    full = git(tree.path, "range-diff", "--no-color", *ranges)
    lines = []
    # "1:  abc1234 = 1:  def5678 subject": the pairing and the subject, cut to fit
    for line in git(tree.path, "range-diff", "--no-color", "-s", *ranges).splitlines():
        if m := re.match(r"^\s*(\d+|-):\s+\S+\s+([=!<>])\s+(\d+|-):\s+\S+\s+(.*)$", line):
            line = f"  {m[1]:>2} {m[2]} {m[3]:>2} {m[4]}"
            lines.append(line if len(line) <= WIDTH else line[:WIDTH - 3] + "...")
    return "\n".join(lines), full
