"""After a crash: close the attempts a dead process left `running`, and remove its orphaned temporary files.

Only what can be proven dead is touched. On `transpile run --resume` (the caller holds the run's lease):
attempts started by another runner of this run, or by a process of this host that no longer exists.
On `execute-node` (an engine retrying a pod): the earlier attempts of the same node instance that a process
of this host left and that process is gone, and those of other hosts — an engine runs one attempt of a
task at a time, so a new pod for the instance means the old one is gone.
"""

from __future__ import annotations

import contextlib
import os

from transpile.runtime import procs
from transpile.runtime.records import AttemptRecord, CorruptRecord
from transpile.runtime.store import HOST, RunStore, now, orphaned_temp, temp_owner
from transpile.runtime.workspace import temp_base, workdir_prefix

INTERRUPTED = "interrupted: the runner stopped before this attempt ended"
REPLACED = "interrupted: its process is gone (the engine started this node instance again)"


def _dead_here(record: AttemptRecord) -> bool:
    return record.host == HOST and (not record.pid or not procs.alive(record.pid))


def close_attempt(run: RunStore, record: AttemptRecord, error: str = INTERRUPTED) -> str:
    """Close one dead attempt: kill what is left of its process group, remove its working directory, and
    record how it ended (`succeeded` if it had published the node's result, else `interrupted`)."""
    if record.host == HOST:
        if record.pgid:
            procs.kill_orphaned_group(record.pgid, record.pgid_start)
        if record.workdir:
            import shutil

            shutil.rmtree(record.workdir, ignore_errors=True)
    try:
        result = run.result(record.key)
    except CorruptRecord:
        result = None
    if result is not None and result.attempt == record.attempt:
        record.close("succeeded", now())
        record.note = "the runner stopped after publishing the result; closed on resume"
        record.returns = record.returns if record.returns is not None else result.returns
    else:
        record.close("interrupted", now(), error)
    run.write_attempt(run.attempt_dir(record.key, record.attempt), record)
    return record.status


def _claimed_only(run: RunStore, key: str, number: int) -> AttemptRecord:
    """The record of an attempt whose runner died between claiming its directory and writing its record."""
    started = run.attempt_dir(key, number).stat().st_mtime
    logs = {"stdout": f"attempt.{number}/stdout.log", "stderr": f"attempt.{number}/stderr.log"}
    return AttemptRecord(key, number, "running", started=round(started, 3), logs=logs, runner="unknown")


def _closed_meanwhile(run: RunStore, key: str, number: int) -> bool:
    """Whether an attempt read `running` has a closed record now: its process may close it between our read
    and our finding it gone (read again once it is proven gone, nothing can write it any more)."""
    try:
        record = run.read_attempt(key, number)
    except CorruptRecord:
        return False
    return record is not None and record.status != "running"


def recover(run: RunStore, me: str) -> int:
    """Close every dead attempt of the run and clean orphaned temporary files; how many attempts closed."""
    closed = 0
    for key in list(run.node_keys()):
        for number in run.attempt_numbers(key):
            try:
                record = run.read_attempt(key, number) or _claimed_only(run, key, number)
            except (OSError, CorruptRecord):
                continue
            if record.status != "running":
                continue
            if (record.runner and record.runner != me) or (not record.runner and _dead_here(record)):
                close_attempt(run, record)
                closed += 1
    clean_temp_files(run)
    clean_workdirs(run.run_id)
    return closed


def close_previous(run: RunStore, key: str) -> int:
    """`execute-node`: close the earlier attempts of this instance left `running` by processes that are gone
    (of this host: proven dead; of another host: replaced by this one), and remove their temporary files.
    How many were closed. StoreFault when the store cannot be written."""
    closed = 0
    for number in run.attempt_numbers(key):
        try:
            record = run.read_attempt(key, number)
        except CorruptRecord:
            continue
        if record is None or record.status != "running":
            continue
        if record.host == HOST and not _dead_here(record):
            continue  # a live process of this host runs it
        if _closed_meanwhile(run, key, number):
            continue
        close_attempt(run, record, REPLACED)
        owners = {(str(record.host).replace(".", "-"), pid) for pid in (record.pid, record.pgid) if pid}
        remove_temp_files(run, [run.node_dir(key), run.catalog, run.run_dir / "catalog.owners"], owners)
        closed += 1
    return closed


def remove_temp_files(run: RunStore, directories: list, owners: set[tuple[str, int]]) -> int:
    """Remove the temporary files made by the given (host, pid) writers below `directories`."""
    removed = 0
    for directory in directories:
        for dirpath, _dirs, files in os.walk(directory):
            for name in files:
                if name.endswith(".tmp") and temp_owner(name) in owners:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(dirpath, name))
                        removed += 1
    return removed


def clean_workdirs(run_id: str) -> int:
    """Remove the run's working directories in $TMPDIR whose creating process is dead and that no live
    process works in (spares of a killed runner, attempts whose supervisor was killed)."""
    prefix = workdir_prefix(run_id)
    base = temp_base()
    try:
        names = [n for n in os.listdir(base) if n.startswith(prefix)]
    except OSError:
        return 0
    candidates = []
    for name in names:
        pid = name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not procs.alive(int(pid)):
            candidates.append(base / name)
    if not candidates:
        return 0
    in_use = procs.working_directories()
    removed = 0
    import shutil

    for path in candidates:
        if not any(cwd == str(path) or cwd.startswith(f"{path}/") for cwd in in_use):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def clean_temp_files(run: RunStore) -> int:
    """Remove the temporary files of dead writers of this host anywhere in the run's directory."""
    removed = 0
    for dirpath, _dirs, files in os.walk(run.run_dir):
        for name in files:
            if name.startswith(".") and name.endswith(".tmp") and orphaned_temp(name, procs.alive):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    return removed
