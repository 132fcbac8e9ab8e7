"""`transpile run`: run a whole pipeline on this machine, each node instance as a pod would run it.

The runner loads the plan once and starts the run's zygote (zygote.py), a fresh interpreter holding only
the runtime and the plan: each task attempt is forked from it into a process with its own process group,
working directory and environment (see child.py), so nothing carries from one node to the next, while
costing a fork instead of a new interpreter. The attempts run under one supervisor (supervisor.py), and
each node instance's records are kept by instance.py; map fan-outs and switch routing run inline through
the same records. The scheduler expands maps and switches as their control nodes report, retries as the
retry policy says (plan/retry.py), stops scheduling after a failure (as Argo's DAGs do) and then runs
`on_failure`. Ctrl-C or SIGTERM stops the attempts, records them `interrupted` and ends the run
`interrupted`, resumable; so does a store that cannot be written (exit 1), and a lost lease.
"""

from __future__ import annotations

import contextlib
import heapq
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from transpile.ir.graph import ON_FAILURE, child_block_path
from transpile.ir.graph import Path as StepPath
from transpile.ir.names import node_id, step_key
from transpile.plan.retry import retry_delay
from transpile.runtime.instance import NodeInstance, NodeOutcome, RunContext
from transpile.runtime.lease import Lease
from transpile.runtime.loader import Loaded
from transpile.runtime.pool import ZygoteSpawner, start_zygote
from transpile.runtime.records import AttemptRecord, CorruptRecord, RunStatus
from transpile.runtime.store import RunStore, StoreFault, now
from transpile.runtime.summary import Failure, StepStats, running_text, write_summary
from transpile.runtime.supervisor import AttemptProcess, Supervisor

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class Stopped(Exception):
    """The run was stopped (Ctrl-C, SIGTERM, or its lease was taken over)."""


@dataclass
class _Job:
    """One node instance to run; `done(ok, control)` continues the scheduling."""

    path: StepPath
    indices: tuple[int, ...]
    done: Callable[[bool, Any], None]
    attempts: int = 0


@dataclass
class _Active:
    """A job whose attempt runs in `process`."""

    job: _Job
    instance: NodeInstance
    record: AttemptRecord
    process: AttemptProcess


@dataclass
class _BlockRun:
    """A block instance being run: how many needs of each step are unmet, and what to call when all are over."""

    path: StepPath
    steps: Mapping[str, Any]
    indices: tuple[int, ...]
    done: Callable[[bool], None]
    dependents: dict[str, list[str]]
    unmet: dict[str, int]
    finished: int = 0
    ok: bool = True


