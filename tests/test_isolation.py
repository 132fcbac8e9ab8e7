"""Every node instance runs as a pod would: a fresh working directory and process, the step's env, and
anything that ends a step without a published result is a failed attempt, under `transpile run` and
`transpile execute-node` alike."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from transpile.runtime.store import RunStore


def write(project: Path, name: str, text: str) -> str:
    (project / name).write_text(textwrap.dedent(text))
    return name


def run(project: Path, pipeline: str, *args: str, run_id: str = "r1"):
    return run_cli("run", pipeline, "--store", "store", "--run-id", run_id, "--parallelism", "2", *args, cwd=project)


def node(project: Path, pipeline: str, name: str, *args: str, run_id: str = "n1"):
    return run_cli(
        "execute-node",
        "--pipeline",
        pipeline,
        "--store",
        "store",
        "--run-id",
        run_id,
        "--node",
        name,
        *args,
        cwd=project,
    )


def last(project: Path, key: str, run_id: str = "r1") -> dict:
    return RunStore(project / "store", run_id).attempts(key)[-1]


def result(project: Path, key: str, run_id: str = "r1") -> dict | None:
    return RunStore(project / "store", run_id).result(key)


def test_steps_do_not_share_a_working_directory(tmp_path):
    name = write(
        tmp_path,
        "wd.yaml",
        """\
        name: wd
        steps:
          make: {shell: 'echo hi > local.txt; pwd > "$TRANSPILE_RETURNS/where"', returns: [where]}
          read: {needs: [make], shell: 'cat local.txt'}
        """,
    )
    outcome = run(tmp_path, name)
    assert outcome.returncode == 1  # as on Argo: the file of another pod is not there
    assert "local.txt" in (tmp_path / "store/runs/r1/nodes/read/attempt.1/stderr.log").read_text()
    where = result(tmp_path, "make").returns["where"]
    assert Path(where) != tmp_path and not Path(where).exists()  # a temporary directory, removed after
    assert not (tmp_path / "local.txt").exists()  # nothing left in the user's directory


def test_module_state_cwd_and_environment_do_not_leak(tmp_path):
    (tmp_path / "counter.py").write_text(
        textwrap.dedent(
            """\
            import os
            calls = []

            def count(x=None):
                calls.append(x)
                leaked = os.environ.get("LEAKED")
                os.environ["LEAKED"] = "yes"
                here = os.getcwd()
                os.chdir("/")
                return [len(calls), leaked, here]
            """
        )
    )
    name = write(
        tmp_path,
        "count.yaml",
        """\
        name: count
        parameters: {xs: [1, 2, 3, 4]}
        steps:
          m: {map: {over: xs, as: x, steps: {c: {python: counter:count, returns: [n]}}}}
          after: {needs: [m], python: counter:count, returns: [again]}
        """,
    )
    outcome = run(tmp_path, name, "-p", "xs=[1,2,3,4]")
    assert outcome.returncode == 0, outcome.stderr
    seen = [result(tmp_path, f"m@{i}/c").returns["n"] for i in range(4)] + [result(tmp_path, "after").returns["again"]]
    assert [s[0] for s in seen] == [1, 1, 1, 1, 1]
    assert [s[1] for s in seen] == [None] * 5
    assert len({s[2] for s in seen}) == 5 and all(s[2] != "/" for s in seen)


ENV_PIPELINE = """\
name: envs
defaults: {env: {SHARED: from-defaults}}
steps:
  py: {python: envstep:show, returns: [seen_py], env: {ONLY_PY: "x y", SHARED: overridden}}
  sh:
    shell: 'printf "%s|%s|%s|%s" "$ONLY_SH" "$SHARED" "$TRANSPILE_NODE" "$TRANSPILE_ATTEMPT"
      >"$TRANSPILE_RETURNS/seen_sh"'
    returns: [seen_sh]
    env: {ONLY_SH: "$(id) it's"}
