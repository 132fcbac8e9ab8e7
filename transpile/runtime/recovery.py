"""After a crash: close the attempts a dead runner left `running`, and remove its orphaned temporary files.

Only what can be proven dead is touched: attempts started by another runner of this run (the caller holds
the run's lease, so that runner is gone) or by a process of this host that no longer exists. Attempts of
`execute-node` processes on other hosts (a cluster's pods) are left as they are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any

from transpile.runtime import procs
from transpile.runtime.store import HOST, RunStore, now, orphaned_temp, read_json
from transpile.runtime.workspace import temp_base, workdir_prefix

INTERRUPTED = "interrupted: the runner stopped before this attempt ended"


def _dead(record: dict[str, Any], me: str) -> bool:
    runner = record.get("runner")
    if runner:
        return runner != me
    if record.get("host") == HOST:
        return not procs.alive(int(record.get("pid", 0)))
    return False


def close_attempt(run: RunStore, key: str, number: int, record: dict[str, Any]) -> str:
    """Close one dead attempt: kill what is left of its process group, remove its working directory,
    and record how it ended (`succeeded` if it had published the node's result, else `interrupted`)."""
    if record.get("host") == HOST:
        if record.get("pgid"):
            procs.kill_orphaned_group(int(record["pgid"]), record.get("pgid_start"))
        if record.get("workdir"):
            shutil.rmtree(record["workdir"], ignore_errors=True)
    result = run.result(key)
    record["ended"] = now()
    record["duration"] = round(record["ended"] - record.get("started", record["ended"]), 3)
    if result is not None and result.get("attempt") == number:
        record["status"] = "succeeded"
        record["note"] = "the runner stopped after publishing the result; closed on resume"
        record.setdefault("returns", result.get("returns", {}))
    else:
        record["status"] = "interrupted"
        record["error"] = INTERRUPTED
    run.write_attempt(run.attempt_dir(key, number), record)
    return record["status"]


def recover(run: RunStore, me: str) -> int:
    """Close every dead attempt of the run and clean orphaned temporary files; how many attempts closed."""
    closed = 0
    for key in list(run.node_keys()):
        for number in run.attempt_numbers(key):
            path = run.attempt_dir(key, number) / "record.json"
            try:
                record = read_json(path)
            except FileNotFoundError:  # claimed, then the runner died before writing the record
                started = path.parent.stat().st_mtime
                record = {
                    "key": key,
                    "attempt": number,
                    "status": "running",
                    "started": round(started, 3),
                    "logs": {"stdout": f"attempt.{number}/stdout.log", "stderr": f"attempt.{number}/stderr.log"},
                }
                record["runner"] = "unknown"
            except (OSError, ValueError):
                continue
            if record.get("status") == "running" and _dead(record, me):
                close_attempt(run, key, number, record)
                closed += 1
    clean_temp_files(run)
    clean_workdirs(run.run_id)
    return closed


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
