"""`transpile submit --dry-run`: `client` needs no cluster and its offline checks accept what transpile
compiles; `server` persists nothing and says what it would create or update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support.submit_api import submit


def test_dry_run_client_needs_no_kubeconfig(tmp_path):
    env = {"KUBECONFIG": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}
    result = run_cli("submit", "samples/etl.yaml", "--dry-run", "client", "--run", "-p", "date=x", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "would create or update PersistentVolumeClaim default/transpile-store (client dry run, nothing sent)",
        "would create or update WorkflowTemplate default/etl-daily (client dry run, nothing sent)",
        "would create a Workflow from etl-daily with date=x",
        "etl-daily-(dry-run)",
    ]
    bad = run_cli("submit", "samples/etl.yaml", "--dry-run", "client", "--run", "-p", "nope=1", env=env)
    assert bad.returncode == 2 and "unknown parameter 'nope'" in bad.stderr


def test_dry_run_server_persists_nothing_and_says_so(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "--dry-run", "server", "--run")
    assert result.returncode == 0, result.stderr
    assert server.writes() and all(r.query.get("dryRun") == ["All"] for r in server.writes())
    assert server.objects == {}
    lines = result.stdout.splitlines()
    assert "would create PersistentVolumeClaim data/transpile-store (server dry run)" in lines
    assert "would create WorkflowTemplate data/etl-daily (server dry run)" in lines
    assert "would create a Workflow from etl-daily (server dry run)" in lines
    assert not any(line.startswith("created") for line in lines)
    # against objects that exist: "would update" when they differ, "up to date" when they do not
    assert submit(tmp_path, server).returncode == 0
    result = submit(tmp_path, server, "--dry-run", "server")
    assert "WorkflowTemplate data/etl-daily is up to date, left as is" in result.stdout.splitlines()
    (tmp_path / "deploy.yaml").write_text("parallelism: 3\n")
    result = submit(tmp_path, server, "--dry-run", "server", "-c", str(tmp_path / "deploy.yaml"))
    assert "would update WorkflowTemplate data/etl-daily (server dry run)" in result.stdout.splitlines()


@pytest.mark.parametrize("shape", ["etl", "etl-deploy", "scheduled", "nested-maps", "wide"])
def test_the_offline_checks_accept_what_transpile_compiles(tmp_path, shape):
    from benchmarks.pipelines import nested_maps, wide

    args = ["--dry-run", "client", "-o", "json"]
    target = "samples/etl.yaml"
    if shape == "etl-deploy":
        args += ["-c", "samples/deploy.yaml"]
    elif shape == "scheduled":
        target = str(tmp_path / "p.yaml")
        Path(target).write_text(
            "name: nightly\nschedule: {cron: '0 2 * * *', timezone: Europe/Paris}\n"
            "steps:\n  one: {python: m:f, image: i}\n"
        )
        (tmp_path / "deploy.yaml").write_text("volume: {mode: template}\n")
        args += ["-c", str(tmp_path / "deploy.yaml")]
    elif shape != "etl":
        target = str(tmp_path / "p.yaml")
        Path(target).write_text({"nested-maps": nested_maps, "wide": wide}[shape](900))
    result = run_cli("submit", target, *args)
    assert result.returncode == 0, result.stderr
    kinds = [o["kind"] for o in json.loads(result.stdout)["objects"]]
    assert "WorkflowTemplate" in kinds
    assert ("CronWorkflow" in kinds) == (shape == "scheduled")
