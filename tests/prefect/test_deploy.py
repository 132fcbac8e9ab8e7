"""A real `prefect deploy`, `prefect deployment run` and a worker (the session's `process` work pool):
values reach the steps byte for byte although `prefect deploy` templates the whole deployment, and
`@every` and cron schedules become what Prefect reads."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import run_cli
from tests.support import injection
from tests.support.prefect_engine import only_run, prefect_cli


def test_hostile_values_survive_a_real_prefect_deploy(tmp_path, prefect_bin, prefect_api, process_pool):
    """`prefect deploy` templates the whole deployment (`{{ x }}` dropped, `{{ $NAME }}` replaced by the
    deployer's environment): the generated prefect.yaml carries no user value, so parameters (the flow's
    defaults, or given per run), env values and map items reach the steps byte for byte after a real
    `prefect deploy`, `prefect deployment run` and a worker. Both cases run in one test: they deploy the same
    deployment name to the server the session's workers share, so they must not run at once."""
    for per_run in (False, True):
        project = tmp_path / ("per-run" if per_run else "defaults")
        project.mkdir()
        _deploy_and_run_hostile_values(project, prefect_bin, prefect_api, process_pool, per_run)


def _deploy_and_run_hostile_values(project: Path, prefect_bin: Path, prefect_api: dict, pool: str, per_run: bool):
    pipeline = injection.write_project(project)
    (project / "deploy.yaml").write_text(
        f"working_dir: {project}\ncommand: [{prefect_bin / 'transpile'}]\nvolume: {{mount_path: {project / 'store'}}}\n"
    )
    # the flow file goes where the deployment's pull step sets the working directory
    result = run_cli("compile", pipeline, "-t", "prefect", "-c", "deploy.yaml", "-o", f"{project}/", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (
        "parameters" not in yaml.load((project / "prefect.yaml").read_text(), Loader=yaml.CSafeLoader)["deployments"][0]
    )
    secret = {injection.SECRET_ENV: "leaked-from-the-deployer"}
    deployed = prefect_cli(prefect_bin, prefect_api, project, "--no-prompt", "deploy", "--all", env=secret)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    given = ["--params", json.dumps(injection.OVERRIDES)] if per_run else []
    started = prefect_cli(prefect_bin, prefect_api, project, "deployment", "run", "inject/inject", *given)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    worker = prefect_cli(prefect_bin, prefect_api, project, "worker", "start", "--pool", pool, "--run-once")
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    run = only_run(project)
    injection.check(run, injection.OVERRIDES if per_run else injection.DEFAULTS, env=True)
    assert "leaked-from-the-deployer" not in json.dumps(run.result("show").returns)


def test_every_schedule_becomes_one_prefect_reads(project, prefect_bin, prefect_api, process_pool):
    """`@every` is an interval (Prefect 3.8.8 refuses `cron: "@every 1h"`), a cron stays a cron; a real
    `prefect deploy` accepts both and stores them."""
    for name, schedule in (("every", "'@every 1h30m'"), ("nightly", "{cron: '0 3 * * *', timezone: Europe/Paris}")):
        (project / f"{name}.yaml").write_text(
            f"name: {name}\ndefaults: {{image: img}}\nschedule: {schedule}\nsteps: {{a: {{stub: true}}}}\n"
        )
        out = project / name
        assert run_cli("compile", f"{name}.yaml", "-t", "prefect", "-o", f"{out}/", cwd=project).returncode == 0
        deployment = yaml.load((out / "prefect.yaml").read_text(), Loader=yaml.CSafeLoader)["deployments"][0]
        deployed = prefect_cli(prefect_bin, prefect_api, out, "--no-prompt", "deploy", "--all")
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        shown = prefect_cli(prefect_bin, prefect_api, out, "deployment", "inspect", f"{name}/{name}")
        assert shown.returncode == 0, shown.stderr
        if name == "every":
            assert deployment["schedules"] == [{"interval": 5400}]
            assert "5400" in shown.stdout or "1:30:00" in shown.stdout
        else:
            assert deployment["schedules"] == [{"cron": "0 3 * * *", "timezone": "Europe/Paris"}]
            assert "0 3 * * *" in shown.stdout
