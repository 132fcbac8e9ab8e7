"""Values too large for an environment variable (Linux: 128 KiB for one `NAME=value`, about 2 MiB for all) still
reach shell steps: every value is also a file in `$TRANSPILE_VALUES`, a value over the limit is left unset with a
line on the step's stderr saying where it is, on `transpile run` and `execute-node` alike; a shell step reading
`$NAME` of a parameter declared over the limit is a compile error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from transpile.runtime.store import RunStore

MAKE = """\
def big():
    return "b" * 200_000


def many():
    return ["m" * 120_000] * 20
"""
PIPELINE = """\
name: e
parameters: {small: "s m a l l"}
steps:
  make: {python: values:big, returns: [big]}
  lots: {python: values:many, returns: [lots]}
  use:
    needs: [make, lots]
    returns: [seen]
    shell: |
      printf '%s|%s|%s|%s' "$small" "${big:-unset}" "$(wc -c < "$TRANSPILE_VALUES/big")" \\
        "$(cat "$TRANSPILE_VALUES/small")" > "$TRANSPILE_RETURNS/seen"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "values.py").write_text(MAKE)
    (tmp_path / "e.yaml").write_text(PIPELINE)
    return tmp_path


def check(store: RunStore) -> None:
    assert store.result("use").returns["seen"] == "s m a l l|unset|200000|s m a l l"
    log = (store.node_dir("use") / "attempt.1/stderr.log").read_text()
    assert "$big is not set: its value is 195 KiB, over Linux's 128 KiB limit" in log
    assert '"$TRANSPILE_VALUES/big"' in log and "$lots is not set" in log


def test_a_shell_step_gets_every_value_however_large_in_transpile_run(project):
    result = run_cli("run", "e.yaml", "--store", "store", "--run-id", "r", cwd=project)
    assert result.returncode == 0, result.stderr
    check(RunStore(project / "store", "r"))


def test_a_shell_step_gets_every_value_however_large_in_execute_node(project):
    for name in ("make", "lots", "use"):
        result = run_cli("execute-node", "--pipeline", "e.yaml", "--store", "store", "--run-id", "n", "--node", name,
                         "--no-echo", cwd=project)  # fmt: skip
        assert result.returncode == 0, result.stderr
    check(RunStore(project / "store", "n"))


def test_all_values_together_past_the_system_limit(project):
    """Twenty values of 120 KiB each fit one by one but not all at once: those left out say so."""
    (project / "e.yaml").write_text(
        PIPELINE.replace("use:\n", "use:\n    timeout: 60\n").replace(
            '"$(cat "$TRANSPILE_VALUES/small")"', '"$(ls "$TRANSPILE_VALUES" | wc -l)"'
        )
    )
    producers = "\n".join(f"def v{i}():\n    return 'v' * 120_000\n" for i in range(20))
    (project / "values.py").write_text(MAKE + "\n" + producers)
    steps = "".join(f"  p{i}: {{python: values:v{i}, returns: [v{i}]}}\n" for i in range(20))
    needs = ", ".join(["make", "lots"] + [f"p{i}" for i in range(20)])
    text = (project / "e.yaml").read_text().replace("steps:\n", "steps:\n" + steps)
    (project / "e.yaml").write_text(text.replace("needs: [make, lots]", f"needs: [{needs}]"))
    result = run_cli("run", "e.yaml", "--store", "store", "--run-id", "r", cwd=project)
    assert result.returncode == 0, result.stderr
    store = RunStore(project / "store", "r")
    assert store.result("use").returns["seen"] == "s m a l l|unset|200000|23"  # 23 files: every value
    log = (store.node_dir("use") / "attempt.1/stderr.log").read_text()
    assert "more than the environment can hold" in log


def test_a_shell_step_reading_a_too_large_declared_parameter_is_a_compile_error(tmp_path):
    huge = json.dumps("x" * 140_000)
    (tmp_path / "p.yaml").write_text(
        f"name: p\nparameters: {{huge: {huge}, ok: 1}}\nsteps:\n"
        "  py: {python: m:f}\n"
        '  sh: {shell: \'echo "$ok"; wc -c "$TRANSPILE_VALUES/huge"\'}\n'
        "  bad: {shell: 'echo \"${huge}\" | wc -c'}\n"
    )
    result = run_cli("check", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "reads $huge" in result.stderr and "128 KiB limit for one environment variable" in result.stderr
    assert "p.yaml:6:16" in result.stderr and "$TRANSPILE_VALUES/huge" in result.stderr
    assert result.stderr.count("error") == 2  # one error, on `bad` only ("1 error found")
