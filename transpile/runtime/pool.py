"""The attempt processes of `transpile run` (and of a batch in `execute-node`), as their supervisor sees them:
the zygote's `Spawner` (see supervisor.py), spares to hand attempts to and the exits of those handed out.

The processes come from the run's zygote (zygote.py), a fresh interpreter started once per run (a batch's
is forked from the entrypoint). The
zygote's messages (a spare is ready, a child has exited) wait in the socket until the runner needs them:
it reads them without waiting at every turn of its loop, and listens for them only while it waits for a
spare, for the exit of a child that closed its pipe without a report, or for its attempts to stop (the
supervisor asks for `exit_fds` only then). So a node costs the runner two wake-ups (its child's report, and
the next assignment it writes), not four.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import transpile
from transpile.runtime import procs
from transpile.runtime.supervisor import AttemptProcess
from transpile.runtime.zygote import BOOT, ForkedZygote

if TYPE_CHECKING:
    import subprocess

_MESSAGE = 4096


def start_zygote(
    plan_text: str, store: Path, run_id: str, values: dict[str, Any], import_paths: list[str], spares: int
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start the run's zygote and send it what it needs; (its process, the runner's end of its socket)."""
    import subprocess  # here: imported, it makes every process forked from a batch's zygote run `threading`'s

    # after-fork hook
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


class ZygoteSpawner:
    """The runner's side of the zygote (a `Spawner`): spares to hand attempts to, and the exits the zygote
    reports of the processes handed out."""

    def __init__(self, zygote: subprocess.Popen[bytes] | ForkedZygote, sock: socket.socket):
        self.zygote = zygote
        self.sock = sock
        self.sock.setblocking(False)
        self.spares: list[AttemptProcess] = []
        self.handed: dict[int, AttemptProcess] = {}  # pid -> a process taken, until the zygote reports its exit
        self.exited: list[AttemptProcess] = []  # exits read from the socket, not yet reported

    def take(self) -> AttemptProcess:
        """A spare process (waiting for the zygote if none is ready)."""
        self._drain()
        while not self.spares:
            select.select([self.sock], [], [], 1.0)
            self._drain()
        process = self.spares.pop(0)
        self.handed[process.pid] = process
        return process

    def give_back(self, process: AttemptProcess) -> None:
        self.handed.pop(process.pid, None)
        self.spares.insert(0, process)

    def exit_fds(self, waiting: list[AttemptProcess]) -> list[tuple[int, Any]]:
        return [(self.sock.fileno(), None)]

    def exits(self) -> list[AttemptProcess]:
        self._drain()
        found, self.exited = self.exited, []
        return found

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
                    process = self.handed.pop(int(pid), None)
                    if process is not None:  # the zygote reaped it and removes its working directory
                        process.closed(int(rest))
                        self.exited.append(process)
                    continue
                os.set_blocking(fds[0], False)
                started = procs.start_time(int(pid))
                self.spares.append(AttemptProcess(int(pid), fds[0], fds[1], Path(rest), started))

    def close(self) -> None:
        """Dismiss the spares and stop the zygote (which kills and reaps whatever child is left)."""
        for spare in self.spares:
            for fd in (spare.read_fd, spare.assign_fd):
                if fd is not None:
                    os.close(fd)
        self.spares = []
        self.sock.close()
        self.zygote.wait()
