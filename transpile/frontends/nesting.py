"""How deep composites may nest, checked on the plain data before anything recursive reads it.

Composites (map, parallel, switch) nest at most `MAX_COMPOSITE_DEPTH` levels: the engines' own limits
come first (Argo stops a workflow whose templates call each other more than 150 deep, two per map level;
Python refuses a file indented more than 100 levels, which nested Airflow TaskGroups and Prefect `if`
blocks use), and every stage of transpile handles that depth. A step nested deeper is reported where the
limit is crossed and replaced by a stub, so the rest of the pipeline is still checked. Both walks here
are iterative, so no input is too deep for them.
"""

from __future__ import annotations

from typing import Any

from transpile.errors import Diagnostic
from transpile.ir.source import DocPath, SourceMap

MAX_COMPOSITE_DEPTH = 50  # composites a step may sit inside


def plain_copy(data: Any) -> Any:
    """A deep copy of plain data (dicts, lists, tuples as lists, scalars), without recursion."""
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(data, holder, 0)]
    while stack:
        item, container, slot = stack.pop()
        if isinstance(item, dict):
            copied: Any = {}
            stack.extend((value, copied, key) for key, value in item.items())
            # keys are inserted in order below, before the values arrive
            copied.update(dict.fromkeys(item))
        elif isinstance(item, (list, tuple)):
            copied = [None] * len(item)
            stack.extend((value, copied, i) for i, value in enumerate(item))
        else:
            copied = item
        container[slot] = copied
    return holder[0]


def _blocks(step: dict[str, Any], doc: DocPath) -> list[tuple[DocPath, dict[str, Any]]]:
    """The step blocks directly inside a step's plain data, with their document paths."""
    found = []
    body = step.get("map")
    if isinstance(body, dict) and isinstance(body.get("steps"), dict):
        found.append((doc + ("map", "steps"), body["steps"]))
    branches = step.get("parallel")
    if isinstance(branches, dict):
        for name, branch in branches.items():
            if isinstance(branch, dict) and isinstance(branch.get("steps"), dict):
                found.append((doc + ("parallel", name, "steps"), branch["steps"]))
    switch = step.get("switch")
    cases = switch.get("cases") if isinstance(switch, dict) else None
    if isinstance(cases, dict):
        for name, case in cases.items():
            if isinstance(case, dict) and isinstance(case.get("steps"), dict):
                found.append((doc + ("switch", "cases", name, "steps"), case["steps"]))
    return found


def limit_composites(data: Any, source: SourceMap) -> tuple[Any, list[Diagnostic], list[DocPath]]:
    """(data, problems, tainted document paths): every step nested in more than MAX_COMPOSITE_DEPTH
    composites is reported (once per outermost offender) and cut out of a copy of the data."""
    if not isinstance(data, dict):
        return data, [], []
    roots: list[tuple[DocPath, Any]] = [(("steps",), data.get("steps"))]
    failure = data.get("on_failure")
    if isinstance(failure, dict):
        roots.append((("on_failure", "steps"), failure.get("steps")))
    stack: list[tuple[DocPath, dict[str, Any], int]] = [
        (doc, steps, 0) for doc, steps in roots if isinstance(steps, dict)
    ]
    offenders: list[DocPath] = []
    while stack:
        doc, steps, depth = stack.pop()
        for name, step in steps.items():
            if not isinstance(step, dict):
                continue
            inner = _blocks(step, doc + (name,))
            if inner and depth == MAX_COMPOSITE_DEPTH:
                offenders.append(doc + (name,))
                continue
            stack.extend((block_doc, block, depth + 1) for block_doc, block in inner)
    if not offenders:
        return data, [], []
    from transpile.frontends.validation import step_display

    problems = []
    copied = plain_copy(data)
    for doc in sorted(offenders, key=str):
        problems.append(
            Diagnostic(
                f"composites nest more than {MAX_COMPOSITE_DEPTH} levels deep here; at most {MAX_COMPOSITE_DEPTH} "
                "are supported (Argo and the generated Python files of Airflow and Prefect cannot go much deeper)",
                source.span(doc, key=True),
                step=step_display(doc),
                hint="flatten the pipeline: put the inner steps side by side in one block, joined by `needs`",
            )
        )
        container = copied
        for segment in doc[:-1]:
            container = container[segment]
        container[doc[-1]] = {"stub": True}
    return copied, problems, offenders
