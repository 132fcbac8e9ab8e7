"""The body of a task attempt, as its own process runs it (what a pod's container does).

`run_body` runs in a child forked for the attempt, already in its fresh working directory: it applies the
step's environment, copies the `catalog.get` files in, runs the python function or shell command, checks
the returns are JSON, copies the `catalog.put` files out, and hands back a message for the supervisor to
record. It never writes the attempt's record or result itself.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import traceback
from dataclasses import dataclass
from inspect import CO_VARARGS, CO_VARKEYWORDS
from pathlib import Path
from types import FunctionType
from typing import Any

from transpile.runtime.records import CorruptRecord
from transpile.runtime.store import StoreFault
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


VAR_KEYWORD, SKIPPED, NAMED = "**", "skipped", "named"  # how _bind treats a parameter


def parameters(function: Any) -> list[tuple[str, str, bool]] | None:
    """(name, VAR_KEYWORD / SKIPPED / NAMED, has a default) for each parameter of `function`, in order; None
    when it has no signature. A plain function is read from its code object, as `inspect.signature` would
    give it: that module's objects and enums cost a forked attempt ~0.3 ms of copied pages."""
    if type(function) is not FunctionType or hasattr(function, "__wrapped__") or hasattr(function, "__signature__"):
        return _inspected(function)
    code = function.__code__
    names, count, kwonly = code.co_varnames, code.co_argcount, code.co_kwonlyargcount
    defaults, kwdefaults = function.__defaults__ or (), function.__kwdefaults__ or {}
    first_default, posonly = count - len(defaults), code.co_posonlyargcount
    found = [(names[i], SKIPPED if i < posonly else NAMED, i >= first_default) for i in range(count)]
    position = count + kwonly
    if code.co_flags & CO_VARARGS:
        found.append((names[position], SKIPPED, False))
        position += 1
    found += [(name, NAMED, name in kwdefaults) for name in names[count : count + kwonly]]
    if code.co_flags & CO_VARKEYWORDS:
        found.append((names[position], VAR_KEYWORD, False))
    return found


def _inspected(function: Any) -> list[tuple[str, str, bool]] | None:
    import inspect

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    kinds = {inspect.Parameter.VAR_KEYWORD: VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL: SKIPPED}
    kinds[inspect.Parameter.POSITIONAL_ONLY] = SKIPPED
    return [
        (name, kinds.get(param.kind, NAMED), param.default is not param.empty)
        for name, param in signature.parameters.items()
    ]


def _bind(function: Any, reader: ValueReader, path: tuple[str, ...], indices: tuple[int, ...]) -> dict[str, Any]:
    """Keyword arguments for `function`, by parameter name, from the visible values."""
    kwargs: dict[str, Any] = {}
    for name, kind, has_default in parameters(function) or ():
        if kind == VAR_KEYWORD:
            for other, value in reader.visible_values(path, indices).items():
                kwargs.setdefault(other, value)
            continue
        if kind == SKIPPED:
            continue
        source = reader.index.resolve(name, path)
        if source is None:
            if not has_default:
                visible = ", ".join(reader.index.visible(path)) or "nothing"
                raise StepFailure(
                    f"argument '{name}' has no value: no parameter or upstream return of that name (visible: {visible})"
                )
            continue
        try:
            kwargs[name] = reader.resolve(source, path, indices)
        except NotAvailable as exc:
            if not has_default:
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


def _arg_max() -> int:
    """The system's limit on a new program's arguments and environment together."""
    try:
        return int(os.sysconf("SC_ARG_MAX"))
    except (ValueError, OSError, AttributeError):
        return 2 << 20


