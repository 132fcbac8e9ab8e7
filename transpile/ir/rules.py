"""The rules values of the format follow, checked as the engines check them, with messages in plain words.

Each `check_*` function returns the value (normalised where noted) or raises ValueError with a message a
person understands; the models attach them as validators, so a bad value is reported at its own line.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

INT_MAX = 2**31 - 1  # every count and duration fits the engines' 32-bit integer fields (Kubernetes, Argo)
CACHE_PARAMETER = "transpile_cache"  # the engines' run parameter of the cache mode (no pipeline parameter's name)

# Kubernetes resource.Quantity: a decimal number, then a binary (Ki..Ei), decimal (n, u, m, k, M..E) or
# exponent (e3) suffix. Resources are never negative.
_QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?\d+)?$")
_QUANTITY_FORMS = {
    "cpu": "cores as a number (2, 0.5) or millicores (500m)",
    "memory": "bytes with a suffix: 512Mi, 1Gi (powers of 2) or 500M, 1G (powers of 10)",
    "storage": "bytes with a suffix: 10Gi, 500Mi (powers of 2) or 10G (powers of 10)",
}
_BYTE_TYPOS = re.compile(r"^(\d+(?:\.\d*)?)\s*([KMGTPE])(i?)B$", re.IGNORECASE)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"
SUBDOMAIN_RULE = "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"


def check_int(value: int, what: str = "the value") -> int:
    """A count or a number of seconds within the engines' 32-bit range."""
    if value > INT_MAX:
        raise ValueError(f"{value} is too large for {what} (at most {INT_MAX})")
    return value


def check_quantity(value: Any, kind: str) -> Any:
    """A Kubernetes quantity for cpu, memory or storage, as Kubernetes parses it."""
    if isinstance(value, bool):
        raise ValueError(f"{kind} must be a quantity, not a boolean ({_QUANTITY_FORMS[kind]})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{kind} must be a finite quantity ({_QUANTITY_FORMS[kind]})")
    text = str(value)
    if isinstance(value, (int, float)) and value < 0 or text.startswith("-"):
        raise ValueError(f"{kind} cannot be negative")
    if not _QUANTITY.match(text):
        typo = _BYTE_TYPOS.match(text.strip())
        if typo:
            number, unit, binary = typo.groups()
            decimal = "k" if unit.lower() == "k" else unit.upper()
            binary_form = f"{number}{unit.upper()}i"
            hint = binary_form if binary else f"{number}{decimal} (powers of 10) or {binary_form} (powers of 2)"
            raise ValueError(f"'{text}' is not a Kubernetes quantity: write {hint}")
        raise ValueError(f"'{text}' is not a Kubernetes quantity; {kind} takes {_QUANTITY_FORMS[kind]}")
    return value


def check_dns_label(value: str, what: str) -> str:
    """A DNS-1123 label (namespace, claim, pipeline name): at most 63 lowercase alphanumerics and '-'."""
    if not value:
        raise ValueError(f"the {what} is empty")
    if len(value) > 63:
        raise ValueError(f"the {what} '{value[:20]}...' has {len(value)} characters; at most 63 are allowed")
    if not DNS_LABEL.match(value):
        raise ValueError(f"'{value}' is not a valid {what}: {LABEL_RULE}{_suggest_label(value)}")
    return value


def check_dns_subdomain(value: str, what: str) -> str:
    """A DNS-1123 subdomain (service account, secret): at most 253 characters, labels joined by '.'."""
    if not value:
        raise ValueError(f"the {what} is empty")
    if len(value) > 253:
        raise ValueError(f"the {what} has {len(value)} characters; at most 253 are allowed")
    if not DNS_SUBDOMAIN.match(value):
        raise ValueError(f"'{value}' is not a valid {what}: {SUBDOMAIN_RULE}{_suggest_label(value)}")
    return value


def _suggest_label(value: str) -> str:
    fixed = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9.-]+", "-", value.lower())).strip("-.")
    return f" (for example '{fixed}')" if fixed and DNS_SUBDOMAIN.match(fixed) and fixed != value else ""


