"""The `pod:` section: Kubernetes settings of the pods transpile creates, written as Kubernetes writes them.

It is a fragment of a pod, in Kubernetes' own spelling (camelCase), so an example from the Kubernetes
documentation pastes in as it is: `imagePullSecrets`, `securityContext` (the pod's), `containerSecurityContext`
(the step's container), `labels` and `annotations` (the pod's metadata), `affinity`,
`topologySpreadConstraints`, `priorityClassName`, `volumes` (configMap, secret, emptyDir) and `volumeMounts`.
The rest of the format is transpile's own (snake_case); a key of one spelling written in the other gets a
did-you-mean. `merge` layers sections (deploy config, `defaults`, a step): mappings key by key, lists and
scalars replaced whole. The pipeline's and the deploy config's models hold a section as `PodSection`, whose
model (`transpile.ir.pod_model.Pod`) is built only when a section is validated: most pipelines have none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic_core import core_schema

if TYPE_CHECKING:
    from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

    from transpile.ir.pod_model import Pod

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


def pod_model() -> type[Pod]:
    """The model of a `pod:` section, built (with every Kubernetes object it holds) on first use."""
    from transpile.ir.pod_model import Pod

    return Pod


class LazyModel:
    """Annotation metadata: the value is validated as the model `build()` returns, built only when a value is
    validated (or a JSON Schema is made), so its JSON Schema and errors are the model's own: pydantic places
    the errors of a ValidationError raised by a validator under the field (`steps.a.pod.securityContext`)."""

    def __init__(self, name: str, build: Callable[[], type[BaseModel]]) -> None:
        self.name = name
        self.build = build

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # a named definition, as a model is: a field holding it gets no title of its own in the JSON Schema
        return core_schema.no_info_plain_validator_function(self.validate, ref=f"{__name__}.{self.name}")

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(self.build().__pydantic_core_schema__)

    def validate(self, value: Any) -> BaseModel:
        """The value as the model (an instance of it is taken as it is)."""
        return self.build().model_validate(value)


# A `pod:` section, as a field of the pipeline's and the deploy config's models: a `Pod` once validated.
PodSection = Annotated[Any, LazyModel("Pod", pod_model)]


def merge(base: Pod | None, over: Pod | None) -> Pod | None:
    """`over` layered on `base`: mappings merge key by key (over wins), the other fields are replaced whole."""
    if base is None or over is None:
        return over if base is None else base
    update: dict[str, Any] = {}
    for name in type(base).model_fields:
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
