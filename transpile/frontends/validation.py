"""Turn plain data into a validated model, mapping every pydantic error to a span in the user's file.

Messages are rewritten in plain words (no regexes, no class names). When the data has errors, the
offending parts are cut out (or a required piece replaced by a placeholder) and the rest validated
again, so the next stages can still report their own problems in the same run.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from transpile.errors import HINT, Diagnostic, TranspileError, did_you_mean, non_ascii_note
from transpile.frontends.nesting import plain_copy
from transpile.ir.pod import LazyModel, misplaced_hint
from transpile.ir.source import DocPath, SourceMap

M = TypeVar("M", bound=BaseModel)

# Patterns of the models, said in words.
_PATTERNS = {
    r"^[A-Za-z_][A-Za-z0-9_]*$": "a name of letters, digits and '_', not starting with a digit",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "lowercase letters, digits and '-', starting and ending with a letter or digit",
    r"^/": "an absolute path (starting with '/')",
}
# What a field takes, for type errors.
_FIELD_FORMS = {
    "retries": "a retry count (retries: 2) or a mapping {limit, backoff, factor, max_backoff}",
    "schedule": "a cron string ('0 3 * * *') or a mapping {cron, timezone, concurrency_policy}",
    "timeout": "seconds, or a duration such as 30s, 10m, 1h30m",
    "resources": "a mapping {cpu, memory, gpu}",
    "catalog": "a mapping {get: [patterns], put: [patterns]}",
    "map": "a mapping {over, as, steps, batch}",
    "switch": "a mapping {on, cases}",
    "parallel": "a mapping of branch name to {steps}",
    "needs": "a step name or a list of step names",
    "returns": "a list of names",
    "env": "a mapping of variable name to string",
    "secrets": "a list of {secret, key, env}",
    "tolerations": "a list of tolerations",
    "steps": "a mapping of step name to step",
    "volume": "a mapping {claim, mount_path, mode, size, ...}",
    "labels": "a mapping of label key to string",
    "defaults": "a mapping of step settings (image, retries, timeout, resources, env, ...)",
}
# What one item of a list field takes.
_ITEM_FORMS = {
    "tolerations": "a toleration {key, operator, value, effect, toleration_seconds}",
    "secrets": "a mapping {secret, key, env}",
    "returns": "a name",
    "needs": "a step name",
    "get": "a file pattern",
    "put": "a file pattern",
    "command": "a string",
}
_TYPE_WORDS = {
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}
_TOP_PLACEHOLDERS = {"name": "pipeline", "steps": {"_": {"stub": True}}}
_VALUE_PLACEHOLDERS = {"image": "placeholder"}  # keeps later stages from reporting a missing image


def _unwrap(annotation: Any) -> list[Any]:
    """The model/container types an annotation can hold (Optional, Annotated and unions unwrapped; a lazily
    built model is built)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        held, *metadata = typing.get_args(annotation)
        return [m.build() for m in metadata if isinstance(m, LazyModel)] or _unwrap(held)
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _allowed_keys(root: type[BaseModel], path: DocPath) -> list[str]:
    """Keys the model at `path` accepts, for did-you-mean hints."""
    candidates: list[Any] = [root]
    for segment in path:
        following: list[Any] = []
        for candidate in candidates:
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                annotation = _field_by_key(candidate, str(segment))
                if annotation is not None:
                    following += _unwrap(annotation)
            elif origin is dict:
                following += _unwrap(typing.get_args(candidate)[1])
            elif origin in (tuple, list):
                following += _unwrap(typing.get_args(candidate)[0])
        candidates = following
    keys: list[str] = []
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            keys += [info.alias or name for name, info in candidate.model_fields.items()]
    return keys


def _doc_path(data: Any, loc: tuple[Any, ...]) -> DocPath:
    """Keep the parts of a pydantic `loc` that exist in the data (dropping union member tags)."""
    path: list[str | int] = []
    node = data
    for segment in loc:
        if (
            isinstance(node, dict)
            and segment in node
            or isinstance(node, list)
            and isinstance(segment, int)
            and segment < len(node)
        ):
            node = node[segment]
            path.append(segment)
    return tuple(path)


