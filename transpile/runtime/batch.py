"""Run the node instances of a descriptor in one pod: a batch of map items, each still a pod of its own.

Every instance is settled from the store first: a published result is reused (recorded `reused`), an
instance in a switch case its item did not choose is skipped, and an attempt a dead pod left `running` is
closed `interrupted`. A task's instances then run one after the other, each in its own attempt process
forked from this warm entrypoint (fresh working directory, environment, timeout, catalog and records, as
`transpile run` runs them), so the crash or `os._exit` of one cannot touch the others, and each has the
pod's resources to itself, as it would in a pod of its own. Retries are counted in the store, not per pod:
an instance gets the attempts its `retries` leave after those already recorded failed, with their backoff,
so an engine that runs the batch again (after a killed pod, or because an item failed for good) runs only
what has no result and never gives an item more attempts than declared.

Control nodes run inline for every instance: a map's fan-out then splits the items of all of them into
descriptors for its body (plan/batching.py decides the batch size), a switch's select reports the set of
cases its instances chose.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from transpile.ir.names import step_key
from transpile.plan import batching
from transpile.plan.retry import retry_delay
from transpile.runtime import instances
from transpile.runtime.capture import LogEcho
from transpile.runtime.child import context_builder
from transpile.runtime.instance import EXIT_FAILED, NodeInstance, NodeOutcome, RunContext
from transpile.runtime.records import MapSplit
from transpile.runtime.supervisor import ForkSpawner, Supervisor
from transpile.runtime.workspace import new_workdir

Indices = tuple[int, ...]
ECHO_SECONDS = 0.2  # how often a running attempt's new output is echoed to the pod's log


def settle(instance: NodeInstance, force: bool, in_batch: bool = False) -> NodeOutcome | None:
    """Settle an instance from the store when it can be (reused, skipped); None: it has to run. An attempt
    an earlier pod left `running` is closed first, even when its result was published before the pod died.
    In a batch, an instance in a case its item did not choose is skipped without a record, as an unbatched
    run never starts it."""
    if instance.run.attempt_numbers(instance.key):  # run before: close what a dead pod left (its attempt may
        from transpile.runtime.recovery import close_previous  # have published its result as the pod died)

        close_previous(instance.run, instance.key)
    result = None if force else instance.published()
    if result is not None:
        return instance.reuse(result)
    if in_batch and instance.unchosen_case() is not None:
        return NodeOutcome(instance.key, 0, "skipped")
    return instance.before_launch()


def supervisor_for(ctx: RunContext, instances: int = 1) -> Supervisor:
    """A supervisor whose attempt processes are forked from this process: directly for one instance, through
    a zygote forked from it for a batch (this process then writes the records without sharing a page with
    the attempts it forked, and the next item's process is forked while an item runs)."""
    builder = context_builder(ctx.loaded, ctx.run, ctx.parameters)
    if instances == 1:
        return Supervisor(ForkSpawner(builder, lambda: new_workdir(ctx.run.run_id)))
    from transpile.runtime.pool import ZygoteSpawner
    from transpile.runtime.zygote import fork_zygote

    return Supervisor(ZygoteSpawner(*fork_zygote(builder, ctx.run.run_id, 1, ctx.import_paths)))


def run_attempt(supervisor: Supervisor, instance: NodeInstance) -> NodeOutcome:
    """One attempt of a task instance in a forked process, supervised to its end and recorded; interrupted
    (SIGTERM, SIGINT), it stops the attempt's whole tree, records it and re-raises."""
    process = supervisor.take()
    record = instance.claim()
    instance.launched(record, process)
    echo = LogEcho(instance.attempt_dir(record)) if instance.ctx.echo else None
    supervisor.start(process, instance.assignment(record), instance.step.timeout)
    try:
        while not supervisor.events(ECHO_SECONDS if echo else 0.5):
            if echo:
                echo.pump()
    except BaseException:
        supervisor.stop_all(grace=0.0)
        instance.complete(record, process.report())
        raise
    finally:
        if echo:
            echo.close()
    return instance.complete(record, process.report())


def spent_attempts(instance: NodeInstance) -> int:
    """Attempts of the instance that failed (a timeout included): what its `retries` are counted against.
    An attempt interrupted (a pod killed or stopped) spends nothing: the instance is run again."""
    return sum(1 for record in instance.run.attempts(instance.key) if record.status == "failed")


def run_task(supervisor: Supervisor, instance: NodeInstance, sleep: Callable[[float], None]) -> NodeOutcome:
    """Run a task instance to its end with the attempts its retries leave, or fail it for good."""
    retries = instance.step.retries
    allowed = 1 + (retries.limit if retries else 0)
    spent = spent_attempts(instance)
    if spent >= allowed:
        last = instance.run.attempts(instance.key)[-1]
        error = f"failed for good: its {spent} attempt(s) failed ({last.error or 'no reason recorded'})"
        return NodeOutcome(instance.key, last.attempt, "failed", error, exit_code=EXIT_FAILED)
    while True:
        outcome = run_attempt(supervisor, instance)
        if outcome.ok or outcome.status == "interrupted" or outcome.fault:
            return outcome
        spent += 1
        delay = retry_delay(retries, spent, "timed_out" if outcome.timed_out else "failed")
        if delay is None:
            return outcome
        sleep(delay)


def summary(node: str, descriptor: str, outcomes: list[NodeOutcome]) -> NodeOutcome:
    """The batch's outcome: succeeded when every instance ended succeeded, reused or skipped; else the first
    instance that did not (its key and attempt locate its logs), the error counting the others."""
    bad = [o for o in outcomes if not o.ok]
    if not bad:
        return NodeOutcome(f"{node}[{descriptor}]", 0, "succeeded")
    first = bad[0]
    status = "interrupted" if any(o.status == "interrupted" for o in bad) else "failed"
    error = f"{len(bad)} of {len(outcomes)} instance(s) of batch {descriptor} did not succeed"
    error += f"; {first.key}: {first.error}"
    fault = next((o.fault for o in bad if o.fault), None)
    return NodeOutcome(first.key, first.attempt, status, error, exit_code=EXIT_FAILED, fault=fault)


def run_tasks(ctx: RunContext, path: tuple[str, ...], members: list[Indices], descriptor: str, force: bool,
              sleep: Callable[[float], None] = time.sleep) -> NodeOutcome:  # fmt: skip
    """Every instance of a batch of a task step, one after the other (see the module docstring)."""
    outcomes: list[NodeOutcome] = []
    supervisor = supervisor_for(ctx, len(members))
    try:
        for indices in members:
            instance = ctx.instance(path, indices)
            instance.batch = descriptor
            outcome = settle(instance, force, in_batch=True) or run_task(supervisor, instance, sleep)
            outcomes.append(outcome)
            if outcome.fault or outcome.status == "interrupted":
                break  # the store cannot be written, or the pod is stopping: what is left runs again later
    finally:
        supervisor.close()
    return summary(ctx.loaded.index.steps[path].step.id, descriptor, outcomes)


# -- control nodes ------------------------------------------------------------------------------------------
def run_controls(ctx: RunContext, path: tuple[str, ...], members: list[Indices], descriptor: str, force: bool,
                 limit: int | None) -> NodeOutcome:  # fmt: skip
    """A map's fan-out or a switch's select for every instance of the descriptor, inline; its control value
    is the body's descriptors (a map) or the chosen case (a switch: `|key|...|` for instances in maps)."""
    batch = None if len(members) == 1 else descriptor
    outcomes, settled = [], []
    for indices in members:
        instance = ctx.instance(path, indices)
        instance.batch = batch
        outcome = settle(instance, force, in_batch=batch is not None) or instance.run_inline()
        outcomes.append(outcome)
        settled.append((indices, outcome))
        if not outcome.ok:
            break
    step = ctx.loaded.index.steps[path].step
    result = outcomes[0] if len(outcomes) == 1 else summary(step.id, descriptor, outcomes)
    if not result.ok:
        return result
    if step.map is not None:
        result.control = fan_out(ctx, path, settled, limit)
    elif ctx.loaded.index.enclosing_maps(path):
        chosen = {o.control for _, o in settled if o.control is not None}
        keys = [step_key(case) for case in step.switch.cases if step_key(case) in chosen]
        result.control = "|" + "".join(f"{key}|" for key in keys)
    return result


def fan_out(ctx: RunContext, path: tuple[str, ...], settled: list[tuple[Indices, NodeOutcome]],
            limit: int | None) -> list[str]:  # fmt: skip
    """The descriptors of the map's body for the instances fanned out (in order), split by the batching
    policy, each instance's split recorded for the maps nested in its body."""
    step, reader, run = ctx.loaded.index.steps[path].step, ctx.reader, ctx.run
    counts = [(indices, outcome.control or 0) for indices, outcome in settled if outcome.control is not None]
    items = sum(count for _, count in counts)
    share = _share(ctx, path, settled[0][0])
    size = batching.per_instance(items, step.map.batch, batching.share_limit(limit, share))
    made = instances.batches(counts, size)
    for indices, _ in counts:
        split = MapSplit(size=size, instances=len(made), share=share * max(1, len(made)))
        run.write_split(reader.instance_key(path, indices), split)
    return made


def _share(ctx: RunContext, path: tuple[str, ...], indices: Indices) -> int:
    """How many parts the map's limit is divided into: the share its innermost enclosing map's fan-out
    recorded for the instance holding `indices` (1 outside maps, or without a record)."""
    maps = ctx.loaded.index.enclosing_maps(path)
    if not maps:
        return 1
    split = ctx.run.split(ctx.reader.instance_key(maps[-1], indices[: len(maps) - 1]))
    return split.share if split is not None else 1


def members_of(descriptor: instances.Descriptor, count: Callable[[Indices], int]) -> list[Indices]:
    """Every instance a descriptor names, in order."""
    return list(instances.members(descriptor, count))
