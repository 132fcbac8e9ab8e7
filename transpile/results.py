"""Runs read back from the run store as objects: what `transpile.run` returns and `transpile.load_run` reads.

A `Run` is built from the store's files (run.json, status.json, the nodes' attempt records and results),
so a run read back later is the same object as the one a call returned. `runs list/show` can print
these objects too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

Status = Literal["succeeded", "failed", "interrupted", "running"]


@dataclass(frozen=True)
class NodeRun:
    """One node instance of a run (`"boom"`, `"clean@2/load"`): its last attempt and totals."""

    key: str
    node: str
    status: str  # succeeded | failed | skipped | running | interrupted
    attempts: int
    inputs: dict[str, Any]
    returns: dict[str, Any]
    error: str | None
    seconds: float
    stdout: Path | None
    stderr: Path | None
    started: float | None = None
    items: int | None = None  # a map's item count
    case: str | None = None  # the case a switch chose

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class RunFailed(Exception):
    """Raised by `Run.raise_for_status()`: names every failed node with its error; `failed` lists them."""

    def __init__(self, run: Run):
        self.run = run
        self.failed: list[NodeRun] = run.failed
        state = "was interrupted" if run.status == "interrupted" else run.status
        if run.status == "failed" and not self.failed:
            state = "failed"
        lines = [f"run {run.run_id} {state}" + (f": {len(self.failed)} failed node(s)" if self.failed else "")]
        for node in self.failed:
            where = f" (stderr: {node.stderr})" if node.stderr else ""
            lines.append(f"  {node.key}: {node.error or 'failed'}{where}")
        super().__init__("\n".join(lines))


def _node(store: Any, key: str, attempts: list[dict[str, Any]], result: dict[str, Any] | None) -> NodeRun:
    last = attempts[-1] if attempts else {}
    status = "succeeded" if result is not None else str(last.get("status", "unknown"))
    logs = last.get("logs") or {}
    base = store.node_dir(key)
    return NodeRun(
        key=key,
        node=str(last.get("node", key)),
        status=status,
        attempts=len(attempts),
        inputs=dict(last.get("inputs") or {}),
        returns=dict((result or last).get("returns") or {}),
        error=None if status == "succeeded" else last.get("error"),
        seconds=round(sum(float(a.get("duration") or 0.0) for a in attempts), 3),
        stdout=base / logs["stdout"] if "stdout" in logs else None,
        stderr=base / logs["stderr"] if "stderr" in logs else None,
        started=attempts[0].get("started") if attempts else None,
        items=(result or {}).get("count", last.get("count")),
        case=(result or {}).get("case", last.get("case")),
    )


class Run:
    """A pipeline run: its id, status, values, and every node instance."""

    def __init__(
        self,
        store: Path,
        run_id: str,
        record: Mapping[str, Any],
        *,
        status: str | None = None,
        values: dict[str, Any] | None = None,
    ):
        self.store = Path(store)
        self.run_id = run_id
        self.record = dict(record)
        self.pipeline: str = str(record.get("pipeline", "?"))
        self.pipeline_file: str | None = record.get("pipeline_file")
        self.parameters: dict[str, Any] = dict(record.get("parameters") or {})
        self.created: float | None = record.get("created")
        self._status = status
        if values is not None:
            self.__dict__["values"] = values

    def __repr__(self) -> str:
        return f"<Run {self.run_id} {self.status}>"

    @cached_property
    def _runstore(self) -> Any:
        from transpile.runtime.store import RunStore

        return RunStore(self.store, self.run_id)

    @cached_property
    def final(self) -> dict[str, Any]:
        """The runner's status.json (status, ended, duration, failures), or {} while it runs."""
        return dict(self._runstore.status() or {})

    @cached_property
    def status(self) -> str:
        """`succeeded`, `failed`, `interrupted` (or `running` for a run still going or killed)."""
        if self._status is not None:
            return self._status
        if self.final.get("status"):
            return str(self.final["status"])
        latest = [node.status for node in self.nodes.values()]
        if "running" in latest:
            return "running"
        return "failed" if "failed" in latest else "succeeded"

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def seconds(self) -> float | None:
        duration = self.final.get("duration")
        return float(duration) if duration is not None else None

    @cached_property
    def nodes(self) -> dict[str, NodeRun]:
        """Node key -> NodeRun, in the order the nodes started."""
        store = self._runstore
        found = []
        for key in store.node_keys():
            attempts = store.attempts(key)
            result = store.result(key)
            if attempts or result is not None:
                found.append(_node(store, key, attempts, result))
        found.sort(key=lambda n: (n.started or 0.0, n.key))
        return {node.key: node for node in found}

    @property
    def failed(self) -> list[NodeRun]:
        """The nodes whose last attempt failed (and that never succeeded)."""
        return [node for node in self.nodes.values() if node.status in ("failed", "interrupted")]

    def raise_for_status(self) -> Run:
        """Raise `RunFailed` unless the run succeeded; returns the run, so calls chain."""
        if not self.ok:
            raise RunFailed(self)
        return self

    @cached_property
    def values(self) -> dict[str, Any]:
        """The values visible after the pipeline: its parameters overlaid with the returns of its top-level
        steps (a map's returns as lists, nested maps as nested lists); values not produced are left out."""
        return run_values(_load_plan(self), self._runstore, self.parameters)


def run_values(loaded: Any, runstore: Any, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters overlaid with every available top-level export, read as a step after the pipeline would."""
    from transpile.ir.graph import ON_FAILURE
    from transpile.ir.scope import Source
    from transpile.runtime.values import NotAvailable, ValueReader

    index = loaded.index
    reader = ValueReader(index, runstore, dict(parameters))
    values = dict(parameters)
    produced: set[str] = set()
    for path in index.steps:
        if len(path) != 1 or path[0] == ON_FAILURE:
            continue
        for name, producers in index.exports[path].items():
            if name in produced:
                continue
            try:
                values[name] = reader.resolve(Source("return", name, producers), path, ())
            except (NotAvailable, FileNotFoundError, KeyError):
                continue
            produced.add(name)
    return values


def _load_plan(run: Run) -> Any:
    """The plan a run used, from its pipeline file (the store's cache for YAML); refused if it changed."""
    from transpile.errors import Diagnostic, TranspileError
    from transpile.runtime.loader import load_pipeline

    if not run.pipeline_file:
        raise TranspileError([Diagnostic(f"run {run.run_id} has no run record in {run.store}")])
    loaded = load_pipeline(run.pipeline_file, run.store)
    if loaded.hash != run.record.get("hash"):
        raise TranspileError(
            [
                Diagnostic(
                    f"the values of run {run.run_id} need the pipeline it ran, but {run.pipeline_file} changed "
                    f"since (hash {loaded.hash[:12]}, the run used {str(run.record.get('hash'))[:12]})"
                )
            ]
        )
    return loaded


def read_run(store: Path, run_id: str) -> Run | None:
    """The run `run_id` in `store`, or None when the store has no such run."""
    from transpile.runtime.store import RunStore

    record = RunStore(store, run_id).run_record()
    return None if record is None else Run(store, run_id, record)


def read_runs(store: Path) -> list[Run]:
    """Every run in the store, oldest first."""
    from transpile.runtime.store import RunStore, list_runs

    return [Run(store, run_id, RunStore(store, run_id).run_record() or {}) for run_id in list_runs(store)]
