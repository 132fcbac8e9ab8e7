"""Fold `defaults` into every task step, so backends read one resolved value per setting.

Mappings merge key by key (env, node_selector, resources and its limits: the step wins per key); lists
and scalars (image, retries, timeout, secrets, tolerations, service_account) are replaced wholesale by the
step's own value. `pod` merges field by field (`transpile.ir.pod.merge`). `cache` in `defaults` does not reach
`on_failure`'s steps: a cached alert would not alert (a step there may still set its own).
"""

from __future__ import annotations

from typing import Any

from transpile.ir import pod
from transpile.ir.graph import ON_FAILURE, Path, walk
from transpile.ir.models import SETTING_FIELDS, Block, Pipeline, Resources, Settings, Step

_MERGED_DICTS = ("env", "node_selector")


def merge_settings(base: Settings, step: Settings) -> dict[str, Any]:
    """The effective settings of a step over `base`, as a field -> value update."""
    update: dict[str, Any] = {}
    for name in SETTING_FIELDS:
        own = getattr(step, name)
        default = getattr(base, name)
        if name in _MERGED_DICTS and own is not None and default is not None:
            update[name] = {**default, **own}
        elif name == "resources" and own is not None and default is not None:
            update[name] = merge_resources(default, own)
        elif name == "pod":
            update[name] = pod.merge(default, own)
        else:
            update[name] = own if own is not None else default
    return update


def merge_resources(base: Resources, over: Resources) -> Resources:
    """Resources key by key, their limits too (the step's value wins)."""
    fields = base.model_dump(exclude_none=True) | over.model_dump(exclude_none=True)
    fields["limits"] = over.limits or base.limits
    if base.limits is not None and over.limits is not None:
        limits = base.limits.model_dump(exclude_none=True) | over.limits.model_dump(exclude_none=True)
        fields["limits"] = base.limits.model_copy(update=limits)
    return base.model_copy(update=fields)  # not validated again: pod_checks reports a request above its limit


def rebuild_composite(step: Step, children: dict[Path, Step], path: Path) -> Step:
    """A copy of a composite step whose blocks hold the (already rebuilt) children."""

    def block_steps(prefix: Path, steps: dict[str, Step]) -> dict[str, Step]:
        return {name: children.get(prefix + (name,), old) for name, old in steps.items()}

    if step.map is not None:
        new_map = step.map.model_copy(update={"steps": block_steps(path, step.map.steps)})
        return step.model_copy(update={"map": new_map})
    if step.parallel is not None:
        branches = {
            name: Block(steps=block_steps(path + (name,), block.steps)) for name, block in step.parallel.items()
        }
        return step.model_copy(update={"parallel": branches})
    if step.switch is not None:
        cases = {
            name: Block(steps=block_steps(path + (name,), block.steps)) for name, block in step.switch.cases.items()
        }
        return step.model_copy(update={"switch": step.switch.model_copy(update={"cases": cases})})
    return step


def apply_defaults(pipeline: Pipeline) -> Pipeline:
    """A new pipeline in which every task step carries its effective settings."""
    base = pipeline.defaults
    on_failure_base = base.model_copy(update={"cache": None})
    rebuilt: dict[Path, Step] = {}
    for located in reversed(list(walk(pipeline))):
        step = located.step
        if step.is_task:
            own_base = on_failure_base if located.path[0] == ON_FAILURE else base
            rebuilt[located.path] = step.model_copy(update=merge_settings(own_base, step))
        else:
            rebuilt[located.path] = rebuild_composite(step, rebuilt, located.path)
    steps = {name: rebuilt[(name,)] for name in pipeline.steps}
    update: dict[str, Any] = {"steps": steps}
    if pipeline.on_failure is not None:
        update["on_failure"] = Block(steps={name: rebuilt[(ON_FAILURE, name)] for name in pipeline.on_failure.steps})
    return pipeline.model_copy(update=update)
