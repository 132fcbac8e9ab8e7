"""`transpile submit --run`: the Workflow it creates from the template (parameters, the run's cache mode),
`--wait` until the run ends, fails or times out, and the output for scripts (`--quiet`, `-o json`)."""

from __future__ import annotations

import json

import pytest

from tests.support.submit_api import created, submit


def test_run_and_wait(api, tmp_path):
    polls = []

    def respond(method, path, body):
        if method == "GET" and "/workflows/" in path:
            polls.append(path)
            phase = "Running" if len(polls) < 3 else "Succeeded"
            return 200, {
                "metadata": {"name": "etl-daily-x7k2p"},
                "status": {"phase": phase, "progress": f"{len(polls)}/3"},
            }
        return created(method, path, body)

    server = api(respond)
    result = submit(tmp_path, server, "--run", "-p", "date=2026-02-02", "--wait", "--poll", "0.05")
    assert result.returncode == 0, result.stderr
    run = next(r for r in server.requests if r.path.endswith("/workflows"))
    assert run.method == "POST"
    assert run.body["spec"] == {
        "workflowTemplateRef": {"name": "etl-daily"},
        "arguments": {"parameters": [{"name": "date", "value": "2026-02-02"}]},
    }
    assert run.body["metadata"]["generateName"] == "etl-daily-"
    lines = result.stdout.splitlines()
    assert "etl-daily-x7k2p" in lines
    assert "workflow etl-daily-x7k2p: Running 1/3" in lines and lines[-1] == "workflow etl-daily-x7k2p: Succeeded 3/3"


def test_wait_exits_one_when_the_run_fails(api, tmp_path):
    def respond(method, path, body):
        if method == "GET" and "/workflows/" in path:
            return 200, {"status": {"phase": "Failed", "message": "child 'extract' failed"}}
        return created(method, path, body)

    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05")
    assert result.returncode == 1
    assert "Failed" in result.stdout and "child 'extract' failed" in result.stdout


@pytest.mark.parametrize(
    ("flags", "mode"), [(["--no-cache"], "off"), (["--refresh", "clean", "--refresh", "gate"], "refresh=clean,gate")]
)
def test_cache_flags_become_the_runs_cache_parameter(api, tmp_path, flags, mode):
    server = api()
    result = submit(tmp_path, server, "--run", *flags)
    assert result.returncode == 0, result.stderr
    run = next(r for r in server.requests if r.path.endswith("/workflows"))
    assert run.body["spec"]["arguments"] == {"parameters": [{"name": "transpile_cache", "value": mode}]}


def test_quiet_and_json_output_for_scripts(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "--run", "--quiet")
    assert result.returncode == 0, result.stderr
    (workflow,) = result.stdout.splitlines()
    assert workflow.startswith("etl-daily-") and ("workflows", "data", workflow) in server.objects
    result = submit(tmp_path, server, "--run", "--output", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["workflow"].startswith("etl-daily-") and document["workflow"] != workflow
    assert document["namespace"] == "data" and document["dryRun"] is None
    assert {"kind": "WorkflowTemplate", "name": "etl-daily", "action": "unchanged"} in document["objects"]
    assert "WorkflowTemplate data/etl-daily is up to date, left as is" in result.stderr


def test_a_wait_that_times_out_exits_one(api, tmp_path):
    def respond(method, path, body):
        if method == "GET" and "/workflows/" in path:
            return 200, {"status": {"phase": "Running", "progress": "1/3"}}
        return created(method, path, body)

    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05", "--timeout", "0.3")
    assert result.returncode == 1, result.stderr
    assert "still Running after 0.3s" in result.stdout and "Traceback" not in result.stderr
    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05", "--timeout", "0.3", "-o", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["phase"] == "Running" and document["timedOut"] is True
