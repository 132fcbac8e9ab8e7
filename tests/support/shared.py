"""A service shared by every pytest-xdist worker of one test session (a SLURM cluster, a Prefect server).

The first worker to ask starts it and writes its state (JSON) beside a user count, under a file lock in a
directory the session's workers share; the others read that state; the last to leave stops it. A service
must therefore be reachable from its state alone (ports, paths, pids), not from a Python object.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

State = dict[str, Any]


def session_dir(tmp_path_factory: Any, name: str) -> Path:
    """A directory every worker of this test session sees (the base temp of the session, not of the worker)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / name


@contextmanager
def _locked(base: Path) -> Iterator[Path]:
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield base


@contextmanager
def shared_by_workers(base: Path, start: Callable[[Path], State], stop: Callable[[State], None]) -> Iterator[State]:
    """The service's state, starting it in a fresh directory under `base` for the first user and stopping it
    after the last."""
    with _locked(base):
        users_file, state_file = base / "users", base / "state.json"
        users = int(users_file.read_text()) if users_file.is_file() else 0
        if users == 0:
            generation = len(list(base.glob("run-*")))
            state = start(base / f"run-{generation}")
            state_file.write_text(json.dumps(state))
        else:
            state = json.loads(state_file.read_text())
        users_file.write_text(str(users + 1))
    try:
        yield state
    finally:
        with _locked(base):
            users = int(users_file.read_text()) - 1
            users_file.write_text(str(users))
            if users == 0:
                stop(state)