def _split_step(path: DocPath) -> tuple[str | None, DocPath]:
    """(the step a document path is in, the rest of the path below that step)."""
    names: list[str] = []
    i = 0
    if path[:2] == ("on_failure", "steps"):
        names.append("on_failure")
        i = 1
    elif path[:1] != ("steps",):
        return None, path
    rest: DocPath = path
    while i + 1 < len(path) and path[i] == "steps":
        names.append(str(path[i + 1]))
        rest = path[i + 2 :]
        if rest[:2] == ("map", "steps"):
            i += 3
        elif len(rest) >= 3 and rest[0] == "parallel" and rest[2] == "steps":
            names.append(str(rest[1]))
            i += 4
        elif len(rest) >= 4 and rest[:2] == ("switch", "cases") and rest[3] == "steps":
            names.append(str(rest[2]))
            i += 5
        else:
            i += 2
            break
    if len(names) <= (1 if names[:1] == ["on_failure"] else 0):
        return None, path
    rest = path[i:] if i <= len(path) else ()
    return "/".join(names), rest


def step_display(path: DocPath) -> str | None:
    """The step a document path is in, as users write step paths: ('steps', 't', 'parallel', 'a', 'steps',
    'f', 'retries') -> 't/a/f'; None outside any step."""
    return _split_step(path)[0]


# The fields of a step the semantic checks read: an error in one of them may cause follow-on reports.
_SHAPING = ("python", "shell", "stub", "map", "parallel", "switch", "needs", "returns")


def _shapes_step(rest: DocPath) -> bool:
    if not rest:
        return True
    head = str(rest[0]).lstrip("\0")
    if head in _SHAPING:
        return True
    from transpile.ir.models import Step

    guess = did_you_mean(head, [info.alias or name for name, info in Step.model_fields.items()])
    return guess is not None and guess.split("'")[1] in _SHAPING


