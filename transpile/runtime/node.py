"""Run the node instances of a descriptor: the body of `transpile execute-node`, which every backend's pods run.

A node is a task step (python, shell, stub) or the control node of a map (fan-out: writes the items and
the descriptors of its body's instances) or of a switch (route: picks the case). The descriptor names one
instance, or a batch of them (runtime/instances.py, runtime/batch.py). Each execution claims a new attempt
in the run store, records its inputs, outputs, logs and outcome there (instance.py), and publishes the
node's result once; a task's body runs in a process forked from this one (supervisor.py). An engine that
runs the instance again (a pod retried, a task cleared) finds its result published and records the run
`reused` without running the step (unless `force`); an earlier attempt of the instance left `running` by a
pod that is gone is closed `interrupted` first, its temporary files removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transpile.plan.params import ParameterError
from transpile.runtime import batch, instances
from transpile.runtime.instance import EXIT_FAILED, NodeError, NodeInstance, NodeOutcome, RunContext
from transpile.runtime.loader import Loaded, load_pipeline
from transpile.runtime.records import CorruptRecord
from transpile.runtime.store import RunStore, StoreFault, run_id_problem
from transpile.runtime.values import parse_parameters

EXIT_BAD_INPUT = 2
EXIT_HASH_MISMATCH = 4

__all__ = ["NodeError", "NodeOutcome", "NodeRequest", "execute_node", "prepare"]


class HashMismatch(Exception):
    """The pipeline file in the image is not the one the spec was compiled from; exit 4."""


@dataclass
class NodeRequest:
    """Everything `execute-node` is told on its command line."""

    pipeline: str
    store: Path
    run_id: str
    node: str
    indices: str = ""  # an instance descriptor: "", "2", "2.0", or a batch "0~99" (runtime/instances.py)
    expected_hash: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    control_out: Path | None = None
    xcom_out: Path | None = None
    print_control: bool = False
    echo: bool = True
    force: bool = False  # run the step even when the instance's result is already published
    cache: str | None = None  # the run's cache mode: on (None), off, refresh=ID,... (plan/cache_mode.py)
    max_instances: int | None = None  # a map's fan-out: the engine's limit on the body's instances


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write_control(request: NodeRequest, value: Any) -> None:
    """Write the control value where the engine reads it: for a map, the JSON array of the body's instance
    descriptors (`["0~99","100~199"]`, or `["2.0","2.1"]` one item per instance); for a switch, the case's
    key, or inside maps the set of keys its instances chose (`|ship|hold|`). `--control-out` (Argo) and
    `--print-control` (Prefect, SLURM) get a string as it is, `--xcom` (Airflow) as JSON."""
    text = value if isinstance(value, str) else _json(value)
    if request.control_out is not None:
        request.control_out.parent.mkdir(parents=True, exist_ok=True)
        request.control_out.write_text(text, encoding="utf-8")
    if request.xcom_out is not None:
        request.xcom_out.parent.mkdir(parents=True, exist_ok=True)
        request.xcom_out.write_text(_json(value), encoding="utf-8")
    if request.print_control:
        print(text, flush=True)


class _Counts:
    """Item counts of the node's enclosing maps, read once each from their fan-outs' results."""

    def __init__(self, ctx: RunContext, path: tuple[str, ...]):
        self.ctx, self.maps = ctx, ctx.loaded.index.enclosing_maps(path)
        self.known: dict[tuple[int, ...], int] = {}

    def __call__(self, prefix: tuple[int, ...]) -> int:
        if prefix not in self.known:
            map_key = self.ctx.reader.instance_key(self.maps[len(prefix)], prefix)
            try:
                fan_out = self.ctx.run.result(map_key)
            except CorruptRecord as exc:
                raise NodeError(f"cannot read the items of map '{map_key}': {exc}") from None
            if fan_out is None or fan_out.count is None:
                raise NodeError(f"map '{map_key}' has not fanned out yet: run its node before its items")
            self.known[prefix] = fan_out.count
        return self.known[prefix]

    def check(self, indices: tuple[int, ...]) -> None:
        """Each index must name an item of its map's fan-out (NodeError otherwise, nothing recorded)."""
        for depth, index in enumerate(indices):
            count = self(indices[:depth])
            if index >= count:
                map_key = self.ctx.reader.instance_key(self.maps[depth], indices[:depth])
                items = f"indices 0-{count - 1}" if count else "no items"
                raise NodeError(f"index {index} is out of range: map '{map_key}' has {count} item(s) ({items})")


