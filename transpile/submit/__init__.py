"""`transpile submit`: compiled specs onto a Kubernetes cluster with Argo Workflows (see `command`).

Modules: `command` (the command and its order of work), `checks` (offline checks of the objects),
`kubeconfig` (reading the kubeconfig as kubectl does), `cluster` (the API calls, timeouts and errors).
"""

from __future__ import annotations

from typing import Any


def _run(args: Any) -> int:
    from transpile.submit.command import submit

    return submit(args)


def register(sub: Any) -> None:
    """Add the `submit` command to the CLI (its modules load only when it runs)."""
    from transpile.submit.command import add_arguments

    p = sub.add_parser("submit", help="create or update the compiled specs on a cluster; optionally run them")
    add_arguments(p, _run)
