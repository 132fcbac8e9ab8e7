"""The run store's records, typed: the one definition of every JSON file the runtime reads or writes.

`RunRecord` is run.json, `RunStatus` status.json (written by `transpile run`, and by the SLURM script's
finalizer in the same shape), `AttemptRecord` an attempt's record.json, `NodeResult` a node's result.json,
`MapSplit` a map fan-out's split.json, `LeaseRecord` a runner's lease-<n>.json, `CacheEntry` and
`CachePointer` the step cache's entry.json and latest pointers (see cache_store.py). Each turns into the
on-disk JSON and back (`to_json`, `from_json`): unset fields are left out, keys this version does not know
are kept and written back, and a file that is not JSON or holds a value of the wrong type raises
`CorruptRecord`, naming the file and what is wrong. No other module reads or writes these files as dicts.
"""

import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

JSON_OBJECT = dict[str, Any]


class CorruptRecord(Exception):
    """A store file that is not JSON, or holds the wrong type: `path` and `problem` say which and why."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _checker(annotation: Any) -> tuple[str, Any]:
    """(what the field holds in words, a predicate) for a field's type annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return _checker(args[0])
    origin = typing.get_origin(annotation) or annotation
    if annotation is Any:
        return "any value", lambda v: True
    if origin is bool:
        return "a boolean", lambda v: isinstance(v, bool)
    if origin is int:
        return "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if origin is float:
        return "a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if origin is str:
        return "a string", lambda v: isinstance(v, str)
    if origin is list:
        if args and args[0] is int:
            return "a list of integers", lambda v: isinstance(v, list) and all(type(i) is int for i in v)
        if args and args[0] is str:
            return "a list of strings", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)
        return "a list", lambda v: isinstance(v, list)
    if origin is dict:
        if len(args) == 2 and args[1] is str:
            return "an object of strings", lambda v: isinstance(v, dict) and all(isinstance(i, str) for i in v.values())
        return "an object", lambda v: isinstance(v, dict)
    raise TypeError(f"no JSON check for {annotation!r}")


R = TypeVar("R", bound="Record")


class Record:
    """What every record shares: construction from its annotated fields (in order, as positional or keyword
    arguments), and the JSON round trip. Subclasses are declared with `@record` and have an `extra` field."""

    _spec: typing.ClassVar[list[tuple[str, str, Any, bool]]]
    _defaults: typing.ClassVar[dict[str, Any]]
    extra: JSON_OBJECT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = [name for name, *_ in self._spec] + ["extra"]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {name!r}")
            values[name] = value
        for name, _wanted, _check, required in self._spec:
            if name not in values and required:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
            setattr(self, name, values.get(name, self._defaults.get(name)))
        self.extra = dict(values.get("extra") or {})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_json() == other.to_json()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"

    def to_json(self) -> JSON_OBJECT:
        """The on-disk JSON object: set fields in their order, then the keys kept from the file."""
        data = {name: getattr(self, name) for name, _w, _c, _r in self._spec}
        data = {name: value for name, value in data.items() if value is not None}
        data.update(self.extra)
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls: type[R], data: Any, path: Path | str = "<record>") -> R:
        """The record from a parsed JSON value; CorruptRecord if it is not an object of the right types."""
        if not isinstance(data, dict):
            raise CorruptRecord(path, f"holds {_kind(data)}, not a JSON object")
        values: dict[str, Any] = {}
        for name, wanted, check, required in cls._spec:
            value = data.get(name)
            if value is None:
                if required:
                    raise CorruptRecord(path, f"'{name}' is missing")
                continue
            if not check(value):
                raise CorruptRecord(path, f"'{name}' is {_kind(value)}, not {wanted}")
            values[name] = value
        known = {name for name, *_ in cls._spec}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def loads(cls: type[R], text: str | bytes, path: Path | str = "<record>") -> R:
        return cls.from_json(parse(text, path), path)

    @classmethod
    def read(cls: type[R], path: Path) -> R | None:
        """The record in `path`, None when there is no such file; CorruptRecord when it cannot be read."""
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise CorruptRecord(path, "is a directory, not a file") from None
        return cls.loads(data, path)


def parse(text: str | bytes, path: Path | str) -> Any:
    """JSON text as a value; CorruptRecord naming the file when it is not JSON (or not UTF-8)."""
    try:
        return json.loads(text)
    except UnicodeDecodeError:
        raise CorruptRecord(path, "is not UTF-8 text") from None
    except ValueError as exc:
        problem = "is empty" if not text.strip() else f"is not JSON ({exc})"
        raise CorruptRecord(path, problem) from None


