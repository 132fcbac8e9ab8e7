"""Any pipeline size a v4 Argo cluster accepts: big pipelines split into several WorkflowTemplates wired with
templateRef, each passing the v4.1.2 CRDs and the 1 MiB limit; names within limits; schedules."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmarks.pipelines import chain, wide
from tests.support.argo_check import check_argo_documents, require_shared
from tests.test_argo import emit_text
from transpile.backends.airflow import AirflowBackend
from transpile.backends.base import EmitOptions
from transpile.compiler import compile_data
from transpile.config import DeployConfig
from transpile.frontends.yaml import load_yaml_document
from transpile.ir.graph import walk
from transpile.ir.names import node_id
from transpile.plan.lower import lower

LIMIT = 1024 * 1024
ANNOTATIONS_LIMIT = 262_144  # apimachinery TotalAnnotationSizeLimitB
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.fixture(autouse=True)
def _crds():
    require_shared()


def sizes(documents: list[dict]) -> list[int]:
    return [len(json.dumps(d, separators=(",", ":")).encode()) for d in documents]


def last_applied_annotations(document: dict) -> int:
    """The bytes of all annotations once plain `kubectl apply` stored the object in the last-applied
    annotation (Go's JSON: compact, UTF-8, `<`, `>`, `&` escaped as 6 bytes; a trailing newline)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    stored = len(text.encode()) + 5 * sum(text.count(c) for c in "<>&") + 1
    own = sum(len(k) + len(v.encode()) for k, v in document["metadata"].get("annotations", {}).items())
    return len(LAST_APPLIED) + stored + own


def assert_fits_kubectl_apply(documents: list[dict]) -> None:
    found = [last_applied_annotations(d) for d in documents]
    assert max(found) < ANNOTATIONS_LIMIT, found


def test_ten_thousand_step_chain_splits_into_valid_objects():
    documents = check_argo_documents(emit_text(chain(10_000)), hera=False)
    assert len(documents) >= 2
    assert [d["metadata"]["name"] for d in documents] == ["chain-10000"] + [
        f"chain-10000-part-{i}" for i in range(1, len(documents))
    ]
    assert max(sizes(documents)) < LIMIT
    assert_fits_kubectl_apply(documents)
    assert documents[0]["spec"]["entrypoint"] == "main"
    assert "entrypoint" not in documents[1]["spec"]
    assert documents[1]["metadata"]["annotations"]["transpile.io/part-of"] == "chain-10000"
    refs = [
        t
        for d in documents
        for tpl in d["spec"]["templates"]
        for t in tpl.get("dag", {}).get("tasks", [])
        if "templateRef" in t
    ]
    assert refs and all("template" not in t for t in refs)
    tasks = sum(
        1
        for d in documents
        for tpl in d["spec"]["templates"]
        for t in tpl.get("dag", {}).get("tasks", [])
        if t.get("arguments", {}).get("parameters", [{}])[0].get("name") == "node"
    )
    assert tasks == 10_000


def test_five_thousand_wide_parallel_is_valid():
    documents = check_argo_documents(emit_text(wide(5_000)), hera=False)
    assert max(sizes(documents)) < LIMIT
    assert_fits_kubectl_apply(documents)
    parallel = next(t for d in documents for t in d["spec"]["templates"] if t["name"] == "fan")
    assert len(parallel["dag"]["tasks"]) == 25  # 5,000 branches in 25 nested parts of 200


def test_more_than_two_hundred_distinct_templates_split_by_count():
    steps = "\n".join(
        f"  c{i}: {{parallel: {{b: {{steps: {{t: {{shell: 'true', image: img{i}}}}}}}}}}}" for i in range(260)
    )
    documents = check_argo_documents(emit_text(f"name: many\nsteps:\n{steps}\n"), hera=False)
    assert len(documents) >= 2
    assert all(len(d["spec"]["templates"]) <= 200 for d in documents)


def test_names_that_collide_after_truncation_stay_distinct():
    prefix = "a" * 80
    text = "name: long\ndefaults: {image: img}\nsteps:\n"
    for suffix in ("x", "y", "z"):
        text += f"  {prefix}{suffix}:\n    parallel:\n      b: {{steps: {{{prefix}{suffix}: {{shell: 'true'}}}}}}\n"
    documents = check_argo_documents(emit_text(text))
    names = [t["name"] for d in documents for t in d["spec"]["templates"]]
    assert len(names) == len(set(names)) and all(len(n) <= 63 for n in names)
    tasks = [
        t["name"] for t in next(t for t in documents[0]["spec"]["templates"] if t["name"] == "main")["dag"]["tasks"]
    ]
    assert len(set(tasks)) == 3 and all(len(n) <= 63 for n in tasks)
    data, source = load_yaml_document(text, "long.yaml")
    compiled = compile_data(data, source, "long.yaml")
    ids = [node_id(located.path) for located in walk(compiled.pipeline)]
    assert len(ids) == len(set(ids))
    dag = AirflowBackend().emit(lower(compiled, DeployConfig(image="img:1")), EmitOptions())
    assert dag.count("EmptyOperator(task_id=") == 6


def test_schedule_compiles_to_a_cron_workflow():
    name = "n" * 60
    text = (
        f"name: {name}\ndefaults: {{image: img}}\n"
        "schedule: {cron: '0 3 * * *', timezone: Europe/Paris, concurrency_policy: Forbid}\n"
        "steps: {a: {shell: 'true'}}\n"
    )
    documents = check_argo_documents(emit_text(text))
    cron = documents[-1]
    assert cron["kind"] == "CronWorkflow"
    assert len(cron["metadata"]["name"]) <= 52
    assert cron["spec"]["schedules"] == ["0 3 * * *"]
    assert cron["spec"]["timezone"] == "Europe/Paris" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": name}}
    short = check_argo_documents(
        emit_text("name: s\ndefaults: {image: i}\nschedule: '@daily'\nsteps: {a: {stub: true}}\n")
    )
    assert short[-1]["spec"]["schedules"] == ["@daily"]


def test_bad_cron_is_a_compile_error(tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "p.yaml").write_text("name: p\nschedule: 'every day'\nsteps: {a: {stub: true}}\n")
    result = run_cli("compile", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "p.yaml:2:11" in result.stderr and "schedule" in result.stderr


def test_output_parses_as_yaml_documents():
    documents = list(yaml.load_all(emit_text(chain(3)), Loader=yaml.CSafeLoader))
    assert [d["kind"] for d in documents] == ["WorkflowTemplate"]


def test_larger_object_budget_for_server_side_apply():
    from transpile.config import SplitConfig

    config = DeployConfig(split=SplitConfig(max_object_bytes=1024 * 1024))
    documents = check_argo_documents(emit_text(chain(10_000), config), hera=False)
    assert 2 <= len(documents) < 4 and max(sizes(documents)) < LIMIT
    default = yaml.load_all(emit_text(chain(10_000)), Loader=yaml.CSafeLoader)
    assert len(documents) < len(list(default))


@pytest.mark.parametrize("value", ["2000000", "1000", "lots"])
def test_object_budget_is_validated(tmp_path, value):
    from tests.conftest import run_cli

    (tmp_path / "p.yaml").write_text("name: p\ndefaults: {image: i}\nsteps: {a: {stub: true}}\n")
    (tmp_path / "d.yaml").write_text(f"split: {{max_object_bytes: {value}}}\n")
    result = run_cli("compile", "p.yaml", "-c", "d.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "d.yaml:1" in result.stderr and "max_object_bytes" in result.stderr


def test_a_parameter_too_large_for_any_object_is_refused(tmp_path):
    from tests.conftest import run_cli

    big = "x" * 300_000
    (tmp_path / "p.yaml").write_text(
        f"name: p\ndefaults: {{image: i}}\nparameters: {{big: {big}}}\nsteps: {{a: {{stub: true}}}}\n"
    )
    result = run_cli("compile", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "split.max_object_bytes" in result.stderr and "Traceback" not in result.stderr
