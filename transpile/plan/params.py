"""One encoding of parameter values as text, for every engine, and its decoder for the entrypoint.

A string parameter travels as the string itself; any other value as compact JSON. Decoding takes the
declared value's type: a parameter declared as a string keeps the given text as it is; any other must
be JSON (a value that is not is a `ParameterError` naming the parameter and the expected type).
"""

from __future__ import annotations

import json
import math
from typing import Any


class ParameterError(ValueError):
    """A parameter value given as text that does not fit its declared type."""


def encode(value: Any) -> str:
    """A parameter value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, dict):
        return "a JSON object"
    return "JSON"


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def decode(name: str, text: str, declared: Any) -> Any:
    """The value of parameter `name` given as `text`, by the type of its declared value."""
    if isinstance(declared, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
        ok = False
    else:
        ok = _finite(value)
    if not ok:
        raise ParameterError(f"parameter '{name}' must be {_type_name(declared)} (given as JSON), got {text!r}")
    return value


def decode_all(declared: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """Parameter values of a run: `given` texts override the declared values; every error at once."""
    values = dict(declared)
    problems = []
    for name, text in given.items():
        try:
            values[name] = decode(name, text, declared.get(name))
        except ParameterError as exc:
            problems.append(str(exc))
    if problems:
        raise ParameterError("; ".join(problems))
    return values
