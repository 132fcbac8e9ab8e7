"""One runner per run: a lease in the store that survives the crash of its holder, without trusting clocks.

The lease is `runs/<run>/lease-<n>.json`, the highest `n` being current, each published write-once (so
of two runners taking it at once exactly one wins). It names its holder (host, pid, process start time)
and carries a heartbeat counter (`beat`) the holder bumps every `HEARTBEAT_SECONDS`. A lease is free when
it was released, or when its holder is a dead process of this host. A holder on another host is judged by
watching its counter on the taker's own monotonic clock: if the counter does not move for `STALE_SECONDS`,
the holder is gone and the lease is taken over; if it moves, the run is refused. No host's wall clock is
compared with another's, so hosts whose clocks differ never take over a live run. A holder that finds a
newer lease has lost the run and stops without writing the run's status.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from transpile.runtime import procs
from transpile.runtime.records import CorruptRecord, LeaseRecord
from transpile.runtime.store import HOST, RunStore, write_atomic, write_once

STALE_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0
_LEASE = re.compile(r"^lease-(\d+)\.json$")


class LeaseHeld(Exception):
    """Another live runner drives the run (or its lease cannot be read); the message says what to do."""


def _numbers(run_dir: Path) -> list[int]:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _LEASE.match(name)))


def holder_id() -> str:
    return f"{HOST}:{os.getpid()}:{procs.start_time(os.getpid()) or 0}"


def is_live(lease: LeaseRecord) -> bool:
    """Whether the lease's holder may still be running, without waiting: not when released; on this host,
    when its process exists; on another host, yes (only watching its counter can tell, see `Lease.acquire`)."""
    if lease.released:
        return False
    if lease.host == HOST:
        return procs.alive(lease.pid, lease.pid_start)
    return True


def current(run: RunStore) -> LeaseRecord | None:
    """The run's current lease, if any; CorruptRecord when it cannot be read."""
    numbers = _numbers(run.run_dir)
    return LeaseRecord.read(run.run_dir / f"lease-{numbers[-1]}.json") if numbers else None


def unreadable(run: RunStore, exc: CorruptRecord) -> LeaseHeld:
    return LeaseHeld(
        f"cannot read the lease of run '{run.run_id}': {exc}. A runner rewrites its lease every "
        f"{HEARTBEAT_SECONDS:g} s, so if this stays, no runner holds it: make sure no `transpile run` drives "
        f"this run, delete {exc.path} and resume again"
    )


class Lease:
    """The lease of one run, held by this process between `acquire()` and `release()`. `stale`: how long a
    holder on another host must stay silent to be taken over; `notify` hears what the taker waits for."""

    def __init__(self, run: RunStore, stale: float = STALE_SECONDS, notify: Callable[[str], None] | None = None):
        self.run = run
        self.stale = stale
        self.notify = notify or (lambda message: None)
        self.number = 0
        self.holder = holder_id()
        self.previous: LeaseRecord | None = None  # the lease taken over, if its holder died
        self.beat = 0
        self._acquired = 0.0
        self._beat_at = 0.0

    def _path(self, number: int) -> Path:
        return self.run.run_dir / f"lease-{number}.json"

    def _record(self, released: bool = False) -> LeaseRecord:
        pid = os.getpid()
        return LeaseRecord(
            host=HOST,
            pid=pid,
            holder=self.holder,
            pid_start=procs.start_time(pid),
            acquired=self._acquired,
            heartbeat=round(time.time(), 3),
            beat=self.beat,
            released=released,
        )

    def _read(self, number: int) -> LeaseRecord | None:
        try:
            return LeaseRecord.read(self._path(number))
        except CorruptRecord as exc:
            raise unreadable(self.run, exc) from None

    def acquire(self) -> None:
        """Take the lease or raise LeaseHeld saying who holds it (and what to do)."""
        numbers = _numbers(self.run.run_dir)
        if numbers:
            lease = self._read(numbers[-1])
            if lease is not None and not lease.released:
                if lease.host == HOST:
                    if procs.alive(lease.pid, lease.pid_start):
                        raise self._held(lease, "")
                else:
                    self._watch(numbers[-1], lease)
            self.previous = lease
        self.number = (numbers[-1] if numbers else 0) + 1
        self._acquired = round(time.time(), 3)
        if not write_once(self._path(self.number), self._record().dumps()):
            raise LeaseHeld(f"another runner took run '{self.run.run_id}' at the same moment")
        self._beat_at = time.monotonic()
        for old in numbers:
            with contextlib.suppress(OSError):
                os.unlink(self._path(old))

    def _held(self, lease: LeaseRecord, how: str) -> LeaseHeld:
        return LeaseHeld(
            f"run '{self.run.run_id}' is being run by process {lease.pid} on {lease.host}{how}; wait for it "
            "to end (or stop it), then resume"
        )

    def _watch(self, number: int, lease: LeaseRecord) -> None:
        """A holder on another host: return once its counter stayed still for `stale` seconds of this host's
        monotonic clock (it is gone), raise LeaseHeld as soon as it moves."""
        self.notify(
            f"run '{self.run.run_id}' is held by process {lease.pid} on {lease.host}: watching its heartbeat "
            f"for up to {self.stale:g} s to see whether it is still running"
        )
        start = time.monotonic()
        while (left := self.stale - (time.monotonic() - start)) > 0:
            time.sleep(min(1.0, left))
            if _numbers(self.run.run_dir)[-1:] != [number]:
                raise LeaseHeld(f"another runner took run '{self.run.run_id}' meanwhile")
            again = self._read(number)
            if again is None or again.released:
                return
            if again.beat != lease.beat or again.holder != lease.holder:
                raise self._held(again, " (its heartbeat moved while we watched)")

    def holds(self) -> bool:
        """Whether no newer lease exists (another runner took over)."""
        return not self._path(self.number + 1).exists()

    def heartbeat(self, force: bool = False) -> bool:
        """Bump the heartbeat counter when due; False if a newer lease exists (this runner lost the run).
        StoreFault when the store cannot be written."""
        moment = time.monotonic()
        if not force and moment - self._beat_at < HEARTBEAT_SECONDS:
            return True
        self._beat_at = moment
        if not self.holds():
            return False
        self.beat += 1
        write_atomic(self._path(self.number), self._record().dumps(), durable=False)
        return True

    def release(self) -> None:
        if self.number and self.holds():
            with contextlib.suppress(OSError):
                write_atomic(self._path(self.number), self._record(released=True).dumps())
