"""Virtualenvs with the real engines (Airflow, Prefect), built by the test suite itself and cached.

Each engine gets its own virtualenv (their pins conflict with each other), under
`$TRANSPILE_TEST_CACHE` (default `~/.cache/transpile-tests`), keyed by its requirements. transpile is
installed into it once (editable, no dependencies: its console script and dependencies); every process
the tests start in the venv gets `checkout_env()`, whose PYTHONPATH makes it import THIS checkout, so
several checkouts share one venv without reinstalling into it (and without racing each other).
Creation is serialised with a file lock, as pytest-xdist workers start together.
Without the network the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = ["setuptools>=68", "wheel"]  # to install this checkout into the venv without further downloads


def cache_root() -> Path:
    return Path(os.environ.get("TRANSPILE_TEST_CACHE") or Path.home() / ".cache" / "transpile-tests")


def _fail_or_skip(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def engine_venv(name: str, requirements: list[str]) -> Path:
    """A virtualenv with `requirements` and this checkout of transpile installed; returns its bin dir."""
    key = hashlib.sha256("\n".join([sys.version, *requirements, *BUILD]).encode()).hexdigest()[:12]
    root = cache_root() / f"{name}-{key}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = root / ".ready"
        python = root / "bin" / "python"
        if not ready.is_file():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
            install = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements, *BUILD],
                capture_output=True,
                text=True,
            )
            if install.returncode != 0:
                _fail_or_skip(f"cannot install {name} ({' '.join(requirements)}):\n{install.stderr[-3000:]}")
            ready.write_text("\n".join(requirements) + "\n")
        installed = subprocess.run([str(python), "-c", "import transpile"], capture_output=True)
        if installed.returncode != 0:  # any checkout's editable install will do: PYTHONPATH picks this one
            install = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--no-build-isolation",
                    "-e",
                    str(REPO),
                ],
                capture_output=True,
                text=True,
            )
            if install.returncode != 0:
                _fail_or_skip(f"cannot install transpile into the {name} venv:\n{install.stderr[-3000:]}")
    found = subprocess.run(
        [str(python), "-c", "import transpile; print(transpile.__file__)"],
        env={**os.environ, **checkout_env()},
        capture_output=True,
        text=True,
    )
    assert found.stdout.startswith(str(REPO / "transpile")), (found.stdout, found.stderr[-2000:])
    return root / "bin"


def checkout_env() -> dict[str, str]:
    """Environment for a process in an engine venv: it imports transpile from this checkout."""
    return {"PYTHONPATH": str(REPO)}
