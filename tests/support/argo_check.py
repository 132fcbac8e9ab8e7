"""Check Argo objects as a v4.1.2 cluster would: the full CRD schema (unknown fields rejected), its CEL
rules (common-expression-language), hera's models with extra="forbid", Argo's own validator rules, and the size
limit."""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MAX_OBJECT_BYTES = 1024 * 1024
NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")


def shared_dir() -> Path | None:
    """`../shared` beside the checkout (or $TRANSPILE_SHARED), if present."""
    candidates = [os.environ.get("TRANSPILE_SHARED"), REPO.parent / "shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "argo").is_dir():
            return Path(candidate)
    return None


def require_shared() -> Path:
    """The shared dir; skip visibly without it, but fail under CI=true."""
    found = shared_dir()
    if found is None:
        message = "the Argo v4.1.2 CRDs in ../shared/argo are not present"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    return found


def _to_json_schema(node: Any) -> Any:
    """An OpenAPI v3 (structural) schema as a JSON Schema that rejects unknown fields."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes") and k != "nullable"}
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of the CRD for `kind` (WorkflowTemplate, Workflow, CronWorkflow)."""
    path = require_shared() / "argo" / f"argoproj.io_{kind.lower()}s.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(), Loader=loader)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@functools.cache
def _validator(kind: str):
    import jsonschema

    return jsonschema.Draft7Validator(_to_json_schema(crd_schema(kind)))


@functools.cache
def _cel_program(rule: str):
    import cel  # common-expression-language: CEL compiled and evaluated in Rust (cel-python took 0.8 ms a rule)

    return cel.compile(rule)


def _cel_holds(rule: str, value: Any) -> bool:
    """Whether a CEL validation rule holds for `value` (an evaluation error counts as a violation, as in
    Kubernetes)."""
    try:
        return _cel_program(rule).execute({"self": value}) is True
    except Exception:  # noqa: BLE001 - no such key, no such overload...: the API server rejects the object
        return False


def _cel_errors(schema: dict[str, Any], value: Any, where: str) -> list[str]:
    errors = []
    stack = [(schema, value, where)]
    while stack:
        node, val, path = stack.pop()
        for rule in node.get("x-kubernetes-validations", ()):
            if not _cel_holds(rule["rule"], val):
                errors.append(f"{path}: {rule.get('message', rule['rule'])}")
        if isinstance(val, dict):
            props = node.get("properties", {})
            extra = node.get("additionalProperties")
            for key, item in val.items():
                child = props.get(key) or (extra if isinstance(extra, dict) else None)
                if child:
                    stack.append((child, item, f"{path}.{key}"))
        elif isinstance(val, list) and isinstance(node.get("items"), dict):
            for i, item in enumerate(val):
                stack.append((node["items"], item, f"{path}[{i}]"))
    return errors


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """Schema and CEL violations of one Argo object against its v4.1.2 CRD."""
    schema = crd_schema(obj["kind"])
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message[:300]}"
        for e in _validator(obj["kind"]).iter_errors(obj)
    ]
    return errors + _cel_errors(schema, obj, "")


@functools.cache
def _hera_models():
    import hera.workflows.models  # noqa: F401
    from hera.shared._pydantic import APIBaseModel

    classes = []
    for name, module in list(sys.modules.items()):
        if name.startswith("hera.workflows.models"):
            classes += [
                c
                for c in vars(module).values()
                if inspect.isclass(c) and issubclass(c, APIBaseModel) and c is not APIBaseModel
            ]
    for cls in dict.fromkeys(classes):
        cls.model_config["extra"] = "forbid"
    for cls in dict.fromkeys(classes):
        cls.model_rebuild(force=True)
    import hera.workflows.models as models

    return models


def hera_errors(obj: dict[str, Any]) -> list[str]:
    """Problems hera's Argo models (extra fields forbidden) find in the object."""
    from pydantic import ValidationError

    models = _hera_models()
    try:
        getattr(models, obj["kind"]).model_validate(obj)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return []


