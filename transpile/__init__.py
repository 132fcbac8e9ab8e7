"""transpile: compile pipeline DAGs to Argo Workflows, Airflow and Prefect.

The Python form of a pipeline is built with `Flow` (see `transpile.frontends.python`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transpile.frontends.python import Flow

__all__ = ["Flow", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `transpile execute-node` in a pod does not pay for the SDK.
    if name == "Flow":
        from transpile.frontends.python import Flow

        return Flow
    raise AttributeError(name)
