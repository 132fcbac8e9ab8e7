"""One runner per run: a lease in the store that survives the crash of its holder.

The lease is `runs/<run>/lease-<n>.json`, the highest `n` being current, each published write-once (so
of two runners taking it at once exactly one wins). It names its holder (host, pid, process start time)
and carries a heartbeat the holder refreshes every few seconds. A lease is free when it was released,
when its holder is a dead process of this host, or when its heartbeat is older than `STALE_SECONDS`
(a holder on another host sharing the volume). A holder that finds a newer lease has lost the run and
stops.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import Any

from transpile.runtime import procs
from transpile.runtime.store import HOST, RunStore, dumps, read_json, write_atomic, write_once

STALE_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0
_LEASE = re.compile(r"^lease-(\d+)\.json$")


class LeaseHeld(Exception):
    """Another live runner drives the run."""


def _numbers(run_dir: Path) -> list[int]:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _LEASE.match(name)))


def holder_id() -> str:
    return f"{HOST}:{os.getpid()}:{procs.start_time(os.getpid()) or 0}"


def is_live(lease: dict[str, Any]) -> bool:
    """Whether the runner holding this lease may still be running."""
    if lease.get("released"):
        return False
    if lease.get("host") == HOST:
        return procs.alive(int(lease.get("pid", 0)), lease.get("pid_start"))
    return time.time() - float(lease.get("heartbeat", 0)) < STALE_SECONDS


def current(run: RunStore) -> dict[str, Any] | None:
    """The run's current lease record, if any."""
    numbers = _numbers(run.run_dir)
    if not numbers:
        return None
    with contextlib.suppress(OSError, ValueError):
        return read_json(run.run_dir / f"lease-{numbers[-1]}.json")
    return None


class Lease:
    """The lease of one run, held by this process between `acquire()` and `release()`."""

    def __init__(self, run: RunStore):
        self.run = run
        self.number = 0
        self.holder = holder_id()
        self.previous: dict[str, Any] | None = None  # the lease taken over, if its holder died
        self._beat = 0.0

    def _record(self, **extra: Any) -> dict[str, Any]:
        pid = os.getpid()
        return {
            "holder": self.holder,
            "host": HOST,
            "pid": pid,
            "pid_start": procs.start_time(pid),
            "acquired": self._acquired,
            "heartbeat": round(time.time(), 3),
            **extra,
        }

    def acquire(self) -> None:
        """Take the lease or raise LeaseHeld naming the live holder."""
        numbers = _numbers(self.run.run_dir)
        if numbers:
            path = self.run.run_dir / f"lease-{numbers[-1]}.json"
            try:
                lease = read_json(path)
            except (OSError, ValueError):
                lease = {"host": "?", "pid": 0, "heartbeat": path.stat().st_mtime if path.exists() else 0}
            if is_live(lease):
                age = time.time() - float(lease.get("heartbeat", 0))
                raise LeaseHeld(
                    f"run '{self.run.run_id}' is being run by process {lease.get('pid')} on {lease.get('host')} "
                    f"(heartbeat {age:.0f}s ago); wait for it to end (or stop it), then resume"
                )
            self.previous = lease
        self.number = (numbers[-1] if numbers else 0) + 1
        self._acquired = round(time.time(), 3)
        if not write_once(self.run.run_dir / f"lease-{self.number}.json", dumps(self._record())):
            raise LeaseHeld(f"another runner took run '{self.run.run_id}' at the same moment")
        self._beat = time.monotonic()
        for old in numbers:
            with contextlib.suppress(OSError):
                os.unlink(self.run.run_dir / f"lease-{old}.json")

    def heartbeat(self, force: bool = False) -> bool:
        """Refresh the heartbeat when due; False if a newer lease exists (this runner lost the run)."""
        moment = time.monotonic()
        if not force and moment - self._beat < HEARTBEAT_SECONDS:
            return True
        self._beat = moment
        if (self.run.run_dir / f"lease-{self.number + 1}.json").exists():
            return False
        write_atomic(self.run.run_dir / f"lease-{self.number}.json", dumps(self._record()), durable=False)
        return True

    def release(self) -> None:
        if self.number and not (self.run.run_dir / f"lease-{self.number + 1}.json").exists():
            with contextlib.suppress(OSError):
                write_atomic(self.run.run_dir / f"lease-{self.number}.json", dumps(self._record(released=True)))
