"""The code base and the samples are ruff-clean and ruff-formatted, and no Python module of the project (transpile/,
its tests, benchmarks, tools and samples) is too long."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

MAX_MODULE_LINES = 450
PYTHON_FOLDERS = ("transpile", "tests", "benchmarks", "tools", "samples")  # with setup.py, all the repo's Python


def ruff(*args: str) -> subprocess.CompletedProcess:
    """ruff from this interpreter's environment (a declared test dependency, so never skipped)."""
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)


def test_ruff_clean():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_is_too_long():
    long = {
        str(path.relative_to(REPO)): n
        for path in [*REPO.glob("*.py"), *(p for folder in PYTHON_FOLDERS for p in (REPO / folder).rglob("*.py"))]
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by purpose): {long}"
