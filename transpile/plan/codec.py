"""The plan as JSON and back, exactly: `from_json(to_json(plan)) == plan`.

Fields holding None (or their default) are left out of the JSON; tuples become lists and come back as
tuples, guided by the dataclasses' type hints. A plan of another `plan_version` is refused with
`PlanVersionError`, so a pod never misreads a plan written by another transpile.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any

from transpile.plan import model
from transpile.plan.model import PLAN_VERSION, Plan


class PlanVersionError(ValueError):
    """The JSON holds a plan of another version than this transpile reads."""


def to_data(value: Any) -> Any:
    """A plan (or any part of it) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None or (f.default is not dataclasses.MISSING and item == f.default):
                continue
            out[f.name] = to_data(item)
        return out
    if isinstance(value, (tuple, list)):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    return value


def to_json(plan: Plan) -> str:
    """Compact, deterministic JSON of a plan (NaN refused: a plan is JSON)."""
    return json.dumps(to_data(plan), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


Decoder = Callable[[Any], Any]
_DECODERS: dict[Any, Decoder] = {}


def _identity(value: Any) -> Any:
    return value


def _decoder(hint: Any) -> Decoder:
    """A function turning JSON data into a value of the type `hint` (built once per type)."""
    if hint in _DECODERS:
        return _DECODERS[hint]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    decode: Decoder
    if dataclasses.is_dataclass(hint):
        decode = _dataclass_decoder(hint)
    elif origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        decode = _decoder(inner[0]) if len(inner) == 1 else _identity
        if len(inner) == 1:
            base = decode
            decode = lambda v: None if v is None else base(v)  # noqa: E731
    elif origin is tuple:
        item = _decoder(args[0])
        decode = (lambda v: tuple(v)) if item is _identity else (lambda v: tuple(item(x) for x in v))
    elif origin is dict:
        item = _decoder(args[1])
        decode = (lambda v: dict(v)) if item is _identity else (lambda v: {k: item(x) for k, x in v.items()})
    else:
        decode = _identity
    _DECODERS[hint] = decode
    return decode


def _dataclass_decoder(cls: type) -> Decoder:
    _DECODERS[cls] = lambda v: build(v)  # recursive types (Step -> MapSpec -> Step) resolve lazily
    hints = typing.get_type_hints(cls, vars(model))
    fields = {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(cls)}

    def build(data: dict[str, Any]) -> Any:
        return cls(**{name: fields[name](value) for name, value in data.items()})

    return build


def from_data(data: Any) -> Plan:
    """A plan from `to_data`'s output; raises PlanVersionError for another plan version."""
    version = data.get("plan_version") if isinstance(data, dict) else None
    if version != PLAN_VERSION:
        raise PlanVersionError(f"this plan has plan_version {version!r}; this transpile reads version {PLAN_VERSION}")
    return _decoder(Plan)(data)


def from_json(text: str) -> Plan:
    """A plan from its JSON text."""
    return from_data(json.loads(text))
