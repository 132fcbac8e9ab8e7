"""One encoding of parameter values as text, for every engine, and the one checker of values given per run.

A string parameter travels as the string itself; any other value as compact JSON. A value given for a run
(`-p NAME=VALUE` of `transpile run`, `transpile submit --run` and `execute-node`, or a Python value given
to `transpile.run`) must fit the parameter's declared type, which is the type of its declared value: a
string takes any text; a boolean, an integer, a number, a list or an object takes JSON of that type; a
parameter declared `null` takes any JSON. Every problem of a run's parameters is reported at once.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from transpile.ir.values import MAX_VALUE_DEPTH, json_problem, process_text_problem

KINDS = ("string", "boolean", "integer", "number", "list", "object", "any")
_ARTICLES = {
    "string": "a string",
    "boolean": "a boolean (true or false)",
    "integer": "an integer",
    "number": "a number",
    "list": "a JSON list",
    "object": "a JSON object",
    "any": "JSON",
}


class ParameterError(ValueError):
    """Parameter values that do not fit their declared types; `problems` lists each one."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


def encode(value: Any) -> str:
    """A parameter value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def kind_of(declared: Any) -> str:
    """The declared type of a parameter, from its declared value (one of KINDS)."""
    if isinstance(declared, str):
        return "string"
    if isinstance(declared, bool):
        return "boolean"
    if isinstance(declared, int):
        return "integer"
    if isinstance(declared, float):
        return "number"
    if isinstance(declared, (list, tuple)):
        return "list"
    if isinstance(declared, dict):
        return "object"
    return "any"


def _described(value: Any) -> str:
    names = {"boolean": "a boolean", "any": "null"}
    kind = kind_of(value)
    return names.get(kind, _ARTICLES[kind])


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _fits(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return kind_of(value) == kind and value is not None


def value_problem(name: str, value: Any, kind: str, text: str | None = None) -> str | None:
    """Why a value (given as `text`, or a Python value) does not fit a parameter of this kind (None when it
    does)."""
    if not _fits(value, kind):
        got = f"{_shown(text)}, which is {_described(value)}" if text is not None else _described(value)
        return f"parameter '{name}' must be {_ARTICLES[kind]}, got {got}"
    problem = process_text_problem(value) if isinstance(value, str) else json_problem(value)
    return f"parameter '{name}' {problem}" if problem else None


def decode(name: str, text: str, declared: Any) -> Any:
    """The value of parameter `name` given as `text`, by the type of its declared value."""
    return decode_kind(name, text, kind_of(declared))


def decode_kind(name: str, text: str, kind: str) -> Any:
    """The value of parameter `name` given as `text`, for a parameter of this kind (one of KINDS)."""
    if kind == "string":
        value: Any = text
    else:
        try:
            value = json.loads(text)
        except RecursionError:
            too_deep = f"nests lists and objects too deeply (at most {MAX_VALUE_DEPTH} levels)"
            raise ParameterError(f"parameter '{name}' {too_deep}") from None
        except ValueError:
            given = f"got {_shown(text)}, which is not JSON"
            raise ParameterError(f"parameter '{name}' must be {_ARTICLES[kind]} (given as JSON), {given}") from None
    problem = value_problem(name, value, kind, text)
    if problem:
        raise ParameterError(problem)
    return value


def decode_all(declared: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values of a run: `given` texts override the declared values; every error at once."""
    values = dict(declared)
    problems = []
    for name, text in given.items():
        try:
            values[name] = decode(name, text, declared.get(name))
        except ParameterError as exc:
            problems += exc.problems
    if problems:
        raise ParameterError(problems)
    return values


def check_given(declared: Mapping[str, Any], given: Mapping[str, str]) -> list[str]:
    """Every problem of `-p NAME=VALUE` texts for a run: unknown names (with a suggestion) and values that
    do not fit their parameter's type. Empty when the run may start."""
    return check_given_kinds({name: kind_of(value) for name, value in declared.items()}, given)


def check_given_kinds(kinds: Mapping[str, str], given: Mapping[str, str]) -> list[str]:
    """As `check_given`, from each parameter's kind (what a compiled spec records of them)."""
    from transpile.errors import did_you_mean

    problems = []
    for name, text in given.items():
        if name not in kinds:
            hint = did_you_mean(name, list(kinds))
            known = f"; {hint}" if hint else f" (parameters: {', '.join(kinds) or 'none'})"
            problems.append(f"unknown parameter '{name}'{known}")
            continue
        try:
            decode_kind(name, text, kinds[name] if kinds[name] in KINDS else "any")
        except ParameterError as exc:
            problems += exc.problems
    return problems


# A compiled Argo spec records each parameter's kind in this annotation of its main WorkflowTemplate, so
# `transpile submit --run -p` checks values given for a spec file as `transpile run` checks them.
TYPES_ANNOTATION = "transpile.io/parameter-types"


def types_annotation(declared: Mapping[str, Any]) -> str:
    """The annotation's value: compact JSON of {parameter: kind}, in declaration order."""
    return json.dumps({name: kind_of(value) for name, value in declared.items()}, separators=(",", ":"))


def kinds_from_annotation(text: str | None) -> dict[str, str] | None:
    """{parameter: kind} read back from the annotation; None when absent or unreadable."""
    try:
        kinds = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(kinds, dict) or not all(isinstance(v, str) for v in kinds.values()):
        return None
    return kinds


def check_values(declared: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """As `check_given`, for Python values (the API): a value must already have the parameter's type
    (`"5"` is not an integer)."""
    problems = [f"unknown parameter '{name}'" for name in given if name not in declared]
    for name, value in given.items():
        if name in declared:
            problem = value_problem(name, value, kind_of(declared[name]))
            if problem:
                problems.append(problem)
    return problems


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
