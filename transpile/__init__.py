"""transpile: compile pipeline DAGs to Argo Workflows, Airflow and Prefect, and run them locally.

The Python form of a pipeline is built with `Flow` (see `transpile.frontends.python`); `run`, `load_run`,
`list_runs` and `compile` are the Python API (see `transpile.api`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transpile.api import CompileError, RunNotFound, compile, list_runs, load_run, run
    from transpile.errors import TranspileError
    from transpile.frontends.python import Flow
    from transpile.results import NodeRun, Run, RunFailed

__all__ = [
    "CompileError",
    "Flow",
    "NodeRun",
    "Run",
    "RunFailed",
    "RunNotFound",
    "TranspileError",
    "__version__",
    "compile",
    "list_runs",
    "load_run",
    "run",
]
__version__ = "0.1.0"

# Lazy, so that `transpile execute-node` in a pod imports none of this.
_LAZY = {
    "Flow": "transpile.frontends.python",
    "TranspileError": "transpile.errors",
    "NodeRun": "transpile.results",
    "Run": "transpile.results",
    "RunFailed": "transpile.results",
    "CompileError": "transpile.api",
    "RunNotFound": "transpile.api",
    "compile": "transpile.api",
    "list_runs": "transpile.api",
    "load_run": "transpile.api",
    "run": "transpile.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'transpile' has no attribute '{name}'")
    from importlib import import_module

    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
