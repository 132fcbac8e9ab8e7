"""Read runs back from the store for `transpile runs list` and `transpile runs show`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transpile.runtime import procs
from transpile.runtime.lease import current, is_live
from transpile.runtime.store import HOST, RunStore, list_runs


def table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned text columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def node_summary(run: RunStore) -> dict[str, list[dict]]:
    """Node key -> its attempt records."""
    return {key: run.attempts(key) for key in run.node_keys()}


def run_status(run: RunStore, nodes: dict[str, list[dict]]) -> str:
    """How the run stands: `running`, `interrupted`, `failed`, `succeeded` from the local runner's status
    and lease; for a run driven only by an engine's pods (no runner status), from its attempts, `pending`
    when nothing ran yet and `unknown` when nothing failed (the engine knows whether it ended)."""
    status = run.status()
    if status:
        if status["status"] != "running":
            return status["status"]
        lease = current(run)
        return "running" if lease is not None and is_live(lease) else "interrupted"
    latest = [attempts[-1] for attempts in nodes.values() if attempts]
    running = [r for r in latest if r.get("status") == "running"]
    if any(r.get("host") != HOST or procs.alive(int(r.get("pid", 0))) for r in running):
        return "running"
    if running or any(r.get("status") == "interrupted" for r in latest):
        return "interrupted"
    if any(r.get("status") == "failed" and run.result(r.get("key", "")) is None for r in latest):
        return "failed"
    return "pending" if not latest else "unknown"


def run_rows(root: Path) -> list[tuple[str, ...]]:
    rows = []
    for run_id in list_runs(root):
        run = RunStore(root, run_id)
        record = run.run_record() or {}
        nodes = node_summary(run)
        ok = sum(1 for key in nodes if run.result(key) is not None)
        failed = sum(1 for key, a in nodes.items() if a and a[-1]["status"] == "failed" and run.result(key) is None)
        rows.append(
            (
                run_id,
                record.get("pipeline", "?"),
                run_status(run, nodes),
                _when(record.get("created")),
                str(ok),
                str(failed),
            )
        )
    return rows


def _value(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _tree_path(key: str) -> tuple[str, ...]:
    """`clean@2/load` -> ('clean', '[2]', 'load'): map instances sit under their map."""
    parts: list[str] = []
    for segment in key.split("/"):
        name, sep, index = segment.partition("@")
        parts.append(name)
        if sep:
            parts.append(f"[{index}]")
    return tuple(parts)


def _detail(run: RunStore, key: str, last: dict) -> str:
    detail = ""
    if last.get("returns"):
        detail = ", ".join(f"{k}={_value(v)}" for k, v in last["returns"].items())
    if "count" in last:
        detail = f"items {last['count']}"
    if "case" in last:
        detail = f"case {last['case']!r}"
    if last.get("note") and not detail:
        detail = last["note"]
    if last.get("error"):
        detail = f"error: {last['error']}  (logs: {run.node_dir(key) / last['logs']['stderr']})"
    return detail


def show_run(root: Path, run_id: str) -> str | None:
    """The run's nodes as a tree (children under their parent, map items under their map, in the order
    they started), with status, attempts, durations, returned or control values, errors and log paths."""
    run = RunStore(root, run_id)
    record = run.run_record()
    if record is None:
        return None
    nodes = node_summary(run)
    lines = [
        f"run {run_id}  pipeline {record['pipeline']}  status {run_status(run, nodes)}",
        f"  hash {record['hash'][:12]}  created {_when(record.get('created'))}",
        f"  parameters {_value(record.get('parameters', {}))}",
        f"  logs {run.run_dir}/nodes/<node>/attempt.<n>/stdout.log and stderr.log",
    ]
    status = run.status()
    if status and status.get("failures"):
        lines += [f"  failure: {f}" for f in status["failures"]]
    by_path = {_tree_path(key): key for key in nodes}
    started: dict[tuple[str, ...], float] = {}
    for tree_path, key in by_path.items():
        first = nodes[key][0].get("started", 0) if nodes[key] else 0
        for depth in range(1, len(tree_path) + 1):
            prefix = tree_path[:depth]
            started[prefix] = min(started.get(prefix, first), first)
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for prefix in started:
        children.setdefault(prefix[:-1], []).append(prefix)
    rows = [("node", "status", "attempts", "seconds", "detail")]

    def walk(parent: tuple[str, ...]) -> None:
        for prefix in sorted(children.get(parent, []), key=lambda p: (started[p], p)):
            name = "  " * (len(prefix) - 1) + prefix[-1]
            key = by_path.get(prefix)
            if key is None:
                rows.append((name, "", "", "", ""))
            elif not nodes[key]:
                rows.append((name, "reused", "0", "-", ""))
            else:
                attempts = nodes[key]
                seconds = sum(a.get("duration", 0.0) for a in attempts)
                last = attempts[-1]
                rows.append((name, last["status"], str(len(attempts)), f"{seconds:.2f}", _detail(run, key, last)))
            walk(prefix)

    walk(())
    return "\n".join(lines) + "\n" + table(rows)
