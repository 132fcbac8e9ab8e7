"""Typed models of the Argo Workflows (and core Kubernetes) objects the Argo backend emits.

Plain frozen dataclasses, fields in the order they appear in the YAML (name first), camelCase keys
derived from the field names. `to_data` drops unset fields. The test suite checks the output against
hera's models and the Argo v4.1.2 CRDs, so every field here is one Argo knows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Any


@cache
def _keys(cls: type) -> tuple[tuple[str, str], ...]:
    """(attribute, YAML key) pairs of a model class, in declaration order."""
    pairs = []
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key")
        if key is None:
            head, *rest = f.name.rstrip("_").split("_")
            key = head + "".join(part.title() for part in rest)
        pairs.append((f.name, key))
    return tuple(pairs)


def to_data(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """Plain data (dicts, lists, scalars) from a model tree; None and empty containers are dropped.

    `memo` (id of a model -> its data) lets a caller that converted some models already reuse them.
    """
    kind = type(value)
    if hasattr(kind, "__dataclass_fields__"):
        if memo is not None and id(value) in memo:
            return memo[id(value)]
        out: dict[str, Any] = {}
        for attr, key in _keys(kind):
            item = getattr(value, attr)
            if item is None or (isinstance(item, (tuple, list, dict)) and not item):
                continue
            out[key] = to_data(item, memo)
        if memo is not None:
            memo[id(value)] = out
        return out
    if kind is tuple or kind is list:
        return [to_data(v, memo) for v in value]
    if kind is dict:
        return {k: to_data(v, memo) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ObjectMeta:
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str | None = None
    default: str | None = None
    value_from: ValueFrom | None = None


@dataclass(frozen=True)
class ValueFrom:
    path: str | None = None
    default: str | None = None


@dataclass(frozen=True)
class Arguments:
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class Inputs:
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class Outputs:
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class SecretKeySelector:
    name: str
    key: str


@dataclass(frozen=True)
class EnvVarSource:
    secret_key_ref: SecretKeySelector | None = None


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


@dataclass(frozen=True)
class ResourceRequirements:
    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str


@dataclass(frozen=True)
class Container:
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    resources: ResourceRequirements | None = None
    volume_mounts: tuple[VolumeMount | dict[str, Any], ...] = ()
    security_context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Backoff:
    duration: str | None = None
    factor: int | None = None
    cap: str | None = None


@dataclass(frozen=True)
class RetryStrategy:
    limit: int
    retry_policy: str | None = None
    backoff: Backoff | None = None


@dataclass(frozen=True)
class Toleration:
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class TemplateRef:
    name: str
    template: str


@dataclass(frozen=True)
class DAGTask:
    name: str
    template: str | None = None
    template_ref: TemplateRef | None = None
    depends: str | None = None
    when: str | None = None
    with_param: str | None = None
    arguments: Arguments | None = None


@dataclass(frozen=True)
class DAGTemplate:
    tasks: tuple[DAGTask, ...]


@dataclass(frozen=True)
class Template:
    name: str
    inputs: Inputs | None = None
    outputs: Outputs | None = None
    metadata: ObjectMeta | None = None  # the pod's labels and annotations
    retry_strategy: RetryStrategy | None = None
    timeout: str | None = None
    service_account_name: str | None = None
    priority_class_name: str | None = None
    node_selector: dict[str, str] | None = None
    tolerations: tuple[Toleration, ...] = ()
    affinity: dict[str, Any] | None = None
    security_context: dict[str, Any] | None = None  # the pod's
    volumes: tuple[dict[str, Any], ...] = ()
    pod_spec_patch: str | None = None
    dag: DAGTemplate | None = None
    container: Container | None = None


@dataclass(frozen=True)
class PersistentVolumeClaimVolumeSource:
    claim_name: str


@dataclass(frozen=True)
class Volume:
    name: str
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None


@dataclass(frozen=True)
class ClaimResources:
    requests: dict[str, str]


@dataclass(frozen=True)
class ClaimSpec:
    access_modes: tuple[str, ...]
    resources: ClaimResources
    storage_class_name: str | None = None


@dataclass(frozen=True)
class ClaimTemplate:
    metadata: ObjectMeta
    spec: ClaimSpec


@dataclass(frozen=True)
class TTLStrategy:
    seconds_after_completion: int | None = None


@dataclass(frozen=True)
class WorkflowMetadata:
    labels: dict[str, str] | None = None


@dataclass(frozen=True)
class WorkflowSpec:
    entrypoint: str | None = None
    arguments: Arguments | None = None
    on_exit: str | None = None
    service_account_name: str | None = None
    image_pull_secrets: tuple[dict[str, str], ...] = ()
    parallelism: int | None = None
    ttl_strategy: TTLStrategy | None = None
    workflow_metadata: WorkflowMetadata | None = None
    volumes: tuple[Volume, ...] = ()
    volume_claim_templates: tuple[ClaimTemplate, ...] = ()
    templates: tuple[Template, ...] = ()


@dataclass(frozen=True)
class WorkflowTemplateRef:
    name: str


@dataclass(frozen=True)
class CronWorkflowSpec:
    schedules: tuple[str, ...]
    timezone: str | None = None
    concurrency_policy: str | None = None
    workflow_metadata: WorkflowMetadata | None = None
    workflow_spec: CronWorkflowRunSpec | None = None


@dataclass(frozen=True)
class CronWorkflowRunSpec:
    workflow_template_ref: WorkflowTemplateRef


@dataclass(frozen=True)
class CronWorkflow:
    metadata: ObjectMeta
    spec: CronWorkflowSpec

    def to_data(self) -> dict[str, Any]:
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", **to_data(self)}


@dataclass(frozen=True)
class WorkflowTemplate:
    metadata: ObjectMeta
    spec: WorkflowSpec
    api_version: str = dataclasses.field(default="argoproj.io/v1alpha1", metadata={"key": "apiVersion"})
    kind: str = "WorkflowTemplate"

    def to_data(self, memo: dict[int, Any] | None = None) -> dict[str, Any]:
        data = dict(to_data(self, memo))
        return {"apiVersion": data.pop("apiVersion"), "kind": data.pop("kind"), **data}


@dataclass(frozen=True)
class PersistentVolumeClaim:
    metadata: ObjectMeta
    spec: ClaimSpec

    def to_data(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **to_data(self)}