def _describe(value: Any) -> str:
    kind = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return kind.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: dict[str, Any], path: DocPath) -> str:
    """A pydantic error's message in plain words, prefixed by where it is."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    where = ".".join(str(s) for s in path) or "the document"
    name = next((str(s) for s in reversed(path) if isinstance(s, str)), "")
    if kind == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "string_pattern_mismatch":
        form = _PATTERNS.get(ctx.get("pattern", ""), "the expected form")
        if error["loc"] and error["loc"][-1] == "[key]":
            key = str(error["loc"][-2])
            return f"{where}: '{key}' is not a valid name: it must be {form}{non_ascii_note(key)}"
        note = non_ascii_note(value) if isinstance(value, str) else ""
        return f"{where}: {_shown(value)} is not valid: it must be {form}{note}"
    if kind in _TYPE_WORDS:
        if path and isinstance(path[-1], int):
            form = _ITEM_FORMS.get(name, _TYPE_WORDS[kind])
        else:
            form = _FIELD_FORMS.get(name, _TYPE_WORDS[kind])
        if kind == "int_from_float":
            return f"{where}: expected a whole number, got {value}"
        shown = f" {_shown(value)}" if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
        return f"{where}: expected {form}, got {_describe(value)}{shown}"
    if kind == "less_than_equal":
        return f"{where}: {_shown(value)} is too large (at most {ctx.get('le')})"
    if kind == "greater_than_equal":
        return f"{where}: {_shown(value)} is too small (at least {ctx.get('ge')})"
    if kind == "too_short":
        if name in ("steps", "cases"):
            return f"{where}: needs at least one {'step' if name == 'steps' else 'case'}"
        return f"{where}: must not be empty"
    if kind == "string_too_short":
        return f"{where}: must not be empty"
    if kind == "string_too_long":
        return f"{where}: too long (at most {ctx.get('max_length')} characters)"
    if kind == "literal_error":
        return f"{where}: {_shown(value)} is not one of {ctx.get('expected', '').replace(' or ', ', ')}"
    return f"{where}: {error['msg']}"


@dataclass
class Checked(Generic[M]):
    """The outcome of validating data: the model (of the data with bad parts cut out, when there were
    errors), every problem found, and the document paths those problems are at."""

    model: M | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tainted: list[DocPath] = field(default_factory=list)

    def tainted_steps(self) -> set[str]:
        """Steps with an error in a field the semantic checks read (kind, needs, returns...)."""
        found = set()
        for path in self.tainted:
            step, rest = _split_step(path)
            if step and _shapes_step(rest):
                found.add(step)
        return found


def _diagnostics(model: type[BaseModel], data: Any, exc: ValidationError, source: SourceMap):
    """(document path, Diagnostic) per pydantic error, pointing at the offending key or value."""
    seen: set[DocPath] = set()
    by_path: dict[DocPath, list[dict]] = {}
    order: list[DocPath] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = _doc_path(data, loc[:-1] if error["type"] == "missing" else loc)
        if error["type"] == "missing":
            path = path + (f"\0{loc[-1]}",)  # a key that is not there: kept apart from its parent's errors
        if path not in by_path:
            order.append(path)
        by_path.setdefault(path, []).append(error)
    # An unknown key that looks like a missing one is the same mistake: report the unknown key only.
    meant: set[tuple[DocPath, str]] = set()
    for path in order:
        error = by_path[path][0]
        if error["type"] == "extra_forbidden":
            hint = did_you_mean(str(path[-1]), _allowed_keys(model, path[:-1]))
            if hint:
                meant.add((path[:-1], hint.split("'")[1]))
    for path in order:
        errors = by_path[path]
        if errors[0]["type"] == "missing" and (path[:-1], str(path[-1])[1:]) in meant:
            continue
        # A union reports one error per member: keep the most telling (a value error, then a type error).
        errors.sort(key=lambda e: (e["type"] != "value_error", e["type"] not in _TYPE_WORDS, e["type"] == "missing"))
        error = errors[0]
        kind = error["type"]
        loc = tuple(error["loc"])
        hint = None
        if kind == "missing":
            parent = path[:-1]
            message = f"missing required key '{loc[-1]}'"
            span = source.span(parent, key=True)
        elif kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key '{key}'"
            allowed = _allowed_keys(model, path[:-1])
            hint = did_you_mean(key, allowed)
            if key in ("cpu", "memory", "gpu") and "resources" in allowed:
                hint = f"put it under `resources:` (resources: {{{key}: ...}})"
            hint = misplaced_hint(key, allowed) or hint
            span = source.span(path, key=True)
        else:
            message = _message(error, path)
            hint = (error.get("ctx") or {}).get(HINT)
            span = source.span(path, key=bool(loc) and loc[-1] == "[key]")
        if path in seen:
            continue
        seen.add(path)
        yield path, Diagnostic(message, span, step=step_display(path), hint=hint)


def _cut(data: Any, path: DocPath) -> bool:
    """Remove (or replace by a placeholder) the part of `data` at `path`; False when nothing can be cut."""
    if not path:
        return False
    if isinstance(path[-1], str) and path[-1].startswith("\0"):  # a missing key
        key, parent = path[-1][1:], path[:-1]
        if not parent and key in _TOP_PLACEHOLDERS:
            data[key] = plain_copy(_TOP_PLACEHOLDERS[key])
            return True
        return _cut(data, parent)
    container = data
    for segment in path[:-1]:
        container = container[segment]
    last = path[-1]
    if len(path) >= 2 and path[-2] == "steps" and isinstance(last, str):
        container[last] = {"stub": True}  # a step stays, so `needs` naming it still resolve
    elif last in _VALUE_PLACEHOLDERS and isinstance(container, dict):
        container[last] = _VALUE_PLACEHOLDERS[last]
    else:
        del container[last]
    return True


def check_model(model: type[M], data: Any, source: SourceMap) -> Checked[M]:
    """Validate `data` as `model`; on errors, report each and validate what remains once they are cut out."""
    if not isinstance(data, dict):
        message = f"expected a mapping at the top of the file, got {_describe(data)}"
        return Checked(None, [Diagnostic(message, source.span(()))], [()])
    try:
        return Checked(model.model_validate(data))
    except ValidationError as exc:
        found = list(_diagnostics(model, data, exc, source))
    checked: Checked[M] = Checked(None, [d for _, d in found], [p for p, _ in found])
    repaired = plain_copy(data)
    paths = [p for p, _ in found]
    for _ in range(8):  # each round cuts deeper only where a cut left a required key missing
        cuts = sorted(set(paths), key=lambda p: [(str(type(s)), s) for s in p], reverse=True)
        if not all(_cut_safely(repaired, p) for p in cuts):
            return checked
        try:
            checked.model = model.model_validate(repaired)
            return checked
        except ValidationError as again:
            paths = [p for p, _ in _diagnostics(model, repaired, again, source)]
    return checked


def _cut_safely(data: Any, path: DocPath) -> bool:
    try:
        return _cut(data, path)
    except (KeyError, IndexError, TypeError):
        return True  # already cut with its parent


def validation_diagnostics(
    model: type[BaseModel], data: Any, exc: ValidationError, source: SourceMap
) -> list[Diagnostic]:
    """One diagnostic per pydantic error, pointing at the offending key or value."""
    return [d for _, d in _diagnostics(model, data, exc, source)]


def validate_model(model: type[M], data: Any, source: SourceMap) -> M:
    """Validate `data` as `model`, raising a TranspileError that lists every problem with its span."""
    checked = check_model(model, data, source)
    if checked.diagnostics or checked.model is None:
        raise TranspileError(checked.diagnostics)
    return checked.model
