"""The SLURM tests' project: the samples, a deploy config running this tree's transpile, a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.slurm_jobs import make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project (tests/support/slurm_jobs.py) in the test's directory."""
    return make_project(tmp_path / "project")
