"""How did it go: the one reading of a run's files that every reader uses — `transpile runs list` and `runs
show`, the Python API's `Run` (`transpile.load_run`), `$TRANSPILE_FAILED` for on_failure steps, and the
recovery of a dead runner's attempts.

- An attempt left `running` by a process of this host that no longer exists reads `interrupted` (a store
  that could not be written any more, a killed runner): nothing dead ever shows as running.
- A node instance with a published result succeeded (`cached` when the attempt that published it came
  from the step cache), whatever its records say; otherwise its last attempt's status is the node's.
- The run's state: what its runner recorded in status.json (`running` only while its lease's holder
  lives); for a run driven by an engine's pods (no runner), `running`, `interrupted` or `failed` from the
  nodes' last attempts, `pending` when nothing ran and `unknown` when nothing failed (the engine knows
  whether it ended).
- The failed nodes: instances outside `on_failure` without a result whose last attempt failed or was
  interrupted.
- A file that cannot be read (not JSON, wrong types) is named in `problems`, never a crash: its node shows
  `unreadable` and the rest of the run reads as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transpile.runtime import procs
from transpile.runtime.lease import current, is_live
from transpile.runtime.records import AttemptRecord, CorruptRecord, LeaseRecord, NodeResult, RunRecord, RunStatus
from transpile.runtime.store import HOST, ITEMS, RunStore

FAILED = ("failed", "interrupted")
ON_FAILURE_KEY = "on_failure"


def attempt_status(record: AttemptRecord) -> str:
    """The attempt's status as it stands: `running` left by a dead process of this host reads `interrupted`."""
    if record.status == "running" and record.host == HOST and record.pid and not procs.alive(record.pid):
        return "interrupted"
    return record.status


@dataclass
class NodeState:
    """One node instance as its files say: its readable attempts (oldest first), its result, and the files
    of it that could not be read."""

    key: str
    attempts: list[AttemptRecord] = field(default_factory=list)
    result: NodeResult | None = None
    problems: list[CorruptRecord] = field(default_factory=list)
    last_unreadable: bool = False  # the newest attempt's record is one of the problems

    @property
    def last(self) -> AttemptRecord | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def status(self) -> str:
        if self.result is not None:
            published = next((a for a in self.attempts if a.attempt == self.result.attempt), None)
            return "cached" if published is not None and published.status == "cached" else "succeeded"
        if self.last_unreadable or (self.last is None and self.problems):
            return "unreadable"
        return attempt_status(self.last) if self.last is not None else "pending"

    @property
    def in_on_failure(self) -> bool:
        return self.key.split("/", 1)[0] == ON_FAILURE_KEY

    @property
    def started(self) -> float:
        return next((a.started for a in self.attempts if a.started is not None), 0.0)


def read_node(run: RunStore, key: str) -> NodeState:
    state = NodeState(key)
    try:
        state.result = run.result(key)
    except CorruptRecord as exc:
        state.problems.append(exc)
    numbers = run.attempt_numbers(key)
    for number in numbers:
        try:
            record = run.read_attempt(key, number)
        except CorruptRecord as exc:
            state.problems.append(exc)
            state.last_unreadable = number == numbers[-1]
            continue
        if record is not None:
            state.attempts.append(record)
            state.last_unreadable = False
    return state


def read_nodes(run: RunStore) -> dict[str, NodeState]:
    """Every node instance of the run, in the order they started."""
    nodes = [read_node(run, key) for key in run.node_keys()]
    nodes.sort(key=lambda n: (n.started, n.key))
    return {node.key: node for node in nodes}


def failed_keys(nodes: dict[str, NodeState]) -> list[str]:
    """The instances that failed the run: outside on_failure, no result, last attempt failed or interrupted."""
    return [key for key, node in nodes.items() if not node.in_on_failure and node.status in FAILED]


def failed_nodes(run: RunStore) -> list[str]:
    """`$TRANSPILE_FAILED` of an on_failure step."""
    return failed_keys(read_nodes(run))


def run_state(final: RunStatus | None, lease: LeaseRecord | None, nodes: dict[str, NodeState]) -> str:
    """`running`, `interrupted`, `failed`, `succeeded`; for a run without a runner also `pending`, `unknown`."""
    if final is not None:
        if final.status != "running":
            return final.status
        return "running" if lease is not None and is_live(lease) else "interrupted"
    latest = [node.status for node in nodes.values() if node.result is None and node.last is not None]
    for status in ("running", "interrupted", "failed"):
        if status in latest:
            return status
    return "pending" if not any(node.attempts or node.result for node in nodes.values()) else "unknown"


def log_paths(run: RunStore, key: str, record: AttemptRecord | None) -> tuple[Path | None, Path | None]:
    """(stdout, stderr) log files of an attempt."""
    logs = (record.logs if record is not None else None) or {}
    base = run.node_dir(key)
    return tuple(base / logs[name] if name in logs else None for name in ("stdout", "stderr"))  # type: ignore[return-value]


@dataclass
class Verdict:
    """A whole run read back: its record, its runner's status, its nodes, its state and failed nodes, and
    every file that could not be read."""

    run: RunStore
    record: RunRecord | None
    final: RunStatus | None
    nodes: dict[str, NodeState]
    state: str
    failed: list[str]
    problems: list[CorruptRecord]

    @property
    def succeeded(self) -> int:
        return sum(1 for node in self.nodes.values() if node.result is not None)


def read_verdict(run: RunStore) -> Verdict:
    problems: list[CorruptRecord] = []

    def read(reader):  # noqa: ANN001, ANN202
        try:
            return reader()
        except CorruptRecord as exc:
            problems.append(exc)
            return None

    record = read(run.run_record)
    final = read(run.status)
    lease = read(lambda: current(run)) if final is not None and final.status == "running" else None
    nodes = read_nodes(run)
    for node in nodes.values():
        problems += node.problems
    return Verdict(run, record, final, nodes, run_state(final, lease, nodes), failed_keys(nodes), problems)


def fix_for(path: Path) -> str:
    """What to do about a store file that cannot be read, in words."""
    name = path.name
    if name == "record.json":
        return f"delete {path}: the attempt then reads as interrupted and its node runs again if it has no result"
    if name == "result.json":
        return f"delete {path}: that node instance then runs again"
    if name == "status.json":
        return f"delete {path}: the resumed run writes it again"
    if name.startswith("lease-"):
        return f"if no runner drives this run, delete {path}"
    if path.parent.name == ITEMS:
        return f"delete {path.parent.parent / 'result.json'}: the map then fans out again and rewrites its items"
    return f"move {path} aside"


def unreadable_files(run: RunStore) -> list[tuple[CorruptRecord, str]]:
    """Every file of the run that cannot be read (status, lease, records, results, map items), each with
    its fix: what `--resume` checks before it touches anything."""
    verdict = read_verdict(run)
    problems = list(verdict.problems)
    try:
        current(run)
    except CorruptRecord as exc:
        problems.append(exc)
    for key, node in verdict.nodes.items():
        count = node.result.count if node.result is not None else None
        for index in range(count or 0):
            try:
                run.item(key, index)
            except FileNotFoundError:
                continue
            except CorruptRecord as exc:
                problems.append(exc)
    unique = {str(exc.path): exc for exc in problems}
    return [(exc, fix_for(exc.path)) for exc in unique.values()]
