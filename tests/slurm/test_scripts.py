"""The generated SLURM script: hostile strings travel through it byte for byte (on the cluster); it is
shellcheck-clean and deterministic, refuses bad flags before submitting, turns settings into sbatch options,
refuses what SLURM cannot do with a located error, and quotes every word as bash reads it back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.support.hostile import NAMES, VALUES
from tests.support.pipelines import NESTED, OPS_PIPELINE
from tests.support.slurm_jobs import compile_script, make_project, run_both, submit
from transpile.backends.slurm import cpus, megabytes, q, time_limit
from transpile.plan.model import Retries
from transpile.plan.model import Settings as StepSettings


def hostile_pipeline() -> dict:
    """Hostile parameter values, env values, map items, switch case names and step names."""
    case = VALUES[0]  # a case named with quotes and backslashes (names hold no '/' or control characters)
    steps: dict = {
        name: {"shell": f'printf %s "$ENV_{i}" > "$TRANSPILE_RETURNS/e{i}"', "returns": [f"e{i}"]}
        for i, name in enumerate(NAMES)
    }
    steps["say"] = {"shell": 'printf %s "$text" > "$TRANSPILE_RETURNS/t"', "returns": ["t"]}
    steps["fan"] = {
        "map": {"over": "items", "as": "item", "steps": {"echo": {"python": "hostile_steps:same", "returns": ["o"]}}}
    }
    steps["route"] = {
        "switch": {
            "on": "choice",
            "cases": {case: {"steps": {"x": {"stub": True}}}, "other": {"steps": {"y": {"stub": True}}}},
        }
    }
    return {
        "name": "hostile",
        "parameters": {"text": "", "items": [], "choice": "other"},
        "defaults": {"env": {f"ENV_{i}": value for i, value in enumerate(VALUES)}},
        "steps": steps,
    }


# -- on the cluster ---------------------------------------------------------------------------------------
def test_hostile_strings_travel_byte_for_byte(tmp_path, slurm):
    project = make_project(tmp_path / "it's a %j $(touch pwned) dir", options=["--comment=it's %j"])
    (project / "hostile.yaml").write_text(json.dumps(hostile_pipeline(), ensure_ascii=False))
    (project / "hostile_steps.py").write_text("def same(item):\n    return item\n")
    params = [f"text={VALUES[6]}", f"items={json.dumps(list(VALUES))}", f"choice={VALUES[0]}"]
    readers = ("load-data", "it-s", "workflow-name", "id", "items", "attempt-1", "select", "each")
    done, run = run_both(project, "hostile.yaml", slurm, *params, env_readers=readers)
    assert done.returncode == 0, done.stderr[-3000:]
    assert run.result("say").returns["t"] == VALUES[6]
    assert [run.result(f"fan@{i}/echo").returns["o"] for i in range(len(VALUES))] == list(VALUES)
    env_seen = [run.result(k).returns[f"e{i}"] for i, k in enumerate(readers)]
    assert env_seen == [v.removesuffix("\n") for v in VALUES[:8]]
    assert run.result("route").case == VALUES[0] and run.result("route/it-s-quoted-back-slash/x") is not None
    assert not Path("/tmp/pwned").exists() and not (project / "pwned").exists()


# -- without a cluster ------------------------------------------------------------------------------------
PIPELINES = {"etl": "samples/etl.yaml", "ops": OPS_PIPELINE, "nested": NESTED, "hostile": hostile_pipeline()}


def write_pipeline(project: Path, name: str) -> str:
    text = PIPELINES[name]
    if name == "etl":
        return text
    (project / f"{name}.yaml").write_text(text if isinstance(text, str) else json.dumps(text, ensure_ascii=False))
    return f"{name}.yaml"


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_scripts_are_shellcheck_clean_and_deterministic(project, shellcheck, name):
    pipeline = write_pipeline(project, name)
    first = compile_script(project, pipeline)
    text = first.read_bytes()
    again = run_cli("compile", pipeline, "-t", "slurm", "-c", "deploy.yaml", cwd=project)
    assert again.stdout.encode() == text
    checked = subprocess.run([shellcheck, "--severity=style", str(first)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_script_refuses_bad_flags_before_submitting(project):
    script = compile_script(project, "samples/etl.yaml")
    for args, message in [
        (["-p", "nope=1"], "unknown parameter: nope"),
        (["-p", "date"], "-p expects NAME=VALUE"),
        (["--run-id", "a/b"], "--run-id may hold only"),
        (["--bogus"], "unknown argument: --bogus"),
    ]:
        done = submit(script, {**os.environ, "PATH": "/usr/bin:/bin"}, *args, cwd=project)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert not (project / "store").exists()
    usage = submit(script, dict(os.environ), "--help", cwd=project)
    assert usage.returncode == 0 and "parameters: date shards" in usage.stdout


def test_settings_become_sbatch_options(project):
    (project / "deploy.yaml").write_text(
        yaml.safe_dump(
            {
                "parallelism": 3,
                "slurm": {"partition": "gpu", "account": "lab", "qos": "high", "options": ["--constraint=avx2"]},
            }
        )
    )
    text = compile_script(project, "samples/etl.yaml").read_text()
    assert "SBATCH_OPTIONS=(--partition=gpu --account=lab --qos=high --constraint=avx2)" in text
    assert "RESOURCES=(--cpus-per-task=1 --mem=1024M --gres=gpu:1 --time=93)" in text
    assert "ARRAY_LIMIT=3" in text and "STORE=''" in text and 'SECRETS_DIR="$HOME"/.transpile/secrets' in text
    assert "DELAYS=(30 60)" in text and "TIMEOUT=1800" in text and "CASES=(ship 2 hold 3)" in text


def test_targets_lists_slurm():
    result = run_cli("targets")
    assert result.returncode == 0 and "slurm" in result.stdout


def test_schedule_is_refused_with_a_scrontab_hint(project):
    (project / "s.yaml").write_text("name: s\nschedule: {cron: '0 3 * * *'}\nsteps:\n  a: {stub: true}\n")
    result = run_cli("compile", "s.yaml", "-t", "slurm", cwd=project)
    assert result.returncode == 2
    assert "s.yaml:2:1" in result.stderr and "SLURM has no schedule" in result.stderr
    assert "0 3 * * * bash /path/to/s.slurm.sh" in result.stderr


def test_unreadable_quantities_are_located_errors(project):
    (project / "r.yaml").write_text("name: r\nsteps:\n  a: {stub: true, resources: {cpu: lots, memory: 1 lot}}\n")
    result = run_cli("compile", "r.yaml", "-t", "slurm", cwd=project)
    assert result.returncode == 2, result.stderr
    # the pipeline's own checks refuse them first, each at its line (the backend's refusal is the fallback)
    assert "'lots' is not a Kubernetes quantity" in result.stderr and "'1 lot'" in result.stderr
    assert "r.yaml:3:" in result.stderr


def test_bad_sbatch_option_is_a_config_error(project):
    (project / "deploy.yaml").write_text("slurm: {options: ['constraint=avx2']}\n")
    result = run_cli("compile", "samples/etl.yaml", "-t", "slurm", "-c", "deploy.yaml", cwd=project)
    assert result.returncode == 2 and "must start with '-'" in result.stderr


def test_quantities_and_time_limits():
    assert [cpus(c) for c in ("500m", 1, "1.5", 2.0, "2000m")] == [1, 1, 2, 2, 2]
    assert [megabytes(m) for m in ("1Gi", "512Mi", "1G", "100M", "1000", "1.5Gi")] == [1024, 512, 954, 96, 1, 1536]
    assert megabytes("lots") is None and cpus("lots") is None and cpus("nan") is None and cpus(0) is None
    assert time_limit(StepSettings()) is None
    assert time_limit(StepSettings(timeout=600)) == 11
    assert time_limit(StepSettings(timeout=1800, retries=Retries(2, 30, 2, 600))) == 93


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
def test_every_quoted_word_is_the_text_itself(text):
    word = q(text)
    assert "\n" not in word
    assert subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True).stdout == text.encode()
