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
    STORE/runs/<run>/nodes/<key>/split.json     how an engine batched the map's items (execute-node only)

`<key>` is the node id with the map index of each enclosing map: `clean@2/load`. Node ids are made of
step keys (`[a-z0-9-]`), so the store's own names (`attempt.1`, `items.d`, `result.json`, holding a `.`)
and the map indices (`@2`) can never be taken for a step, branch or case, whatever its name.

No file is written by two processes: an attempt's directory is claimed with an exclusive mkdir by the
one process that runs it, and write-once files are published with link(2), which fails if the name
exists. Every write goes to a temporary file first (`.<name>.<host>.<pid>.<random>.tmp`, so a resume can
prove it orphaned) and is renamed or linked into place, so a crash leaves the previous state. A write that
fails (disk full, read-only, I/O error) raises `StoreFault`, an outcome its caller records; when the disk
is full, an existing file whose blocks can hold the new text is overwritten in place instead.

Files are created with mode 0666 and directories 0777, both minus the process umask (0644/0755 with the
usual 022). Pods of one run that write as different users need a shared group and umask 002 (or 000);
set it in the image or with `TRANSPILE_UMASK=002`, which the entrypoint and `transpile run` apply.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transpile.runtime.records import AttemptRecord, MapSplit, NodeResult, RunRecord, RunStatus, parse

_ATTEMPT = re.compile(r"^attempt\.(\d+)$")
ITEMS = "items.d"
RESULT = "result.json"
RECORD = "record.json"
SPLIT = "split.json"
HOST = os.uname().nodename or "localhost"  # what socket.gethostname() says, without importing socket
_TEMP = re.compile(r"^\.(?P<name>.*)\.(?P<host>[^.]*)\.(?P<pid>\d+)\.[^.]+\.tmp$")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StoreFault(OSError):
    """The run store could not be written (disk full, read-only, an I/O error): an outcome to record, never
    a crash. It is an OSError, so code that already handles those keeps working."""

    @classmethod
    def of(cls, exc: OSError, path: Path | str | None = None) -> StoreFault:
        if isinstance(exc, StoreFault):
            return exc
        return cls(exc.errno, exc.strerror or str(exc), str(path or exc.filename or "?"))

    @property
    def reason(self) -> str:
        return f"the run store could not be written: {self.strerror} ({self.filename})"


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


