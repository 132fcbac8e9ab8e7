"""Import a Python pipeline file (`file.py` or `file.py:attribute`) and find its Flow.

The file is imported with its own directory and the working directory on `sys.path` (as `transpile run`
gives step code), so a pipeline in `pipelines/` imports the project's packages from the project root.
Whatever goes wrong (a syntax error, an exception or `sys.exit()` at import, no Flow or several, a
misspelt attribute) is a located report, never a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from transpile.errors import Diagnostic, Span, TranspileError, did_you_mean
from transpile.frontends.python import SETTINGS, Flow
from transpile.frontends.sdk_checks import MODULE_PREFIX

_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """A did-you-mean hint, preferring the longest shared prefix (`retry` -> `retries`, not `returns`)."""
    prefix = max(choices, key=lambda c: len(os.path.commonprefix([c, word])))
    if len(os.path.commonprefix([prefix, word])) >= 3:
        return f"did you mean '{prefix}'?"
    return did_you_mean(word, choices)


def _user_error(exc: BaseException, file: str) -> Diagnostic:
    """An exception raised by the user's pipeline module, located at its deepest frame in that file."""
    span = Span(file)
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == Path(file).resolve():
            span = Span(file, frame.lineno or 0, (getattr(frame, "colno", None) or 0) + 1)
    if isinstance(exc, SystemExit):
        return Diagnostic(
            f"the pipeline file called sys.exit({exc.code!r}) while being imported",
            span,
            hint='a pipeline file only defines a Flow; put script code under `if __name__ == "__main__":`',
        )
    hint = None
    unexpected = _UNEXPECTED.search(str(exc)) if isinstance(exc, TypeError) else None
    if unexpected:
        hint = suggest(unexpected.group(1), SETTINGS + ("needs", "returns", "description", "parameters", "schedule"))
    return Diagnostic(f"importing the pipeline module failed: {type(exc).__name__}: {exc}", span, hint=hint)


def _import(path: Path, file: str) -> ModuleType:
    module_name = MODULE_PREFIX + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TranspileError([Diagnostic("cannot import this file as Python", Span(file))])
    module = importlib.util.module_from_spec(spec)
    added = [entry for entry in (str(path.parent.resolve()), os.getcwd()) if entry not in sys.path]
    sys.path[:0] = added
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        span = Span(file, exc.lineno or 0, exc.offset or 0)
        raise TranspileError([Diagnostic(f"invalid Python: {exc.msg}", span)]) from None
    except (Exception, SystemExit) as exc:  # the user's module: report, never a traceback, never exit
        raise TranspileError([_user_error(exc, file)]) from None
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)
    return module


def _flows(module: ModuleType) -> dict[str, Flow]:
    """The module's Flows by the first public name bound to each (one entry per Flow object)."""
    found: dict[str, Flow] = {}
    for name, value in vars(module).items():
        if isinstance(value, Flow) and not name.startswith("_") and all(value is not f for f in found.values()):
            found[name] = value
    return found


def load_flow(reference: str) -> tuple[Flow, str]:
    """Import `file.py` (or `file.py:attribute`) and return its Flow and the file path."""
    file, _, attribute = reference.partition(".py:")
    file = file + ".py" if attribute or not file.endswith(".py") else file
    path = Path(file)
    if not path.is_file():
        raise TranspileError([Diagnostic(f"no such file: {file}", Span(file))])
    module = _import(path, file)
    flows = _flows(module)
    if attribute:
        flow = getattr(module, attribute, None)
        if isinstance(flow, Flow):
            return flow, file
        what = "not defined" if flow is None else f"a {type(flow).__name__}, not a transpile Flow"
        hint = did_you_mean(attribute, list(flows)) or (f"its Flows: {', '.join(flows)}" if flows else None)
        raise TranspileError([Diagnostic(f"'{attribute}' in {file} is {what}", Span(file), hint=hint)])
    if len(flows) == 1:
        return next(iter(flows.values())), file
    if not flows:
        raise TranspileError([Diagnostic(f"{file} defines no Flow", Span(file), hint="create one: flow = Flow(...)")])
    lines = {name: flow.span.line for name, flow in flows.items()}
    listed = ", ".join(f"'{name}' (line {line})" for name, line in lines.items())
    second = list(flows.values())[1].span
    hint = f"name one: {file}:{next(iter(flows))}"
    raise TranspileError([Diagnostic(f"{file} defines {len(flows)} Flows: {listed}", second, hint=hint)])
