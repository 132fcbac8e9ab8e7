"""The published JSON Schemas match the models, and the samples validate against them."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.conftest import REPO, SAMPLES
from transpile.frontends.yaml import read_yaml_file
from transpile.schema import SCHEMAS, render


@pytest.mark.parametrize("filename", sorted(SCHEMAS))
def test_schema_file_in_sync(filename):
    committed = (REPO / "schemas" / filename).read_text(encoding="utf-8")
    assert committed == render(SCHEMAS[filename]), f"schemas/{filename} is stale: run `transpile schema`"


def test_samples_validate_against_published_schema():
    schema = json.loads((REPO / "schemas" / "pipeline.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data, _ = read_yaml_file(SAMPLES / "etl.yaml")
    jsonschema.validate(data, schema)


def test_schema_rejects_unknown_key():
    schema = json.loads((REPO / "schemas" / "pipeline.schema.json").read_text())
    bad = {"name": "x", "steps": {"a": {"pythn": "m:f"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
