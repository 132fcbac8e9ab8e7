"""Every bad input gives a clear report: file, line and column, the step, a caret; all errors at once;
no traceback; exit code 2."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import run_cli
from tests.support.inprocess import run_main

HEAD = "name: p\ndefaults: {image: img}\n"

CASES = {
    "unknown-key": (
        HEAD + "steps:\n  extract:\n    pythn: m:f\n",
        ["unknown key 'pythn'", "bad.yaml:5:5", "did you mean 'python'?", "in step 'extract'"],
    ),
    "bad-type": (
        HEAD + "steps:\n  a:\n    python: m:f\n    retries: many\n",
        ["bad.yaml:6:14", "in step 'a'", "retries"],
    ),
    "unknown-need": (
        HEAD + "steps:\n  extract: {python: m:f}\n  load: {python: m:g, needs: [extrct]}\n",
        ["'needs' names unknown step 'extrct'", "bad.yaml:5:31", "did you mean 'extract'?", "in step 'load'"],
    ),
    "cycle": (
        HEAD
        + "steps:\n  a: {python: m:f, needs: [c]}\n  b: {python: m:f, needs: [a]}\n  c: {python: m:f, needs: [b]}\n",
        ["cycle", "a -> b -> c -> a"],
    ),
    "duplicate-name": (
        HEAD + "steps:\n  a: {python: m:f}\n  a: {python: m:g}\n",
        ["duplicate key 'a'", "bad.yaml:5:3", "first at line 4"],
    ),
    "sanitised-collision": (
        HEAD + "steps:\n  load_data: {python: m:f}\n  Load-Data: {python: m:g}\n",
        ["'load_data' and 'Load-Data' both become 'load-data'", "bad.yaml:5:3"],
    ),
    "map-over-unknown": (
        HEAD + "steps:\n  m:\n    map: {over: shardz, as: s, steps: {x: {python: m:f}}}\n",
        ["map.over names 'shardz'", "bad.yaml:5:17", "in step 'm'"],
    ),
    "switch-on-not-upstream": (
        HEAD
        + "steps:\n  gate: {python: m:f, returns: [verdict]}\n"
        + "  route:\n    switch: {on: verdict, cases: {a: {steps: {x: {stub: true}}}}}\n",
        ["switch.on names 'verdict'", "bad.yaml:6:18", "'gate' returns 'verdict': add it to this step's needs"],
    ),
    "parallel-return-clash": (
        HEAD
        + "steps:\n  t:\n    parallel:\n      a: {steps: {f: {python: m:f, returns: [score]}}}\n"
        + "      b: {steps: {f: {python: m:g, returns: [score]}}}\n",
        ["return 'score' is produced by both 't/a/f' and 't/b/f'", "bad.yaml:7:45"],
    ),
    "no-kind": (HEAD + "steps:\n  a: {needs: []}\n", ["the step has no kind", "bad.yaml:4:3"]),
    "two-kinds": (
        HEAD + "steps:\n  a: {python: m:f, shell: echo}\n",
        ["several kinds (python, shell)", "in step 'a'"],
    ),
    "empty-file": ("", ["the file is empty", "bad.yaml:1:1"]),
    "unparsable": (HEAD + "steps:\n  a: {python: m:f\n", ["cannot parse YAML", "bad.yaml:4:6", "never closed"]),
    "not-a-mapping": ("- a\n- b\n", ["expected a mapping at the top of the file, got a list"]),
    "missing-name": ("steps: {a: {stub: true}}\n", ["missing required key 'name'"]),
    "bad-pipeline-name": (
        "name: Bad_Name\nsteps: {a: {stub: true}}\n",
        ["bad.yaml:1:7", "not a valid pipeline name", "for example 'bad-name'"],
    ),
    "no-image": ("name: p\nsteps: {a: {python: m:f}}\n", ["no image for this step", "in step 'a'"]),
    "settings-on-composite": (
        HEAD
        + "steps:\n  m:\n    image: x\n    map: {over: xs, as: x, steps: {y: {stub: true}}}\nparameters: {xs: [1]}\n",
        ["'image' applies to task steps, not to a map", "bad.yaml:5:5"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_report(tmp_path, case):
    text, expected = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run_cli("compile", str(path), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    report = result.stderr.replace(str(tmp_path) + "/", "")
    for fragment in expected:
        assert fragment in report, f"{fragment!r} not in:\n{report}"
    if case not in ("not-a-mapping", "missing-name", "empty-file", "unparsable"):
        assert "^" in report


def test_all_errors_reported_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: p
            defaults: {image: img, timout: 3}
            steps:
              a: {pythn: m:f}
              b: {python: m:f, retries: x}
            """
        )
    )
    result = run_cli("compile", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown key 'timout'" in result.stderr and "did you mean 'timeout'?" in result.stderr
    assert "unknown key 'pythn'" in result.stderr and "retries" in result.stderr
    assert "3 errors found" in result.stderr


def test_caret_points_at_the_culprit(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "steps:\n  extract:\n    pythn: m:f\n")
    lines = run_cli("compile", str(path), cwd=tmp_path).stderr.splitlines()
    source = next(i for i, line in enumerate(lines) if "pythn: m:f" in line)
    assert lines[source + 1].index("^^^^^") == lines[source].index("pythn")


def test_unknown_target_did_you_mean():
    result = run_cli("compile", "samples/etl.yaml", "-t", "argoo")
    assert result.returncode == 2
    assert "unknown target 'argoo'" in result.stderr and "did you mean 'argo'?" in result.stderr


def test_python_form_errors_point_into_the_python_file(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text(
        "from transpile import Flow\n"
        "flow = Flow('p', defaults={'image': 'img'})\n"
        "a = flow.python('a', 'm:f')\n"
        "flow.python('b', 'm:g', needs=['aa'])\n"
    )
    result = run_cli("compile", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "'needs' names unknown step 'aa'" in result.stderr
    assert "flow.py:4:" in result.stderr and "did you mean 'a'?" in result.stderr


def test_python_module_exception_is_reported_without_traceback(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text("from transpile import Flow\nflow = Flow('p')\nraise RuntimeError('boom')\n")
    result = run_cli("compile", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "RuntimeError: boom" in result.stderr and "flow.py:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file():
    result = run_cli("compile", "nope.yaml")
    assert result.returncode == 2 and "cannot read file" in result.stderr


def test_deploy_config_errors_point_into_the_config(tmp_path):
    config = tmp_path / "deploy.yaml"
    config.write_text("namespace: Data\nlabels: {team: " + "x" * 70 + "}\nvolume: {claimm: x}\n")
    result = run_cli("compile", "samples/etl.yaml", "-c", str(config))
    assert result.returncode == 2
    report = result.stderr.replace(str(tmp_path) + "/", "")
    assert "deploy.yaml:1:12" in report and "namespace" in report
    assert "is not a valid label value" in report and "deploy.yaml:2:16" in report  # at the value itself
    assert "unknown key 'claimm'" in report and "did you mean 'claim'?" in report


# ---- every stage at once, in plain words (in-process: `transpile.cli.main`) ----


def _write(tmp_path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_three_mistakes_in_three_stages_are_reported_together(tmp_path, capsys):
    pipeline = _write(
        tmp_path,
        "name: p\ndefaults: {image: img}\nschedule: '99 99 * * *'\n"
        "steps:\n  a: {shell: echo, needs: [b]}\n  c: {shell: echo, retry: 2}\n",
    )
    deploy = _write(tmp_path, "service_account: Etl Runner\n", "deploy.yaml")
    result = run_main(capsys, "compile", pipeline, "-c", deploy)
    assert result.code == 2 and "Traceback" not in result.err
    assert result.errors == 4, result.err
    assert "minute 99 is out of range" in result.err
    assert "'needs' names unknown step 'b'" in result.err
    assert "did you mean 'retries'?" in result.err
    assert "'Etl Runner' is not a valid service account name" in result.err and "'etl-runner'" in result.err


def test_schema_and_target_problems_come_together(tmp_path, capsys):
    pipeline = _write(tmp_path, "name: p\nsteps:\n  a: {shell: echo, timeout: soon}\n  b: {shell: echo}\n")
    result = run_main(capsys, "compile", pipeline)
    assert result.code == 2 and result.errors == 3, result.err
    assert "'soon' is not a duration" in result.err and result.err.count("no image for this step") == 2


def test_follow_on_reports_about_a_broken_step_are_left_out(tmp_path, capsys):
    pipeline = _write(tmp_path, "name: p\ndefaults: {image: i}\nsteps:\n  a: {pythn: m:f}\n")
    result = run_main(capsys, "compile", pipeline)
    assert result.errors == 1 and "unknown key 'pythn'" in result.err
    assert "has no kind" not in result.err


@pytest.mark.parametrize(
    "text, banned",
    [
        ("schedule: 'every day'\n", ["String should match", "^(@"]),
        ("steps: {a: {shell: x, retries: many}}\n", ["instance of Retries", "valid dictionary"]),
        ("name: Bad_Name\n", ["should match pattern", "[a-z0-9]"]),
        ("parameters: {bad-name: 1}\n", ["should match pattern", "A-Za-z"]),
    ],
)
def test_messages_hold_no_regex_or_class_names(tmp_path, capsys, text, banned):
    base = {"name": "name: p\n", "steps": "steps: {a: {shell: x}}\n"}
    for key, line in base.items():
        if not text.startswith(f"{key}:"):
            text += line
    result = run_main(capsys, "check", _write(tmp_path, text))
    assert result.code == 2 and result.errors == 1, result.err
    for word in banned:
        assert word not in result.err


def test_yaml_12_hints_for_merge_keys_and_11_booleans(tmp_path, capsys):
    text = "name: p\nparameters: {dry_run: no}\nbase: &b {shell: x}\nsteps:\n  a:\n    <<: *b\n    stub: true\n"
    result = run_main(capsys, "check", _write(tmp_path, text))
    assert result.code == 2 and result.errors == 3, result.err
    assert "merge keys ('<<') are not part of YAML 1.2" in result.err and ":6:5" in result.err
    assert "'no' is the string 'no' in YAML 1.2" in result.err and 'quote "no"' in result.err
    assert "unknown key 'base'" in result.err


def test_non_utf8_bytes_are_located(tmp_path, capsys):
    result = run_main(capsys, "check", _write(tmp_path, b"name: p\nsteps:\n  a: {shell: 'caf\xe9'}\n"))
    assert result.code == 2 and "byte 0xe9 at line 3, column 18" in result.err and ":3:18" in result.err


@pytest.mark.parametrize("command", ["compile", "check", "graph"])
def test_a_compiled_spec_is_named_as_such(tmp_path, capsys, command):
    spec = run_main(capsys, "compile", "samples/etl.yaml").out
    result = run_main(capsys, command, _write(tmp_path, spec, "spec.yaml"))
    assert result.code == 2 and result.errors == 1
    assert "this is a compiled spec (kind: WorkflowTemplate), not a pipeline" in result.err
    assert "unknown key" not in result.err


def test_an_empty_deploy_config_means_the_defaults(tmp_path, capsys):
    deploy = _write(tmp_path, "# nothing set yet\n", "deploy.yaml")
    result = run_main(capsys, "check", "samples/etl.yaml", "-c", deploy)
    assert result.code == 0, result.err
    assert "a pipeline needs a name and steps" not in result.err


@pytest.mark.parametrize(
    "value, message",
    [
        ("!!foo x", "unsupported YAML tag '!!foo'"),
        ("!!binary aGk=", "unsupported YAML tag '!!binary'"),
        ("!!int x", "'x' is not a valid !!int value"),
        ("!!bool maybe", "'maybe' is not a valid !!bool value"),
        ("!custom {a: 1}", "unsupported YAML tag '!custom'"),
    ],
)
def test_unknown_or_invalid_tags_are_refused_where_they_stand(tmp_path, capsys, value, message):
    result = run_main(
        capsys, "check", _write(tmp_path, f"name: p\nparameters:\n  x: {value}\nsteps: {{a: {{stub: true}}}}\n")
    )
    assert result.code == 2 and message in result.err and ":3:6" in result.err, result.err
