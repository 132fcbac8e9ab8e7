"""The body of a task attempt, as its own process runs it (what a pod's container does).

`run_body` runs in a child forked for the attempt, already in its fresh working directory: it applies the
step's environment, copies the `catalog.get` files in, runs the python function or shell command, checks
the returns are JSON, copies the `catalog.put` files out, and hands back a message for the supervisor to
record. It never writes the attempt's record or result itself.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transpile.runtime.values import NotAvailable, ValueReader
from transpile.runtime.workspace import CatalogError, catalog_get, catalog_put


class StepFailure(Exception):
    """The step ran and failed; the message says why in the user's terms."""


@dataclass
class BodyContext:
    """What the body needs to know about its attempt."""

    step: Any
    path: tuple[str, ...]
    indices: tuple[int, ...]
    key: str
    reader: ValueReader
    attempt_dir: Path
    env: dict[str, str]  # the standard TRANSPILE_* variables and the step's env, already resolved
    import_paths: tuple[str, ...]


def _import_callable(reference: str) -> Any:
    module_name, _, qualname = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _bind(function: Any, reader: ValueReader, path: tuple[str, ...], indices: tuple[int, ...]) -> dict[str, Any]:
    """Keyword arguments for `function`, by parameter name, from the visible values."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return {}
    kwargs: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if param.kind == param.VAR_KEYWORD:
            for other, value in reader.visible_values(path, indices).items():
                kwargs.setdefault(other, value)
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            continue
        source = reader.index.resolve(name, path)
        if source is None:
            if param.default is param.empty:
                visible = ", ".join(reader.index.visible(path)) or "nothing"
                raise StepFailure(
                    f"argument '{name}' has no value: no parameter or upstream return of that name (visible: {visible})"
                )
            continue
        try:
            kwargs[name] = reader.resolve(source, path, indices)
        except NotAvailable as exc:
            if param.default is param.empty:
                raise StepFailure(f"argument '{name}': {exc}") from None
    return kwargs


def check_json(name: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StepFailure(
            f"return '{name}' is a {type(value).__name__}, which is not JSON ({exc}); "
            "return lists, dicts, strings, numbers, booleans or None"
        ) from None


def _unpack_returns(step: Any, value: Any) -> dict[str, Any]:
    names = list(step.returns)
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: check_json(names[0], value)}
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = f"a {type(value).__name__}" + (f" of {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise StepFailure(f"returns {names} needs a tuple of {len(names)} values, got {got}")
    return {n: check_json(n, v) for n, v in zip(names, value, strict=True)}


def env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _shell_returns(step: Any, returns_dir: Path) -> dict[str, Any]:
    """Each return is the file's JSON value, or its text (one trailing newline dropped) if it is not JSON.
    NaN and Infinity are refused: JSON has no such numbers, and no engine could carry them."""
    values = {}
    for name in step.returns:
        path = returns_dir / name
        if not path.is_file():
            raise StepFailure(f"the shell step did not write return '{name}' to $TRANSPILE_RETURNS/{name}")
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            values[name] = json.loads(text, parse_constant=_no_constant)
        except ValueError as exc:
            if "is not a JSON number" in str(exc):
                raise StepFailure(f"return '{name}' is {text.strip()}, which JSON cannot hold") from None
            values[name] = text[:-1] if text.endswith("\n") else text
        if isinstance(values[name], float) and not math.isfinite(values[name]):
            raise StepFailure(f"return '{name}' is {text.strip()}, which JSON cannot hold")
    return values


def _run_python(ctx: BodyContext, message: dict[str, Any]) -> dict[str, Any]:
    for extra in ctx.import_paths:
        if extra not in sys.path:
            sys.path.insert(0, extra)
    try:
        function = _import_callable(ctx.step.python)
    except Exception as exc:
        traceback.print_exc()
        raise StepFailure(f"cannot import {ctx.step.python}: {type(exc).__name__}: {exc}") from None
    kwargs = _bind(function, ctx.reader, ctx.path, ctx.indices)
    message["inputs"] = kwargs
    try:
        value = function(**kwargs)
    except SystemExit as exc:
        raise StepFailure(
            f"the step called sys.exit({exc.code!r}) instead of returning: a step ends by returning or raising"
        ) from None
    except KeyboardInterrupt:
        raise StepFailure("the step was interrupted (KeyboardInterrupt)") from None
    except Exception as exc:
        traceback.print_exc()
        raise StepFailure(f"{type(exc).__name__}: {exc}") from None
    return _unpack_returns(ctx.step, value)


def _run_shell(ctx: BodyContext, message: dict[str, Any]) -> dict[str, Any]:
    values = ctx.reader.visible_values(ctx.path, ctx.indices)
    message["inputs"] = values
    returns_dir = ctx.attempt_dir / "returns"
    returns_dir.mkdir(exist_ok=True)
    env = {**os.environ, **{k: env_value(v) for k, v in values.items()}, **ctx.env}
    env["TRANSPILE_RETURNS"] = str(returns_dir)
    import subprocess

    completed = subprocess.run(["bash", "-c", ctx.step.shell], env=env)
    message["exit_code"] = completed.returncode
    if completed.returncode != 0:
        if completed.returncode < 0:
            raise StepFailure(f"the shell command was killed by signal {-completed.returncode}")
        raise StepFailure(f"the shell command exited with code {completed.returncode}")
    return _shell_returns(ctx.step, returns_dir)


def run_body(ctx: BodyContext) -> dict[str, Any]:
    """Run the step in the current directory; the message to record: returns, inputs, files, or error."""
    message: dict[str, Any] = {}
    step, workdir = ctx.step, Path.cwd()
    catalog = ctx.reader.run.catalog
    os.environ.update(ctx.env)
    try:
        if step.catalog and step.catalog.get:
            message["catalog_get"] = catalog_get(step.catalog.get, catalog, workdir)
        if step.python is not None:
            returns = _run_python(ctx, message)
        elif step.shell is not None:
            returns = _run_shell(ctx, message)
        else:
            returns = {}
        if step.catalog and step.catalog.put:
            message["catalog_put"] = catalog_put(step.catalog.put, catalog, workdir, ctx.key)
    except (StepFailure, NotAvailable, CatalogError) as exc:
        message["error"] = str(exc)
        return message
    except BaseException as exc:  # anything else still ends as a recorded failure
        traceback.print_exc()
        message["error"] = f"{type(exc).__name__}: {exc}"
        return message
    message["returns"] = returns
    return message
