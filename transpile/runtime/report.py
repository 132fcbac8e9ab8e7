"""Read runs back from the store for `transpile runs list` and `transpile runs show`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transpile.runtime.records import AttemptRecord
from transpile.runtime.store import RunStore, list_runs
from transpile.runtime.verdict import NodeState, Verdict, log_paths, read_verdict


def table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned text columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def unreadable_lines(verdict: Verdict) -> list[str]:
    """One line per store file of the run that could not be read, naming it."""
    return [f"run {verdict.run.run_id}: cannot read {exc}" for exc in verdict.problems]


def run_rows(root: Path) -> tuple[list[tuple[str, ...]], list[str]]:
    """A row per run (id, pipeline, state, created, nodes succeeded, nodes failed), and a line per file
    that could not be read."""
    rows, problems = [], []
    for run_id in list_runs(root):
        verdict = read_verdict(RunStore(root, run_id))
        record = verdict.record
        rows.append(
            (
                run_id,
                record.pipeline if record else "?",
                verdict.state,
                _when(record.created if record else None),
                str(verdict.succeeded),
                str(len(verdict.failed)),
            )
        )
        problems += unreadable_lines(verdict)
    return rows, problems


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


def _detail(run: RunStore, node: NodeState) -> str:
    last: AttemptRecord | None = node.last
    if last is None:
        return "cannot read its record" if node.problems else ""
    detail = ""
    if last.returns:
        detail = ", ".join(f"{k}={_value(v)}" for k, v in last.returns.items())
    if last.count is not None:
        detail = f"items {last.count}"
    if last.case is not None:
        detail = f"case {last.case!r}"
    cache = last.cache or {}
    if node.status == "cached":
        detail = f"{detail}  (cached from run {cache.get('run')}, {cache.get('node')})".strip()
    elif last.note and not detail:
        detail = last.note
    if cache and cache.get("decision") != "hit":
        from transpile.runtime.cache_step import explain

        detail = f"{detail}  (cache {explain(last)})".strip()
    if node.status in ("failed", "interrupted"):
        error = last.error or "its process is gone"
        detail = f"error: {error}  (logs: {log_paths(run, node.key, last)[1]})"
    if node.status == "unreadable":
        detail = "cannot read its latest record"
    if last.batch:
        detail = f"batch {last.batch}" + (f"; {detail}" if detail else "")
    return detail


def show_run(root: Path, run_id: str) -> str | None:
    """The run's nodes as a tree (children under their parent, map items under their map, in the order
    they started), with status, attempts, durations, returned or control values, errors and log paths;
    then every file that could not be read. None when the store has no such run."""
    run = RunStore(root, run_id)
    verdict = read_verdict(run)
    record = verdict.record
    if record is None and not (run.run_dir / "run.json").exists():
        return None
    lines = [
        f"run {run_id}  pipeline {record.pipeline if record else '?'}  status {verdict.state}",
        f"  hash {record.hash[:12] if record else '?'}  created {_when(record.created if record else None)}",
        f"  parameters {_value(record.parameters if record else {})}",
        f"  logs {run.run_dir}/nodes/<node>/attempt.<n>/stdout.log and stderr.log",
    ]
    for key in verdict.failed:
        last = verdict.nodes[key].last
        error = (last.error if last else None) or "its process is gone"
        lines.append(f"  failed: {key}: {error}")
    nodes = verdict.nodes
    by_path = {_tree_path(key): key for key in nodes}
    started: dict[tuple[str, ...], float] = {}
    for tree_path, key in by_path.items():
        first = nodes[key].started
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
            elif not nodes[key].attempts and nodes[key].result is not None:
                rows.append((name, "reused", "0", "-", ""))
            else:
                node = nodes[key]
                seconds = sum(a.duration or 0.0 for a in node.attempts)
                rows.append((name, node.status, str(len(node.attempts)), f"{seconds:.2f}", _detail(run, node)))
            walk(prefix)

    walk(())
    text = "\n".join(lines) + "\n" + table(rows)
    problems = unreadable_lines(verdict)
    return text + ("\n" + "\n".join(problems) if problems else "")


def _node_json(run: RunStore, node: NodeState) -> dict[str, object]:
    last = node.last
    stdout, stderr = log_paths(run, node.key, last)
    returns = node.result.returns if node.result is not None else (last.returns if last else None)
    return {
        "key": node.key,
        "node": last.node if last else None,
        "status": node.status,
        "attempts": len(node.attempts),
        "seconds": round(sum(a.duration or 0.0 for a in node.attempts), 3),
        "started": node.started or None,
        "returns": returns or {},
        "items": last.count if last else None,
        "case": last.case if last else None,
        "batch": last.batch if last else None,
        "error": None if node.status in ("succeeded", "cached") or last is None else last.error,
        "cache": last.cache if last is not None else None,
        "stdout": str(stdout) if stdout else None,
        "stderr": str(stderr) if stderr else None,
    }


def _run_json(verdict: Verdict) -> dict[str, object]:
    record = verdict.record
    return {
        "run_id": verdict.run.run_id,
        "pipeline": record.pipeline if record else None,
        "status": verdict.state,
        "created": record.created if record else None,
        "succeeded": verdict.succeeded,
        "failed": verdict.failed,
        "problems": [str(exc) for exc in verdict.problems],
    }


def list_json(root: Path) -> dict[str, object]:
    """`runs list --json`: every run of the store, oldest first."""
    root = root.absolute()
    return {"store": str(root), "runs": [_run_json(read_verdict(RunStore(root, run_id))) for run_id in list_runs(root)]}


def show_json(root: Path, run_id: str) -> dict[str, object] | None:
    """`runs show --json`: the run (as in `runs list --json`), its hash and parameters, and every node instance
    in the order they started (log paths absolute); None when the store has no such run."""
    run = RunStore(root.absolute(), run_id)
    verdict = read_verdict(run)
    if verdict.record is None and not (run.run_dir / "run.json").exists():
        return None
    data = _run_json(verdict)
    record = verdict.record
    data.update(
        hash=record.hash if record else None,
        parameters=record.parameters if record else None,
        pipeline_file=record.pipeline_file if record else None,
        nodes=[_node_json(run, node) for node in sorted(verdict.nodes.values(), key=lambda n: (n.started, n.key))],
    )
    return data
