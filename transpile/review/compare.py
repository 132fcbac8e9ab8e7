"""Compare two summaries fact by fact: steps added, removed and changed, and pipeline settings changed.

Only the facts both sides can see are compared: a compiled spec does not show commands, env values, returns
or a map's list, so against a spec those are left out (and python/shell/stub steps are all `task`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from transpile.review.summary import (
    PLAN_STEP_FACTS,
    StepFacts,
    Summary,
    fact_order,
    pipeline_facts,
    step_facts,
    walk,
)

if TYPE_CHECKING:
    from transpile.plan.model import Plan

TASK_KINDS = ("python", "shell", "stub", "task")


@dataclass(frozen=True)
class Change:
    """One line of the comparison: `sign` is + (added), - (removed) or ~ (changed)."""

    sign: str
    subject: str  # a step's node id, or "pipeline"
    detail: str = ""


@dataclass
class Comparison:
    steps: list[Change] = field(default_factory=list)
    pipeline: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def differ(self) -> bool:
        return bool(self.steps or self.pipeline)

    def count(self, sign: str) -> int:
        return sum(1 for change in self.steps if change.sign == sign)


def _kind(step: StepFacts, against_spec: bool) -> str:
    return "task" if against_spec and step.kind in TASK_KINDS else step.kind


def _describe(step: StepFacts, against_spec: bool) -> str:
    kind = _kind(step, against_spec)
    command = step.facts.get("command")
    return f"{kind}: {command.split(' ', 1)[1]}" if command and " " in command and not against_spec else kind


def _needs(step: StepFacts) -> str:
    """The needs as a list; `...` when a spec shows only some (a DAG cut into parts)."""
    return "[" + ", ".join([*step.needs, "..."] if step.needs_partial else step.needs) + "]"


def _needs_differ(before: StepFacts, after: StepFacts) -> bool:
    if before.needs_partial and after.needs_partial:
        return before.needs != after.needs
    if before.needs_partial:
        return not set(before.needs) <= set(after.needs)
    if after.needs_partial:
        return not set(after.needs) <= set(before.needs)
    return before.needs != after.needs


def _facts_changes(before: dict[str, str], after: dict[str, str], visible: frozenset[str] | None) -> list[str]:
    what = []
    for key in sorted(set(before) | set(after), key=fact_order):
        if visible is not None and key not in visible:
            continue
        a, b = before.get(key, "-"), after.get(key, "-")
        if a != b:
            what.append(f"{key} {_show(a)} -> {_show(b)}")
    return what


def _show(value: str) -> str:
    return value or "''"


def _step_changes(old_id: str, before: StepFacts, after: StepFacts, against_spec: bool, visible) -> Change | None:
    what = []
    if _kind(before, against_spec) != _kind(after, against_spec):
        what.append(f"kind {_kind(before, against_spec)} -> {_kind(after, against_spec)}")
    if _needs_differ(before, after):
        what.append(f"needs {_needs(before)} -> {_needs(after)}")
    what += _facts_changes(before.facts, after.facts, visible)
    return Change("~", old_id, "; ".join(what)) if what else None


def compare(old: Summary, new: Summary) -> Comparison:
    """The differences in meaning between two summaries."""
    result = Comparison()
    against_spec = old.from_spec or new.from_spec
    visible = old.step_facts & new.step_facts
    result.steps += [
        Change("+", node, _describe(step, against_spec)) for node, step in new.steps.items() if node not in old.steps
    ]
    result.steps += [Change("-", node) for node in old.steps if node not in new.steps]
    for node, after in new.steps.items():
        before = old.steps.get(node)
        change = _step_changes(node, before, after, against_spec, visible) if before is not None else None
        if change is not None:
            result.steps.append(change)
    result.pipeline = [Change("~", "pipeline", what) for what in _facts_changes(old.facts, new.facts, None)]
    result.notes += path_notes(old.pipeline_file, new.pipeline_file)
    if against_spec and old.hash and new.hash and old.hash != new.hash and not result.differ:
        result.pipeline.append(
            Change(
                "~",
                "pipeline",
                f"hash {old.hash[:12]} -> {new.hash[:12]}: it changed where a compiled spec does not show "
                "(commands, env values, returns, catalogs, a map's list), or was only rewritten",
            )
        )
    return result


def compare_plans(old: Plan, new: Plan) -> Comparison:
    """Like `compare` for two plans, reading the facts only of the steps that differ (fast at any size)."""
    before = {step.id: step for step in walk(old)}
    after = {step.id: step for step in walk(new)}
    result = Comparison()
    result.steps += [Change("+", i, _describe(step_facts(s), False)) for i, s in after.items() if i not in before]
    result.steps += [Change("-", i) for i in before if i not in after]
    for node, step in after.items():
        previous = before.get(node)
        if previous is None or previous == step:
            continue
        change = _step_changes(node, step_facts(previous), step_facts(step), False, PLAN_STEP_FACTS)
        if change is not None:
            result.steps.append(change)
    result.pipeline = [
        Change("~", "pipeline", what) for what in _facts_changes(pipeline_facts(old), pipeline_facts(new), None)
    ]
    result.notes += path_notes(old.deploy.pipeline_file, new.deploy.pipeline_file)
    return result


def path_notes(old: str | None, new: str | None) -> list[str]:
    """A note when only where pods load the pipeline from differs (not a difference in meaning)."""
    if not old or not new or old == new:
        return []
    return [f"the pipeline file's path differs ({old} -> {new}); pods load the pipeline from that path"]
