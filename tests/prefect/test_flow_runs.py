"""Flows run in a real Prefect 3.8.8 (a local server shared by the session) to the same results as
`transpile run`: the sample, retries, failures that fail the flow after on_failure, a switch inside a map,
no caching between runs unless `transpile run` wrote the entries, parameter names Python or Prefect reserve."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from tests.support.pipelines import OPS_PIPELINE
from tests.support.prefect_engine import compile_flow, only_run, run_flow, run_with
from transpile.runtime.store import RunStore


def run_both(project: Path, pipeline: str, prefect_bin: Path, api: dict) -> tuple[int, dict, dict, RunStore]:
    flow_file = compile_flow(project, pipeline, prefect_bin)
    flow = run_flow(flow_file, prefect_bin, api, project)
    runs = [p.name for p in (project / "store" / "runs").iterdir()]
    assert len(runs) == 1, (flow.stdout[-2000:], flow.stderr[-3000:])
    local = run_cli("run", pipeline, "--store", "local", "--run-id", "local", cwd=project)
    assert (flow.returncode == 0) == (local.returncode == 0), (flow.stderr[-3000:], local.stderr)
    prefect_run = RunStore(project / "store", runs[0])
    return flow.returncode, outcomes(prefect_run), outcomes(RunStore(project / "local", "local")), prefect_run


@pytest.mark.parametrize("sample", ["samples/etl.yaml", "samples/etl.py"])
def test_sample_flow_runs_like_transpile_run(project, prefect_bin, prefect_api, sample):
    code, prefect_results, local_results, _ = run_both(project, sample, prefect_bin, prefect_api)
    assert code == 0
    assert prefect_results == local_results
    assert [prefect_results[f"clean@{i}/load"]["returns"]["n"] for i in range(3)] == [30, 31, 32]
    assert prefect_results["route"]["case"] == "ship" and "route/hold/notify" not in prefect_results
    assert "noop" in prefect_results and "on_failure/alert" not in prefect_results


def test_retries_failure_fails_the_flow_and_on_failure_runs(project, prefect_bin, prefect_api):
    (project / "ops.yaml").write_text(OPS_PIPELINE)
    code, prefect_results, local_results, run = run_both(project, "ops.yaml", prefect_bin, prefect_api)
    assert code != 0
    assert prefect_results == local_results
    assert [a.status for a in run.attempts("flaky")] == ["failed", "succeeded"]
    assert [prefect_results[f"m@{i}/sq"]["returns"]["y"] for i in range(2)] == [1, 4]
    assert "boom" not in prefect_results and "never" not in prefect_results
    assert prefect_results["on_failure/alert"]["returns"] == {"page": "paging ops"}


def test_switch_inside_a_map_routes_each_item(project, prefect_bin, prefect_api):
    (project / "sw.yaml").write_text(
        "name: sw\nparameters: {xs: [a, b, a]}\nsteps:\n"
        "  m:\n    map:\n      over: xs\n      as: x\n      steps:\n"
        "        s:\n          switch:\n            on: x\n            cases:\n"
        "              a: {steps: {ta: {shell: 'echo A > \"$TRANSPILE_RETURNS/v\"', returns: [v]}}}\n"
        "              b: {steps: {tb: {shell: 'echo B > \"$TRANSPILE_RETURNS/v\"', returns: [v]}}}\n"
        '  after: {needs: [m], shell: \'echo "$v" > "$TRANSPILE_RETURNS/all"\', returns: [all]}\n'
    )
    code, prefect_results, local_results, _ = run_both(project, "sw.yaml", prefect_bin, prefect_api)
    assert code == 0 and prefect_results == local_results
    assert prefect_results["after"]["returns"]["all"] == ["A", "B", "A"]


def test_no_caching_between_runs(project, prefect_bin, prefect_api):
    flow_file = compile_flow(project, "samples/etl.yaml", prefect_bin)
    for _ in range(2):
        assert run_flow(flow_file, prefect_bin, prefect_api, project).returncode == 0
    runs = [RunStore(project / "store", p.name) for p in (project / "store" / "runs").iterdir()]
    assert len(runs) == 2
    assert outcomes(runs[0]) == outcomes(runs[1]) and len(outcomes(runs[0])) == 14


def test_parameter_names_that_would_shadow_are_taken_as_keywords(project, prefect_bin, prefect_api):
    (project / "names.yaml").write_text(
        "name: names\nparameters: {start: 1, params: 2, dict: 3, class: 4}\n"
        'steps:\n  s: {shell: \'echo "$start$params$dict$class" > "$TRANSPILE_RETURNS/v"\', returns: [v]}\n'
    )
    flow_file = compile_flow(project, "names.yaml", prefect_bin)
    assert "**params: Any" in flow_file.read_text()
    assert run_flow(flow_file, prefect_bin, prefect_api, project).returncode == 0
    run = RunStore(project / "store", next((project / "store" / "runs").iterdir()).name)
    assert run.result("s").returns["v"] == 1234


def test_flow_hits_the_cache_entries_of_transpile_run(project, prefect_bin, prefect_api):
    """Entries `transpile run` wrote on the store settle every cached node of the flow run (no process, same
    values); the flow parameter transpile_cache=off runs them all again."""
    flow_file = compile_flow(project, "samples/etl.yaml", prefect_bin)
    local = run_cli("run", "samples/etl.yaml", "--store", "store", "--run-id", "local", cwd=project)
    assert local.returncode == 0, local.stderr
    store = project / "store"
    flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stderr[-3000:]
    (hit,) = [RunStore(store, p.name) for p in (store / "runs").iterdir() if p.name != "local"]
    off_run = run_with(flow_file, "etl_daily", {"transpile_cache": "off"}, prefect_bin, prefect_api, project)
    assert off_run.returncode == 0, off_run.stderr[-3000:]
    (off,) = [RunStore(store, p.name) for p in (store / "runs").iterdir() if p.name not in ("local", hit.run_id)]
    assert outcomes(hit) == outcomes(RunStore(store, "local")) == outcomes(off)
    sources = cached_from(hit)
    assert {key for key, source in sources.items() if source is None} == ETL_CONTROL_NODES
    assert set(sources.values()) == {"local", None}
    assert set(cached_from(off).values()) == {None}


RESERVED = {"wait_for": "w", "return_state": [1], "class": "c", "_hidden": "h", "start": "s", "params": {"k": 1}}


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_prefect_reserved_parameter_names_are_routed_through_params(project, prefect_bin, prefect_api, per_run):
    """`wait_for` and `return_state` (Prefect refuses them as flow arguments), Python keywords and names
    the flow uses go through `**params`, whose defaults the flow function holds; a run gives them under
    `params`, as Prefect binds them."""
    (project / "names.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "names",
                "parameters": {"date": "d", **RESERVED},
                "steps": {"s": {"python": "names_steps:show", "returns": ["v"]}},
            }
        )
    )
    (project / "names_steps.py").write_text("def show(**values):\n    return values\n")
    flow_file = compile_flow(project, "names.yaml", prefect_bin)
    source = flow_file.read_text()
    assert 'def names(date: Any = "d", **params: Any) -> None:' in source
    deployment = yaml.load((flow_file.parent / "prefect.yaml").read_text(), Loader=yaml.CSafeLoader)["deployments"][0]
    assert "parameters" not in deployment  # the defaults are the flow function's (`**params` for these)
    expected = {"date": "d", **RESERVED}
    if per_run:
        run_values = {"wait_for": "W", "return_state": [2, 3], "class": "C", "_hidden": "H", "start": "S"}
        given = {"date": "D", "params": run_values | {"params": {"k": 2}}}
        expected = {"date": "D", **given["params"]}
        flow = run_with(flow_file, "names", given, prefect_bin, prefect_api, project)
    else:
        flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stdout[-2000:] + flow.stderr[-3000:]
    assert only_run(project).result("s").returns["v"] == expected
