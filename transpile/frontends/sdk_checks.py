"""What the Python SDK's builder calls are given, checked where they are called: lists of names (`needs`,
`returns`, catalog globs) and step functions a pod can import. Each problem goes to `report(message,
hint)`, which the builder locates at the user's line; nothing here raises into the user's module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

MODULE_PREFIX = "_transpile_pipeline_"  # the module name a pipeline file is imported under
Report = Callable[[str, "str | None"], None]

_ONE = {"needs": "a step", "returns": "a name", "glob": "a file pattern"}
_ONE_OR_MORE = {"needs": "a step or a list of steps", "returns": "a name or a list of names", "glob": "a pattern"}
_HINTS = {
    "needs": "give a step's handle (what flow.python(...) returns) or its name, or a list of them",
    "returns": "give a name (returns='rows') or a list of names",
    "glob": "give a pattern or a list of patterns",
}


def describe(value: Any) -> str:
    """What a value is, in words, for a message."""
    if hasattr(value, "to_data") and hasattr(value, "on_failure"):
        return "the Flow itself"
    if hasattr(value, "_steps") and not hasattr(value, "name"):
        return "a branch or case block (not a step)"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"the function {value.__qualname__}"
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name} ({value!r:.40})"


def names(value: Any, what: str, step_type: type, report: Report) -> list[str]:
    """A list of names; a single string is one name (not its characters); `needs` also takes step handles
    (instances of `step_type`), by their names. Anything else is reported, not a TypeError."""
    if value is None:
        return []
    if isinstance(value, (str, step_type)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        report(f"{what}: {describe(value)} is not {_ONE_OR_MORE[what]}", _HINTS[what])
        return []
    found = []
    for item in value:
        if isinstance(item, step_type) and what == "needs":
            found.append(item.name)
        elif isinstance(item, str):
            found.append(item)
        else:
            report(f"{what}: {describe(item)} is not {_ONE[what]}", _HINTS[what])
    return found


def python_ref(target: str | Callable[..., Any], report: Report) -> str:
    """`module:qualname` of a step function; a function a pod cannot import (a bound method, a callable
    object, a nested function, one defined in the pipeline file or in `__main__`) is reported."""
    if isinstance(target, str):
        return target
    module = str(getattr(target, "__module__", None) or "?")
    qualname = str(getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target)))
    if inspect.ismethod(target) and not inspect.isclass(target.__self__):
        report(
            f"'{qualname}' is a method bound to an instance; a pod imports the function by name and would call "
            "it without that instance",
            "use a function at the top level of a module (a staticmethod or classmethod works too)",
        )
    elif not (inspect.isfunction(target) or inspect.ismethod(target) or inspect.isbuiltin(target)):
        report(
            f"{describe(target)} is not a function; pods import step functions by name",
            "give a function defined at the top level of a module, or its 'module:function' name",
        )
    elif "<locals>" in qualname or "<lambda>" in qualname:
        report(
            f"'{qualname}' is a nested function or a lambda, which pods cannot import",
            "define the function at the top level of an importable module",
        )
    elif module.startswith(MODULE_PREFIX):
        report(
            f"function '{qualname}' is defined in the pipeline file itself; pods import step functions by module "
            "and cannot import the pipeline file as one",
            "move the function into an importable module (e.g. steps.py beside the pipeline) and import it from there",
        )
    elif module == "__main__":
        report(
            f"function '{qualname}' is defined in the script being run (__main__), which pods cannot import",
            "move the function into an importable module and import it from there",
        )
    return f"{module}:{qualname}"
