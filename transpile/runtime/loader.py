"""Load the plan a node belongs to: from the store's cache, or by compiling the pipeline file in the image.

The cache holds the serialized execution plan (lowered without a deploy config: a pod needs no image
or volume settings), keyed by the file's bytes plus transpile's version and the plan version, so a hit
means these exact bytes were lowered by this exact compiler. A cached plan of another `plan_version`
(written by another transpile) is not read: the file is compiled again. YAML pipelines only; a Python
pipeline may import other files, so it is always compiled.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

from transpile import __version__
from transpile.ir.scope import Index
from transpile.plan.codec import PlanVersionError, from_json, to_json
from transpile.plan.model import PLAN_VERSION, Plan, Step
from transpile.runtime.store import write_atomic, write_once


@dataclass
class Loaded:
    """A plan as the runtime needs it: the plan, its scope index and its steps by node id."""

    plan: Plan
    index: Index
    steps: dict[str, tuple[str, ...]]  # node or step id -> step path
    text: str | None = None  # the plan's JSON, when it was read or written

    def plan_json(self) -> str:
        if self.text is None:
            self.text = to_json(self.plan)
        return self.text

    @property
    def hash(self) -> str:
        return self.plan.hash

    def step_path(self, node: str) -> tuple[str, ...] | None:
        return self.steps.get(node)

    def step(self, path: tuple[str, ...]) -> Step:
        return self.index.steps[path].step


def cache_path(store: Path, file_bytes: bytes) -> Path:
    """Where the plan of a pipeline file with these bytes is cached in a store."""
    salt = f"transpile-plan:{PLAN_VERSION}:{__version__}\0".encode()
    return store / "cache" / "pipelines" / f"{hashlib.sha256(salt + file_bytes).hexdigest()}.json"


def from_plan(plan: Plan, text: str | None = None) -> Loaded:
    index = Index.build(plan)
    return Loaded(plan, index, {located.step.id: path for path, located in index.steps.items()}, text)


def _read_cached(cache: Path) -> Loaded | None:
    try:
        text = cache.read_text(encoding="utf-8")
        return from_plan(from_json(text), text)
    except (OSError, ValueError, PlanVersionError, TypeError, KeyError):
        return None  # unreadable or another plan version: compile again


def load_pipeline(reference: str, store: Path | None) -> Loaded:
    """The plan of `reference`; raises TranspileError when the file does not compile."""
    is_python = reference.endswith(".py") or ".py:" in reference
    cache, repair = None, False
    if store is not None and not is_python:
        try:
            cache = cache_path(store, Path(reference).read_bytes())
        except OSError:
            cache = None
        if cache is not None and cache.is_file():
            loaded = _read_cached(cache)
            if loaded is not None:
                return loaded
            repair = True  # unreadable (or of another plan version): replaced by the plan compiled now
    from transpile.compiler import compile_pipeline
    from transpile.plan.lower import lower

    plan = lower(compile_pipeline(reference))
    text = None
    if cache is not None:
        text = to_json(plan)
        # A read-only or full store only costs the next node a recompile. The name is the content's hash,
        # so replacing a broken entry is safe even against a concurrent writer: both write the same bytes.
        with contextlib.suppress(OSError):
            (write_atomic if repair else write_once)(cache, text)
    return from_plan(plan, text)