def _record(cls: type[R]) -> type[R]:
    """Make `cls` a record from its annotations (what `dataclass` does, without generating code: every pod
    imports this module, and generated code costs milliseconds to import)."""
    cls._spec, cls._defaults = [], {}
    for name, annotation in cls.__annotations__.items():
        if name == "extra":
            continue
        wanted, check = _checker(annotation)
        required = name not in cls.__dict__
        if not required:
            cls._defaults[name] = cls.__dict__[name]
        cls._spec.append((name, wanted, check, required))
    return cls


if TYPE_CHECKING:  # type checkers see the dataclass each record behaves as
    record = dataclass
else:
    record = _record


@record
class RunRecord(Record):
    """run.json: the run's pipeline, its file, hash and parameters (write-once)."""

    run_id: str
    pipeline: str
    hash: str
    parameters: dict[str, Any]
    pipeline_file: str | None = None
    created: float | None = None
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]


@record
class RunStatus(Record):
    """status.json: `running` while a runner drives the run, then how it ended. The SLURM script's finalizer
    writes `status`, `ended`, `duration`, `failures`, `on_failure_ran` and `engine`."""

    status: str
    started: float | None = None
    ended: float | None = None
    duration: float | None = None
    failures: list[str] | None = None
    on_failure_ran: bool | None = None
    reason: str | None = None
    runner: str | None = None
    engine: str | None = None
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]


@record
class AttemptRecord(Record):
    """record.json of one attempt: who ran it where, when, how it ended, what it read and returned."""

    key: str
    attempt: int
    status: str  # running, succeeded, failed, interrupted, skipped, reused
    node: str | None = None
    step: str | None = None
    indices: list[int] | None = None
    batch: str | None = None  # the batch descriptor (`execute-node --indices 0~99`) whose pod ran it
    kind: str | None = None
    started: float | None = None
    host: str | None = None
    pid: int | None = None
    runner: str | None = None
    pgid: int | None = None
    pgid_start: int | None = None
    workdir: str | None = None
    logs: dict[str, str] | None = None
    inputs: dict[str, Any] | None = None
    catalog_get: list[str] | None = None
    catalog_put: list[str] | None = None
    exit_code: int | None = None
    count: int | None = None
    case: str | None = None
    returns: dict[str, Any] | None = None
    ended: float | None = None
    duration: float | None = None
    timed_out: bool | None = None
    error: str | None = None
    note: str | None = None
    cache: dict[str, Any] | None = None  # the cache's decision: hit, miss, refresh or off, its key and why
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]

    def close(self, status: str, ended: float, error: str | None = None) -> None:
        """End the attempt: its status, end time, duration and (for a failure) the reason."""
        self.status, self.ended = status, ended
        self.duration = round(ended - (self.started if self.started is not None else ended), 3)
        if error is not None:
            self.error = error


@record
class NodeResult(Record):
    """result.json: a node's successful outcome, published once: its returns, or a control node's value
    (a map's item `count`, a switch's `case` and its `key`)."""

    returns: dict[str, Any]
    attempt: int | None = None
    count: int | None = None
    case: str | None = None
    key: str | None = None
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]

    @property
    def control(self) -> Any:
        """The value the scheduler continues with: a map's item count, a switch's case key, else None."""
        return self.count if self.count is not None else self.key


@record
class MapSplit(Record):
    """split.json of a map's fan-out instance, written by an engine's fan-out node: how its items were
    batched (`size` items per instance, `instances` made by the fan-out that ran it) and `share`, how many
    parts the map's limit is divided into for the fan-outs of maps nested in it (see plan/batching.py)."""

    size: int
    instances: int
    share: int
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]


@record
class LeaseRecord(Record):
    """lease-<n>.json: the runner holding the run, and its heartbeat counter (`beat`, bumped every few
    seconds; `heartbeat` is the holder's wall-clock time of the last beat, for people only)."""

    host: str
    pid: int
    holder: str | None = None
    pid_start: int | None = None
    acquired: float | None = None
    heartbeat: float | None = None
    beat: int = 0
    released: bool = False
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]

    def to_json(self) -> JSON_OBJECT:
        data = super().to_json()
        if not self.released:
            data.pop("released")
        return data


@record
class CacheEntry(Record):
    """entry.json of a step cache entry: the key and the document it is the digest of, where the result came
    from (run, node instance, attempt, pipeline), when, the returns, and each file (catalog path -> sha256
    and size) kept beside it under files/."""

    key: str
    document: dict[str, Any]
    returns: dict[str, Any]
    files: dict[str, Any]
    created: float
    run_id: str | None = None
    node_key: str | None = None
    attempt: int | None = None
    pipeline: str | None = None
    code_file: str | None = None
    transpile: str | None = None
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]


@record
class CachePointer(Record):
    """cache/latest/<id>.json: the newest entry written for one node instance of one pipeline (what a miss
    is explained against)."""

    key: str
    pipeline: str
    node_key: str
    created: float | None = None
    extra: JSON_OBJECT = field(default_factory=dict) if TYPE_CHECKING else None  # type: ignore[assignment]
