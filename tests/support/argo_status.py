"""The status Argo v4.1.2's controller writes into a Workflow while the replay (argo_replay.py) runs it, for
measuring how large a Workflow object grows.

Modelled on the controller (`workflow/controller/operator.go`, `dag.go`, `pkg/apis/workflow/v1alpha1/
workflow_types.go`) and the Workflow statuses in its test data: one node per DAG invocation, per DAG task
(a `withParam` task is a TaskGroup node whose children are its iterations `task(i:item)`), per pod, and a
Retry node above each pod of a template with a `retryStrategy`; a task whose `when` is false is a Skipped
node. Each node has the fields the controller sets: `id` (the workflow's name and the FNV-32a hash of the
node's name), `name`, `displayName`, `type`, `templateName`, `templateScope`, `phase`, `boundaryID`,
`children`, `outboundNodes` (DAGs), `inputs` (the template's parameters with their values), `outputs`
(output parameters, a pod's `exitCode`), `startedAt`/`finishedAt`, `progress`, `resourcesDuration`, and a
pod's `hostNodeName` (`nodeFlag.retried` on a retried pod). Beside `nodes`, the status holds
`taskResultsCompletionStatus` (an entry per pod), `storedWorkflowTemplateSpec` (the WorkflowTemplate's
spec, as a Workflow made from `workflowTemplateRef` stores it), `storedTemplates` (templates reached
through templateRef), `conditions`, `phase`, times, `progress` and `resourcesDuration`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TIME = "2026-01-01T00:00:00Z"
HOST = "ip-10-0-112-34.eu-west-1.compute.internal"  # a typical cloud node name


def fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


@dataclass
class WorkflowStatus:
    """The nodes and the rest of a Workflow's status, recorded as the replay runs it."""

    workflow: str
    template: str  # the WorkflowTemplate the workflow was made from
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: dict[str, Any] = field(default_factory=dict)  # storedTemplates
    spec: dict[str, Any] = field(default_factory=dict)  # storedWorkflowTemplateSpec
    pods: dict[str, int] = field(default_factory=dict)  # node id -> pods below it that ended

    def node_id(self, name: str) -> str:
        return self.workflow if name == self.workflow else f"{self.workflow}-{fnv32a(name)}"

    def add(self, name: str, display: str, kind: str, template: dict[str, Any], boundary: str | None,
            scope: str) -> str:  # fmt: skip
        """A node (Running until `end`); returns its id."""
        ident = self.node_id(name)
        node: dict[str, Any] = {"id": ident, "name": name, "displayName": display, "type": kind}
        node["templateName"] = template.get("name", "")
        node["templateScope"] = f"namespaced/{scope}"
        node["phase"] = "Running"
        if boundary:
            node["boundaryID"] = boundary
        node["startedAt"] = TIME
        parameters = template.get("inputs", {}).get("parameters")
        if parameters:
            node["inputs"] = {"parameters": parameters}
        self.nodes[ident] = node
        return ident

    def child(self, parent: str, child: str) -> None:
        children = self.nodes[parent].setdefault("children", [])
        if child not in children:
            children.append(child)

    def end(self, ident: str, phase: str, outputs: dict[str, Any] | None = None, pod: bool = False) -> None:
        node = self.nodes[ident]
        node["phase"] = phase
        node["finishedAt"] = TIME
        if outputs:
            node["outputs"] = outputs
        if pod:
            node["hostNodeName"] = HOST
            above: str | None = ident
            while above is not None:  # every template root node holding it counts it in its progress
                self.pods[above] = self.pods.get(above, 0) + 1
                above = self.nodes[above].get("boundaryID")
        if phase != "Skipped":
            count = self.pods.get(ident, 0)
            if node["type"] == "TaskGroup":  # its iterations' pods count under the DAG holding it
                count = sum(self.pods.get(child, 0) for child in node.get("children", []))
            node["progress"] = f"{count}/{count}"
            node["resourcesDuration"] = {"cpu": max(1, count), "memory": max(1, count)}

    def skipped(self, name: str, display: str, template: dict[str, Any], boundary: str, scope: str,
                message: str) -> str:  # fmt: skip
        ident = self.add(name, display, "Skipped", template, boundary, scope)
        self.end(ident, "Skipped")
        self.nodes[ident]["message"] = message
        return ident

    @property
    def pod_ids(self) -> list[str]:
        return [ident for ident, node in self.nodes.items() if node["type"] == "Pod"]

    def status(self) -> dict[str, Any]:
        pods = self.pod_ids
        succeeded = sum(1 for i in pods if self.nodes[i]["phase"] == "Succeeded")
        root = self.nodes.get(self.workflow, {})
        status: dict[str, Any] = {
            "phase": root.get("phase", "Running"),
            "startedAt": TIME,
            "finishedAt": TIME,
            "progress": f"{succeeded}/{len(pods)}",
            "nodes": self.nodes,
            "storedTemplates": self.stored or None,
            "conditions": [{"type": "PodRunning", "status": "False"}, {"type": "Completed", "status": "True"}],
            "resourcesDuration": {"cpu": len(pods), "memory": len(pods)},
            "storedWorkflowTemplateSpec": self.spec,
            "artifactRepositoryRef": {"default": True, "artifactRepository": {}},
            "artifactGCStatus": {"notSpecified": True},
            "taskResultsCompletionStatus": {ident: True for ident in pods},
        }
        return {k: v for k, v in status.items() if v is not None}

    def workflow_object(self, arguments: dict[str, Any] | None) -> dict[str, Any]:
        """The whole Workflow as etcd stores it (managedFields aside)."""
        labels = {
            "workflows.argoproj.io/completed": "true",
            "workflows.argoproj.io/phase": self.status()["phase"],
            "workflows.argoproj.io/workflow-template": self.template,
        }
        metadata = {
            "name": self.workflow,
            "generateName": f"{self.template}-",
            "namespace": "argo",
            "uid": "5b0e6c9f-0000-4000-8000-000000000001",
            "resourceVersion": "123456789",
            "generation": 1000,
            "creationTimestamp": TIME,
            "labels": labels,
            "annotations": {"workflows.argoproj.io/pod-name-format": "v2"},
        }
        spec: dict[str, Any] = {"workflowTemplateRef": {"name": self.template}}
        if arguments:
            spec["arguments"] = arguments
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec,
                "status": self.status()}  # fmt: skip

    def size(self, arguments: dict[str, Any] | None = None) -> int:
        """Bytes of the Workflow object as compact JSON (what the API server stores)."""
        return len(json.dumps(self.workflow_object(arguments), separators=(",", ":"), ensure_ascii=False))