"""


@pytest.mark.parametrize("how", ["run", "execute-node"])
def test_step_env_and_standard_variables_are_applied(tmp_path, how):
    (tmp_path / "envstep.py").write_text(
        "import os\n\ndef show():\n"
        "    return {k: os.environ.get(k) for k in ('ONLY_PY', 'SHARED', 'ONLY_SH', 'TRANSPILE_RUN_ID',"
        " 'TRANSPILE_NODE', 'TRANSPILE_STORE', 'TRANSPILE_INDICES')}\n"
    )
    name = write(tmp_path, "envs.yaml", ENV_PIPELINE)
    if how == "run":
        assert run(tmp_path, name, run_id="n1").returncode == 0
    else:
        for step in ("py", "sh"):
            outcome = node(tmp_path, name, step)
            assert outcome.returncode == 0, outcome.stderr
    py = result(tmp_path, "py", "n1").returns["seen_py"]
    assert py == {
        "ONLY_PY": "x y",
        "SHARED": "overridden",
        "ONLY_SH": None,
        "TRANSPILE_RUN_ID": "n1",
        "TRANSPILE_NODE": "py",
        "TRANSPILE_STORE": str(tmp_path / "store"),
        "TRANSPILE_INDICES": "",
    }
    assert result(tmp_path, "sh", "n1").returns["seen_sh"] == "$(id) it's|from-defaults|sh|1"


ENDINGS = {
    "exit0": ("import sys\n\ndef f():\n    sys.exit(0)\n", "called sys.exit(0)"),
    "exit3": ("import sys\n\ndef f():\n    sys.exit(3)\n", "called sys.exit(3)"),
    "os_exit": ("import os\n\ndef f():\n    os._exit(0)\n", "ended without a result (exit code 0"),
    "signal": ("import os, signal\n\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n", "signal SIGKILL"),
    "nan": ("def f():\n    return float('nan')\n", "which is not JSON"),
}


@pytest.mark.parametrize("case", sorted(ENDINGS))
@pytest.mark.parametrize("how", ["run", "execute-node"])
def test_a_step_that_ends_without_a_result_fails(tmp_path, case, how):
    body, message = ENDINGS[case]
    (tmp_path / "ending.py").write_text(body)
    name = write(
        tmp_path,
        "end.yaml",
        "name: end\nsteps:\n  s: {python: ending:f, returns: [x]}\n  t: {needs: [s], stub: true}\n",
    )
    outcome = run(tmp_path, name, run_id="n1") if how == "run" else node(tmp_path, name, "s")
    assert outcome.returncode == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    record = last(tmp_path, "s", "n1")
    assert record.status == "failed" and message in record.error
    assert result(tmp_path, "s", "n1") is None
    assert message in outcome.stderr


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_shell_returns_of_nan_fail_cleanly(tmp_path, text):
    name = write(
        tmp_path, "nan.yaml", f"name: nan\nsteps:\n  s: {{shell: 'echo {text} > $TRANSPILE_RETURNS/x', returns: [x]}}\n"
    )
    outcome = run(tmp_path, name)
    assert outcome.returncode == 1, outcome.stderr
    record = last(tmp_path, "s")
    assert record.status == "failed" and f"return 'x' is {text}, which JSON cannot hold" == record.error
    assert json.loads((tmp_path / "store/runs/r1/status.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("how", ["run", "execute-node"])
def test_timeout_kills_the_whole_process_group(tmp_path, how):
    late = tmp_path / "late.txt"
    name = write(
        tmp_path,
        "slow.yaml",
        f"name: slow\nsteps:\n  s: {{shell: 'sleep 3; echo late > {late}', timeout: 1}}\n",
    )
    outcome = run(tmp_path, name, run_id="n1") if how == "run" else node(tmp_path, name, "s")
    assert outcome.returncode == 1
    record = last(tmp_path, "s", "n1")
    assert record.error == "timed out after 1s" and record.timed_out is True
    time.sleep(3.5)
    assert not late.exists()