def check_label_key(key: str) -> str:
    """A label (or node selector) key: an optional DNS-subdomain prefix and '/', then a name of at most 63."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            raise ValueError(f"label key '{key}' has an empty prefix before '/'")
        check_dns_subdomain(prefix, f"prefix of label key '{key}'")
    if not name:
        raise ValueError(f"label key '{key}' has an empty name")
    if len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"label key '{key}' is not valid: the name after any '/' is at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return key


def check_label_value(value: str) -> str:
    """A label value: empty, or at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric."""
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        shown = value if len(value) <= 70 else value[:67] + "..."
        raise ValueError(
            f"'{shown}' is not a valid label value "
            "(at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        )
    return value


def check_label(key: str, value: str) -> None:
    """One label (key and value) of a mapping, the key named in the error."""
    check_label_key(key)
    try:
        check_label_value(value)
    except ValueError as exc:
        raise ValueError(f"label {key}: {exc}") from None


def check_env_name(name: str) -> str:
    """An environment variable name a step can be given: a letter or '_', then letters, digits, '_'."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"'{name}' is not a valid environment variable name")
    return name


def check_config_key(value: str) -> str:
    """A key inside a Kubernetes secret: letters, digits, '-', '_' and '.'."""
    if not _CONFIG_KEY.match(value) or len(value) > 253:
        raise ValueError(f"'{value}' is not a valid secret key (letters, digits, '-', '_' and '.')")
    return value


# Names a shell step sees as environment variables (parameters, returns, map items): these would change
# how bash, the dynamic loader or Python behave, or clash with transpile's own variables.
RESERVED_ENV = frozenset(
    [
        "PATH", "HOME", "IFS", "ENV", "BASH_ENV", "SHELL", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
        "CDPATH", "GLOBIGNORE", "PWD", "OLDPWD", "USER", "LOGNAME", "HOSTNAME", "TMPDIR", "TERM", "LANG",
        "LANGUAGE", "UID", "EUID", "PPID", "BASH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
        "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONINSPECT",
    ]
)  # fmt: skip
RESERVED_ENV_PREFIXES = ("TRANSPILE_", "BASH_", "LC_", "LD_", "PYTHON")


def reserved_env_name(name: str) -> str | None:
    """Why `name` cannot be a value name seen by shell steps, or None when it can."""
    if name in RESERVED_ENV:
        return f"'{name}' is an environment variable shell steps rely on"
    if not name.startswith(RESERVED_ENV_PREFIXES):
        return None
    for prefix in RESERVED_ENV_PREFIXES:
        if name.startswith(prefix):
            owner = "transpile" if prefix == "TRANSPILE_" else "the system"
            return f"names starting with '{prefix}' are reserved for {owner}"
    return None


def check_glob(pattern: str) -> str:
    """A catalog pattern: relative to the step's working directory, never climbing out of it."""
    if not pattern.strip():
        raise ValueError("a catalog pattern is empty")
    if pattern.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", pattern):
        raise ValueError(f"catalog pattern '{pattern}' is absolute; give a path relative to the working directory")
    if ".." in re.split(r"[\\/]", pattern):
        raise ValueError(f"catalog pattern '{pattern}' climbs out of the working directory with '..'")
    if "\x00" in pattern:
        raise ValueError("a catalog pattern cannot hold a NUL character")
    return pattern


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    try:
        from zoneinfo import available_timezones

        return frozenset(available_timezones())
    except Exception:  # no time zone database at all: nothing to check against
        return frozenset()


def check_timezone(name: str) -> str:
    """An IANA time zone name, as Airflow (pendulum), Prefect and Argo (Go's time package) read them."""
    zones = _zones()
    if not zones or name in zones or name == "UTC":
        return name
    from transpile.errors import did_you_mean

    hint = did_you_mean(name, zones)
    raise ValueError(f"'{name}' is not an IANA time zone such as Europe/Paris or UTC" + (f"; {hint}" if hint else ""))
