"""Turn plain data into a validated model, mapping every pydantic error to a span in the user's file."""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from transpile.errors import Diagnostic, TranspileError, did_you_mean
from transpile.ir.source import DocPath, SourceMap

M = TypeVar("M", bound=BaseModel)


def _unwrap(annotation: Any) -> list[Any]:
    """The model/container types an annotation can hold (Optional, Annotated and unions unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
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


def _step_name(path: DocPath) -> str | None:
    """The innermost step name on a document path, e.g. ('steps', 'a', 'map', 'steps', 'b') -> 'b'."""
    name = None
    for i, segment in enumerate(path[:-1]):
        if segment == "steps" and isinstance(path[i + 1], str):
            name = path[i + 1]
    return name


def _describe(value: Any) -> str:
    kind = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return kind.get(type(value), type(value).__name__)


def validation_diagnostics(
    model: type[BaseModel], data: Any, exc: ValidationError, source: SourceMap
) -> list[Diagnostic]:
    """One diagnostic per pydantic error, pointing at the offending key or value."""
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[DocPath, str]] = set()
    for error in exc.errors():
        loc = tuple(error["loc"])
        kind = error["type"]
        hint = None
        if kind == "extra_forbidden":
            path = _doc_path(data, loc)
            key = str(loc[-1])
            message = f"unknown key '{key}'"
            hint = did_you_mean(key, _allowed_keys(model, path[:-1]))
            span = source.span(path, key=True)
        elif kind == "missing":
            path = _doc_path(data, loc[:-1])
            message = f"missing required key '{loc[-1]}'"
            span = source.span(path, key=True)
        else:
            path = _doc_path(data, loc)
            text = error["msg"]
            if text.startswith("Value error, "):
                text = text[len("Value error, ") :]
            where = ".".join(str(s) for s in path) or "the document"
            message = f"{where}: {text}"
            if kind in ("dict_type", "model_type", "tuple_type", "list_type", "string_type", "int_type"):
                message += f" (got {_describe(error.get('input'))})"
            span = source.span(path)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        diagnostics.append(Diagnostic(message, span, step=_step_name(path), hint=hint))
    return diagnostics


def validate_model(model: type[M], data: Any, source: SourceMap) -> M:
    """Validate `data` as `model`, raising a TranspileError that lists every problem with its span."""
    if not isinstance(data, dict):
        raise TranspileError(
            [Diagnostic(f"expected a mapping at the top of the file, got {_describe(data)}", source.span(()))]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise TranspileError(validation_diagnostics(model, data, exc, source)) from None