def argo_rule_errors(obj: dict[str, Any]) -> list[str]:
    """Rules Argo's validator adds beyond the CRD (workflow/validate/validate.go)."""
    errors: list[str] = []
    spec = obj.get("spec", {})
    templates = spec.get("templates", [])
    names = [t["name"] for t in templates]
    if len(set(names)) != len(names):
        errors.append("duplicate template names")
    if len(obj["metadata"].get("name", "")) > (52 if obj["kind"] == "CronWorkflow" else 63):
        errors.append("metadata.name too long")
    known = set(names)
    for ref in (spec.get("entrypoint"), spec.get("onExit")):
        if ref and ref not in known and "workflowTemplateRef" not in spec:
            errors.append(f"template '{ref}' not found")
    for template in templates:
        if not NAME.match(template["name"]) or len(template["name"]) > 128:
            errors.append(f"bad template name {template['name']}")
        dag = template.get("dag")
        if not dag:
            continue
        tasks = dag["tasks"]
        task_names = [t["name"] for t in tasks]
        where = f"template {template['name']}"
        if not tasks:
            errors.append(f"{where}: a DAG needs at least one task")
        if len(set(task_names)) != len(task_names):
            errors.append(f"{where}: duplicate task names")
        if any("depends" in t for t in tasks) and any("dependencies" in t for t in tasks):
            errors.append(f"{where}: depends and dependencies mixed")
        deps: dict[str, set[str]] = {}
        for task in tasks:
            if not NAME.match(task["name"]):
                errors.append(f"{where}: bad task name {task['name']}")
            if task["name"][0].isdigit():
                errors.append(f"{where}: task name starts with a digit")
            ref = task.get("template")
            if ref and ref not in known:
                errors.append(f"{where}: task {task['name']} uses unknown template {ref}")
            found = set(re.findall(r"[A-Za-z0-9][-A-Za-z0-9]*", task.get("depends", "")))
            found -= {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
            unknown = found - set(task_names)
            if unknown:
                errors.append(f"{where}: task {task['name']} depends on unknown {sorted(unknown)}")
            deps[task["name"]] = found & set(task_names)
        ancestors: dict[str, set[str]] = {}
        pending = list(task_names)
        for _ in range(len(task_names) + 1):
            progressed = []
            for name in pending:
                if all(d in ancestors for d in deps[name]):
                    ancestors[name] = set(deps[name]).union(*(ancestors[d] for d in deps[name]))
                    progressed.append(name)
            pending = [n for n in pending if n not in progressed]
        if pending:
            errors.append(f"{where}: dependency cycle among {pending}")
            continue
        for task in tasks:
            text = json.dumps({k: v for k, v in task.items() if k in ("when", "withParam", "arguments")})
            for ref in re.findall(r"tasks\.([A-Za-z0-9-]+)\.", text):
                if ref not in ancestors[task["name"]]:
                    errors.append(f"{where}: task {task['name']} refers to non-ancestor {ref}")
    return errors


def size_errors(obj: dict[str, Any]) -> list[str]:
    size = len(json.dumps(obj, separators=(",", ":")).encode())
    return [f"object is {size} bytes (limit {MAX_OBJECT_BYTES})"] if size > MAX_OBJECT_BYTES else []


def reference_errors(documents: list[dict[str, Any]]) -> list[str]:
    """Every templateRef and workflowTemplateRef names a WorkflowTemplate (and template) in the output."""
    library = {
        d["metadata"]["name"]: {t["name"] for t in d["spec"].get("templates", [])}
        for d in documents
        if d.get("kind") == "WorkflowTemplate"
    }
    errors = []
    for document in documents:
        for template in document.get("spec", {}).get("templates", []):
            for task in (template.get("dag") or {}).get("tasks", []):
                ref = task.get("templateRef")
                if ref and ref["template"] not in library.get(ref["name"], set()):
                    errors.append(f"{document['metadata']['name']}: task {task['name']} refers to missing {ref}")
        run = document.get("spec", {}).get("workflowSpec", {}).get("workflowTemplateRef")
        if run and run["name"] not in library:
            errors.append(f"{document['metadata']['name']}: workflowTemplateRef to missing {run['name']}")
    return errors


def check_argo_documents(text: str, hera: bool = True) -> list[dict[str, Any]]:
    """Parse a multi-document YAML output and assert every Argo object would be accepted."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    for document in documents:
        if document.get("apiVersion") != "argoproj.io/v1alpha1":
            continue
        problems = crd_errors(document) + argo_rule_errors(document) + size_errors(document)
        if hera:
            problems += hera_errors(document)
        assert not problems, "\n".join(problems[:40])
    problems = reference_errors(documents)
    assert not problems, "\n".join(problems[:40])
    return documents
