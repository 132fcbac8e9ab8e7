"""The cache mode of one run, as one text every engine carries: `on` (the default), `off`, `refresh=ID,...`.

`transpile run --no-cache` is `off` (no entry is read or written); `--refresh STEP` (repeatable) is
`refresh=STEP,...`: those steps run even when an entry matches, and their new entry replaces the old one.
A STEP is a node id (`clean/load`); a composite's id (`clean`) covers every step under it. The text
reaches `execute-node` as `--cache MODE` (Argo: `--cache-b64`, computed by Argo itself) or
`$TRANSPILE_CACHE`, from the engines' run parameter `transpile_cache`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from transpile.ir.rules import CACHE_PARAMETER

if TYPE_CHECKING:
    from transpile.plan.model import Plan

__all__ = [
    "CACHED_ANNOTATION",
    "CACHE_PARAMETER",
    "CacheMode",
    "CacheModeError",
    "cached_annotation",
    "cached_from_annotation",
    "cached_steps",
    "covers",
    "refresh_problems",
]

_ID = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")


class CacheModeError(ValueError):
    """A cache mode text that is not `on`, `off` or `refresh=ID,...`."""


@dataclass(frozen=True)
class CacheMode:
    """Whether entries are used and written (`enabled`), and which steps run again regardless (`refresh`:
    node ids, a composite's covering its steps; `refresh_all`: every step, as `execute-node --force`)."""

    enabled: bool = True
    refresh: tuple[str, ...] = ()
    refresh_all: bool = False

    @classmethod
    def parse(cls, text: str | None) -> CacheMode:
        value = (text or "").strip()
        if value in ("", "on"):
            return cls()
        if value == "off":
            return cls(enabled=False)
        if value.startswith("refresh="):
            ids = tuple(dict.fromkeys(i.strip() for i in value[len("refresh=") :].split(",") if i.strip()))
            bad = [i for i in ids if not _ID.match(i)]
            if ids and not bad:
                return cls(refresh=ids)
            if bad:
                raise CacheModeError(f"cache mode {text!r}: {bad[0]!r} is not a step id (like clean/load)")
        raise CacheModeError(f"cache mode {text!r} is not on, off or refresh=STEP[,STEP...]")

    @classmethod
    def of(cls, enabled: bool = True, refresh: tuple[str, ...] | list[str] = ()) -> CacheMode:
        """From command-line flags (`--no-cache`, `--refresh STEP ...`); CacheModeError when both are given
        or a step is not written as a step id."""
        ids = tuple(dict.fromkeys(step.strip().strip("/") for step in refresh))
        if not enabled and ids:
            raise CacheModeError("--no-cache and --refresh do not go together: --no-cache already runs every step")
        return cls.parse("refresh=" + ",".join(ids)) if ids else cls(enabled=enabled)

    def text(self) -> str:
        if not self.enabled:
            return "off"
        return "refresh=" + ",".join(self.refresh) if self.refresh else "on"

    def refreshes(self, node: str) -> bool:
        """Whether the step with this node id runs again regardless of its entries."""
        return self.refresh_all or any(node == r or node.startswith(r + "/") for r in self.refresh)


def cached_steps(plan: Plan) -> list[str]:
    """Node ids of the plan's cached task steps."""
    return [step.id for step in plan.task_steps() if step.settings is not None and step.settings.cache is not None]


def covers(wanted: str, cached: list[str]) -> bool:
    """Whether `--refresh wanted` names a cached step: one of them, or a composite above one."""
    return any(node == wanted or node.startswith(wanted + "/") for node in cached)


# A compiled Argo spec lists its cached steps in this annotation of its main WorkflowTemplate, so `transpile
# submit --run --refresh STEP` refuses a step the pipeline does not cache before submitting (up to
# CACHED_ANNOTATION_BYTES: a longer list is left out, and the step is then checked by each pod).
CACHED_ANNOTATION = "transpile.io/cached-steps"
CACHED_ANNOTATION_BYTES = 16 * 1024


def cached_annotation(plan: Plan) -> str | None:
    """The annotation's value: the cached node ids joined by commas; None for none, or for too many."""
    text = ",".join(cached_steps(plan))
    return text if text and len(text) <= CACHED_ANNOTATION_BYTES else None


def cached_from_annotation(text: str | None) -> list[str] | None:
    """The cached node ids read back from the annotation; None when absent or not a list of node ids."""
    found = text.split(",") if isinstance(text, str) and text else None
    return found if found and all(_ID.match(i) for i in found) else None


def refresh_problems(mode: CacheMode, plan: Plan) -> list[tuple[str, str | None]]:
    """(message, hint) for each step to refresh that names no cached step of the plan."""
    cached = cached_steps(plan)
    problems: list[tuple[str, str | None]] = []
    for wanted in mode.refresh:
        if covers(wanted, cached):
            continue
        from transpile.errors import did_you_mean

        known = {step.id for step in plan.task_steps()} | set(plan.nodes)
        if wanted in known or any(node.startswith(wanted + "/") for node in known):
            problems.append((f"--refresh {wanted}: no step there has a cache setting, so it runs anyway", None))
        else:
            hint = did_you_mean(wanted, cached) or (f"cached steps: {', '.join(cached)}" if cached else None)
            problems.append((f"--refresh {wanted}: the pipeline has no step '{wanted}'", hint))
    return problems
