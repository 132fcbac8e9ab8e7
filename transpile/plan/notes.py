"""Notes about a plan for `transpile run`, which runs no pods (imports only the plan's model)."""

from __future__ import annotations

from transpile.plan.model import Plan


def kubernetes_only(plan: Plan) -> str | None:
    """One line naming what a local run ignores: the Kubernetes-only settings of the steps, if any set them."""
    steps = []
    for step in plan.task_steps():
        settings = step.settings
        if settings is None:
            continue
        resources = settings.resources
        if (
            settings.pod is not None
            or settings.service_account
            or (resources is not None and (resources.limits is not None or resources.ephemeral_storage is not None))
        ):
            steps.append(step.id)
    if not steps:
        return None
    named = ", ".join(steps[:3]) + (f" and {len(steps) - 3} more" if len(steps) > 3 else "")
    return (
        f"note: transpile run ignores the Kubernetes pod settings of {named} (pod, service_account, resource "
        "limits, ephemeral_storage): they apply to pods on Argo, Airflow and Prefect"
    )