def temp_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) of the process that made a temporary file, from its name; None for another file."""
    match = _TEMP.match(name)
    return (match["host"], int(match["pid"])) if match else None


def orphaned_temp(name: str, alive: Callable[[int], bool]) -> bool:
    """Whether a file name is a temporary file of a process of this host that is no longer alive."""
    owner = temp_owner(name)
    return bool(owner and owner[0] == HOST.replace(".", "-") and not alive(owner[1]))


def make_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new temporary file beside `name` in `directory` (created if missing), mode 0666 minus the umask."""
    prefix = f"{directory}/{temp_prefix(name)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        while True:
            tmp = f"{prefix}{os.urandom(6).hex()}.tmp"
            try:
                return os.open(tmp, flags, 0o666), tmp
            except FileExistsError:
                continue
            except FileNotFoundError:
                directory.mkdir(parents=True, exist_ok=True)
                return os.open(tmp, flags, 0o666), tmp
    except OSError as exc:
        raise StoreFault.of(exc, directory) from None


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
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise StoreFault.of(exc, path) from None
        raise
    return tmp


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Replace `path` with `text` atomically (temp file + rename); `durable` also waits for the disk. When the
    disk is full, an existing file is overwritten in place instead (its blocks are already allocated, so a
    record the same size or a little larger usually still fits); StoreFault when neither works."""
    try:
        tmp = _temp_file(path, text, durable)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in _NO_SPACE or not _overwrite(path, text.encode("utf-8"), durable):
            raise StoreFault.of(exc, path) from None


def _overwrite(path: Path, data: bytes, durable: bool) -> bool:
    """Write `data` over an existing file in place, when it fits in the blocks the file already has (so the
    write cannot run out of space halfway); False if it does not fit or failed."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_blocks * 512 < len(data):
            return False
        view = memoryview(data)
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        if durable:
            os.fsync(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def write_once(path: Path, text: str, durable: bool = True) -> bool:
    """Publish `path` only if it does not exist yet; True if this call created it."""
    tmp = _temp_file(path, text, durable)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise StoreFault.of(exc, path) from None
    finally:
        os.unlink(tmp)


def read_json(path: Path) -> Any:
    """Any JSON file of the store (FileNotFoundError when missing; CorruptRecord when it is not JSON)."""
    with open(path, "rb") as handle:
        return parse(handle.read(), path)


def node_key(node: str, map_depths: list[int], indices: tuple[int, ...]) -> str:
    """Store key of a node instance: the map index follows each enclosing map's segment.

    `map_depths` lists, for each enclosing map, how many segments of `node` lead to it.
    """
    segments = node.split("/")
    for depth, index in zip(map_depths, indices, strict=True):
        segments[depth - 1] = f"{segments[depth - 1]}@{index}"
    return "/".join(segments)


@dataclass(frozen=True)
class RunStore:
    """One run's directory in the store. `durable` makes records and results wait for the disk (fsync), as
    `execute-node` does on a shared volume; `transpile run` does not: a rename is atomic against a crash of
    the process, and only a crash of the machine could lose the last records (the run then resumes).
    Readers raise CorruptRecord for a file they cannot read; writers raise StoreFault."""

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
    def create_run(self, record: RunRecord) -> bool:
        """Write run.json unless another process already did; True if this call created it."""
        return write_once(self.run_dir / "run.json", record.dumps())

    def run_record(self) -> RunRecord | None:
        return RunRecord.read(self.run_dir / "run.json")

    def write_status(self, status: RunStatus) -> None:
        write_atomic(self.run_dir / "status.json", status.dumps())

    def status(self) -> RunStatus | None:
        return RunStatus.read(self.run_dir / "status.json")

    # -- node level ---------------------------------------------------------------------------------
    def claim_attempt(self, key: str) -> tuple[int, Path]:
        """Create the next attempt directory of a node exclusively; (attempt number, directory)."""
        base = self.node_dir(key)
        number = max(self.attempt_numbers(key), default=0) + 1
        try:
            while True:
                path = base / f"attempt.{number}"
                try:
                    path.mkdir()
                    return number, path
                except FileExistsError:
                    number += 1
                except FileNotFoundError:
                    base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreFault.of(exc, base) from None

    def attempt_numbers(self, key: str) -> list[int]:
        try:
            names = os.listdir(self.node_dir(key))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(int(m.group(1)) for name in names if (m := _ATTEMPT.match(name)))

    def attempt_dir(self, key: str, number: int) -> Path:
        return self.node_dir(key) / f"attempt.{number}"

    def write_attempt(self, attempt_dir: Path, record: AttemptRecord) -> None:
        """Write an attempt's record. A running one is transient, and a succeeded one follows its result,
        already synced to disk: neither waits for the disk (were one lost with the machine, the attempt
        reads as interrupted and its published result is reused). Any other end is synced: the attempts a
        node has spent must survive."""
        durable = self.durable and record.status not in ("running", "succeeded")
        write_atomic(attempt_dir / RECORD, record.dumps(), durable=durable)

    def read_attempt(self, key: str, number: int) -> AttemptRecord | None:
        """One attempt's record; None while it has none (claimed, not written yet)."""
        return AttemptRecord.read(self.attempt_dir(key, number) / RECORD)

    def attempts(self, key: str) -> list[AttemptRecord]:
        """Every attempt record of a node that has one, oldest first; CorruptRecord for an unreadable one."""
        found = (self.read_attempt(key, number) for number in self.attempt_numbers(key))
        return [record for record in found if record is not None]

    def publish_result(self, key: str, result: NodeResult) -> bool:
        return write_once(self.node_dir(key) / RESULT, result.dumps(), self.durable)

    def result(self, key: str) -> NodeResult | None:
        return NodeResult.read(self.node_dir(key) / RESULT)

    def write_items(self, key: str, values: list[Any]) -> None:
        """A map's items, one file each; a durable store syncs them to disk once, after the last (one sync
        instead of one per item: a 100,000-item map would wait minutes for its fsyncs)."""
        directory = self.node_dir(key) / ITEMS
        for index, value in enumerate(values):
            write_atomic(directory / f"{index}.json", json.dumps(value, ensure_ascii=False), durable=False)
        if self.durable and values:
            os.sync()

    def item(self, key: str, index: int) -> Any:
        return read_json(self.node_dir(key) / ITEMS / f"{index}.json")

    def write_split(self, key: str, split: MapSplit) -> None:
        write_atomic(self.node_dir(key) / SPLIT, split.dumps(), self.durable)

    def split(self, key: str) -> MapSplit | None:
        return MapSplit.read(self.node_dir(key) / SPLIT)

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
