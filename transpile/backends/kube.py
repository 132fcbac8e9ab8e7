"""Kubernetes shapes every backend needs from a step's settings, built in one place.

They read the plan's `Settings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from transpile.plan.model import Pod, Settings

GPU = "nvidia.com/gpu"
EPHEMERAL = "ephemeral-storage"
# The plan's pod fields and their Kubernetes (camelCase) names, as the `pod:` section spells them.
POD_KEYS = {
    "image_pull_secrets": "imagePullSecrets",
    "security_context": "securityContext",
    "container_security_context": "containerSecurityContext",
    "labels": "labels",
    "annotations": "annotations",
    "affinity": "affinity",
    "topology_spread_constraints": "topologySpreadConstraints",
    "priority_class_name": "priorityClassName",
    "volumes": "volumes",
    "volume_mounts": "volumeMounts",
}


def resources(settings: Settings) -> dict[str, dict[str, str]]:
    """`{"requests": {cpu, memory, ephemeral-storage}, "limits": {cpu, memory, ephemeral-storage,
    nvidia.com/gpu}}`, leaving out what is unset."""
    res = settings.resources
    if res is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    pairs = (("cpu", res.cpu), ("memory", res.memory), (EPHEMERAL, res.ephemeral_storage))
    requests = {k: str(v) for k, v in pairs if v is not None}
    if requests:
        out["requests"] = requests
    limits: dict[str, str] = {}
    if res.limits is not None:
        caps = (("cpu", res.limits.cpu), ("memory", res.limits.memory), (EPHEMERAL, res.limits.ephemeral_storage))
        limits = {k: str(v) for k, v in caps if v is not None}
    if res.gpu:
        limits[GPU] = str(res.gpu)
    if limits:
        out["limits"] = limits
    return out


def tolerations(settings: Settings) -> list[dict[str, Any]]:
    """Tolerations as Kubernetes writes them (camelCase keys), leaving out unset fields."""
    return [
        {
            key: value
            for key, value in (
                ("key", t.key),
                ("operator", t.operator),
                ("value", t.value),
                ("effect", t.effect),
                ("tolerationSeconds", t.toleration_seconds),
            )
            if value is not None
        }
        for t in settings.tolerations or ()
    ]


def snake(key: str) -> str:
    """`tolerationSeconds` -> `toleration_seconds`, for the Python client's keyword arguments."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def pull_secrets(pod: Pod | None) -> list[dict[str, str]]:
    """`imagePullSecrets` as Kubernetes writes them."""
    return [{"name": name} for name in pod.image_pull_secrets] if pod is not None else []


def pod_strings(pod: Pod | None) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string of a pod's settings (mapping keys too) with its path as the `pod:` section spells it."""
    if pod is None:
        return
    stack: list[tuple[tuple[str | int, ...], Any]] = [((POD_KEYS[name],), getattr(pod, name)) for name in POD_KEYS]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield path + (key,), key
                stack.append((path + (key,), item))
        elif isinstance(value, (list, tuple)):
            stack.extend((path + (i,), item) for i, item in enumerate(value))
