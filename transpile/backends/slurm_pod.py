"""What SLURM makes of the Kubernetes settings: resource limits become the job's allocation, pod settings are
refused (a SLURM job is no pod: it has no security context, volumes, labels or scheduling constraints).

A job gets what `sbatch` allocates and SLURM confines it there, as Kubernetes confines a container to its
limits: `--cpus-per-task` and `--mem` take a step's limits when set (its requests otherwise), and its
ephemeral-storage request becomes `--tmp` (local disk the node must have); SLURM has no disk cap, so an
ephemeral-storage limit is not enforced there (like the other Kubernetes placement settings the SLURM
target ignores). A `pod:` section and a step's `service_account` have no SLURM meaning and are refused,
once where written: the deploy config's, `defaults`' (the control nodes' settings) and each step's that
differ from them.
"""

from __future__ import annotations

from transpile.backends.base import Refusals
from transpile.plan.model import Plan, Settings, Step

HINT = "a SLURM job is not a pod: remove it, or compile this pipeline for a Kubernetes target"


def allocation(settings: Settings) -> tuple[object | None, object | None]:
    """(cpu, memory) a job is given: the limit when set, else the request."""
    res = settings.resources
    if res is None:
        return None, None
    limits = res.limits
    cpu = limits.cpu if limits is not None and limits.cpu is not None else res.cpu
    memory = limits.memory if limits is not None and limits.memory is not None else res.memory
    return cpu, memory


def refuse(plan: Plan, refusals: Refusals, tasks: list[Step]) -> None:
    """Refuse the pod settings of the plan, each where it is written."""
    if plan.deploy.pod is not None:
        refusals.unsupported("the deploy config's `pod` section has no meaning on SLURM", hint=HINT)
    control = plan.control
    if control.pod is not None and control.pod != plan.deploy.pod:
        refusals.unsupported("`defaults.pod` has no meaning on SLURM", doc=("defaults", "pod"), hint=HINT)
    if control.service_account:
        message = "`defaults.service_account` has no meaning on SLURM"
        refusals.unsupported(message, doc=("defaults", "service_account"), hint=HINT)
    for step in tasks:
        settings = step.settings or Settings()
        if settings.pod is not None and settings.pod != control.pod:
            refusals.unsupported("`pod` settings have no meaning on SLURM", step, doc=("pod",), hint=HINT)
        if settings.service_account and settings.service_account != control.service_account:
            message = "a step's `service_account` has no meaning on SLURM"
            refusals.unsupported(message, step, doc=("service_account",), hint=HINT)
