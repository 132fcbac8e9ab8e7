"""Code review helpers: `transpile diff` by meaning, `transpile graph` as Mermaid/DOT, the pre-commit hook."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from benchmarks.pipelines import chain
from tests.conftest import REPO, SAMPLES, run_cli


@pytest.fixture
def project(tmp_path):
    shutil.copytree(SAMPLES, tmp_path / "samples")
    return tmp_path


def edit(project, old: str, new: str, name: str = "new.yaml") -> str:
    text = (project / "samples/etl.yaml").read_text()
    assert old in text
    (project / name).write_text(text.replace(old, new))
    return name


@pytest.mark.parametrize("pipeline", ["samples/etl.yaml", "samples/etl.py", "chain"])
def test_a_spec_and_its_own_pipeline_do_not_differ(project, pipeline):
    if pipeline == "chain":
        (project / "chain.yaml").write_text(chain(450).replace("bench.steps:noop", "m:f"))
        pipeline = "chain.yaml"
    assert run_cli("compile", pipeline, "-o", "spec.yaml", cwd=project).returncode == 0
    result = run_cli("diff", "spec.yaml", pipeline, cwd=project)
    assert result.returncode == 0, result.stdout
    assert result.stdout == "no differences\n"


def test_changes_are_summarised_then_diffed(project):
    assert run_cli("compile", "samples/etl.yaml", "-o", "old.yaml", cwd=project).returncode == 0
    new = edit(project, "  noop: {needs: [route], stub: true}", "  noop: {needs: [route, extract], stub: true}")
    text = (project / new).read_text()
    text = text.replace("  gate:\n", "  extra: {python: etl.steps:extract, returns: [x]}\n  gate:\n")
    text = text.replace(
        "      xgb: {steps: {fit: {python: ml.xgb:fit, returns: [score_xgb], resources: {gpu: 1}}}}",
        "      xgb: {steps: {fit: {python: ml.xgb:fit, returns: [score_xgb], resources: {gpu: 2}}}}",
    )
    text = text.replace('        hold: {steps: {notify: {shell: "echo held"}}}\n', "")
    text = text.replace("retries: {limit: 2,", "retries: {limit: 3,")
    (project / new).write_text(text)
    result = run_cli("diff", "old.yaml", new, cwd=project)
    assert result.returncode == 1
    summary, _, yaml_diff = result.stdout.partition("\n\n")
    lines = summary.splitlines()
    assert lines[0].startswith("1 step(s) added, 1 removed, ")
    assert "  + extra (task)" in lines
    assert "  - route/hold/notify" in lines
    assert any(line.startswith("  ~ noop: needs [route] -> [route, extract]") for line in lines)
    assert any("train/xgb/fit" in line and "gpu=1 -> cpu=500m memory=1Gi gpu=2" in line for line in lines)
    assert any(line.startswith("  ~ extract: retries 2 -> 3") for line in lines)
    assert yaml_diff.startswith("--- old.yaml\n+++ new.yaml\n")


def test_two_pipelines_also_compare_commands(project):
    new = edit(project, "python: ml.gate:decide", "python: ml.gate:decide_v2")
    result = run_cli("diff", "samples/etl.yaml", new, cwd=project)
    assert result.returncode == 1
    assert "~ gate: command 'ml.gate:decide' -> 'ml.gate:decide_v2'" in result.stdout


def test_graph_mermaid_and_dot(project):
    mermaid = run_cli("graph", "samples/etl.yaml", cwd=project)
    assert mermaid.returncode == 0
    lines = mermaid.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  subgraph n2 ["clean: map over shards as shard"]' in lines
    assert '    subgraph n12 ["case ship"]' in lines
    assert "  n1 --> n2" in lines and "  n11 --> n16" in lines
    dot = run_cli("graph", "samples/etl.yaml", "--format", "dot", cwd=project)
    assert dot.returncode == 0
    assert dot.stdout.startswith('digraph "etl-daily" {') and "subgraph cluster_n2 {" in dot.stdout
    assert "n1 -> n2_anchor [lhead=cluster_n2];" in dot.stdout
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=dot.stdout, text=True, check=True, capture_output=True)


def test_graph_escapes_hostile_names(project):
    (project / "h.yaml").write_text(
        yaml.safe_dump({"name": "h", "steps": {'say "hi" <b>#1<b> \\ x': {"shell": 'echo "a"\necho b'}}})
    )
    mermaid = run_cli("graph", "h.yaml", cwd=project).stdout
    assert '  n1["say #quot;hi#quot; #lt;b#gt;#35;1#lt;b#gt; \\ x<br/>shell echo #quot;a#quot;"]' in mermaid
    dot = run_cli("graph", "h.yaml", "--format", "dot", cwd=project).stdout
    assert 'n1 [label="say \\"hi\\" <b>#1<b> \\\\ x\\nshell echo \\"a\\""];' in dot


def test_pre_commit_hook_definition():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "transpile-check"
    assert hooks[0]["entry"] == "transpile compile --check" and hooks[0]["pass_filenames"] is False
