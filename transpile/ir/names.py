"""Stable, Kubernetes-safe names derived from step paths."""

from __future__ import annotations

import functools
import hashlib
import re

_UNSAFE = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def short_hash(text: str, length: int = 8) -> str:
    """A short stable hex digest of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@functools.lru_cache(maxsize=65536)
def sanitize(name: str) -> str:
    """Lowercase DNS-label-ish form of a name: `Load_Data` -> `load-data`; never starts with a digit."""
    key = _DASHES.sub("-", _UNSAFE.sub("-", name.lower())).strip("-")
    if not key:
        key = "x-" + short_hash(name, 6)
    if key[0].isdigit():
        key = "s-" + key
    return key


def fit(name: str, limit: int, salt: str | None = None) -> str:
    """Truncate `name` to `limit` characters, ending in a hash of the full name (or `salt`) when cut."""
    if len(name) <= limit:
        return name
    digest = short_hash(salt if salt is not None else name)
    return name[: limit - len(digest) - 1].rstrip("-") + "-" + digest


KEY_LIMIT = 63


def step_key(name: str) -> str:
    """The key of a step, branch or case name: sanitized and at most 63 characters."""
    return fit(sanitize(name), KEY_LIMIT, salt=name)


def node_id(path: tuple[str, ...]) -> str:
    """The id of a step path used on command lines and in the run store: `clean/load`, `on_failure/alert`."""
    return "/".join("on_failure" if segment == "@on_failure" else step_key(segment) for segment in path)


class DottedNames:
    """Task names from step paths, keys joined by dots (`clean.load`, `clean._items` for a composite's own
    node), at most `limit` characters; names that meet after cutting get a hash of the full path."""

    def __init__(self, limit: int):
        self.limit = limit
        self.owners: dict[str, str] = {}

    def __call__(self, path: tuple[str, ...], suffix: str = "") -> str:
        full = ".".join("on_failure" if s == "@on_failure" else step_key(s) for s in path)
        full += f"._{suffix}" if suffix else ""
        name = fit(full, self.limit, salt=full)
        if self.owners.get(name, full) != full:
            name = fit(f"{full}-{short_hash(full)}", self.limit, salt=full)
        self.owners[name] = full
        return name
