"""Stage 2: apply the patch series with ``git am``, one commit per patch.

The series lives on branch ``wb/patched``, built fresh from the base tag each
time. A patch that does not apply is named with the file and hunk that failed,
and the tree is put back at the base: never half applied.

A series directory has a ``series`` file (quilt style: one patch file a line,
in order, ``#`` comments) whose header, the comment lines before the first
patch, says which kernels the series is for in one line::

    # kernel: 6.12          the 6.12 release line: 6.12, 6.12.117, 6.12-rc3
    # kernel: >=7.3         7.3 (its release candidates too) and every later one
    # kernel: 6.6, 6.12     several, separated by commas

A term is ``X.Y`` or ``>=X.Y``; kernels compare by their release line
(VERSION.PATCHLEVEL), so a stable release or a -rc of X.Y is X.Y.
"""

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench import log
from workbench.digest import digest
from workbench.errors import WorkbenchError
from workbench.proc import git, run
from workbench.source import BASE_TAG, PATCHED_BRANCH, KernelTree, checkout
from workbench.status import Status
from workbench.workspace import PATCHES_DIR

# The identity of the commits git am makes; the patch's author is kept.
_COMMITTER = ["-c", "user.name=workbench", "-c", "user.email=workbench@localhost"]


@dataclass(frozen=True)
class AppliedSeries:
    status: Status
    patches: tuple[Path, ...]
    commits: tuple[str, ...] = ()
    head: str = ""
    failed_patch: Path | None = None
    failed_at: tuple[str, ...] = ()  # "fs/splice.c:123" per failed hunk
    git_output: str = ""


SERIES_FILE = "series"
# A line that means to be the kernel line (so that a misspelt one is an
# error, not a comment), and the terms of a well-formed one.
_KERNEL_LINE = re.compile(r"#\s*kernels?\s*(?:[:=]|(?=[>=\d]))", re.I)
_WELL_FORMED = re.compile(r"# kernel:\s+(\S.*?)\s*")
_TERM = re.compile(r"(>=)?(\d+)\.(\d+)")
KERNEL_FORMAT = ("'# kernel: X.Y' (that release line, e.g. 6.12) or '# kernel: >=X.Y' "
                 "(X.Y and every later one, e.g. >=7.3), several separated by commas")


def release_line(version: str) -> tuple[int, int] | None:
    """(VERSION, PATCHLEVEL) of a kernel version ("7.3.0-rc7": (7, 3)); None
    when ``version`` does not start with them."""
    m = re.match(r"(\d+)\.(\d+)(?:\D|$)", version)
    return (int(m[1]), int(m[2])) if m else None


@dataclass(frozen=True)
class Kernels:
    """The kernels a series is for, as its ``# kernel:`` line says."""
    text: str  # what follows "kernel:", e.g. ">=7.3"
    # Per term: (and later?, (VERSION, PATCHLEVEL)).
    terms: tuple[tuple[bool, tuple[int, int]], ...]

    @classmethod
    def parse(cls, text: str, where: str) -> "Kernels":
        """The terms of ``text``; ``where`` ("file:line") names it in the error."""
        terms = []
        for term in text.split(","):
            m = _TERM.fullmatch(term.strip())
            if not m:
                raise WorkbenchError(f"{where}: '{term.strip()}' is not a kernel: expected "
                                     f"{KERNEL_FORMAT}")
            terms.append((bool(m[1]), (int(m[2]), int(m[3]))))
        return cls(", ".join(t.strip() for t in text.split(",")), tuple(terms))

    def matches(self, version: str) -> bool:
        line = release_line(version)
        return line is not None and any(line >= at if later else line == at
                                        for later, at in self.terms)

    def __str__(self) -> str:
        return self.text


@dataclass
class Series:
    patches: list[Path]
    directory: Path
    kernels: Kernels | None = None  # None: the series file has no kernel line
    # Where the kernel line should be when there is none: the first patch's line.
    header_end: int = 1

    @property
    def file(self) -> Path:
        return self.directory / SERIES_FILE

    @classmethod
    def read(cls, patches_dir: Path) -> "Series":
        """Patches in the order of ``patches_dir/series`` (quilt style, #
        comments), and the kernels its header's kernel line names."""
        series_file = patches_dir / SERIES_FILE
        if not series_file.exists():
            raise WorkbenchError(f"no series file at {series_file}",
                                 hint="list the patch files there, one per line, in order, "
                                      "under a header line such as '# kernel: 6.12'")
        patches: list[Path] = []
        kernels: Kernels | None = None
        kernel_at = header_end = 0
        for number, line in enumerate(series_file.read_text().splitlines(), 1):
            if _KERNEL_LINE.match(line.strip()):
                where = f"{series_file}:{number}"
                if patches:
                    raise WorkbenchError(f"{where}: the kernel line must be in the header, "
                                         "before the first patch")
                if kernels is not None:
                    raise WorkbenchError(f"{where}: a second kernel line (the first is line "
                                         f"{kernel_at})")
                m = _WELL_FORMED.fullmatch(line.strip())
                if not m:
                    raise WorkbenchError(f"{where}: malformed kernel line {line.strip()!r}: "
                                         f"expected {KERNEL_FORMAT}")
                kernels, kernel_at = Kernels.parse(m[1], where), number
                continue
            name = line.split("#", 1)[0].strip()
            if not name:
                continue
            path = patches_dir / name
            if not path.is_file():
                raise WorkbenchError(f"{series_file}:{number}: patch '{name}' not found")
            patches.append(path)
            header_end = header_end or number
        return cls(patches, patches_dir, kernels, header_end or 1)


