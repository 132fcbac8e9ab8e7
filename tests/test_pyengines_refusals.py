"""What the Airflow and Prefect backends cannot express is refused, located, once, exit 2, never written as a
placeholder; both backends read only the plan; the Airflow template's helpers are static Python."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

NO_IMAGE = """name: noimg
parameters: {xs: [1], x: c}
steps:
  a: {shell: echo}
  m:
    map: {over: xs, as: x, steps: {b: {shell: echo}}}
  s:
    switch: {on: x, cases: {c: {steps: {d: {stub: true}}}}}
"""


def compile_(tmp_path: Path, text: str, *args: str, deploy: str | None = None):
    (tmp_path / "p.yaml").write_text(text)
    extra = []
    if deploy is not None:
        (tmp_path / "deploy.yaml").write_text(deploy)
        extra = ["-c", "deploy.yaml"]
    return run_cli("compile", "p.yaml", *extra, *args, cwd=tmp_path)


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-t", "airflow"],
            ["error in step 'a'", "error: map and switch", "error in step 'm/b'", "error in step 's/c/d'"],
        ),
        (["-t", "prefect"], ["error: the flow's pod needs an image"]),
        (
            ["-t", "prefect", "--flavour", "job"],
            [
                "error in step 'a'",
                "error in step 'm/b'",
                "error in step 's/c/d'",
                "error: the flow's pod needs an image",
            ],
        ),
    ],
    ids=["airflow", "prefect-pod", "prefect-job"],
)
def test_no_image_is_a_located_refusal_each_printed_once(tmp_path, args, expected):
    result = compile_(tmp_path, NO_IMAGE, *args)
    assert result.returncode == 2, result.stdout
    assert result.stdout == "" and "Traceback" not in result.stderr
    found = errors(result.stderr)
    assert len(found) == len(expected), result.stderr
    for prefix in expected:
        assert sum(line.startswith(prefix) for line in found) == 1, (prefix, result.stderr)
    assert "missing" not in result.stderr
    assert "--> p.yaml:4:3" in result.stderr or args[1] == "prefect" and len(args) == 2


def test_local_airflow_flavour_needs_no_image(tmp_path):
    result = compile_(tmp_path, NO_IMAGE, "-t", "airflow", "--flavour", "local")
    assert result.returncode == 0, result.stderr
    assert "image" not in result.stdout


def test_every_schedule_is_refused_by_airflow_at_the_schedule(tmp_path):
    text = "name: e\nschedule: {cron: '@every 1h'}\ndefaults: {image: img}\nsteps: {a: {stub: true}}\n"
    result = compile_(tmp_path, text, "-t", "airflow")
    assert result.returncode == 2
    assert errors(result.stderr) == ["error: Airflow cannot schedule '@every 1h' (target airflow)"]
    assert "--> p.yaml:2:1" in result.stderr


@pytest.mark.parametrize("target", ["airflow", "prefect"])
def test_volume_template_mode_is_argo_only(tmp_path, target):
    text = "name: v\ndefaults: {image: img}\nsteps: {a: {stub: true}}\n"
    result = compile_(tmp_path, text, "-t", target, deploy="volume: {mode: template}\n")
    assert result.returncode == 2, result.stdout
    assert errors(result.stderr) == [f"error: volume.mode 'template' is Argo-only (target {target})"]


@pytest.mark.parametrize(("target", "choices"), [("airflow", "kubernetes, local"), ("prefect", "pod, job")])
def test_unknown_flavour(tmp_path, target, choices):
    text = "name: v\ndefaults: {image: img}\nsteps: {a: {stub: true}}\n"
    result = compile_(tmp_path, text, "-t", target, "--flavour", "placement")
    assert result.returncode == 2
    assert len(errors(result.stderr)) == 1 and f"choose one of {choices}" in result.stderr


FORBIDDEN = ("transpile.passes", "transpile.compiler", "transpile.config", "transpile.ir.models")


@pytest.mark.parametrize("module", ["airflow", "prefect", "pysource"])
def test_backends_read_only_the_plan(module):
    tree = ast.parse((REPO / "transpile" / "backends" / f"{module}.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith(FORBIDDEN)]
    assert "reads_plan" not in (REPO / "transpile" / "backends" / f"{module}.py").read_text()


def test_airflow_helper_templates_are_static_python():
    """The DAG template is wiring; the helpers it includes hold no template syntax below their header."""
    templates = REPO / "templates"
    for name in ("airflow_nodes_kubernetes.py.j2", "airflow_nodes_local.py.j2", "airflow_common.py.j2"):
        body = (templates / name).read_text().split("-#}\n", 1)[1]
        assert not any(mark in body for mark in ("{{", "{%", "{#")), name
        ast.parse(body)
