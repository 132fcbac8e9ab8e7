"""`execute-node` run again for the same node instance, as engines do (a retried pod, a cleared task): a
published result is reused and recorded (control values emitted again), never run twice unless `--force`; an
earlier attempt left `running` by a pod that is gone is closed `interrupted` and its temporary files removed;
map indices are checked against the map's items."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from transpile.runtime.store import HOST, RunStore

PIPELINE = """\
name: p
parameters: {xs: [a, b, c]}
steps:
  once: {python: effects:count, returns: [n]}
  m: {needs: [once], map: {over: xs, as: x, steps: {s: {python: effects:count, returns: [y]}}}}
  slow: {shell: 'test -f "$TRANSPILE_PIPELINE_DIR/fast" || sleep 60; echo ok'}
  kw: {needs: [m], map: {over: xs, as: x, steps: {any: {python: effects:anything}, item: {python: effects:item}}}}
"""
EFFECTS = '''\
import os


def count(x=None):
    """Counts its executions in a file, to see a step run twice."""
    with open(os.path.join(os.environ["TRANSPILE_PIPELINE_DIR"], "runs.log"), "a") as log:
        log.write(os.environ["TRANSPILE_KEY"] + "\\n")
    return x


def anything(**seen):
    return sorted(seen)


def item(x="default"):
    return x
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "effects.py").write_text(EFFECTS)
    return tmp_path


def node(project: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli("execute-node", "--pipeline", "p.yaml", "--store", "store", "--run-id", "r", "--node", name,
                   "--no-echo", *args, cwd=project)  # fmt: skip


def runs(project: Path) -> list[str]:
    log = project / "runs.log"
    return log.read_text().split() if log.exists() else []


def test_a_published_result_is_reused_not_run_again(project):
    assert node(project, "once").returncode == 0
    again = node(project, "once")
    assert again.returncode == 0 and "reused" in again.stderr
    assert runs(project) == ["once"]
    store = RunStore(project / "store", "r")
    assert [a.status for a in store.attempts("once")] == ["succeeded", "reused"]
    assert store.result("once").attempt == 1
    forced = node(project, "once", "--force")
    assert forced.returncode == 0 and runs(project) == ["once", "once"]
    assert store.result("once").attempt == 1  # published once, whatever ran later


def test_a_control_node_run_again_emits_its_value_again(project, tmp_path):
    assert node(project, "once").returncode == 0
    outs = []
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        done = node(project, "m", "--control-out", str(out / "v"), "--xcom", str(out / "x"), "--print-control")
        assert done.returncode == 0, done.stderr
        outs.append(((out / "v").read_text(), (out / "x").read_text(), done.stdout.splitlines()[-1]))
    assert outs[0] == outs[1] == ('["0","1","2"]', '["0","1","2"]', '["0","1","2"]')
    assert [a.status for a in RunStore(project / "store", "r").attempts("m")] == ["succeeded", "reused"]


def test_a_pod_that_died_mid_step_is_closed_when_the_engine_retries(project):
    store = RunStore(project / "store", "r")
    pod = subprocess.Popen(
        [sys.executable, "-m", "transpile", "execute-node", "--pipeline", "p.yaml", "--store", "store",
         "--run-id", "r", "--node", "slow", "--no-echo"],
        cwd=project, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (store.node_dir("slow") / "attempt.1/record.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = store.read_attempt("slow", 1)
    host = HOST.replace(".", "-")
    leftovers = [
        store.node_dir("slow") / f".result.json.{host}.{record.pid}.abc.tmp",  # the dead pod's own
        store.catalog / f".out.csv.{host}.{record.pgid}.def.tmp",  # its step's catalog copy
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (1 << 20))
    mine = store.node_dir("slow") / f".result.json.{host}.{os.getpid()}.ghi.tmp"  # a live writer's
    mine.write_text("y")
    os.killpg(pod.pid, signal.SIGKILL)  # the pod is gone (its step dies with it)
    pod.wait(timeout=30)
    assert store.read_attempt("slow", 1).status == "running"
    (project / "fast").write_text("")
    retried = node(project, "slow")
    assert retried.returncode == 0, retried.stderr
    tries = store.attempts("slow")
    assert [t.status for t in tries] == ["interrupted", "succeeded"]
    assert "gone" in tries[0].error
    assert not any(path.exists() for path in leftovers) and mine.exists()


def test_an_attempt_left_running_on_another_host_is_closed(project):
    store = RunStore(project / "store", "r")
    attempt = store.node_dir("once") / "attempt.1"
    attempt.mkdir(parents=True)
    other = {"key": "once", "attempt": 1, "status": "running", "host": "pod-1.example", "pid": 7, "pgid": 9,
             "started": 1.0}  # fmt: skip
    (attempt / "record.json").write_text(json.dumps(other))
    temps = [store.node_dir("once") / ".result.json.pod-1-example.7.a.tmp", attempt / ".x.pod-1-example.9.b.tmp"]
    for path in temps:
        path.write_text("x")
    kept = store.node_dir("once") / ".result.json.pod-2.7.c.tmp"  # another pod's
    kept.write_text("x")
    assert node(project, "once").returncode == 0
    assert [a.status for a in store.attempts("once")] == ["interrupted", "succeeded"]
    assert not any(path.exists() for path in temps) and kept.exists()


@pytest.mark.parametrize("target", ["kw/any", "kw/item", "m/s"])
def test_indices_are_checked_against_the_maps_items(project, target):
    for name in ("once", "m", "kw"):
        assert node(project, name).returncode == 0
    for indices, message in (("3", "out of range: map 'kw' has 3 item(s) (indices 0-2)"), ("75", "index 75")):
        if target == "m/s":
            message = message.replace("'kw'", "'m'")
        result = node(project, target, "--indices", indices)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    store = RunStore(project / "store", "r")
    assert not store.node_dir(f"{target.split('/')[0]}@3").exists()
    assert not store.node_dir(f"{target.split('/')[0]}@75").exists()
    assert node(project, target, "--indices", "2").returncode == 0


def test_items_of_a_map_that_has_not_fanned_out_are_refused(project):
    result = node(project, "kw/item", "--indices", "0")
    assert result.returncode == 2 and "has not fanned out" in result.stderr