def shell_environment(values: dict[str, Any], base: dict[str, str], directory: Path, reserve: int) -> dict[str, str]:
    """The environment of a shell step: `base`, then each visible value as a variable of its name (JSON for
    non-strings), each also written to `directory/<name>` (`$TRANSPILE_VALUES`). A value too large for one
    variable (Linux: 128 KiB for `NAME=value`), or that would push the whole environment past the system's
    limit (`reserve`: bytes kept for the command line), is left unset, with a line on the step's stderr
    saying where it is instead."""
    from transpile.ir.envlimit import ENV_STRING_LIMIT, env_string_size, env_text  # shell steps only

    directory.mkdir(mode=0o700)
    texts = {name: env_text(value) for name, value in values.items()}
    env = dict(base)
    budget = _arg_max() - reserve - sum(env_string_size(k, v) + 8 for k, v in env.items())
    for name, text in sorted(texts.items(), key=lambda item: (len(item[1]), item[0])):
        (directory / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        size = env_string_size(name, text)
        if size > ENV_STRING_LIMIT or size + 8 > budget:
            env.pop(name, None)
            if size > ENV_STRING_LIMIT:
                why = f"over Linux's {ENV_STRING_LIMIT // 1024} KiB limit for one environment variable"
            else:
                why = "more than the environment can hold next to the other values (Linux's limit for all of them)"
            print(
                f"transpile: ${name} is not set: its value is {size // 1024} KiB, {why}; "
                f'read it from "$TRANSPILE_VALUES/{name}"',
                file=sys.stderr,
                flush=True,
            )
            continue
        env[name] = text
        budget -= size + 8
    env["TRANSPILE_VALUES"] = str(directory)
    return env


def _run_shell(ctx: BodyContext, message: dict[str, Any]) -> dict[str, Any]:
    values = ctx.reader.visible_values(ctx.path, ctx.indices)
    message["inputs"] = values
    returns_dir = ctx.attempt_dir / "returns"
    returns_dir.mkdir(exist_ok=True)
    values_dir = Path(f"{Path.cwd()}.values")
    try:
        base = {**os.environ, **ctx.env, "TRANSPILE_RETURNS": str(returns_dir)}
        visible = {k: v for k, v in values.items() if k not in ctx.env}
        env = shell_environment(visible, base, values_dir, len(ctx.step.shell.encode()) + (64 << 10))
        import subprocess

        completed = subprocess.run(["bash", "-c", ctx.step.shell], env=env)
    finally:
        import shutil

        shutil.rmtree(values_dir, ignore_errors=True)
    message["exit_code"] = completed.returncode
    if completed.returncode != 0:
        if completed.returncode < 0:
            raise StepFailure(f"the shell command was killed by signal {-completed.returncode}")
        raise StepFailure(f"the shell command exited with code {completed.returncode}")
    return _shell_returns(ctx.step, returns_dir)


def run_body(ctx: BodyContext) -> dict[str, Any]:
    """Run the step in the current directory; the message to record: returns, inputs, files, or error."""
    message: dict[str, Any] = {}
    step = ctx.step
    os.environ.update(ctx.env)
    try:
        if step.catalog and step.catalog.get:
            message["catalog_get"] = catalog_get(step.catalog.get, ctx.reader.run.catalog, Path.cwd())
        if step.python is not None:
            returns = _run_python(ctx, message)
        elif step.shell is not None:
            returns = _run_shell(ctx, message)
        else:
            returns = {}
        if step.catalog and step.catalog.put:
            message["catalog_put"] = catalog_put(step.catalog.put, ctx.reader.run.catalog, Path.cwd(), ctx.key)
    except (StepFailure, NotAvailable, CatalogError) as exc:
        message["error"] = str(exc)
        return message
    except CorruptRecord as exc:
        message["error"] = f"cannot read {exc}"
        return message
    except StoreFault as fault:
        message.update(error=fault.reason, store_fault=True)
        return message
    except BaseException as exc:  # anything else still ends as a recorded failure
        traceback.print_exc()
        message["error"] = f"{type(exc).__name__}: {exc}"
        return message
    message["returns"] = returns
    return message
