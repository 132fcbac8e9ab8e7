"""A corrupt store file of every kind (run.json, status.json, record.json, result.json, a map item, a lease, a
cached plan): reading commands flag it by name and read the rest (exit 0); `--resume` refuses the run before it
touches anything (no lease taken, status untouched), naming the file and the fix; a cached plan is rebuilt."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import transpile
from tests.conftest import run_cli

PIPELINE = """\
name: c
parameters: {xs: [0, 1]}
steps:
  a: {shell: 'echo 1 > "$TRANSPILE_RETURNS/one"', returns: [one]}
  m: {needs: [a], map: {over: xs, as: x, steps: {s: {shell: 'echo "$x" > "$TRANSPILE_RETURNS/v"', returns: [v]}}}}
  b: {needs: [m], shell: 'test -f "$TRANSPILE_PIPELINE_DIR/ok"'}
"""
RUN = "store/runs/c"
# kind -> (file, whether `runs list`/`runs show`/`load_run` read it)
KINDS = {
    "run": ("run.json", True),
    "status": ("status.json", True),
    "record": ("nodes/a/attempt.1/record.json", True),
    "result": ("nodes/a/result.json", True),
    "item": ("nodes/m/items.d/0.json", False),
    "lease": ("lease-1.json", False),
}
GARBAGE = {"run": '{"run_id": 1}', "status": "[]", "record": "{", "result": '{"returns": 5}', "item": "{x", "lease": ""}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "c.yaml").write_text(PIPELINE)
    failed = run_cli("run", "c.yaml", "--store", "store", "--run-id", "c", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert (tmp_path / RUN / "lease-1.json").is_file()
    return tmp_path


@pytest.mark.parametrize("kind", list(KINDS))
def test_reading_commands_flag_the_broken_file_and_read_the_rest(project, kind):
    name, read = KINDS[kind]
    (project / RUN / name).write_text(GARBAGE[kind])
    run_cli("run", "c.yaml", "--store", "store", "--run-id", "other", cwd=project)  # a healthy run beside it
    listing = run_cli("runs", "list", "--store", "store", cwd=project)
    assert listing.returncode == 0, listing.stderr
    assert {line.split()[0] for line in listing.stdout.splitlines()[1:]} == {"c", "other"}
    shown = run_cli("runs", "show", "c", "--store", "store", cwd=project)
    assert shown.returncode == 0, shown.stderr
    loaded = transpile.load_run("c", store=project / "store")
    if read:
        assert f"{RUN}/{name}" in listing.stderr and f"{RUN}/{name}" in shown.stdout
        assert any(name in problem for problem in loaded.problems)
    assert "Traceback" not in listing.stderr + shown.stderr
    assert "b" in [node.key for node in loaded.failed] or kind == "status"


@pytest.mark.parametrize("kind", list(KINDS))
def test_resume_refuses_a_run_it_cannot_read_before_touching_it(project, kind):
    name, _ = KINDS[kind]
    (project / RUN / name).write_text(GARBAGE[kind])
    before = {p.relative_to(project): p.read_bytes() for p in (project / RUN).rglob("*") if p.is_file()}
    (project / "ok").write_text("")
    started = time.monotonic()
    resumed = run_cli("run", "c.yaml", "--store", "store", "--resume", "c", cwd=project)
    assert resumed.returncode == 2, resumed.stderr
    assert time.monotonic() - started < 30  # refused at once, no waiting on a lease nobody holds
    assert f"{RUN}/{name}" in resumed.stderr and "Traceback" not in resumed.stderr
    after = {p.relative_to(project): p.read_bytes() for p in (project / RUN).rglob("*") if p.is_file()}
    assert after == before  # no lease taken, status not overwritten, nothing recorded
    if kind == "run":
        return  # a run without its record cannot resume
    assert "delete" in resumed.stderr  # the fix
    (project / RUN / name).unlink()
    if kind == "item":
        (project / RUN / "nodes/m/result.json").unlink()
    again = run_cli("run", "c.yaml", "--store", "store", "--resume", "c", cwd=project)
    assert again.returncode == 0, again.stderr
    assert transpile.load_run("c", store=project / "store").ok


def test_a_map_item_that_cannot_be_read_fails_its_node_clearly(project):
    (project / RUN / "nodes/m/items.d/1.json").write_text("{x")
    node = run_cli("execute-node", "--pipeline", "c.yaml", "--store", "store", "--run-id", "c", "--node", "m/s",
                   "--indices", "1", "--force", cwd=project)  # fmt: skip
    assert node.returncode == 1 and "Traceback" not in node.stderr
    assert "cannot read" in node.stderr and "items.d/1.json" in node.stderr


def test_a_corrupt_cached_plan_is_compiled_again_and_repaired(project):
    (cached,) = (project / "store/cache/pipelines").glob("*.json")
    for garbage in ("{", json.dumps({"plan_version": 1})):
        cached.write_text(garbage)
        node = run_cli("execute-node", "--pipeline", "c.yaml", "--store", "store", "--run-id", "n", "--node", "a",
                       cwd=project)  # fmt: skip
        assert node.returncode == 0, node.stderr
        assert json.loads(cached.read_text())["name"] == "c"  # rewritten whole
    cached.write_text("{")
    assert run_cli("run", "c.yaml", "--store", "store", "--run-id", "again", cwd=project).returncode == 1
    assert json.loads(cached.read_text())["name"] == "c"
