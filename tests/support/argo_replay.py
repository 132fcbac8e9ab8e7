"""A faithful replay of a run of a compiled spec in Argo v4.1.2, for tests; its `{{...}}` substitution is
tests/support/argo_template.py.

A run (`ArgoRun`) follows the controller: globals from the merged arguments, the spec's own substitution
(`substituteGlobalVariables`, twice with workflowMetadata), then for every DAG task `when` and arguments
(strict for `tasks.*`), `withParam` expansion (strict), `ProcessArgs` -> `SubstituteParams` (globals and
`pod.name`/`node.name`, then again with `inputs.parameters.*`), two more passes with a `retryStrategy`, one
over the pod; each container's command then runs as a local process.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.argo_status import WorkflowStatus
from tests.support.argo_template import ArgoError, evaluate_when, go_marshal, replace

REPO = Path(__file__).resolve().parents[2]


# -- a run -----------------------------------------------------------------------------------------------
@dataclass
class ArgoRun:
    """Runs the WorkflowTemplates of a compiled file as Argo would (see the module docstring)."""

    documents: list[dict[str, Any]]
    cwd: Path
    workflow_name: str = "wf-1"
    submitted: dict[str, str] = field(default_factory=dict)  # `argo submit -p NAME=VALUE`
    commands: list[list[str]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)  # each pod's container after substitution
    status: WorkflowStatus | None = None  # the Workflow's status as the controller writes it (argo_status.py)

    def __post_init__(self) -> None:
        self.library = {
            d["metadata"]["name"]: {t["name"]: t for t in d["spec"].get("templates", [])}
            for d in self.documents
            if d.get("kind") == "WorkflowTemplate"
        }
        self.main = next(d for d in self.documents if d.get("spec", {}).get("entrypoint"))
        self.home = self.main["metadata"]["name"]
        self.status = WorkflowStatus(self.workflow_name, self.home, spec=self.main["spec"])

    # globals and the spec's own substitution
    def start(self) -> None:
        spec = json.loads(json.dumps(self.main["spec"]))
        declared = spec.get("arguments", {}).get("parameters", [])
        unknown = set(self.submitted) - {p["name"] for p in declared}
        assert not unknown, f"unknown parameters {unknown}"
        merged = [{"name": p["name"], "value": self.submitted.get(p["name"], p.get("value"))} for p in declared]
        if merged:
            spec["arguments"] = {"parameters": merged}
        g: dict[str, Any] = {
            "workflow.name": self.workflow_name,
            "workflow.namespace": "argo",
            "workflow.mainEntrypoint": spec["entrypoint"],
            "workflow.serviceAccountName": spec.get("serviceAccountName", ""),
            "workflow.uid": "5b0e6c9f-0000-4000-8000-000000000001",
            "workflow.creationTimestamp": "2026-01-01T00:00:00Z",
            "workflow.parameters": go_marshal(merged),
            "workflow.parameters.json": go_marshal(merged),
        }
        for param in merged:
            g[f"workflow.parameters.{param['name']}"] = param["value"]
        labels = dict(self.main["metadata"].get("labels", {}))
        labels.update(spec.get("workflowMetadata", {}).get("labels", {}))
        g.update({f"workflow.labels.{k}": v for k, v in labels.items()})
        g.update({f"workflow.annotations.{k}": v for k, v in self.main["metadata"].get("annotations", {}).items()})
        self.globals = g
        text = replace(go_marshal({k: v for k, v in spec.items() if k != "templates"}), g)
        if "workflowMetadata" in spec:  # updateWorkflowMetadata substitutes the spec again with the labels
            replace(text, {f"workflow.labels.{k}": v for k, v in spec["workflowMetadata"].get("labels", {}).items()})
        g["workflow.status"] = "Running"
        g["workflow.duration"] = "1.000000"

    def run(self) -> bool:
        """The whole run: entrypoint, then the exit handler; True when the entrypoint succeeded."""
        self.start()
        ok = self.execute(self.home, self.main["spec"]["entrypoint"], {}, "main", self.workflow_name)[0]
        on_exit = self.main["spec"].get("onExit")
        if on_exit:
            self.globals["workflow.status"] = "Succeeded" if ok else "Failed"
            self.execute(self.home, on_exit, {}, "on-exit", f"{self.workflow_name}.onExit")
        return ok

    # templates
    def execute(
        self, home: str, name: str, args: dict[str, str], task: str, node: str, boundary: str | None = None
    ) -> tuple[bool, dict[str, str]]:
        """Run template `name` of WorkflowTemplate `home` as the node named `node` (its status recorded)."""
        template = json.loads(json.dumps(self.library[home][name]))
        inputs = template.get("inputs", {}).get("parameters", [])
        for param in inputs:  # ProcessArgs: the default, overwritten by the argument
            if "value" not in param and "default" in param:
                param["value"] = param["default"]
            if param["name"] in args:
                param["value"] = args[param["name"]]
            if "value" not in param:
                raise ArgoError(f"inputs.parameters.{param['name']} was not supplied")
        is_pod = "container" in template
        local = {"tasks.name": task, "node.name": f"{self.workflow_name}.{task}"}
        if is_pod and "retryStrategy" not in template:
            local["pod.name"] = f"{self.workflow_name}-{task}-1"
        template = self.substitute_params(template, local)
        if is_pod and "retryStrategy" in template:
            local.update({"pod.name": f"{self.workflow_name}-{task}-2", "retries": "0"})
            local.update({f"lastRetry.{k}": v for k, v in (("exitCode", "0"), ("duration", "0"))})
            local.update({"lastRetry.status": "", "lastRetry.message": ""})
            template = self.substitute_params(template, local)
        assert self.status is not None
        display = node.rsplit(".", 1)[-1] if node != self.workflow_name else node
        if home != self.home:
            self.status.stored[f"namespaced/{home}/{name}"] = self.library[home][name]
        kind = "Retry" if is_pod and "retryStrategy" in template else "Pod" if is_pod else "DAG"
        ident = self.status.add(node, display, kind, template, boundary, home)
        if not is_pod:
            ok = self.run_dag(home, template, node, ident)
            self.status.end(ident, "Succeeded" if ok else "Failed")
            return ok, {}
        pod = ident
        if kind == "Retry":  # the pod is the Retry node's child, `name(0)`
            pod = self.status.add(f"{node}(0)", f"{display}(0)", "Pod", template, boundary, home)
            self.status.child(ident, pod)
        ok, values = self.run_pod(template, local["pod.name"])
        outputs: dict[str, Any] = {"exitCode": "0" if ok else "1"}
        if values:
            outputs["parameters"] = [{"name": k, "value": v} for k, v in values.items()]
        self.status.end(pod, "Succeeded" if ok else "Failed", outputs, pod=True)
        if kind == "Retry":
            self.status.end(ident, "Succeeded" if ok else "Failed", outputs)
        return ok, values

    def substitute_params(self, template: dict[str, Any], local: dict[str, str]) -> dict[str, Any]:
        """common.SubstituteParams: globals and locals, then again with the inputs."""
        mapping: dict[str, Any] = {**self.globals, **local}
        first = replace(go_marshal(template), mapping)
        replaced = json.loads(first)
        params = replaced.get("inputs", {}).get("parameters", [])
        mapping.update({f"inputs.parameters.{p['name']}": p["value"] for p in params})
        mapping["inputs.parameters"] = go_marshal(params)
        for out in replaced.get("outputs", {}).get("parameters", []):
            if out.get("valueFrom", {}).get("path"):
                mapping[f"outputs.parameters.{out['name']}.path"] = out["valueFrom"]["path"]
        return json.loads(replace(first, mapping))

    def run_pod(self, template: dict[str, Any], pod_name: str) -> tuple[bool, dict[str, str]]:
        container = dict(template["container"], name="main")
        mapping: dict[str, Any] = {**self.globals, "pod.name": pod_name}
        for param in template.get("inputs", {}).get("parameters", []):
            mapping[f"inputs.parameters.{param['name']}"] = param["value"]
        pod = json.loads(replace(go_marshal({"spec": {"containers": [container]}}), mapping))
        container = pod["spec"]["containers"][0]
        self.pods.append(container)
        argv = container["command"] + container.get("args", [])
        self.commands.append(argv)
        outputs = template.get("outputs", {}).get("parameters", [])
        env = {**os.environ, **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e}}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        lock_path = Path("/tmp/transpile-test-control.lock")
        with open(lock_path, "w") as lock:  # control outputs use a fixed path: one writer at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            attempts = int(template.get("retryStrategy", {}).get("limit", 0)) + 1
            for _ in range(attempts):
                code = subprocess.run(argv, cwd=self.cwd, env=env, capture_output=True).returncode
                if code == 0:
                    break
            values = {p["name"]: Path(p["valueFrom"]["path"]).read_text() for p in outputs} if code == 0 else {}
        return code == 0, values

    def run_dag(self, home: str, template: dict[str, Any], node: str, ident: str) -> bool:
        tasks = {t["name"]: t for t in template["dag"]["tasks"]}
        status: dict[str, str] = {}
        outputs: dict[str, dict[str, str]] = {}
        while len(status) < len(tasks):
            progressed = False
            for name, task in tasks.items():
                deps = re.findall(r"[A-Za-z0-9][-A-Za-z0-9]*", task.get("depends", ""))
                if name in status or any(d not in status for d in deps):
                    continue
                progressed = True
                if any(status[d] not in ("Succeeded", "Skipped") for d in deps):  # a bare `X` accepts Skipped
                    status[name] = "Omitted"
                    self._skipped(task, node, ident, home, "Omitted", "omitted: depends condition not met")
                    continue
                status[name] = self.run_task(home, task, outputs, node, ident)
            assert progressed, "DAG deadlock"
        return all(s in ("Succeeded", "Skipped") for s in status.values())

    def run_task(
        self, home: str, task: dict[str, Any], outputs: dict[str, dict[str, str]], dag: str, dag_id: str
    ) -> str:
        scope: dict[str, Any] = dict(self.globals)
        for other, values in outputs.items():
            scope.update({f"tasks.{other}.outputs.parameters.{k}": v for k, v in values.items()})
        if "when" in task:
            when = json.loads(replace(go_marshal(task["when"]), scope, strict=["tasks", "steps"]))
            if not evaluate_when(when):
                self._skipped(task, dag, dag_id, home, "Skipped", f"when '{when}' evaluated false")
                return "Skipped"
        resolved = json.loads(replace(go_marshal(task), scope, strict=["tasks", "steps"]))
        expanded = [resolved]
        node = f"{dag}.{task['name']}"
        names = [node]  # each expanded task's node: `name`, or in a loop `name(i:item)`
        if "withParam" in resolved:
            items = json.loads(resolved["withParam"])
            body = go_marshal(resolved)
            expanded, names = [], []
            for i, item in enumerate(items):
                text = item if isinstance(item, str) else go_marshal(item)
                expanded.append(json.loads(replace(body, {**self.globals, "item": text}, allow_unresolved=False)))
                names.append(f"{node}({i}:{text})")
        assert self.status is not None
        parent = dag_id
        if "withParam" in resolved:  # a TaskGroup node, the iterations `name(i:item)` its children
            parent = self.status.add(node, task["name"], "TaskGroup", {"name": task.get("template", "")}, dag_id, home)
            self.status.child(dag_id, parent)
        ok = True
        for one, name in zip(expanded, names, strict=True):
            args = {p["name"]: p["value"] for p in one.get("arguments", {}).get("parameters", [])}
            ref = one.get("templateRef")
            target_home, target = (ref["name"], ref["template"]) if ref else (home, one["template"])
            task_ok, values = self.execute(target_home, target, args, one["name"], name, dag_id)
            self.status.child(parent, self.status.node_id(name))
            ok = ok and task_ok
            outputs[task["name"]] = values
        if parent != dag_id:
            self.status.end(parent, "Succeeded" if ok else "Failed")
        return "Succeeded" if ok else "Failed"

    def _skipped(self, task: dict[str, Any], dag: str, dag_id: str, home: str, phase: str, message: str) -> None:
        assert self.status is not None
        template = {"name": task.get("template", "")}
        ident = self.status.skipped(f"{dag}.{task['name']}", task["name"], template, dag_id, home, message)
        self.status.nodes[ident]["phase"] = phase
        self.status.child(dag_id, ident)
