"""Generated scripts on a real single-node SLURM cluster started once per session (Debian's slurm-wlm and
munge, as root): sbatch runs end with the same node results as `transpile run` (cache entries, nested maps,
switches and parallels included); failures stop the run, run on_failure, end failed and leave nothing in the
queue; timeouts and secrets readable by others fail clearly."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from tests.support.pipelines import NESTED, OPS_PIPELINE
from tests.support.slurm_jobs import SECRET, compile_script, left_in_queue, run_both, submit
from transpile.runtime.store import RunStore


@pytest.mark.parametrize("sample", ["samples/etl.yaml", "samples/etl.py"])
def test_sample_runs_like_transpile_run(project, slurm, sample):
    done, run = run_both(project, sample, slurm)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("run s1\njobs ") and "run s1 succeeded" in done.stdout
    results = outcomes(run)
    assert [results[f"clean@{i}/load"]["returns"]["n"] for i in range(3)] == [30, 31, 32]
    assert results["route"]["case"] == "ship" and "route/hold/notify" not in results
    assert "noop" in results and "on_failure/alert" not in results
    status = json.loads((run.run_dir / "status.json").read_text())
    assert status["status"] == "succeeded" and status["on_failure_ran"] is False
    logs = sorted(p.name for p in (run.run_dir / "slurm" / "logs").iterdir())
    assert [name.rsplit("-", 1)[0] for name in logs if name.startswith("etl-daily.clean.load-")] == [
        "etl-daily.clean.load"
    ] * 3
    assert any(name.startswith("etl-daily.train.xgb.fit-") for name in logs)
    assert not any("hold" in name for name in logs)  # the case not chosen never ran
    assert left_in_queue(run, slurm) == set()


def test_jobs_hit_the_cache_entries_of_transpile_run(project, slurm):
    """Entries `transpile run` wrote on the store settle every cached node of the SLURM run (no process,
    same values); `--no-cache` on the script runs them all again."""
    local = run_cli(
        "run", "samples/etl.yaml", "--store", "store", "--run-id", "local", cwd=project, env={"DB_PASSWORD": SECRET}
    )
    assert local.returncode == 0, local.stderr
    script = compile_script(project, "samples/etl.yaml")
    for run_id, flags in (("s1", ()), ("s2", ("--no-cache",))):
        done = submit(script, slurm, *flags, "--run-id", run_id, "--wait", cwd=project)
        assert done.returncode == 0, done.stderr[-3000:]
    hit, off = RunStore(project / "store", "s1"), RunStore(project / "store", "s2")
    assert outcomes(hit) == outcomes(RunStore(project / "store", "local")) == outcomes(off)
    sources = cached_from(hit)
    assert {key for key, source in sources.items() if source is None} == ETL_CONTROL_NODES
    assert set(sources.values()) == {"local", None}
    assert set(cached_from(off).values()) == {None}


def test_failure_runs_on_failure_and_stops_dependants(project, slurm):
    (project / "ops.yaml").write_text(OPS_PIPELINE)
    done, run = run_both(project, "ops.yaml", slurm)
    assert done.returncode == 1 and "run s1 failed" in done.stdout
    results = outcomes(run)
    assert [a.status for a in run.attempts("flaky")] == ["failed", "succeeded"]
    assert [results[f"m@{i}/sq"]["returns"]["y"] for i in range(2)] == [1, 4]
    assert "boom" not in results and "never" not in results and run.attempts("never") == []
    assert results["on_failure/alert"]["returns"] == {"page": "paging ops"}
    status = json.loads((run.run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["on_failure_ran"] is True
    assert any(f.startswith("boom:") for f in status["failures"]), status
    logs = [p.name for p in (run.run_dir / "slurm" / "logs").iterdir()]
    assert not any(name.startswith("ops.never-") for name in logs)  # cancelled, never started
    assert left_in_queue(run, slurm) == set()  # nothing left pending


ITEM_FAILS = """
name: itemfails
parameters: {xs: [0, 1, 2]}
steps:
  m:
    map:
      over: xs
      as: x
      steps:
        sq: {shell: '[ "$x" != 1 ] && echo $((x * x)) > "$TRANSPILE_RETURNS/y"', returns: [y]}
        inner: {needs: [sq], map: {over: xs, as: z, steps: {deep: {stub: true}}}}
  side: {shell: 'sleep 2'}
  after_side: {needs: [side], stub: true}
  end: {needs: [m, after_side], stub: true}
on_failure:
  steps: {first: {stub: true}, second: {needs: [first], shell: 'exit 1'}, third: {needs: [second], stub: true}}
