"""The attempt processes of `transpile run`, as the runner sees them: spares to hand attempts to, and the
events of the attempts it watches.

The processes come from the run's zygote (zygote.py), a fresh interpreter started once per run. The
zygote's messages (a spare is ready, a child has exited) wait in the socket until the runner needs them:
it reads them without waiting at every turn of its loop, and listens for them only while it waits for a
spare, for the exit of a child that closed its pipe without a report, or for its attempts to stop. So a
node costs the runner two wake-ups (its child's report, and the next assignment it writes), not four.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import transpile
from transpile.runtime import attempt as attempts
from transpile.runtime import procs
from transpile.runtime.zygote import BOOT

_MESSAGE = 4096


def start_zygote(
    plan_text: str, store: Path, run_id: str, values: dict[str, Any], import_paths: list[str], spares: int
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start the run's zygote and send it what it needs; (its process, the runner's end of its socket)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    root = str(Path(transpile.__file__).resolve().parent.parent)
    flags = subprocess._args_from_interpreter_flags()  # the runner's -X, -W, -O..., as multiprocessing does
    argv = [sys.executable, *flags, "-c", BOOT, root, str(theirs.fileno())]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=[theirs.fileno()])
    theirs.close()
    header = {
        "parent": os.getpid(),
        "cwd": os.getcwd(),
        "store": str(store),
        "run_id": run_id,
        "values": values,
        "sys_path": [entry or os.getcwd() for entry in sys.path],
        "import_paths": import_paths,
        "spares": spares,
    }
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it died at once: the socket's end says so
        process.stdin.write(json.dumps(header).encode() + b"\n" + plan_text.encode("utf-8"))
        process.stdin.close()
    return process, ours


class Pool:
    """The runner's side of the zygote: spares, and the children handed an attempt."""

    def __init__(self, zygote: subprocess.Popen[bytes], sock: socket.socket):
        self.zygote = zygote
        self.sock = sock
        self.sock.setblocking(False)
        self.spares: list[attempts.Running] = []
        self.watched: dict[int, attempts.Running] = {}  # pid -> a child handed an attempt, until it exits
        self.exited: list[attempts.Running] = []  # exits read from the socket, not yet reported
        self.selector = selectors.DefaultSelector()
        self.listening = False  # whether the selector watches the zygote's socket
        self.stopping = False

    def take(self) -> attempts.Running:
        """A spare child (waiting for the zygote if none is ready)."""
        self._drain()
        while not self.spares:
            self._listen(True)
            self.selector.select(1.0)  # children's reports stay readable: `events` picks them up
            self._drain()
        return self.spares.pop(0)

    def give_back(self, spare: attempts.Running) -> None:
        self.spares.insert(0, spare)

    def watch(self, running: attempts.Running) -> None:
        self.watched[running.pid] = running
        self.selector.register(running.read_fd, selectors.EVENT_READ, running)

    def events(self, timeout: float) -> list[tuple[attempts.Running, str]]:
        """(child, "message") when a child's report is complete, (child, "exit") when it has exited."""
        self._drain()
        found = self._reported()
        self._listen(self.stopping or any(r.eof and not r.has_message() for r in self.watched.values()))
        for key, _ in self.selector.select(0.0 if found else timeout):
            running = key.data
            if running is None or running.reaped:  # the socket; or an exit read earlier closed the pipe
                continue
            running.read_some()
            if running.has_message() or running.eof:  # complete: its pipe's closing need not wake the runner
                self.selector.unregister(running.read_fd)
                found.append((running, "message"))
        self._drain()
        return found + self._reported()

    def _reported(self) -> list[tuple[attempts.Running, str]]:
        found = [(running, "exit") for running in self.exited]
        self.exited = []
        return found

    def _listen(self, wanted: bool) -> None:
        if wanted != self.listening:
            if wanted:
                self.selector.register(self.sock, selectors.EVENT_READ, None)
            else:
                self.selector.unregister(self.sock)
            self.listening = wanted

    def _drain(self) -> None:
        """Read every message the zygote has sent so far, without waiting."""
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, _MESSAGE, 2)
            except BlockingIOError:
                return
            if not data:
                raise RuntimeError("the runner's zygote process died (its error, if any, is printed above)")
            for line in data.decode().splitlines():
                what, pid, rest = line.split(" ", 2)
                if what == "exit":
                    running = self.watched.pop(int(pid), None)
                    if running is not None:
                        self.ended(running, int(rest))
                        self.exited.append(running)
                    continue
                os.set_blocking(fds[0], False)
                started = procs.start_time(int(pid))
                self.spares.append(attempts.Running(int(pid), fds[0], fds[1], None, Path(rest), started))

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
        self.zygote.wait()
