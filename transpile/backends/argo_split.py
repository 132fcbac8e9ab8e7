"""The cut of built Argo templates to Argo's limits: a post-pass over the objects `argo_build` made.

Two cuts: a DAG over 200 tasks becomes, in topological order, nested part templates of at most 200
tasks each; then the templates are packed into WorkflowTemplates of at most 200 templates and a byte
budget each (by default one that plain `kubectl apply` accepts: it stores the whole object in an
annotation limited to 256 KiB), wired with templateRef where a DAG uses a DAG of another object.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from transpile.backends import argo_models as m
from transpile.backends.argo_build import INDICES, PREFIX, Built
from transpile.backends.argo_models import to_data
from transpile.ir.graph import toposort

MAX_DAG_TASKS = 200
MAX_TEMPLATES = 200  # per WorkflowTemplate (v4 full CRD)


def _deps(tasks: tuple[m.DAGTask, ...] | list[m.DAGTask]) -> dict[str, list[str]]:
    """Each task's upstream tasks, read back from its `depends` (`a && b`; built DAGs use no other form)."""
    return {t.name: t.depends.split(" && ") if t.depends else [] for t in tasks}


def _passthrough(template: m.Template) -> m.Arguments | None:
    """Arguments handing a part template the inputs its parent received (`prefix`, `indices`)."""
    names = {p.name for p in template.inputs.parameters} if template.inputs else set()
    values = [(n, v) for n, v in (("prefix", PREFIX), ("indices", INDICES)) if n in names]
    return m.Arguments(tuple(m.Parameter(name=n, value=v) for n, v in values)) if values else None


def _cut(built: Built, template: m.Template, level: int, tasks: list[m.DAGTask]) -> list[m.DAGTask]:
    """One level of the cut: `tasks` in parts of MAX_DAG_TASKS (new templates added to `built`)."""
    deps = _deps(tasks)
    by_name = {t.name: t for t in tasks}
    order = toposort([t.name for t in tasks], deps)
    chunks = [order[i : i + MAX_DAG_TASKS] for i in range(0, len(order), MAX_DAG_TASKS)]
    chunk_of = {task: i for i, chunk in enumerate(chunks) for task in chunk}
    suffix = "part" if level == 1 else f"part{level}"
    arguments = _passthrough(template)
    parts = []
    for i, chunk in enumerate(chunks):
        inner = []
        for task in chunk:
            local = [d for d in deps[task] if chunk_of[d] == i]
            inner.append(replace(by_name[task], depends=" && ".join(local) or None))
        upstream = sorted({chunk_of[d] for task in chunk for d in deps[task] if chunk_of[d] != i})
        part = f"{suffix}-{i + 1}"
        name = built.names.reserve(f"{template.name}-{part}", f"{template.name}@{part}")
        built.templates[name] = m.Template(name=name, inputs=template.inputs, dag=m.DAGTemplate(tuple(inner)))
        depends = " && ".join(f"{suffix}-{j + 1}" for j in upstream) or None
        parts.append(m.DAGTask(name=part, template=name, depends=depends, arguments=arguments))
    return parts


def cut_dags(built: Built) -> None:
    """Cut every DAG of more than MAX_DAG_TASKS tasks into nested part templates (in place)."""
    for template in list(built.templates.values()):
        if template.dag is None or len(template.dag.tasks) <= MAX_DAG_TASKS:
            continue
        tasks = list(template.dag.tasks)
        level = 0
        while len(tasks) > MAX_DAG_TASKS:
            level += 1
            tasks = _cut(built, template, level, tasks)
        built.templates[template.name] = replace(template, dag=m.DAGTemplate(tuple(tasks)))


def json_size(data: Any) -> int:
    """Bytes of `data` as compact JSON the way kubectl stores it (Go escapes `<`, `>`, `&` as \\u003c...);
    non-ASCII counted as \\uXXXX escapes, an upper bound of its UTF-8."""
    text = json.dumps(data, separators=(",", ":"))
    return len(text) + 5 * (text.count("&") + text.count("<") + text.count(">"))


REF_EXTRA = json_size({"templateRef": {"name": "x" * 63, "template": ""}}) - json_size({"template": ""})


def partition(built: Built, capacity: Callable[[int], int]) -> tuple[list[list[m.Template]], list[int]]:
    """Groups of at most MAX_TEMPLATES templates whose JSON fits `capacity(i)` bytes for group i, and
    each group's size (over its capacity only when one DAG with its containers is larger on its own).

    DAG templates are packed greedily in order (the entrypoint and the exit handler first); each group
    carries its own copy of the container templates its DAGs use, so only DAG-to-DAG references
    cross WorkflowTemplates (through templateRef, counted at its largest for every task using a DAG).
    """
    templates = list(built.templates.values())
    memo: dict[int, Any] = built.memo
    position = {t.name: i for i, t in enumerate(templates)}
    leaves = {t.name: t for t in templates if t.dag is None}
    first = {"main", built.on_exit}
    dags = [t for t in templates if t.dag is not None and t.name in first]
    dags += [t for t in templates if t.dag is not None and t.name not in first]
    size_of = {t.name: json_size(to_data(t, memo)) + 1 for t in templates}
    for dag in dags:
        assert dag.dag is not None
        size_of[dag.name] += REF_EXTRA * sum(1 for task in dag.dag.tasks if task.template not in leaves)
    groups: list[dict[str, m.Template]] = [{}]
    sizes = [0]
    for dag in dags:
        assert dag.dag is not None
        used = [leaves[task.template] for task in dag.dag.tasks if task.template in leaves]
        new = {t.name: t for t in [dag, *used] if t.name not in groups[-1]}
        extra = sum(size_of[name] for name in new)
        full = len(groups[-1]) + len(new) > MAX_TEMPLATES or sizes[-1] + extra > capacity(len(groups) - 1)
        if groups[-1] and full:
            groups.append({})
            sizes.append(0)
            new = {t.name: t for t in [dag, *used]}
            extra = sum(size_of[name] for name in new)
        groups[-1].update(new)
        sizes[-1] += extra
    return [sorted(group.values(), key=lambda t: position[t.name]) for group in groups], sizes


def link(template: m.Template, home: dict[str, str], local: set[str]) -> m.Template:
    """Point a DAG's tasks at DAG templates held by other WorkflowTemplates, through templateRef."""
    if template.dag is None:
        return template
    tasks = []
    for task in template.dag.tasks:
        if task.template is not None and task.template not in local:
            task = replace(
                task, template=None, template_ref=m.TemplateRef(name=home[task.template], template=task.template)
            )
        tasks.append(task)
    return replace(template, dag=m.DAGTemplate(tuple(tasks)))
