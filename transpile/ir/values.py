"""Values every engine can carry to a step: the rules for parameter values and for text bound for a process.

A parameter value is JSON: finite numbers only, string keys only, at most `MAX_VALUE_DEPTH` levels of
lists and objects (serializers and the generated Python files of some engines recurse once per level),
and text that is UTF-8 (a lone surrogate cannot be written anywhere). A string that reaches a process as
it is (a string parameter's text, an env value) cannot hold NUL, which neither `execve` arguments nor
environment strings can carry, and one environment string is at most 128 KiB (Linux's MAX_ARG_STRLEN).

Each function returns a problem in plain words, or None; the walks are iterative, so no value is too
deep to be checked.
"""

from __future__ import annotations

import math
from typing import Any

MAX_VALUE_DEPTH = 100  # levels of lists and objects inside one parameter value
MAX_ENV_BYTES = 128 * 1024  # one `NAME=value` environment string (MAX_ARG_STRLEN)


def _surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _where(path: list[str | int]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text if len(text) <= 60 else text[:57] + "..."


def json_problem(value: Any) -> str | None:
    """Why `value` is not a JSON value every engine carries (None when it is); names where inside it."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        at = f" at {_where(path)}" if path else ""
        if isinstance(item, float) and not math.isfinite(item):
            return f"holds {item}{at}, which JSON cannot carry; use a finite number or a string"
        if isinstance(item, str) and _surrogate(item):
            return f"holds text{at} that is not valid Unicode (a lone surrogate), which cannot be written as UTF-8"
        if isinstance(item, (dict, list, tuple)) and len(path) >= MAX_VALUE_DEPTH:
            return f"nests lists and objects more than {MAX_VALUE_DEPTH} levels deep{at}; at most {MAX_VALUE_DEPTH}"
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return f"has the key {key!r}{at}, which is not a string; JSON keys are strings"
                if _surrogate(key):
                    return f"has a key{at} that is not valid Unicode (a lone surrogate)"
                stack.append((inner, path + [key]))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, path + [i]) for i, inner in enumerate(item))
    return None


def value_depth_exceeds(value: Any, limit: int = MAX_VALUE_DEPTH) -> bool:
    """Whether lists and objects nest more than `limit` levels in `value` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth >= limit:
                return True
            inner = item.values() if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in inner)
    return False


def process_text_problem(text: str) -> str | None:
    """Why `text` cannot reach a process as an argument or environment value (None when it can)."""
    if "\x00" in text:
        return "holds a NUL character (\\0), which no process argument or environment value can carry"
    if _surrogate(text):
        return "is not valid Unicode (it holds a lone surrogate), so it cannot be written as UTF-8"
    return None


def env_value_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be the environment variable `name` of a step (None when it can)."""
    problem = process_text_problem(value)
    if problem:
        return problem
    size = len(name.encode("utf-8")) + 1 + len(value.encode("utf-8"))
    if size > MAX_ENV_BYTES:
        return f"is {size:,} bytes with its name; Linux refuses an environment string over {MAX_ENV_BYTES:,} bytes"
    return None
