"""Kubernetes shapes every backend needs from a step's settings, built in one place.

They read the plan's `Settings`.
"""

from __future__ import annotations

from typing import Any

from transpile.plan.model import Settings


def resources(settings: Settings) -> dict[str, dict[str, str]]:
    """`{"requests": {cpu, memory}, "limits": {"nvidia.com/gpu": n}}`, leaving out what is unset."""
    res = settings.resources
    if res is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    requests = {k: str(v) for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v is not None}
    if requests:
        out["requests"] = requests
    if res.gpu:
        out["limits"] = {"nvidia.com/gpu": str(res.gpu)}
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
