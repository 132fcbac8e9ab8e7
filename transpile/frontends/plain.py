"""Python values as plain JSON data, for the Python SDK: what YAML could not express is a problem in words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Problem = tuple[str, "str | None"]  # message, hint


def _kind(value: Any) -> str:
    names = {set: "a set", frozenset: "a frozenset", bytes: "bytes", complex: "a complex number"}
    name = type(value).__name__
    return names.get(type(value), f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}")


def plain_json(value: Any, where: str, problems: list[Problem]) -> Any:
    """`value` as JSON data (mappings -> dicts, tuples -> lists); anything that is not JSON (a date, a set,
    NaN, Infinity, a key that is not a string, an object) is added to `problems`, named by its path."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append((f"{where}: {value!r} is not a JSON value", "use a finite number, a string or None"))
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((f"{where}: the key {key!r} is not a string; JSON keys are strings", None))
                continue
            out[key] = plain_json(item, f"{where}.{key}", problems)
        return out
    if isinstance(value, (list, tuple)):
        return [plain_json(item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
    hint = "use strings, numbers, booleans, None, lists and dicts"
    if hasattr(value, "isoformat"):
        hint = f"write it as a string, e.g. {value.isoformat()!r}"
    elif isinstance(value, (set, frozenset)):
        hint = "use a list (sorted, so the pipeline's hash stays the same)"
    problems.append((f"{where}: {_kind(value)} is not a JSON value", hint))
    return repr(value)
