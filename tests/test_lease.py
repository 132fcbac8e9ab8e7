"""The one-runner lease does not trust clocks: a holder on another host is live while its heartbeat counter moves
(whatever its wall clock says), dead once the counter stood still for the stale period on the taker's own
clock; a runner that lost its lease stops without writing the run's status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from transpile.runtime.lease import Lease, LeaseHeld
from transpile.runtime.store import RunStore

SLOW = """\
name: slow
steps:
  first: {shell: 'echo 1'}
  wait: {needs: [first], shell: 'test -f "$TRANSPILE_PIPELINE_DIR/fast" || sleep 60'}
"""


def other_host_lease(run_dir: Path, number: int, heartbeat: float, beat: int = 1) -> Path:
    path = run_dir / f"lease-{number}.json"
    record = {"holder": "pod-7:42:1", "host": "pod-7", "pid": 42, "acquired": heartbeat, "heartbeat": heartbeat,
              "beat": beat}  # fmt: skip
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


class Holder(threading.Thread):
    """A runner on another host whose wall clock is `skew` seconds off ours: it keeps bumping its counter."""

    def __init__(self, run_dir: Path, skew: float):
        super().__init__(daemon=True)
        self.run_dir, self.skew, self.stop = run_dir, skew, threading.Event()

    def run(self) -> None:
        beat = 1
        while not self.stop.wait(0.2):
            beat += 1
            other_host_lease(self.run_dir, 1, time.time() + self.skew, beat)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "slow.yaml").write_text(SLOW)
    (tmp_path / "fast").write_text("")
    assert run_cli("run", "slow.yaml", "--store", "store", "--run-id", "r", cwd=tmp_path).returncode == 0
    for lease in (tmp_path / "store/runs/r").glob("lease-*.json"):
        lease.unlink()
    return tmp_path


@pytest.mark.parametrize("skew", [-120.0, 600.0])
def test_a_live_holder_on_a_host_with_another_clock_keeps_its_run(project, skew):
    run_dir = project / "store/runs/r"
    (run_dir / "status.json").unlink()  # the run is another host's, still running: it has no final status yet
    other_host_lease(run_dir, 1, time.time() + skew)
    holder = Holder(run_dir, skew)
    holder.start()
    try:
        resumed = run_cli("run", "slow.yaml", "--store", "store", "--resume", "r", cwd=project)
    finally:
        holder.stop.set()
        holder.join()
    assert resumed.returncode == 2, resumed.stderr
    assert "being run by process 42 on pod-7" in resumed.stderr and "heartbeat moved" in resumed.stderr
    assert sorted(p.name for p in run_dir.glob("lease-*.json")) == ["lease-1.json"]  # not taken


@pytest.mark.parametrize("skew", [-120.0, 600.0])
def test_a_silent_holder_on_another_host_is_taken_over_after_the_stale_period(project, skew):
    run_dir = project / "store/runs/r"
    other_host_lease(run_dir, 1, time.time() + skew)
    heard = []
    lease = Lease(RunStore(project / "store", "r"), stale=1.5, notify=heard.append)
    started = time.monotonic()
    lease.acquire()
    assert 1.5 <= time.monotonic() - started < 10
    assert lease.number == 2 and lease.previous is not None and lease.previous.host == "pod-7"
    assert "watching its heartbeat" in heard[0]
    lease.release()


def test_a_holder_whose_counter_moves_is_not_taken_over_in_process(project):
    run_dir = project / "store/runs/r"
    other_host_lease(run_dir, 1, 0.0)  # a wall clock that says it died long ago
    holder = Holder(run_dir, -10_000)
    holder.start()
    try:
        with pytest.raises(LeaseHeld, match="heartbeat moved"):
            Lease(RunStore(project / "store", "r"), stale=5.0).acquire()
    finally:
        holder.stop.set()
        holder.join()


def test_a_runner_that_lost_its_lease_stops_without_writing_the_status(project):
    (project / "fast").unlink()
    runner = subprocess.Popen(
        [sys.executable, "-m", "transpile", "run", "slow.yaml", "--store", "store", "--run-id", "lost"],
        cwd=project, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_dir = project / "store/runs/lost"
    deadline = time.monotonic() + 60
    while not (run_dir / "nodes/wait/attempt.1/record.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    other_host_lease(run_dir, 2, time.time())  # another runner took the run over
    (run_dir / "status.json").write_text(json.dumps({"status": "running", "runner": "pod-7:42:1"}))
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "another runner took over" in err, err
    assert json.loads((run_dir / "status.json").read_text())["runner"] == "pod-7:42:1"  # left to the taker
