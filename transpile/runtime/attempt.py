"""Supervise one task attempt: fork its body into a fresh process, watch it, and read what it reports.

The supervisor (the `execute-node` process, which has already imported the runtime and loaded the plan;
for `transpile run`, the run's zygote, see zygote.py) forks a child per attempt. The child leads
its own process group, dies with its supervisor, works in a fresh temporary directory and reports one
JSON message on a pipe. Whatever ends the child without a message (`os._exit`, a signal, a crash) is a
failed attempt the supervisor records; a timeout or an interruption kills the whole process group.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transpile.runtime import procs
from transpile.runtime.body import BodyContext, run_body
from transpile.runtime.capture import capture
from transpile.runtime.workspace import remove_workdir

_CHUNK = 1 << 16


@dataclass
class Running:
    """A forked attempt process: its pid (also its process group), the pipe its assignment goes down, the
    pipe its message comes back on, its fresh working directory, and its deadline once assigned."""

    pid: int
    read_fd: int
    assign_fd: int | None
    pidfd: int | None
    workdir: Path
    pid_start: int | None
    started: float = 0.0
    deadline: float | None = None
    timeout: float | None = None
    chunks: list[bytes] = field(default_factory=list)
    eof: bool = False
    ended: str | None = None  # "timeout" or "interrupted" when the supervisor killed it
    status: int | None = None
    reaped: bool = False

    def read_some(self) -> None:
        """Read what the pipe has (non-blocking)."""
        while not self.eof:
            try:
                chunk = os.read(self.read_fd, _CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            self.chunks.append(chunk)

    def has_message(self) -> bool:
        """Whether the whole report has come (it ends with a newline, which JSON text never holds)."""
        return bool(self.chunks) and self.chunks[-1].endswith(b"\n")

    def kill(self, why: str, sig: int = signal.SIGKILL) -> None:
        self.ended = self.ended or why
        if not self.reaped:
            procs.kill_group(self.pid, sig)

    def reap(self) -> None:
        """The child has exited: kill what is left of its group (a pod's processes end with it), collect it."""
        if self.reaped:
            return
        procs.kill_group(self.pid)  # the zombie keeps its pid, so the group id cannot have been reused
        _, status = os.waitpid(self.pid, 0)
        self.status, self.reaped = status, True
        self.read_some()
        for fd in (self.read_fd, self.pidfd, self.assign_fd):
            if fd is not None:
                os.close(fd)
        self.assign_fd = None
        remove_workdir(self.workdir)

    def message(self) -> dict[str, Any]:
        """What the body reported, or the failure that ended it without a report."""
        if self.ended == "timeout":
            return {"error": f"timed out after {self.timeout:g}s", "timed_out": True}
        if self.ended == "interrupted":
            return {"error": "interrupted: the run was stopped while this attempt ran", "interrupted": True}
        data = b"".join(self.chunks)
        if data:
            try:
                return json.loads(data)
            except ValueError:
                pass
        return {"error": f"the step's process ended without a result ({describe(self.status)})"}


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


Builder = Callable[[dict[str, Any]], BodyContext]


def _read_assignment(fd: int) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def child_main(build: Builder, fds: tuple[int, int], workdir: str | Path, inherited: list[int]) -> None:
    """The forked child: wait for its assignment, run it, report, never return."""
    code = 0
    write_fd, assign_fd = fds
    try:
        gc.enable()  # the run's zygote works with it off
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        procs.die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assignment = _read_assignment(assign_fd)
        if assignment is None:
            os._exit(0)  # not needed after all
        os.close(assign_fd)
        ctx = build(assignment)
        os.chdir(workdir)
        logs = (ctx.attempt_dir / "stdout.log", ctx.attempt_dir / "stderr.log")
        with capture(logs[0], logs[1], bool(assignment.get("echo"))):
            message = run_body(ctx)
        try:
            data = json.dumps(message, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            data = json.dumps({"error": f"the step's record is not JSON: {exc}"}).encode()
        data += b"\n"
        view = memoryview(data)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
        os.close(write_fd)
        os.nice(19)  # what is left, the process's teardown, gives way to the attempts still running
    except BaseException:  # noqa: BLE001 - a child must never return into the supervisor's code
        code = 70
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def fork(build: Builder, workdir: Path) -> Running:
    """Fork a child that waits for its assignment (`assign`)."""
    gc.freeze()  # the child's garbage collector then leaves the parent's objects (and their pages) alone
    read_fd, write_fd = os.pipe()
    assign_read, assign_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child_main(build, (write_fd, assign_read), workdir, [read_fd, assign_write])
    os.close(write_fd)
    os.close(assign_read)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    os.set_blocking(read_fd, False)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(pid)
    return Running(pid, read_fd, assign_write, pidfd, workdir, procs.start_time(pid))


def assign(running: Running, assignment: dict[str, Any], timeout: float | None) -> None:
    """Hand the child its attempt and start the clock."""
    assert running.assign_fd is not None
    data = json.dumps(assignment, ensure_ascii=False).encode() + b"\n"
    view = memoryview(data)
    while view:
        view = view[os.write(running.assign_fd, view) :]
    os.close(running.assign_fd)
    running.assign_fd = None
    running.started = time.monotonic()
    running.timeout = timeout
    running.deadline = running.started + timeout if timeout else None


def exited(running: Running) -> bool:
    """Whether the child has exited (without reaping it)."""
    if running.reaped:
        return True
    if running.pidfd is not None:
        return bool(select.select([running.pidfd], [], [], 0)[0])
    try:
        info = os.waitid(os.P_PID, running.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def wait(running: Running) -> None:
    """Block until the child ends (killing its group at the deadline), then reap it."""
    while True:
        timeout = 0.5
        if running.deadline is not None:
            timeout = max(0.0, min(timeout, running.deadline - time.monotonic()))
        fds = [running.read_fd] if not running.eof else []
        if running.pidfd is not None:
            fds.append(running.pidfd)
        ready = select.select(fds, [], [], timeout)[0] if fds else time.sleep(timeout) or []
        if running.read_fd in ready:
            running.read_some()
        if exited(running):
            break
        if running.deadline is not None and time.monotonic() >= running.deadline and running.ended is None:
            running.kill("timeout")
    running.reap()
