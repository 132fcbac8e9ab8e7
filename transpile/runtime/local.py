"""`transpile run`: run a whole pipeline on this machine with the same per-node entrypoint code.

A pool of worker processes (one per `--parallelism`) each loads the pipeline once and runs node
instances in-process with `execute_node`, so map items and branches really run concurrently. The
scheduler expands maps and switches as their control nodes report, retries with the declared backoff,
enforces timeouts by killing the worker running the attempt, stops scheduling after a failure (as
Argo's DAGs do) and then runs `on_failure`.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TextIO

from transpile.ir.graph import ON_FAILURE, child_block_path
from transpile.ir.graph import Path as StepPath
from transpile.ir.names import node_id, step_key
from transpile.runtime.loader import Loaded, load_pipeline
from transpile.runtime.node import NodeRequest, execute_node
from transpile.runtime.store import RunStore, now
from transpile.runtime.values import ValueReader, parse_parameters

SUMMARY_ROWS = 40


def _worker_main(conn: Connection, pipeline: str, store: str, cwd: str) -> None:
    """A worker: load the pipeline once, then run the node requests it is sent until told to stop."""
    os.chdir(cwd)
    loaded = load_pipeline(pipeline, Path(store))
    conn.send({"ready": True})  # dispatch only to loaded workers, so timeouts measure the step alone
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        request = NodeRequest(**message)
        try:
            outcome = execute_node(request, loaded)
            conn.send(
                {
                    "status": outcome.status,
                    "error": outcome.error,
                    "control": outcome.control,
                    "attempt": outcome.attempt,
                    "key": outcome.key,
                }
            )
        except Exception as exc:  # the node could not run at all
            conn.send(
                {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "control": None, "attempt": 0, "key": ""}
            )


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: _Job | None = None
    deadline: float | None = None
    started: float = 0.0
    ready: bool = False


@dataclass
class _Job:
    """One node instance to run; `done(ok, control)` continues the scheduling."""

    path: StepPath
    indices: tuple[int, ...]
    done: Callable[[bool, Any], None]
    attempts: int = 0


@dataclass
class _BlockRun:
    """A block instance being run: its steps' states and what to call when all are over."""

    path: StepPath
    steps: Mapping[str, Any]
    indices: tuple[int, ...]
    done: Callable[[bool], None]
    state: dict[str, str] = field(default_factory=dict)  # pending | running | succeeded | failed


@dataclass
class StepStats:
    """Per step (all its map items together) for the summary table."""

    instances: int = 0
    succeeded: int = 0
    failed: int = 0
    reused: int = 0
    attempts: int = 0
    seconds: float = 0.0


