"""Supervise attempt processes: hand each its assignment, watch many at once, enforce their deadlines, kill
them (their process group and every descendant), and turn how each ended into an `AttemptReport`.

Where the processes come from is a `Spawner`'s business: the run's zygote for `transpile run` (pool.py),
a plain fork of this process for `execute-node` (`ForkSpawner`). A spawner hands out processes forked
ahead and waiting for their assignment, and reports their exits; the supervisor does the rest the same
way for both.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from pathlib import Path
from typing import Any, Protocol

from transpile.runtime import child, procs


class AttemptReport:
    """How an attempt ended, as its process reported it (or its supervisor saw it end without a report)."""

    FIELDS = ("returns", "error", "inputs", "catalog_get", "catalog_put", "exit_code", "store_fault")

    def __init__(
        self,
        returns: dict[str, Any] | None = None,
        error: str | None = None,
        *,
        inputs: dict[str, Any] | None = None,
        catalog_get: list[str] | None = None,
        catalog_put: list[str] | None = None,
        exit_code: int | None = None,
        timed_out: bool = False,
        interrupted: bool = False,
        store_fault: bool = False,  # the run store could not be written
    ):
        self.returns, self.error, self.inputs, self.exit_code = returns, error, inputs, exit_code
        self.catalog_get, self.catalog_put = catalog_get, catalog_put
        self.timed_out, self.interrupted, self.store_fault = timed_out, interrupted, store_fault

    @classmethod
    def from_message(cls, message: Any) -> AttemptReport:
        if not isinstance(message, dict):
            return cls(error="the step's process sent a report that is not a JSON object")
        known = {name: message[name] for name in cls.FIELDS if name in message}
        report = cls(**known)
        if report.error is None and not isinstance(report.returns, dict):
            report.error = "the step reported no result"
        return report

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> str:
        """For the retry policy: `failed`, `timed_out`, `interrupted` (or `succeeded`)."""
        if self.ok:
            return "succeeded"
        return "interrupted" if self.interrupted else "timed_out" if self.timed_out else "failed"


class AttemptProcess:
    """A forked attempt process: its pid (also its process group), the pipe its assignment goes down, the
    pipe its report comes back on, its fresh working directory, and its deadline once assigned. A process
    is itself: compared by identity."""

    def __init__(self, pid: int, read_fd: int, assign_fd: int | None, workdir: Path, pid_start: int | None):
        self.pid, self.read_fd, self.assign_fd, self.workdir, self.pid_start = (
            pid,
            read_fd,
            assign_fd,
            workdir,
            pid_start,
        )
        self.pidfd: int | None = None
        self.started = 0.0
        self.deadline: float | None = None
        self.timeout: float | None = None
        self.chunks: list[bytes] = []
        self.eof = False
        self.ended: str | None = None  # "timeout" or "interrupted" when the supervisor killed it
        self.status: int | None = None  # its wait status, once it was reaped
        self.reaped = False

    def read_some(self) -> None:
        """Read what the pipe has (non-blocking)."""
        while not self.eof:
            try:
                chunk = os.read(self.read_fd, child.CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            self.chunks.append(chunk)

    def has_message(self) -> bool:
        """Whether the whole report has come (it ends with a newline, which JSON text never holds)."""
        return bool(self.chunks) and self.chunks[-1].endswith(b"\n")

    def closed(self, status: int) -> None:
        """It was reaped: keep its status, read the rest of its report, close the supervisor's ends."""
        self.read_some()
        self.status, self.reaped = status, True
        for fd in (self.read_fd, self.assign_fd, self.pidfd):
            if fd is not None:
                os.close(fd)
        self.assign_fd = self.pidfd = None

    def report(self) -> AttemptReport:
        """What the body reported, or the failure that ended it without a report."""
        if self.ended == "timeout":
            return AttemptReport(error=f"timed out after {self.timeout:g}s", timed_out=True)
        if self.ended == "interrupted":
            return AttemptReport(error="interrupted: the run was stopped while this attempt ran", interrupted=True)
        if self.has_message():
            try:
                return AttemptReport.from_message(json.loads(b"".join(self.chunks)))
            except ValueError:
                pass
        return AttemptReport(error=f"the step's process ended without a result ({describe(self.status)})")


