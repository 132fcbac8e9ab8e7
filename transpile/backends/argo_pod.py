"""A pod's Kubernetes settings as Argo template fields.

Argo has a template field for nearly every one: `metadata` (the pod's labels and annotations),
`serviceAccountName`, `priorityClassName`, `affinity`, `securityContext` (the pod's), `volumes`, and the
container's `securityContext` and `volumeMounts`. Two have none: `imagePullSecrets` is a field of the whole
workflow (used when every pod has the same list, else each template patches its own) and
`topologySpreadConstraints` exists only in a pod, so both go through `podSpecPatch`. Argo substitutes `{{`
anywhere in a template, so a pod setting holding it is refused.
"""

from __future__ import annotations

import json
from typing import Any

from transpile.backends import argo_models as m
from transpile.backends import kube
from transpile.backends.base import Refusals
from transpile.plan.model import Plan, Settings, Step

TAG = "{{"


def shared_pull_secrets(plan: Plan) -> tuple[str, ...]:
    """The image pull secrets of every pod, when all have the same (for the workflow's field), else ()."""
    found = {(s.settings.pod.image_pull_secrets if s.settings and s.settings.pod else ()) for s in plan.task_steps()}
    if any(node.role != "task" for node in plan.nodes.values()):
        found.add(plan.control.pod.image_pull_secrets if plan.control.pod else ())
    return next(iter(found)) if len(found) == 1 else ()


def template_fields(settings: Settings, shared_secrets: tuple[str, ...]) -> dict[str, Any]:
    """The Template keyword arguments of a pod's settings (service account, metadata, placement, security)."""
    pod = settings.pod
    fields: dict[str, Any] = {"service_account_name": settings.service_account}
    if pod is None:
        return fields
    if pod.labels or pod.annotations:
        fields["metadata"] = m.ObjectMeta(labels=pod.labels or None, annotations=pod.annotations or None)
    fields.update(
        priority_class_name=pod.priority_class_name,
        affinity=pod.affinity,
        security_context=pod.security_context,
        volumes=pod.volumes,
    )
    patch: dict[str, Any] = {}
    if pod.image_pull_secrets != shared_secrets and pod.image_pull_secrets:
        patch["imagePullSecrets"] = kube.pull_secrets(pod)
    if pod.topology_spread_constraints:
        patch["topologySpreadConstraints"] = list(pod.topology_spread_constraints)
    if patch:
        fields["pod_spec_patch"] = json.dumps(patch, separators=(",", ":"), ensure_ascii=False)
    return fields


def container_fields(settings: Settings | None, store_mount: m.VolumeMount) -> dict[str, Any]:
    """The Container keyword arguments of a pod's settings: its security context and volume mounts (the
    run store's first)."""
    pod = settings.pod if settings is not None else None
    if pod is None:
        return {"volume_mounts": (store_mount,)}
    return {"security_context": pod.container_security_context, "volume_mounts": (store_mount, *pod.volume_mounts)}


def refuse_tags(refusals: Refusals, step: Step | None, settings: Settings) -> None:
    """Refuse `{{` in a pod's settings (a step's, or with `step` None the control nodes')."""
    for path, text in kube.pod_strings(settings.pod):
        if TAG not in text:
            continue
        where = ".".join(str(p) for p in ("pod", *path))
        hint = "Argo has no escaping for '{{' in a template"
        if step is None:
            message = f"the control nodes' pod setting {where} holds '{{{{', which Argo would read as its own syntax"
            refusals.unsupported(message, doc=("defaults", "pod", *path), hint=hint)
        else:
            message = f"{where} holds '{{{{', which Argo would read as its own template syntax"
            refusals.unsupported(message, step, doc=("pod", *path), hint=hint)
