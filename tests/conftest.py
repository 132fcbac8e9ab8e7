"""Shared fixtures: running the CLI in a subprocess, the golden-file switch, and the real engines' session fixtures
(tests/support/engine_fixtures.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"

# airflow_bin, airflow_home, prefect_bin, prefect_api, process_pool, slurm, shellcheck: defined once, in a plugin,
# so that every module using them shares one instance per session (a fixture defined in, or imported into, a test
# module is instantiated once per module).
pytest_plugins = ["tests.support.engine_fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite tests/golden from the current compiler output (never in CI)",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    wanted = bool(request.config.getoption("--update-goldens"))
    if wanted and os.environ.get("CI") == "true":
        pytest.fail("--update-goldens is refused under CI=true")
    return wanted


def run_cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, input: str | None = None):
    """Run `python -m transpile ARGS` and return the CompletedProcess (text mode)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "transpile", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli


# Packages and modules whose tests wait longest (real engines, big specs) go first, so that pytest-xdist's workers
# are not left with one long test at the end of the run. Within a module the order stays as written.
SLOW_FIRST = (
    "tests.test_wide_maps",  # its four engine tests take 30-60 s each: last, they leave one worker idle
    "tests.slurm",
    "tests.prefect",
    "tests.airflow",
    "tests.test_parity",
    "tests.test_packaging",
    "tests.test_scale",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.module.__name__ if item.module else ""
        ranks = (i for i, name in enumerate(SLOW_FIRST) if module == name or module.startswith(name + "."))
        return next(ranks, len(SLOW_FIRST))

    items.sort(key=rank)
