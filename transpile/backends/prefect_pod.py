"""A pod's Kubernetes settings on Prefect: in each node's Job (flavour `job`) and in the flow's own pod.

A node's Job manifest is built at run time by `transpile.runtime.prefect_tasks.job_manifest` from the
flow file's settings: the pod's fields go there as Kubernetes JSON (`spec` and `container` fields, extra
`volumes` and `volumeMounts`, pod `labels` and `annotations`). The flow's pod is made by the work pool's
base job template, which transpile writes with a variable per setting; `prefect.yaml` sets them from the
control nodes' settings (the deploy config's `pod` under `defaults.pod`, its `control_resources`).
`prefect deploy` renders `{{ }}` in prefect.yaml, so a pod setting holding `{{` is refused there.
"""

from __future__ import annotations

from typing import Any

from transpile.backends import kube
from transpile.backends.base import Refusals
from transpile.plan.model import Pod, Settings


def job_fields(settings: Settings) -> dict[str, Any]:
    """A node Job's pod settings for the flow file's SPEC (only what is set)."""
    out: dict[str, Any] = {}
    spec: dict[str, Any] = {}
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    pod = settings.pod
    if pod is not None:
        spec.update(_spec(pod))
        if pod.container_security_context:
            out["container"] = {"securityContext": pod.container_security_context}
        for key, value in (("volumes", pod.volumes), ("volumeMounts", pod.volume_mounts)):
            if value:
                out[key] = list(value)
        for key, value in (("labels", pod.labels), ("annotations", pod.annotations)):
            if value:
                out[key] = dict(value)
    if spec:
        out["spec"] = spec
    return out


def _spec(pod: Pod) -> dict[str, Any]:
    fields = {
        "imagePullSecrets": kube.pull_secrets(pod),
        "securityContext": pod.security_context,
        "affinity": pod.affinity,
        "topologySpreadConstraints": list(pod.topology_spread_constraints),
        "priorityClassName": pod.priority_class_name,
    }
    return {key: value for key, value in fields.items() if value}


def flow_pod_variables(control: Settings, refusals: Refusals) -> dict[str, Any]:
    """The job variables of the flow's pod (the base job template's names) for its pod settings."""
    pod = control.pod
    resources = kube.resources(control)
    if pod is None:
        return {"container_resources": resources} if resources else {}
    for path, text in kube.pod_strings(pod):
        if "{{" in text:
            where = ".".join(str(p) for p in ("pod", *path))
            refusals.unsupported(
                f"the flow pod's setting {where} holds '{{{{', which `prefect deploy` would render",
                doc=("defaults", "pod", *path),
                hint="Prefect renders {{ }} in prefect.yaml: leave it out of the pod settings",
            )
    spec = _spec(pod)
    names = {
        "imagePullSecrets": "image_pull_secrets",
        "securityContext": "pod_security_context",
        "affinity": "affinity",
        "topologySpreadConstraints": "topology_spread_constraints",
        "priorityClassName": "priority_class_name",
    }
    variables = {names[key]: value for key, value in spec.items()}
    if pod.container_security_context:
        variables["container_security_context"] = pod.container_security_context
    if resources:
        variables["container_resources"] = resources
    if pod.labels:
        variables["pod_labels"] = dict(pod.labels)
    if pod.annotations:
        variables["pod_annotations"] = dict(pod.annotations)
    return variables
