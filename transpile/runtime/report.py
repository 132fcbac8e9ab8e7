"""Read runs back from the store for `transpile runs list` and `transpile runs show`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transpile.runtime.store import RunStore, list_runs


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
    status = run.status()
    if status:
        return status["status"]
    latest = [attempts[-1]["status"] for attempts in nodes.values() if attempts]
    if any(s == "running" for s in latest):
        return "running"
    return "failed" if any(s == "failed" for s in latest) else "succeeded"


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


def show_run(root: Path, run_id: str) -> str | None:
    """The run's nodes as an indented tree (in the order they started), with status, attempts,
    durations, returned values or control values, errors, and where the logs are."""
    run = RunStore(root, run_id)
    record = run.run_record()
    if record is None:
        return None
    nodes = node_summary(run)
    lines = [
        f"run {run_id}  pipeline {record['pipeline']}  status {run_status(run, nodes)}",
        f"  hash {record['hash'][:12]}  created {_when(record.get('created'))}",
        f"  parameters {_value(record.get('parameters', {}))}",
        f"  logs {run.run_dir}/nodes/<node>/attempt-<n>/stdout.log and stderr.log",
    ]
    status = run.status()
    if status and status.get("failures"):
        lines += [f"  failure: {f}" for f in status["failures"]]
    rows = [("node", "status", "attempts", "seconds", "detail")]
    order = sorted(nodes, key=lambda k: (nodes[k][0].get("started", 0) if nodes[k] else 0, k))
    for key in order:
        attempts = nodes[key]
        name = "  " * key.count("/") + key
        if not attempts:
            rows.append((name, "reused", "0", "-", ""))
            continue
        last = attempts[-1]
        detail = ""
        if last.get("returns"):
            detail = ", ".join(f"{k}={_value(v)}" for k, v in last["returns"].items())
        if "count" in last:
            detail = f"items {last['count']}"
        if "case" in last:
            detail = f"case {last['case']!r}"
        if last.get("error"):
            detail = f"error: {last['error']}  (logs: {run.node_dir(key) / last['logs']['stderr']})"
        seconds = sum(a.get("duration", 0.0) for a in attempts)
        rows.append((name, last["status"], str(len(attempts)), f"{seconds:.2f}", detail))
    return "\n".join(lines) + "\n" + table(rows)
