"""The real engines' session fixtures: one Airflow venv and home per test session, whichever test modules use them.

tests/conftest.py registers this module as a plugin (`pytest_plugins`). A test module must not define or import
these fixtures: a fixture function defined in (or imported into) a module is instantiated once per module,
which would migrate a second Airflow home.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.airflow_engine import AIRFLOW, airflow_env
from tests.support.venvs import engine_venv


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
