"""A stand-in for `wb` in the CI job tests (tests/test_ci_jobs.py): it builds
and boots nothing, but does what the CI jobs depend on, in a second:

- `junit-merge` is the real one;
- every other command makes a run directory in $WB_WORKDIR/runs/
  with run.json, and points runs/latest at it, as wb does;
- `build` and `all` "build" base and patched of the tree --tree names, else
  the one `tree --tree` chose earlier in the work directory (as wb keeps
  it), else the default one: a kernel counts as built cold unless a file for
  it is in the ccache ($CCACHE_DIR, else ccache's default ~/.cache/ccache),
  which the build then adds;
- `all` and `test` write tests-<variant>[-debug]/junit.xml and results.json
  from the KTAP of a real boot (tests/data/golden/clean-run.ktap), and a
  summary.md;
- `evidence` writes $WB_WORKDIR/evidence/v1/MANIFEST.sha256.

Every call appends one JSON line to $FAKE_WB_LOG: the arguments, and for
builds which kernel and whether it was cold. With FAKE_WB_HANG set, `all`
hangs after writing its results until SIGINT or SIGTERM (wb's reaction to
both: the run is kept, exit 130), as a slow boot would.
"""

import datetime
import json
import os
import signal
import sys
import time
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "clean-run.ktap"


def log(**entry) -> None:
    if os.environ.get("FAKE_WB_LOG"):
        with open(os.environ["FAKE_WB_LOG"], "a") as out:
            out.write(json.dumps(entry) + "\n")


def new_run(workdir: Path, command: str) -> Path:
    runs = workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    attempt = 0  # named as wb names them: a suffix only for a second one a second
    while (run := runs / (f"{stamp}-{command}" + (f".{attempt}" if attempt else ""))).exists():
        attempt += 1
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": command, "argv": sys.argv[1:],
                                              "stages": {}}) + "\n")
    (runs / ".latest.tmp").unlink(missing_ok=True)
    (runs / ".latest.tmp").symlink_to(run.name)
    os.replace(runs / ".latest.tmp", runs / "latest")
    return run


def build(workdir: Path, args: list[str]) -> None:
    cache = Path(os.environ.get("CCACHE_DIR") or Path.home() / ".cache" / "ccache")
    fragments = "debug" if "--debug" in args else "default"
    chosen = workdir / "fake-tree"
    tree = (args[args.index("--tree") + 1] if "--tree" in args
            else chosen.read_text() if chosen.exists() else "default")
    for variant in ("base", "patched"):
        kernel = f"{tree}-{fragments}-{variant}"
        marker = cache / kernel
        log(build=kernel, cold=not marker.exists(), ccache=str(cache))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("objects\n")


def test(run: Path, args: list[str]) -> None:
    from workbench.ktap import parse
    from workbench.results import write_results
    suffix = "-debug" if "--debug" in args else ""
    lines = GOLDEN.read_text().splitlines()
    for variant in ("base", "patched"):
        write_results(parse(lines, variant), variant, run / f"tests-{variant}{suffix}")
    (run / "summary.md").write_text(f"# fake run {run.name}\n")


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    log(argv=argv, cwd=os.getcwd())
    if command == "junit-merge":  # the real one
        from workbench.cli import main as wb
        return wb(argv)
    hang = command == "all" and bool(os.environ.get("FAKE_WB_HANG"))
    stop = []
    if hang:  # from the start, so that a signal while writing is not lost
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.append(True))
    workdir = Path(os.environ["WB_WORKDIR"])
    run = new_run(workdir, command)
    if command == "tree" and "--tree" in args:
        (workdir / "fake-tree").write_text(args[args.index("--tree") + 1])
    if command in ("build", "all"):
        build(workdir, args)
    if command in ("all", "test"):
        test(run, args)
    if command == "evidence":
        (workdir / "evidence" / "v1").mkdir(parents=True, exist_ok=True)
        (workdir / "evidence" / "v1" / "MANIFEST.sha256").write_text("")
    if hang:
        while not stop:
            time.sleep(0.05)
        log(interrupted=command)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
