"""Wide maps (issue 20): instance descriptors, the batching policy, the batch runner inside one pod, and maps of
1,100 and 5,000 items on every engine with their DEFAULT configuration.

What runs what (the suite's time matters: an item costs a forked process, ~10 ms):
- `transpile run` and the Argo spec replayed run a pipeline with a 1,100-item and a 5,000-item map, compared
  record by record (Argo with its default `max_pods_per_map` for 1,100 items, so the automatic split runs,
  and with an explicit `batch` for 5,000);
- Airflow (`dags test`), Prefect (a real server) and SLURM (default MaxArraySize) run the same pipeline with
  an explicit `batch` (an Airflow mapped task instance costs ~150 ms), and must publish the same values and
  record every item with the batch that ran it; the automatic split on each is covered exactly on a cheap
  path: the fan-out told the engine's own limit (read from the running engine) stays within it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.support.airflow_engine import airflow_env, compile_to, dags_test
from tests.support.argo_replay import ArgoRun
from tests.support.outcomes import outcomes
from tests.support.prefect_engine import compile_flow, run_flow
from tests.support.slurm_jobs import compile_script, make_project, submit
from tests.test_parity import records
from transpile.plan import batching
from transpile.runtime import instances
from transpile.runtime.store import RunStore

STEPS = """\
import os
import time


def double(item):
    return item * 2


def total_a(da):
    return sum(da)


def total_b(db):
    return sum(db)


def slow(item):
    time.sleep(float(os.environ.get("SLOW", "0")))
    return item


def make_xs(small):
    return list(range(int(small)))


def make_ys(large):
    return list(range(int(large)))
