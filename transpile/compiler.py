"""The thin compiler entry point: pipeline file -> validated, resolved IR with its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transpile.errors import TranspileError
from transpile.frontends.validation import validate_model
from transpile.ir.models import FORMAT_VERSION, Pipeline
from transpile.ir.scope import Index
from transpile.ir.source import SourceMap
from transpile.passes.defaults import apply_defaults
from transpile.passes.validate import validate


@dataclass(frozen=True)
class Compiled:
    """A compiled pipeline: the resolved IR, its lookup index, its hash and where it came from."""

    pipeline: Pipeline
    index: Index
    hash: str
    source_file: str
    source: SourceMap

    @property
    def short_hash(self) -> str:
        return self.hash[:12]


def pipeline_hash(pipeline: Pipeline) -> str:
    """sha256 of the canonical JSON of the validated pipeline (before defaults are folded in)."""
    data = pipeline.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    text = json.dumps([FORMAT_VERSION, data], separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_data(reference: str) -> tuple[Any, SourceMap]:
    """Read a YAML pipeline, or run a Python one (`file.py[:attribute]`), into (data, SourceMap)."""
    if reference.endswith(".py") or ".py:" in reference:
        from transpile.frontends.python import load_flow

        flow, file = load_flow(reference)
        duplicates = flow.duplicates()
        if duplicates:
            raise TranspileError(duplicates)
        return flow.to_data(), flow.source_map(file)
    from transpile.frontends.yaml import read_yaml_file

    return read_yaml_file(reference)


def compile_data(data: Any, source: SourceMap, source_file: str) -> Compiled:
    """Validate plain pipeline data and run the passes."""
    pipeline = validate_model(Pipeline, data, source)
    digest = pipeline_hash(pipeline)
    resolved = apply_defaults(pipeline)
    index = validate(resolved, source)
    return Compiled(resolved, index, digest, source_file, source)


def source_file(reference: str) -> str:
    """The file of a pipeline reference: `flows.py:etl` -> `flows.py`."""
    return reference.split(".py:")[0] + ".py" if ".py:" in reference else reference


def compile_pipeline(reference: str) -> Compiled:
    """Compile a pipeline file (YAML, or Python as `file.py[:attribute]`)."""
    data, source = load_data(reference)
    return compile_data(data, source, source_file(reference))


def relative_source(path: str) -> str:
    """The source path as written in generated files: relative to the working directory when inside it
    (the image is expected to hold the project at its working directory), with forward slashes."""
    given = Path(path)
    if given.is_absolute():
        try:
            return given.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return given.as_posix()
    return given.as_posix()
