"""Parity: `transpile run` and the compiled Argo spec's container commands (replayed locally in DAG order)
leave identical per-node records and values, for the samples, the tests' pipelines and random pipelines
generated with hypothesis (DAG shapes, nested map/parallel/switch, hostile names and values, catalog
files, retries, failures).

CI runs `PARITY_EXAMPLES` random pipelines (default 15); set `TRANSPILE_PARITY_EXAMPLES=200` locally.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES, run_cli
from tests.support.argo_replay import ArgoRun
from tests.support.hostile import NAMES, VALUES
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from transpile.runtime.store import RunStore

PARITY_EXAMPLES = int(os.environ.get("TRANSPILE_PARITY_EXAMPLES", "15"))

STEPS_PY = '''\
import json


def echo(**values):
    """Returns what it saw, so both engines must hand it the same values."""
    return json.loads(json.dumps(values, sort_keys=True))


def pick(**values):
    return sorted(values)
'''


def records(run: RunStore) -> dict[str, dict[str, Any]]:
    """Per node instance: statuses of its attempts, the last attempt's inputs, returns, case and item count,
    and its published result (everything an engine must agree on; times, pids and hosts excluded)."""
    found = {}
    for key in run.node_keys():
        attempts = run.attempts(key)
        last = attempts[-1].to_json() if attempts else {}
        result = run.result(key)
        found[key] = {
            "statuses": [a.status for a in attempts],
            "inputs": last.get("inputs"),
            "returns": last.get("returns"),
            "case": last.get("case"),
            "count": last.get("count"),
            "error": last.get("error"),
            "result": None if result is None else {k: v for k, v in result.to_json().items() if k != "attempt"},
        }
    return found


def compare(project: Path, pipeline: str, workflow: str = "wf-1") -> dict[str, dict[str, Any]]:
    """Run `pipeline` both ways in `project`; assert identical records; return them."""
    volume = project / "volume"
    (project / "deploy.yaml").write_text(f"volume: {{mount_path: {volume}}}\n")
    compiled = run_cli("compile", pipeline, "-c", "deploy.yaml", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    interpreter = ArgoRun(
        list(yaml.load_all(compiled.stdout, Loader=yaml.CSafeLoader)), project, workflow
    )  # Argo's real passes
    argo_ok = interpreter.run()
    local = run_cli("run", pipeline, "--store", "local", "--run-id", workflow, "--parallelism", "2", cwd=project)
    assert local.returncode in (0, 1), local.stderr
    assert argo_ok == (local.returncode == 0), local.stderr
    argo_records = records(RunStore(volume, workflow))
    local_records = records(RunStore(project / "local", workflow))
    assert argo_records == local_records
    assert argo_records
    return local_records


# -- fixed corpus: samples and the tests' pipelines ----------------------------------------------------
CORPUS = {
    "nested": """\
        name: nested
        defaults: {image: img}
        parameters: {xs: [1, 2], ys: [a, b, c]}
        steps:
          outer:
            map:
              over: xs
              as: x
              steps:
                inner: {map: {over: ys, as: y, steps: {e: {python: 'steps:echo', returns: [v]}}}}
                k: {needs: [inner], python: 'steps:pick', returns: [seen]}
          total: {needs: [outer], python: 'steps:echo', returns: [all]}
        """,
    "catalog-retry-failure": """\
        name: crf
        defaults: {image: img}
        parameters: {who: "it's me"}
        steps:
          make: {shell: 'echo "$who" > made.txt', catalog: {put: [made.txt]}}
          flaky:
            needs: [make]
            shell: '[ "$TRANSPILE_ATTEMPT" -ge 2 ] && cat made.txt'
            retries: 1
            catalog: {get: [made.txt]}
          bad: {needs: [flaky], shell: 'exit 4'}
        on_failure: {steps: {alert: {shell: 'echo "$TRANSPILE_FAILED" > "$TRANSPILE_RETURNS/f"', returns: [f]}}}
        """,
}


@pytest.mark.parametrize("name", ["samples/etl.yaml", "samples/etl.py", *sorted(CORPUS)])
def test_corpus_runs_identically(tmp_path, name):
    shutil.copytree(SAMPLES, tmp_path / "samples")
    (tmp_path / "steps.py").write_text(STEPS_PY)
    if name in CORPUS:
        import textwrap

        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(CORPUS[name]))
        name = f"{name}.yaml"
    compare(tmp_path, name)


def test_argo_replay_hits_the_cache_entries_of_transpile_run(tmp_path):
    """Entries `transpile run` wrote on the volume settle every cached node of the replayed Argo workflow;
    the workflow parameter transpile_cache=off (`argo submit -p transpile_cache=off`) runs them again."""
    shutil.copytree(SAMPLES, tmp_path / "samples")
    volume = tmp_path / "volume"
    (tmp_path / "deploy.yaml").write_text(f"volume: {{mount_path: {volume}}}\n")
    local = run_cli("run", "samples/etl.yaml", "--store", str(volume), "--run-id", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    compiled = run_cli("compile", "samples/etl.yaml", "-c", "deploy.yaml", cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    documents = list(yaml.load_all(compiled.stdout, Loader=yaml.CSafeLoader))
    assert ArgoRun(documents, tmp_path, "wf-hit").run()
    assert ArgoRun(documents, tmp_path, "wf-off", submitted={"transpile_cache": "off"}).run()
    hit, off = RunStore(volume, "wf-hit"), RunStore(volume, "wf-off")
    assert outcomes(hit) == outcomes(RunStore(volume, "local")) == outcomes(off)
    sources = cached_from(hit)
    assert {key for key, source in sources.items() if source is None} == ETL_CONTROL_NODES
    assert set(sources.values()) == {"local", None}
    assert set(cached_from(off).values()) == {None}


# -- random pipelines -------------------------------------------------------------------------------------
class Builder:
    """Turns hypothesis draws into a pipeline: unique return names, values that must flow through."""

    def __init__(self, draw: Any):
        self.draw = draw
        self.returns = 0
        self.params: dict[str, Any] = {}
        self.files = 0

    def name(self, used: set[str]) -> str:
        pool = [n for n in (*NAMES, *(f"s{i}" for i in range(8))) if n not in used]
        chosen = self.draw(st.sampled_from(pool))
        used.add(chosen)
        return chosen

    def task(self, in_map: bool) -> dict[str, Any]:
        self.returns += 1
        ret = f"r{self.returns}"
        kind = self.draw(st.sampled_from(["python", "shell", "shell-catalog", "flaky"]))
        if kind == "python":
            return {"python": "steps:echo", "returns": [ret]}
        if kind == "flaky":
            return {"shell": f'[ "$TRANSPILE_ATTEMPT" -ge 2 ] && printf %s "$v0" > "$TRANSPILE_RETURNS/{ret}"',
                    "returns": [ret], "retries": 1}  # fmt: skip
        if kind == "shell-catalog" and not in_map:
            self.files += 1
            file = f"f{self.files}.txt"
            shell = f'printf %s "$v0" > {file} && cat {file} > "$TRANSPILE_RETURNS/{ret}"'
            return {"shell": shell, "returns": [ret], "catalog": {"put": [file]}}
        return {"shell": f'printf %s "$v0" > "$TRANSPILE_RETURNS/{ret}"', "returns": [ret]}

    def block(self, depth: int, in_map: bool) -> dict[str, Any]:
        steps: dict[str, Any] = {}
        used: set[str] = set()
        for _ in range(self.draw(st.integers(1, 3))):
            name = self.name(used)
            kinds = ["task", "task"] + (["map", "parallel", "switch"] if depth < 2 else [])
            kind = self.draw(st.sampled_from(kinds))
            if kind == "task":
                step = self.task(in_map)
            elif kind == "map":
                over = f"items{len(self.params)}"
                self.params[over] = list(self.draw(st.lists(st.sampled_from(VALUES), min_size=0, max_size=3)))
                step = {"map": {"over": over, "as": f"x{len(self.params)}", "steps": self.block(depth + 1, True)}}
            elif kind == "parallel":
                branches: set[str] = set()
                step = {"parallel": {self.name(branches): {"steps": self.block(depth + 1, in_map)}
                                     for _ in range(self.draw(st.integers(1, 2)))}}  # fmt: skip
            else:
                on = f"pick{len(self.params)}"
                cases = self.draw(st.lists(st.sampled_from(VALUES[:6]), min_size=1, max_size=3, unique=True))
                self.params[on] = self.draw(st.sampled_from(cases))
                step = {"switch": {"on": on, "cases": {c: {"steps": self.block(depth + 1, in_map)} for c in cases}}}
            earlier = sorted(steps)
            if earlier:
                step["needs"] = self.draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2))
            steps[name] = step
        return steps

    def pipeline(self) -> dict[str, Any]:
        self.params["v0"] = self.draw(st.sampled_from(VALUES))
        steps = self.block(0, False)
        if self.files:
            steps["use-files"] = {
                "needs": sorted(steps),
                "shell": "cat f*.txt > /dev/null",
                "catalog": {"get": ["f*.txt"]},
            }
        if self.draw(st.booleans()):
            steps["fails"] = {"needs": sorted(steps), "shell": 'echo "$v0"; exit 3'}
        return {
            "name": "random",
            "defaults": {"image": "img"},
            "parameters": self.params,
            "steps": steps,
            "on_failure": {
                "steps": {
                    "alert": {
                        "shell": 'printf %s "$TRANSPILE_FAILED" > "$TRANSPILE_RETURNS/failed"',
                        "returns": ["failed"],
                    }
                }
            },  # fmt: skip
        }


@settings(
    max_examples=PARITY_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=list(HealthCheck),
)
@given(st.data())
def test_random_pipelines_run_identically(data):
    pipeline = Builder(data.draw).pipeline()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "steps.py").write_text(STEPS_PY)
        (project / "random.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False, allow_unicode=True))
        compare(project, "random.yaml")
