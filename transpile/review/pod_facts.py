"""The pod settings of a step as comparable facts, written the same way from a plan and from an Argo template.

One fact per setting, `pod <Kubernetes field>` (`pod securityContext`, `pod volumes`, ...), holding the
setting's compact JSON with sorted keys, and `service account`. A compiled spec shows all of them: the
template's fields, its `podSpecPatch` (topology spread, image pull secrets of a pod that has its own) and
the workflow's `imagePullSecrets` (when every pod has the same).
"""

from __future__ import annotations

import json
from typing import Any

from transpile.backends.kube import POD_KEYS, pull_secrets
from transpile.plan.model import Pod, Settings

FIELDS = tuple(f"pod {key}" for key in POD_KEYS.values())
STORE_VOLUME = "store"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _facts(fields: dict[str, Any]) -> dict[str, str]:
    return {f"pod {key}": _compact(value) for key, value in fields.items() if value}


def pod_fields(pod: Pod | None) -> dict[str, Any]:
    """A plan's pod settings by Kubernetes name."""
    if pod is None:
        return {}
    fields = {key: getattr(pod, name) for name, key in POD_KEYS.items()}
    fields["imagePullSecrets"] = pull_secrets(pod)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()}


def from_settings(settings: Settings) -> dict[str, str]:
    """The pod facts (and service account) of a plan's settings."""
    facts = _facts(pod_fields(settings.pod))
    if settings.service_account:
        facts["service account"] = settings.service_account
    return facts


def from_template(template: dict[str, Any], shared_secrets: list[dict[str, str]]) -> dict[str, str]:
    """The pod facts (and service account) of an Argo container template."""
    container = template.get("container") or {}
    metadata = template.get("metadata") or {}
    patch = json.loads(template["podSpecPatch"]) if template.get("podSpecPatch") else {}
    fields = {
        "imagePullSecrets": patch.get("imagePullSecrets") or shared_secrets,
        "securityContext": template.get("securityContext"),
        "containerSecurityContext": container.get("securityContext"),
        "labels": metadata.get("labels"),
        "annotations": metadata.get("annotations"),
        "affinity": template.get("affinity"),
        "topologySpreadConstraints": patch.get("topologySpreadConstraints"),
        "priorityClassName": template.get("priorityClassName"),
        "volumes": template.get("volumes"),
        "volumeMounts": [m for m in container.get("volumeMounts") or [] if m.get("name") != STORE_VOLUME],
    }
    facts = _facts(fields)
    if template.get("serviceAccountName"):
        facts["service account"] = template["serviceAccountName"]
    return facts


def resources_extra(ephemeral: Any, limits: dict[str, Any]) -> str:
    """What a step's resources say beyond cpu, memory and gpu requests: local disk, and the limits."""
    text = f" ephemeral-storage={ephemeral}" if ephemeral is not None else ""
    shown = " ".join(f"{k}={v}" for k, v in limits.items() if v is not None)
    return text + (f" limits({shown})" if shown else "")