# Directories of patches/ that are no kernel series: the man page series
# (for man-pages.git), which every kernel series shares, as the cover letter.
SHARED_DIRS = ("man-pages",)


def available_series(root: Path = PATCHES_DIR) -> list[Series]:
    """The kernel series of ``root``: ``root`` itself when it has a series
    file (mainline), then each subdirectory with one (the backports, e.g.
    stable-6.12/) but SHARED_DIRS. Each must have a kernel line."""
    dirs = [root] if (root / SERIES_FILE).is_file() else []
    dirs += sorted(d for d in root.iterdir() if d.is_dir() and d.name not in SHARED_DIRS
                   and (d / SERIES_FILE).is_file())
    found = []
    for directory in dirs:
        series = Series.read(directory)
        if series.kernels is None:
            raise WorkbenchError(f"{series.file}:{series.header_end}: no kernel line before "
                                 f"the first patch: wb chooses among the series of {root} by "
                                 "the kernels each one names",
                                 hint=f"add a header line: {KERNEL_FORMAT}")
        found.append(series)
    return found


def shown(directory: Path, root: Path = PATCHES_DIR) -> str:
    """``directory`` as the log names it: patches/stable-6.12 for one of ``root``."""
    try:
        return str(Path(root.name) / directory.relative_to(root))
    except ValueError:
        return str(directory)


def choose_series(version: str, requested: Path | None = None,
                  root: Path = PATCHES_DIR) -> Series:
    """The series for the tree of Linux ``version`` (``KernelTree.version``),
    which every command that takes --patches applies or writes evidence for.

    ``requested`` (--patches DIR) is used as given, with a warning when its
    kernel line names other kernels, or none (an older revision's series, from
    before there was one): applying a series to another kernel on purpose must
    be possible. Without it, the one series of ``root`` whose kernel line
    matches ``version``; none or several is an error listing them all."""
    if requested is not None:
        series = Series.read(requested)
        if series.kernels is None:
            log.warn(f"{series.file} has no kernel line: using it for Linux {version} as "
                     "--patches asks")
        elif not series.kernels.matches(version):
            log.warn(f"series {requested} is for kernel {series.kernels}, not Linux {version}: "
                     "using it as --patches asks")
        else:
            log.info(f"series: {requested} (kernel {series.kernels}) for Linux {version}")
        return series
    candidates = available_series(root)
    matching = [s for s in candidates if s.kernels is not None and s.kernels.matches(version)]
    if len(matching) == 1:
        chosen = matching[0]
        log.info(f"series: {shown(chosen.directory, root)} (kernel {chosen.kernels}) for "
                 f"Linux {version}")
        return chosen
    listed = "\n".join(f"  {s.directory} (kernel {s.kernels})" for s in candidates)
    if matching:
        raise WorkbenchError(f"Linux {version} matches more than one series in {root}:\n"
                             + "\n".join(f"  {s.directory} (kernel {s.kernels})"
                                         for s in matching),
                             hint="make their kernel lines name different kernels, or pick "
                                  "one with --patches DIR")
    raise WorkbenchError(f"no series for Linux {version} in {root}; the series there are:\n"
                         + (listed or "  none"),
                         hint="apply one anyway with --patches DIR (wb warns that it is for "
                              "another kernel), or set up a tree of a kernel a series is for "
                              "(wb tree --kernel NAME, or --tree at such a tag)")


def shared(directory: Path, name: str) -> Path:
    """``directory/name``, else the one the series directories of a patches/
    share in its parent (cover-letter.txt, man-pages/ of patches/ for
    patches/stable-6.12); ``directory/name`` when neither exists, for the
    error to name."""
    for candidate in (directory / name, directory.parent / name):
        if candidate.exists():
            return candidate
    return directory / name


