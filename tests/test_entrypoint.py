"""`transpile execute-node` as pods run it: its contract, concurrency on one store, and the exact container
commands of a compiled Argo spec run as local processes in DAG order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SAMPLES, run_cli
from tests.support.argo_replay import ArgoRun
from tests.support.outcomes import outcomes
from transpile.runtime.store import RunStore


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    return tmp_path


def sample_hash(project: Path) -> str:
    from transpile.compiler import compile_pipeline

    return compile_pipeline(str(project / "samples/etl.yaml")).hash


def node(project: Path, *args: str, store: str = "store"):
    return run_cli(
        "execute-node", "--pipeline", "samples/etl.yaml", "--store", store, "--run-id", "r", *args, cwd=project
    )


def test_hash_mismatch_refuses_with_its_own_exit_code(project):
    result = node(project, "--node", "extract", "--hash", "0" * 64)
    assert result.returncode == 4
    assert "refusing to run" in result.stderr and "different pipeline" in result.stderr
    assert not (project / "store/runs/r/nodes").exists()


def test_unknown_node_and_bad_indices(project):
    assert node(project, "--node", "nope").returncode == 2
    result = node(project, "--node", "clean/load")
    assert result.returncode == 2 and "inside 1 map(s)" in result.stderr


def test_control_values_for_every_backend(project):
    digest = sample_hash(project)
    assert node(project, "--node", "extract", "--hash", digest).returncode == 0
    out = project / "out"
    result = node(
        project,
        "--node",
        "clean",
        "--hash",
        digest,
        "--control-out",
        str(out / "value"),
        "--xcom",
        str(out / "xcom.json"),
        "--print-control",
    )
    assert result.returncode == 0, result.stderr
    # every engine gets the body's full instance descriptors (one item each: the map is narrow)
    assert (out / "value").read_text() == '["0","1","2"]'
    assert json.loads((out / "xcom.json").read_text()) == ["0", "1", "2"]
    assert result.stdout.splitlines()[-1] == '["0","1","2"]'
    switch = node(project, "--node", "route", "--xcom", str(out / "route.json"), "--control-out", str(out / "case"))
    assert switch.returncode == 1  # gate has not run: nothing to route on, and the attempt says so
    assert "'verdict' is not available" in switch.stderr


def test_run_id_and_parameters_from_the_environment(project):
    env = {"TRANSPILE_RUN_ID": "from-env", "TRANSPILE_PARAM_date": "2030-01-01", "TRANSPILE_PARAM_shards": '["q"]'}
    result = run_cli(
        "execute-node",
        "--pipeline",
        "samples/etl.yaml",
        "--store",
        "store",
        "--node",
        "extract",
        "-p",
        "date=2031-01-01",
        cwd=project,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    values = RunStore(project / "store", "from-env").result("extract").returns
    assert values["shards"] == ["2031-01-01/q"]  # -p wins over the environment


def test_nodes_of_an_unchosen_case_skip_themselves(project):
    """Engines that cannot branch per map item (Airflow's mapped tasks) run every case; the entrypoint skips."""
    (project / "sw.yaml").write_text(
        "name: sw\nparameters: {xs: [a, b]}\nsteps:\n"
        "  m:\n    map:\n      over: xs\n      as: x\n      steps:\n"
        "        s:\n          switch:\n            on: x\n"
        "            cases: {a: {steps: {ta: {shell: 'echo A'}}}, b: {steps: {tb: {shell: 'echo B'}}}}\n"
    )
    base = ("execute-node", "--pipeline", "sw.yaml", "--store", "store", "--run-id", "s")
    assert run_cli(*base, "--node", "m", cwd=project).returncode == 0
    for i in (0, 1):
        assert run_cli(*base, "--node", "m/s", "--indices", str(i), cwd=project).returncode == 0
        for case in ("a", "b"):
            result = run_cli(*base, "--node", f"m/s/{case}/t{case}", "--indices", str(i), cwd=project)
            assert result.returncode == 0, result.stderr
    run = RunStore(project / "store", "s")
    assert run.result("m@0/s/a/ta") is not None and run.result("m@1/s/b/tb") is not None
    assert run.result("m@0/s/b/tb") is None and run.result("m@1/s/a/ta") is None
    assert run.attempts("m@0/s/b/tb")[0].status == "skipped"


def test_at_file_arguments_are_read(project):
    (project / "arg.txt").write_text('shards=["x", "y"]')
    result = node(project, "--node", "extract", "-p", "@arg.txt")
    assert result.returncode == 0, result.stderr
    assert RunStore(project / "store", "r").result("extract").returns["shards"] == ["2026-01-01/x", "2026-01-01/y"]


def test_step_output_is_echoed_and_logged(project):
    result = node(project, "--node", "extract")
    assert "extracted 3 shards" in result.stdout
    log = project / "store/runs/r/nodes/extract/attempt.1/stdout.log"
    assert log.read_text() == "extracted 3 shards for 2026-01-01\n"


@pytest.mark.parametrize("indices", ["0", "0~2"])
def test_output_reaches_the_pods_log_while_the_step_runs(project, indices):
    """Echoed from the attempt's log files while it runs (a pod's `kubectl logs -f`): each item's first line
    is on the entrypoint's stdout before its step ends, stdout and stderr on their own streams, in order."""
    (project / "slow.yaml").write_text(
        "name: slow\nparameters: {xs: [0, 1, 2]}\nsteps:\n  m: {map: {over: xs, as: x, steps: {s: {shell: "
        '\'echo "begin $x"; echo "err $x" >&2; [ $x = 0 ] && sleep 3; echo "end $x"\'}}}}\n'
    )
    base = [sys.executable, "-m", "transpile", "execute-node", "--pipeline", "slow.yaml", "--store", "store"]
    base += ["--run-id", "e"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([*base, "--node", "m"], cwd=project, env=env, capture_output=True).returncode == 0
    with subprocess.Popen(
        [*base, "--node", "m/s", "--indices", indices],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout.readline() == b"begin 0\n"
        log = project / "store/runs/e/nodes/m@0/s/attempt.1/stdout.log"
        assert log.read_text() == "begin 0\n"  # the step still sleeps: its first line came while it ran
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    items = [0] if indices == "0" else [0, 1, 2]
    assert out.decode() == "end 0\n" + "".join(f"begin {x}\nend {x}\n" for x in items[1:])
    assert [line for line in err.decode().splitlines() if line.startswith("err")] == [f"err {x}" for x in items]
    for x in items:
        log = project / f"store/runs/e/nodes/m@{x}/s/attempt.1/stdout.log"
        assert log.read_text() == f"begin {x}\nend {x}\n"


def test_compiled_pipeline_cache_is_used_and_keyed_by_content(project):
    assert node(project, "--node", "extract").returncode == 0
    cached = list((project / "store/cache/pipelines").glob("*.json"))
    assert len(cached) == 1
    # a changed file is a different key: recompiled, never served stale
    text = (project / "samples/etl.yaml").read_text().replace("Nightly ETL", "Nightly ETL v2")
    (project / "samples/etl.yaml").write_text(text)
    assert node(project, "--node", "extract", "--hash", "0" * 64).returncode == 4
    assert len(list((project / "store/cache/pipelines").glob("*.json"))) == 2


def test_fifty_processes_write_one_store_at_once(project):
    """50 separate processes at once: 40 map items, and 10 attempts of one node racing for attempt numbers."""
    (project / "items.yaml").write_text(
        "name: items\nparameters: {xs: []}\nsteps:\n"
        '  m: {map: {over: xs, as: x, steps: {s: {shell: \'echo "$x" > "$TRANSPILE_RETURNS/y"\', returns: [y]}}}}\n'
        "  same: {shell: 'echo same'}\n"
    )
    xs = json.dumps(list(range(40)))
    base = [
        sys.executable,
        "-m",
        "transpile",
        "execute-node",
        "--pipeline",
        "items.yaml",
        "--store",
        "store",
        "--run-id",
        "c",
        "-p",
        f"xs={xs}",
        "--no-echo",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run(base + ["--node", "m"], cwd=project, env=env).returncode == 0
    procs = [subprocess.Popen(base + ["--node", "m/s", "--indices", str(i)], cwd=project, env=env) for i in range(40)]
    procs += [subprocess.Popen(base + ["--node", "same"], cwd=project, env=env) for _ in range(10)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 50
    run = RunStore(project / "store", "c")
    for i in range(40):
        assert run.result(f"m@{i}/s").returns == {"y": i}
        assert [a.status for a in run.attempts(f"m@{i}/s")] == ["succeeded"]
    same = run.attempts("same")
    assert sorted(a.attempt for a in same) == list(range(1, 11))
    # those that started after the result was published reuse it instead of running the step again
    assert {a.status for a in same} <= {"succeeded", "reused"}
    assert run.result("same").attempt in [a.attempt for a in same if a.status == "succeeded"]
    for path in (project / "store").rglob("*.json"):
        json.loads(path.read_text())
    assert not list((project / "store").rglob("*.tmp"))


# -- the Argo spec's own commands, run locally (tests/support/argo_replay.py) ------------------------------
@pytest.mark.parametrize("pipeline", ["samples/etl.yaml", "samples/etl.py", "failing"])
def test_argo_commands_run_locally_match_transpile_run(project, pipeline):
    if pipeline == "failing":
        (project / "failing.yaml").write_text(
            "name: failing\ndefaults: {image: img, retries: 1}\nparameters: {n: 2}\nsteps:\n"
            "  a: {shell: 'echo $n > \"$TRANSPILE_RETURNS/x\"', returns: [x]}\n"
            "  b: {needs: [a], shell: '[ \"$TRANSPILE_ATTEMPT\" -ge 2 ] && exit 5 || exit 1'}\n"
            "on_failure: {steps: {alert: {shell: 'echo alert $x'}}}\n"
        )
        pipeline = "failing.yaml"
    volume = project / "volume"
    (project / "deploy.yaml").write_text(f"volume: {{mount_path: {volume}}}\n")
    compiled = run_cli("compile", pipeline, "-c", "deploy.yaml", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    spec = yaml.load(compiled.stdout, Loader=yaml.CSafeLoader)
    interpreter = ArgoRun([spec], project, "wf-1")  # Argo's real substitution passes (tests/support/argo_replay.py)
    succeeded = interpreter.run()
    assert interpreter.commands and all(argv[:2] == ["transpile", "execute-node"] for argv in interpreter.commands)
    local = run_cli("run", pipeline, "--store", "local", "--run-id", "wf-1", cwd=project)
    assert succeeded == (local.returncode == 0)
    argo_run, local_run = RunStore(volume, "wf-1"), RunStore(project / "local", "wf-1")
    argo_results = outcomes(argo_run)
    assert argo_results == outcomes(local_run)
    attempted = set(argo_run.node_keys())
    assert attempted == set(local_run.node_keys())  # failed nodes too, not only results
    assert len(attempted) >= 3


def test_entrypoint_imports_nothing_heavy(project):
    """With the compiled pipeline cached, a node runs without pydantic, yaml, jinja2, kubernetes or hera."""
    assert node(project, "--node", "extract").returncode == 0  # the first node compiles and caches
    probe = (
        "import sys; from transpile.cli import main\n"
        "code = main(['execute-node', '--pipeline', 'samples/etl.yaml', '--store', 'store', '--run-id', 'r2',"
        " '--node', 'extract', '--no-echo'])\n"
        "heavy = ('pydantic', 'yaml', 'jinja2', 'kubernetes', 'hera', 'airflow', 'prefect')\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stdout + result.stderr


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["-p", "shards=5"], "parameter 'shards' must be a JSON list, got '5'"),
        (["-p", "shards=null"], "parameter 'shards' must be a JSON list, got 'null'"),
        (["-p", "shards={}", "-p", "date=x"], "parameter 'shards' must be a JSON list, got '{}'"),
    ],
)
def test_values_a_pod_gets_are_checked_by_the_declared_type(project, given, message):
    """execute-node decodes parameters with the one checker: valid JSON of the wrong type is refused too,
    exit 2, before anything runs (an engine's per-run value that `transpile run` would refuse)."""
    result = node(project, "--node", "extract", *given)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (project / "store/runs/r/nodes").exists()
