"""The run store: a directory tree on the shared volume, safe for many writers on many machines.

Layout (all JSON, UTF-8):

    STORE/cache/pipelines/<key>.json            compiled pipeline, keyed by file content (write-once)
    STORE/runs/<run>/run.json                   run record: pipeline, hash, parameters (write-once)
    STORE/runs/<run>/status.json                final status, written by the local runner only
    STORE/runs/<run>/catalog/...                files put by steps (catalog.put)
    STORE/runs/<run>/nodes/<key>/attempt-<n>/record.json   one attempt: status, times, values, logs
    STORE/runs/<run>/nodes/<key>/attempt-<n>/stdout.log, stderr.log, returns/
    STORE/runs/<run>/nodes/<key>/result.json    the node's successful outcome (write-once)
    STORE/runs/<run>/nodes/<key>/items/<i>.json map items, written by the map's fan-out node

`<key>` is the node id with the map index of each enclosing map: `clean@2/load`. No file is written by
two processes: an attempt's directory is claimed with an exclusive mkdir by the one process that runs
it, and write-once files are published with link(2), which fails if the name exists. Every write goes to
a temporary file first and is renamed or linked into place, so a crash leaves the previous state.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ATTEMPT = re.compile(r"^attempt-(\d+)$")


def dumps(value: Any) -> str:
    """Canonical JSON for the store (UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=1, sort_keys=False)


def _temp_file(path: Path, text: str, durable: bool = True) -> str:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def write_once(path: Path, text: str) -> bool:
    """Publish `path` only if it does not exist yet; True if this call created it."""
    tmp = _temp_file(path, text)
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
    """One run's directory in the store."""

    root: Path
    run_id: str

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
            path = base / f"attempt-{number}"
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

    def write_attempt(self, attempt_dir: Path, record: dict[str, Any]) -> None:
        """Write an attempt's record; a running one is transient, so it is not synced to disk."""
        write_atomic(attempt_dir / "record.json", dumps(record), durable=record.get("status") != "running")

    def attempts(self, key: str) -> list[dict[str, Any]]:
        """Every readable attempt record of a node, oldest first."""
        records = []
        for number in self.attempt_numbers(key):
            path = self.node_dir(key) / f"attempt-{number}" / "record.json"
            if path.is_file():
                records.append(read_json(path))
        return records

    def publish_result(self, key: str, result: dict[str, Any]) -> bool:
        return write_once(self.node_dir(key) / "result.json", dumps(result))

    def result(self, key: str) -> dict[str, Any] | None:
        path = self.node_dir(key) / "result.json"
        try:
            return read_json(path)
        except FileNotFoundError:
            return None

    def write_item(self, key: str, index: int, value: Any) -> None:
        write_atomic(self.node_dir(key) / "items" / f"{index}.json", json.dumps(value, ensure_ascii=False))

    def item(self, key: str, index: int) -> Any:
        return read_json(self.node_dir(key) / "items" / f"{index}.json")

    def node_keys(self) -> Iterator[str]:
        """Every node key with a directory in this run (attempted or finished)."""
        base = self.run_dir / "nodes"
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            if "result.json" in filenames or any(_ATTEMPT.match(d) for d in dirnames):
                yield Path(dirpath).relative_to(base).as_posix()
            dirnames[:] = sorted(d for d in dirnames if not _ATTEMPT.match(d) and d != "items")


def list_runs(root: Path) -> list[str]:
    """Run ids in the store, oldest first (by run.json time)."""
    base = root / "runs"
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if (p / "run.json").is_file()]
    return [p.name for p in sorted(runs, key=lambda p: ((p / "run.json").stat().st_mtime, p.name))]


def now() -> float:
    return round(time.time(), 3)
