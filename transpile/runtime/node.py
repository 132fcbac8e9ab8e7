"""Run one node instance: the body of `transpile execute-node`, shared by every backend and `transpile run`.

A node is a task step (python, shell, stub) or the control node of a map (fan-out: writes the items and
their indices) or of a switch (route: picks the case). Each execution claims a new attempt in the run
store, records its inputs, outputs, logs and outcome there, and publishes the node's result once.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transpile.ir.graph import ON_FAILURE
from transpile.ir.names import node_id, step_key
from transpile.plan.params import ParameterError, encode
from transpile.runtime import attempt as attempts
from transpile.runtime.body import BodyContext, StepFailure
from transpile.runtime.loader import Loaded, load_pipeline
from transpile.runtime.store import HOST, RunStore, now, run_id_problem
from transpile.runtime.values import NotAvailable, ValueReader, parse_parameters
from transpile.runtime.workspace import new_workdir

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_HASH_MISMATCH = 4


class NodeError(Exception):
    """The node cannot run at all (unknown node, bad arguments); exit 2, nothing recorded."""


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
    values: dict[str, Any] | None = None  # parameters already decoded (the local runner)
    runner: str | None = None  # the local runner holding the run's lease, recorded in each attempt
    durable: bool = True  # fsync records and results (see RunStore)


@dataclass
class NodeOutcome:
    """What happened: the store key, attempt, status, the error if any, and the control value."""

    key: str
    attempt: int
    status: str
    error: str | None = None
    control: Any = None
    exit_code: int = EXIT_OK
    timed_out: bool = False


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Execution:
    """One node instance: `begin()` claims an attempt and runs a control node inline or forks a task's
    body; `complete()` records what the body reported and publishes the result."""

    def __init__(self, request: NodeRequest, loaded: Loaded):
        self.request = request
        self.loaded = loaded
        problem = run_id_problem(request.run_id)
        if problem:
            raise NodeError(problem)
        path = loaded.step_path(request.node)
        if path is None:
            raise NodeError(f"the pipeline has no node '{request.node}'")
        self.path = path
        self.step = loaded.index.steps[path].step
        self.display = "/".join("on_failure" if s == "@on_failure" else s for s in path)
        self.run = RunStore(Path(os.path.abspath(request.store)), request.run_id, request.durable)
        if request.values is not None:
            self.parameters = request.values
        else:
            try:
                self.parameters = parse_parameters(loaded.plan.parameters, request.parameters)
            except ParameterError as exc:
                raise NodeError(str(exc)) from None
        self.reader = ValueReader(loaded.index, self.run, self.parameters)
        maps = loaded.index.enclosing_maps(path)
        if len(request.indices) != len(maps):
            raise NodeError(f"node '{request.node}' is inside {len(maps)} map(s) but got indices {request.indices}")
        self.key = self.reader.instance_key(path, request.indices)
        self.attempt_dir: Path | None = None
        self.record: dict[str, Any] = {}

    def ensure_run_record(self) -> None:
        if (self.run.run_dir / "run.json").is_file():
            return
        self.run.create_run(
            {
                "run_id": self.request.run_id,
                "pipeline": self.loaded.plan.name,
                "pipeline_file": self.request.pipeline,
                "hash": self.loaded.hash,
                "parameters": self.parameters,
                "created": now(),
            }
        )

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
            TRANSPILE_RUN_ID=self.request.run_id,
            TRANSPILE_NODE=self.request.node,
            TRANSPILE_KEY=self.key,
            TRANSPILE_INDICES=".".join(str(i) for i in self.request.indices),
            TRANSPILE_ATTEMPT=str(attempt),
            TRANSPILE_STORE=str(self.run.root),
            TRANSPILE_CATALOG=str(self.run.catalog),
            TRANSPILE_PIPELINE_DIR=os.path.dirname(os.path.abspath(self.request.pipeline)),
        )
        if self.path[0] == ON_FAILURE:
            env["TRANSPILE_FAILED"] = json.dumps(failed_nodes(self.run), ensure_ascii=False)
        return env

    def run_control(self, record: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Fan-out of a map or routing of a switch: (result, control value)."""
        step = self.step
        if step.map is not None:
            items = self.reader.value(step.map.over, self.path, self.request.indices)
            if not isinstance(items, list):
                raise StepFailure(f"map.over '{step.map.over}' is a {type(items).__name__}, not a list")
            for i, item in enumerate(items):
                self.run.write_item(self.key, i, item)
            record["count"] = len(items)
            return {"returns": {}, "count": len(items)}, len(items)
        value = self.reader.value(step.switch.on, self.path, self.request.indices)
        text = encode(value)
        for case in step.switch.cases:
            if case == text:
                record["case"] = case
                return {"returns": {}, "case": case, "key": step_key(case)}, step_key(case)
        cases = ", ".join(repr(c) for c in step.switch.cases)
        raise StepFailure(f"switch.on '{step.switch.on}' is {text!r}, which matches no case ({cases})")

    def write_control(self, value: Any) -> None:
        """Write the control value where the engine reads it.

        For a map, `--control-out` (Argo) gets the JSON array of item indices, which Argo appends to the
        enclosing indices itself; `--xcom` and `--print-control` get the items' full instance indices
        (`["2.0", "2.1"]`), ready for Airflow's and Prefect's fan-out. For a switch, all get the case's key.
        """
        if isinstance(value, int):  # a map's item count
            local = _json(list(range(value)))
            prefix = ".".join(str(i) for i in self.request.indices)
            full = _json([f"{prefix}.{i}" if prefix else str(i) for i in range(value)])
        else:
            local = full = value
        if self.request.control_out is not None:
            self.request.control_out.parent.mkdir(parents=True, exist_ok=True)
            self.request.control_out.write_text(local, encoding="utf-8")
        if self.request.xcom_out is not None:
            self.request.xcom_out.parent.mkdir(parents=True, exist_ok=True)
            xcom = full if isinstance(value, int) else _json(value)
            self.request.xcom_out.write_text(xcom, encoding="utf-8")
        if self.request.print_control:
            print(full, flush=True)

    def unchosen_case(self) -> str | None:
        """If this node sits in a switch case that was not chosen for this instance, say which switch."""
        index = self.loaded.index
        path = self.path
        while True:
            block = index.steps[path].block
            owner = index.block_owner.get(block)
            if owner is None:
                return None
            step = index.steps[owner].step
            if step.switch is not None:
                maps = len(index.enclosing_maps(owner))
                route = self.run.result(self.reader.instance_key(owner, self.request.indices[:maps]))
                if route is None:
                    raise NodeError(f"switch '{node_id(owner)}' has not chosen a case yet")
                if route["case"] != block[-1]:
                    return node_id(owner)
            path = owner

    def begin(self, spare: attempts.Running | None = None) -> NodeOutcome | attempts.Running:
        """Claim an attempt; a control node or a skipped one ends here, a task's body goes to a forked child
        (`spare`, forked ahead by the local runner, or one forked now)."""
        self.ensure_run_record()
        skipped_by = self.unchosen_case()
        attempt, attempt_dir = self.run.claim_attempt(self.key)
        self.attempt_dir = attempt_dir
        record = self.record = {
            "node": self.request.node,
            "step": self.display,
            "key": self.key,
            "indices": list(self.request.indices),
            "attempt": attempt,
            "kind": self.step.kind,
            "status": "running",
            "started": now(),
            "host": HOST,
            "pid": os.getpid(),
            "logs": {"stdout": f"{attempt_dir.name}/stdout.log", "stderr": f"{attempt_dir.name}/stderr.log"},
        }
        if self.request.runner:
            record["runner"] = self.request.runner
        if skipped_by is not None:
            record.update(status="skipped", ended=record["started"], duration=0.0)
            record["note"] = f"switch '{skipped_by}' chose another case"
            self.run.write_attempt(attempt_dir, record)
            return NodeOutcome(self.key, attempt, "skipped")
        if not self.step.is_task:
            return self.run_control_node()
        if spare is None:
            spare = attempts.fork(self.builder(), new_workdir(self.request.run_id))
        record.update(pgid=spare.pid, workdir=str(spare.workdir))
        if spare.pid_start is not None:
            record["pgid_start"] = spare.pid_start
        self.run.write_attempt(attempt_dir, record)
        assignment = {
            "node": self.request.node,
            "indices": list(self.request.indices),
            "key": self.key,
            "attempt_dir": str(attempt_dir),
            "env": self.environment(attempt),
            "import_paths": [os.getcwd(), os.path.dirname(os.path.abspath(self.request.pipeline))],
            "echo": self.request.echo,
        }
        attempts.assign(spare, assignment, self.step.timeout)
        return spare

    def builder(self) -> attempts.Builder:
        return context_builder(self.loaded, self.run, self.parameters)

    def run_control_node(self) -> NodeOutcome:
        assert self.attempt_dir is not None
        self.run.write_attempt(self.attempt_dir, self.record)
        try:
            if self.step.map is None and self.step.switch is None:
                raise NodeError(f"node '{self.request.node}' is a {self.step.kind}, which has no node to run")
            result, control = self.run_control(self.record)
        except NodeError:
            raise
        except (StepFailure, NotAvailable) as exc:
            return self.finish("failed", str(exc))
        except Exception as exc:  # a store or runtime problem: recorded, never lost
            return self.finish("failed", f"{type(exc).__name__}: {exc}")
        return self.succeed(result, control)

    def complete(self, running: attempts.Running) -> NodeOutcome:
        """Record what the reaped body reported; publish its result if it succeeded."""
        message = running.message()
        for field_name in ("inputs", "catalog_get", "catalog_put", "exit_code"):
            if field_name in message:
                self.record[field_name] = message[field_name]
        if "error" in message or "returns" not in message:
            status = "interrupted" if message.get("interrupted") else "failed"
            if message.get("timed_out"):
                self.record["timed_out"] = True
            outcome = self.finish(status, message.get("error", "the step reported no result"))
            outcome.timed_out = bool(message.get("timed_out"))
            return outcome
        self.record["returns"] = message["returns"]
        return self.succeed({"returns": message["returns"]}, None)

    def succeed(self, result: dict[str, Any], control: Any) -> NodeOutcome:
        result["attempt"] = self.record["attempt"]
        if not self.run.publish_result(self.key, result):
            self.record["note"] = "an earlier attempt had already published this node's result"
        if control is not None:
            self.write_control(control)
        outcome = self.finish("succeeded", None)
        outcome.control = control
        return outcome

    def finish(self, status: str, error: str | None) -> NodeOutcome:
        record = self.record
        record.update(status=status, ended=now())
        record["duration"] = round(record["ended"] - record["started"], 3)
        if error is not None:
            record["error"] = error
        assert self.attempt_dir is not None
        self.run.write_attempt(self.attempt_dir, record)
        code = EXIT_OK if status == "succeeded" else EXIT_FAILED
        return NodeOutcome(self.key, record["attempt"], status, error, exit_code=code)