"""


def test_a_failed_item_stops_the_run_and_leaves_nothing_pending(project, slurm):
    (project / "f.yaml").write_text(ITEM_FAILS)
    done = submit(compile_script(project, "f.yaml"), slurm, "--run-id", "s1", "--wait", cwd=project)
    assert done.returncode == 1 and "run s1 failed" in done.stdout, done.stderr[-3000:]
    run = RunStore(project / "store", "s1")
    results = outcomes(run)
    assert "m@1/sq" not in results and not any(k.startswith("m@1/inner") for k in results)
    assert "end" not in results and run.attempts("end") == []
    status = json.loads((run.run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["on_failure_ran"] is True
    assert status["failures"][0].startswith("m/sq [1]:"), status
    # on_failure's own failure stops only its dependants, and the run still ends
    assert "on_failure/first" in results and "on_failure/second" not in results
    assert run.attempts("on_failure/third") == []
    assert left_in_queue(run, slurm) == set()


def test_nested_maps_switches_and_parallels(project, slurm):
    (project / "nested.yaml").write_text(NESTED)
    done, run = run_both(project, "nested.yaml", slurm)
    assert done.returncode == 0, done.stderr[-3000:]
    results = outcomes(run)
    assert [results[k]["returns"]["d"] for k in ("outer@0/inner@0/double", "outer@0/inner@1/double")] == [2, 4]
    assert results["outer@1/inner@0/double"]["returns"]["d"] == 6
    assert results["last"]["returns"]["all"] == [[2, 4], [6]]
    assert [results[f"by-mode@{i}/pick"]["case"] for i in range(3)] == ["fast", "slow", "fast"]
    assert "by-mode@1/pick/slow/both/a/pa" in results and "by-mode@0/pick/slow/both/a/pa" not in results
    assert [f"by-mode@{i}/after-pick" in results for i in range(3)] == [True] * 3
    assert {k for k in results if k.startswith("top/")} == {
        "top/fast-slow-fast/fan",
        "top/fast-slow-fast/fan@0/one",
        "top/fast-slow-fast/fan@1/one",
    }
    logs = [p.name for p in (run.run_dir / "slurm" / "logs").iterdir()]
    started = [name.rsplit("-", 1)[0] for name in logs]
    assert (
        started.count("nested.by-mode.pick.fast.quick") == 2
        and started.count("nested.by-mode.pick.slow.both.a.pa") == 1
    )
    assert "nested.top.other.nope" not in started  # only the chosen cases' jobs were submitted


TIMEOUTS = """
name: t
parameters: {which: slow}
steps:
  peek: {python: 'peek_steps:peek', returns: [pw], secrets: [{secret: db, key: password, env: PW}]}
  pick:
    needs: [peek]
    switch:
      on: which
      cases:
        slow: {steps: {slow: {shell: 'sleep 30', timeout: 2s, retries: {limit: 1, backoff: 1s}}}}
        open: {steps: {open: {stub: true, secrets: [{secret: db, key: open, env: PW}]}}}
"""


def test_timeouts_and_open_secrets_fail_clearly(project, slurm):
    (project / "t.yaml").write_text(TIMEOUTS)
    (project / "peek_steps.py").write_text("import os\n\ndef peek():\n    return os.environ['PW']\n")
    (project / "secrets" / "db" / "open").write_text("x")
    (project / "secrets" / "db" / "open").chmod(0o644)
    script = compile_script(project, "t.yaml")
    assert "--time=2" in script.read_text()  # 2 attempts of 2 s, 1 s backoff, 60 s margin: 2 minutes
    for run_id, which in (("s1", "slow"), ("s2", "open")):
        done = submit(script, slurm, "-p", f"which={which}", "--run-id", run_id, "--wait", cwd=project)
        assert done.returncode == 1, done.stderr[-3000:]
    slow, opened = RunStore(project / "store", "s1"), RunStore(project / "store", "s2")
    assert slow.result("peek").returns["pw"] == SECRET
    assert len(slow.attempts("pick/slow/slow")) == 2 and slow.result("pick/slow/slow") is None
    failures = json.loads((slow.run_dir / "status.json").read_text())["failures"]
    assert failures and failures[0].startswith("pick/slow/slow:"), failures
    tries = slow.attempts("pick/slow/slow")
    timed_out = ("failed", True, "timed out after 2s")
    assert [(t.status, t.timed_out, t.error) for t in tries] == [timed_out] * 2
    assert "timed out after 2s" in next((slow.run_dir / "slurm" / "logs").glob("t.pick.slow.slow-*")).read_text()
    log = next((opened.run_dir / "slurm" / "logs").glob("t.pick.open.open-*")).read_text()
    assert "readable by others (chmod 600 it)" in log and opened.attempts("pick/open/open") == []
