"""A pod's Kubernetes settings as KubernetesPodOperator arguments, in the DAG file's Python source.

Kubernetes objects become the client's model objects (`k8s.V1PodSecurityContext(run_as_user=1000)`),
built from the plan's JSON through the pinned schema, which knows each field's model and attribute name.
The operator has an argument for every setting but `topologySpreadConstraints`, which comes through
`full_pod_spec` (a pod the operator's own pod is laid over). Of these arguments only `labels`,
`annotations` and the volumes' and mounts' names and sub-paths are rendered by Airflow's Jinja, so those
strings are made inert; the others reach the pod as they are.
"""

from __future__ import annotations

from typing import Any

from transpile.backends.pysource import jinja_inert, py
from transpile.ir.kube_schema import definitions
from transpile.plan.model import Pod, Settings

# Fields the operator renders as templates (KubernetesPodOperator._render_nested_template_fields).
RENDERED = {("Volume", "name"), ("ConfigMapVolumeSource", "name"), ("VolumeMount", "name"), ("VolumeMount", "subPath")}
SIDECAR_USER = 65534  # the XCom sidecar's user when the pod must run as non-root and names no user


def k8s_object(definition: str, data: dict[str, Any]) -> str:
    """Python source building the client model of `definition` from its JSON data."""
    body = definitions()[definition]
    parts = []
    for key, value in data.items():
        spec = body["properties"][key]
        parts.append(f"{spec['python']}={_value(definition, key, spec, value)}")
    return f"k8s.{body['python']}({', '.join(parts)})"


def _value(owner: str, key: str, spec: dict[str, Any], value: Any) -> str:
    if "ref" in spec:
        return k8s_object(spec["ref"], value)
    kind = spec.get("type")
    if kind == "array":
        return "[" + ", ".join(_value(owner, key, spec["items"], item) for item in value) + "]"
    if kind == "map":
        return "{" + ", ".join(f"{py(k)}: {_value(owner, key, spec['values'], v)}" for k, v in value.items()) + "}"
    if (owner, key) in RENDERED and isinstance(value, str):
        return py(jinja_inert(value))
    return py(value)


def _objects(definition: str, items: Any) -> str:
    return "[" + ", ".join(k8s_object(definition, item) for item in items) + "]"


def sidecar_context(pod: Pod) -> dict[str, Any] | None:
    """The XCom sidecar's security context: the step container's, running as an unprivileged user when the pod
    must run as non-root and names no user (the sidecar's image runs as root)."""
    context = dict(pod.container_security_context or {})
    pod_context = pod.security_context or {}
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if non_root and "runAsUser" not in context and "runAsUser" not in pod_context:
        context["runAsUser"] = SIDECAR_USER
    return context or None


def pod_fields(settings: Settings, labels: dict[str, str], control: bool) -> list[tuple[str, str]]:
    """The operator arguments of a pod's settings, as (keyword, Python source)."""
    fields: list[tuple[str, str]] = []
    if settings.service_account:
        fields.append(("service_account_name", py(settings.service_account)))
    pod = settings.pod
    if pod is None:
        return fields
    if pod.image_pull_secrets:
        fields.append(
            ("image_pull_secrets", _objects("LocalObjectReference", ({"name": n} for n in pod.image_pull_secrets)))
        )
    if pod.security_context:
        fields.append(("security_context", k8s_object("PodSecurityContext", pod.security_context)))
    if pod.container_security_context:
        fields.append(("container_security_context", k8s_object("SecurityContext", pod.container_security_context)))
    sidecar = sidecar_context(pod) if control else None
    if sidecar:
        fields.append(("xcom_sidecar_container_security_context", k8s_object("SecurityContext", sidecar)))
    if pod.labels:
        fields.append(("labels", py({k: jinja_inert(v) for k, v in {**labels, **pod.labels}.items()})))
    if pod.annotations:
        fields.append(("annotations", py({k: jinja_inert(v) for k, v in pod.annotations.items()})))
    if pod.affinity:
        fields.append(("affinity", k8s_object("Affinity", pod.affinity)))
    if pod.priority_class_name:
        fields.append(("priority_class_name", py(pod.priority_class_name)))
    if pod.topology_spread_constraints:
        spread = _objects("TopologySpreadConstraint", pod.topology_spread_constraints)
        fields.append(
            ("full_pod_spec", f"k8s.V1Pod(spec=k8s.V1PodSpec(containers=[], topology_spread_constraints={spread}))")
        )
    if pod.volumes:
        fields.append(("volumes", f'POD_DEFAULTS["volumes"] + {_objects("Volume", pod.volumes)}'))
    if pod.volume_mounts:
        fields.append(
            ("volume_mounts", f'POD_DEFAULTS["volume_mounts"] + {_objects("VolumeMount", pod.volume_mounts)}')
        )
    return fields