def parse_am_failure(output: str) -> tuple[str, ...]:
    """The file:line of each hunk git am (git apply) reported as failed."""
    places = re.findall(r"^error: patch failed: (\S+:\d+)$", output, re.M)
    missing = re.findall(r"^error: (\S+): (?:does not exist in index|No such file or directory)$",
                         output, re.M)
    return tuple(places + [f"{path} (file missing)" for path in missing])


def apply_series(tree: KernelTree, series: Series, log_path: Path | None = None) -> AppliedSeries:
    """Rebuild ``wb/patched`` = base + series; on failure leave the tree at the base."""
    checkout(tree, BASE_TAG)
    git(tree.path, "branch", "-f", PATCHED_BRANCH, BASE_TAG)
    git(tree.path, "checkout", "-q", PATCHED_BRANCH)
    # A previous run killed inside git am leaves its state behind.
    run(["git", "-C", str(tree.path), "am", "--abort"], check=False)
    commits: list[str] = []
    for patch in series.patches:
        # Committer date = author date: the same series on the same base gives
        # the same commit hashes, so results from two machines name one head.
        proc = run(["git", *_COMMITTER, "-C", str(tree.path), "am", "--no-3way",
                    "--committer-date-is-author-date", str(patch)], check=False, log=log_path)
        if proc.returncode != 0:
            run(["git", "-C", str(tree.path), "am", "--abort"], check=False, log=log_path)
            checkout(tree, BASE_TAG)
            git(tree.path, "branch", "-f", PATCHED_BRANCH, BASE_TAG)
            return AppliedSeries(Status.APPLY_FAILURE, tuple(series.patches), tuple(commits),
                                 failed_patch=patch, failed_at=parse_am_failure(proc.stdout),
                                 git_output=proc.stdout)
        commits.append(git(tree.path, "rev-parse", "HEAD"))
        log.info(f"applied {patch.name}")
    head = git(tree.path, "rev-parse", "HEAD")
    checkout(tree, head)
    return AppliedSeries(Status.PASS, tuple(series.patches), tuple(commits), head=head)


def branch_head(tree: KernelTree) -> str | None:
    """The head of ``wb/patched``; None before the series was ever applied."""
    try:
        return git(tree.path, "rev-parse", "--verify", "-q", f"refs/heads/{PATCHED_BRANCH}")
    except WorkbenchError:
        return None


def apply_once(tree: KernelTree, series: Series, record_path: Path,
               log_path: Path) -> AppliedSeries:
    """``apply_series`` unless ``wb/patched`` still holds exactly this series
    on this base (``record_path`` remembers what the last application made),
    so that an unchanged series keeps its commits and its builds."""
    key = digest([tree.base_commit, *(p.read_bytes() for p in series.patches)])
    try:
        record = json.loads(record_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        record = {}
    if record.get("key") == key and branch_head(tree) == record.get("head"):
        log.info(f"series of {len(series.patches)} patches already applied")
        return AppliedSeries(Status.PASS, tuple(series.patches), tuple(record["commits"]),
                             head=record["head"])
    result = apply_series(tree, series, log_path)
    if result.status is Status.PASS:
        record_path.write_text(json.dumps({"key": key, "head": result.head,
                                           "commits": list(result.commits)}) + "\n")
    else:
        record_path.unlink(missing_ok=True)
    return result


def apply_error(result: AppliedSeries, tree: KernelTree, log_path: Path) -> WorkbenchError:
    """The error for a series that did not apply: the patch, where, git's words."""
    assert result.failed_patch is not None
    where = ", ".join(result.failed_at) or "see apply.log"
    said = "\n".join(line for line in result.git_output.splitlines()
                     if line.startswith(("error:", "Patch failed", "Applying")))
    return WorkbenchError(
        f"patch {result.failed_patch.name} does not apply to {tree.base_commit[:12]}: "
        f"failed at {where}\n{said}",
        hint=f"the tree is back at the base; refresh the patch (full output in {log_path})",
        status=Status.APPLY_FAILURE)


def patch_id(tree: Path, patch: str) -> str:
    """``git patch-id --stable`` of a patch (a mail, a format-patch file, or
    ``git show`` of a commit): equal for the same change, whatever the commit
    it was made from, its message or its line offsets; "" for text without a
    diff."""
    proc = subprocess.run(["git", "-C", str(tree), "patch-id", "--stable"], input=patch,
                          text=True, errors="replace", capture_output=True)
    if proc.returncode != 0:
        raise WorkbenchError(f"`git patch-id` failed in {tree}: {proc.stderr.strip()}")
    return proc.stdout.split(" ", 1)[0].strip()


def commit_patch_id(tree: Path, commit: str) -> str:
    """The patch-id of ``commit`` in ``tree`` (see ``patch_id``)."""
    return patch_id(tree, git(tree, "show", "--format=", commit) + "\n")
