"""What is right stays accepted: the checks follow the engines, not a narrower taste (the counterpart of the
bad-input corpus, tests/test_bad_inputs.py): step settings, schedules and deploy configs each engine accepts."""

from __future__ import annotations

import pytest

from tests.support.inprocess import run_main
from tests.support.input_cases import OK, step, top

GOOD_STEP_SETTINGS = [
    "resources: {cpu: 500m, memory: 512Mi}",
    "resources: {cpu: 2, memory: 1Gi, gpu: 1}",
    "resources: {cpu: 0.5, memory: 1.5G}",
    "resources: {cpu: '1e3', memory: 100Ki}",
    "resources: {memory: 128974848}".replace("128974848", "'128974848'"),
    "retries: {limit: 2147483647, backoff: 1d, factor: 2, max_backoff: 10m}",
    "timeout: 2147483647",
    "node_selector: {'kubernetes.io/arch': amd64, 'cloud.google.com/gke-nodepool': pool-1, tier: ''}",
    "tolerations: [{key: 'example.com/gpu', operator: Exists, effect: NoSchedule, toleration_seconds: 30}]",
    "secrets: [{secret: db.credentials-1, key: pass_word.txt, env: DB_PASSWORD}]",
    "catalog: {get: ['data/*.csv', 'models/**'], put: ['out/result.parquet', '*.json']}",
    "image: 'registry.example.com:5000/team/etl@sha256:" + "ab" * 32 + "'",
    "env: {PATH_EXTRA: x, HOME_DIR: y, MY_PATH: z}",
    "returns: [path, home, ifs, transpile_result]",
]
GOOD_SCHEDULES = [
    "'0 3 * * *'", "'*/15 9-17 * * 1-5'", "'0 0 1 JAN-DEC MON-FRI'", "'0 0 ? * SUN'", "'5/10 * * * *'",
    "'0 0 1,15 * *'", "'@daily'", "'@hourly'", "'@every 1h30m'", "'@every 90s'", "'0 12 * jul sat'",
    "{cron: '@daily', timezone: Europe/Paris}", "{cron: '0 3 * * *', timezone: America/Argentina/Buenos_Aires}",
    "{cron: '0 3 * * *', timezone: UTC, concurrency_policy: Forbid}",
]  # fmt: skip
GOOD_DEPLOYS = [
    "namespace: data-eng\nservice_account: etl-runner.v2\nlabels: {'app.kubernetes.io/name': etl, team: data_eng.1}\n",
    "volume: {claim: store-1, size: 500Gi, storage_class: fast.ssd, mount_path: /data, mode: template}\n",
    "parallelism: 2147483647\nttl: 7d\nimage: python:3.12-slim\n",
]


@pytest.mark.parametrize("setting", GOOD_STEP_SETTINGS)
def test_good_step_settings_are_accepted(tmp_path, capsys, monkeypatch, setting):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(step(f"shell: x, {setting}"))
    result = run_main(capsys, "check", "p.yaml", "-t", "argo")
    assert result.code == 0, result.err


@pytest.mark.parametrize("schedule", GOOD_SCHEDULES)
def test_good_schedules_are_accepted(tmp_path, capsys, monkeypatch, schedule):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(top(f"schedule: {schedule}\n"))
    assert run_main(capsys, "check", "p.yaml").code == 0, capsys.readouterr().err


@pytest.mark.parametrize("text", GOOD_DEPLOYS)
def test_good_deploy_configs_are_accepted(tmp_path, capsys, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(OK)
    (tmp_path / "d.yaml").write_text(text)
    result = run_main(capsys, "check", "p.yaml", "-c", "d.yaml")
    assert result.code == 0, result.err


def test_prefect_reserved_words_are_not_refused_here(tmp_path, capsys, monkeypatch):
    """`wait_for` and `return_state` are routed safely by the Prefect backend, not refused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(top("parameters: {wait_for: 1, return_state: 2}\n"))
    assert run_main(capsys, "check", "p.yaml").code == 0
