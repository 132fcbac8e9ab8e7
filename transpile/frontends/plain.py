"""Python values as plain JSON data, for the Python SDK: what YAML could not express is a problem in words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from transpile.ir.values import MAX_VALUE_DEPTH

Problem = tuple[str, "str | None"]  # message, hint


def _kind(value: Any) -> str:
    names = {set: "a set", frozenset: "a frozenset", bytes: "bytes", complex: "a complex number"}
    name = type(value).__name__
    return names.get(type(value), f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}")


def plain_json(value: Any, where: str, problems: list[Problem]) -> Any:
    """`value` as JSON data (mappings -> dicts, tuples -> lists); anything that is not JSON (a date, a set,
    NaN, Infinity, a key that is not a string, an object, lists and dicts nested more than MAX_VALUE_DEPTH
    levels) is added to `problems`, named by its path. Iterative: no value is too deep to be read."""
    holder: list[Any] = [None]
    stack: list[tuple[Any, str, Any, Any, int]] = [(value, where, holder, 0, 0)]
    while stack:
        item, at, container, slot, depth = stack.pop()
        if item is None or isinstance(item, (str, bool, int)):
            container[slot] = item
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                problems.append((f"{at}: {item!r} is not a JSON value", "use a finite number, a string or None"))
            container[slot] = item if math.isfinite(item) else None
            continue
        if isinstance(item, (Mapping, list, tuple)) and depth >= MAX_VALUE_DEPTH:
            shown = at if len(at) <= 60 else at[:57] + "..."
            problems.append((f"{shown}: lists and dicts nest more than {MAX_VALUE_DEPTH} levels deep", None))
            container[slot] = None
            continue
        if isinstance(item, Mapping):
            out: dict[str, Any] = {}
            container[slot] = out
            pending = []
            for key, inner in item.items():
                if not isinstance(key, str):
                    problems.append((f"{at}: the key {key!r} is not a string; JSON keys are strings", None))
                    continue
                out[key] = None
                pending.append((inner, f"{at}.{key}", out, key, depth + 1))
            stack.extend(reversed(pending))
            continue
        if isinstance(item, (list, tuple)):
            items: list[Any] = [None] * len(item)
            container[slot] = items
            stack.extend((inner, f"{at}[{i}]", items, i, depth + 1) for i, inner in reversed(list(enumerate(item))))
            continue
        hint = "use strings, numbers, booleans, None, lists and dicts"
        if hasattr(item, "isoformat"):
            hint = f"write it as a string, e.g. {item.isoformat()!r}"
        elif isinstance(item, (set, frozenset)):
            hint = "use a list (sorted, so the pipeline's hash stays the same)"
        problems.append((f"{at}: {_kind(item)} is not a JSON value", hint))
        container[slot] = repr(item)
    return holder[0]
