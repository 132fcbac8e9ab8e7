"""The attempt supervisor: a step's double-forked daemon dies with its attempt (when the step ends, when it
times out, in `transpile run` and in `execute-node` alike), and one supervisor runs many attempts at once in one
process, each with its own timeout, retried by the one policy (what a batch of map items in one pod needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from transpile.runtime import procs
from transpile.runtime.store import RunStore

# A daemon that leaves the step's process group and session, and whose parent exits at once.
DAEMON = "( setsid sh -c 'echo $$ > \"$TRANSPILE_PIPELINE_DIR/daemon-$TRANSPILE_KEY.pid\"; exec sleep 300' & )"
PIPELINE = f"""\
name: d
steps:
  leaves: {{shell: '{DAEMON.replace("'", "''")}; sleep 0.5; echo left'}}
  stuck: {{needs: [leaves], shell: '{DAEMON.replace("'", "''")}; sleep 60', timeout: 2, retries: 0}}
"""


def daemons(project: Path) -> dict[str, int]:
    found = {}
    deadline = time.monotonic() + 10
    while len(found) < 2 and time.monotonic() < deadline:
        for path in project.glob("daemon-*.pid"):
            text = path.read_text().strip()
            if text:
                found[path.stem.removeprefix("daemon-")] = int(text)
        time.sleep(0.05)
    return found


def alive(pid: int) -> bool:
    return procs.alive(pid)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "d.yaml").write_text(PIPELINE)
    return tmp_path


def test_a_double_forked_daemon_dies_with_its_attempt_in_transpile_run(project):
    result = run_cli("run", "d.yaml", "--store", "store", "--run-id", "r", cwd=project)
    assert result.returncode == 1, result.stderr  # `stuck` timed out
    found = daemons(project)
    assert set(found) == {"leaves", "stuck"}
    time.sleep(0.2)
    assert [key for key, pid in found.items() if alive(pid)] == []


@pytest.mark.parametrize("node", ["leaves", "stuck"])
def test_a_double_forked_daemon_dies_with_its_attempt_in_execute_node(project, node):
    base = ("execute-node", "--pipeline", "d.yaml", "--store", "store", "--run-id", "e", "--no-echo")
    if node == "stuck":
        assert run_cli(*base, "--node", "leaves", cwd=project).returncode == 0
    result = run_cli(*base, "--node", node, cwd=project)
    assert result.returncode == (1 if node == "stuck" else 0), result.stderr
    pid = daemons(project)[node]
    time.sleep(0.2)
    assert not alive(pid)
    for other in daemons(project).values():  # the other daemon died with its own attempt, too
        assert not alive(other)


def run_batch(project: Path, module: str, step: str) -> subprocess.CompletedProcess:
    """A map of 3 items whose step is `steps.<function>, <settings>` (`module` the text of steps.py), fanned
    out, then its 3 items run as one batch (one pod)."""
    (project / "steps.py").write_text(module)
    (project / "b.yaml").write_text(
        "name: b\nparameters: {xs: [0, 1, 2]}\nsteps:\n"
        f"  m: {{map: {{over: xs, as: x, steps: {{s: {{python: steps:{step}}}}}}}}}\n"
    )
    base = ("execute-node", "--pipeline", "b.yaml", "--store", "store", "--run-id", "b", "--no-echo")
    assert run_cli(*base, "--node", "m", cwd=project).returncode == 0
    return run_cli(*base, "--node", "m/s", "--indices", "0~2", cwd=project)


LEAVER = """\
import os, subprocess, time
from pathlib import Path


def leave(x):
    pidfile = Path(os.environ["TRANSPILE_PIPELINE_DIR"]) / f"daemon-{x}.pid"
    subprocess.Popen(["setsid", "sh", "-c", f'echo $$ > "{pidfile}"; exec sleep 300'])
    while not pidfile.exists() or not pidfile.read_text().strip():
        time.sleep(0.01)
    if x == 1:
        os._exit(3)  # the attempt dies at once: it cannot kill its daemon itself
    if x == 2:  # the next item: the daemon item 1 left must be gone already, not at the batch's end
        from transpile.runtime.procs import alive

        return alive(int((pidfile.parent / "daemon-1.pid").read_text()))
    return None
"""


def test_daemons_die_with_their_items_in_a_batch(tmp_path):
    """In a batch (one pod, items forked by its zygote), a daemon an item leaves dies with that item's attempt,
    whether the item returns or its process dies without a word (then the zygote, their subreaper, kills it)."""
    result = run_batch(tmp_path, LEAVER, "leave, retries: 0, returns: [left]")
    assert result.returncode == 1 and "1 of 3 instance(s) of batch 0~2 did not succeed" in result.stderr
    pids = {int(p.stem.removeprefix("daemon-")): int(p.read_text()) for p in tmp_path.glob("daemon-*.pid")}
    assert sorted(pids) == [0, 1, 2]
    assert RunStore(tmp_path / "store", "b").result("m@2/s").returns == {"left": False}
    time.sleep(0.2)
    assert [x for x, pid in pids.items() if alive(pid)] == []


STALLER = """\
import os, time


def stall(x):
    if x == 1 and os.environ["TRANSPILE_ATTEMPT"] == "1":
        time.sleep(60)  # past its timeout: killed, then retried
    return x
"""


def test_an_item_past_its_timeout_is_killed_and_retried_and_the_batch_goes_on(tmp_path):
    started = time.monotonic()
    result = run_batch(tmp_path, STALLER, "stall, timeout: 1, retries: {limit: 1, backoff: 0s}, returns: [y]")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    run = RunStore(tmp_path / "store", "b")
    assert [run.result(f"m@{x}/s").returns for x in range(3)] == [{"y": 0}, {"y": 1}, {"y": 2}]
    assert [(a.status, a.timed_out) for a in run.attempts("m@1/s")] == [("failed", True), ("succeeded", None)]
    assert [len(run.attempts(f"m@{x}/s")) for x in (0, 2)] == [1, 1]


BATCH = """
import json, sys, time
from pathlib import Path
from transpile.plan.retry import retry_delay
from transpile.runtime.child import context_builder
from transpile.runtime.instance import RunContext
from transpile.runtime.loader import load_pipeline
from transpile.runtime.store import RunStore
from transpile.runtime.supervisor import ForkSpawner, Supervisor
from transpile.runtime.workspace import new_workdir

loaded = load_pipeline("b.yaml", Path("store"))
run = RunStore(Path("store").absolute(), "b")
ctx = RunContext(loaded, run, {"xs": [0.2, 9, 0.1, "flaky"]}, "b.yaml")
ctx.ensure_run_record()
ctx.instance(("m",), ()).run_inline()
supervisor = Supervisor(ForkSpawner(context_builder(loaded, run, ctx.parameters), lambda: new_workdir("b")))
path = loaded.steps["m/s"]
pending = {i: 0 for i in range(4)}  # item -> attempts so far
running, ended, waits = {}, [], []
start = time.monotonic()
while pending or running:
    for i in [i for i, n in pending.items() if n >= 0]:
        instance = ctx.instance(path, (i,))
        process = supervisor.take()
        record = instance.claim()
        instance.launched(record, process)
        supervisor.start(process, instance.assignment(record), instance.step.timeout)
        running[process.pid] = (i, instance, record)
        pending.pop(i)
    for process in supervisor.events(0.2):
        i, instance, record = running.pop(process.pid)
        outcome = instance.complete(record, process.report())
        kind = "timed_out" if outcome.timed_out else outcome.status
        delay = retry_delay(instance.step.retries, record.attempt, kind)
        ended.append([i, outcome.status, round(time.monotonic() - start, 1)])
        if delay is not None:
            waits.append(delay)
            pending[i] = record.attempt
supervisor.close()
print(json.dumps({"ended": ended, "waits": waits, "pids": len(supervisor.spawner.children)}))
"""


def test_one_supervisor_runs_many_attempts_at_once(tmp_path):
    """A batch of map items in one process: all four run at once, each ends on its own (the 9 s one at its
    2 s timeout), the flaky one is retried after the policy's delay, and no process is left."""
    (tmp_path / "b.yaml").write_text(
        "name: b\nparameters: {xs: []}\nsteps:\n  m:\n    map:\n      over: xs\n      as: x\n      steps:\n"
        "        s:\n          timeout: 2\n          retries: {limit: 1, backoff: 0}\n"
        '          shell: \'if [ "$x" = flaky ]; then [ "$TRANSPILE_ATTEMPT" = 2 ]; else sleep "$x"; fi\'\n'
    )
    ran = subprocess.run([sys.executable, "-c", BATCH], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    ended = result["ended"]
    final = {i: status for i, status, _ in ended}
    assert final == {0: "succeeded", 1: "failed", 2: "succeeded", 3: "succeeded"}, ended
    assert [i for i, status, _ in ended].count(1) == 2 and [i for i, _, _ in ended].count(3) == 2, ended
    first_timeout = next(seconds for i, _, seconds in ended if i == 1)
    assert 1.9 <= first_timeout < 3.5 and all(s < 1.9 for i, _, s in ended if i != 1), ended  # all at once
    assert result["waits"] == [0, 0] and result["pids"] == 0  # both failures retried as the policy says
