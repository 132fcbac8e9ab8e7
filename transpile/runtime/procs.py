"""Processes of this host: liveness that survives pid reuse, process groups, parent-death signals."""

from __future__ import annotations

import contextlib
import os
import signal


def start_time(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (Linux), None when unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    try:
        return int(stat.rsplit(b")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int, started: int | None = None) -> bool:
    """Whether the process `pid` exists (and, when `started` is known, is the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is not None:
        current = start_time(pid)
        return current is None or current == started
    return True


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
