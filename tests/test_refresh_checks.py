"""`--refresh STEP` on the engines' side: the SLURM script and `transpile submit --run` refuse a step the
pipeline does not cache before they submit anything, as `transpile run` does (one rule: cache_mode.covers)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from transpile.plan.cache_mode import CACHED_ANNOTATION, CACHED_ANNOTATION_BYTES, cached_annotation
from transpile.runtime.loader import load_pipeline

PIPELINE = """\
name: cachy
parameters: {xs: [1, 2]}
defaults: {image: img, cache: true}
steps:
  fetch: {cache: false, shell: 'true'}
  m: {map: {over: xs, as: x, steps: {s: {python: steps:square, returns: [sq]}}}}
  total: {needs: [m], python: steps:total, returns: [sum]}
"""
CHECKED = [("totl", True), ("fetch", True), ("m/t", True), ("total", False), ("m", False), ("m/s", False)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cachy.yaml").write_text(PIPELINE)
    return tmp_path


@pytest.mark.parametrize(("refresh", "refused"), CHECKED)
def test_the_slurm_script_refuses_a_refresh_that_names_no_cached_step(project, refresh, refused):
    """Refused: `sbatch` is never reached. Accepted: it is (a stand-in that fails, so nothing runs)."""
    compiled = run_cli("compile", "cachy.yaml", "-t", "slurm", "-o", "out/", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    fake = project / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text("#!/bin/sh\necho 'sbatch reached' >&2\nexit 1\n")
    (fake / "sbatch").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    argv = ["bash", "out/cachy.slurm.sh", "--refresh", refresh]
    result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    if refused:
        assert f"--refresh {refresh}: no cached step is {refresh} or under it" in result.stderr, result.stderr
        assert "sbatch reached" not in result.stderr
    else:
        assert "sbatch reached" in result.stderr, result.stderr


@pytest.mark.parametrize(("refresh", "refused"), CHECKED)
def test_submit_run_refuses_a_refresh_that_names_no_cached_step(project, refresh, refused):
    """From the compiled spec's annotation, before connecting (`--dry-run client` sends nothing)."""
    compiled = run_cli("compile", "cachy.yaml", "-t", "argo", "-o", "out/", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    spec = next((project / "out").glob("*.yaml"))
    result = run_cli("submit", str(spec), "--run", "--refresh", refresh, "--dry-run", "client", cwd=project)
    if refused:
        assert result.returncode == 2
        assert f"--refresh {refresh}: no cached step is {refresh} or under it" in result.stderr, result.stderr
        assert "cached steps: total, m/s" in result.stderr and "Traceback" not in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert f"transpile_cache: refresh={refresh}" in result.stdout or f"refresh={refresh}" in result.stdout


def test_the_annotation_lists_cached_steps_and_is_left_out_when_too_long(tmp_path):
    (tmp_path / "cachy.yaml").write_text(PIPELINE)
    plan = load_pipeline(str(tmp_path / "cachy.yaml"), tmp_path / "store").plan
    assert cached_annotation(plan) == "total,m/s"
    steps = "".join(f"  step-{i:05d}-{'x' * 40}: {{shell: 'true'}}\n" for i in range(400))
    (tmp_path / "many.yaml").write_text("name: many\ndefaults: {image: img, cache: true}\nsteps:\n" + steps)
    many = load_pipeline(str(tmp_path / "many.yaml"), tmp_path / "store").plan
    assert len(many.task_steps()) * 50 > CACHED_ANNOTATION_BYTES and cached_annotation(many) is None
    compiled = run_cli("compile", "many.yaml", "-t", "argo", cwd=tmp_path)
    assert compiled.returncode == 0 and CACHED_ANNOTATION not in compiled.stdout
