"""One answer to "how did it go": `runs list`, `runs show`, `transpile.load_run` and `$TRANSPILE_FAILED` agree on
the state and the failed nodes of hand-made stores (interrupted, failed, failed on_failure, half-written, corrupt,
running), and `--resume` closes exactly the attempts the readers show as dead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import transpile
from tests.conftest import run_cli
from transpile.runtime.store import HOST

PIPELINE = """\
name: v
parameters: {xs: [0, 1]}
steps:
  a: {shell: 'echo a'}
  m: {needs: [a], map: {over: xs, as: x, steps: {s: {shell: 'echo "$x"'}}}}
  b: {needs: [m], shell: 'echo b'}
on_failure: {steps: {alert: {shell: 'printf %s "$TRANSPILE_FAILED" > "$TRANSPILE_RETURNS/failed"', returns: [failed]}}}
"""


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


class Store:
    """Writes a run's files by hand, as the runtime (or a crash of it) would leave them."""

    def __init__(self, root: Path, run_id: str, digest: str):
        self.run_dir = root / "runs" / run_id
        self.write("run.json", {"run_id": run_id, "pipeline": "v", "pipeline_file": "v.yaml", "hash": digest,
                                "parameters": {"xs": [0, 1]}, "created": 1.0})  # fmt: skip
        self.clock = 10.0

    def write(self, name: str, data: object) -> None:
        path = self.run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data))

    def attempt(self, key: str, status: str, n: int = 1, **extra: object) -> None:
        self.clock += 1
        record = {"key": key, "attempt": n, "status": status, "node": re.sub(r"@\d+", "", key), "started": self.clock,
                  "host": HOST, "pid": os.getpid(), "logs": {"stdout": f"attempt.{n}/stdout.log",
                  "stderr": f"attempt.{n}/stderr.log"}}  # fmt: skip
        if status != "running":
            record.update(ended=self.clock + 0.5, duration=0.5)
        if status == "failed":
            record["error"] = f"{key} broke"
        record.update(extra)
        self.write(f"nodes/{key}/attempt.{n}/record.json", record)

    def result(self, key: str, **fields: object) -> None:
        self.write(f"nodes/{key}/result.json", {"returns": {}, "attempt": 1, **fields})

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self.attempt(key, "succeeded")
            self.result(key, **({"count": 2} if key == "m" else {}))
        for i in range(2) if "m" in keys else ():
            self.write(f"nodes/m/items.d/{i}.json", str(i))


def build(root: Path, digest: str) -> dict[str, tuple[str, list[str]]]:
    """The stores, each with the state and failed nodes every reader must give."""
    expected = {}

    def store(run_id: str, state: str, failed: list[str]) -> Store:
        expected[run_id] = (state, failed)
        return Store(root, run_id, digest)

    done = store("finished", "succeeded", [])
    done.succeeded("a", "m", "m@0/s", "m@1/s", "b")
    done.write("status.json", {"status": "succeeded", "ended": 20.0, "duration": 3.0, "failures": []})

    interrupted = store("interrupted", "interrupted", ["m@1/s"])  # pods stopped, no runner: no status.json
    interrupted.succeeded("a", "m", "m@0/s")
    interrupted.attempt("m@1/s", "interrupted", error="interrupted: the run was stopped")

    failed = store("failed", "failed", ["b"])
    failed.succeeded("a", "m", "m@0/s", "m@1/s")
    failed.attempt("b", "failed")
    failed.attempt("b", "failed", n=2)
    failed.write("status.json", {"status": "failed", "failures": ["b: b broke"], "on_failure_ran": False})

    alert_failed = store("alert-failed", "failed", ["b"])  # on_failure's own failure is not a failed node
    alert_failed.succeeded("a", "m", "m@0/s", "m@1/s")
    alert_failed.attempt("b", "failed")
    alert_failed.attempt("on_failure/alert", "failed")
    alert_failed.write("status.json", {"status": "failed", "failures": ["b: x", "on_failure/alert: y"]})

    half = store("half-written", "interrupted", ["m@0/s"])  # the pods' processes died mid-write
    half.succeeded("a", "m")
    half.attempt("m@0/s", "running", pid=dead_pid())  # its process is gone: not running
    (half.run_dir / "nodes/m@1/s/attempt.1").mkdir(parents=True)  # claimed, never recorded
    half.attempt("b", "running", pid=dead_pid())  # published its result, died before its record
    half.result("b")

    corrupt = store("corrupt", "failed", ["b"])
    corrupt.succeeded("a", "m", "m@0/s", "m@1/s")
    corrupt.write("nodes/a/attempt.1/record.json", "{not json")
    corrupt.attempt("b", "failed")
    corrupt.write("status.json", {"status": "failed", "failures": "b: b broke"})  # a list, not a string

    live = store("live", "running", [])  # a pod of this host still runs `a`
    live.attempt("a", "running")
    return expected


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, dict[str, tuple[str, list[str]]]]:
    (tmp_path / "v.yaml").write_text(PIPELINE)
    from transpile.compiler import compile_pipeline

    return tmp_path, build(tmp_path / "store", compile_pipeline(str(tmp_path / "v.yaml")).hash)


