"""Processes of this host: liveness that survives pid reuse, process groups, parent-death signals."""

from __future__ import annotations

import contextlib
import os
import signal


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


_PR_SET_PDEATHSIG = 1
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
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
