"""Generated Python passes the lint rules the project holds its own code to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUFF_RULES = ["--select", "E,F,W,I,B,UP", "--line-length", "120", "--target-version", "py310"]


def assert_ruff_clean(path: Path) -> None:
    """Generated code passes ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade for Python 3.10)."""
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", *RUFF_RULES, str(path)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
