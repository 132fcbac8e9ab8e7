"""The attempt processes of `transpile run`: a zygote forks them ahead of need, the runner watches them.

The zygote is forked from the runner once the plan is loaded. It does nothing but fork a spare child
when asked (see attempt.py: the spare waits for its assignment), hand the runner the spare's two pipe
ends over a Unix socket, and report each child's exit status after killing what is left of its process
group. The scheduler itself never forks, so its own busy memory is never shared copy-on-write with a
child (each fork would otherwise make the scheduler fault on every page it writes afterwards), and the
fork happens in another process while the previous attempt runs.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

from transpile.runtime import attempt as attempts
from transpile.runtime import procs
from transpile.runtime.workspace import new_workdir, remove_workdir

_MESSAGE = 4096


def _zygote(sock: socket.socket, build: attempts.Builder, run_id: str) -> None:
    """The zygote's loop: fork a spare per request, report exits; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping is the runner's to handle: the zygote
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ends when the runner closes its socket or dies
        procs.die_with_parent()
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        children: dict[int, int] = {}  # pidfd -> pid
        workdirs: dict[int, Path] = {}  # pid -> its working directory, removed here once it has exited
        while True:
            for key, _ in selector.select():
                if key.fileobj is sock:
                    if not sock.recv(16):
                        raise SystemExit
                    inherited = [sock.fileno(), selector.fileno(), *children]
                    spare = attempts.fork(build, new_workdir(run_id), inherited, die_with_parent=True)
                    header = json.dumps(["spare", spare.pid, spare.pid_start, str(spare.workdir)]).encode()
                    assert spare.assign_fd is not None
                    socket.send_fds(sock, [header], [spare.read_fd, spare.assign_fd])
                    os.close(spare.read_fd)
                    os.close(spare.assign_fd)
                    pidfd = spare.pidfd if spare.pidfd is not None else os.pidfd_open(spare.pid)
                    children[pidfd] = spare.pid
                    workdirs[spare.pid] = spare.workdir
                    selector.register(pidfd, selectors.EVENT_READ)
                else:
                    pidfd = key.fd
                    pid = children.pop(pidfd)
                    selector.unregister(pidfd)
                    os.close(pidfd)
                    procs.kill_group(pid)  # before reaping: the zombie keeps the group id reserved
                    _, status = os.waitpid(pid, 0)
                    sock.send(json.dumps(["exit", pid, status]).encode())
                    remove_workdir(workdirs.pop(pid))  # off the runner's path
    except SystemExit:
        pass
    except BaseException:  # noqa: BLE001 - never return into the runner's code
        code = 70
    finally:
        for pid in list(locals().get("children", {}).values()):
            procs.kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for workdir in locals().get("workdirs", {}).values():
            remove_workdir(workdir)
        os._exit(code)


class Pool:
    """The runner's side: spares to hand attempts to, and the events of the attempts it watches."""

    def __init__(self, build: attempts.Builder, run_id: str):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        procs.prepare_parent_death()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            _zygote(theirs, build, run_id)
        theirs.close()
        self.sock.setblocking(False)
        self.zygote = pid
        self.spares: list[attempts.Running] = []
        self.requested = 0
        self.watched: dict[int, attempts.Running] = {}  # pid -> a child handed an attempt
        self.backlog: list[tuple[attempts.Running, str]] = []
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ, None)

    def want(self, count: int) -> None:
        """Ask for spares until `count` are ready or on their way."""
        while len(self.spares) + self.requested < count:
            self.sock.send(b"f")
            self.requested += 1

    def take(self) -> attempts.Running:
        """A spare child (waiting for one if none is ready)."""
        self.want(1)
        while not self.spares:
            self.backlog += list(self._select(1.0))
        return self.spares.pop(0)

    def give_back(self, spare: attempts.Running) -> None:
        self.spares.insert(0, spare)

    def watch(self, running: attempts.Running) -> None:
        self.watched[running.pid] = running
        self.selector.register(running.read_fd, selectors.EVENT_READ, running)

    def events(self, timeout: float) -> list[tuple[attempts.Running, str]]:
        """(child, "message") when a child's report is complete, (child, "exit") when it has exited."""
        found, self.backlog = self.backlog, []
        return found + list(self._select(0.0 if found else timeout))

    def _select(self, timeout: float) -> Iterator[tuple[attempts.Running, str]]:
        for key, _ in self.selector.select(timeout):
            running = key.data
            if running is not None:
                if running.reaped:  # its exit, earlier in this batch, already closed the pipe
                    continue
                running.read_some()
                if running.eof:
                    self.selector.unregister(running.read_fd)
                    yield running, "message"
                continue
            while True:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(self.sock, _MESSAGE, 2)
                except BlockingIOError:
                    break
                if not data:
                    raise RuntimeError("the runner's zygote process died")
                message = json.loads(data)
                if message[0] == "spare":
                    _, pid, started, workdir = message
                    os.set_blocking(fds[0], False)
                    self.spares.append(attempts.Running(pid, fds[0], fds[1], None, Path(workdir), started))
                    self.requested -= 1
                    continue
                running = self.watched.pop(message[1], None)
                if running is not None:
                    self.ended(running, message[2])
                    yield running, "exit"

    def ended(self, running: attempts.Running, status: int) -> None:
        """The zygote reaped the child (and removes its working directory): close the runner's ends."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(running.read_fd)
        running.read_some()
        running.status, running.reaped = status, True
        for fd in (running.read_fd, running.assign_fd):
            if fd is not None:
                os.close(fd)
        running.assign_fd = None

    def close(self) -> None:
        """Dismiss the spares and stop the zygote (which kills and reaps whatever child is left)."""
        for spare in self.spares:
            for fd in (spare.read_fd, spare.assign_fd):
                if fd is not None:
                    os.close(fd)
        self.spares = []
        self.selector.close()
        self.sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.zygote, 0)
