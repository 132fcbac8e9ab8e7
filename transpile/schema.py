"""Generate the published JSON Schemas from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from transpile.config import DeployConfig
from transpile.ir.models import Pipeline
from transpile.package_data import schemas_dir

SCHEMAS = {"pipeline.schema.json": Pipeline, "deploy.schema.json": DeployConfig}


def render(model: type) -> str:
    """The JSON Schema of a model, as stable text."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_schemas(directory: Path | None = None) -> list[Path]:
    """Write every schema into `directory` (default: the schemas shipped with the package)."""
    target = directory or schemas_dir()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, model in SCHEMAS.items():
        path = target / filename
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written