class LocalRunner:
    """Runs one run to its end under `lease`; `run()` returns the exit code (0, 1, or 130 if stopped)."""

    def __init__(
        self,
        loaded: Loaded,
        pipeline_ref: str,
        run: RunStore,
        values: dict[str, Any],
        parallelism: int,
        lease: Lease,
        resume: bool = False,
        out: TextIO = sys.stderr,
        cache_mode: Any = None,
    ):
        self.loaded = loaded
        self.pipeline_ref = pipeline_ref
        self.pipeline = loaded.plan
        self.index = loaded.index
        self.runstore = RunStore(run.root, run.run_id, durable=False)  # see RunStore: no fsync locally
        self.run_id = run.run_id
        self.values = values
        self.ctx = RunContext(loaded, self.runstore, values, pipeline_ref, runner=lease.holder, cache_mode=cache_mode)
        self.reader = self.ctx.reader
        self.parallelism = max(1, parallelism)
        self.lease = lease
        self.resume = resume
        self.out = out
        self.ready: list[_Job] = []
        self.retry_heap: list[tuple[float, int, _Job]] = []
        self.active: dict[int, _Active] = {}  # assigned attempts, by pid, until their message is recorded
        self.supervisor: Supervisor | None = None
        self.failed = False
        self.failures: list[Failure] = []
        self.stats: dict[str, StepStats] = {}
        self._dependents: dict[StepPath, dict[str, list[str]]] = {}  # per block path: step -> steps needing it
        self.main_ok = False
        self.stop_reason: str | None = None
        self.store_failed = False  # the run store could not be written: the run ends interrupted, exit 1
        self.lost_lease = False
        self._sequence = 0
        self._last_progress = 0.0
        self._tty = out.isatty()
        self._width = 100

    # -- scheduling ---------------------------------------------------------------------------------
    def start_block(
        self, path: StepPath, steps: Mapping[str, Any], indices: tuple[int, ...], done: Callable[[bool], None]
    ) -> None:
        if not steps:
            done(True)
            return
        dependents = self._dependents.get(path)
        if dependents is None:
            dependents = self._dependents[path] = {name: [] for name in steps}
            for name, step in steps.items():
                for need in step.needs:
                    dependents[need].append(name)
        block = _BlockRun(path, steps, indices, done, dependents, {n: len(s.needs) for n, s in steps.items()})
        for name, step in steps.items():
            if not step.needs:
                self.start_step(block, name, step)

    def finish_step(self, block: _BlockRun, name: str, ok: bool) -> None:
        """A step of the block is over: start the steps it unblocks (none after a failure), or end the block."""
        block.finished += 1
        block.ok = block.ok and ok
        last = block.finished == len(block.steps)  # decided now: the steps started below may end at once
        in_on_failure = block.path[:1] == (ON_FAILURE,)
        if not ok and not in_on_failure:
            self.failed = True
        if ok and (in_on_failure or not self.failed):
            for other in block.dependents[name]:
                block.unmet[other] -= 1
                if block.unmet[other] == 0:
                    self.start_step(block, other, block.steps[other])
        if last:
            block.done(block.ok)

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
                self.join_all([(path, step.map.steps, indices + (i,)) for i in range(control)], finished)

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
            with contextlib.suppress(CorruptRecord):  # unreadable: run it again
                result = self.runstore.result(self.reader.instance_key(job.path, job.indices))
                if result is not None:
                    self.stat(job.path).add("reused")
                    job.done(True, result.control)
                    return
        self.ready.append(job)

    # -- attempts ---------------------------------------------------------------------------------
    def dispatch(self) -> None:
        assert self.supervisor is not None
        while self.ready and len(self.active) < self.parallelism and not self.stop_reason:
            if self.failed:
                self.ready = [j for j in self.ready if j.path[:1] == (ON_FAILURE,)]
                if not self.ready:
                    return
            job = self.ready.pop(0)
            job.attempts += 1
            instance = self.ctx.instance(job.path, job.indices)
            try:
                outcome = instance.before_launch()
                if outcome is None and not instance.step.is_task:
                    outcome = instance.run_inline()
                if outcome is None:
                    self.launch(job, instance)
                    continue
            except StoreFault as fault:
                outcome = NodeOutcome(instance.key, 0, "failed", fault.reason, fault=fault.reason)
            except CorruptRecord as exc:
                outcome = NodeOutcome(instance.key, 0, "failed", f"cannot read {exc}")
            self.on_outcome(job, outcome, 0.0)

    def launch(self, job: _Job, instance: NodeInstance) -> None:
        """Claim the attempt, record it running, and hand it to a spare process."""
        assert self.supervisor is not None
        process = self.supervisor.take()
        try:
            record = instance.claim()
            instance.launched(record, process)
        except BaseException:
            self.supervisor.give_back(process)  # never assigned: it stays spare
            raise
        self.supervisor.start(process, instance.assignment(record), instance.step.timeout)
        self.active[process.pid] = _Active(job, instance, record, process)

    def complete(self, process: AttemptProcess) -> None:
        """The attempt's process finished: record how, and continue."""
        active = self.active.pop(process.pid, None)
        if active is not None:
            outcome = active.instance.complete(active.record, process.report())
            self.on_outcome(active.job, outcome, time.monotonic() - process.started)

    def on_outcome(self, job: _Job, outcome: NodeOutcome, elapsed: float) -> None:
        step = self.index.steps[job.path].step
        stats = self.stat(job.path)
        if outcome.fault:  # the store cannot be written: stop the run, resumable
            self.stop_reason = self.stop_reason or outcome.fault
            self.store_failed = True
        if outcome.ok:
            stats.add(outcome.status, elapsed)
            job.done(True, outcome.control)
            return
        if outcome.status == "interrupted":
            stats.add("interrupted", elapsed)
            return  # the run is stopping; the node stays unfinished for a resume
        kind = "timed_out" if outcome.timed_out else outcome.status
        delay = retry_delay(step.retries if step.is_task else None, job.attempts, kind)
        if delay is not None and not self.stop_reason and not (self.failed and job.path[:1] != (ON_FAILURE,)):
            stats.add("retry", elapsed, outcome.timed_out)
            self._sequence += 1
            heapq.heappush(self.retry_heap, (time.monotonic() + delay, self._sequence, job))
            return
        stats.add("failed", elapsed, outcome.timed_out)
        logs = self.runstore.attempt_dir(outcome.key, outcome.attempt) if outcome.attempt else None
        self.failures.append(Failure(outcome.key, outcome.error or "failed", logs))
        if not outcome.fault:
            job.done(False, None)

    def stat(self, path: StepPath) -> StepStats:
        return self.stats.setdefault(node_id(path), StepStats())

    # -- the loop -----------------------------------------------------------------------------------
    def busy(self) -> bool:
        return bool(self.ready or self.retry_heap or self.active)

    def loop(self) -> None:
        assert self.supervisor is not None
        while self.busy():
            if self.stop_reason:
                raise Stopped(self.stop_reason)
            moment = time.monotonic()
            while self.retry_heap and self.retry_heap[0][0] <= moment:
                self.ready.append(heapq.heappop(self.retry_heap)[2])
            self.dispatch()
            try:
                if not self.lease.heartbeat():
                    self.lost_lease = True
                    raise Stopped("another runner took over this run's lease")
            except StoreFault as fault:
                self.store_failed = True
                raise Stopped(fault.reason) from None
            self.progress()
            waits = [t for t in (self.supervisor.next_deadline(),) if t is not None]
            waits += [t for t, _, _ in self.retry_heap[:1]]
            timeout = min(max(0.0, min(waits) - moment) if waits else 0.5, 0.5)
            if not self.active and not self.ready:  # nothing runs (the last nodes may have come from the cache)
                if self.retry_heap:
                    time.sleep(timeout)
                continue
            for process in self.supervisor.events(timeout):
                self.complete(process)

    def stop_all(self) -> None:
        """Stop every running attempt (SIGTERM to its group, SIGKILL after a grace), record it interrupted,
        and stop the zygote (which kills and reaps whatever is left)."""
        if self.supervisor is None:
            return
        for process in self.supervisor.stop_all():
            self.complete(process)
        self.supervisor.close()
        self.supervisor = None

    def run(self) -> int:
        started = time.monotonic()
        status, code = "failed", EXIT_FAILED
        with _stop_signals(self):
            try:
                self.write_status(RunStatus("running", started=now(), runner=self.lease.holder))
                plan_text, spares = self.loaded.plan_json(), 2 * self.parallelism
                zygote = start_zygote(
                    plan_text, self.runstore.root, self.run_id, self.values, self.ctx.import_paths, spares
                )
                self.supervisor = Supervisor(ZygoteSpawner(*zygote))
                self.start_block((), self.pipeline.steps, (), self.main_done)
                self.loop()
                if not self.main_ok and self.pipeline.on_failure is not None and not self.stop_reason:
                    self.start_block((ON_FAILURE,), self.pipeline.on_failure.steps, (), lambda ok: None)
                    self.loop()
                if self.stop_reason:
                    raise Stopped(self.stop_reason)
                status, code = ("succeeded", 0) if self.main_ok else ("failed", EXIT_FAILED)
            except StoreFault as fault:
                self.store_failed = True
                self.stop_reason = self.stop_reason or fault.reason
                status, code = "interrupted", EXIT_FAILED
            except (Stopped, KeyboardInterrupt) as exc:
                self.stop_reason = self.stop_reason or str(exc) or "interrupted"
                status, code = "interrupted", EXIT_FAILED if self.store_failed else EXIT_INTERRUPTED
            finally:
                self.stop_all()
        on_failure_ran = bool(not self.main_ok and self.pipeline.on_failure and status != "interrupted")
        final = RunStatus(
            status, ended=now(), duration=round(time.monotonic() - started, 3), failures=self.failure_texts()
        )
        final.on_failure_ran = on_failure_ran
        final.reason = self.stop_reason if status == "interrupted" else None
        if not self.lost_lease:  # the runner that took over writes the run's status
            with contextlib.suppress(StoreFault):
                self.write_status(final)
        self.progress(final=True)
        footer = f"run {self.run_id} {status} in {time.monotonic() - started:.2f}s (store: {self.runstore.run_dir})"
        if status == "interrupted":
            footer += f"\n{self.stop_reason}; continue with: transpile run {self.pipeline_ref} --resume {self.run_id}"
        write_summary(self.out, self.stats, self.not_started(), self.failures, footer, self.run_id)
        return code

    def failure_texts(self) -> list[str]:
        return [f"{failure.key}: {failure.error}" for failure in self.failures]

    def write_status(self, status: RunStatus) -> None:
        try:
            self.runstore.write_status(status)
        except StoreFault:
            self.store_failed = True
            raise

    def main_done(self, ok: bool) -> None:
        self.main_ok = ok

    # -- reporting ----------------------------------------------------------------------------------
    def not_started(self) -> list[str]:
        """Steps with a node (tasks, maps, switches) that no instance of ever ran or was reused."""
        names = []
        for path, located in self.index.steps.items():
            step = located.step
            if step.parallel is not None or (path[0] == ON_FAILURE and self.main_ok):
                continue
            if node_id(path) not in self.stats:
                names.append(node_id(path))
        return names

    def progress(self, final: bool = False) -> None:
        moment = time.monotonic()
        if not final and moment - self._last_progress < (0.2 if self._tty else 5.0):
            return
        self._last_progress = moment
        done = sum(s.succeeded + s.reused + s.cached for s in self.stats.values())
        failed = sum(s.failed for s in self.stats.values())
        running, queued = len(self.active), len(self.ready)
        line = f"[{self.run_id}] nodes done {done}, running {running}, queued {queued}, failed {failed}"
        if running and not final:
            elapsed = ((a.instance.key, moment - a.process.started) for a in self.active.values())
            line += f" ({running_text(elapsed)})"
        if self._tty:
            self._width = max(self._width, len(line))  # pad over what a longer line left on the terminal
            self.out.write("\r" + line.ljust(self._width) + ("\n" if final else ""))
        elif not final:
            self.out.write(line + "\n")
        self.out.flush()


@contextlib.contextmanager
def _stop_signals(runner: LocalRunner):
    """While the run lasts, SIGINT and SIGTERM ask the loop to stop; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        runner.stop_reason = f"stopped by {signal.Signals(signum).name}"

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
