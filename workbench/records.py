"""Typed run records: what ``run.json`` holds, written and read by this code alone.

A run record is written when a run starts and rewritten after every stage, so
a run killed half way still says what finished. Every stage has a dataclass;
its key in ``stages`` names its kind ("build patched-debug", "series 3").
``report``, ``evidence`` and ``bench`` read these classes, never string keys.

Schema 1 is the layout wb has written since the accelerator was recorded;
records without a ``schema`` field (written before it was added) have the
same layout and load as schema 1. A record of a newer schema, or one whose
fields do not fit, is refused with the file and the field named.
"""

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from workbench.commits import Checkpatch
from workbench.errors import WorkbenchError
from workbench.status import Status

SCHEMA_VERSION = 1


class RecordError(WorkbenchError):
    """A run.json that this wb cannot read."""


@dataclass
class Stage:
    status: Status


@dataclass
class TreeStage(Stage):
    path: str
    version: str
    base_commit: str
    origin: str


@dataclass
class ApplyStage(Stage):
    head: str = ""
    commits: list[str] = field(default_factory=list)
    patches: list[str] = field(default_factory=list)
    failed_patch: str = ""
    failed_at: list[str] = field(default_factory=list)
    series: str = ""  # the series directory applied (records before it: "")
    kernels: str = ""  # what its kernel line names ("": none)


@dataclass
class ConfigStage(Stage):
    sha256: str = ""
    base_target: str = ""
    fragments: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class BuildStage(Stage):
    commit: str
    seconds: float
    log: str
    errors: list[str] = field(default_factory=list)
    # The compiler as the kernel's .config names it (CONFIG_CC_VERSION_TEXT;
    # "": a record from before it, or a tree whose Kconfig has no such option)
    compiler: str = ""


@dataclass
class RunStage(Stage):
    exit_code: int | None
    reason: str
    console: str
    reports: list[str] = field(default_factory=list)


@dataclass
class TestsBuildStage(Stage):
    """The in-guest test programs (the ``build tests`` stage)."""
    __test__ = False  # not a pytest class
    commit: str
    seed: int | None = None
    programs: list[str] = field(default_factory=list)
    # What was asked for ("" in records before it): the suite, and whether
    # --fs, --filter or --program narrowed it
    suite: str = ""
    narrowed: bool = False


@dataclass
class TestStage(Stage):
    __test__ = False  # not a pytest class
    junit: str
    json: str
    counts: dict[str, int]
    boot: Status
    boot_reason: str
    boot_seconds: float
    integrity: str = ""
    integrity_failed: list[str] = field(default_factory=list)


@dataclass
class BenchStage(Stage):
    mode: str
    plan: dict[str, Any]
    table: str
    patched_commit: str
    json: str
    plots: list[str] = field(default_factory=list)
    missed_targets: list[str] = field(default_factory=list)


@dataclass
class CommitStage(Stage):
    """One commit of ``wb series`` (the ``series N`` stage)."""
    commit: str
    subject: str
    build: Status
    new_warnings: list[str] = field(default_factory=list)
    checkpatch: Checkpatch | None = None
    tests: Status | None = None
    counts: dict[str, int] = field(default_factory=dict)
    why: str = ""


@dataclass
class PrecheckStage(Stage):
    """``wb precheck``: every commit in every configuration the robots build."""
    table: str
    json: str
    commits: int
    configurations: list[str]
    first_failure: str = ""
    seconds: float = 0.0


@dataclass
class EvidenceStage(Stage):
    path: str
    cover_letter: str
    manifest: str
    missing: list[str] = field(default_factory=list)


# The kind of a stage is the first word of its name; "build tests" is the
# test programs' build, every other "build X" a kernel's.
_KINDS: dict[str, type[Stage]] = {
    "tree": TreeStage, "apply": ApplyStage, "config": ConfigStage, "build": BuildStage,
    "run": RunStage, "test": TestStage, "bench": BenchStage, "series": CommitStage,
    "evidence": EvidenceStage, "precheck": PrecheckStage,
}


def stage_class(name: str) -> type[Stage]:
    if name == "build tests":
        return TestsBuildStage
    kind = name.split(" ", 1)[0]
    if kind not in _KINDS:
        raise RecordError(f"unknown stage {name!r}")
    return _KINDS[kind]


@dataclass(frozen=True)
class AccelRecord:
    name: str
    reason: str


S = TypeVar("S", bound=Stage)


@dataclass
class RunRecord:
    command: str
    argv: list[str]
    started: str
    complete: bool = False
    status: Status | None = None
    stages: dict[str, Stage] = field(default_factory=dict)
    accel: AccelRecord | None = None
    tools: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    finished: str = ""
    error: str = ""
    incomplete_reason: str = ""
    schema: int = SCHEMA_VERSION

    def stage(self, name: str, kind: type[S]) -> S | None:
        """The stage ``name`` if it was recorded (``kind`` checks what it is)."""
        found = self.stages.get(name)
        if found is not None and not isinstance(found, kind):
            raise RecordError(f"stage {name!r} is a {type(found).__name__}, not {kind.__name__}")
        return found

    def commit_stages(self) -> list[CommitStage]:
        """The ``series N`` stages in the order of the series (N as a number)."""
        named = [(int(name.split()[1]), s) for name, s in self.stages.items()
                 if isinstance(s, CommitStage)]
        return [s for _, s in sorted(named, key=lambda pair: pair[0])]

    def to_json(self) -> dict[str, Any]:
        data = {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}
        # Optional fields are left out rather than written empty, as before.
        return {k: v for k, v in data.items()
                if not (k in ("accel", "finished", "error", "incomplete_reason", "tools",
                              "timings") and not v)}

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def from_json(cls, data: Any, where: str = "run.json") -> "RunRecord":
        if not isinstance(data, dict):
            raise RecordError(f"{where}: not a run record (a JSON object)")
        schema = data.get("schema", SCHEMA_VERSION)
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise RecordError(f"{where}: run record schema {schema!r}, this wb reads up to "
                              f"{SCHEMA_VERSION}", hint="use the wb that wrote it, or rerun")
        stages = data.get("stages", {})
        if not isinstance(stages, dict):
            raise RecordError(f"{where}: 'stages' is not an object")
        loaded = {name: _load(stage_class(name), value, f"{where}: stage {name!r}")
                  for name, value in stages.items()}
        record = _load(cls, data | {"stages": {}, "schema": schema}, where)
        record.stages = loaded
        return record

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise RecordError(f"{path}: not JSON ({err})") from None
        return cls.from_json(data, str(path))


def _dump(value: Any) -> Any:
    if isinstance(value, Status):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


T = TypeVar("T")


def _load(cls: type[T], data: Any, where: str) -> T:
    """``cls`` from its JSON form; unknown keys are refused, so a typo or a
    record of another layout is named instead of read wrongly."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecordError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}: {name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: field {name!r} is missing")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except RecordError as err:
                errors.append(str(err))
        raise RecordError(errors[0] if errors else f"{where}: unexpected {value!r}")
    if hint is Status:
        try:
            return Status(value)
        except ValueError:
            raise RecordError(f"{where}: unknown status {value!r}") from None
    if dataclasses.is_dataclass(hint):
        return _load(hint, value, where)  # type: ignore[arg-type]
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(hint)[0]  # list[X] or tuple[X, ...]
        return origin(_convert(item, v, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {value!r}")
        _, item = typing.get_args(hint)
        return {k: _convert(item, v, where) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise RecordError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
