"""Crashes and concurrency: kill -9 of the runner at random moments then `--resume` gives an uninterrupted
run's results with no succeeded node rerun and no record left `running`; two resumers at once never run a
node twice. (50 concurrent `execute-node` processes: tests/test_entrypoint.py::test_fifty_processes...)"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.support.outcomes import outcomes
from transpile.runtime.store import RunStore

EFFECTS = '''\
import os
import time


def work(x=None, **seen):
    """Sleeps a little and leaves a side effect per execution, to count reruns."""
    time.sleep(0.05)
    with open(os.path.join(os.environ["TRANSPILE_PIPELINE_DIR"], "effects.log"), "a") as log:
        log.write(f"{os.environ['TRANSPILE_KEY']}\\n")
    if os.path.exists(os.path.join(os.environ["TRANSPILE_PIPELINE_DIR"], "broken")):
        raise RuntimeError("broken")
    return [x, sorted(seen)]
'''

PIPELINE = """\
name: crashy
parameters: {xs: [0, 1, 2, 3, 4, 5, 6, 7]}
steps:
  a: {python: effects:work, returns: [ra]}
  m:
    needs: [a]
    map: {over: xs, as: x, steps: {s: {python: effects:work, returns: [rs]}, t: {needs: [s], python: effects:work}}}
  b: {needs: [m], python: effects:work, returns: [rb]}
  c: {needs: [b], shell: 'sleep 0.2; echo "$rb" > "$TRANSPILE_RETURNS/rc"', returns: [rc]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "effects.py").write_text(EFFECTS)
    (tmp_path / "crashy.yaml").write_text(PIPELINE)
    return tmp_path


def launch(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "transpile", "run", "crashy.yaml", "--store", "store", "--parallelism", "2", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finished(run: RunStore) -> set[str]:
    return {key for key in run.node_keys() if run.result(key) is not None}


def test_kill_9_at_random_moments_then_resume(project):
    reference = run_cli("run", "crashy.yaml", "--store", "ref", "--run-id", "k", cwd=project)
    assert reference.returncode == 0, reference.stderr
    (project / "effects.log").unlink()
    run = RunStore(project / "store", "k")
    rng = random.Random(int(os.environ.get("TRANSPILE_CRASH_SEED", "7")))
    runner = launch(project, "--run-id", "k")
    while not (run.run_dir / "status.json").exists():  # started (the machine may be slow to start it)
        assert runner.poll() is None, runner.stderr.read()
        time.sleep(0.05)
    done: dict[str, int] = {}  # node -> its attempts when it was first seen finished after a crash
    kills = 0
    for _ in range(4):
        time.sleep(rng.uniform(0.2, 1.5))
        if runner.poll() is not None:
            break
        os.killpg(runner.pid, signal.SIGKILL)  # the runner's group only: its attempts have their own groups
        runner.wait(timeout=30)
        kills += 1
        for key in finished(run):
            done.setdefault(key, len(run.attempts(key)))
        runner = launch(project, "--resume", "k")
    assert runner.wait(timeout=300) == 0, runner.stderr.read() if runner.stderr else ""
    assert kills >= 1
    # what had finished before a crash was reused, never run again
    assert {key: len(run.attempts(key)) for key in done} == done
    assert outcomes(run) == outcomes(RunStore(project / "ref", "k"))
    for key in run.node_keys():
        statuses = [a.status for a in run.attempts(key)]
        assert "running" not in statuses, (key, statuses)
        assert statuses.count("succeeded") == 1, (key, statuses)
        assert set(statuses) <= {"succeeded", "interrupted"}, (key, statuses)
    effects = (project / "effects.log").read_text().split()
    for key in run.node_keys():
        interrupted = sum(a.status == "interrupted" for a in run.attempts(key))
        if run.attempts(key)[0].kind == "python":
            assert 1 <= effects.count(key) <= 1 + interrupted, key  # at most the killed attempts ran again
    assert not list(run.run_dir.rglob("*.tmp"))


def test_two_resumers_at_once_never_run_a_node_twice(project):
    (project / "broken").write_text("")
    first = run_cli("run", "crashy.yaml", "--store", "store", "--run-id", "two", cwd=project)
    assert first.returncode == 1
    (project / "broken").unlink()
    (project / "effects.log").unlink()
    resumers = [launch(project, "--resume", "two") for _ in range(2)]
    ends = sorted((r.wait(timeout=300), r.stderr.read()) for r in resumers)
    codes = [code for code, _ in ends]
    assert codes in ([0, 0], [0, 2]), ends
    run = RunStore(project / "store", "two")
    effects = (project / "effects.log").read_text().split()
    assert len(effects) == len(set(effects))  # every node ran once at most
    for key in run.node_keys():
        assert [a.status for a in run.attempts(key)].count("succeeded") == 1, key
    if codes == [0, 2]:
        assert "is being run by process" in ends[1][1] or "at the same moment" in ends[1][1], ends[1][1]


def test_resume_waits_for_every_map_item(project):
    """A resume reuses some items of a map at once and runs the others: the step after the map waits for all."""
    import shutil

    assert run_cli("run", "crashy.yaml", "--store", "store", "--run-id", "m", cwd=project).returncode == 0
    nodes = project / "store/runs/m/nodes"
    for key in ("m@4/t", "m@6/s", "m@6/t", "b", "c"):
        shutil.rmtree(nodes / key)
    (project / "store/runs/m/status.json").unlink()  # as if its runner had died: a succeeded run is not resumed
    assert run_cli("run", "crashy.yaml", "--store", "store", "--resume", "m", cwd=project).returncode == 0
    run = RunStore(project / "store", "m")
    assert len(run.attempts("b")[-1].inputs["rs"]) == 8
    assert run.attempts("b")[-1].started >= run.attempts("m@6/t")[-1].ended
