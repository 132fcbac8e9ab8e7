"""The zygote of `transpile run`: a fresh interpreter that forks every attempt process of one run.

The runner starts it (`python -c BOOT`) and sends it the plan, the run and the runner's `sys.path` on its
standard input. It imports only the runtime, so each attempt forked from it starts as a pod's process
does: no compiler, no module the runner or a Python pipeline imported, nothing of the runner's state. It
keeps `spares` children forked ahead, each waiting for its assignment (see child.py), and hands their
pipe ends to the runner over a Unix socket. It is the child subreaper of everything below it: when a child
exits it kills what is left of the child's process group and whatever the child left orphaned (a daemon a
step double-forked), reaps it, removes its working directory, forks a replacement and reports both in one
message. The runner reads these messages when it needs them (a spare to use, an exit to record), so a
fork or an exit never has to wake it. The zygote dies with the runner, or ends when the runner closes
the socket, killing and reaping every child it has.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

from transpile.runtime import child, procs
from transpile.runtime.workspace import make_workdir, remove_workdir, workdir_stem

# Run by `python -c`: the runner passes the directory holding the `transpile` package, then the socket fd.
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from transpile.runtime.zygote import main; main()"


def _load(header: dict[str, Any], plan_text: str) -> Any:
    """The builder of each attempt's context, from the plan the runner sent."""
    from transpile.plan.codec import from_json
    from transpile.runtime.child import context_builder
    from transpile.runtime.loader import from_plan
    from transpile.runtime.store import RunStore

    loaded = from_plan(from_json(plan_text))
    run = RunStore(Path(header["store"]), header["run_id"], durable=False)
    return context_builder(loaded, run, header["values"])


def _prepare_imports(header: dict[str, Any]) -> None:
    """The runner's `sys.path`, with the directories the steps import from in front (as the entrypoint puts
    them); their finders are created here once, so no attempt lists those directories again."""
    sys.path[:] = header["sys_path"]
    for extra in header["import_paths"]:
        if extra not in sys.path:
            sys.path.insert(0, extra)
    import importlib.machinery

    importlib.machinery.PathFinder.find_spec("transpile-no-such-module", sys.path)


class _Zygote:
    """The fork loop. Every page it writes after a fork is copied for it (the spares share its memory), so
    the loop stays small: plain epoll, preformatted messages, no garbage collector, no objects kept per
    child beyond two dict entries."""

    def __init__(self, sock: socket.socket, build: Any, run_id: str, spares: int):
        self.sock, self.build, self.workdir_stem = sock, build, workdir_stem(run_id)
        self.epoll = select.epoll()
        self.epoll.register(sock.fileno(), select.EPOLLIN)
        self.children: dict[int, int] = {}  # pidfd -> pid
        self.workdirs: dict[int, str] = {}  # pid -> its working directory, removed once it has exited
        for _ in range(spares):
            self.fork_spare(b"")

    def fork_spare(self, report: bytes) -> None:
        """Fork a spare and send it to the runner, after `report` (an exit) in the same message."""
        workdir = make_workdir(self.workdir_stem)
        inherited = [self.sock.fileno(), self.epoll.fileno(), *self.children]
        pid, read_fd, assign_write = child.spawn(self.build, workdir, inherited, flush=False)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = pid
        self.workdirs[pid] = workdir
        self.epoll.register(pidfd, select.EPOLLIN)
        message = report + b"spare %d %s\n" % (pid, workdir.encode())
        fds = struct.pack("2i", read_fd, assign_write)
        try:
            self.sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        finally:
            os.close(read_fd)
            os.close(assign_write)

    def reap(self, pidfd: int) -> bytes:
        """A child has exited: reap it (see child.reap) and say so."""
        pid = self.children.pop(pidfd)
        self.epoll.unregister(pidfd)
        os.close(pidfd)
        status = child.reap(pid, self.workdirs.pop(pid), self.workdirs)  # its keys: the other children
        return b"exit %d %d\n" % (pid, status)

    def serve(self) -> None:
        """Until the runner closes the socket: replace each child that exits."""
        sock_fd = self.sock.fileno()
        while True:
            for fd, _ in self.epoll.poll():
                if fd == sock_fd:
                    if not self.sock.recv(16):
                        return
                    continue
                self.fork_spare(self.reap(fd))

    def close(self) -> None:
        for pid in self.children.values():
            procs.kill_tree(pid)
            procs.kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        procs.kill_orphans(set())
        for workdir in self.workdirs.values():
            remove_workdir(workdir)


def main() -> None:
    """The zygote process: `python -c BOOT PACKAGE_ROOT SOCKET_FD`, the request on standard input."""
    code = 0
    zygote = None
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping is the runner's to handle: the zygote
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ends when the runner closes its socket or dies
        sock = socket.socket(fileno=int(sys.argv[2]))
        header = json.loads(sys.stdin.buffer.readline())
        plan_text = sys.stdin.buffer.read().decode("utf-8")
        null = os.open(os.devnull, os.O_RDONLY)  # as in a pod, a step has no terminal to read
        os.dup2(null, 0)
        os.close(null)
        procs.prepare_parent_death()
        procs.die_with_parent()
        child.become_subreaper()
        if os.getppid() != header["parent"]:
            return  # the runner is already gone
        os.chdir(header["cwd"])
        build = _load(header, plan_text)
        _prepare_imports(header)
        del plan_text
        gc.collect()
        gc.freeze()
        gc.disable()  # each child turns it back on
        zygote = _Zygote(sock, build, header["run_id"], header["spares"])
        zygote.serve()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the runner has ended
    except BaseException:  # noqa: BLE001 - report, and let the runner see the socket close
        code = 70
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
    finally:
        if zygote is not None:
            zygote.close()
        sys.stderr.flush()
        os._exit(code)
