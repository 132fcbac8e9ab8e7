"""What `transpile run` and `transpile runs` print: a failure line that helps, a progress line naming what runs,
JSON for scripts, the latest run by default, and plain refusals for a store that is a file or a run that
already succeeded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

FAILING = """\
name: p
steps:
  boom: {shell: "echo to stdout; echo 'first complaint' >&2; echo 'second complaint' >&2; exit 3"}
  slow: {shell: "sleep 1"}
"""
PASSING = (
    "name: ok\nsteps:\n  a: {shell: 'echo 1 > $TRANSPILE_RETURNS/n', returns: [n]}\n  b: {needs: [a], stub: true}\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(FAILING)
    (tmp_path / "ok.yaml").write_text(PASSING)
    return tmp_path


def test_a_failed_step_shows_its_last_stderr_lines_and_where_its_logs_are(project):
    result = run_cli("run", "p.yaml", "--store", "s", "--run-id", "r1", cwd=project)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    at = lines.index("failed: boom: the shell command exited with code 3")
    logs = project / "s/runs/r1/nodes/boom/attempt.1/stderr.log"
    assert lines[at + 1] == f"  logs: {logs} (and stdout.log)"
    assert lines[at + 2 : at + 4] == ["  | first complaint", "  | second complaint"]
    assert "to stdout" not in result.stderr  # stdout is in its own log, not mixed into the tail


def test_the_progress_line_names_the_running_steps_and_their_time(project):
    result = run_cli("run", "p.yaml", "--store", "s", "--parallelism", "2", cwd=project)
    progress = [line for line in result.stderr.splitlines() if line.startswith("[") and "running 2" in line]
    assert progress, result.stderr
    named = progress[0].split("(", 1)[1]
    assert "boom " in named and "slow " in named and "s" in named.rsplit(" ", 1)[-1]


def test_runs_list_and_show_print_json_for_scripts(project):
    assert run_cli("run", "ok.yaml", "--store", "s", "--run-id", "good", cwd=project).returncode == 0
    assert run_cli("run", "p.yaml", "--store", "s", "--run-id", "bad", cwd=project).returncode == 1
    listed = run_cli("runs", "list", "--store", "s", "--json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    runs = {run["run_id"]: run for run in json.loads(listed.stdout)["runs"]}
    assert runs["good"]["status"] == "succeeded" and runs["good"]["failed"] == []
    assert runs["bad"]["status"] == "failed" and runs["bad"]["failed"] == ["boom"]
    shown = run_cli("runs", "show", "bad", "--store", "s", "--json", cwd=project)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    nodes = {node["key"]: node for node in data["nodes"]}
    assert data["status"] == "failed" and data["pipeline"] == "p" and data["parameters"] == {}
    assert nodes["boom"]["error"] == "the shell command exited with code 3" and nodes["boom"]["attempts"] == 1
    assert Path(nodes["boom"]["stderr"]).read_text().startswith("first complaint")
    assert nodes["slow"]["status"] == "succeeded"
    good = json.loads(run_cli("runs", "show", "good", "--store", "s", "--json", cwd=project).stdout)
    assert {node["key"]: node["returns"] for node in good["nodes"]} == {"a": {"n": 1}, "b": {}}


def test_runs_show_without_an_id_shows_the_latest_run(project):
    assert run_cli("run", "ok.yaml", "--store", "s", "--run-id", "first", cwd=project).returncode == 0
    assert run_cli("run", "p.yaml", "--store", "s", "--run-id", "second", cwd=project).returncode == 1
    shown = run_cli("runs", "show", "--store", "s", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("run second ")
    empty = run_cli("runs", "show", "--store", "nothing-here", cwd=project)
    assert empty.returncode == 2 and "no runs in nothing-here" in empty.stderr and "Traceback" not in empty.stderr


@pytest.mark.parametrize(
    "argv",
    [("run", "ok.yaml"), ("runs", "list"), ("runs", "list", "--json"), ("runs", "show", "x"), ("runs", "show")],
)
def test_a_store_that_is_a_file_is_a_one_line_error(project, argv):
    (project / "afile").write_text("not a store\n")
    result = run_cli(*argv, "--store", "afile", cwd=project)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: Not a directory: afile\n"
    assert "Traceback" not in result.stderr and "/tmp" not in result.stderr.replace(str(project), "")
    assert (project / "afile").read_text() == "not a store\n"


def test_the_api_refuses_a_store_that_is_a_file(project):
    (project / "afile").write_text("")
    code = "import transpile\ntry:\n    transpile.run('ok.yaml', store='afile')\n"
    code += "except transpile.CompileError as e:\n    print(e)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Not a directory: afile" in done.stdout


def test_resuming_a_run_that_succeeded_is_refused(project):
    assert run_cli("run", "ok.yaml", "--store", "s", "--run-id", "done", cwd=project).returncode == 0
    before = sorted(p.relative_to(project) for p in (project / "s/runs/done").rglob("*"))
    result = run_cli("run", "ok.yaml", "--store", "s", "--resume", "done", cwd=project)
    assert result.returncode == 2
    assert "run 'done' already succeeded: there is nothing to resume" in result.stderr
    assert "transpile run ok.yaml" in result.stderr
    assert sorted(p.relative_to(project) for p in (project / "s/runs/done").rglob("*")) == before
