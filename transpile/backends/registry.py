"""Backend registry: built-ins plus third-party backends from the entry-point group `transpile.backends`."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from transpile.backends.base import Backend
from transpile.errors import Diagnostic, TranspileError, did_you_mean

GROUP = "transpile.backends"

BUILTIN: dict[str, str] = {
    "argo": "transpile.backends.argo:ArgoBackend",
    "airflow": "transpile.backends.airflow:AirflowBackend",
    "prefect": "transpile.backends.prefect:PrefectBackend",
    "slurm": "transpile.backends.slurm:SlurmBackend",
}


def _load(target: str) -> Backend:
    module, _, attribute = target.partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    return factory()


def available() -> dict[str, str]:
    """Backend name -> 'module:attribute', built-ins first, then plugins (a plugin may not shadow one)."""
    found = dict(BUILTIN)
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        found.setdefault(entry.name, entry.value)
    return found


def get_backend(name: str) -> Backend:
    """The backend called `name`; an unknown name raises a TranspileError with a did-you-mean."""
    targets = available()
    if name not in targets:
        hint = did_you_mean(name, targets) or f"available: {', '.join(targets)}"
        raise TranspileError([Diagnostic(f"unknown target '{name}'", hint=hint)])
    try:
        return _load(targets[name])
    except Exception as exc:  # a broken plugin must not crash the CLI with a traceback
        raise TranspileError(
            [Diagnostic(f"cannot load backend '{name}' ({targets[name]}): {type(exc).__name__}: {exc}")]
        ) from None
