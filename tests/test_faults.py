"""Store faults are outcomes, never crashes: a store that fills up or turns read-only mid-run ends the attempt
`failed` with the reason (exit 1 for `execute-node`, which engines retry), the run `interrupted` with the resume
command, nothing left `running` and no traceback; and a run resumes once the store is writable again."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import transpile
from tests.conftest import REPO, run_cli
from tests.support.outcomes import outcomes
from transpile.runtime.store import RunStore

BIG = "def make(i=0):\n    return 'x' * 200_000\n"
PIPELINE = """\
name: big
parameters: {xs: [0, 1, 2, 3, 4, 5]}
steps:
  m: {map: {over: xs, as: i, steps: {s: {python: big:make, returns: [v]}}}}
  after: {needs: [m], python: big:make}
"""
SLOW = """\
name: slow
parameters: {xs: [0, 1, 2, 3]}
steps:
  first: {shell: 'echo hi'}
  m:
    needs: [first]
    map: {over: xs, as: i, steps: {s: {shell: 'sleep 1; echo "$i" > "$TRANSPILE_RETURNS/v"', returns: [v]}}}
  after: {needs: [m], shell: 'echo done'}
"""


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def project(tmp_path: Path):
    """A project whose store is a small tmpfs mounted at `mnt` (mounting needs root: skipped without it,
    except under CI=true)."""
    (tmp_path / "big.py").write_text(BIG)
    (tmp_path / "big.yaml").write_text(PIPELINE)
    (tmp_path / "slow.yaml").write_text(SLOW)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt))
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield tmp_path
    finally:
        for _ in range(3):  # the tmpfs, and a read-only bind over it (lazily: a process may still hold it)
            if subprocess.run(["umount", "-l", str(mnt)], capture_output=True).returncode != 0:
                break


def resize(project: Path, size: str) -> None:
    assert _mount("-o", f"remount,size={size}", str(project / "mnt")).returncode == 0


def make_read_only(project: Path) -> None:
    """Turn the store read-only under the running processes: a read-only bind mount over it (files they hold
    open keep working, every new write is refused with EROFS)."""
    mnt, side = str(project / "mnt"), project / "side"
    side.mkdir(exist_ok=True)
    assert _mount("--bind", mnt, str(side)).returncode == 0  # made read-only aside (nothing writes there),
    assert _mount("-o", "remount,bind,ro", str(side)).returncode == 0
    assert _mount("--move", str(side), mnt).returncode == 0  # then moved over the store at once


def make_writable(project: Path) -> None:
    assert subprocess.run(["umount", str(project / "mnt")]).returncode == 0


def nothing_running(project: Path, run_id: str) -> None:
    """Every reader sees the run ended and no attempt running."""
    run = transpile.load_run(run_id, store=project / "mnt/store")
    assert run.status == "interrupted", run.status
    assert not [key for key, node in run.nodes.items() if node.status == "running"]
    listing = run_cli("runs", "list", "--store", "mnt/store", cwd=project)
    assert listing.returncode == 0 and listing.stdout.splitlines()[1].split()[2] == "interrupted", listing.stdout


@pytest.mark.parametrize("size", ["40k", "120k", "400k", "1100k"])
def test_a_store_that_fills_up_ends_the_run_interrupted_and_resumable(project, size):
    reference = run_cli("run", "big.yaml", "--store", "ref", "--run-id", "full", cwd=project)
    assert reference.returncode == 0, reference.stderr
    resize(project, size)
    result = run_cli("run", "big.yaml", "--store", "mnt/store", "--run-id", "full", "--parallelism", "2", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "No space left on device" in result.stderr and "--resume full" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    nothing_running(project, "full")
    resize(project, "64m")
    resumed = run_cli("run", "big.yaml", "--store", "mnt/store", "--resume", "full", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert outcomes(RunStore(project / "mnt/store", "full")) == outcomes(RunStore(project / "ref", "full"))


def test_execute_node_on_a_full_store_fails_retryably(project):
    base = ("execute-node", "--pipeline", "big.yaml", "--store", "mnt/store", "--run-id", "e", "--no-echo")
    assert run_cli(*base, "--node", "m", cwd=project).returncode == 0
    resize(project, "300k")
    codes = [run_cli(*base, "--node", "m/s", "--indices", str(i), cwd=project) for i in range(3)]
    assert [c.returncode for c in codes] == [0, 1, 1], [c.stderr for c in codes]  # 1: engines retry it
    assert all("Traceback" not in c.stderr for c in codes) and "No space left on device" in codes[1].stderr
    record = json.loads((project / "mnt/store/runs/e/nodes/m@1/s/attempt.1/record.json").read_text())
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    resize(project, "64m")
    again = run_cli(*base, "--node", "m/s", "--indices", "1", cwd=project)  # the engine's retry
    assert again.returncode == 0, again.stderr


def test_a_store_turned_read_only_mid_run(project, monkeypatch):
    runner = subprocess.Popen(
        [sys.executable, "-m", "transpile", "run", "slow.yaml", "--store", "mnt/store", "--run-id", "ro"],
        cwd=project, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    record = project / "mnt/store/runs/ro/nodes/m@0/s/attempt.1/record.json"
    deadline = time.monotonic() + 60
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    make_read_only(project)
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 1, err
    assert "Read-only file system" in err and "--resume ro" in err and "Traceback" not in err
    nothing_running(project, "ro")
    make_writable(project)
    resumed = run_cli("run", "slow.yaml", "--store", "mnt/store", "--resume", "ro", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    monkeypatch.chdir(project)  # the run's values need its pipeline file
    run = transpile.load_run("ro", store="mnt/store")
    assert run.ok and run.values["v"] == [0, 1, 2, 3]


def test_execute_node_on_a_read_only_store_fails_retryably(project):
    base = ("execute-node", "--pipeline", "slow.yaml", "--store", "mnt/store", "--no-echo")
    assert run_cli(*base, "--run-id", "e", "--node", "first", cwd=project).returncode == 0
    make_read_only(project)
    try:
        for run_id, node in (("e", "m"), ("new", "first")):
            result = run_cli(*base, "--run-id", run_id, "--node", node, cwd=project)
            assert result.returncode == 1, result.stderr
            assert "Read-only file system" in result.stderr and "Traceback" not in result.stderr
    finally:
        with contextlib.suppress(AssertionError):
            make_writable(project)
