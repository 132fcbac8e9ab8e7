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


# ---- issue 21: every documented form validates against the published schemas ----


def _readme_yaml_blocks() -> list[tuple[int, str]]:
    """(line, text) of every ```yaml block of the README, dedented (some sit inside list items)."""
    import re
    import textwrap

    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, textwrap.dedent(match.group(2)))
        for match in re.finditer(r"^( *)```yaml\n(.*?)^\1```", text, re.S | re.M)
    ]


def _schema(name: str) -> dict:
    schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _kind(data) -> str | None:
    """Which format a README block is: a pipeline, a deploy config, or neither (a pre-commit config)."""
    from transpile.config import DeployConfig

    if isinstance(data, dict) and "steps" in data:
        return "pipeline"
    if isinstance(data, dict) and set(data) <= set(DeployConfig.model_fields):
        return "deploy"
    return None


def test_every_readme_yaml_example_validates_against_its_schema(tmp_path):
    checked = []
    for line, text in _readme_yaml_blocks():
        path = tmp_path / f"readme-{line}.yaml"
        path.write_text(text)
        data, _ = read_yaml_file(path)
        kind = _kind(data)
        if kind is None:
            continue
        jsonschema.validate(data, _schema(kind))  # raises with the README line in the file name
        checked.append(kind)
    assert checked.count("pipeline") >= 1 and checked.count("deploy") >= 2


@pytest.mark.parametrize("sample", ["etl.yaml", "deploy.yaml", "deploy-local.yaml"])
def test_every_sample_validates(sample):
    data, _ = read_yaml_file(SAMPLES / sample)
    jsonschema.validate(data, _schema(_kind(data)))


@pytest.mark.parametrize(
    "form",
    [
        {"schedule": "0 3 * * *"},
        {"schedule": "@daily"},
        {"schedule": "@every 1h30m"},
        {"schedule": "@every 1.5h"},
        {"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris", "concurrency_policy": "Forbid"}},
        {"defaults": {"retries": 2, "timeout": "30m"}},
        {"defaults": {"retries": {"limit": 2, "backoff": "30s", "factor": 2, "max_backoff": "10m"}}},
        {"steps": {"a": {"stub": True}, "b": {"shell": "x", "needs": "a", "retries": 0}}},
    ],
)
def test_short_forms_validate_as_they_compile(form, tmp_path):
    """What the README documents (and compiles) is what the schema accepts, short forms included."""
    data = {"name": "p", "steps": {"a": {"stub": True}}} | form
    jsonschema.validate(data, _schema("pipeline"))
    from transpile.compiler import compile_data
    from transpile.ir.source import SourceMap

    compile_data(data, SourceMap("p.yaml"), "p.yaml")
