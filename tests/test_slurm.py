"""The SLURM backend, proven on a real single-node SLURM cluster started once per session (Debian's
slurm-wlm and munge, as root): generated scripts submit runs with sbatch that end with the same node
results as `transpile run`; failures stop the run, run on_failure and end failed; hostile strings travel
byte for byte; scripts are shellcheck-clean and deterministic."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, SAMPLES, run_cli
from tests.support.hostile import NAMES, VALUES
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from tests.support.pipelines import OPS_PIPELINE
from tests.support.shared import session_dir, shared_by_workers
from tests.support.slurm_cluster import SlurmUnavailable, cluster_of, ensure_installed, start_state, stop_state
from transpile.backends.slurm import cpus, megabytes, q, time_limit
from transpile.plan.model import Retries
from transpile.plan.model import Settings as StepSettings
from transpile.runtime.store import RunStore

SECRET = "s3cret 'pw' $HOME\n"


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"SLURM must run under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node cluster for the whole session; its environment (SLURM_CONF, this tree on PYTHONPATH)."""
    with ExitStack() as stack:
        try:
            state = stack.enter_context(
                shared_by_workers(session_dir(tmp_path_factory, "slurm"), start_state, stop_state)
            )
        except SlurmUnavailable as exc:
            _unavailable(str(exc))
        env = dict(cluster_of(state).env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        yield env


@pytest.fixture(scope="session")
def shellcheck() -> str:
    try:
        ensure_installed()
    except SlurmUnavailable as exc:
        _unavailable(str(exc))
    return shutil.which("shellcheck") or "/usr/bin/shellcheck"


def make_project(root: Path, **slurm: object) -> Path:
    """Samples, a deploy config running this tree's transpile with a store in the project, a secret."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLES, root / "samples")
    secret = root / "secrets" / "db" / "password"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET)
    secret.chmod(0o600)
    deploy = {
        "working_dir": str(root),
        "command": [sys.executable, "-m", "transpile"],
        "volume": {"mount_path": str(root / "store")},
        "parallelism": 2,
        "slurm": {"secrets_dir": str(root / "secrets"), **slurm},
    }
    (root / "deploy.yaml").write_text(yaml.safe_dump(deploy))
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def compile_script(project: Path, pipeline: str) -> Path:
    result = run_cli("compile", pipeline, "-t", "slurm", "-c", "deploy.yaml", "-o", "out/", cwd=project)
    assert result.returncode == 0, result.stderr
    return next((project / "out").glob("*.slurm.sh"))


def submit(script: Path, env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def run_both(
    project: Path, pipeline: str, env: dict, *params: str, env_readers: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess, RunStore]:
    """Run the pipeline through its SLURM script (run `s1`) and with `transpile run` (run `local`); their
    exit status and every node's result must agree (except the `env_readers`' results: `transpile run`
    does not apply a step's `env`, a job does)."""
    script = compile_script(project, pipeline)
    flags = [arg for p in params for arg in ("-p", p)]
    done = submit(script, env, *flags, "--run-id", "s1", "--wait", cwd=project)
    local = run_cli(
        "run", pipeline, *flags, "--store", "local", "--run-id", "local", cwd=project, env={"DB_PASSWORD": SECRET}
    )
    run = RunStore(project / "store", "s1")
    assert (done.returncode == 0) == (local.returncode == 0), (done.stdout, done.stderr[-3000:], local.stderr[-2000:])
    ours = {k: v for k, v in outcomes(run).items() if k not in env_readers}
    theirs = {k: v for k, v in outcomes(RunStore(project / "local", "local")).items() if k not in env_readers}
    assert ours == theirs, done.stderr[-3000:]
    return done, run


def left_in_queue(run: RunStore, env: dict) -> set[str]:
    """The run's jobs still pending or running."""
    ours = set()
    for listing in [*(run.run_dir / "slurm" / "jobs").iterdir(), run.run_dir / "slurm" / "finalizer"]:
        ours |= set(listing.read_text().split())
    queued = subprocess.run(["squeue", "-h", "-o", "%F"], env=env, capture_output=True, text=True, check=True)
    return ours & set(queued.stdout.split())


# -- on the cluster ---------------------------------------------------------------------------------------
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


NESTED = """
name: nested
parameters: {groups: [[1, 2], [3]], modes: [fast, slow, fast]}
steps:
  outer:
    map:
      over: groups
      as: g
      steps:
        inner:
          map:
            over: g
            as: v
            steps:
              double: {shell: 'echo $((v * 2)) > "$TRANSPILE_RETURNS/d"', returns: [d]}
        total: {needs: [inner], shell: 'echo "$d" > "$TRANSPILE_RETURNS/t"', returns: [t]}
  by_mode:
    map:
      over: modes
      as: mode
      steps:
        pick:
          switch:
            on: mode
            cases:
              fast: {steps: {quick: {shell: 'echo q > "$TRANSPILE_RETURNS/r"', returns: [r]}}}
              slow:
                steps:
                  both:
                    parallel:
                      a: {steps: {pa: {shell: 'echo a > "$TRANSPILE_RETURNS/r"', returns: [r]}}}
                      b: {steps: {pb: {stub: true}}}
        after_pick: {needs: [pick], stub: true}
  top:
    needs: [outer, by_mode]
    switch:
      on: modes
      cases:
        other: {steps: {nope: {stub: true}}}
        '["fast","slow","fast"]':
          steps:
            fan:
              map: {over: groups, as: g, steps: {one: {stub: true}}}
  last: {needs: [top], shell: 'echo "$t" > "$TRANSPILE_RETURNS/all"', returns: [all]}
"""


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


def hostile_pipeline() -> dict:
    """Hostile parameter values, env values, map items, switch case names and step names."""
    case = VALUES[0]  # a case named with quotes and backslashes (names hold no '/' or control characters)
    steps: dict = {
        name: {"shell": f'printf %s "$ENV_{i}" > "$TRANSPILE_RETURNS/e{i}"', "returns": [f"e{i}"]}
        for i, name in enumerate(NAMES)
    }
    steps["say"] = {"shell": 'printf %s "$text" > "$TRANSPILE_RETURNS/t"', "returns": ["t"]}
    steps["fan"] = {
        "map": {"over": "items", "as": "item", "steps": {"echo": {"python": "hostile_steps:same", "returns": ["o"]}}}
    }
    steps["route"] = {
        "switch": {
            "on": "choice",
            "cases": {case: {"steps": {"x": {"stub": True}}}, "other": {"steps": {"y": {"stub": True}}}},
        }
    }
    return {
        "name": "hostile",
        "parameters": {"text": "", "items": [], "choice": "other"},
        "defaults": {"env": {f"ENV_{i}": value for i, value in enumerate(VALUES)}},
        "steps": steps,
    }


def test_hostile_strings_travel_byte_for_byte(tmp_path, slurm):
    project = make_project(tmp_path / "it's a %j $(touch pwned) dir", options=["--comment=it's %j"])
    (project / "hostile.yaml").write_text(json.dumps(hostile_pipeline(), ensure_ascii=False))
    (project / "hostile_steps.py").write_text("def same(item):\n    return item\n")
    params = [f"text={VALUES[6]}", f"items={json.dumps(list(VALUES))}", f"choice={VALUES[0]}"]
    readers = ("load-data", "it-s", "workflow-name", "id", "items", "attempt-1", "select", "each")
    done, run = run_both(project, "hostile.yaml", slurm, *params, env_readers=readers)
    assert done.returncode == 0, done.stderr[-3000:]
    assert run.result("say").returns["t"] == VALUES[6]
    assert [run.result(f"fan@{i}/echo").returns["o"] for i in range(len(VALUES))] == list(VALUES)
    env_seen = [run.result(k).returns[f"e{i}"] for i, k in enumerate(readers)]
    assert env_seen == [v.removesuffix("\n") for v in VALUES[:8]]
    assert run.result("route").case == VALUES[0] and run.result("route/it-s-quoted-back-slash/x") is not None
    assert not Path("/tmp/pwned").exists() and not (project / "pwned").exists()


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


# -- without a cluster ------------------------------------------------------------------------------------
PIPELINES = {"etl": "samples/etl.yaml", "ops": OPS_PIPELINE, "nested": NESTED, "hostile": hostile_pipeline()}


def write_pipeline(project: Path, name: str) -> str:
    text = PIPELINES[name]
    if name == "etl":
        return text
    (project / f"{name}.yaml").write_text(text if isinstance(text, str) else json.dumps(text, ensure_ascii=False))
    return f"{name}.yaml"


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_scripts_are_shellcheck_clean_and_deterministic(project, shellcheck, name):
    pipeline = write_pipeline(project, name)
    first = compile_script(project, pipeline)
    text = first.read_bytes()
    again = run_cli("compile", pipeline, "-t", "slurm", "-c", "deploy.yaml", cwd=project)
    assert again.stdout.encode() == text
    checked = subprocess.run([shellcheck, "--severity=style", str(first)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_script_refuses_bad_flags_before_submitting(project):
    script = compile_script(project, "samples/etl.yaml")
    for args, message in [
        (["-p", "nope=1"], "unknown parameter: nope"),
        (["-p", "date"], "-p expects NAME=VALUE"),
        (["--run-id", "a/b"], "--run-id may hold only"),
        (["--bogus"], "unknown argument: --bogus"),
    ]:
        done = submit(script, {**os.environ, "PATH": "/usr/bin:/bin"}, *args, cwd=project)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert not (project / "store").exists()
    usage = submit(script, dict(os.environ), "--help", cwd=project)
    assert usage.returncode == 0 and "parameters: date shards" in usage.stdout


def test_settings_become_sbatch_options(project):
    (project / "deploy.yaml").write_text(
        yaml.safe_dump(
            {
                "parallelism": 3,
                "slurm": {"partition": "gpu", "account": "lab", "qos": "high", "options": ["--constraint=avx2"]},
            }
        )
    )
    text = compile_script(project, "samples/etl.yaml").read_text()
    assert "SBATCH_OPTIONS=(--partition=gpu --account=lab --qos=high --constraint=avx2)" in text
    assert "RESOURCES=(--cpus-per-task=1 --mem=1024M --gres=gpu:1 --time=93)" in text
    assert "ARRAY_LIMIT=3" in text and "STORE=''" in text and 'SECRETS_DIR="$HOME"/.transpile/secrets' in text
    assert "DELAYS=(30 60)" in text and "TIMEOUT=1800" in text and "CASES=(ship 2 hold 3)" in text


def test_targets_lists_slurm():
    result = run_cli("targets")
    assert result.returncode == 0 and "slurm" in result.stdout


def test_schedule_is_refused_with_a_scrontab_hint(project):
    (project / "s.yaml").write_text("name: s\nschedule: {cron: '0 3 * * *'}\nsteps:\n  a: {stub: true}\n")
    result = run_cli("compile", "s.yaml", "-t", "slurm", cwd=project)
    assert result.returncode == 2
    assert "s.yaml:2:1" in result.stderr and "SLURM has no schedule" in result.stderr
    assert "0 3 * * * bash /path/to/s.slurm.sh" in result.stderr


def test_unreadable_quantities_are_located_errors(project):
    (project / "r.yaml").write_text("name: r\nsteps:\n  a: {stub: true, resources: {cpu: lots, memory: 1 lot}}\n")
    result = run_cli("compile", "r.yaml", "-t", "slurm", cwd=project)
    assert result.returncode == 2, result.stderr
    # the pipeline's own checks refuse them first, each at its line (the backend's refusal is the fallback)
    assert "'lots' is not a Kubernetes quantity" in result.stderr and "'1 lot'" in result.stderr
    assert "r.yaml:3:" in result.stderr


def test_bad_sbatch_option_is_a_config_error(project):
    (project / "deploy.yaml").write_text("slurm: {options: ['constraint=avx2']}\n")
    result = run_cli("compile", "samples/etl.yaml", "-t", "slurm", "-c", "deploy.yaml", cwd=project)
    assert result.returncode == 2 and "must start with '-'" in result.stderr


def test_quantities_and_time_limits():
    assert [cpus(c) for c in ("500m", 1, "1.5", 2.0, "2000m")] == [1, 1, 2, 2, 2]
    assert [megabytes(m) for m in ("1Gi", "512Mi", "1G", "100M", "1000", "1.5Gi")] == [1024, 512, 954, 96, 1, 1536]
    assert megabytes("lots") is None and cpus("lots") is None and cpus("nan") is None and cpus(0) is None
    assert time_limit(StepSettings()) is None
    assert time_limit(StepSettings(timeout=600)) == 11
    assert time_limit(StepSettings(timeout=1800, retries=Retries(2, 30, 2, 600))) == 93


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
def test_every_quoted_word_is_the_text_itself(text):
    word = q(text)
    assert "\n" not in word
    assert subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True).stdout == text.encode()
