"""The real Airflow 3.3.2 the tests run: its requirements, a process environment for it, compiling a pipeline
into a DAG folder, loading that folder (tests/support/airflow_probe.py) and `airflow dags test`.

The session's Airflow venv and home are fixtures of tests/support/engine_fixtures.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import run_cli

AIRFLOW = ["apache-airflow==3.3.2", "apache-airflow-providers-cncf-kubernetes"]
KUBECONFIG = {  # any reachable-looking cluster: the provider builds pods without talking to it
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "test",
    "clusters": [{"name": "test", "cluster": {"server": "http://127.0.0.1:9"}}],
    "users": [{"name": "test", "user": {"token": "x"}}],
    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "data"}}],
}

PROBE = Path(__file__).resolve().parent / "airflow_probe.py"


def airflow_env(home: Path, airflow_bin: Path, dags: Path) -> dict[str, str]:
    """The environment of an Airflow command: this home and DAG folder, no examples, the venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PATH=f"{airflow_bin}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def compile_to(project: Path, pipeline: str, dags: Path, *extra: str) -> Path:
    """Compile `pipeline` for Airflow into the folder `dags`; the DAG file written."""
    dags.mkdir(parents=True, exist_ok=True)
    result = run_cli("compile", pipeline, "-t", "airflow", "-o", str(dags) + "/", *extra, cwd=project)
    assert result.returncode == 0, result.stderr
    return next(dags.glob("*.py"))


def probe(airflow_bin: Path, home: Path, dags: Path, *extra: str, env: dict | None = None) -> dict:
    """What tests/support/airflow_probe.py reports of the DAG folder (DagBag's import errors, each DAG's tasks)."""
    result = subprocess.run(
        [str(airflow_bin / "python"), str(PROBE), str(dags), *extra],
        env={**airflow_env(home, airflow_bin, dags), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def dags_test(
    airflow_bin: Path, home: Path, dags: Path, dag_id: str, conf: dict | None = None
) -> subprocess.CompletedProcess:
    """`airflow dags test` of one DAG; `conf` overrides its params for this run."""
    return subprocess.run(
        [str(airflow_bin / "airflow"), "dags", "test", dag_id, *(["-c", json.dumps(conf)] if conf else [])],
        env=airflow_env(home, airflow_bin, dags),
        capture_output=True,
        text=True,
        timeout=600,
    )