def context_builder(loaded: Loaded, run: RunStore, values: dict[str, Any]) -> attempts.Builder:
    """How a forked child turns its assignment into the body's context (it shares the plan by fork)."""

    def build(assignment: dict[str, Any]) -> BodyContext:
        path = loaded.steps[assignment["node"]]
        return BodyContext(
            step=loaded.index.steps[path].step,
            path=path,
            indices=tuple(assignment["indices"]),
            key=assignment["key"],
            reader=ValueReader(loaded.index, run, values),
            attempt_dir=Path(assignment["attempt_dir"]),
            env=assignment["env"],
            import_paths=tuple(assignment["import_paths"]),
        )

    return build


def failed_nodes(run: RunStore) -> list[str]:
    """Keys of the run's node instances (outside on_failure) whose last attempt failed without a result."""
    failed = []
    for key in run.node_keys():
        if key.split("/", 1)[0] == "on_failure" or run.result(key) is not None:
            continue
        tries = run.attempts(key)
        if tries and tries[-1].get("status") in ("failed", "interrupted"):
            failed.append(key)
    return failed


def prepare(request: NodeRequest, loaded: Loaded | None = None) -> _Execution:
    """Load the plan (from the store's cache) and check the node can run here."""
    if loaded is None:
        loaded = load_pipeline(request.pipeline, request.store)
    if request.expected_hash and loaded.hash != request.expected_hash:
        raise HashMismatch(
            f"{request.pipeline} compiles to hash {loaded.hash[:12]}…, but this spec was compiled from "
            f"{request.expected_hash[:12]}…: the image holds a different pipeline than the one compiled; "
            "rebuild the image or recompile the spec"
        )
    return _Execution(request, loaded)


def execute_node(request: NodeRequest, loaded: Loaded | None = None) -> NodeOutcome:
    """Run one node instance to its end and record it; raises NodeError or HashMismatch when it cannot run."""
    execution = prepare(request, loaded)
    started = execution.begin()
    if isinstance(started, NodeOutcome):
        return started
    try:
        attempts.wait(started)
    except BaseException:  # interrupted (SIGTERM/SIGINT): stop the body's whole group, record it
        started.kill("interrupted")
        started.reap()
        execution.complete(started)
        raise
    return execution.complete(started)
