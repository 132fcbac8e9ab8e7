"""The model of a `pod:` section (`transpile.ir.pod`), built from the pinned Kubernetes schema on first use.

Importing this module builds the pydantic models of every Kubernetes object a section holds
(`transpile.ir.kube_schema.models`), which costs tens of milliseconds: only a pipeline or deploy config
that has a `pod:` section (or `transpile schema`) imports it, through `transpile.ir.pod.pod_model`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from transpile.ir import rules
from transpile.ir.kube_schema import KubeModel, model, problem
from transpile.ir.pod import ANNOTATIONS_LIMIT, ENGINE_MOUNTS, ENGINE_VOLUMES


def _strings(what: str):
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key, item in value.items():
            if not isinstance(item, str):
                shown = str(item).lower() if isinstance(item, bool) else str(item)
                hint = f'quote it: {key}: "{shown}" (Kubernetes {what} are strings)'
                raise problem(f"{what[:-1]} {key}: expected a string, got {shown}", hint)
        return value

    return check


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        rules.check_label(key, item)
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        rules.check_label_key(key)  # annotation keys follow the label key rule
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > ANNOTATIONS_LIMIT:
        raise ValueError(f"annotations hold {size} bytes; Kubernetes allows at most {ANNOTATIONS_LIMIT} in all")
    return value


Labels = Annotated[dict[str, str], BeforeValidator(_strings("labels")), AfterValidator(_labels)]
AnnotationMap = Annotated[dict[str, str], BeforeValidator(_strings("annotations")), AfterValidator(_annotations)]
LocalObjectReference = model("LocalObjectReference")
PodSecurityContext = model("PodSecurityContext")
SecurityContext = model("SecurityContext")
Affinity = model("Affinity")
TopologySpreadConstraint = model("TopologySpreadConstraint")
Volume = model("Volume")
VolumeMount = model("VolumeMount")
PriorityClass = Annotated[str, AfterValidator(lambda v: rules.check_dns_subdomain(v, "priority class name"))]


class Pod(KubeModel):
    """Kubernetes settings of a step's pod, in Kubernetes' spelling (camelCase)."""

    image_pull_secrets: tuple[LocalObjectReference, ...] | None = Field(
        None, alias="imagePullSecrets", description="Secrets for pulling the image: [{name: regcred}]."
    )
    security_context: PodSecurityContext | None = Field(
        None, alias="securityContext", description="The pod's security context (runAsUser, fsGroup, ...)."
    )
    container_security_context: SecurityContext | None = Field(
        None, alias="containerSecurityContext", description="The step container's security context."
    )
    labels: Labels | None = Field(None, description="Labels of the pod.")
    annotations: AnnotationMap | None = Field(None, description="Annotations of the pod.")
    affinity: Affinity | None = Field(None, description="Node affinity, pod affinity and anti-affinity.")
    topology_spread_constraints: tuple[TopologySpreadConstraint, ...] | None = Field(
        None, alias="topologySpreadConstraints", description="How pods spread over zones or nodes."
    )
    priority_class_name: PriorityClass | None = Field(None, alias="priorityClassName", description="PriorityClass.")
    volumes: tuple[Volume, ...] | None = Field(None, description="Extra volumes: configMap, secret or emptyDir.")
    volume_mounts: tuple[VolumeMount, ...] | None = Field(
        None, alias="volumeMounts", description="Where the step's container mounts the volumes."
    )

    @field_validator("volumes")
    @classmethod
    def _volume_names(cls, volumes: tuple | None) -> tuple | None:
        names = [v.name for v in volumes or ()]
        for name in names:
            if name in ENGINE_VOLUMES:
                raise ValueError(f"volume name '{name}' is {ENGINE_VOLUMES[name]} volume: choose another name")
            if names.count(name) > 1:
                raise ValueError(f"volume name '{name}' is used twice")
        return volumes

    @field_validator("volume_mounts")
    @classmethod
    def _mount_paths(cls, mounts: tuple | None) -> tuple | None:
        paths = [m.mount_path for m in mounts or ()]
        for path in paths:
            if path.rstrip("/") in ENGINE_MOUNTS:
                raise ValueError(f"mountPath '{path}' is where {ENGINE_MOUNTS[path.rstrip('/')]} mounts its volume")
            if paths.count(path) > 1:
                raise ValueError(f"mountPath '{path}' is used twice")
        return mounts
