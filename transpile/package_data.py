"""Locate the data shipped with the package (templates/, schemas/), installed or in a checkout.

An installed wheel holds them as `transpile/templates` and `transpile/schemas`; a checkout (including an
editable install) has them at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def templates_dir() -> Path:
    """Directory of the jinja2 templates for generated Python."""
    return _data_dir("templates")


def schemas_dir() -> Path:
    """Directory of the JSON Schemas."""
    return _data_dir("schemas")
