"""The pods Argo would create from a compiled spec, rebuilt offline for checks of their fields.

Argo builds a pod per container template: the template's pod fields over the workflow's, its container
as `main`, its executor containers (`init`, `wait`, with the security context of the controller's
`executor` configuration) and its `podSpecPatch` merged over the pod as a strategic merge patch (lists of
named items merged by name, other fields replaced).
"""

from __future__ import annotations

import copy
import json
from typing import Any

POD_FIELDS = ("serviceAccountName", "priorityClassName", "nodeSelector", "tolerations", "affinity", "securityContext")
_MERGE_KEYS = {"imagePullSecrets": "name", "topologySpreadConstraints": "topologyKey", "volumes": "name"}


def _patch(spec: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        merge_key = _MERGE_KEYS.get(key)
        if merge_key and isinstance(value, list):
            items = {item[merge_key]: item for item in spec.get(key) or []}
            items.update({item[merge_key]: item for item in value})
            spec[key] = list(items.values())
        else:
            spec[key] = value


def pods(documents: list[dict[str, Any]], executor: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """{template name: the pod Argo would create for it} of every container template."""
    main = next(d for d in documents if d.get("kind") == "WorkflowTemplate" and "entrypoint" in d["spec"])
    workflow = main["spec"]
    found = {}
    for document in documents:
        for template in (document.get("spec") or {}).get("templates") or []:
            if "container" not in template:
                continue
            spec: dict[str, Any] = {key: workflow[key] for key in ("serviceAccountName",) if key in workflow}
            spec.update({key: template[key] for key in POD_FIELDS if key in template})
            if workflow.get("imagePullSecrets"):
                spec["imagePullSecrets"] = list(workflow["imagePullSecrets"])
            executor_container = {"securityContext": executor} if executor else {}
            spec["initContainers"] = [{"name": "init", "image": "quay.io/argoproj/argoexec", **executor_container}]
            spec["containers"] = [
                {"name": "main", **copy.deepcopy(template["container"])},
                {"name": "wait", "image": "quay.io/argoproj/argoexec", **executor_container},
            ]
            spec["volumes"] = [*(workflow.get("volumes") or []), *(template.get("volumes") or [])]
            spec["volumes"].append({"name": "var-run-argo", "emptyDir": {}})
            if template.get("podSpecPatch"):
                _patch(spec, json.loads(template["podSpecPatch"]))
            metadata = copy.deepcopy(template.get("metadata") or {})
            found[template["name"]] = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    return found
