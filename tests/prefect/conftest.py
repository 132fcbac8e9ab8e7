"""The Prefect tests' project: a copy of the samples in the test's own directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import SAMPLES


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the samples in the test's directory."""
    shutil.copytree(SAMPLES, tmp_path / "samples")
    return tmp_path
