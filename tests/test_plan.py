"""The execution plan: lowered once, JSON round trip, and the plan a pod loads equals the compiled one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import pipelines as synthetic
from tests.support.pipelines import OPS_PIPELINE
from transpile.compiler import compile_data, compile_pipeline
from transpile.config import DeployConfig
from transpile.frontends.yaml import load_yaml_document
from transpile.plan.codec import PlanVersionError, from_json, to_data, to_json
from transpile.plan.lower import lower
from transpile.runtime.loader import cache_path, load_pipeline

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ["samples/etl.yaml", "samples/etl.py"]


def _compiled_corpus():
    for sample in SAMPLES:
        yield sample, compile_pipeline(str(REPO / sample))
    corpus = {"ops": OPS_PIPELINE, "chain": synthetic.chain(30), "wide": synthetic.wide(30)}
    corpus["nested"] = synthetic.nested_maps(300)
    for name, text in corpus.items():
        data, source = load_yaml_document(text, f"{name}.yaml")
        yield name, compile_data(data, source, f"{name}.yaml")


@pytest.mark.parametrize("config", [DeployConfig(), DeployConfig(image="reg/img:1", labels={"team": "data"})])
def test_every_pipeline_round_trips_through_json(config):
    count = 0
    for name, compiled in _compiled_corpus():
        plan = lower(compiled, config)
        text = to_json(plan)
        assert from_json(text) == plan, name
        assert to_json(from_json(text)) == text, name  # deterministic bytes
        count += 1
    assert count == len(SAMPLES) + 4


def test_plan_resolves_image_fallback_labels_and_nodes():
    compiled = compile_pipeline(str(REPO / "samples/etl.yaml"))
    plan = lower(compiled, DeployConfig(image="fallback:1", labels={"team": "data"}))
    roles = {node.id: node.role for node in plan.nodes.values()}
    assert roles["clean"] == "fan_out" and roles["route"] == "select" and roles["clean/load"] == "task"
    assert plan.nodes["clean/load"].maps == ("clean",)
    assert plan.nodes["clean/tidy"].after == ("clean/load",)
    assert plan.labels == {
        "app.kubernetes.io/managed-by": "transpile",
        "transpile.io/pipeline": "etl-daily",
        "team": "data",
    }
    images = {s.image for s in (plan.steps["extract"], plan.steps["gate"])}
    assert images == {compiled.pipeline.defaults.image or "fallback:1"}


def test_plan_without_image_keeps_none_and_config_image_fills_it():
    text = "name: p\nsteps:\n  a: {shell: 'true'}\n"
    data, source = load_yaml_document(text, "p.yaml")
    compiled = compile_data(data, source, "p.yaml")
    assert lower(compiled).steps["a"].image is None
    assert lower(compiled, DeployConfig(image="x:1")).steps["a"].image == "x:1"


def test_another_plan_version_is_refused():
    compiled = compile_pipeline(str(REPO / "samples/etl.yaml"))
    data = to_data(lower(compiled))
    data["plan_version"] = 999
    with pytest.raises(PlanVersionError, match="plan_version 999"):
        from_json(json.dumps(data))


def test_plan_imports_neither_pydantic_nor_yaml():
    code = (
        "import sys, transpile.plan.codec, transpile.plan.params, transpile.runtime.loader;"
        "print(sorted(m for m in ('pydantic', 'yaml', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_pod_loads_from_the_cache_the_plan_the_compile_produced(tmp_path):
    pipeline = tmp_path / "etl.yaml"
    pipeline.write_bytes((REPO / "samples/etl.yaml").read_bytes())
    compiled_plan = lower(compile_pipeline(str(pipeline)))
    first = load_pipeline(str(pipeline), tmp_path / "store")  # compiles and writes the cache
    cache = cache_path(tmp_path / "store", pipeline.read_bytes())
    assert cache.is_file() and from_json(cache.read_text()) == compiled_plan
    second = load_pipeline(str(pipeline), tmp_path / "store")  # reads the cache
    assert first.plan == second.plan == compiled_plan


def test_a_cached_plan_of_another_version_is_recompiled(tmp_path):
    pipeline = tmp_path / "etl.yaml"
    pipeline.write_bytes((REPO / "samples/etl.yaml").read_bytes())
    cache = cache_path(tmp_path / "store", pipeline.read_bytes())
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"plan_version": 0, "name": "stale"}))
    loaded = load_pipeline(str(pipeline), tmp_path / "store")
    assert loaded.plan.name == "etl-daily"