def describe(status: int | None) -> str:
    if status is None:
        return "unknown exit"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {name}"
    return f"exit code {os.WEXITSTATUS(status)}, e.g. os._exit"


class Spawner(Protocol):
    """Where attempt processes come from (the launcher seam): the run's zygote, or a fork of this process."""

    def take(self) -> AttemptProcess:
        """A process forked and waiting for its assignment."""

    def give_back(self, process: AttemptProcess) -> None:
        """A process taken but not assigned: it stays spare."""

    def exit_fds(self, waiting: list[AttemptProcess]) -> list[tuple[int, Any]]:
        """(fd, owner) pairs whose readiness may report an exit of one of `waiting`, for the supervisor to
        poll (`owner`: the process the fd belongs to, or None for an fd of the spawner's own)."""

    def exits(self) -> list[AttemptProcess]:
        """Processes reaped since the last call (each `closed()`), without waiting."""

    def close(self) -> None:
        """Dismiss the spares; kill and reap every process left."""


class Supervisor:
    """Runs attempts on processes from one spawner: many at once, each until its report or its end."""

    def __init__(self, spawner: Spawner):
        self.spawner = spawner
        self.active: dict[int, AttemptProcess] = {}  # pid -> a process handed an attempt, until it finished
        self.poller = select.poll()  # (not selectors: the entrypoint need not import it)
        self.polled: dict[int, Any] = {}  # fd in the poller -> its process, or None for an exit fd
        self.watched: dict[int, Any] = {}  # exit fds in the poller
        self.stopping = False

    def take(self) -> AttemptProcess:
        return self.spawner.take()

    def give_back(self, process: AttemptProcess) -> None:
        self.spawner.give_back(process)

    def start(self, process: AttemptProcess, assignment: dict[str, Any], timeout: float | None) -> None:
        """Hand the process its attempt and start its clock."""
        assert process.assign_fd is not None
        data = json.dumps(assignment, ensure_ascii=False).encode() + b"\n"
        view = memoryview(data)
        while view:
            view = view[os.write(process.assign_fd, view) :]
        os.close(process.assign_fd)
        process.assign_fd = None
        process.started = time.monotonic()
        process.timeout = timeout
        process.deadline = process.started + timeout if timeout else None
        self.active[process.pid] = process
        self._register(process.read_fd, process)

    def next_deadline(self) -> float | None:
        deadlines = [p.deadline for p in self.active.values() if p.deadline is not None and p.ended is None]
        return min(deadlines) if deadlines else None

    def events(self, timeout: float) -> list[AttemptProcess]:
        """The attempts that finished (a complete report, or an exit without one), each once; waits up to
        `timeout` for the first. Attempts past their deadline are killed (and then finish)."""
        found: list[AttemptProcess] = []
        self._finished(self.spawner.exits(), found)
        self._watch_exits()
        for fd, _ in self.poller.poll(0 if found else max(0, int(timeout * 1000 + 0.999))):
            process = self.polled.get(fd)
            if not isinstance(process, AttemptProcess) or process.reaped:  # an exit fd; or closed meanwhile
                continue
            process.read_some()
            if process.has_message() or process.eof:  # complete: its pipe's closing need not wake us
                self._unregister(process.read_fd, process)
                if process.has_message():
                    self._finished([process], found)
        self._finished(self.spawner.exits(), found)
        self.enforce_deadlines()
        return found

    def _finished(self, processes: list[AttemptProcess], found: list[AttemptProcess]) -> None:
        """Those of `processes` still active are finished: no longer active, their pipe no longer watched."""
        for process in processes:
            if self.active.pop(process.pid, None) is not None:
                self._unregister(process.read_fd, process)
                found.append(process)

    def _watch_exits(self) -> None:
        """Listen for exits only when one is awaited (a process closed its pipe without a report, or all are
        being stopped): otherwise an exit need not wake the supervisor."""
        waiting = [p for p in self.active.values() if self.stopping or (p.eof and not p.has_message())]
        wanted = {fd: ("exit", owner) for fd, owner in self.spawner.exit_fds(waiting)} if waiting else {}
        for fd in [fd for fd in self.watched if wanted.get(fd) != self.watched[fd]]:
            self._unregister(fd, self.watched.pop(fd))
        for fd, key in wanted.items():
            if fd not in self.watched:
                self._register(fd, key)
                self.watched[fd] = key

    def _register(self, fd: int, data: Any) -> None:
        self.watched.pop(fd, None)  # an exit fd closed with its process: the number is someone else's now
        self.poller.register(fd, select.POLLIN)
        self.polled[fd] = data

    def _unregister(self, fd: int, data: Any = None) -> None:
        """Stop watching `fd` (only if it still belongs to `data`, when given)."""
        if fd in self.polled and (data is None or self.polled[fd] == data):
            del self.polled[fd]
            with contextlib.suppress(KeyError, ValueError):
                self.poller.unregister(fd)

    def enforce_deadlines(self) -> None:
        moment = time.monotonic()
        for process in list(self.active.values()):
            if process.deadline is not None and moment >= process.deadline and process.ended is None:
                self.kill(process, "timeout")

    def kill(self, process: AttemptProcess, why: str, sig: int = signal.SIGKILL) -> None:
        """Stop an attempt: its process group, and (SIGKILL) every process below it wherever it went."""
        process.ended = process.ended or why
        if process.reaped:
            return
        if sig == signal.SIGKILL:
            procs.kill_tree(process.pid)
        procs.kill_group(process.pid, sig)

    def stop_all(self, grace: float = 3.0) -> list[AttemptProcess]:
        """Stop every active attempt (SIGTERM to its group, SIGKILL after `grace`); the attempts as they
        finished, those whose end was never reported last."""
        self.stopping = True
        ended: list[AttemptProcess] = []
        for process in self.active.values():
            self.kill(process, "interrupted", signal.SIGTERM)
        for wait, sig in ((grace, signal.SIGKILL), (10.0, None)):
            deadline = time.monotonic() + wait
            while self.active and time.monotonic() < deadline:
                ended += self.events(0.05)
            for process in list(self.active.values()):
                if sig is not None:
                    self.kill(process, "interrupted", sig)
                else:  # the spawner did not report its end: give it up
                    ended.append(self.active.pop(process.pid))
        return ended

    def close(self) -> None:
        self.spawner.close()


