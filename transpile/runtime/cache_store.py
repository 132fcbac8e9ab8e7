"""The step cache in the run store, on the shared volume every engine mounts (so every engine shares it):

    STORE/cache/steps/<key[:2]>/<key>/entry.json     CacheEntry: the key's document, returns, origin, files
    STORE/cache/steps/<key[:2]>/<key>/files/<path>   the step's catalog.put files, as it put them
    STORE/cache/latest/<id>.json                     CachePointer: the newest entry of one node instance

An entry is written whole into a temporary directory beside its place (`.<key>.<host>.<pid>.<random>.tmp`)
and renamed into place: a reader sees all of it or nothing, and of two runs racing on one key the first
rename wins and the other discards its copy (neither fails). Replacing an entry (`--refresh`, or one found
corrupt or expired) moves the old one aside first. Before use an entry is verified — its JSON, its key
against its document, every file's size and sha256 — and a corrupt one is reported and never used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from transpile.runtime.cache_key import document_key, sha256_file
from transpile.runtime.records import CacheEntry, CachePointer, CorruptRecord
from transpile.runtime.store import StoreFault, orphaned_temp, temp_prefix, write_atomic, write_once
from transpile.runtime.workspace import CatalogError, copy_file, pattern_problem

ENTRY = "entry.json"
FILES = "files"
_LOST_RACE = (errno.ENOTEMPTY, errno.EEXIST)


def clock() -> float:
    """Now, in seconds since the epoch: the one clock `max_age` and `cache prune` read (tests replace it)."""
    return time.time()


def steps_dir(root: Path) -> Path:
    return root / "cache" / "steps"


def entry_dir(root: Path, key: str) -> Path:
    return steps_dir(root) / key[:2] / key


def pointer_path(root: Path, pipeline: str, node_key: str) -> Path:
    name = hashlib.sha256(f"{pipeline}\0{node_key}".encode()).hexdigest()[:32]
    return root / "cache" / "latest" / f"{name}.json"


@dataclass
class Found:
    """What the store holds for a key: `hit` (verified, young enough), `none`, `corrupt` or `expired` (with
    why in `problem`)."""

    state: str
    entry: CacheEntry | None = None
    problem: str | None = None
    directory: Path | None = None


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def find(root: Path, key: str, max_age: int | None, now: float | None = None) -> Found:
    """The entry of `key`, verified (see the module docstring)."""
    directory = entry_dir(root, key)
    try:
        entry = CacheEntry.read(directory / ENTRY)
    except CorruptRecord as exc:
        return Found("corrupt", problem=f"cannot read {exc}", directory=directory)
    if entry is None:
        return Found("none", directory=directory)
    problem = verify(directory, entry)
    if problem is not None:
        return Found("corrupt", entry, f"{directory}: {problem}", directory)
    age = (clock() if now is None else now) - entry.created
    if max_age is not None and age > max_age:
        return Found("expired", entry, f"the entry of run {entry.run_id} is {_age(age)} old (max_age {max_age}s)")
    return Found("hit", entry, directory=directory)


def verify(directory: Path, entry: CacheEntry) -> str | None:
    """Why an entry cannot be used (None when it can): its key does not match, or a file is not as recorded."""
    if entry.key != directory.name or document_key(entry.document) != entry.key:
        return "its key does not match its contents"
    for name, meta in entry.files.items():
        if pattern_problem(name) or not isinstance(meta, dict):
            return f"file {name!r} is not recorded as a file of the entry"
        try:
            digest, size = sha256_file(directory / FILES / name)
        except OSError as exc:
            return f"file {name!r} cannot be read ({exc.strerror or exc})"
        if size != meta.get("size") or digest != meta.get("sha256"):
            return f"file {name!r} is not the file recorded (size or sha256 differs)"
    return None


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` at `target` (the files are never written in place), else copy it; atomic either way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f"{temp_prefix(target.name)}{os.urandom(6).hex()}.tmp"
    try:
        os.link(source, temporary)
    except OSError:
        copy_file(source, target)
        return
    try:
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def restore(found: Found, catalog: Path, owner: str, durable: bool = True) -> list[str]:
    """Put a hit's files into a run's catalog, each path claimed for node instance `owner` as a step's
    catalog.put claims it (CatalogError when another instance put it); the paths restored."""
    assert found.entry is not None and found.directory is not None
    owners = catalog.parent / "catalog.owners"
    for name in found.entry.files:
        if not write_once(owners / name, owner, durable):
            with contextlib.suppress(OSError):
                holder = (owners / name).read_text(encoding="utf-8")
                if holder != owner:
                    raise CatalogError(f"catalog.put: '{name}' was already put by node '{holder}'")
    for name in found.entry.files:
        link_or_copy(found.directory / FILES / name, catalog / name)
    return list(found.entry.files)


def publish(root: Path, entry: CacheEntry, catalog: Path, put: list[str], replace: bool, durable: bool) -> str:
    """Write `entry` with the catalog files `put` (recording each file's sha256 and size); `written`, or
    `kept` when an entry of that key exists and is not to be replaced (or another writer won the race).
    StoreFault when the store cannot be written."""
    final = entry_dir(root, entry.key)
    if not replace and (final / ENTRY).exists():
        return "kept"
    parent = final.parent
    temporary = parent / f"{temp_prefix(entry.key)}{os.urandom(6).hex()}.tmp"
    aside: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(temporary)
        for name in put:
            link_or_copy(catalog / name, temporary / FILES / name)
            digest, size = sha256_file(temporary / FILES / name)
            entry.files[name] = {"sha256": digest, "size": size}
        write_atomic(temporary / ENTRY, entry.dumps(), durable=durable)
        if replace and final.exists():
            aside = parent / f"{temp_prefix(entry.key + '.old')}{os.urandom(6).hex()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.rename(final, aside)
        try:
            os.rename(temporary, final)
        except OSError as exc:
            if exc.errno not in _LOST_RACE:
                raise
            return "kept"
        write_pointer(root, entry)
        return "written"
    except OSError as exc:
        raise StoreFault.of(exc, final) from None
    finally:
        for leftover in (temporary, aside):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def write_pointer(root: Path, entry: CacheEntry) -> None:
    """Name `entry` as the newest of its node instance (a lost pointer only makes explanations vaguer)."""
    if entry.pipeline is None or entry.node_key is None:
        return
    pointer = CachePointer(entry.key, entry.pipeline, entry.node_key, entry.created)
    with contextlib.suppress(OSError):
        write_atomic(pointer_path(root, entry.pipeline, entry.node_key), pointer.dumps(), durable=False)


def newest(root: Path, pipeline: str, node_key: str) -> tuple[str | None, Found | None]:
    """(the key of the newest entry written for a node instance, that entry as found) when there is one."""
    try:
        pointer = CachePointer.read(pointer_path(root, pipeline, node_key))
    except CorruptRecord:
        return None, None
    if pointer is None:
        return None, None
    return pointer.key, find(root, pointer.key, None)


# -- the whole cache: `transpile cache list` and `transpile cache prune` ---------------------------------
@dataclass
class Listed:
    """One entry directory: its key, its entry (None when unreadable, then `problem` says why), its size."""

    key: str
    directory: Path
    entry: CacheEntry | None
    problem: str | None
    size: int
    modified: float


def _size(directory: Path) -> int:
    total = 0
    for base, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def entries(root: Path) -> Iterator[Listed]:
    """Every entry directory of the store's cache (temporary ones left out), in key order."""
    base = steps_dir(root)
    if not base.is_dir():
        return
    for prefix in sorted(p for p in base.iterdir() if p.is_dir()):
        for directory in sorted(p for p in prefix.iterdir() if not p.name.startswith(".") and p.is_dir()):
            try:
                entry, problem = CacheEntry.read(directory / ENTRY), None
                if entry is None:
                    problem = f"{directory / ENTRY}: missing"
            except CorruptRecord as exc:
                entry, problem = None, str(exc)
            modified = directory.stat().st_mtime
            yield Listed(directory.name, directory, entry, problem, _size(directory), modified)


@dataclass
class Pruned:
    entries: int = 0
    size: int = 0
    leftovers: int = 0  # temporary directories of writers of this host that died, and entries set aside


def _remove(directory: Path) -> None:
    """Take a directory out of the cache at once (renamed aside), then delete it."""
    aside = directory.parent / f"{temp_prefix(directory.name + '.gone')}{os.urandom(6).hex()}.tmp"
    try:
        os.rename(directory, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def prune(root: Path, older_than: float, now: float | None = None) -> Pruned:
    """Remove the entries created more than `older_than` seconds ago (unreadable ones by their directory's
    time), the temporary directories of dead writers of this host, and pointers to removed entries."""
    from transpile.runtime.procs import alive

    limit = (clock() if now is None else now) - older_than
    done = Pruned()
    for listed in list(entries(root)):
        created = listed.entry.created if listed.entry is not None else listed.modified
        if created < limit:
            _remove(listed.directory)
            done.entries += 1
            done.size += listed.size
    base = steps_dir(root)
    for temporary in base.glob("*/.*.tmp") if base.is_dir() else ():
        if orphaned_temp(temporary.name, alive):
            shutil.rmtree(temporary, ignore_errors=True)
            done.leftovers += 1
    latest = root / "cache" / "latest"
    for path in latest.glob("*.json") if latest.is_dir() else ():
        with contextlib.suppress(CorruptRecord, OSError):
            pointer = CachePointer.read(path)
            if pointer is not None and not (entry_dir(root, pointer.key) / ENTRY).exists():
                path.unlink()
    return done
