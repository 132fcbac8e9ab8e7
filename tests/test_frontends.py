"""The YAML and Python forms build the same IR and the same bytes; compilation is deterministic."""

from __future__ import annotations

import os
import sys

import pytest

from benchmarks.pipelines import chain
from tests.conftest import run_cli
from transpile.compiler import compile_data, compile_pipeline
from transpile.frontends.yaml import load_yaml_document


def test_yaml_and_python_forms_give_the_same_ir_and_hash():
    from_yaml = compile_pipeline("samples/etl.yaml")
    from_python = compile_pipeline("samples/etl.py")
    assert from_yaml.pipeline == from_python.pipeline
    assert from_yaml.hash == from_python.hash


def test_yaml_and_python_forms_compile_to_byte_identical_argo(tmp_path):
    # With the in-image pipeline path fixed by the deploy config, nothing distinguishes the two forms.
    config = tmp_path / "deploy.yaml"
    config.write_text("pipeline_file: pipelines/etl.yaml\n")
    outputs = []
    for form in ("samples/etl.yaml", "samples/etl.py", "samples/etl.py:flow"):
        result = run_cli("compile", form, "-c", str(config))
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]


def test_without_config_forms_differ_only_by_source_path():
    yaml_out = run_cli("compile", "samples/etl.yaml").stdout
    py_out = run_cli("compile", "samples/etl.py").stdout
    assert yaml_out != py_out
    assert yaml_out.replace("samples/etl.yaml", "SRC") == py_out.replace("samples/etl.py", "SRC")


def test_output_is_identical_across_processes_and_hash_seeds():
    outputs = {
        run_cli("compile", "samples/etl.yaml", env={"PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1


def test_ten_thousand_step_chain_has_no_recursion_limit_problem():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # far below the chain's length: only iterative code can pass
    try:
        data, source = load_yaml_document(chain(10_000), "chain.yaml")
        compiled = compile_data(data, source, "chain.yaml")
        from transpile.backends.argo import ArgoBackend
        from transpile.backends.base import EmitOptions
        from transpile.plan.lower import lower

        text = ArgoBackend().emit(lower(compiled), EmitOptions())
    finally:
        sys.setrecursionlimit(limit)
    assert text.count("template: task-") == 10_000


def test_compiling_yaml_never_imports_step_code(tmp_path):
    (tmp_path / "boom.py").write_text("raise SystemExit('step code was imported')\n")
    (tmp_path / "p.yaml").write_text("name: p\ndefaults: {image: i}\nsteps: {a: {python: boom:run}}\n")
    result = run_cli("compile", "p.yaml", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("attribute", ["", ":flow"])
def test_python_reference_forms(attribute):
    compiled = compile_pipeline(f"samples/etl.py{attribute}")
    assert compiled.source_file == "samples/etl.py"


def test_python_sdk_accepts_callables_and_step_handles(tmp_path):
    (tmp_path / "steps_mod.py").write_text("def extract():\n    return 1\n")
    (tmp_path / "flow.py").write_text(
        "from transpile import Flow\nimport steps_mod\n"
        "flow = Flow('p', defaults={'image': 'i'})\n"
        "a = flow.python('a', steps_mod.extract, returns=['x'])\n"
        "flow.shell('b', 'echo $x', needs=[a])\n"
    )
    compiled = compile_pipeline(str(tmp_path / "flow.py"))
    assert compiled.pipeline.steps["a"].python == "steps_mod:extract"
    assert compiled.pipeline.steps["b"].needs == ("a",)


def test_defaults_merge_per_key(tmp_path):
    data, source = load_yaml_document(
        "name: p\ndefaults: {image: i, env: {A: '1', B: '2'}, resources: {cpu: 1, memory: 1Gi}, retries: 3}\n"
        "steps:\n  a: {python: m:f, env: {B: '3'}, resources: {gpu: 1}, retries: {limit: 0}}\n",
        "p.yaml",
    )
    step = compile_data(data, source, "p.yaml").pipeline.steps["a"]
    assert step.env == {"A": "1", "B": "3"}
    assert (step.resources.cpu, step.resources.memory, step.resources.gpu) == (1, "1Gi", 1)
    assert step.retries.limit == 0 and step.image == "i"


def test_short_forms_hash_like_long_forms():
    def digest(text: str) -> str:
        data, source = load_yaml_document(text, "p.yaml")
        return compile_data(data, source, "p.yaml").hash

    short = digest("name: p\nsteps: {a: {python: m:f, retries: 2, timeout: 90}}\n")
    long = digest("name: p\nsteps: {a: {python: m:f, retries: {limit: 2}, timeout: 1m30s}}\n")
    assert short == long


def test_environment_does_not_leak_into_output():
    a = run_cli("compile", "samples/etl.yaml", env={"TZ": "Asia/Tokyo", "LANG": "C"}).stdout
    b = run_cli("compile", "samples/etl.yaml", env={"TZ": "UTC", "LANG": os.environ.get("LANG", "")}).stdout
    assert a == b


def test_a_case_named_with_spaces_is_a_case_like_any_other(tmp_path, monkeypatch):
    """Only the empty case name is refused (as documented); a case of spaces routes like any other."""
    from tests.conftest import run_cli

    (tmp_path / "p.yaml").write_text(
        "name: p\nparameters: {m: ' '}\nsteps:\n  s:\n    switch:\n      on: m\n      cases:\n"
        "        ' ': {steps: {a: {shell: 'echo one > \"$TRANSPILE_RETURNS/v\"', returns: [v]}}}\n"
        "        '  ': {steps: {b: {shell: 'echo two > \"$TRANSPILE_RETURNS/v\"', returns: [v]}}}\n"
    )
    assert run_cli("check", "p.yaml", "-t", "argo", cwd=tmp_path).returncode == 2  # no image: but not the name
    assert "cannot be named" not in run_cli("check", "p.yaml", "-t", "argo", cwd=tmp_path).stderr
    for given in ([], ["-p", "m=  "]):
        run = run_cli("run", "p.yaml", "--store", "store", *given, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
    from transpile.results import read_runs

    monkeypatch.chdir(tmp_path)  # the runs name their pipeline file relative to where they ran
    assert [r.values["v"] for r in read_runs(tmp_path / "store")] == ["one", "two"]
