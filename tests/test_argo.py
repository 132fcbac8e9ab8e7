"""The Argo output is accepted by a v4.1.2 cluster (CRD schema + CEL, hera models, Argo's rules) and maps
the pipeline's control flow onto Argo as documented."""

from __future__ import annotations

import pytest
import yaml

from benchmarks.pipelines import chain, nested_maps, wide
from tests.conftest import run_cli
from tests.support.argo_check import check_argo_documents, require_shared
from transpile.backends.argo import ArgoBackend
from transpile.backends.base import EmitOptions
from transpile.compiler import compile_data, compile_pipeline
from transpile.config import DeployConfig, VolumeConfig
from transpile.frontends.yaml import load_yaml_document
from transpile.plan.lower import lower


@pytest.fixture(autouse=True)
def _crds():
    require_shared()


def emit_text(text: str, config: DeployConfig | None = None, with_claim: bool = False) -> str:
    data, source = load_yaml_document(text, "test.yaml")
    compiled = compile_data(data, source, "test.yaml")
    return ArgoBackend().emit(lower(compiled, config or DeployConfig()), EmitOptions(with_claim=with_claim))


def templates_of(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def test_sample_is_accepted():
    result = run_cli("compile", "samples/etl.yaml", "-c", "samples/deploy.yaml", "--with-claim")
    assert result.returncode == 0, result.stderr
    docs = check_argo_documents(result.stdout)
    assert [d["kind"] for d in docs] == ["WorkflowTemplate", "PersistentVolumeClaim"]


def test_sample_structure_matches_pipeline():
    doc = check_argo_documents(ArgoBackend().emit(lower(compile_pipeline("samples/etl.yaml")), EmitOptions()))[0]
    assert doc["metadata"]["name"] == "etl-daily"
    assert doc["spec"]["arguments"]["parameters"] == [
        {"name": "date", "value": "2026-01-01"},
        {"name": "shards", "value": '["a","b","c"]'},
        {"name": "transpile_cache", "value": "on"},  # the run's cache mode: the sample caches its steps
    ]
    templates = templates_of(doc)
    main = {t["name"]: t for t in templates["main"]["dag"]["tasks"]}
    assert list(main) == ["extract", "clean", "train", "gate", "route", "noop"]
    assert main["clean"]["depends"] == "extract" and main["noop"]["depends"] == "route"
    assert "depends" not in main["extract"]
    # map: fan-out node, then withParam over its output
    clean = {t["name"]: t for t in templates["clean"]["dag"]["tasks"]}
    assert clean["each"]["withParam"] == "{{tasks.items.outputs.parameters.value}}"
    assert clean["each"]["depends"] == "items"
    # switch: when compares the select output with each case's sanitized key
    route = {t["name"]: t for t in templates["route"]["dag"]["tasks"]}
    assert route["case-ship"]["when"] == "'{{tasks.select.outputs.parameters.value}}' == 'ship'"
    assert doc["spec"]["onExit"] == "on-exit"
    exit_task = templates["on-exit"]["dag"]["tasks"][0]
    assert exit_task["when"] == "'{{workflow.status}}' != 'Succeeded'"
    # settings: retries, timeout, resources, gpu, env, secrets, selectors, tolerations
    task = templates[main["extract"]["template"]]
    assert task["retryStrategy"] == {
        "limit": 2,
        "retryPolicy": "Always",
        "backoff": {"duration": "30s", "factor": 2, "cap": "600s"},
    }
    assert task["timeout"] == "1800s"
    assert task["nodeSelector"] == {"pool": "batch"}
    assert task["tolerations"] == [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]
    container = task["container"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in container["env"]
    assert container["volumeMounts"] == [{"name": "store", "mountPath": "/mnt/transpile"}]
    gpu_template = templates[templates["train-xgb"]["dag"]["tasks"][0]["template"]]
    assert gpu_template["container"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    args = container["args"]
    assert args[:2] == ["execute-node", "--pipeline"]
    assert args[args.index("--run-id") + 1] == "{{workflow.name}}"
    assert args[args.index("--hash") + 1] == doc["metadata"]["annotations"]["transpile.io/pipeline-hash"]


def test_entrypoint_command_is_documented_and_fixed():
    doc = yaml.load(
        emit_text("name: a\ndefaults: {image: img}\nparameters: {x: 1}\nsteps: {s: {stub: true}}\n"),
        Loader=yaml.CSafeLoader,
    )
    container = next(t for t in doc["spec"]["templates"] if "container" in t)["container"]
    assert container["command"] == ["transpile"]
    args = container["args"]
    assert args[0] == "execute-node"
    for flag in ("--pipeline", "--hash", "--store", "--run-id", "--node", "--indices"):
        assert flag in args
    assert args[-2:] == ["--param-b64", "x={{=sprig.b64enc(workflow.parameters['x'])}}"]


@pytest.mark.parametrize(
    "text",
    [chain(1000), wide(1000), nested_maps(1000)],
    ids=["chain-1000", "wide-1000", "nested-maps-1000"],
)
def test_thousand_steps_accepted(text):
    doc = check_argo_documents(emit_text(text))[0]
    assert len(doc["spec"]["templates"]) <= 200
    for template in doc["spec"]["templates"]:
        if "dag" in template:
            assert len(template["dag"]["tasks"]) <= 200


def test_chunked_chain_keeps_order():
    doc = yaml.load(emit_text(chain(450)), Loader=yaml.CSafeLoader)
    templates = templates_of(doc)
    parts = templates["main"]["dag"]["tasks"]
    assert [p["name"] for p in parts] == ["part-1", "part-2", "part-3"]
    assert parts[1]["depends"] == "part-1" and parts[2]["depends"] == "part-2"
    first = templates[parts[0]["template"]]["dag"]["tasks"]
    assert len(first) == 200 and first[1]["depends"] == "s0"
    second = templates[parts[1]["template"]]["dag"]["tasks"]
    assert second[0]["name"] == "s200" and "depends" not in second[0]


def test_identical_branches_share_one_template():
    doc = yaml.load(emit_text(wide(300)), Loader=yaml.CSafeLoader)
    assert len(doc["spec"]["templates"]) < 10


def test_switch_values_with_quotes_and_spaces_never_reach_when():
    text = (
        'name: q\ndefaults: {image: img}\nparameters: {v: "it\'s a/b"}\nsteps:\n'
        "  r:\n    switch:\n      on: v\n      cases:\n"
        '        "it\'s a/b": {steps: {x: {stub: true}}}\n        \'say "hi"\': {steps: {y: {stub: true}}}\n'
    )
    doc = check_argo_documents(emit_text(text))[0]
    whens = [t.get("when") for t in templates_of(doc)["r"]["dag"]["tasks"] if t.get("when")]
    assert whens == [
        "'{{tasks.select.outputs.parameters.value}}' == 'it-s-a-b'",
        "'{{tasks.select.outputs.parameters.value}}' == 'say-hi'",
    ]


def test_volume_claim_template_mode():
    config = DeployConfig(volume=VolumeConfig(mode="template", size="5Gi"))
    doc = check_argo_documents(emit_text(chain(3), config))[0]
    assert "volumes" not in doc["spec"]
    claim = doc["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "store"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_long_names_are_truncated_with_stable_hash():
    long = "x" * 100
    text = "name: n\ndefaults: {image: img}\nsteps:\n"
    text += f"  {long}a:\n    parallel:\n      b: {{steps: {{c: {{stub: true}}}}}}\n"
    text += f"  {long}b:\n    parallel:\n      b: {{steps: {{c: {{shell: 'true'}}}}}}\n"
    out = emit_text(text)
    doc = check_argo_documents(out)[0]
    names = [t["name"] for t in doc["spec"]["templates"]]
    assert len(set(names)) == len(names) and all(len(n) <= 63 for n in names)
    assert out == emit_text(text)


def test_digit_leading_and_colliding_template_names():
    text = (
        "name: n\ndefaults: {image: img}\nsteps:\n"
        "  1st: {stub: true}\n"
        "  main:\n    parallel:\n      a: {steps: {x: {shell: 'true'}}}\n"
    )
    doc = check_argo_documents(emit_text(text))[0]
    tasks = templates_of(doc)["main"]["dag"]["tasks"]
    assert tasks[0]["name"] == "s-1st"
    assert tasks[1]["template"] != "main"


def emit_error(text: str, flavour: str | None = None) -> str:
    """The report of a pipeline Argo refuses, through the one emit path (located like any compile error)."""
    from transpile.emit import emit_files
    from transpile.errors import TranspileError

    data, source = load_yaml_document(text, "test.yaml")
    compiled = compile_data(data, source, "test.yaml")
    with pytest.raises(TranspileError) as caught:
        emit_files(compiled, DeployConfig(), "argo", EmitOptions(flavour=flavour))
    return str(caught.value)


def test_refusals_are_located_and_never_placeholders():
    report = emit_error("name: p\nsteps:\n  a: {stub: true}\n  b: {shell: 'true', image: img}\n")
    assert "no image for this step" in report and "test.yaml:3:3" in report and "missing" not in report
    control = emit_error(
        "name: p\nsteps:\n  m: {map: {over: xs, as: x, steps: {a: {stub: true, image: i}}}}\nparameters: {xs: [1]}\n"
    )
    assert "control node" in control
    assert "no flavour 'job'" in emit_error("name: p\ndefaults: {image: i}\nsteps: {a: {stub: true}}\n", "job")


def test_argo_backend_reads_only_the_plan():
    import ast
    from pathlib import Path

    for module in ("argo", "argo_build", "argo_split", "argo_models", "kube"):
        tree = ast.parse(Path(f"transpile/backends/{module}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.col_offset == 0}
        forbidden = {"transpile.passes", "transpile.compiler", "transpile.config", "transpile.ir.models"}
        assert not {i for i in imported if i and i.startswith(tuple(forbidden))}, module
