"""An attempt's own process, as a pod's container runs it: forked, it waits for its assignment, runs the step's
body in its fresh working directory, kills whatever the step left running and reports one JSON message.

`spawn` forks it (for the run's zygote and for the entrypoint alike) and `reap` collects it once it has
exited. The child leads its own process group, dies with its parent and is the child subreaper of what the
step starts, so a double-forked daemon stays below it and dies with the attempt. Whatever ends the child
without a message (`os._exit`, a signal, a crash) is a failed attempt its supervisor records.
"""

from __future__ import annotations

import _signal
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from transpile.runtime import procs
from transpile.runtime.body import BodyContext, run_body
from transpile.runtime.capture import capture
from transpile.runtime.store import RunStore, StoreFault
from transpile.runtime.values import ValueReader
from transpile.runtime.workspace import remove_workdir

if TYPE_CHECKING:
    from transpile.runtime.loader import Loaded

CHUNK = 1 << 16
_SIGINT, _SIGTERM, _SIG_DFL = int(signal.SIGINT), int(signal.SIGTERM), int(signal.SIG_DFL)
Builder = Callable[[dict[str, Any]], BodyContext]
subreaper = False  # whether this process (the spawner) became the subreaper of what its children leave


def spawn(build: Builder, workdir: str | Path, inherited: list[int], flush: bool = True) -> tuple[int, int, int]:
    """Fork a child that waits for its assignment: (its pid, the read end of its report pipe, the write end
    of its assignment pipe). `inherited`: fds of the parent the child must close; `flush`: Python's output
    buffers first (the zygote has none, and writes as few of its pages as it can)."""
    read_fd, write_fd = os.pipe()
    assign_read, assign_write = os.pipe()
    if flush:
        sys.stdout.flush()
        sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child_main(build, (write_fd, assign_read), workdir, [read_fd, assign_write, *inherited])
    os.close(write_fd)
    os.close(assign_read)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    return pid, read_fd, assign_write


def reap(pid: int, workdir: str | Path | None, others: Any) -> int:
    """A child has exited: kill what is left of its process group (its zombie keeps the group id reserved),
    collect it, and remove its working directory. A child that did not end cleanly (killed, `os._exit`)
    could not kill what its step started: what it left, reparented to this process (a subreaper), is
    killed too (`others`: the pids of the children still wanted). Its wait status."""
    procs.kill_group(pid)
    _, status = os.waitpid(pid, 0)
    if status != 0 and subreaper:
        procs.kill_orphans(others)
    remove_workdir(workdir, leftovers=status != 0)
    return status


def become_subreaper() -> None:
    """Let this spawner catch what its children's steps leave running when a child dies before killing it."""
    global subreaper
    subreaper = procs.become_subreaper()


def context_builder(loaded: Loaded, run: RunStore, values: dict[str, Any]) -> Builder:
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


def _read_assignment(fd: int) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, CHUNK)
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def _send(fd: int, message: dict[str, Any]) -> None:
    """The report, one line of JSON (a step's record that is not JSON is a failure, not a crash)."""
    try:
        data = json.dumps(message, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        data = json.dumps({"error": f"the step's record is not JSON: {exc}"}).encode()
    view = memoryview(data + b"\n")
    while view:
        view = view[os.write(fd, view) :]


def _attempt(build: Builder, assignment: dict[str, Any], workdir: str | Path) -> dict[str, Any]:
    ctx = build(assignment)
    os.chdir(workdir)
    attempt_dir = assignment["attempt_dir"]
    try:
        with capture(f"{attempt_dir}/stdout.log", f"{attempt_dir}/stderr.log"):
            message = run_body(ctx)
            procs.kill_tree(os.getpid())  # a pod ends with its step: nothing the step started outlives it
    except OSError as exc:  # the log files could not be opened: the store cannot be written
        procs.kill_tree(os.getpid())
        fault = StoreFault.of(exc)
        return {"error": fault.reason, "store_fault": True}
    return message


def child_main(build: Builder, fds: tuple[int, int], workdir: str | Path, inherited: list[int]) -> NoReturn:
    """The forked child: wait for its assignment, run it, report, never return."""
    code = 0
    write_fd, assign_fd = fds
    sent = False
    try:
        gc.enable()  # the run's zygote works with it off
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        procs.die_with_parent()
        procs.become_subreaper()
        _signal.signal(_SIGINT, _SIG_DFL)  # the C module: the `signal` wrapper's enum conversions alone
        _signal.signal(_SIGTERM, _SIG_DFL)  # cost every forked attempt ~0.1 ms of copied pages
        assignment = _read_assignment(assign_fd)
        if assignment is None:
            os._exit(0)  # not needed after all
        os.close(assign_fd)
        message = _attempt(build, assignment, workdir)
        sent = True
        _send(write_fd, message)
        os.close(write_fd)
        os.nice(19)  # what is left, the process's teardown, gives way to the attempts still running
    except BaseException as exc:  # noqa: BLE001 - a child must never return into its parent's code
        code = 70
        with contextlib.suppress(Exception):
            if not sent:
                _send(write_fd, {"error": f"the attempt's process failed: {type(exc).__name__}: {exc}"})
            if os.environ.get("TRANSPILE_DEBUG"):
                import traceback

                traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
