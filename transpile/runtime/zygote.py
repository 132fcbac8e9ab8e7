"""The zygote: the process that forks every attempt process of `transpile run`, and of a batch in a pod.

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

A batch of map items in `execute-node` forks its zygote from the entrypoint instead (`fork_zygote`): the
children then start from the very process an unbatched pod's attempt forks from, while the entrypoint,
which writes each item's records, forks nothing itself, so no page it writes is ever shared with a child
and copied for it (the per-item cost of a batch was mostly those copies).
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
from typing import Any, NoReturn

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


def prepare_imports(import_paths: list[str]) -> None:
    """`sys.path` with the directories the steps import from in front (as each attempt puts them); their
    finders are created here once, so no attempt lists those directories again."""
    for extra in import_paths:
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


class ForkedZygote:
    """A zygote forked from this process (`fork_zygote`), waited for like a `subprocess.Popen`."""

    def __init__(self, pid: int):
        self.pid = pid

    def wait(self) -> int:
        with contextlib.suppress(ChildProcessError):
            return os.waitpid(self.pid, 0)[1]
        return 0


def fork_zygote(build: Any, run_id: str, spares: int, import_paths: list[str]) -> tuple[ForkedZygote, socket.socket]:
    """Fork a zygote from this process, whose attempts build their context with `build` and import from
    `import_paths`; (the zygote, this process's end of its socket), for a `ZygoteSpawner`."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        ours.close()
        with contextlib.suppress(Exception):  # (each attempt also puts them in front)
            prepare_imports(import_paths)
        _serve(theirs, build, run_id, spares, parent)
    theirs.close()
    return ForkedZygote(pid), ours


def _serve(sock: socket.socket, build: Any, run_id: str, spares: int, parent: int) -> NoReturn:
    """A zygote's life once it has what its attempts need: fork them until its parent closes the socket or
    dies, then kill and reap every child it has; it never returns."""
    code = 0
    zygote = None
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping is the parent's to handle: the zygote
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ends when the parent closes its socket or dies
        procs.prepare_parent_death()
        procs.die_with_parent()
        child.become_subreaper()
        if os.getppid() != parent:
            return  # the parent is already gone
        gc.collect()
        gc.freeze()
        gc.disable()  # each child turns it back on
        zygote = _Zygote(sock, build, run_id, spares)
        zygote.serve()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent has ended
    except BaseException:  # noqa: BLE001 - report, and let the parent see the socket close
        code = 70
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
    finally:
        if zygote is not None:
            zygote.close()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def main() -> None:
    """The zygote process: `python -c BOOT PACKAGE_ROOT SOCKET_FD`, the request on standard input."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner's to handle, as in _serve
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sock = socket.socket(fileno=int(sys.argv[2]))
        header = json.loads(sys.stdin.buffer.readline())
        plan_text = sys.stdin.buffer.read().decode("utf-8")
        null = os.open(os.devnull, os.O_RDONLY)  # as in a pod, a step has no terminal to read
        os.dup2(null, 0)
        os.close(null)
        os.chdir(header["cwd"])
        build = _load(header, plan_text)
        sys.path[:] = header["sys_path"]  # the runner's
        prepare_imports(header["import_paths"])
        del plan_text
    except BaseException:  # noqa: BLE001 - report, and let the runner see the socket close
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        os._exit(70)
    _serve(sock, build, header["run_id"], header["spares"], header["parent"])
