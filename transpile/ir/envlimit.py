"""How large a value a shell step can get as an environment variable (Linux's limits), and how it is written."""

from __future__ import annotations

import json
import re
from typing import Any

ENV_STRING_LIMIT = 128 * 1024
"""Linux's limit on one environment string (`NAME=value` and its terminating NUL; MAX_ARG_STRLEN): `exec`
fails with "Argument list too long" beyond it. All strings together are bounded too (ARG_MAX, about 2 MiB)."""


def env_text(value: Any) -> str:
    """A value as a shell step's environment variable holds it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def env_string_size(name: str, text: str) -> int:
    """Bytes `NAME=value` takes in the environment (its NUL included)."""
    return len(name.encode()) + len(text.encode("utf-8", "surrogatepass")) + 2


def mentions_variable(command: str, name: str) -> bool:
    """Whether a shell command reads the variable `name` (`$name` or `${name...}`)."""
    return re.search(r"\$\{?" + re.escape(name) + r"(?![A-Za-z0-9_])", command) is not None
