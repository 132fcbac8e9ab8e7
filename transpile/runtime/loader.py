"""Load the pipeline a node belongs to: recompile the file in the image, or take it from the store's cache.

The cache key is the file's bytes plus transpile's version, so a hit means these exact bytes were compiled
by this exact compiler: its hash is the hash a recompile would give. YAML pipelines only; a Python
pipeline may import other files, so it is always recompiled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transpile import __version__
from transpile.ir.graph import walk
from transpile.ir.names import node_id
from transpile.ir.scope import Index
from transpile.runtime.store import dumps, read_json, write_once

CACHE_FORMAT = "1"


@dataclass
class Loaded:
    """A compiled pipeline as the runtime needs it."""

    hash: str
    pipeline: Any
    index: Index
    nodes: dict[str, tuple[str, ...]]  # node id -> step path

    def step_path(self, node: str) -> tuple[str, ...] | None:
        return self.nodes.get(node)


def _cache_path(store: Path, file_bytes: bytes) -> Path:
    digest = hashlib.sha256(f"transpile-ir:{CACHE_FORMAT}:{__version__}\0".encode() + file_bytes).hexdigest()
    return store / "cache" / "pipelines" / f"{digest}.json"


def _finish(digest: str, pipeline: Any, index: Index | None = None) -> Loaded:
    index = index or Index.build(pipeline)
    nodes = {node_id(located.path): located.path for located in walk(pipeline)}
    return Loaded(digest, pipeline, index, nodes)


def load_pipeline(reference: str, store: Path | None) -> Loaded:
    """The compiled pipeline of `reference`; raises TranspileError when the file does not compile."""
    is_python = reference.endswith(".py") or ".py:" in reference
    cache = None
    if store is not None and not is_python:
        try:
            cache = _cache_path(store, Path(reference).read_bytes())
        except OSError:
            cache = None
        if cache is not None and cache.is_file():
            from transpile.ir.plain import PlainPipeline

            data = read_json(cache)
            return _finish(data["hash"], PlainPipeline(data["pipeline"]))
    from transpile.compiler import compile_pipeline

    compiled = compile_pipeline(reference)
    if cache is not None:
        dump = compiled.pipeline.model_dump(mode="json", by_alias=True, exclude_none=True)
        # A read-only or full store only costs the next node a recompile.
        with contextlib.suppress(OSError):
            write_once(cache, dumps({"hash": compiled.hash, "pipeline": dump}))
    return _finish(compiled.hash, compiled.pipeline, compiled.index)


def canonical_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
