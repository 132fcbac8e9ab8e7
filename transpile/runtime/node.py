"""Run one node instance: the body of `transpile execute-node`, which every backend's pods run.

A node is a task step (python, shell, stub) or the control node of a map (fan-out: writes the items and
their indices) or of a switch (route: picks the case). Each execution claims a new attempt in the run
store, records its inputs, outputs, logs and outcome there (instance.py), and publishes the node's result
once; a task's body runs in a process forked from this one (supervisor.py). An engine that runs the
instance again (a pod retried, a task cleared) finds its result published and records the run `reused`
without running the step (unless `force`); an earlier attempt of the instance left `running` by a pod
that is gone is closed `interrupted` first, its temporary files removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transpile.ir.names import node_id
from transpile.plan.params import ParameterError
from transpile.runtime.child import context_builder
from transpile.runtime.instance import EXIT_FAILED, NodeError, NodeInstance, NodeOutcome, RunContext
from transpile.runtime.loader import Loaded, load_pipeline
from transpile.runtime.records import CorruptRecord
from transpile.runtime.store import RunStore, StoreFault, run_id_problem
from transpile.runtime.supervisor import ForkSpawner, Supervisor
from transpile.runtime.values import parse_parameters
from transpile.runtime.workspace import new_workdir

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
    indices: tuple[int, ...] = ()
    expected_hash: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    control_out: Path | None = None
    xcom_out: Path | None = None
    print_control: bool = False
    echo: bool = True
    force: bool = False  # run the step even when the instance's result is already published
    cache: str | None = None  # the run's cache mode: on (None), off, refresh=ID,... (plan/cache_mode.py)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write_control(request: NodeRequest, value: Any) -> None:
    """Write the control value where the engine reads it.

    For a map, `--control-out` (Argo) gets the JSON array of item indices, which Argo appends to the
    enclosing indices itself; `--xcom` and `--print-control` get the items' full instance indices
    (`["2.0", "2.1"]`), ready for Airflow's and Prefect's fan-out. For a switch, all get the case's key.
    """
    if isinstance(value, int):  # a map's item count
        local = _json(list(range(value)))
        prefix = ".".join(str(i) for i in request.indices)
        full = _json([f"{prefix}.{i}" if prefix else str(i) for i in range(value)])
    else:
        local = full = value
    if request.control_out is not None:
        request.control_out.parent.mkdir(parents=True, exist_ok=True)
        request.control_out.write_text(local, encoding="utf-8")
    if request.xcom_out is not None:
        request.xcom_out.parent.mkdir(parents=True, exist_ok=True)
        request.xcom_out.write_text(full if isinstance(value, int) else _json(value), encoding="utf-8")
    if request.print_control:
        print(full, flush=True)


def _check_indices(instance: NodeInstance) -> None:
    """Each index must name an item of its map's fan-out (exit 2 otherwise, nothing recorded)."""
    index, reader = instance.ctx.loaded.index, instance.ctx.reader
    for depth, map_path in enumerate(index.enclosing_maps(instance.path)):
        map_key = reader.instance_key(map_path, instance.indices[:depth])
        try:
            fan_out = instance.run.result(map_key)
        except CorruptRecord as exc:
            raise NodeError(f"cannot read the items of map '{node_id(map_path)}': {exc}") from None
        if fan_out is None or fan_out.count is None:
            raise NodeError(f"map '{map_key}' has not fanned out yet: run its node before its items")
        if instance.indices[depth] >= fan_out.count:
            items = f"indices 0-{fan_out.count - 1}" if fan_out.count else "no items"
            raise NodeError(
                f"index {instance.indices[depth]} is out of range: map '{map_key}' has {fan_out.count} "
                f"item(s) ({items})"
            )


def prepare(request: NodeRequest, loaded: Loaded | None = None) -> NodeInstance:
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
    maps = loaded.index.enclosing_maps(path)
    if len(request.indices) != len(maps):
        raise NodeError(f"node '{request.node}' is inside {len(maps)} map(s) but got indices {request.indices}")
    try:
        parameters = parse_parameters(loaded.plan.parameters, request.parameters)
    except ParameterError as exc:
        raise NodeError(str(exc)) from None
    run = RunStore(Path(request.store).absolute(), request.run_id)
    mode = _cache_mode(request, loaded)
    ctx = RunContext(loaded, run, parameters, request.pipeline, echo=request.echo, cache_mode=mode)
    instance = ctx.instance(path, request.indices)
    _check_indices(instance)
    return instance


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


def _run_task(instance: NodeInstance) -> NodeOutcome:
    """Fork the attempt's process, supervise it to its end, record it."""
    ctx = instance.ctx
    supervisor = Supervisor(ForkSpawner(context_builder(ctx.loaded, ctx.run, ctx.parameters), _workdir(ctx)))
    try:
        process = supervisor.take()
        record = instance.claim()
        instance.launched(record, process)
        supervisor.start(process, instance.assignment(record), instance.step.timeout)
        try:
            while not supervisor.events(0.5):
                pass
        except BaseException:  # interrupted (SIGTERM/SIGINT): stop the body's whole tree, record it
            supervisor.stop_all(grace=0.0)
            instance.complete(record, process.report())
            raise
        return instance.complete(record, process.report())
    finally:
        supervisor.close()


def _workdir(ctx: RunContext) -> Any:
    return lambda: new_workdir(ctx.run.run_id)


def execute_node(request: NodeRequest, loaded: Loaded | None = None) -> NodeOutcome:
    """Run one node instance to its end and record it; raises NodeError or HashMismatch when it cannot run.
    A store that cannot be written is an outcome: `failed` with the reason, exit 1 (engines retry it)."""
    instance = prepare(request, loaded)
    try:
        instance.ctx.ensure_run_record()
        result = None if request.force else instance.published()
        if result is not None:
            outcome = instance.reuse(result)
        else:
            if instance.run.attempt_numbers(instance.key):  # run before: close what a dead pod left
                from transpile.runtime.recovery import close_previous

                close_previous(instance.run, instance.key)
            outcome = instance.before_launch() or (
                _run_task(instance) if instance.step.is_task else instance.run_inline()
            )
    except StoreFault as fault:
        return NodeOutcome(instance.key, 0, "failed", fault.reason, exit_code=EXIT_FAILED, fault=fault.reason)
    except CorruptRecord as exc:
        return NodeOutcome(instance.key, 0, "failed", f"cannot read {exc}", exit_code=EXIT_FAILED)
    if outcome.ok and outcome.control is not None:
        write_control(request, outcome.control)
    return outcome
