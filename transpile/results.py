"""Runs read back from the run store as objects: what `transpile.run` returns and `transpile.load_run` reads.

A `Run` is built from the store's files through the one reading every reader uses
(`transpile/runtime/verdict.py`), so a run read back later is the same object as the one a call returned,
and its status and failed nodes are those `transpile runs list/show` print.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

Status = Literal["succeeded", "failed", "interrupted", "running", "pending", "unknown"]


@dataclass(frozen=True)
class NodeRun:
    """One node instance of a run (`"boom"`, `"clean@2/load"`): its last attempt and totals."""

    key: str
    node: str
    status: str  # succeeded | cached | failed | skipped | reused | running | interrupted | unreadable
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
    cache: dict[str, Any] | None = None  # a cached step's decision: hit or miss, its key, why
    batch: str | None = None  # the batch (instance descriptor, `0~99`) whose pod / task instance ran it

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "cached")


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


def _node(store: Any, state: Any) -> NodeRun:
    from transpile.runtime.verdict import log_paths

    attempts, result, last = state.attempts, state.result, state.last
    stdout, stderr = log_paths(store, state.key, last)
    return NodeRun(
        key=state.key,
        node=str(last.node if last is not None and last.node else state.key),
        status=state.status,
        attempts=len(attempts),
        inputs=dict((last.inputs if last is not None else None) or {}),
        returns=dict((result.returns if result is not None else last.returns if last is not None else None) or {}),
        error=None if state.status in ("succeeded", "cached") or last is None else last.error,
        seconds=round(sum(float(a.duration or 0.0) for a in attempts), 3),
        stdout=stdout,
        stderr=stderr,
        started=attempts[0].started if attempts else None,
        items=result.count if result is not None else last.count if last is not None else None,
        case=result.case if result is not None else last.case if last is not None else None,
        cache=last.cache if last is not None else None,
        batch=last.batch if last is not None else None,
    )


class Run:
    """A pipeline run: its id, status, values, and every node instance."""

    def __init__(
        self,
        store: Path,
        run_id: str,
        record: Any = None,
        *,
        status: str | None = None,
        values: dict[str, Any] | None = None,
    ):
        self.store = Path(store)
        self.run_id = run_id
        self.record = record  # the run's RunRecord, None when unreadable
        self.pipeline: str = record.pipeline if record is not None else "?"
        self.pipeline_file: str | None = record.pipeline_file if record is not None else None
        self.parameters: dict[str, Any] = dict(record.parameters) if record is not None else {}
        self.created: float | None = record.created if record is not None else None
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
    def verdict(self) -> Any:
        """How the run went, as every reader reads it (`transpile.runtime.verdict.Verdict`)."""
        from transpile.runtime.verdict import read_verdict

        return read_verdict(self._runstore)

    @cached_property
    def status(self) -> str:
        """`succeeded`, `failed`, `interrupted`, `running` (a run still going); for a run driven by an
        engine's pods, `pending` (nothing ran yet) or `unknown` (nothing failed; the engine knows the rest)."""
        return self._status if self._status is not None else str(self.verdict.state)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def seconds(self) -> float | None:
        final = self.verdict.final
        return float(final.duration) if final is not None and final.duration is not None else None

    @property
    def problems(self) -> list[str]:
        """The run's files that could not be read, each as `path: what is wrong`."""
        return [str(exc) for exc in self.verdict.problems]

    @cached_property
    def nodes(self) -> dict[str, NodeRun]:
        """Node key -> NodeRun, in the order the nodes started."""
        return {key: _node(self._runstore, state) for key, state in self.verdict.nodes.items()}

    @property
    def failed(self) -> list[NodeRun]:
        """The node instances that failed the run: outside on_failure, without a result, their last
        attempt failed or interrupted (what `$TRANSPILE_FAILED` and `runs show` list)."""
        return [self.nodes[key] for key in self.verdict.failed]

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

    if not run.pipeline_file or run.record is None:
        raise TranspileError([Diagnostic(f"run {run.run_id} has no run record in {run.store}")])
    loaded = load_pipeline(run.pipeline_file, run.store)
    if loaded.hash != run.record.hash:
        raise TranspileError(
            [
                Diagnostic(
                    f"the values of run {run.run_id} need the pipeline it ran, but {run.pipeline_file} changed "
                    f"since (hash {loaded.hash[:12]}, the run used {run.record.hash[:12]})"
                )
            ]
        )
    return loaded


def _record(store: Path, run_id: str) -> tuple[bool, Any]:
    """(whether the run exists, its RunRecord or None when unreadable)."""
    from transpile.runtime.records import CorruptRecord
    from transpile.runtime.store import RunStore

    run = RunStore(store, run_id)
    try:
        record = run.run_record()
    except CorruptRecord:
        return True, None
    return record is not None, record


def read_run(store: Path, run_id: str) -> Run | None:
    """The run `run_id` in `store`, or None when the store has no such run."""
    exists, record = _record(store, run_id)
    return Run(store, run_id, record) if exists else None


def read_runs(store: Path) -> list[Run]:
    """Every run in the store, oldest first."""
    from transpile.runtime.store import list_runs

    return [Run(store, run_id, _record(store, run_id)[1]) for run_id in list_runs(store)]