class ForkSpawner:
    """Attempt processes forked from this process (the entrypoint: everything is already loaded), reaped by
    it through pidfds. `build` makes each attempt's context in the child; `make_workdir` its directory."""

    def __init__(self, build: child.Builder, make_workdir: Any):
        self.build, self.make_workdir = build, make_workdir
        self.children: dict[int, AttemptProcess] = {}
        procs.prepare_parent_death()

    def take(self) -> AttemptProcess:
        workdir = Path(self.make_workdir())
        inherited = [p.read_fd for p in self.children.values()]
        pid, read_fd, assign_fd = child.spawn(self.build, workdir, inherited)
        os.set_blocking(read_fd, False)
        process = AttemptProcess(pid, read_fd, assign_fd, workdir, procs.start_time(pid))
        if hasattr(os, "pidfd_open"):
            try:
                process.pidfd = os.pidfd_open(pid)
            except OSError:
                process.pidfd = None
        self.children[pid] = process
        return process

    def give_back(self, process: AttemptProcess) -> None:
        self.dismiss(process)

    def dismiss(self, process: AttemptProcess) -> None:
        if process.assign_fd is not None:
            os.close(process.assign_fd)  # the child reads no assignment and exits
            process.assign_fd = None
        self._reap(process)

    def exit_fds(self, waiting: list[AttemptProcess]) -> list[tuple[int, Any]]:
        return [(p.pidfd, p) for p in waiting if p.pidfd is not None]

    def exits(self) -> list[AttemptProcess]:
        return [self._reap(p) for p in list(self.children.values()) if self._exited(p)]

    @staticmethod
    def _exited(process: AttemptProcess) -> bool:
        if process.pidfd is not None:
            return bool(select.select([process.pidfd], [], [], 0)[0])
        try:
            return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _reap(self, process: AttemptProcess) -> AttemptProcess:
        self.children.pop(process.pid, None)
        process.closed(child.reap(process.pid, process.workdir, self.children))
        return process

    def close(self) -> None:
        """Reap every child: one that reported ends on its own at once (it is given a second), any other
        is killed with everything below it."""
        for process in list(self.children.values()):
            if process.has_message() and process.pidfd is not None:
                select.select([process.pidfd], [], [], 1.0)
            if not self._exited(process):
                procs.kill_tree(process.pid)
                procs.kill_group(process.pid)
            self._reap(process)
