"""The records of one node instance: the record half of running a node, apart from launching its process.

A `NodeInstance` claims an attempt (an exclusive attempt directory), writes its `running` record, and
completes it from an `AttemptReport` (recording how it ended, publishing the result once). A control node
(a map's fan-out, a switch's select) runs inline through the same recorder; a task's body runs in an
attempt process a supervisor launches (supervisor.py) between `launched` and `complete`. `before_launch`
settles an instance that needs no process at all (a node in a switch case that was not chosen, a cached
step whose entry matches: cache_step.py): the place where a node is completed from what the store holds.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transpile.ir.graph import ON_FAILURE
from transpile.ir.names import node_id, step_key
from transpile.plan.params import encode
from transpile.runtime.body import StepFailure
from transpile.runtime.loader import Loaded
from transpile.runtime.records import AttemptRecord, CorruptRecord, NodeResult, RunRecord
from transpile.runtime.store import HOST, RunStore, StoreFault, now
from transpile.runtime.supervisor import AttemptProcess, AttemptReport
from transpile.runtime.values import NotAvailable, ValueReader

if TYPE_CHECKING:
    from transpile.plan.cache_mode import CacheMode
    from transpile.runtime.cache_key import Probe

EXIT_OK = 0
EXIT_FAILED = 1


class NodeError(Exception):
    """The node cannot run at all (unknown node, bad arguments, not its turn); exit 2, nothing recorded."""


@dataclass
class NodeOutcome:
    """What happened: the store key, attempt, status, the error if any, and the control value."""

    key: str
    attempt: int
    status: str  # succeeded, failed, interrupted, skipped, reused, cached
    error: str | None = None
    control: Any = None
    exit_code: int = EXIT_OK
    timed_out: bool = False
    fault: str | None = None  # why the run store could not be written, if it could not

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "skipped", "reused", "cached")


class RunContext:
    """What every node instance of one run shares: the plan, the store, the parameters and who runs them
    (`runner`: the local runner holding the lease, recorded in each attempt; None for `execute-node`) and
    the run's cache mode (None: on)."""

    def __init__(
        self,
        loaded: Loaded,
        run: RunStore,
        parameters: dict[str, Any],
        pipeline_ref: str,
        runner: str | None = None,
        echo: bool = False,
        cache_mode: CacheMode | None = None,
    ):
        self.loaded, self.run, self.parameters = loaded, run, parameters
        self.pipeline_ref, self.runner, self.echo = pipeline_ref, runner, echo
        self.cache_mode = cache_mode
        self.reader = ValueReader(loaded.index, run, parameters)
        self.import_paths = [os.getcwd(), os.path.dirname(os.path.abspath(pipeline_ref))]

    def ensure_run_record(self) -> None:
        """Write run.json when a pod is the run's first writer (StoreFault when it cannot)."""
        if (self.run.run_dir / "run.json").is_file():
            return
        plan = self.loaded.plan
        record = RunRecord(self.run.run_id, plan.name, self.loaded.hash, self.parameters, self.pipeline_ref, now())
        self.run.create_run(record)

    def instance(self, path: tuple[str, ...], indices: tuple[int, ...]) -> NodeInstance:
        return NodeInstance(self, path, indices)