@dataclass
class Prepared:
    """A request checked: the run's context, the node's step path, and the instances its descriptor names."""

    ctx: RunContext
    path: tuple[str, ...]
    descriptor: instances.Descriptor
    members: list[tuple[int, ...]]


def prepare(request: NodeRequest, loaded: Loaded | None = None) -> Prepared:
    """Load the plan (from the store's cache) and check the node can run here: NodeError, HashMismatch."""
    if loaded is None:
        loaded = load_pipeline(request.pipeline, request.store)
    if request.expected_hash and loaded.hash != request.expected_hash:
        raise HashMismatch(
            f"{request.pipeline} compiles to hash {loaded.hash[:12]}…, but this spec was compiled from "
            f"{request.expected_hash[:12]}…: the image holds a different pipeline than the one compiled; "
            "rebuild the image or recompile the spec"
        )
    problem = run_id_problem(request.run_id)
    if problem:
        raise NodeError(problem)
    path = loaded.step_path(request.node)
    if path is None:
        raise NodeError(f"the pipeline has no node '{request.node}'")
    step = loaded.index.steps[path].step
    if not step.is_task and step.map is None and step.switch is None:
        raise NodeError(f"node '{request.node}' is a {step.kind}, which has no node to run")
    try:
        descriptor = instances.parse(request.indices)
    except instances.BadDescriptor as exc:
        raise NodeError(str(exc)) from None
    maps = loaded.index.enclosing_maps(path)
    if len(descriptor.first) != len(maps):
        raise NodeError(f"node '{request.node}' is inside {len(maps)} map(s) but got indices {request.indices!r}")
    try:
        parameters = parse_parameters(loaded.plan.parameters, request.parameters)
    except ParameterError as exc:
        raise NodeError(str(exc)) from None
    run = RunStore(Path(request.store).absolute(), request.run_id)
    mode = _cache_mode(request, loaded)
    ctx = RunContext(loaded, run, parameters, request.pipeline, echo=request.echo, cache_mode=mode)
    counts = _Counts(ctx, path)
    counts.check(descriptor.first)
    if not descriptor.single:
        counts.check(descriptor.last)
    return Prepared(ctx, path, descriptor, list(instances.members(descriptor, counts)))


def _cache_mode(request: NodeRequest, loaded: Loaded) -> Any:
    """The run's cache mode (None: on, the default); NodeError for a mode that is not one, or a step to
    refresh that the pipeline does not cache. `--force` refreshes the instance's entry."""
    if not request.cache and not request.force:
        return None
    from dataclasses import replace

    from transpile.plan.cache_mode import CacheMode, CacheModeError, refresh_problems

    try:
        mode = CacheMode.parse(request.cache)
    except CacheModeError as exc:
        raise NodeError(str(exc)) from None
    problems = refresh_problems(mode, loaded.plan)
    if problems:
        raise NodeError("; ".join(message for message, _ in problems))
    return replace(mode, refresh_all=True) if request.force and mode.enabled else mode


def execute_node(request: NodeRequest, loaded: Loaded | None = None) -> NodeOutcome:
    """Run the node instances of a descriptor to their end and record them; raises NodeError or HashMismatch
    when they cannot run. A store that cannot be written is an outcome: `failed` with the reason, exit 1
    (engines retry it)."""
    prepared = prepare(request, loaded)
    ctx, path, descriptor = prepared.ctx, prepared.path, prepared.descriptor
    step = ctx.loaded.index.steps[path].step
    key = ctx.reader.instance_key(path, descriptor.first)
    try:
        ctx.ensure_run_record()
        if not step.is_task:
            outcome = batch.run_controls(
                ctx, path, prepared.members, descriptor.text, request.force, request.max_instances
            )
        elif descriptor.single:
            instance = ctx.instance(path, descriptor.first)
            outcome = batch.settle(instance, request.force) or _run_task(instance)
        else:
            outcome = batch.run_tasks(ctx, path, prepared.members, descriptor.text, request.force)
    except StoreFault as fault:
        return NodeOutcome(key, 0, "failed", fault.reason, exit_code=EXIT_FAILED, fault=fault.reason)
    except CorruptRecord as exc:
        return NodeOutcome(key, 0, "failed", f"cannot read {exc}", exit_code=EXIT_FAILED)
    if outcome.ok and outcome.control is not None:
        write_control(request, outcome.control)
    return outcome


def _run_task(instance: NodeInstance) -> NodeOutcome:
    """Fork the attempt's process, supervise it to its end, record it (the engine retries a failure)."""
    supervisor = batch.supervisor_for(instance.ctx)
    try:
        return batch.run_attempt(supervisor, instance)
    finally:
        supervisor.close()