STORES = ["finished", "interrupted", "failed", "alert-failed", "half-written", "corrupt", "live"]


@pytest.mark.parametrize("run_id", STORES)
def test_every_reader_gives_the_same_state_and_failed_nodes(stores, run_id):
    project, expected = stores
    state, failed = expected[run_id]
    for other in STORES:  # each store alone: one broken run must not hide the others' verdicts
        if other != run_id:
            shutil.rmtree(project / "store/runs" / other)
    listing = run_cli("runs", "list", "--store", "store", cwd=project)
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    assert (row[0], row[2], row[-1]) == (run_id, state, str(len(failed)))
    shown = run_cli("runs", "show", run_id, "--store", "store", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert f"status {state}" in shown.stdout.splitlines()[0], shown.stdout
    assert re.findall(r"^  failed: (\S+):", shown.stdout, re.M) == failed, shown.stdout
    loaded = transpile.load_run(run_id, store=project / "store")
    assert (loaded.status, [n.key for n in loaded.failed], loaded.ok) == (state, failed, state == "succeeded")
    if run_id == "corrupt":  # flagged by name, the rest read as usual
        for text in (listing.stderr, shown.stdout):
            assert "runs/corrupt/nodes/a/attempt.1/record.json" in text and "runs/corrupt/status.json" in text
        assert loaded.nodes["a"].status == "succeeded" and len(loaded.problems) == 2  # its result says so
    if run_id == "half-written":
        assert loaded.nodes["b"].status == "succeeded" and loaded.nodes["m@0/s"].status == "interrupted"


@pytest.mark.parametrize("run_id", ["interrupted", "failed", "alert-failed", "half-written"])
def test_on_failure_sees_the_same_failed_nodes(stores, run_id):
    project, expected = stores
    shutil.rmtree(project / f"store/runs/{run_id}/nodes/on_failure", ignore_errors=True)
    alert = run_cli("execute-node", "--pipeline", "v.yaml", "--store", "store", "--run-id", run_id,
                    "--node", "on_failure/alert", cwd=project)  # fmt: skip
    assert alert.returncode == 0, alert.stderr
    got = json.loads((project / f"store/runs/{run_id}/nodes/on_failure/alert/result.json").read_text())
    assert got["returns"]["failed"] == expected[run_id][1]


def test_resume_closes_what_the_readers_show_dead(stores):
    project, _ = stores
    before = transpile.load_run("half-written", store=project / "store")
    dead = {key for key, node in before.nodes.items() if node.status == "interrupted"}
    resumed = run_cli("run", "v.yaml", "--store", "store", "--resume", "half-written", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    after = transpile.load_run("half-written", store=project / "store")
    records = {key: json.loads((project / f"store/runs/half-written/nodes/{key}/attempt.1/record.json").read_text())
               for key in ("m@0/s", "m@1/s", "b")}  # fmt: skip
    assert dead == {"m@0/s"}
    assert [records[k]["status"] for k in ("m@0/s", "m@1/s", "b")] == ["interrupted", "interrupted", "succeeded"]
    assert after.status == "succeeded" and not after.failed
