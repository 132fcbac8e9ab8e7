"""A cached step's node instance, in the record half (instance.py), before any attempt process exists.

`consult` computes the instance's key (cache_key.py) and looks for its entry (cache_store.py). A hit
restores the entry's catalog files into the run's catalog (claimed for this instance), publishes the cached
returns as the instance's result and records an attempt `cached` naming the run and node instance the
result came from: nothing is forked. A miss (no entry, an entry expired or corrupt, `--refresh`, the cache
mode `off`) says why in the attempt's record (`cache`), and `remember` writes the entry once the attempt
succeeded. Explanations of a miss compare the key with the newest entry of the same node instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from transpile.runtime import cache_store
from transpile.runtime.cache_key import Probe, Uncacheable, changes, compute
from transpile.runtime.records import AttemptRecord, CacheEntry, NodeResult
from transpile.runtime.store import StoreFault, now
from transpile.runtime.workspace import CatalogError

if TYPE_CHECKING:
    from transpile.runtime.instance import NodeInstance, NodeOutcome
    from transpile.runtime.supervisor import AttemptReport


def consult(instance: NodeInstance) -> NodeOutcome | None:
    """Settle a cached step's instance from its entry (the outcome), or note why it must run (None)."""
    ctx, settings = instance.ctx, instance.step.settings
    mode = ctx.cache_mode
    if mode is not None and not mode.enabled:
        instance.cache_note = {"decision": "off", "reason": "the run's cache mode is off (--no-cache)"}
        return None
    try:
        probe = compute(instance.step, instance.path, instance.indices, instance.node, ctx.reader, ctx.import_paths)
    except Uncacheable as exc:
        instance.cache_note = {"decision": "miss", "reason": f"no key: {exc}"}
        return None
    except OSError as exc:  # a key file or catalog file unreadable: the step runs and meets it itself
        where = f" ({exc.filename})" if exc.filename else ""
        instance.cache_note = {"decision": "miss", "reason": f"no key: {exc.strerror or exc}{where}"}
        return None
    instance.cache_probe = probe
    note: dict[str, Any] = {"decision": "miss", "key": probe.key}
    instance.cache_note = note
    root = ctx.run.root
    if mode is not None and mode.refreshes(instance.node):
        note.update(decision="refresh", reason="asked to run again (--refresh)")
        instance.cache_replace = True
        return None
    found = cache_store.find(root, probe.key, settings.cache.max_age)
    if found.state == "hit":
        try:
            restored = cache_store.restore(found, ctx.run.catalog, instance.key, ctx.run.durable)
        except (CatalogError, OSError) as exc:  # the step runs instead: a cache fault never fails a node
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            note["reason"] = f"the entry's files cannot be restored: {reason}"
            return None
        return _complete_hit(instance, probe, found, restored)
    if found.state in ("corrupt", "expired"):
        note["reason"] = f"{found.state} entry not used: {found.problem}"
        instance.cache_replace = True
        return None
    note["reason"] = explain_miss(root, ctx.loaded.plan.name, instance.key, probe)
    return None


def explain_miss(root: Any, pipeline: str, node_key: str, probe: Probe) -> str:
    """Why no entry matches: what changed since the newest entry of this node instance, if it has one."""
    key, found = cache_store.newest(root, pipeline, node_key)
    if key is None or found is None:
        return "no entry for this step yet"
    if found.entry is None:
        return "no entry for this key (the newest one of this step is gone: pruned)"
    what = changes(found.entry.document, probe.document, probe.code_file)
    if not what:
        return "no entry for this key"
    return f"{'; '.join(what)} (since the entry of run {found.entry.run_id})"


def _complete_hit(instance: NodeInstance, probe: Probe, found: cache_store.Found, restored: list[str]) -> NodeOutcome:
    """Record the hit: an attempt `cached` (no process, no logs) and the entry's returns as the result."""
    from transpile.runtime.instance import NodeOutcome

    entry = found.entry
    assert entry is not None
    run = instance.run
    record = instance.claim()
    record.logs = None  # no process, no logs
    record.inputs, record.returns = probe.inputs, dict(entry.returns)
    record.catalog_get, record.catalog_put = probe.catalog_get or None, restored or None
    record.cache = {
        "decision": "hit",
        "key": probe.key,
        "run": entry.run_id,
        "node": entry.node_key,
        "attempt": entry.attempt,
        "created": entry.created,
    }
    record.note = f"cached: the result of run {entry.run_id} ({entry.node_key}); not run again"
    if not run.publish_result(instance.key, NodeResult(returns=dict(entry.returns), attempt=record.attempt)):
        record.note = "an earlier attempt had already published this node's result"
    record.close("cached", now())
    run.write_attempt(instance.attempt_dir(record), record)
    return NodeOutcome(instance.key, record.attempt, "cached")


def remember(instance: NodeInstance, record: AttemptRecord, report: AttemptReport) -> None:
    """The attempt succeeded: write its entry (`record.cache` says whether it was written). A store that
    cannot take it costs only the entry: the step's own outcome stands."""
    probe = instance.cache_probe
    if probe is None:
        return
    from transpile import __version__

    ctx = instance.ctx
    entry = CacheEntry(
        key=probe.key,
        document=probe.document,
        returns=dict(report.returns or {}),
        files={},
        created=now(),
        run_id=instance.run.run_id,
        node_key=instance.key,
        attempt=record.attempt,
        pipeline=ctx.loaded.plan.name,
        code_file=probe.code_file,
        transpile=__version__,
    )
    put = list(report.catalog_put or ())
    try:
        state = cache_store.publish(ctx.run.root, entry, ctx.run.catalog, put, instance.cache_replace, ctx.run.durable)
    except StoreFault as fault:
        state = f"not written: {fault.reason}"
    record.cache = {**(record.cache or instance.cache_note or {}), "entry": state}


def explain(record: AttemptRecord | None) -> str | None:
    """One node instance's cache decision in words (None when the step is not cached)."""
    cache = record.cache if record is not None else None
    if not cache:
        return None
    decision = cache.get("decision")
    if decision == "hit":
        return f"hit: the result of run {cache.get('run')} ({cache.get('node')})"
    text = f"{decision}: {cache.get('reason') or '?'}"
    entry = cache.get("entry")
    if entry == "written":
        text += "; entry written"
    elif entry == "kept":
        text += "; another run had written the entry first"
    elif entry:
        text += f"; entry {entry}"
    return text


def explain_run(run: Any) -> list[str]:
    """`transpile run --explain-cache`: each cached node instance of the run, in the order they started, with
    its decision and why."""
    from transpile.runtime.verdict import read_nodes

    lines = [f"  {key}: {text}" for key, node in read_nodes(run).items() if (text := explain(node.last))]
    return ["cache:", *lines] if lines else ["cache: no step of this run is cached"]
