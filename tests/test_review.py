"""Code review helpers: `transpile diff` by meaning, `transpile graph` as Mermaid/DOT, the pre-commit hook."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert any(
        line.startswith("  ~ train/xgb/fit: resources cpu=500m memory=1Gi gpu=1 -> cpu=500m memory=1Gi gpu=2")
        for line in lines
    )
    assert "  ~ extract: retries 2 (backoff 30s x2, at most 600s) -> 3 (backoff 30s x2, at most 600s)" in lines
    assert "  ~ route: cases ship, hold -> ship" in lines
    assert yaml_diff.startswith("--- old.yaml\n+++ new.yaml\n")


def test_two_pipelines_also_compare_commands(project):
    new = edit(project, "python: ml.gate:decide", "python: ml.gate:decide_v2")
    result = run_cli("diff", "samples/etl.yaml", new, cwd=project)
    assert result.returncode == 1
    assert "  ~ gate: command python ml.gate:decide -> python ml.gate:decide_v2\n" in result.stdout


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
    hooks = yaml.load((REPO / ".pre-commit-hooks.yaml").read_text(), Loader=yaml.CSafeLoader)
    assert hooks[0]["id"] == "transpile-check"
    assert hooks[0]["entry"] == "transpile compile --check" and hooks[0]["pass_filenames"] is False


def control_names_pipeline() -> dict:
    """Steps, branches and cases named like the control nodes of Argo composites."""
    body = {"items": {"python": "m:f"}, "each": {"python": "m:f", "needs": ["items"]}}
    return {
        "name": "names",
        "defaults": {"image": "python:3.11-slim"},
        "parameters": {"xs": ["a", "b"]},
        "steps": {
            "select": {"python": "m:f", "returns": ["v"]},
            "items": {"needs": ["select"], "map": {"over": "xs", "as": "x", "steps": body}},
            "each": {"needs": ["items"], "parallel": {"items": {"steps": body}, "select": {"steps": body}}},
            "case": {
                "needs": ["each"],
                "switch": {
                    "on": "v",
                    "cases": {"select": {"steps": body}, "items": {"steps": {"each": {"stub": True}}}},
                },
            },
        },
        "on_failure": {"steps": {"select": {"shell": "echo failed"}}},
    }


@pytest.mark.parametrize("pipeline", ["names", "hostile", "wide"])
def test_composites_are_recognised_by_structure_not_by_names(project, pipeline):
    if pipeline == "names":
        data = control_names_pipeline()
    elif pipeline == "hostile":
        from tests.support.hostile import NAMES

        data = control_names_pipeline()
        data["steps"] |= {name: {"python": "m:f", "needs": ["case"]} for name in NAMES if name not in data["steps"]}
    else:
        from benchmarks.pipelines import wide

        data = yaml.load(wide(450), Loader=yaml.CSafeLoader)
    (project / "p.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_cli("compile", "p.yaml", "-o", "spec.yaml", cwd=project).returncode == 0
    for old, new in (("spec.yaml", "p.yaml"), ("p.yaml", "spec.yaml"), ("spec.yaml", "spec.yaml")):
        result = run_cli("diff", old, new, cwd=project)
        assert (result.returncode, result.stdout) == (0, "no differences\n"), result.stdout + result.stderr


def test_same_pipeline_at_another_path_is_no_difference(project):
    (project / "copy").mkdir()
    shutil.copy(project / "samples/etl.yaml", project / "copy/etl.yaml")
    result = run_cli("diff", "samples/etl.yaml", "copy/etl.yaml", cwd=project)
    assert result.returncode == 0, result.stdout
    assert result.stdout == (
        "no differences\nnote: the pipeline file's path differs (samples/etl.yaml -> copy/etl.yaml); "
        "pods load the pipeline from that path\n"
    )
    # a spec compiled from one path against the pipeline at the other: the same, with the note
    assert run_cli("compile", "samples/etl.yaml", "-o", "spec.yaml", cwd=project).returncode == 0
    result = run_cli("diff", "spec.yaml", "copy/etl.yaml", cwd=project)
    assert result.returncode == 0, result.stdout
    assert "note: the pipeline file's path differs (samples/etl.yaml -> copy/etl.yaml)" in result.stdout


def test_written_differently_but_meaning_the_same(project):
    (project / "a.yaml").write_text(
        "name: p\nsteps:\n  one: {python: m:f, image: img:1}\n  two: {python: m:g, image: img:1, needs: [one]}\n"
    )
    (project / "b.yaml").write_text(
        "name: p\ndefaults: {image: img:1}\nsteps:\n  one: {python: m:f}\n  two: {needs: [one], python: m:g}\n"
    )
    result = run_cli("diff", "a.yaml", "b.yaml", cwd=project)
    assert result.returncode == 0, result.stdout
    assert "but mean the same" in result.stdout.splitlines()[-1]


def test_a_command_change_against_a_spec_is_a_difference(project):
    """A spec does not show commands (pods read them from the pipeline file); its hash says they changed."""
    assert run_cli("compile", "samples/etl.yaml", "-o", "spec.yaml", cwd=project).returncode == 0
    new = edit(project, "python: ml.gate:decide", "python: ml.gate:decide_v2", name="samples/new.yaml")
    result = run_cli("diff", "spec.yaml", new, cwd=project)
    assert result.returncode == 1
    assert "  ~ pipeline: hash " in result.stdout and "where a compiled spec does not show" in result.stdout


def test_pipeline_settings_are_compared(project):
    (project / "a.yaml").write_text("name: p\nparameters: {day: mon}\nsteps:\n  one: {python: m:f, image: i}\n")
    (project / "b.yaml").write_text(
        "name: p\ndescription: Daily\nparameters: {day: tue}\nschedule: {cron: '0 2 * * *'}\n"
        "steps:\n  one: {python: m:f, image: i}\n"
    )
    assert run_cli("compile", "a.yaml", "-o", "a.spec.yaml", cwd=project).returncode == 0
    for old in ("a.yaml", "a.spec.yaml"):
        result = run_cli("diff", old, "b.yaml", cwd=project)
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert lines[0] == "0 step(s) added, 0 removed, 0 changed; 3 pipeline setting(s) changed"
        assert lines[1:4] == [
            "  ~ pipeline: description - -> Daily",
            "  ~ pipeline: schedule - -> 0 2 * * *",
            "  ~ pipeline: parameter day mon -> tue",
        ]


def test_markdown_report_for_a_pull_request(project):
    from tests.support.hostile import VALUES

    hostile = "```\n</details><script>alert(1)</script> | *bold* [x](y)"
    base = "name: p\nsteps:\n  one: {shell: 'echo hi', image: i}\n  two: {python: m:f, image: i}\n"
    (project / "a.yaml").write_text(base)
    data = yaml.load(base, Loader=yaml.CSafeLoader)
    data["steps"]["one"]["shell"] = hostile
    data["steps"]["three"] = {"python": "m:f", "image": "i", "env": {"X": VALUES[2], "Y": hostile}}
    data["parameters"] = {"note": hostile}  # parameters show in the spec (env values do not)
    (project / "b.yaml").write_text(yaml.safe_dump(data))
    result = run_cli("diff", "a.yaml", "b.yaml", "--format", "markdown", cwd=project)
    assert result.returncode == 1
    text = result.stdout
    assert text.startswith("**transpile diff** a\\.yaml → b\\.yaml\n\n")
    assert (
        "| steps added | steps removed | steps changed | pipeline settings changed |\n|---:|---:|---:|---:|\n" in text
    )
    assert "| 1 | 0 | 1 | 1 |" in text
    assert "| added | three | python: m:f |" in text
    row = next(line for line in text.splitlines() if line.startswith("| changed | one |"))
    assert "<script>" not in row and "&lt;script&gt;" in row and "\\|" in row and "\\*bold\\*" in row
    assert "```" not in row and "<br>" in row
    # the YAML diff is folded away, in a fence longer than any run of backticks inside it
    details = text[text.index("<details><summary>Argo YAML diff (") :]
    assert details.endswith("</details>\n")
    fence, body = details.split("\n\n", 1)[1].split("diff\n", 1)
    longest = max((len(run) for run in re.findall(r"`+", body.rsplit(fence, 1)[0])), default=0)
    assert set(fence) == {"`"} and len(fence) >= max(3, longest + 1)
    assert details.rstrip().endswith(f"{fence}\n\n</details>")
    assert details.count("</details>") == 2  # one inside the fenced diff (inert), one closing
    same = run_cli("diff", "a.yaml", "a.yaml", "--format", "markdown", cwd=project)
    assert (same.returncode, same.stdout) == (0, "**transpile diff** a\\.yaml → a\\.yaml: no differences in meaning\n")


def test_markdown_diff_is_cut_to_fit_a_comment(project):
    (project / "a.yaml").write_text(chain(1500))
    (project / "b.yaml").write_text(chain(1500).replace("python:3.11-slim", "python:3.12-slim").replace("noop", "nop"))
    result = run_cli("diff", "a.yaml", "b.yaml", "--format", "markdown", cwd=project)
    assert result.returncode == 1
    assert len(result.stdout) < 65_536
    assert "first " in result.stdout and "run `transpile diff` for the rest" in result.stdout


def apply_unified(a: list[str], diff: list[str]) -> list[str]:
    """Apply a unified diff to `a`, checking every context and removed line against it."""
    import re

    out, position = [], 0
    for line in diff[2:]:
        if line.startswith("@@"):
            start = int(re.match(r"@@ -(\d+)", line).group(1))
            old_start = start - 1 if start else 0
            if ",0 " in line.split("+")[0]:
                old_start = start
            out += a[position:old_start]
            position = old_start
        elif line[0] in " -":
            assert a[position] == line[1:]
            position += 1
            if line[0] == " ":
                out.append(line[1:])
        else:
            out.append(line[1:])
    return out + a[position:]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "  - x\n"]), max_size=40),
    st.lists(st.sampled_from(["a\n", "b\n", "c\n", "e\n", "  - x\n"]), max_size=40),
)
def test_unified_diff_applies_and_matches_difflib_in_size(a, b):
    import difflib

    from transpile.review.diff import unified_diff

    ours = unified_diff(a, b, "old", "new")
    assert (ours == []) == (a == b)
    if ours:
        assert ours[:2] == ["--- old\n", "+++ new\n"]
        assert apply_unified(a, ours) == b
        theirs = list(difflib.unified_diff(a, b, "old", "new"))
        changed = sum(1 for line in ours[2:] if line[0] in "+-")
        assert changed <= sum(1 for line in theirs[2:] if line[0] in "+-") + len(a) + len(b)


@pytest.mark.parametrize("serial", ["", "1"])
def test_errors_on_either_side_are_reported_located(project, serial):
    """Each side loads in its own process (Linux) or one after the other; errors read the same."""
    env = {"TRANSPILE_DIFF_SERIAL": serial}
    (project / "bad.yaml").write_text("name: p\nsteps:\n  one: {python: m:f, needs: [ghost]}\n")
    for old, new in (("bad.yaml", "samples/etl.yaml"), ("samples/etl.yaml", "bad.yaml")):
        result = run_cli("diff", old, new, cwd=project, env=env)
        assert result.returncode == 2, result.stderr
        assert "ghost" in result.stderr and "bad.yaml:3:" in result.stderr and "Traceback" not in result.stderr
    edited = edit(project, "python: ml.gate:decide", "python: ml.gate:decide_v2")
    result = run_cli("diff", "samples/etl.yaml", edited, cwd=project, env=env)
    assert (
        result.returncode == 1
        and "  ~ gate: command python ml.gate:decide -> python ml.gate:decide_v2\n" in result.stdout
    )
    assert "+++ new.yaml\n" in result.stdout
