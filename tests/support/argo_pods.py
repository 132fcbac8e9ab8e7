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


def node_templates(documents: list[dict[str, Any]]) -> dict[str, str]:
    """{node id: the container template its pod runs}, following DAGs with their `prefix` arguments."""
    templates = {t["name"]: t for d in documents for t in (d.get("spec") or {}).get("templates") or []}
    main = next(d for d in documents if d.get("kind") == "WorkflowTemplate" and "entrypoint" in d["spec"])
    found: dict[str, str] = {}
    stack = [(templates[main["spec"]["entrypoint"]], "")]
    while stack:
        template, prefix = stack.pop()
        for task in (template.get("dag") or {}).get("tasks") or []:
            name = (task.get("templateRef") or {}).get("template") or task["template"]
            args = {p["name"]: p.get("value", "") for p in (task.get("arguments") or {}).get("parameters") or []}
            args = {k: v.replace("{{inputs.parameters.prefix}}", prefix) for k, v in args.items()}
            target = templates[name]
            if "container" in target and "node" in args:
                found[args["node"]] = name
            elif "dag" in target:
                stack.append((target, args.get("prefix", prefix)))
    return found


_INTERNAL_VOLUMES = {"store", "var-run-argo", "xcom"}  # the run store's, Argo's and Airflow's own


def view(pod: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """The fields of a pod that pod settings set, for comparing engines (`labels`: the keys compared)."""
    spec, metadata = pod.get("spec") or {}, pod.get("metadata") or {}
    main = spec["containers"][0]
    return {
        "imagePullSecrets": sorted(s["name"] for s in spec.get("imagePullSecrets") or []),
        "securityContext": spec.get("securityContext") or None,
        "containerSecurityContext": main.get("securityContext") or None,
        "labels": {k: v for k, v in (metadata.get("labels") or {}).items() if k in labels},
        "annotations": metadata.get("annotations") or None,
        "affinity": spec.get("affinity") or None,
        "topologySpreadConstraints": spec.get("topologySpreadConstraints") or None,
        "priorityClassName": spec.get("priorityClassName"),
        "serviceAccountName": spec.get("serviceAccountName"),
        "volumes": [v for v in spec.get("volumes") or [] if v["name"] not in _INTERNAL_VOLUMES],
        "volumeMounts": [m for m in main.get("volumeMounts") or [] if m["name"] not in _INTERNAL_VOLUMES],
        "resources": main.get("resources") or None,
    }
