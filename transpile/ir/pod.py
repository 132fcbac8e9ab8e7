"""The `pod:` section: Kubernetes settings of the pods transpile creates, written as Kubernetes writes them.

It is a fragment of a pod, in Kubernetes' own spelling (camelCase), so an example from the Kubernetes
documentation pastes in as it is: `imagePullSecrets`, `securityContext` (the pod's), `containerSecurityContext`
(the step's container), `labels` and `annotations` (the pod's metadata), `affinity`,
`topologySpreadConstraints`, `priorityClassName`, `volumes` (configMap, secret, emptyDir) and `volumeMounts`.
The rest of the format is transpile's own (snake_case); a key of one spelling written in the other gets a
did-you-mean. `merge` layers sections (deploy config, `defaults`, a step): mappings key by key, lists and
scalars replaced whole.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from transpile.ir import rules
from transpile.ir.kube_schema import KubeModel, model, problem

STORE_VOLUME = "store"  # the run store's volume, which every backend mounts under this name
# Volumes and mount paths the engines add to pods themselves (Argo's executor, Airflow's XCom sidecar).
ENGINE_VOLUMES = {STORE_VOLUME: "the run store's", "var-run-argo": "Argo's executor's", "xcom": "Airflow's XCom"}
ENGINE_MOUNTS = {"/var/run/argo": "Argo's executor", "/airflow/xcom": "Airflow's XCom sidecar"}
ANNOTATIONS_LIMIT = 256 * 1024  # apimachinery TotalAnnotationSizeLimitB
# Fields merged key by key when sections are layered; the others are replaced whole.
MERGED = ("labels", "annotations", "security_context", "container_security_context", "affinity")
# Keys people write at the step level (or in snake_case) that belong in `pod:`.
POD_KEYS = {
    "imagePullSecrets": "imagePullSecrets",
    "image_pull_secrets": "imagePullSecrets",
    "securityContext": "securityContext",
    "security_context": "securityContext",
    "containerSecurityContext": "containerSecurityContext",
    "container_security_context": "containerSecurityContext",
    "annotations": "annotations",
    "labels": "labels",
    "affinity": "affinity",
    "topologySpreadConstraints": "topologySpreadConstraints",
    "topology_spread_constraints": "topologySpreadConstraints",
    "priorityClassName": "priorityClassName",
    "priority_class_name": "priorityClassName",
    "priority_class": "priorityClassName",
    "volumes": "volumes",
    "volumeMounts": "volumeMounts",
    "volume_mounts": "volumeMounts",
    "fsGroup": "securityContext",
    "fs_group": "securityContext",
    "runAsUser": "securityContext",
    "runAsNonRoot": "securityContext",
}
# Keys of a pod spec that transpile takes elsewhere, with where.
ELSEWHERE = {
    "nodeSelector": "the step's `node_selector`",
    "tolerations": "the step's `tolerations`",
    "serviceAccountName": "the step's (or the deploy config's) `service_account`",
    "serviceAccount": "the step's (or the deploy config's) `service_account`",
    "resources": "the step's `resources` (cpu, memory, ephemeral_storage, limits)",
    "image": "the step's `image`",
    "env": "the step's `env`",
}


def misplaced_hint(key: str, allowed: list[str]) -> str | None:
    """A hint for a key written outside `pod:` that belongs in it (or inside it, belonging elsewhere)."""
    if key in POD_KEYS and "pod" in allowed and key not in allowed:
        return (
            f"put it under `pod:` (pod: {{{POD_KEYS[key]}: ...}}): pod settings are written as Kubernetes writes them"
        )
    if key in ELSEWHERE and "securityContext" in allowed:
        return f"transpile takes it from {ELSEWHERE[key]}"
    return None


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


POD_FIELDS: tuple[str, ...] = tuple(Pod.model_fields)


def merge(base: Pod | None, over: Pod | None) -> Pod | None:
    """`over` layered on `base`: mappings merge key by key (over wins), the other fields are replaced whole."""
    if base is None or over is None:
        return over if base is None else base
    update: dict[str, Any] = {}
    for name in POD_FIELDS:
        mine, theirs = getattr(over, name), getattr(base, name)
        if mine is None:
            continue
        if name in MERGED and theirs is not None:
            if isinstance(mine, dict):
                update[name] = {**theirs, **mine}
            else:  # not validated again: the profile checks read the merged pod
                fields = {key: value for key in type(mine).model_fields if (value := getattr(mine, key)) is not None}
                update[name] = theirs.model_copy(update=fields)
        else:
            update[name] = mine
    return base.model_copy(update=update)
