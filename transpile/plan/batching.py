"""How a map's items are split into engine instances (batches): the one policy the fan-out node applies at
run time and `transpile check`/`compile` describe ahead of it.

An engine instance (an Argo pod, an Airflow mapped task instance, a Prefect task run, a SLURM array task)
runs a batch of consecutive map items. `map.batch: N` asks for N items per instance. Without it, each item
is an instance of its own while the map's instance count fits the engine's limit L; beyond it, the
smallest batch that fits, ceil(n / L) items per instance. A limit is a cap: an explicit `batch` that would
make more than L instances grows to the smallest batch that fits. A map nested in maps shares its limit with
the other instances of its enclosing loop: a fan-out running for one of them gets `L // share` (at least 1),
where `share` is how many parts the limit was divided into above it, so the map's instances stay within L
in all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transpile.plan.model import Plan, Step

# Each engine's limit on one map's instances, by default (the deploy config sets Argo's and Prefect's; the
# running Airflow and SLURM report theirs: these are their defaults, for what `check` and `compile` say).
ARGO_MAX_PODS_PER_MAP = 500
PREFECT_MAX_TASKS_PER_MAP = 1000
AIRFLOW_MAX_MAP_LENGTH = 1024  # [core] max_map_length
SLURM_MAX_ARRAY_SIZE = 1001  # MaxArraySize: an array's indices are below it


def per_instance(items: int, batch: int | None, limit: int | None) -> int:
    """Items per engine instance for `items` items: `batch` when given, else 1, grown to fit `limit` (None:
    no limit) instances at most."""
    size = max(1, batch or 1)
    if limit is not None and limit >= 1 and items > limit * size:
        size = -(-items // limit)
    return size


def instances(items: int, size: int) -> int:
    """How many instances `items` items make at `size` per instance."""
    return -(-items // size) if items else 0


def share_limit(limit: int | None, share: int) -> int | None:
    """The part of a map's limit one fan-out gets when its enclosing loop divided it `share` ways."""
    return None if limit is None else max(1, limit // max(1, share))


def pods_per_item(step: Step) -> int:
    """How many pods one instance of a map's body starts: its task steps and control nodes (every case of a
    switch counted, and a nested map's fan-out, whose own body has its own limit)."""

    def count(steps: dict[str, Step]) -> int:
        found = 0
        for inner in steps.values():
            if inner.is_task or inner.map is not None:
                found += 1
            elif inner.switch is not None:
                found += 1 + sum(count(case.steps) for case in inner.switch.cases.values())
            elif inner.parallel is not None:
                found += sum(count(branch.steps) for branch in inner.parallel.values())
        return found

    assert step.map is not None
    return max(1, count(step.map.steps))


@dataclass(frozen=True)
class Split:
    """How one map is split on a target: its item count when known before running (`items`), the limit
    (None: no limit), the explicit batch, and what follows (instances and items per instance, when known)."""

    items: int | None
    limit: int | None
    batch: int | None

    @property
    def size(self) -> int | None:
        return None if self.items is None else per_instance(self.items, self.batch, self.limit)

    @property
    def count(self) -> int | None:
        size = self.size
        return None if size is None or self.items is None else instances(self.items, size)

    def describe(self) -> str:
        """In words: exactly, when the item count is known; else the rule."""
        if self.items is not None:
            size, count = self.size or 1, self.count or 0
            each = "1 item" if size == 1 else f"{size:,} items"
            grown = " (grown from `batch` to fit the limit)" if self.batch and size > self.batch else ""
            return f"{self.items:,} items: {count:,} instance{'s' if count != 1 else ''} of {each}{grown}"
        if self.batch:
            cap = f", more when that makes over {self.limit:,} instances" if self.limit else ""
            return f"{self.batch:,} items per instance (`batch`){cap}"
        if self.limit is None:
            return "one item per instance"
        return f"one item per instance up to {self.limit:,} instances, then ceil(n / {self.limit:,}) per instance"


def target_limit(plan: Plan, target: str, step: Step) -> tuple[int | None, str]:
    """The limit on a top-level map's instances on `target`, and where it comes from (in words)."""
    deploy = plan.deploy
    if target == "argo":
        per_item = pods_per_item(step)
        limit = share_limit(deploy.max_pods_per_map, per_item)
        return limit, f"argo.max_pods_per_map {deploy.max_pods_per_map:,} / {per_item} pod(s) per item"
    if target == "airflow":
        return AIRFLOW_MAX_MAP_LENGTH, "[core] max_map_length, as the running Airflow reports it (default)"
    if target == "prefect":
        return deploy.max_tasks_per_map, "prefect.max_tasks_per_map"
    if target == "slurm":
        return SLURM_MAX_ARRAY_SIZE, "MaxArraySize, as `scontrol show config` reports it (default)"
    return None, "no batching"


def report(plan: Plan, target: str) -> list[str]:
    """How each map of the plan is split on `target`, one line each (`transpile check -t`, `compile`)."""
    lines: list[str] = []
    returned = {name for step in plan.task_steps() for name in step.returns}  # an upstream return wins

    def walk(steps: dict[str, Step], nested: bool) -> None:
        for step in steps.values():
            if step.map is not None:
                limit, source = target_limit(plan, target, step)
                default = None if step.map.over in returned else plan.parameters.get(step.map.over)
                items = len(default) if isinstance(default, list) else None
                split = Split(items, limit, step.map.batch).describe()
                shared = " (shared with the other instances of its enclosing map)" if nested else ""
                lines.append(f"map '{step.id}' on {target}: {split}{shared}; limit: {source}")
            for _, inner in step.blocks():
                walk(inner, nested or step.map is not None)

    walk(plan.steps, False)
    return lines
