"""What both benchmark scripts need."""

from __future__ import annotations

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def precompile() -> None:
    """Byte-compile transpile, as installing a wheel does (PYTHONDONTWRITEBYTECODE would otherwise make
    every measured process recompile the package from source)."""
    compileall.compile_dir(str(REPO / "transpile"), quiet=1)
