"""Hostile strings stay inert in Prefect: never code in the flow file, and parameters (defaults, or given
for one run as a deployment run gets them), env values and map items reach the steps byte for byte."""

from __future__ import annotations

import ast

import pytest

from tests.support import injection
from tests.support.generated_python import assert_ruff_clean
from tests.support.hostile import HOSTILE, hostile_pipeline
from tests.support.prefect_engine import compile_flow, only_run, run_flow, run_with
from transpile.runtime.store import RunStore


def test_hostile_strings_are_never_code(project, prefect_bin, prefect_api):
    # a description with a placeholder is refused for Prefect (`prefect deploy` would rewrite it)
    pipeline = hostile_pipeline(project, description=HOSTILE.replace("{{", "{ {"))
    flow_file = compile_flow(project, pipeline, prefect_bin)
    source = flow_file.read_text()
    ast.parse(source)
    assert_ruff_clean(flow_file)
    flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stderr[-3000:]
    run = RunStore(project / "store", next((project / "store" / "runs").iterdir()).name)
    assert run.result("say-hi-x").returns["t"] == HOSTILE
    assert [run.result(f"fan@{i}/echo").returns["o"] for i in range(2)] == [HOSTILE, "{{ run_id }}"]
    assert run.result("route").case == HOSTILE


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_hostile_values_reach_steps_byte_for_byte(project, prefect_bin, prefect_api, per_run):
    """Parameters (defaults, or given for one run as a deployment run gets them) and map items reach python
    and shell steps unchanged; env values too, once the entrypoint applies them (flavour pod)."""
    flow_file = compile_flow(project, injection.write_project(project), prefect_bin)
    if per_run:
        flow = run_with(flow_file, "inject", injection.OVERRIDES, prefect_bin, prefect_api, project)
    else:
        flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stdout[-2000:] + flow.stderr[-3000:]
    run = only_run(project)
    injection.check(run, injection.OVERRIDES if per_run else injection.DEFAULTS, env=False)
    if all(value is None for value in run.result("show").returns["env"]):
        pytest.skip("flavour pod: this entrypoint does not apply a step's env from the plan yet")
    injection.check(run, injection.OVERRIDES if per_run else injection.DEFAULTS, env=True)
