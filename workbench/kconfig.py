"""Stage 3: a kernel .config from a base target plus named fragments.

Like kunit_tool: merge with the kernel's own ``scripts/kconfig/merge_config.sh``,
let ``olddefconfig`` settle dependencies, then check that every option the
fragments asked for survived; Kconfig silently drops options whose
dependencies are not met, and a kernel built without them tests nothing.
"""

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import log
from workbench.digest import digest, file_sha256
from workbench.errors import WorkbenchError
from workbench.proc import run
from workbench.status import Status
from workbench.workspace import CONFIGS_DIR

DEFAULT_BASE_TARGET = "tinyconfig"
DEFAULT_FRAGMENTS = ("virtme", "filesystems", "net", "crashtest")
# Added by --debug: KASAN, lockdep, DEBUG_VM (configs/debug.config).
DEBUG_FRAGMENT = "debug"
ARCH = "x86_64"

_SET = re.compile(r"^(CONFIG_\w+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_\w+) is not set$")


@dataclass(frozen=True)
class Mismatch:
    option: str
    asked: str
    got: str  # "n" when the option is absent or unset

    def __str__(self) -> str:
        return f"{self.option}: asked {self.asked}, got {self.got}"


@dataclass(frozen=True)
class KernelConfig:
    path: Path
    sha256: str
    base_target: str
    fragments: tuple[str, ...]

    def save(self, record: Path, inputs: str) -> None:
        """Write the record; ``inputs`` is a digest of what made this config,
        so an unchanged request can keep it."""
        record.write_text(json.dumps(asdict(self) | {"path": str(self.path), "inputs": inputs},
                                     indent=2) + "\n")


def parse_config(text: str) -> dict[str, str]:
    """Options of a .config or fragment; ``# CONFIG_X is not set`` reads as "n"."""
    options = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _SET.match(line):
            options[m[1]] = m[2]
        elif m := _UNSET.match(line):
            options[m[1]] = "n"
    return options


def fragment_path(name: str, configs_dir: Path = CONFIGS_DIR) -> Path:
    """The fragment file for ``name`` (``virtme`` or ``virtme.config``, or a path)."""
    candidate = Path(name)
    if candidate.suffix == ".config" and candidate.exists():
        return candidate.resolve()
    path = configs_dir / f"{name.removesuffix('.config')}.config"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in configs_dir.glob("*.config")))
        raise WorkbenchError(f"unknown config fragment '{name}'",
                             hint=f"known fragments in {configs_dir}: {known}")
    return path


def check_fragments(requested: dict[str, str], final: dict[str, str]) -> list[Mismatch]:
    """Options whose value in the final config differs from what was asked."""
    return [Mismatch(option, asked, final.get(option, "n"))
            for option, asked in requested.items() if final.get(option, "n") != asked]


_DECLARED = re.compile(r"^\s*(?:menu)?config\s+(\w+)", re.M)


def declared_options(tree: Path) -> set[str]:
    """Every CONFIG_ symbol some Kconfig file of ``tree`` declares."""
    declared: set[str] = set()
    for top, dirs, files in os.walk(tree):
        # Kconfig lives in the sources only; .git changes under us while a
        # detached `git gc --auto` repacks, and walking it costs seconds.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("Kconfig"):
                text = (Path(top) / name).read_text(errors="replace")
                declared.update(f"CONFIG_{symbol}" for symbol in _DECLARED.findall(text))
    return declared


def make_config(tree: Path, build_dir: Path, fragments: tuple[str, ...] = DEFAULT_FRAGMENTS,
                base_target: str = DEFAULT_BASE_TARGET, make_vars: tuple[str, ...] = (),
                log_path: Path | None = None) -> KernelConfig:
    """Write ``build_dir/.config``; raise listing every option that did not survive."""
    paths = [fragment_path(name) for name in fragments]
    requested: dict[str, str] = {}
    for path in paths:
        requested |= parse_config(path.read_text())
    build_dir.mkdir(parents=True, exist_ok=True)
    make = ["make", "-C", str(tree), f"O={build_dir}", f"ARCH={ARCH}", *make_vars]
    log.info(f"config: {base_target} + {', '.join(fragments) or 'no fragments'}")
    run([*make, base_target], log=log_path)
    if paths:
        run([str(tree / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(build_dir),
             str(build_dir / ".config"), *map(str, paths)], cwd=tree, log=log_path)
    run([*make, "olddefconfig"], log=log_path)

    config_path = build_dir / ".config"
    text = config_path.read_text()
    mismatches = check_fragments(requested, parse_config(text))
    # The fragments serve every supported kernel; an option this kernel does
    # not have (renamed or merged, e.g. PROC_SYSCTL into SYSCTL in 7.x) is
    # named, not fatal. A typo is named the same way.
    declared = declared_options(tree) if mismatches else set()
    absent = [m for m in mismatches if m.option not in declared]
    if absent:
        log.warn(f"config: {len(absent)} option(s) from the fragments are not in this "
                 f"kernel's Kconfig, ignored: {', '.join(m.option for m in absent)}")
    mismatches = [m for m in mismatches if m.option in declared]
    if mismatches:
        listing = "\n".join(f"  {m}" for m in mismatches)
        raise WorkbenchError(
            f"{len(mismatches)} option(s) from the fragments did not survive olddefconfig:\n"
            f"{listing}",
            hint="their dependencies are not met: add the dependencies to the fragment "
                 "(see `make menuconfig` help for each option) or drop the option")
    return KernelConfig(config_path, hashlib.sha256(text.encode()).hexdigest(),
                        base_target, tuple(fragments))


def configure(tree: Path, build_dir: Path, commit: str, fragments: tuple[str, ...],
              base_target: str, make_vars: tuple[str, ...], log_path: Path) -> KernelConfig:
    """``make_config`` unless ``build_dir`` holds the .config that the same
    commit, base target and fragment contents made last time (its record,
    wb-config.json, says so): an unchanged config keeps the build's objects.
    An unknown fragment is bad input; a config that make or the option check
    refuses is a CONFIG_FAILURE."""
    record = build_dir / "wb-config.json"
    key = digest([commit, base_target, *(fragment_path(f).read_bytes() for f in fragments)])
    try:
        previous = json.loads(record.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        previous = {}
    if previous.get("inputs") == key and file_sha256(build_dir / ".config") == previous.get(
            "sha256"):
        log.info(f"config: unchanged inputs, keeping {build_dir}/.config")
        return KernelConfig(build_dir / ".config", previous["sha256"], base_target,
                            tuple(fragments))
    try:
        cfg = make_config(tree, build_dir, fragments, base_target, make_vars, log_path)
    except WorkbenchError as err:
        err.status = err.status or Status.CONFIG_FAILURE
        raise
    cfg.save(record, inputs=key)
    return cfg


def config_sha256(build_dir: Path) -> str:
    """The sha256 of the .config ``configure`` last made in ``build_dir`` ("" if none)."""
    try:
        return str(json.loads((build_dir / "wb-config.json").read_text()).get("sha256", ""))
    except (FileNotFoundError, json.JSONDecodeError):
        return ""
