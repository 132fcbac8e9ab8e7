"""Offline checks of the objects `transpile submit` is about to send, so nothing is created when any is wrong.

This is a structural check, not the full Argo CRD schema (about 8 MB of OpenAPI that transpile does not
ship; the test suite checks compiled output against it): the kinds submit handles, valid names, the
fields each kind requires, template references that resolve within the submitted WorkflowTemplates,
Argo's limits of 200 templates per spec and 200 tasks per DAG, and the size etcd accepts per object.
"""

from __future__ import annotations

import json
import re
from typing import Any

from transpile.errors import Diagnostic

KINDS = {
    "PersistentVolumeClaim": "v1",
    "WorkflowTemplate": "argoproj.io/v1alpha1",
    "CronWorkflow": "argoproj.io/v1alpha1",
}
MAX_TEMPLATES = 200
MAX_DAG_TASKS = 200
ETCD_LIMIT = 1536 * 1024  # etcd's default request limit: larger objects fail "etcdserver: request is too large"
CRON_NAME_LIMIT = 52  # Argo appends a timestamp suffix to the Workflows a CronWorkflow creates
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TEMPLATE_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_TEMPLATE_TYPES = (
    "container",
    "script",
    "dag",
    "steps",
    "resource",
    "suspend",
    "data",
    "http",
    "plugin",
    "containerSet",
)