"""


def wide_pipeline(small: int = 1100, large: int = 5000, small_batch: int | None = None, large_batch: int | None = 500):
    """Two maps of trivial steps, `small` and `large` items wide (`batch` items per instance when given), each
    summed after."""

    def each(over: str, batch: int | None) -> dict:
        spec: dict = {
            "over": over,
            "as": "item",
            "steps": {"double": {"python": "wide:double", "returns": ["da" if over == "xs" else "db"]}},
        }
        if batch:
            spec["batch"] = batch
        return {"needs": [over], "map": spec}

    return {
        "name": "wide",
        "defaults": {"image": "img"},
        "parameters": {"small": small, "large": large},
        "steps": {
            "xs": {"python": "wide:make_xs", "returns": ["xs"]},
            "ys": {"python": "wide:make_ys", "returns": ["ys"]},
            "a": each("xs", small_batch),
            "b": each("ys", large_batch),
            "sa": {"needs": ["a"], "python": "wide:total_a", "returns": ["sum_a"]},
            "sb": {"needs": ["b"], "python": "wide:total_b", "returns": ["sum_b"]},
        },
    }


def project_with(root: Path, deploy: dict | None = None, **sizes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wide.py").write_text(STEPS)
    (root / "wide.yaml").write_text(yaml.safe_dump(wide_pipeline(**sizes), sort_keys=False))
    (root / "deploy.yaml").write_text(yaml.safe_dump(deploy or {}))
    return root


def expected(small: int = 1100, large: int = 5000) -> dict[str, int]:
    return {"sa": sum(2 * i for i in range(small)), "sb": sum(2 * i for i in range(large))}


def sums(run: RunStore) -> dict[str, int]:
    return {key: next(iter(run.result(key).returns.values())) for key in ("sa", "sb")}


def assert_every_item_recorded(run: RunStore, small: int = 1100, large: int = 5000) -> set[str]:
    """Every item of both maps has one succeeded attempt naming the batch that ran it; the batches seen."""
    batches: set[str] = set()
    for name, count in (("a", small), ("b", large)):
        for i in range(count):
            attempts = run.attempts(f"{name}@{i}/double")
            assert [a.status for a in attempts] == ["succeeded"], (name, i, attempts)
            if attempts[0].batch:
                first, last = (instances.parse(attempts[0].batch).first, instances.parse(attempts[0].batch).last)
                assert first <= (i,) <= last
                batches.add(f"{name}:{attempts[0].batch}")
    return batches


# -- descriptors and the policy ----------------------------------------------------------------------------
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=6),
    st.integers(1, 40),
)
def test_batches_cover_every_instance_once_in_order(counts, size):
    pairs = [((n,), c) for n, c in enumerate(counts)]
    made = instances.batches(pairs, size)
    inner = dict(pairs)
    seen = [m for text in made for m in instances.members(instances.parse(text), lambda p: inner.get(p, 0) if p else 0)]
    assert seen == [(n, i) for n, c in enumerate(counts) for i in range(c)]
    assert len(made) == batching.instances(sum(counts), size)
    assert all(len(text) <= 2 * (len(str(len(counts))) + len(str(max(counts))) + 1) + 1 for text in made)


@given(st.integers(0, 200_000), st.one_of(st.none(), st.integers(1, 5000)), st.integers(1, 5000))
def test_the_split_stays_within_the_limit_with_the_smallest_batch(items, batch, limit):
    size = batching.per_instance(items, batch, limit)
    assert batching.instances(items, size) <= limit
    assert size >= (batch or 1)
    if size > (batch or 1):  # grown: one item less per instance would not fit
        assert batching.instances(items, size - 1) > limit


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0~", "same number"), ("3~1", "END comes before START"), ("1.2~3", "same number"), ("a", "expected numbers")],
)
def test_bad_descriptors_are_refused(text, problem):
    with pytest.raises(instances.BadDescriptor, match=problem):
        instances.parse(text)


def node(project: Path, *args: str, run_id: str = "r") -> subprocess.CompletedProcess:
    return run_cli(
        "execute-node", "--pipeline", "wide.yaml", "--store", "store", "--run-id", run_id, *args, cwd=project
    )


def test_a_fan_out_told_a_limit_splits_within_it_and_out_of_range_is_exit_2(tmp_path):
    project = project_with(tmp_path / "p", small=1100, large=5000, large_batch=None)
    assert node(project, "--node", "ys").returncode == 0
    for limit in (1001, 1024, 500, 7):
        done = node(project, "--node", "b", "--max-instances", str(limit), "--print-control", run_id="r")
        assert done.returncode == 0, done.stderr
        made = json.loads(done.stdout.splitlines()[-1])
        size = -(-5000 // limit)
        assert len(made) == -(-5000 // size) <= limit
        assert made[0] == f"0~{size - 1}" and made[-1].endswith("~4999")
    bad = node(project, "--node", "b/double", "--indices", "4990~5000")
    assert bad.returncode == 2 and "out of range" in bad.stderr


# -- the batch runner: kill -9 of a batch's pod, then the engine's retry ------------------------------------
def test_kill_9_mid_batch_then_retry_runs_only_what_has_no_result(tmp_path):
    pipeline = {
        "name": "killed",
        "parameters": {"small": 12},
        "steps": {
            "xs": {"python": "wide:make_xs", "returns": ["xs"]},
            "m": {"needs": ["xs"], "map": {"over": "xs", "as": "item", "batch": 12,
                                           "steps": {"s": {"python": "wide:slow", "returns": ["v"]}}}},
        },
    }  # fmt: skip
    project = tmp_path / "p"
    project.mkdir()
    (project / "wide.py").write_text(STEPS)
    (project / "wide.yaml").write_text(yaml.safe_dump(pipeline))
    run = RunStore(project / "store", "k")
    for n in ("xs", "m"):
        assert node(project, "--node", n, run_id="k").returncode == 0
    argv = [sys.executable, "-m", "transpile", "execute-node", "--pipeline", "wide.yaml", "--store", "store"]
    argv += ["--run-id", "k", "--node", "m/s", "--indices", "0~11"]
    env = {**os.environ, "SLOW": "0.3", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    pod = subprocess.Popen(argv, cwd=project, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while sum(run.result(f"m@{i}/s") is not None for i in range(12)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(pod.pid, signal.SIGKILL)  # the pod dies: its entrypoint and the attempt it was running
    pod.wait()
    done_before = {i for i in range(12) if run.result(f"m@{i}/s") is not None}
    assert 4 <= len(done_before) < 12
    again = subprocess.run(argv, cwd=project, env={**env, "SLOW": "0"}, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    for i in range(12):
        statuses = [a.status for a in run.attempts(f"m@{i}/s")]
        assert "running" not in statuses
        assert run.result(f"m@{i}/s").returns == {"v": i}
        if i in done_before:
            # not run again: reused (its attempt, when the pod died just after it published, closed)
            assert statuses in (["succeeded", "reused"], ["interrupted", "reused"]), (i, statuses)
        else:
            assert statuses[-1] == "succeeded" and statuses.count("succeeded") == 1, (i, statuses)
    assert all(a.batch == "0~11" for i in range(12) for a in run.attempts(f"m@{i}/s"))


# -- engines ------------------------------------------------------------------------------------------------
def test_argo_replay_matches_transpile_run_at_1100_and_5000_items(tmp_path):
    """The 1,100-item map is split automatically (a pod costs ~0.3 s in the replay: the limit is set to 10 pods
    per map here; the default's split is checked exactly by test_check_and_compile_say_how_each_map_is_split),
    the 5,000-item one by its `batch: 500`."""
    deploy = {"volume": {"mount_path": str(tmp_path / "p" / "volume")}, "argo": {"max_pods_per_map": 10}}
    project = project_with(tmp_path / "p", deploy)
    compiled = run_cli("compile", "wide.yaml", "-c", "deploy.yaml", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    replay = ArgoRun(list(yaml.load_all(compiled.stdout, Loader=yaml.CSafeLoader)), project, "wf-1")
    assert replay.run()
    local = run_cli("run", "wide.yaml", "--store", "local", "--run-id", "wf-1", "--parallelism", "2", cwd=project)
    assert local.returncode == 0, local.stderr
    argo, mine = RunStore(project / "volume", "wf-1"), RunStore(project / "local", "wf-1")
    assert sums(argo) == sums(mine) == expected()
    assert records(argo) == records(mine)
    batches = assert_every_item_recorded(argo)
    assert {"a:0~109", "a:110~219", "a:990~1099"} <= batches
    assert sum(b.startswith("a:") for b in batches) == 10  # 110 items per pod
    assert sum(b.startswith("b:") for b in batches) == 10  # batch: 500
    pods = replay.status.pod_ids
    assert len(pods) == 2 + 2 + len(batches) + 2  # producers, fan-outs, batches, sums
    assert replay.status.size() < 1_572_864 // 4  # well inside etcd's 1.5 MiB


READ_MAX_MAP_LENGTH = "from airflow.configuration import conf; print(conf.getint('core', 'max_map_length'))"


@pytest.fixture
def engine_project(tmp_path: Path) -> Path:
    return project_with(tmp_path / "p", small_batch=100, large_batch=500)


def test_airflow_runs_1100_and_5000_items_batched_within_max_map_length(engine_project, airflow_bin, airflow_home):
    project = engine_project
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    dag = compile_to(project, "wide.yaml", dags, "--flavour", "local", "-c", "deploy.yaml")
    limit = subprocess.run(
        [str(airflow_bin / "python"), "-c", READ_MAX_MAP_LENGTH],
        env=airflow_env_of(airflow_home, airflow_bin, dags), capture_output=True, text=True, check=True,
    ).stdout.split()[-1]  # fmt: skip
    assert limit == "1024" and "MAX_MAP_LENGTH = conf.getint" in dag.read_text()
    test = dags_test(airflow_bin, airflow_home, dags, "wide")
    store = project / ".transpile" / "store"
    (run_id,) = [p.name for p in (store / "runs").iterdir()]
    run = RunStore(store, run_id)
    assert test.returncode == 0, test.stderr[-3000:]
    assert sums(run) == expected()
    assert len(assert_every_item_recorded(run)) == 11 + 10


def airflow_env_of(home: Path, airflow_bin: Path, dags: Path) -> dict:
    return airflow_env(home, airflow_bin, dags)


def test_prefect_runs_1100_and_5000_items_batched(engine_project, prefect_bin, prefect_api):
    project = engine_project
    flow = run_flow(compile_flow(project, "wide.yaml", prefect_bin), prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stderr[-3000:]
    (run_id,) = [p.name for p in (project / "store" / "runs").iterdir()]
    run = RunStore(project / "store", run_id)
    assert sums(run) == expected()
    assert len(assert_every_item_recorded(run)) == 11 + 10


def test_slurm_runs_1100_and_5000_items_batched_and_reads_max_array_size(tmp_path, slurm):
    """The default MaxArraySize (1001) refuses the 1,100-element array the issue saw; the fan-out is told it
    (test_a_fan_out_told_a_limit_splits_within_it checks the split at 1001)."""
    project = make_project(tmp_path / "p")
    (project / "wide.py").write_text(STEPS)
    pipeline = wide_pipeline(small_batch=100, large_batch=500)
    (project / "wide.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    for attempt in range(5):  # slurmctld may be too busy to answer at once
        config = subprocess.run(["scontrol", "show", "config"], env=slurm, capture_output=True, text=True)
        if config.returncode == 0:
            break
        time.sleep(attempt + 1)
    assert config.returncode == 0, config.stderr
    assert any(line.split()[:3] == ["MaxArraySize", "=", "1001"] for line in config.stdout.splitlines())
    refused = subprocess.run(
        ["sbatch", "--array=0-1099", "--wrap=true"], env=slurm, capture_output=True, text=True, cwd=project
    )
    assert refused.returncode != 0 and "array" in refused.stderr.lower()  # what the issue saw
    script = compile_script(project, "wide.yaml")
    done = submit(script, slurm, "--run-id", "s1", "--wait", cwd=project)
    run = RunStore(project / "store", "s1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sums(run) == expected()
    assert len(assert_every_item_recorded(run)) == 11 + 10
    assert outcomes(run)["sa"] == {"returns": {"sum_a": expected()["sa"]}}


def test_check_and_compile_say_how_each_map_is_split(tmp_path):
    pipeline = {
        "name": "told",
        "defaults": {"image": "img"},
        "parameters": {"xs": list(range(2500))},
        "steps": {
            "m": {"map": {"over": "xs", "as": "x", "steps": {"s": {"python": "wide:double", "returns": ["v"]}}}},
            "n": {"map": {"over": "xs", "as": "y", "batch": 7, "steps": {"t": {"shell": "true"}}}},
        },
    }
    (tmp_path / "told.yaml").write_text(yaml.safe_dump(pipeline))
    said = {}
    for target in ("slurm", "airflow", "argo", "prefect"):
        done = run_cli("check", "told.yaml", "-t", target, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        said[target] = done.stderr
    assert "map 'm' on slurm: 2,500 items: 834 instances of 3 items" in said["slurm"]  # MaxArraySize 1001
    assert "map 'm' on airflow: 2,500 items: 834 instances of 3 items" in said["airflow"]  # max_map_length 1024
    assert "map 'm' on argo: 2,500 items: 500 instances of 5 items" in said["argo"]
    assert "map 'n' on prefect: 2,500 items: 358 instances of 7 items" in said["prefect"]
    compiled = run_cli("compile", "told.yaml", "-t", "argo", "-o", "out/", cwd=tmp_path)
    assert "map 'n' on argo: 2,500 items: 358 instances of 7 items" in compiled.stderr


def test_graph_runs_show_and_the_api_name_batches(tmp_path):
    project = project_with(tmp_path / "p", small=30, large=40, small_batch=None, large_batch=16)
    graph = run_cli("graph", "wide.yaml", cwd=project)
    assert "b: map over ys as item, 16 items per instance" in graph.stdout
    for name in ("xs", "ys", "a", "b"):
        assert node(project, "--node", name).returncode == 0
    assert node(project, "--node", "b/double", "--indices", "16~31").returncode == 0
    shown = run_cli("runs", "show", "r", "--store", "store", cwd=project)
    assert "batch 16~31; db=32" in shown.stdout, shown.stdout
    from transpile.api import load_run

    by_key = load_run("r", project / "store").nodes
    assert by_key["b@16/double"].batch == "16~31" and by_key["b@16/double"].returns == {"db": 32}


NESTED = {
    "name": "nested-batches",
    "defaults": {"image": "img"},
    "parameters": {"small": 7, "large": 5},
    "steps": {
        "xs": {"python": "wide:make_xs", "returns": ["xs"]},
        "ys": {"python": "wide:make_ys", "returns": ["ys"]},
        "outer": {
            "needs": ["xs", "ys"],
            "map": {
                "over": "xs",
                "as": "x",
                "batch": 3,
                "steps": {
                    "inner": {"map": {"over": "ys", "as": "item", "steps": {"d": {"python": "wide:double"}}}},
                    "pick": {"python": "wide:parity", "returns": ["side"]},
                    "route": {
                        "needs": ["pick"],
                        "switch": {
                            "on": "side",
                            "cases": {
                                "even": {
                                    "steps": {"e": {"shell": 'echo "$x" > "$TRANSPILE_RETURNS/ev"', "returns": ["ev"]}}
                                },
                                "odd": {
                                    "steps": {"o": {"shell": 'echo "$x" > "$TRANSPILE_RETURNS/od"', "returns": ["od"]}}
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_nested_maps_and_switches_batch_on_argo_like_transpile_run(tmp_path):
    """Batches at both levels (the inner map shares the pods its outer loop left it) and a switch whose
    batch chose both cases: the replayed spec and `transpile run` leave the same records."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "wide.py").write_text(STEPS + '\n\ndef parity(x):\n    return "even" if x % 2 == 0 else "odd"\n')
    (project / "wide.yaml").write_text(yaml.safe_dump(NESTED, sort_keys=False))
    (project / "deploy.yaml").write_text(
        yaml.safe_dump({"volume": {"mount_path": str(project / "volume")}, "argo": {"max_pods_per_map": 12}})
    )
    compiled = run_cli("compile", "wide.yaml", "-c", "deploy.yaml", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    assert "=~ '[|]even[|]'" in compiled.stdout
    replay = ArgoRun(list(yaml.load_all(compiled.stdout, Loader=yaml.CSafeLoader)), project, "wf-n")
    assert replay.run()
    local = run_cli("run", "wide.yaml", "--store", "local", "--run-id", "wf-n", cwd=project)
    assert local.returncode == 0, local.stderr
    argo, mine = RunStore(project / "volume", "wf-n"), RunStore(project / "local", "wf-n")
    assert records(argo) == records(mine)
    assert [argo.result(f"outer@{i}/route/even/e") is not None for i in range(7)] == [i % 2 == 0 for i in range(7)]
    inner = {a.batch for i in range(7) for j in range(5) for a in argo.attempts(f"outer@{i}/inner@{j}/d")}
    assert None not in inner and len(inner) > 1  # the inner items ran in batches too
