"""One retry policy (`transpile/plan/retry.py`), and every engine's translation held to it: Argo's `retryStrategy`
(with the controller's backoff formula), the SLURM script's bash loop (run for real), Prefect's
`retry_delay_seconds`, Airflow's retries computed by Airflow's own code, and `transpile run` itself."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.support.airflow_engine import AIRFLOW, airflow_env
from tests.support.venvs import engine_venv
from transpile.plan.model import Retries
from transpile.plan.retry import retry_delay

PIPELINE = """\
name: r
defaults: {image: img}
steps:
  constant: {shell: 'exit 1', retries: {limit: 3, backoff: 5}}
  capped: {shell: 'exit 1', retries: {limit: 4, backoff: 2, factor: 3, max_backoff: 30}}
  growing: {shell: 'exit 1', retries: {limit: 3, backoff: 1, factor: 2}}
  short: {shell: 'exit 1', retries: 2}
  once: {shell: 'exit 1'}
"""
SETTINGS = {
    "constant": Retries(3, 5),
    "capped": Retries(4, 2, 3, 30),
    "growing": Retries(3, 1, 2),
    "short": Retries(2),
    "once": None,
}


def policy(step: str) -> list[int | None]:
    """The policy's answer after attempts 1, 2, ...: a delay, then None (give up)."""
    retries = SETTINGS[step]
    return [retry_delay(retries, n, "failed") for n in range(1, (retries.limit if retries else 0) + 2)]


@given(st.integers(0, 6), st.integers(0, 100), st.integers(1, 4), st.none() | st.integers(1, 500), st.integers(1, 9))
def test_the_policy(limit, backoff, factor, cap, attempt):
    retries = Retries(limit, backoff, factor, cap)
    delay = retry_delay(retries, attempt, "failed")
    if attempt > limit:
        assert delay is None
    else:
        assert delay == min(backoff * factor ** (attempt - 1), cap or 10**18)
        assert retry_delay(retries, attempt, "timed_out") == delay
    assert retry_delay(retries, attempt, "interrupted") is None and retry_delay(retries, attempt, "refused") is None
    assert retry_delay(None, attempt, "failed") is None
    assert retries.delays() == [retry_delay(retries, n, "failed") for n in range(1, limit + 1)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "r.yaml").write_text(PIPELINE)
    return tmp_path


def compile_to(project: Path, target: str) -> Path:
    result = run_cli("compile", "r.yaml", "-t", target, "-o", f"{target}/", cwd=project)
    assert result.returncode == 0, result.stderr
    return project / target


def _go_duration(text: str) -> float:
    """Argo's ParseStringToDuration: a bare number is seconds, else a Go duration."""
    if re.fullmatch(r"\d+", text):
        return float(text)
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", text))


def argo_wait(strategy: dict | None, attempts: int) -> float | None:
    """What Argo's controller does after `attempts` failed children (workflow/controller/operator.go,
    processNodeRetries): give up past `limit`, else wait duration * factor^(attempts-1), capped."""
    if strategy is None or attempts > int(strategy["limit"]):
        return None
    backoff = strategy.get("backoff")
    if not backoff:
        return 0.0
    wait = _go_duration(backoff["duration"])
    if int(backoff.get("factor") or 0) > 0:
        wait *= int(backoff["factor"]) ** (attempts - 1)
    if backoff.get("cap"):
        wait = min(wait, _go_duration(backoff["cap"]))
    return wait


def test_argo_retries_as_the_policy(project):
    spec = yaml.safe_load((compile_to(project, "argo") / "r.yaml").read_text())
    templates = {t["name"]: t for t in spec["spec"]["templates"]}
    tasks = {task["name"]: task["template"] for t in templates.values() for task in t.get("dag", {}).get("tasks", [])}
    for step in SETTINGS:
        strategy = templates[tasks[step]].get("retryStrategy")
        if strategy is not None:
            assert strategy["retryPolicy"] == "Always"  # a failure, a timeout or a lost pod alike
        assert [argo_wait(strategy, n) for n in range(1, len(policy(step)) + 1)] == policy(step), step


def _bash_function(script: str, name: str) -> str:
    match = re.search(rf"^{name}\(\) {{.*?^}}$", script, re.S | re.M)
    assert match, f"the SLURM script defines no {name}"
    return match.group(0)


