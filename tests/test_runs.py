"""Run ids, the run's lease, crash recovery, Ctrl-C and honest run statuses."""

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
from transpile.runtime import procs
from transpile.runtime.records import RunRecord
from transpile.runtime.store import HOST, RunStore, dumps, read_json
from transpile.runtime.workspace import temp_base, workdir_prefix

SLOW = """\
name: slow
parameters: {count: 1}
steps:
  first: {shell: 'echo 1 > "$TRANSPILE_RETURNS/one"', returns: [one]}
  wait: {needs: [first], shell: 'test -f "$TRANSPILE_PIPELINE_DIR/fast" || sleep 60; echo "$count"'}
  last: {needs: [wait], stub: true}
"""


def start(project: Path, *args: str) -> subprocess.Popen:
    """`transpile run` in its own session, as a terminal's foreground job."""
    return subprocess.Popen(
        [sys.executable, "-m", "transpile", "run", "slow.yaml", "--store", "store", "--parallelism", "2", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_running(run: RunStore, key: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tries = run.attempts(key) if run.node_dir(key).is_dir() else []
        if tries and tries[-1].status == "running" and tries[-1].pgid:
            return tries[-1]
        time.sleep(0.1)
    raise AssertionError(f"{key} never ran")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "slow.yaml").write_text(SLOW)
    return tmp_path


def status_of(project: Path, run_id: str) -> str:
    listing = run_cli("runs", "list", "--store", "store", cwd=project)
    rows = {line.split()[0]: line.split()[2] for line in listing.stdout.splitlines()[1:]}
    return rows[run_id]


def test_run_ids_are_fresh_and_never_silently_reused(project):
    (project / "fast").write_text("")
    first = run_cli("run", "slow.yaml", "--store", "store", cwd=project)
    second = run_cli("run", "slow.yaml", "--store", "store", cwd=project)
    assert first.returncode == second.returncode == 0
    assert len(list((project / "store/runs").iterdir())) == 2
    named = run_cli("run", "slow.yaml", "--store", "store", "--run-id", "mine", "-p", "count=1", cwd=project)
    assert named.returncode == 0
    again = run_cli("run", "slow.yaml", "--store", "store", "--run-id", "mine", "-p", "count=2", cwd=project)
    assert again.returncode == 2
    assert "run 'mine' already exists" in again.stderr and "--resume mine" in again.stderr
    assert read_json(project / "store/runs/mine/run.json")["parameters"] == {"count": 1}


@pytest.mark.parametrize("run_id", ["../../x", "a/b", "..", ".hidden", "x..y", ""])
def test_bad_run_ids_are_refused(project, run_id):
    result = run_cli("run", "slow.yaml", "--store", "store", "--run-id", run_id, cwd=project)
    assert result.returncode == 2 and "is not allowed" in result.stderr and "Traceback" not in result.stderr
    bad = run_id or "/"
    node = run_cli(
        "execute-node", "--pipeline", "slow.yaml", "--store", "s", "--run-id", bad, "--node", "first", cwd=project
    )
    assert node.returncode == 2
    assert not (project / "x").exists() and not (project.parent / "x").exists()
    assert not list((project / "store").glob("runs/*")) if (project / "store").exists() else True


def test_a_numeric_parameter_given_text_is_a_clear_error(project):
    result = run_cli("run", "slow.yaml", "--store", "store", "-p", "count=abc", cwd=project)
    assert result.returncode == 2, result.stderr
    assert "count" in result.stderr and "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_only_run_json_is_pending_not_succeeded(project):
    run = RunStore(project / "store", "bare")
    run.create_run(RunRecord("bare", "slow", "0" * 64, {}, created=1.0))
    assert status_of(project, "bare") == "pending"
    shown = run_cli("runs", "show", "bare", "--store", "store", cwd=project)
    assert "status pending" in shown.stdout


def test_a_live_lease_refuses_a_second_runner(project):
    (project / "fast").write_text("")
    assert run_cli("run", "slow.yaml", "--store", "store", "--run-id", "r", cwd=project).returncode == 0
    (project / "store/runs/r/status.json").write_text('{"status": "interrupted"}')  # as if stopped at its end
    me = {"holder": "t", "host": HOST, "pid": os.getpid(), "pid_start": procs.start_time(os.getpid()), "heartbeat": 0}
    run_dir = project / "store/runs/r"
    number = max(int(p.stem.split("-")[1]) for p in run_dir.glob("lease-*.json")) + 1
    (run_dir / f"lease-{number}.json").write_text(dumps(me))
    resumed = run_cli("run", "slow.yaml", "--store", "store", "--resume", "r", cwd=project)
    assert resumed.returncode == 2 and f"being run by process {os.getpid()}" in resumed.stderr
    me["released"] = True
    (run_dir / f"lease-{number}.json").write_text(dumps(me))
    assert run_cli("run", "slow.yaml", "--store", "store", "--resume", "r", cwd=project).returncode == 0


def test_kill_9_then_resume_closes_the_killed_attempt(project):
    runner = start(project, "--run-id", "kill9-runs")
    run = RunStore(project / "store", "kill9-runs")
    record = wait_running(run, "wait")
    # a temporary file of a dead writer of this host, and one of a live process (this test)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = HOST.replace(".", "-")
    orphan = run.run_dir / "nodes" / f".result.json.{host}.{dead.stdout.strip()}.abc.tmp"
    alive = run.run_dir / "nodes" / f".result.json.{host}.{os.getpid()}.abc.tmp"
    orphan.write_text("x" * 100)
    alive.write_text("y")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=30)
    assert status_of(project, "kill9-runs") == "interrupted"
    assert run.attempts("wait")[-1].status == "running"  # nothing could close it yet
    (project / "fast").write_text("")
    resumed = run_cli("run", "slow.yaml", "--store", "store", "--resume", "kill9-runs", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    tries = run.attempts("wait")
    assert [t.status for t in tries] == ["interrupted", "succeeded"]
    assert "runner stopped" in tries[0].error
    assert len(run.attempts("first")) == 1  # not rerun
    assert not procs.group_alive(record.pgid)  # the orphaned `sleep 60` is gone
    assert not Path(record.workdir).exists()
    assert not orphan.exists() and alive.exists()
    assert status_of(project, "kill9-runs") == "succeeded"
    assert not list(temp_base().glob(workdir_prefix("kill9-runs") + "*"))  # the killed runner's spares' too


def test_ctrl_c_interrupts_cleanly_and_the_run_resumes(project):
    runner = start(project, "--run-id", "c")
    run = RunStore(project / "store", "c")
    record = wait_running(run, "wait")
    os.killpg(runner.pid, signal.SIGINT)  # what the terminal sends to its foreground job
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert "Traceback" not in err and "--resume c" in err
    assert read_json(run.run_dir / "status.json")["status"] == "interrupted"
    assert run.attempts("wait")[-1].status == "interrupted"
    assert not procs.group_alive(record.pgid)
    assert status_of(project, "c") == "interrupted"
    (project / "fast").write_text("")
    resumed = run_cli("run", "slow.yaml", "--store", "store", "--resume", "c", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert [t.status for t in run.attempts("wait")] == ["interrupted", "succeeded"]
    assert json.loads((run.run_dir / "status.json").read_text())["status"] == "succeeded"


def test_start_run_twice_in_one_process_leaves_nothing_behind(project):
    """The Python API's entry point: returns (run id, code), raises TranspileError, restores signal handlers,
    leaves no child process and no lease held."""
    (project / "fast").write_text("")
    probe = """\
import io, os, signal, sys
from pathlib import Path
from transpile.errors import TranspileError
from transpile.runtime.runs import start_run
before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
out = io.StringIO()
first = start_run("slow.yaml", {}, store=Path("store"), parallelism=2, run_id="a", out=out)
second = start_run("slow.yaml", {"count": "2"}, store=Path("store"), parallelism=2, out=out)
try:
    start_run("slow.yaml", {"count": "x"}, store=Path("store"), parallelism=2, out=out)
    raise SystemExit("no error")
except TranspileError as exc:
    bad = str(exc)
try:
    os.waitpid(-1, os.WNOHANG)
    children = "left"
except ChildProcessError:
    children = "none"
after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
print(first[1], second[1], second[0] != "a", before == after, children, "count" in bad)
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=project, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
    )  # fmt: skip
    assert result.stdout.split() == ["0", "0", "True", "True", "none", "True"], result.stdout + result.stderr
    from transpile.runtime.lease import current

    assert current(RunStore(project / "store", "a")).released is True
