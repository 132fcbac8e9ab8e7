"""Locate the data shipped with the package (templates/, schemas/), installed or in a checkout."""

from __future__ import annotations

from pathlib import Path


def _data_dir(package: str, checkout_name: str) -> Path:
    try:
        import importlib.resources as resources

        found = Path(str(resources.files(package)))
        if found.is_dir():
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / checkout_name


def templates_dir() -> Path:
    """Directory of the jinja2 templates for generated Python."""
    return _data_dir("transpile.templates", "templates")


def schemas_dir() -> Path:
    """Directory of the JSON Schemas."""
    return _data_dir("transpile.schemas", "schemas")