@pytest.mark.parametrize("code", [1, 2, 4])
def test_slurm_loop_retries_as_the_policy(project, code):
    """The script's own bash loop, with a fake entrypoint that always fails with `code` and a `sleep` that
    records its argument; exit 2 (bad input) and 4 (another pipeline) are the policy's `refused`."""
    script = (compile_to(project, "slurm") / "r.slurm.sh").read_text()
    functions = "\n".join(_bash_function(script, name) for name in ("reset_node", "run_node"))
    (project / "fake").write_text(f"#!/bin/sh\necho x >> {project}/calls\nexit {code}\n")
    (project / "fake").chmod(0o755)
    for step in SETTINGS:
        number = re.search(rf"^node_(\d+)\(\) {{ # {step} \(task\)", script, re.M).group(1)
        body = "\n".join([functions, _bash_function(script, f"node_{number}")])
        body += f"""
sleep() {{ printf '%s\\n' "$1" >> {project}/sleeps; }}
TRANSPILE=({project}/fake) PIPELINE_FILE=r.yaml PIPELINE_HASH=h STORE=s RUN_ID=r
reset_node; node_{number}; run_node '' || exit $?
"""
        for name in ("calls", "sleeps"):
            (project / name).write_text("")
        ran = subprocess.run(["bash", "-c", body], capture_output=True, text=True)
        assert ran.returncode == code, ran.stderr
        sleeps = [int(s) for s in (project / "sleeps").read_text().split()]
        calls = len((project / "calls").read_text().split())
        outcome = "failed" if code == 1 else "refused"
        expected = [retry_delay(SETTINGS[step], n, outcome) for n in range(1, 10)]
        assert sleeps == [d for d in expected if d is not None][: len(sleeps)] and calls == len(sleeps) + 1, step
        assert expected[calls - 1] is None, step  # it gave up exactly when the policy does


def test_prefect_retries_as_the_policy(project):
    """Prefect waits `retry_delay_seconds[n-1]` before retry n (the last item once the list runs out)."""
    flow = (compile_to(project, "prefect") / "r_flow.py").read_text()
    settings = ast.literal_eval(re.search(r"^    settings=(\{.*?^    \}),$", flow, re.S | re.M).group(1))
    for step in SETTINGS:
        name = re.search(rf'run\.node\("{step}", "{step}", "([^"]+)"', flow).group(1)
        options = settings[name]["options"]
        limit, delays = options.get("retries", 0), options.get("retry_delay_seconds", [0])
        prefect = [delays[min(n - 1, len(delays) - 1)] if n <= limit else None for n in range(1, limit + 2)]
        assert prefect == policy(step), step


PROBE = Path(__file__).resolve().parent / "support" / "airflow_retry_probe.py"


def test_airflow_retries_as_the_policy(project, tmp_path):
    """Airflow's own `next_retry_datetime`: the declared delay for a constant backoff; with a growing one,
    Airflow adds its jitter, so each wait is at least the policy's and less than twice it (README: Airflow)."""
    airflow = engine_venv("airflow", AIRFLOW)
    dags = compile_to(project, "airflow")
    env = airflow_env(tmp_path / "home", airflow, dags)
    ran = subprocess.run([str(airflow / "python"), str(PROBE), str(dags)], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    waits = json.loads(ran.stdout.strip().splitlines()[-1])
    for step, retries in SETTINGS.items():
        expected = [d for d in policy(step) if d is not None]
        got = waits[step]
        assert len(got) == len(expected), step
        if retries is None or retries.factor == 1:
            assert got == expected, step
        else:
            for wait, delay in zip(got, expected, strict=True):
                assert delay <= wait < max(2 * delay, 1) or wait == retries.max_backoff, (step, got, expected)


def test_transpile_run_waits_as_the_policy(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "name: r\nsteps:\n  s: {shell: 'exit 1', retries: {limit: 2, backoff: 1, factor: 2}}\n"
    )
    result = run_cli("run", "r.yaml", "--store", "store", "--run-id", "r", cwd=tmp_path)
    assert result.returncode == 1
    from transpile.runtime.store import RunStore

    tries = RunStore(tmp_path / "store", "r").attempts("s")
    gaps = [later.started - earlier.ended for earlier, later in zip(tries, tries[1:], strict=False)]
    expected = [retry_delay(Retries(2, 1, 2), n, "failed") for n in (1, 2)]
    assert len(tries) == 3 and all(d <= gap < d + 2 for gap, d in zip(gaps, expected, strict=True)), gaps
