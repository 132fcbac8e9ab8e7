"""One encoding of parameter values as text, for every engine, and its decoder for the entrypoint.

A string parameter travels as the string itself; any other value as compact JSON. Decoding takes the
declared value's type: a parameter declared as a string keeps the given text as it is; any other must
be JSON (a value that is not is a `ParameterError` naming the parameter and the expected type).
"""

from __future__ import annotations

import base64
import json
import math
import re
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


# -- the form parameter values take on Argo -----------------------------------------------------------
# Argo substitutes `{{...}}` in a workflow's spec and again, several times, in every pod's template, with
# no escaping. So a value never enters a template: each pod gets `--param-b64 NAME=...` whose value Argo
# itself computes with the expression `sprig.b64enc(workflow.parameters['NAME'])`, base64 that no pass
# can alter. A declared value holding `{{` is written in the spec as the tag `{{transpile.b64.BASE64}}`,
# which Argo leaves as it is (an unknown simple tag); `argo submit -p NAME=...` accepts it the same way.
ARGO_TAG_PREFIX = "{{transpile.b64."
_ARGO_TAG = re.compile(r"\{\{transpile\.b64\.([A-Za-z0-9+/]*={0,2})\}\}")


def argo_safe(text: str) -> str:
    """A parameter's text as Argo's spec may hold it: itself, or the inert tag form when it holds `{{`."""
    if "{{" not in text:
        return text
    return ARGO_TAG_PREFIX + base64.b64encode(text.encode("utf-8")).decode("ascii") + "}}"


def from_argo(text: str) -> str:
    """The parameter text of a value as Argo holds it (the inverse of `argo_safe`)."""
    match = _ARGO_TAG.fullmatch(text)
    if match is None:
        return text
    try:
        return base64.b64decode(match.group(1), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return text


def from_base64(text: str) -> str:
    """The parameter text a pod received as `--param-b64 NAME=BASE64` (base64 of the value Argo holds)."""
    try:
        held = base64.b64decode(text, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ParameterError(f"not base64 of UTF-8 text: {text[:40]!r}") from None
    return from_argo(held)
