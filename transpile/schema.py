"""Generate the published JSON Schemas (`schemas/`, shipped with the package) from the pydantic models."""

from __future__ import annotations

import json

from transpile.config import DeployConfig
from transpile.ir.models import Pipeline

SCHEMAS = {"pipeline.schema.json": Pipeline, "deploy.schema.json": DeployConfig}


def render(model: type) -> str:
    """The JSON Schema of a model, as stable text."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def rendered(which: str | None = None) -> dict[str, str]:
    """The schemas ({file name: text}): every one, or only `which` ("pipeline" or "deploy")."""
    return {
        filename: render(model)
        for filename, model in SCHEMAS.items()
        if which is None or filename == f"{which}.schema.json"
    }