class NodeInstance:
    """One node instance (a step at given map indices) and its attempts' records."""

    def __init__(self, ctx: RunContext, path: tuple[str, ...], indices: tuple[int, ...]):
        self.ctx, self.run = ctx, ctx.run
        self.path, self.indices = path, indices
        self.step = ctx.loaded.index.steps[path].step
        self.node = node_id(path)
        self.key = ctx.reader.instance_key(path, indices)
        self._claimed: tuple[int, Path] | None = None  # the attempt claimed last, and its directory
        self.cache_probe: Probe | None = None  # a cached step's key, once computed (cache_step.py)
        self.cache_note: dict[str, Any] | None = None  # why it runs: recorded in its attempt's `cache`
        self.cache_replace = False  # its new entry replaces the one found (refresh, corrupt, expired)
        self.batch: str | None = None  # the batch descriptor whose pod runs it (runtime/batch.py)

    # -- without a process ----------------------------------------------------------------------------
    def published(self) -> NodeResult | None:
        return self.run.result(self.key)

    def before_launch(self) -> NodeOutcome | None:
        """Settle the instance without a process when the store already says how; None: it has to run."""
        skipped_by = self.unchosen_case()
        if skipped_by is None:
            settings = self.step.settings
            if self.step.is_task and settings is not None and settings.cache is not None:
                from transpile.runtime.cache_step import consult

                return consult(self)
            return None
        record = self.claim()
        record.close("skipped", record.started or now())
        record.note = f"switch '{skipped_by}' chose another case"
        self.run.write_attempt(self.attempt_dir(record), record)
        return NodeOutcome(self.key, record.attempt, "skipped")

    def reuse(self, result: NodeResult) -> NodeOutcome:
        """An engine ran this instance again though its result is published: record it, change nothing."""
        record = self.claim()
        record.close("reused", record.started or now())
        record.note = f"the result of attempt {result.attempt} was already published; not run again"
        record.count, record.case = result.count, result.case
        self.run.write_attempt(self.attempt_dir(record), record)
        return NodeOutcome(self.key, record.attempt, "reused", control=result.control)

    def unchosen_case(self) -> str | None:
        """If this instance sits in a switch case that was not chosen for it, the switch's node id (the
        outermost such switch: a switch inside a case not chosen has chosen nothing)."""
        index = self.ctx.loaded.index
        owners: list[tuple[tuple[str, ...], str]] = []  # (switch path, the case holding this instance)
        path = self.path
        while (owner := index.block_owner.get(index.steps[path].block)) is not None:
            if index.steps[owner].step.switch is not None:
                owners.append((owner, index.steps[path].block[-1]))
            path = owner
        for owner, case in reversed(owners):
            maps = len(index.enclosing_maps(owner))
            route = self.run.result(self.ctx.reader.instance_key(owner, self.indices[:maps]))
            if route is None:
                raise NodeError(f"switch '{node_id(owner)}' has not chosen a case yet")
            if route.case != case:
                return node_id(owner)
        return None

    # -- an attempt ---------------------------------------------------------------------------------
    def attempt_dir(self, record: AttemptRecord) -> Path:
        if self._claimed is None or self._claimed[0] != record.attempt:
            self._claimed = (record.attempt, self.run.attempt_dir(self.key, record.attempt))
        return self._claimed[1]

    def claim(self) -> AttemptRecord:
        """Claim the next attempt: its directory, and its record (`running`, not written yet)."""
        number, attempt_dir = self.run.claim_attempt(self.key)
        self._claimed = (number, attempt_dir)
        return AttemptRecord(
            key=self.key,
            attempt=number,
            status="running",
            node=self.node,
            step="/".join("on_failure" if s == ON_FAILURE else s for s in self.path),
            indices=list(self.indices),
            batch=self.batch,
            kind=self.step.kind,
            started=now(),
            host=HOST,
            pid=os.getpid(),
            runner=self.ctx.runner,
            logs={"stdout": f"{attempt_dir.name}/stdout.log", "stderr": f"{attempt_dir.name}/stderr.log"},
            cache=self.cache_note,
        )

    def launched(self, record: AttemptRecord, process: AttemptProcess | None = None) -> None:
        """Write the running record, naming the attempt's process (its group) and working directory."""
        if process is not None:
            record.pgid, record.pgid_start, record.workdir = process.pid, process.pid_start, str(process.workdir)
        self.run.write_attempt(self.attempt_dir(record), record)

    def assignment(self, record: AttemptRecord) -> dict[str, Any]:
        """What the attempt's process is told (see context_builder)."""
        return {
            "node": self.node,
            "indices": list(self.indices),
            "key": self.key,
            "attempt_dir": str(self.attempt_dir(record)),
            "env": self.environment(record.attempt),
            "import_paths": self.ctx.import_paths,
        }

    def environment(self, attempt: int) -> dict[str, str]:
        """The step's `env`, its secrets found locally, and the standard TRANSPILE_* variables."""
        settings = self.step.settings
        env = dict(settings.env or {}) if settings else {}
        secrets_dir = os.environ.get("TRANSPILE_SECRETS_DIR")
        for secret in (settings.secrets or ()) if settings else ():
            if secret.env in os.environ or not secrets_dir:
                continue  # injected by the engine (Kubernetes) or exported by the user
            with contextlib.suppress(OSError):
                env[secret.env] = (Path(secrets_dir) / secret.secret / secret.key).read_text(encoding="utf-8")
        env.update(
            TRANSPILE_RUN_ID=self.run.run_id,
            TRANSPILE_NODE=self.node,
            TRANSPILE_KEY=self.key,
            TRANSPILE_INDICES=".".join(str(i) for i in self.indices),
            TRANSPILE_ATTEMPT=str(attempt),
            TRANSPILE_STORE=str(self.run.root),
            TRANSPILE_CATALOG=str(self.run.catalog),
            TRANSPILE_PIPELINE_DIR=os.path.dirname(os.path.abspath(self.ctx.pipeline_ref)),
        )
        if self.path[0] == ON_FAILURE:
            from transpile.runtime.verdict import failed_nodes

            env["TRANSPILE_FAILED"] = json.dumps(failed_nodes(self.run), ensure_ascii=False)
        return env

    def complete(self, record: AttemptRecord, report: AttemptReport, result: NodeResult | None = None) -> NodeOutcome:
        """Record how the attempt ended and publish its result if it succeeded (a control node's `result`,
        else its returns). A store that cannot be written fails the attempt with the reason, and what cannot
        be recorded stays as it was (readers see a dead `running` attempt as interrupted)."""
        record.inputs, record.exit_code = report.inputs, report.exit_code
        record.catalog_get, record.catalog_put = report.catalog_get, report.catalog_put
        if report.ok:
            result = result or NodeResult(returns=report.returns or {})
            result.attempt = record.attempt
            try:
                if not self.run.publish_result(self.key, result):
                    record.note = "an earlier attempt had already published this node's result"
                record.returns, record.count, record.case = report.returns, result.count, result.case
                if self.cache_probe is not None:
                    from transpile.runtime.cache_step import remember

                    remember(self, record, report)
            except StoreFault as fault:
                report = AttemptReport(error=fault.reason, store_fault=True)
        status = "succeeded" if report.ok else "interrupted" if report.interrupted else "failed"
        record.close(status, now(), report.error)
        record.timed_out = report.timed_out or None
        outcome = NodeOutcome(self.key, record.attempt, status, report.error, timed_out=report.timed_out)
        outcome.exit_code = EXIT_OK if report.ok else EXIT_FAILED
        outcome.fault = report.error if report.store_fault else None
        outcome.control = result.control if report.ok and result is not None else None
        try:
            self.run.write_attempt(self.attempt_dir(record), record)
        except StoreFault as fault:
            outcome.fault = outcome.fault or fault.reason
            self.write_slim(record, fault)
        return outcome

    def write_slim(self, record: AttemptRecord, fault: StoreFault) -> None:
        """The store is full: record the end without the values (which result.json or the step's inputs
        hold), small enough to fit where the running record was; if even that fails, it stays as it was."""
        record.inputs = record.returns = None
        record.note = f"recorded without its values: {fault.reason}"
        with contextlib.suppress(StoreFault):
            self.run.write_attempt(self.attempt_dir(record), record)

    # -- a control node, inline -------------------------------------------------------------------------
    def run_inline(self) -> NodeOutcome:
        """A map's fan-out or a switch's select, run in this process through the same records."""
        record = self.claim()
        self.launched(record)
        try:
            result = self.control_result()
            report = AttemptReport(returns={})
        except StoreFault as fault:
            result, report = None, AttemptReport(error=fault.reason, store_fault=True)
        except (StepFailure, NotAvailable, CorruptRecord) as exc:
            result, report = None, AttemptReport(error=str(exc))
        except Exception as exc:  # a runtime problem: recorded, never lost
            result, report = None, AttemptReport(error=f"{type(exc).__name__}: {exc}")
        return self.complete(record, report, result)

    def control_result(self) -> NodeResult:
        """Fan-out of a map (its items written) or routing of a switch."""
        step, reader = self.step, self.ctx.reader
        if step.map is not None:
            items = reader.value(step.map.over, self.path, self.indices)
            if not isinstance(items, list):
                raise StepFailure(f"map.over '{step.map.over}' is a {type(items).__name__}, not a list")
            self.run.write_items(self.key, items)
            return NodeResult(returns={}, count=len(items))
        value = reader.value(step.switch.on, self.path, self.indices)
        text = encode(value)
        for case in step.switch.cases:
            if case == text:
                return NodeResult(returns={}, case=case, key=step_key(case))
        cases = ", ".join(repr(c) for c in step.switch.cases)
        raise StepFailure(f"switch.on '{step.switch.on}' is {text!r}, which matches no case ({cases})")
