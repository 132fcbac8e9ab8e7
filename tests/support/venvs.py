"""Virtualenvs with the real engines (Airflow, Prefect), built by the test suite itself from scratch and cached.

Each engine gets its own virtualenv (their pins conflict with each other), under `$TRANSPILE_TEST_CACHE`
(default `$XDG_CACHE_HOME/transpile-tests`, else `~/.cache/transpile-tests`). Its directory name is a key of
everything that went into it: the Python version, the engine's requirements and the hash of this checkout's
source (`transpile/`, `templates/`, `schemas/`, the packaging files). transpile is installed into it from the
checkout, non-editable, as a user's `pip install .` would, and the install is checked from a directory outside
the checkout with no PYTHONPATH, so an import that only works from the checkout cannot pass for it. A venv is
marked ready only after both installs and the check succeed; anything else (a half-built or stale directory) is
removed and built again, never reused. Creation is serialised with a file lock, as pytest-xdist workers start
together; venvs of other source hashes are pruned, keeping the newest few.
Without the network the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = ["setuptools>=77", "wheel"]  # to build this checkout inside the venv without further downloads
SOURCES = ("transpile", "templates", "schemas")
PACKAGING = ("pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md")
KEEP = 3  # venvs kept per engine (other source hashes), newest first


def cache_root() -> Path:
    configured = os.environ.get("TRANSPILE_TEST_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transpile-tests"


@functools.cache
def source_hash() -> str:
    """Hash of every file a `pip install .` of this checkout puts into a venv (names and contents)."""
    digest = hashlib.sha256()
    files = [REPO / name for name in PACKAGING if (REPO / name).is_file()]
    for top in SOURCES:
        files += sorted(p for p in (REPO / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _fail_or_skip(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _install(python: Path, *args: str) -> subprocess.CompletedProcess:
    """Install into the venv of `python` with uv (a test dependency): from its cache, an engine's ~150
    packages take seconds where pip takes a minute or more, so a venv per source hash stays cheap."""
    command = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(python), *args]
    return subprocess.run(command, capture_output=True, text=True)


def _build(root: Path, name: str, requirements: list[str]) -> None:
    """Create the venv at `root` from nothing; mark it ready only when everything in it works."""
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(root)], check=True)
    python = root / "bin" / "python"
    install = _install(python, *requirements, *BUILD)
    if install.returncode != 0:
        _fail_or_skip(f"cannot install {name} ({' '.join(requirements)}):\n{install.stderr[-3000:]}")
    with tempfile.TemporaryDirectory() as build_dir:  # a copy: the build must not write into the checkout
        copy = Path(build_dir) / "transpile"
        shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", ".transpile", "*.egg-info"))
        install = _install(python, "--no-deps", "--no-build-isolation", str(copy))
    if install.returncode != 0:
        _fail_or_skip(f"cannot install transpile into the {name} venv:\n{install.stderr[-3000:]}")
    problem = installed_problem(root)
    if problem:
        pytest.fail(f"transpile installed into the {name} venv does not work: {problem}")
    (root / ".ready").write_text(source_hash() + "\n" + "\n".join(requirements) + "\n")


def installed_problem(root: Path) -> str | None:
    """Why the venv's own transpile is not this checkout's (None when it is), checked from outside the
    checkout with no PYTHONPATH: its module, its console script and its data files."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    with tempfile.TemporaryDirectory() as elsewhere:
        where = subprocess.run(
            [str(root / "bin" / "python"), "-c", "import transpile; print(transpile.__file__)"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
        )
        if where.returncode != 0 or not where.stdout.startswith(str(root)):
            return f"`import transpile` gives {where.stdout.strip() or where.stderr[-500:]!r}"
        version = subprocess.run(
            [str(root / "bin" / "transpile"), "--version"], cwd=elsewhere, env=env, capture_output=True, text=True
        )
        if version.returncode != 0:
            return f"`transpile --version` exits {version.returncode}: {version.stderr[-500:]}"
    return None


def _prune(name: str, keep: Path) -> None:
    """Remove this engine's venvs of other source hashes beyond the newest few (each holds ~0.5 GB)."""
    others = [p for p in cache_root().glob(f"{name}-*") if p.is_dir() and p != keep]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def engine_venv(name: str, requirements: list[str]) -> Path:
    """A virtualenv with `requirements` and this checkout of transpile installed; returns its bin dir."""
    key = hashlib.sha256("\n".join([sys.version, *requirements, *BUILD]).encode()).hexdigest()[:12]
    root = cache_root() / f"{name}-{key}-{source_hash()}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = root / ".ready"
        if not (ready.is_file() and ready.read_text().startswith(source_hash())):
            _build(root, name, requirements)
            _prune(name, root)
        os.utime(root)
    return root / "bin"


def engine_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a process in an engine venv: without PYTHONPATH/PYTHONHOME, so it runs the venv's own transpile."""
    return {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
