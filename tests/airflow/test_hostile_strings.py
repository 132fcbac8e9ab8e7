"""Hostile strings stay inert in Airflow: never code in the DAG file, never a Jinja template, and they
reach steps and pods byte for byte (parameters by default or per run, env values, map items)."""

from __future__ import annotations

import ast
import json

import jinja2.sandbox
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import injection
from tests.support.airflow_engine import compile_to, dags_test, probe
from tests.support.generated_python import assert_ruff_clean
from tests.support.hostile import HOSTILE, hostile_pipeline
from transpile.backends.pysource import jinja_inert
from transpile.plan.params import encode
from transpile.runtime.store import RunStore


@pytest.mark.parametrize("flavour", ["kubernetes", "local"])
def test_hostile_strings_are_never_code(project, flavour, airflow_bin, airflow_home):
    pipeline = hostile_pipeline(project)
    dags = project / "dags"
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    path = compile_to(project, pipeline, dags, "--flavour", flavour, "-c", "deploy.yaml")
    source = path.read_text()
    ast.parse(source)
    assert_ruff_clean(path)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    dag = info["dags"]["hostile"]
    assert dag["params"]["text"] == HOSTILE
    for task_id in dag["tasks"]:
        assert len(task_id) <= 250 and task_id.isascii()
    if flavour == "kubernetes":
        return
    code = dags_test(airflow_bin, airflow_home, dags, "hostile")
    assert code.returncode == 0, code.stdout[-3000:] + code.stderr[-3000:]
    store = project / ".transpile" / "store"
    run = RunStore(store, next((store / "runs").iterdir()).name)
    assert run.result("say-hi-x").returns == {"t": HOSTILE, "e": HOSTILE}
    assert [run.result(f"fan@{i}/echo").returns["o"] for i in range(2)] == [HOSTILE, "{{ run_id }}"]
    assert run.result("route").case == HOSTILE


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_hostile_values_reach_steps_byte_for_byte(project, airflow_bin, airflow_home, per_run):
    """Parameters (defaults, or given per run with `-c`), env values and map items pass Airflow's Jinja
    rendering unchanged, into python and shell steps."""
    pipeline = injection.write_project(project)
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    compile_to(project, pipeline, dags, "--flavour", "local", "-c", "deploy.yaml")
    conf = injection.OVERRIDES if per_run else None
    test = dags_test(airflow_bin, airflow_home, dags, "inject", conf)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    store = project / ".transpile" / "store"
    run = RunStore(store, next((store / "runs").iterdir()).name)
    injection.check(run, conf or injection.DEFAULTS)


@given(st.text())
def test_jinja_inert_text_renders_to_itself(text):
    """Any string made inert renders back to itself (Airflow renders with a sandboxed Jinja environment)."""
    environment = jinja2.sandbox.SandboxedEnvironment()
    assert environment.from_string(jinja_inert(text)).render() == text


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_hostile_values_survive_kubernetes_pod_rendering(project, airflow_bin, airflow_home, per_run):
    """Flavour kubernetes: the DAG imports, its params are the declared values, and the env of every pod as
    Airflow renders its templated fields for a run (defaults, or values given per run) holds each env value
    and each parameter's text byte for byte: `{{x}}`, `{% %}`, values ending in .sh/.bash/.j2/.json and
    number-like keys included."""
    pipeline = injection.write_project(project)
    dags = project / "dags"
    compile_to(project, pipeline, dags)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    assert info["dags"]["inject"]["params"] == injection.DEFAULTS
    conf = injection.OVERRIDES if per_run else {}
    rendered = probe(airflow_bin, airflow_home, dags, "--render", "inject", json.dumps(conf))
    assert rendered["import_errors"] == {}
    values = injection.DEFAULTS | conf
    run_env = {f"TRANSPILE_PARAM_{name}": encode(value) for name, value in values.items()}
    run_env["TRANSPILE_RUN_ID"] = "manual__2026-01-01T00:00:00+00:00"
    for task_id in ("show", "sh"):
        assert rendered["rendered"][task_id] == injection.ENV | run_env, task_id
    assert rendered["rendered"]["fan._items"] == run_env  # a control node: no step env


def test_local_commands_never_read_a_value_as_a_template_file(project, airflow_bin, airflow_home):
    """Flavour local: an env value ending in .sh is a value, not a template file to load (BashOperator's
    template_ext), even when the DAG folder holds a file of that name."""
    pipeline = injection.write_project(project)
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    compile_to(project, pipeline, dags, "--flavour", "local", "-c", "deploy.yaml")
    (dags / "run.sh").write_text("{{ 6 * 7 }}\n")  # rendered as Jinja, it would become the value
    rendered = probe(airflow_bin, airflow_home, dags, "--render", "inject", "{}")
    name = next(key for key, value in injection.ENV.items() if value == "run.sh")
    assert rendered["rendered"]["show"][name] == "run.sh"
