"""The Prefect backend, proven with a real Prefect 3.8.8 against a local server started once per session:
flows run to the same results as `transpile run`, failures fail the flow after on_failure, hostile strings
stay inert, and every Job the Job-per-node placement creates passes `kubernetes-validate --strict`."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import SAMPLES, run_cli
from tests.support import injection
from tests.support.outcomes import outcomes
from tests.support.pipelines import OPS_PIPELINE
from tests.support.venvs import engine_env, engine_venv
from tests.test_airflow import HOSTILE, assert_ruff_clean, hostile_pipeline
from transpile.compiler import compile_pipeline
from transpile.ir.graph import walk
from transpile.ir.names import node_id
from transpile.runtime.store import RunStore

# prefect 3.9.x needs a certifi release the registry lacks; 3.8.8 with fastapi<0.151 installs and runs.
PREFECT = ["prefect==3.8.8", "fastapi<0.151", "prefect-kubernetes"]
PROBE = Path(__file__).resolve().parent / "support" / "prefect_probe.py"
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


@pytest.fixture(scope="session")
def prefect_bin() -> Path:
    return engine_venv("prefect", PREFECT)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory, prefect_bin):
    """A Prefect server on 127.0.0.1 for the whole session (10-20 s to start here)."""
    home = tmp_path_factory.mktemp("prefect-home")
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    env = engine_env({**os.environ, **QUIET, "PREFECT_HOME": str(home)})
    log = open(home / "server.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [str(prefect_bin / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            pytest.fail(f"the Prefect server exited: {(home / 'server.log').read_text()[-3000:]}")
    else:
        server.kill()
        pytest.fail("the Prefect server did not start within 120 s")
    yield {"PREFECT_API_URL": url, "PREFECT_HOME": str(home), **QUIET}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    return tmp_path


def compile_flow(project: Path, pipeline: str, prefect_bin: Path, *extra: str) -> Path:
    (project / "deploy.yaml").write_text(
        f"working_dir: {project}\ncommand: [{prefect_bin / 'transpile'}]\nvolume: {{mount_path: {project / 'store'}}}\n"
        "image: example.org/flow:1\n"  # the flow's pod image (prefect.yaml), required
    )
    out = project / "flow"
    result = run_cli(
        "compile", pipeline, "-t", "prefect", "-c", "deploy.yaml", "-o", str(out) + "/", *extra, cwd=project
    )
    assert result.returncode == 0, result.stderr
    return next(out.glob("*_flow.py"))


def run_flow(flow_file: Path, prefect_bin: Path, api: dict, project: Path) -> subprocess.CompletedProcess:
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | api)
    return subprocess.run(
        [str(prefect_bin / "python"), str(flow_file)], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


def run_both(project: Path, pipeline: str, prefect_bin: Path, api: dict) -> tuple[int, dict, dict, RunStore]:
    flow_file = compile_flow(project, pipeline, prefect_bin)
    flow = run_flow(flow_file, prefect_bin, api, project)
    runs = [p.name for p in (project / "store" / "runs").iterdir()]
    assert len(runs) == 1, (flow.stdout[-2000:], flow.stderr[-3000:])
    local = run_cli("run", pipeline, "--store", "local", "--run-id", "local", cwd=project)
    assert (flow.returncode == 0) == (local.returncode == 0), (flow.stderr[-3000:], local.stderr)
    prefect_run = RunStore(project / "store", runs[0])
    return flow.returncode, outcomes(prefect_run), outcomes(RunStore(project / "local", "local")), prefect_run


@pytest.mark.parametrize("sample", ["samples/etl.yaml", "samples/etl.py"])
def test_sample_flow_runs_like_transpile_run(project, prefect_bin, prefect_api, sample):
    code, prefect_results, local_results, _ = run_both(project, sample, prefect_bin, prefect_api)
    assert code == 0
    assert prefect_results == local_results
    assert [prefect_results[f"clean@{i}/load"]["returns"]["n"] for i in range(3)] == [30, 31, 32]
    assert prefect_results["route"]["case"] == "ship" and "route/hold/notify" not in prefect_results
    assert "noop" in prefect_results and "on_failure/alert" not in prefect_results


def test_retries_failure_fails_the_flow_and_on_failure_runs(project, prefect_bin, prefect_api):
    (project / "ops.yaml").write_text(OPS_PIPELINE)
    code, prefect_results, local_results, run = run_both(project, "ops.yaml", prefect_bin, prefect_api)
    assert code != 0
    assert prefect_results == local_results
    assert [a.status for a in run.attempts("flaky")] == ["failed", "succeeded"]
    assert [prefect_results[f"m@{i}/sq"]["returns"]["y"] for i in range(2)] == [1, 4]
    assert "boom" not in prefect_results and "never" not in prefect_results
    assert prefect_results["on_failure/alert"]["returns"] == {"page": "paging ops"}


def test_switch_inside_a_map_routes_each_item(project, prefect_bin, prefect_api):
    (project / "sw.yaml").write_text(
        "name: sw\nparameters: {xs: [a, b, a]}\nsteps:\n"
        "  m:\n    map:\n      over: xs\n      as: x\n      steps:\n"
        "        s:\n          switch:\n            on: x\n            cases:\n"
        "              a: {steps: {ta: {shell: 'echo A > \"$TRANSPILE_RETURNS/v\"', returns: [v]}}}\n"
        "              b: {steps: {tb: {shell: 'echo B > \"$TRANSPILE_RETURNS/v\"', returns: [v]}}}\n"
        '  after: {needs: [m], shell: \'echo "$v" > "$TRANSPILE_RETURNS/all"\', returns: [all]}\n'
    )
    code, prefect_results, local_results, _ = run_both(project, "sw.yaml", prefect_bin, prefect_api)
    assert code == 0 and prefect_results == local_results
    assert prefect_results["after"]["returns"]["all"] == ["A", "B", "A"]


def test_no_caching_between_runs(project, prefect_bin, prefect_api):
    flow_file = compile_flow(project, "samples/etl.yaml", prefect_bin)
    for _ in range(2):
        assert run_flow(flow_file, prefect_bin, prefect_api, project).returncode == 0
    runs = [RunStore(project / "store", p.name) for p in (project / "store" / "runs").iterdir()]
    assert len(runs) == 2
    assert outcomes(runs[0]) == outcomes(runs[1]) and len(outcomes(runs[0])) == 14


def test_hostile_strings_are_never_code(project, prefect_bin, prefect_api):
    pipeline = hostile_pipeline(project)
    flow_file = compile_flow(project, pipeline, prefect_bin)
    source = flow_file.read_text()
    ast.parse(source)
    assert_ruff_clean(flow_file)
    flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stderr[-3000:]
    run = RunStore(project / "store", next((project / "store" / "runs").iterdir()).name)
    assert run.result("say-hi-x").returns["t"] == HOSTILE
    assert [run.result(f"fan@{i}/echo").returns["o"] for i in range(2)] == [HOSTILE, "{{ run_id }}"]
    assert run.result("route").case == HOSTILE


def test_parameter_names_that_would_shadow_are_taken_as_keywords(project, prefect_bin, prefect_api):
    (project / "names.yaml").write_text(
        "name: names\nparameters: {start: 1, params: 2, dict: 3, class: 4}\n"
        'steps:\n  s: {shell: \'echo "$start$params$dict$class" > "$TRANSPILE_RETURNS/v"\', returns: [v]}\n'
    )
    flow_file = compile_flow(project, "names.yaml", prefect_bin)
    assert "**params: Any" in flow_file.read_text()
    assert run_flow(flow_file, prefect_bin, prefect_api, project).returncode == 0
    run = RunStore(project / "store", next((project / "store" / "runs").iterdir()).name)
    assert run.result("s").returns["v"] == 1234


def test_job_per_node_manifests_pass_kubernetes_validate(project, prefect_bin, prefect_api, tmp_path):
    out = project / "jobs"
    result = run_cli(
        "compile",
        "samples/etl.yaml",
        "-t",
        "prefect",
        "--flavour",
        "job",
        "-c",
        "samples/deploy.yaml",
        "-o",
        str(out) + "/",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    compiled = compile_pipeline(str(project / "samples/etl.yaml"))
    nodes = []
    for located in walk(compiled.pipeline):
        step = located.step
        indices = ".".join("0" for _ in compiled.index.enclosing_maps(located.path))
        if step.is_task or step.map is not None or step.switch is not None:
            nodes.append([node_id(located.path), indices, not step.is_task])
    (tmp_path / "nodes.json").write_text(json.dumps(nodes))
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | prefect_api)
    probe = subprocess.run(
        [
            str(prefect_bin / "python"),
            str(PROBE),
            str(next(out.glob("*_flow.py"))),
            str(tmp_path / "nodes.json"),
            str(out / "prefect.yaml"),
            str(out / "base-job-template.json"),
            str(manifests),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    files = sorted(manifests.glob("node-*.yaml"))
    task_shapes = len(re.findall(r'^        "task-', next(out.glob("*_flow.py")).read_text(), re.M))
    assert task_shapes == 2  # the GPU fit and everything else
    assert len(nodes) == 12 and len(files) == sum(1 if control else task_shapes for _, _, control in nodes)
    validate = shutil.which("kubernetes-validate") or str(Path(sys.executable).parent / "kubernetes-validate")
    checked = subprocess.run([validate, "--strict", *map(str, files)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job = yaml.safe_load((manifests / "node-000.yaml").read_text())
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/acme/etl:1.4"
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in container["env"]
    assert pod["nodeSelector"] == {"pool": "batch"} and pod["tolerations"][0]["key"] == "spot"
    assert pod["volumes"] == [{"name": "store", "persistentVolumeClaim": {"claimName": "etl-store"}}]
    assert container["volumeMounts"] == [{"name": "store", "mountPath": "/mnt/transpile"}]
    # the flow's own pod, as prefect-kubernetes renders the work pool template with prefect.yaml's variables
    flow_pod = yaml.safe_load((manifests / "flow-pod-job.yaml").read_text())["spec"]["template"]["spec"]
    assert flow_pod["volumes"] == [{"name": "store", "persistentVolumeClaim": {"claimName": "etl-store"}}]
    assert flow_pod["containers"][0]["volumeMounts"] == [{"name": "store", "mountPath": "/mnt/transpile"}]
    assert flow_pod["serviceAccountName"] == "etl-runner"


def test_deployment_file_and_determinism(project):
    first = run_cli("compile", "samples/etl.yaml", "-t", "prefect", cwd=project).stdout
    second = run_cli("compile", "samples/etl.yaml", "-t", "prefect", cwd=project).stdout
    assert first == second
    assert first.startswith("# ==> etl_daily_flow.py <==\n")
    deployment_text = first.split("# ==> prefect.yaml <==\n")[1].split("# ==> base-job-template.json <==\n")[0]
    deployment = yaml.safe_load(deployment_text)["deployments"][0]
    assert deployment["entrypoint"] == "etl_daily_flow.py:etl_daily"
    assert deployment["parameters"] == {"date": "2026-01-01", "shards": ["a", "b", "c"]}
    variables = deployment["work_pool"]["job_variables"]
    assert variables["volumes"][0]["persistentVolumeClaim"]["claimName"] == "transpile-store"
    assert variables["volume_mounts"][0]["mountPath"] == "/mnt/transpile"


def run_with(flow_file: Path, function: str, parameters: dict, prefect_bin: Path, api: dict, project: Path):
    """Run the flow once with `parameters` as a deployment's flow run does (Prefect's own `run_flow`)."""
    (project / "parameters.json").write_text(json.dumps(parameters))
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | api)
    return subprocess.run(
        [str(prefect_bin / "python"), str(PROBE), "run", str(flow_file), function, str(project / "parameters.json")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def only_run(project: Path) -> RunStore:
    runs = list((project / "store" / "runs").iterdir())
    assert len(runs) == 1, runs
    return RunStore(project / "store", runs[0].name)


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_hostile_values_reach_steps_byte_for_byte(project, prefect_bin, prefect_api, per_run):
    """Parameters (defaults, or given for one run as a deployment run gets them) and map items reach python
    and shell steps unchanged; env values too, once the entrypoint applies them (flavour pod)."""
    flow_file = compile_flow(project, injection.write_project(project), prefect_bin)
    if per_run:
        flow = run_with(flow_file, "inject", injection.OVERRIDES, prefect_bin, prefect_api, project)
    else:
        flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stdout[-2000:] + flow.stderr[-3000:]
    run = only_run(project)
    injection.check(run, injection.OVERRIDES if per_run else injection.DEFAULTS, env=False)
    if all(value is None for value in run.result("show").returns["env"]):
        pytest.skip("flavour pod: this entrypoint does not apply a step's env from the plan yet")
    injection.check(run, injection.OVERRIDES if per_run else injection.DEFAULTS, env=True)


RESERVED = {"wait_for": "w", "return_state": [1], "class": "c", "_hidden": "h", "start": "s", "params": {"k": 1}}


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_prefect_reserved_parameter_names_are_routed_through_params(project, prefect_bin, prefect_api, per_run):
    """`wait_for` and `return_state` (Prefect refuses them as flow arguments), Python keywords and names
    the flow uses go through `**params`; prefect.yaml lists them under `params`, as Prefect binds them."""
    (project / "names.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "names",
                "parameters": {"date": "d", **RESERVED},
                "steps": {"s": {"python": "names_steps:show", "returns": ["v"]}},
            }
        )
    )
    (project / "names_steps.py").write_text("def show(**values):\n    return values\n")
    flow_file = compile_flow(project, "names.yaml", prefect_bin)
    source = flow_file.read_text()
    assert 'def names(date: Any = "d", **params: Any) -> None:' in source
    deployment = yaml.safe_load((flow_file.parent / "prefect.yaml").read_text())["deployments"][0]
    assert deployment["parameters"] == {"date": "d", "params": RESERVED}
    expected = {"date": "d", **RESERVED}
    if per_run:
        run_values = {"wait_for": "W", "return_state": [2, 3], "class": "C", "_hidden": "H", "start": "S"}
        given = {"date": "D", "params": run_values | {"params": {"k": 2}}}
        expected = {"date": "D", **given["params"]}
        flow = run_with(flow_file, "names", given, prefect_bin, prefect_api, project)
    else:
        flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stdout[-2000:] + flow.stderr[-3000:]
    assert only_run(project).result("s").returns["v"] == expected
