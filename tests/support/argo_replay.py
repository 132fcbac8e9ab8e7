"""Replay a compiled Argo WorkflowTemplate locally: its DAGs in dependency order, each container's exact
command and args (after Argo's `{{...}}` substitution) as a local process, as pods would run them."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import REPO


class ArgoInterpreter:
    """Walks a WorkflowTemplate's DAGs in dependency order and runs each container's command and args exactly
    as written (after Argo's `{{...}}` substitution) as a local process."""

    def __init__(self, spec: dict, cwd: Path, workflow_name: str):
        self.templates = {t["name"]: t for t in spec["spec"]["templates"]}
        self.spec = spec["spec"]
        self.cwd = cwd
        self.globals = {"workflow.name": workflow_name}
        for param in self.spec.get("arguments", {}).get("parameters", []):
            self.globals[f"workflow.parameters.{param['name']}"] = param["value"]
        self.commands: list[list[str]] = []

    @staticmethod
    def substitute(text: str, scope: dict[str, str]) -> str:
        def replace(match: re.Match) -> str:
            key = match.group(1).strip()
            if key not in scope:
                raise AssertionError(f"unresolved {{{{{key}}}}}")
            return scope[key]

        return re.sub(r"\{\{([^{}]+)\}\}", replace, text)

    @staticmethod
    def evaluate_when(expression: str) -> bool:
        match = re.fullmatch(r"'([^']*)' (==|!=) '([^']*)'", expression)
        assert match, f"unsupported when: {expression}"
        left, op, right = match.groups()
        return (left == right) if op == "==" else (left != right)

    def run_template(self, name: str, inputs: dict[str, str]) -> tuple[bool, dict[str, str]]:
        template = self.templates[name]
        scope = dict(self.globals)
        for param in template.get("inputs", {}).get("parameters", []):
            value = inputs.get(param["name"], param.get("default"))
            assert value is not None, f"template {name}: input {param['name']} missing"
            scope[f"inputs.parameters.{param['name']}"] = value
        if "container" in template:
            return self.run_container(template, scope)
        return self.run_dag(template, scope), {}

    def run_container(self, template: dict, scope: dict[str, str]) -> tuple[bool, dict[str, str]]:
        container = template["container"]
        argv = [self.substitute(a, scope) for a in container["command"] + container.get("args", [])]
        self.commands.append(argv)
        outputs = template.get("outputs", {}).get("parameters", [])
        lock_path = Path("/tmp/transpile-test-control.lock")
        with open(lock_path, "w") as lock:  # control outputs use a fixed path: one writer at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            attempts = template.get("retryStrategy", {}).get("limit", 0) + 1
            for _ in range(attempts):
                code = subprocess.run(argv, cwd=self.cwd, env=env, capture_output=True).returncode
                if code == 0:
                    break
            values = {p["name"]: Path(p["valueFrom"]["path"]).read_text() for p in outputs} if code == 0 else {}
        return code == 0, values

    def run_dag(self, template: dict, scope: dict[str, str]) -> bool:
        tasks = {t["name"]: t for t in template["dag"]["tasks"]}
        status: dict[str, str] = {}
        outputs: dict[str, dict[str, str]] = {}
        while len(status) < len(tasks):
            progressed = False
            for name, task in tasks.items():
                if name in status:
                    continue
                deps = re.findall(r"[A-Za-z0-9][-A-Za-z0-9]*", task.get("depends", ""))
                if any(d not in status for d in deps):
                    continue
                progressed = True
                if any(status[d] == "Failed" for d in deps):
                    status[name] = "Omitted"
                    continue
                local = dict(scope)
                for other, values in outputs.items():
                    for key, value in values.items():
                        local[f"tasks.{other}.outputs.parameters.{key}"] = value
                if "when" in task and not self.evaluate_when(self.substitute(task["when"], local)):
                    status[name] = "Skipped"
                    continue
                items = [None]
                if "withParam" in task:
                    items = json.loads(self.substitute(task["withParam"], local))
                ok = True
                for item in items:
                    item_scope = dict(local, item=str(item)) if item is not None else local
                    args = {
                        p["name"]: self.substitute(p["value"], item_scope)
                        for p in task.get("arguments", {}).get("parameters", [])
                    }
                    task_ok, values = self.run_template(task["template"], args)
                    ok = ok and task_ok
                    outputs[name] = values
                status[name] = "Succeeded" if ok else "Failed"
            assert progressed, "DAG deadlock"
        return all(s in ("Succeeded", "Skipped") for s in status.values())

    def run(self) -> bool:
        ok = self.run_template(self.spec["entrypoint"], {})[0]
        if "onExit" in self.spec:
            self.globals["workflow.status"] = "Succeeded" if ok else "Failed"
            self.run_template(self.spec["onExit"], {})
        return ok
