"""`airflow dags test` runs the local flavour to the same results as `transpile run`: the sample, the cache
entries `transpile run` wrote, retries, failures and on_failure."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.support.airflow_engine import compile_to, dags_test
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from tests.support.pipelines import OPS_PIPELINE
from transpile.compiler import compile_pipeline
from transpile.runtime.store import RunStore


def run_both(project: Path, airflow_bin: Path, home: Path, pipeline: str) -> tuple[int, dict, dict]:
    """Run `pipeline` with `airflow dags test` (local flavour) and with `transpile run`; their results."""
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    compile_to(project, pipeline, dags, "--flavour", "local", "-c", "deploy.yaml")
    dag_id = compile_pipeline(str(project / pipeline.split(":")[0])).pipeline.name
    test = dags_test(airflow_bin, home, dags, dag_id)
    store = project / ".transpile" / "store"
    runs = [p.name for p in (store / "runs").iterdir()]
    assert len(runs) == 1, (runs, test.stdout[-2000:], test.stderr[-3000:])
    local = run_cli("run", pipeline, "--store", "local", "--run-id", "local", cwd=project)
    airflow_run, local_run = RunStore(store, runs[0]), RunStore(project / "local", "local")

    assert (test.returncode == 0) == (local.returncode == 0), (test.stdout[-3000:], local.stderr)
    return test.returncode, outcomes(airflow_run), outcomes(local_run)


def test_local_flavour_runs_the_sample_like_transpile_run(project, airflow_bin, airflow_home):
    code, airflow_results, local_results = run_both(project, airflow_bin, airflow_home, "samples/etl.yaml")
    assert code == 0
    assert airflow_results == local_results
    assert [airflow_results[f"clean@{i}/load"]["returns"]["n"] for i in range(3)] == [30, 31, 32]
    assert airflow_results["route"]["case"] == "ship" and "route/hold/notify" not in airflow_results
    assert "noop" in airflow_results and "on_failure/alert" not in airflow_results


def test_local_flavour_hits_the_cache_entries_of_transpile_run(project, airflow_bin, airflow_home):
    """Entries `transpile run` wrote on the store settle every cached node of `airflow dags test` (no process,
    same values); the DAG param transpile_cache=off runs them all again."""
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    store = project / ".transpile" / "store"
    local = run_cli("run", "samples/etl.yaml", "--store", str(store), "--run-id", "local", cwd=project)
    assert local.returncode == 0, local.stderr
    dags = project / "dags"
    compile_to(project, "samples/etl.yaml", dags, "--flavour", "local", "-c", "deploy.yaml")
    runs: list[RunStore] = []
    for conf in (None, {"transpile_cache": "off"}):
        test = dags_test(airflow_bin, airflow_home, dags, "etl-daily", conf)
        assert test.returncode == 0, (test.stdout[-2000:], test.stderr[-3000:])
        new = [
            p.name for p in (store / "runs").iterdir() if p.name != "local" and p.name not in {r.run_id for r in runs}
        ]
        assert len(new) == 1, new
        runs.append(RunStore(store, new[0]))
    hit, off = runs
    assert outcomes(hit) == outcomes(RunStore(store, "local")) == outcomes(off)
    sources = cached_from(hit)
    assert {key for key, source in sources.items() if source is None} == ETL_CONTROL_NODES
    assert set(sources.values()) == {"local", None}
    assert set(cached_from(off).values()) == {None}  # --no-cache as a per-run DAG param


def test_local_flavour_retries_failures_and_on_failure(project, airflow_bin, airflow_home):
    (project / "ops.yaml").write_text(OPS_PIPELINE)
    code, airflow_results, local_results = run_both(project, airflow_bin, airflow_home, "ops.yaml")
    assert code != 0
    assert airflow_results == local_results
    assert airflow_results["flaky"]["returns"] == {"r": "ok"}
    assert [airflow_results[f"m@{i}/sq"]["returns"]["y"] for i in range(2)] == [1, 4]
    assert "boom" not in airflow_results and "never" not in airflow_results
    assert airflow_results["on_failure/alert"]["returns"] == {"page": "paging ops"}
    flaky = RunStore(project / ".transpile" / "store", next((project / ".transpile/store/runs").iterdir()).name)
    assert [a.status for a in flaky.attempts("flaky")] == ["failed", "succeeded"]