class LocalRunner:
    """Runs one pipeline run to completion; `run()` returns the process exit code."""

    def __init__(
        self,
        pipeline: str,
        store: Path,
        parameters: dict[str, str],
        parallelism: int,
        run_id: str | None = None,
        resume: bool = False,
        out: TextIO = sys.stderr,
    ):
        self.pipeline_ref = pipeline
        self.store = store
        self.loaded: Loaded = load_pipeline(pipeline, store)
        self.pipeline = self.loaded.plan  # the plan: name, parameters, steps, on_failure
        self.index = self.loaded.index
        self.parallelism = max(1, parallelism)
        self.run_id = run_id or f"{self.pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        self.runstore = RunStore(store, self.run_id)
        self.raw_parameters = parameters
        self.values = parse_parameters(self.pipeline.parameters, parameters)
        self.reader = ValueReader(self.index, self.runstore, self.values)
        self.resume = resume
        self.out = out
        self.ready: list[_Job] = []
        self.retry_heap: list[tuple[float, int, _Job]] = []
        self.workers: list[_Worker] = []
        self.failed = False
        self.failures: list[str] = []
        self.stats: dict[str, StepStats] = {}
        self.total_tasks = sum(1 for p in self.index.steps if p[0] != ON_FAILURE)
        self.finished_main = False
        self.main_ok = False
        self._sequence = 0
        self._last_progress = 0.0
        self._tty = out.isatty()

    # -- scheduling ---------------------------------------------------------------------------------
    def start_block(
        self, path: StepPath, steps: Mapping[str, Any], indices: tuple[int, ...], done: Callable[[bool], None]
    ) -> None:
        block = _BlockRun(path, steps, indices, done, {name: "pending" for name in steps})
        if not steps:
            done(True)
            return
        self.advance(block)

    def advance(self, block: _BlockRun) -> None:
        if all(s in ("succeeded", "failed") for s in block.state.values()):
            block.done(all(s == "succeeded" for s in block.state.values()))
            return
        if self.failed and block.path[:1] != (ON_FAILURE,):
            return  # after a failure nothing new starts; the loop ends when the running nodes finish
        for name, step in block.steps.items():
            if block.state[name] != "pending":
                continue
            if all(block.state.get(dep) == "succeeded" for dep in step.needs):
                block.state[name] = "running"
                self.start_step(block, name, step)

    def finish_step(self, block: _BlockRun, name: str, ok: bool) -> None:
        block.state[name] = "succeeded" if ok else "failed"
        if not ok and block.path[:1] != (ON_FAILURE,):
            self.failed = True
        self.advance(block)

    def start_step(self, block: _BlockRun, name: str, step: Any) -> None:
        path = block.path + (name,)
        indices = block.indices

        def finished(ok: bool) -> None:
            self.finish_step(block, name, ok)

        if step.is_task:
            self.submit(_Job(path, indices, lambda ok, _control: finished(ok)))
        elif step.map is not None:

            def expand(ok: bool, control: Any) -> None:
                if not ok:
                    finished(False)
                    return
                self.join_all([(path, step.map.steps, indices + (i,)) for i in range(len(control))], finished)

            self.submit(_Job(path, indices, expand))
        elif step.parallel is not None:
            self.join_all(
                [(child_block_path(path, b), blk.steps, indices) for b, blk in step.parallel.items()], finished
            )
        elif step.switch is not None:

            def route(ok: bool, control: Any) -> None:
                if not ok:
                    finished(False)
                    return
                case = next(c for c in step.switch.cases if step_key(c) == control)
                self.start_block(path + (case,), step.switch.cases[case].steps, indices, finished)

            self.submit(_Job(path, indices, route))

    def join_all(
        self, blocks: list[tuple[StepPath, Mapping[str, Any], tuple[int, ...]]], done: Callable[[bool], None]
    ) -> None:
        if not blocks:
            done(True)
            return
        remaining = [len(blocks)]
        results: list[bool] = []

        def one_done(ok: bool) -> None:
            results.append(ok)
            remaining[0] -= 1
            if remaining[0] == 0:
                done(all(results))

        for path, steps, indices in blocks:
            self.start_block(path, steps, indices, one_done)

    def submit(self, job: _Job) -> None:
        if self.resume:
            key = self.reader.instance_key(job.path, job.indices)
            result = self.runstore.result(key)
            if result is not None:
                self.record(job.path, "reused", 0, 0.0)
                control = None
                if "count" in result:
                    control = list(range(result["count"]))
                elif "key" in result:
                    control = result["key"]
                job.done(True, control)
                return
        self.ready.append(job)

    # -- workers ------------------------------------------------------------------------------------
    def spawn_worker(self) -> _Worker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_worker_main, args=(child, self.pipeline_ref, str(self.store), os.getcwd()), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def dispatch(self) -> None:
        for worker in self.workers:
            if not worker.ready or worker.job is not None or not self.ready:
                continue
            if self.failed and self.ready[0].path[:1] != (ON_FAILURE,):
                self.ready = [j for j in self.ready if j.path[:1] == (ON_FAILURE,)]
                if not self.ready:
                    return
            job = self.ready.pop(0)
            job.attempts += 1
            step = self.index.steps[job.path].step
            worker.job = job
            timeout = getattr(step, "timeout", None) if step.is_task else None
            worker.deadline = time.monotonic() + timeout if timeout else None
            worker.conn.send(
                {
                    "pipeline": self.pipeline_ref,
                    "store": self.store,
                    "run_id": self.run_id,
                    "node": node_id(job.path),
                    "indices": job.indices,
                    "parameters": self.raw_parameters,
                    "echo": False,
                }
            )
            worker.started = time.monotonic()

    def on_outcome(self, worker: _Worker, outcome: dict[str, Any]) -> None:
        job = worker.job
        assert job is not None
        worker.job = None
        worker.deadline = None
        step = self.index.steps[job.path].step
        elapsed = time.monotonic() - worker.started
        if outcome["status"] == "succeeded":
            self.record(job.path, "succeeded", 1, elapsed)
            control = outcome["control"]
            job.done(True, list(range(control)) if isinstance(control, int) and step.map is not None else control)
            return
        retries = getattr(step, "retries", None) if step.is_task else None
        limit = retries.limit if retries else 0
        if job.attempts <= limit and not (self.failed and job.path[:1] != (ON_FAILURE,)):
            self.record(job.path, "retry", 1, elapsed)
            delay = retries.backoff * (retries.factor ** (job.attempts - 1)) if retries.backoff else 0
            if retries.max_backoff:
                delay = min(delay, retries.max_backoff)
            self._sequence += 1
            heapq.heappush(self.retry_heap, (time.monotonic() + delay, self._sequence, job))
            return
        self.record(job.path, "failed", 1, elapsed)
        where = self.reader.instance_key(job.path, job.indices)
        self.failures.append(f"{where}: {outcome['error']}")
        job.done(False, None)

    def kill(self, worker: _Worker, reason: str) -> None:
        """Stop a worker whose attempt timed out or died, record the attempt, start a fresh worker."""
        job = worker.job
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        if not worker.ready:
            raise RuntimeError(f"a worker process could not start: {reason}")
        self.workers.remove(worker)
        self.workers.append(self.spawn_worker())
        if job is None:
            return
        key = self.reader.instance_key(job.path, job.indices)
        numbers = self.runstore.attempt_numbers(key)
        if numbers:
            attempt_dir = self.runstore.node_dir(key) / f"attempt-{numbers[-1]}"
            record_path = attempt_dir / "record.json"
            if record_path.is_file():
                from transpile.runtime.store import read_json

                record = read_json(record_path)
                if record.get("status") == "running":  # its writer is dead: finish the record for it
                    record.update(status="failed", error=reason, ended=now())
                    record["duration"] = round(record["ended"] - record["started"], 3)
                    self.runstore.write_attempt(attempt_dir, record)
        worker.job = job
        self.on_outcome(worker, {"status": "failed", "error": reason, "control": None})

    # -- the loop -----------------------------------------------------------------------------------
    def busy(self) -> bool:
        return bool(self.ready or self.retry_heap or any(w.job for w in self.workers))

    def loop(self) -> None:
        while self.busy():
            now_ = time.monotonic()
            while self.retry_heap and self.retry_heap[0][0] <= now_:
                self.ready.append(heapq.heappop(self.retry_heap)[2])
            self.dispatch()
            self.progress()
            waits = [w.deadline for w in self.workers if w.deadline] + [t for t, _, _ in self.retry_heap[:1]]
            timeout = max(0.0, min(waits) - now_) if waits else 0.5
            listening = [w for w in self.workers if w.job is not None or not w.ready]
            if not listening:
                if self.retry_heap:
                    time.sleep(min(timeout, 0.5))
                continue
            ready = wait([w.conn for w in listening], timeout=min(timeout, 0.5))
            for worker in listening:
                if worker.conn in ready:
                    try:
                        outcome = worker.conn.recv()
                    except (EOFError, OSError):
                        code = worker.process.exitcode
                        self.kill(worker, f"the worker process died (exit code {code})")
                        continue
                    if "ready" in outcome:
                        worker.ready = True
                        continue
                    self.on_outcome(worker, outcome)
            for worker in list(self.workers):
                if worker.job is not None and worker.deadline and time.monotonic() > worker.deadline:
                    step = self.index.steps[worker.job.path].step
                    self.kill(worker, f"timed out after {step.timeout}s")

    def run(self) -> int:
        record = {
            "run_id": self.run_id,
            "pipeline": self.pipeline.name,
            "pipeline_file": self.pipeline_ref,
            "hash": self.loaded.hash,
            "parameters": self.values,
            "created": now(),
        }
        if not self.resume:
            self.runstore.create_run(record)
        started = time.monotonic()
        self.workers = [self.spawn_worker() for _ in range(self.parallelism)]
        try:

            def main_done(ok: bool) -> None:
                self.finished_main = True
                self.main_ok = ok

            self.start_block((), self.pipeline.steps, (), main_done)
            self.loop()
            ran_on_failure = False
            if not self.main_ok and self.pipeline.on_failure is not None:
                ran_on_failure = True
                self.start_block((ON_FAILURE,), self.pipeline.on_failure.steps, (), lambda ok: None)
                self.loop()
        finally:
            for worker in self.workers:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            for worker in self.workers:
                worker.process.join(timeout=5)
                if worker.process.is_alive():
                    worker.process.kill()
        status = "succeeded" if self.main_ok else "failed"
        self.runstore.write_status(
            {
                "status": status,
                "ended": now(),
                "duration": round(time.monotonic() - started, 3),
                "failures": self.failures,
                "on_failure_ran": ran_on_failure,
            }
        )
        self.progress(final=True)
        self.summary(status, time.monotonic() - started)
        return 0 if self.main_ok else 1

    # -- reporting ----------------------------------------------------------------------------------
    def record(self, path: StepPath, what: str, attempts: int, seconds: float) -> None:
        stats = self.stats.setdefault(node_id(path), StepStats())
        stats.attempts += attempts
        stats.seconds += seconds
        if what == "succeeded":
            stats.instances += 1
            stats.succeeded += 1
        elif what == "failed":
            stats.instances += 1
            stats.failed += 1
        elif what == "reused":
            stats.instances += 1
            stats.reused += 1

    def progress(self, final: bool = False) -> None:
        moment = time.monotonic()
        if not final and moment - self._last_progress < (0.2 if self._tty else 5.0):
            return
        self._last_progress = moment
        done = sum(s.succeeded + s.reused for s in self.stats.values())
        failed = sum(s.failed for s in self.stats.values())
        running = sum(1 for w in self.workers if w.job is not None)
        line = f"[{self.run_id}] nodes done {done}, running {running}, queued {len(self.ready)}, failed {failed}"
        if self._tty:
            self.out.write("\r" + line.ljust(100) + ("\n" if final else ""))
        elif not final:
            self.out.write(line + "\n")
        self.out.flush()

    def summary(self, status: str, seconds: float) -> None:
        rows = [("step", "status", "items", "attempts", "seconds")]
        shown = sorted(self.stats.items(), key=lambda kv: kv[1].failed == 0)  # failures first
        hidden = max(0, len(shown) - SUMMARY_ROWS)
        for node, stats in shown[:SUMMARY_ROWS]:
            if stats.failed:
                state = "failed"
            elif stats.reused and not stats.succeeded:
                state = "reused"
            else:
                state = "succeeded"
            rows.append((node, state, str(stats.instances), str(stats.attempts), f"{stats.seconds:.2f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows
        ]
        self.out.write("\n".join(lines) + "\n")
        if hidden:
            self.out.write(f"... and {hidden} more steps, all succeeded (transpile runs show {self.run_id})\n")
        for failure in self.failures:
            self.out.write(f"failed: {failure}\n")
        self.out.write(f"run {self.run_id} {status} in {seconds:.2f}s (store: {self.runstore.run_dir})\n")
        self.out.flush()
