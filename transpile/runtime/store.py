"""The run store: a directory tree on the shared volume, safe for many writers on many machines.

Layout (all JSON, UTF-8):

    STORE/cache/pipelines/<key>.json            compiled pipeline, keyed by file content (write-once)
    STORE/runs/<run>/run.json                   run record: pipeline, hash, parameters (write-once)
    STORE/runs/<run>/status.json                the local runner's status: running, then how it ended
    STORE/runs/<run>/lease-<n>.json             the local runner's lock on the run (see lease.py)
    STORE/runs/<run>/catalog/...                files put by steps (catalog.put)
    STORE/runs/<run>/catalog.owners/...         which node instance put each catalog file
    STORE/runs/<run>/nodes/<key>/attempt.<n>/record.json   one attempt: status, times, values, logs
    STORE/runs/<run>/nodes/<key>/attempt.<n>/stdout.log, stderr.log, returns/
    STORE/runs/<run>/nodes/<key>/result.json    the node's successful outcome (write-once)
    STORE/runs/<run>/nodes/<key>/items.d/<i>.json  map items, written by the map's fan-out node

`<key>` is the node id with the map index of each enclosing map: `clean@2/load`. Node ids are made of
step keys (`[a-z0-9-]`), so the store's own names (`attempt.1`, `items.d`, `result.json`, holding a `.`)
and the map indices (`@2`) can never be taken for a step, branch or case, whatever its name.

No file is written by two processes: an attempt's directory is claimed with an exclusive mkdir by the
one process that runs it, and write-once files are published with link(2), which fails if the name
exists. Every write goes to a temporary file first (`.<name>.<host>.<pid>.<random>.tmp`, so a resume can
prove it orphaned) and is renamed or linked into place, so a crash leaves the previous state.

Files are created with mode 0666 and directories 0777, both minus the process umask (0644/0755 with the
usual 022). Pods of one run that write as different users need a shared group and umask 002 (or 000);
set it in the image or with `TRANSPILE_UMASK=002`, which the entrypoint and `transpile run` apply.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ATTEMPT = re.compile(r"^attempt\.(\d+)$")
ITEMS = "items.d"
RESULT = "result.json"
HOST = os.uname().nodename or "localhost"  # what socket.gethostname() says, without importing socket
_TEMP = re.compile(r"^\.(?P<name>.*)\.(?P<host>[^.]*)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def apply_umask(text: str | None) -> None:
    """Set the process umask from an octal text (`TRANSPILE_UMASK`); None leaves it."""
    if not text:
        return
    try:
        mask = int(text, 8)
    except ValueError:
        raise ValueError(f"TRANSPILE_UMASK must be octal like 002 or 022, got {text!r}") from None
    os.umask(mask & 0o777)


def temp_prefix(name: str) -> str:
    """Prefix of a temporary file for `name`, naming this host and process (see `orphaned_temp`)."""
    return f".{name[:120]}.{HOST.replace('.', '-')}.{os.getpid()}."


def orphaned_temp(name: str, alive: Callable[[int], bool]) -> bool:
    """Whether a file name is a temporary file of a process of this host that is no longer alive."""
    match = _TEMP.match(name)
    return bool(match and match["host"] == HOST.replace(".", "-") and not alive(int(match["pid"])))


def make_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new temporary file beside `name` in `directory` (created if missing), mode 0666 minus the umask."""
    prefix = f"{directory}/{temp_prefix(name)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = f"{prefix}{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            directory.mkdir(parents=True, exist_ok=True)
            return os.open(tmp, flags, 0o666), tmp


def dumps(value: Any) -> str:
    """Canonical JSON for the store (UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _temp_file(path: Path, text: str, durable: bool = True) -> str:
    fd, tmp = make_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Replace `path` with `text` atomically (temp file + rename); `durable` also waits for the disk."""
    tmp = _temp_file(path, text, durable)
    os.replace(tmp, path)


def write_once(path: Path, text: str, durable: bool = True) -> bool:
    """Publish `path` only if it does not exist yet; True if this call created it."""
    tmp = _temp_file(path, text, durable)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def node_key(node: str, map_depths: list[int], indices: tuple[int, ...]) -> str:
    """Store key of a node instance: the map index follows each enclosing map's segment.

    `map_depths` lists, for each enclosing map, how many segments of `node` lead to it.
    """
    segments = node.split("/")
    for depth, index in zip(map_depths, indices, strict=True):
        segments[depth - 1] = f"{segments[depth - 1]}@{index}"
    return "/".join(segments)


def parse_indices(text: str) -> tuple[int, ...]:
    """`"2.0"` -> (2, 0); empty -> (); leading dots (from Argo's nested substitution) are ignored."""
    parts = [p for p in text.strip().split(".") if p != ""]
    return tuple(int(p) for p in parts)


@dataclass(frozen=True)
class RunStore:
    """One run's directory in the store. `durable` makes records and results wait for the disk (fsync), as
    `execute-node` does on a shared volume; `transpile run` does not: a rename is atomic against a crash of
    the process, and only a crash of the machine could lose the last records (the run then resumes)."""

    root: Path
    run_id: str
    durable: bool = True

    @property
    def run_dir(self) -> Path:
        return self.root / "runs" / self.run_id

    @property
    def catalog(self) -> Path:
        return self.run_dir / "catalog"

    def node_dir(self, key: str) -> Path:
        return self.run_dir / "nodes" / key

    # -- run level ----------------------------------------------------------------------------------
    def create_run(self, record: dict[str, Any]) -> bool:
        """Write run.json unless another process already did; True if this call created it."""
        return write_once(self.run_dir / "run.json", dumps(record))

    def run_record(self) -> dict[str, Any] | None:
        path = self.run_dir / "run.json"
        return read_json(path) if path.is_file() else None

    def write_status(self, status: dict[str, Any]) -> None:
        write_atomic(self.run_dir / "status.json", dumps(status))

    def status(self) -> dict[str, Any] | None:
        path = self.run_dir / "status.json"
        return read_json(path) if path.is_file() else None

    # -- node level ---------------------------------------------------------------------------------
    def claim_attempt(self, key: str) -> tuple[int, Path]:
        """Create the next attempt directory of a node exclusively; (attempt number, directory)."""
        base = self.node_dir(key)
        number = max(self.attempt_numbers(key), default=0) + 1
        while True:
            path = base / f"attempt.{number}"
            try:
                path.mkdir()
                return number, path
            except FileExistsError:
                number += 1
            except FileNotFoundError:
                base.mkdir(parents=True, exist_ok=True)

    def attempt_numbers(self, key: str) -> list[int]:
        base = self.node_dir(key)
        if not base.is_dir():
            return []
        return sorted(int(m.group(1)) for name in os.listdir(base) if (m := _ATTEMPT.match(name)))

    def attempt_dir(self, key: str, number: int) -> Path:
        return self.node_dir(key) / f"attempt.{number}"

    def write_attempt(self, attempt_dir: Path, record: dict[str, Any]) -> None:
        """Write an attempt's record; a running one is transient, so it is not synced to disk."""
        durable = self.durable and record.get("status") != "running"
        write_atomic(attempt_dir / "record.json", dumps(record), durable=durable)

    def attempts(self, key: str) -> list[dict[str, Any]]:
        """Every readable attempt record of a node, oldest first."""
        records = []
        for number in self.attempt_numbers(key):
            path = self.attempt_dir(key, number) / "record.json"
            if path.is_file():
                records.append(read_json(path))
        return records

    def publish_result(self, key: str, result: dict[str, Any]) -> bool:
        return write_once(self.node_dir(key) / RESULT, dumps(result), self.durable)

    def result(self, key: str) -> dict[str, Any] | None:
        path = self.node_dir(key) / RESULT
        try:
            return read_json(path)
        except FileNotFoundError:
            return None

    def write_item(self, key: str, index: int, value: Any) -> None:
        write_atomic(self.node_dir(key) / ITEMS / f"{index}.json", json.dumps(value, ensure_ascii=False))

    def item(self, key: str, index: int) -> Any:
        return read_json(self.node_dir(key) / ITEMS / f"{index}.json")

    def node_keys(self) -> Iterator[str]:
        """Every node key with a directory in this run (attempted or finished)."""
        base = self.run_dir / "nodes"
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            if RESULT in filenames or any(_ATTEMPT.match(d) for d in dirnames):
                yield Path(dirpath).relative_to(base).as_posix()
            dirnames[:] = sorted(d for d in dirnames if not _ATTEMPT.match(d) and d != ITEMS)


def list_runs(root: Path) -> list[str]:
    """Run ids in the store, oldest first (by run.json time)."""
    base = root / "runs"
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if (p / "run.json").is_file()]
    return [p.name for p in sorted(runs, key=lambda p: ((p / "run.json").stat().st_mtime, p.name))]


def now() -> float:
    """Seconds since the epoch, to the microsecond: `runs show` orders siblings by when they started, and
    the runner starts two nodes within the same millisecond."""
    return round(time.time(), 6)


_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:+=-]{0,199}$")


def run_id_problem(run_id: str) -> str | None:
    """Why `run_id` cannot name a run directory (None if it can): no `/`, no `..`, no leading dot."""
    if not _RUN_ID.match(run_id) or ".." in run_id:
        return (
            f"run id {run_id!r} is not allowed: use letters, digits and . _ : + = - (at most 200, "
            "not starting with '.' or '-', no '..' and no '/')"
        )
    return None
