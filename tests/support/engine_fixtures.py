"""The real engines' session fixtures: one Airflow venv and home, one Prefect server (with its work pool) and one
SLURM cluster per test session, whichever test modules use them.

tests/conftest.py registers this module as a plugin (`pytest_plugins`). A test module must not define or import
these fixtures: a fixture function defined in (or imported into) a module is instantiated once per module,
which would migrate a second Airflow home or start a second server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.airflow_engine import AIRFLOW, airflow_env
from tests.support.prefect_engine import PREFECT, QUIET, start_server, stop_server
from tests.support.shared import session_dir, shared_by_workers
from tests.support.slurm_cluster import SlurmUnavailable, cluster_of, ensure_installed, start_state, stop_state
from tests.support.venvs import engine_env, engine_venv


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    """The bin directory of the Airflow venv (built once, cached: tests/support/venvs.py)."""
    return engine_venv("airflow", AIRFLOW)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, airflow_bin) -> Path:
    """An AIRFLOW_HOME whose database `airflow db migrate` created, for the whole session."""
    home = tmp_path_factory.mktemp("airflow-home")
    result = subprocess.run(
        [str(airflow_bin / "airflow"), "db", "migrate"],
        env=airflow_env(home, airflow_bin, home / "dags"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return home


@pytest.fixture(scope="session")
def prefect_bin() -> Path:
    """The bin directory of the Prefect venv (built once, cached: tests/support/venvs.py)."""
    return engine_venv("prefect", PREFECT)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory, prefect_bin):
    """One Prefect server for every worker of the session."""
    base = session_dir(tmp_path_factory, "prefect")
    with shared_by_workers(base, lambda home: start_server(home, prefect_bin), stop_server) as state:
        yield {"PREFECT_API_URL": state["url"], "PREFECT_HOME": state["home"], **QUIET}


@pytest.fixture(scope="session")
def process_pool(prefect_bin, prefect_api) -> str:
    """The work pool prefect.yaml names, created as a `process` pool: a worker runs each flow run as a local
    process (the job variables of the Kubernetes pool are ignored), after the deployment's pull step."""
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | prefect_api)
    created = subprocess.run(
        # --overwrite: the session's workers share one server, and each creates the pool it needs
        [
            str(prefect_bin / "prefect"),
            "work-pool",
            "create",
            "transpile-kubernetes",
            "--type",
            "process",
            "--overwrite",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    return "transpile-kubernetes"


def _unavailable(reason: str):
    """Skip without SLURM, except under CI=true, where it must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"SLURM must run under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node cluster for the whole session; its environment (SLURM_CONF, this tree on PYTHONPATH)."""
    with ExitStack() as stack:
        try:
            state = stack.enter_context(
                shared_by_workers(session_dir(tmp_path_factory, "slurm"), start_state, stop_state)
            )
        except SlurmUnavailable as exc:
            _unavailable(str(exc))
        env = dict(cluster_of(state).env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        yield env


@pytest.fixture(scope="session")
def shellcheck() -> str:
    """The shellcheck binary (installed with SLURM's packages)."""
    try:
        ensure_installed()
    except SlurmUnavailable as exc:
        _unavailable(str(exc))
    return shutil.which("shellcheck") or "/usr/bin/shellcheck"
