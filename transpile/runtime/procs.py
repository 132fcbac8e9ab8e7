"""Processes of this host: liveness that survives pid reuse, process groups, process trees, parent-death
signals and child subreapers (Linux)."""

from __future__ import annotations

import contextlib
import os
import signal
import time


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None when gone or unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (Linux), None when unknown or gone."""
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def kill_orphaned_group(pgid: int, leader_start: int | None) -> None:
    """Kill what is left of a dead attempt's process group: only if its leader is gone (the kernel keeps a
    group's id while it has members) or is still the very process recorded."""
    current = start_time(pgid)
    if current is None or leader_start is None or current == leader_start:
        kill_group(pgid)


def working_directories() -> set[str]:
    """The current directories of the processes this user can see (Linux)."""
    found = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            with contextlib.suppress(OSError):
                found.add(os.readlink(f"/proc/{entry}/cwd"))
    return found


def group_alive(pgid: int) -> bool:
    """Whether a process group still has a live (non-zombie) member (Linux)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[0] != b"Z" and fields[2] == str(pgid).encode():
                return True
    return False


def alive(pid: int, started: int | None = None) -> bool:
    """Whether the process `pid` exists (and, when `started` is known, is the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields is None:
        return not os.path.isdir("/proc/self")  # gone; or, without /proc, kill(0) said it exists
    if fields[0] == b"Z":
        return False  # a zombie nobody reaped (e.g. a container's init that does not reap)
    return started is None or start_time(pid) == started


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def children(pid: int) -> list[int]:
    """The children of a process: from /proc/<pid>/task/<tid>/children where the kernel has it, else by
    scanning every process's parent (slower, but only a kill needs it)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    try:
        for tid in tids:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found += [int(child) for child in handle.read().split()]
        return found
    except FileNotFoundError:
        pass
    except OSError:
        return found
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[1] == str(pid).encode():
                found.append(int(entry))
    return found


def descendants(pid: int) -> list[int]:
    """Every live (not zombie) process below `pid`, parents before their children."""
    found, queue = [], children(pid)
    while queue:
        child = queue.pop(0)
        fields = _stat(child)
        if fields is None or fields[0] == b"Z":
            continue
        found.append(child)
        queue += children(child)
    return found


def has_children() -> bool:
    """Whether this process has any child, alive or not yet reaped (one system call, no /proc)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def kill_tree(pid: int, rounds: int = 50) -> None:
    """Kill every descendant of `pid` (not `pid` itself), also those that left its process group or session
    (a double-forked daemon). `pid` should be a child subreaper (`become_subreaper`): what a killed process
    leaves orphaned comes back under `pid`, and the next round kills it. Killed children of this very
    process are reaped."""
    mine = pid == os.getpid()
    if mine and not has_children():
        return
    for _ in range(rounds):
        found = descendants(pid)
        if not found:
            break
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        if mine:
            for child in children(pid):
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(child, 0)
        else:
            time.sleep(0.005)  # let the kernel reparent what the killed processes leave
    if mine:
        for child in children(pid):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(child, os.WNOHANG)


def kill_orphans(known: set[int] | dict[int, object]) -> int:
    """In a child subreaper: kill and reap every child of this process that it did not start itself (`known`):
    what the dead attempts it started left behind, reparented to it. How many were found."""
    me, killed = os.getpid(), 0
    for _ in range(50):
        orphans = [child for child in children(me) if child not in known]
        if not orphans:
            break
        for child in orphans:
            killed += 1
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        for child in orphans:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(child, 0)
    return killed


_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_SIGKILL = int(signal.SIGKILL)  # a plain int: an enum member costs a forked child ~40 copied pages to convert
_libc = None


def prepare_parent_death() -> None:
    """Load libc once in the parent, so children can ask for a parent-death signal cheaply."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        except (OSError, ImportError):
            _libc = False


def die_with_parent() -> None:
    """In a forked child: be killed when the parent dies (Linux; elsewhere a no-op)."""
    if _libc:
        with contextlib.suppress(Exception):
            _libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux): a process below it whose parent
    dies is reparented to it instead of to init, so a double-forked daemon stays findable. False elsewhere."""
    prepare_parent_death()
    if not _libc:
        return False
    try:
        return _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except Exception:  # noqa: BLE001 - no prctl: nothing to do
        return False