def namespace_problem(namespace: str) -> str | None:
    """Why `namespace` is not a valid Kubernetes namespace name, or None."""
    if len(namespace) > 63 or not _LABEL.match(namespace):
        return (
            f"namespace {namespace!r} is not a valid name: at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def check_objects(objects: list[dict[str, Any]], origin: str) -> list[Diagnostic]:
    """Every problem of the objects, as diagnostics (empty when they may be sent)."""
    problems: list[str] = []
    templates: dict[str, set[str]] = {}
    for obj in objects:
        if obj.get("kind") == "WorkflowTemplate":
            spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
            names = {t.get("name") for t in spec.get("templates") or [] if isinstance(t, dict)}
            templates[str(obj.get("metadata", {}).get("name"))] = names
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        kind, name = obj["kind"], str(obj["metadata"].get("name") or "")
        where = f"{kind} {name}"
        if kind not in KINDS:
            problems.append(f"{where}: transpile submit sends {', '.join(KINDS)} objects; apply a {kind} with kubectl")
            continue
        if obj["apiVersion"] != KINDS[kind]:
            problems.append(f"{where}: apiVersion is {obj['apiVersion']}, expected {KINDS[kind]}")
        if (kind, name) in seen:
            problems.append(f"{where} is given twice")
        seen.add((kind, name))
        if not name or len(name) > 253 or not _SUBDOMAIN.match(name):
            problems.append(f"{where}: metadata.name must be lowercase letters, digits, '-' and '.' (at most 253)")
        if kind == "CronWorkflow" and len(name) > CRON_NAME_LIMIT:
            problems.append(f"{where}: a CronWorkflow name has at most {CRON_NAME_LIMIT} characters")
        for field in ("labels", "annotations"):
            values = obj["metadata"].get(field) or {}
            for key, value in values.items() if isinstance(values, dict) else []:
                if not isinstance(value, str):
                    problems.append(
                        f"{where}: metadata.{field}.{key} is {json.dumps(value)}, not a string; quote it "
                        "(kubectl reads YAML 1.1: unquoted yes/no/on/off/y/n are booleans, 0777 is a number)"
                    )
        namespace = obj["metadata"].get("namespace")
        if namespace is not None and namespace_problem(str(namespace)):
            problems.append(f"{where}: {namespace_problem(str(namespace))}")
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            problems.append(f"{where}: spec is missing")
            continue
        if kind == "WorkflowTemplate":
            problems += [f"{where}: {p}" for p in _workflow_template(spec, templates)]
        elif kind == "CronWorkflow":
            if not (spec.get("schedules") or spec.get("schedule")):
                problems.append(f"{where}: spec.schedules is missing")
            if not isinstance(spec.get("workflowSpec"), dict):
                problems.append(f"{where}: spec.workflowSpec is missing")
        elif kind == "PersistentVolumeClaim" and not (
            spec.get("accessModes") and ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        ):
            problems.append(f"{where}: spec.accessModes and spec.resources.requests.storage are required")
        size = len(json.dumps(obj, separators=(",", ":")).encode())
        if size > ETCD_LIMIT:
            problems.append(
                f"{where} is {size:,} bytes; etcd refuses objects over {ETCD_LIMIT:,} bytes "
                "(recompile: transpile splits big pipelines into several WorkflowTemplates)"
            )
    return [Diagnostic(f"{origin}: {problem}") for problem in problems]


def _workflow_template(spec: dict[str, Any], library: dict[str, set[str]]) -> list[str]:
    problems = []
    templates = spec.get("templates")
    if not isinstance(templates, list) or not templates:
        return ["spec.templates is missing or empty"]
    if len(templates) > MAX_TEMPLATES:
        problems.append(f"{len(templates)} templates; Argo accepts at most {MAX_TEMPLATES} in one spec")
    names: set[str] = set()
    for template in templates:
        name = template.get("name") if isinstance(template, dict) else None
        if not isinstance(name, str) or len(name) > 128 or not _TEMPLATE_NAME.match(name):
            problems.append(f"template name {name!r} is not valid (letters, digits and '-', at most 128)")
            continue
        if name in names:
            problems.append(f"template {name} is defined twice")
        names.add(name)
        found = [t for t in _TEMPLATE_TYPES if t in template]
        if len(found) != 1:
            problems.append(f"template {name} must have exactly one of container, script, dag, steps, ...")
        tasks = (template.get("dag") or {}).get("tasks") if isinstance(template.get("dag"), dict) else None
        if "dag" in template:
            if not isinstance(tasks, list) or not tasks:
                problems.append(f"template {name}: a DAG needs at least one task")
                continue
            if len(tasks) > MAX_DAG_TASKS:
                problems.append(f"template {name}: {len(tasks)} tasks; Argo accepts at most {MAX_DAG_TASKS}")
            problems += [f"template {name}: {p}" for p in _tasks(tasks, library)]
    for field in ("entrypoint", "onExit"):
        if spec.get(field) is not None and spec[field] not in names:
            problems.append(f"spec.{field} names template {spec[field]!r}, which is not defined")
    return problems + [
        f"task {task} uses template {ref!r}, which is not defined"
        for task, ref in _local_refs(templates)
        if ref not in names
    ]


def _tasks(tasks: list[Any], library: dict[str, set[str]]) -> list[str]:
    problems = []
    for task in tasks:
        if not isinstance(task, dict) or not isinstance(task.get("name"), str):
            problems.append("a task has no name")
            continue
        ref = task.get("templateRef")
        if ref is not None:
            if not isinstance(ref, dict) or not ref.get("name") or not ref.get("template"):
                problems.append(f"task {task['name']}: templateRef needs name and template")
            elif ref["name"] in library and ref["template"] not in library[ref["name"]]:
                problems.append(
                    f"task {task['name']}: WorkflowTemplate {ref['name']} has no template {ref['template']}"
                )
        elif not task.get("template") and not task.get("inline"):
            problems.append(f"task {task['name']} names no template")
    return problems


def _local_refs(templates: list[Any]) -> list[tuple[str, str]]:
    refs = []
    for template in templates:
        dag = template.get("dag") if isinstance(template, dict) else None
        tasks = dag.get("tasks") if isinstance(dag, dict) else None
        for task in tasks if isinstance(tasks, list) else []:
            if isinstance(task, dict) and isinstance(task.get("template"), str):
                refs.append((str(task.get("name")), task["template"]))
    return refs
