"""The Prefect backend, proven with a real Prefect 3.8.8 against a local server started once per session:
flows run to the same results as `transpile run`, failures fail the flow after on_failure, hostile strings
stay inert, and every Job the Job-per-node placement creates passes `kubernetes-validate --strict`."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import signal
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
from tests.support.generated_python import assert_ruff_clean
from tests.support.hostile import HOSTILE, hostile_pipeline
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from tests.support.pipelines import OPS_PIPELINE
from tests.support.shared import session_dir, shared_by_workers
from tests.support.venvs import engine_env, engine_venv
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


def start_server(home: Path, prefect_bin: Path) -> dict:
    """Start a Prefect server on 127.0.0.1 (10-20 s here); its state for `shared_by_workers`."""
    home.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    env = engine_env({**os.environ, **QUIET, "PREFECT_HOME": str(home)})
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen(
            [str(prefect_bin / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the worker that started it, until the last worker stops it
        )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return {"url": url, "home": str(home), "pid": server.pid}
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            pytest.fail(f"the Prefect server exited: {(home / 'server.log').read_text()[-3000:]}")
    server.kill()
    pytest.fail("the Prefect server did not start within 120 s")


def stop_server(state: dict) -> None:
    """Stop the server's process group (uvicorn and its workers), SIGKILL after 20 s."""
    pid = state["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it if this worker started it
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            os.kill(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory, prefect_bin):
    """One Prefect server for every worker of the session."""
    base = session_dir(tmp_path_factory, "prefect")
    with shared_by_workers(base, lambda home: start_server(home, prefect_bin), stop_server) as state:
        yield {"PREFECT_API_URL": state["url"], "PREFECT_HOME": state["home"], **QUIET}


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
    # a description with a placeholder is refused for Prefect (`prefect deploy` would rewrite it)
    pipeline = hostile_pipeline(project, description=HOSTILE.replace("{{", "{ {"))
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
    # the GPU fit, the map's steps (no timeout_seconds: a task run may run a batch, the entrypoint times each
    # attempt) and everything else
    assert task_shapes == 3
    assert len(nodes) == 12 and len(files) == sum(1 if control else task_shapes for _, _, control in nodes)
    validate = shutil.which("kubernetes-validate") or str(Path(sys.executable).parent / "kubernetes-validate")
    checked = subprocess.run([validate, "--strict", *map(str, files)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job = yaml.load((manifests / "node-000.yaml").read_text(), Loader=yaml.CSafeLoader)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/acme/etl:1.4"
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in container["env"]
    assert pod["nodeSelector"] == {"pool": "batch"} and pod["tolerations"][0]["key"] == "spot"
    assert pod["volumes"] == [{"name": "store", "persistentVolumeClaim": {"claimName": "etl-store"}}]
    assert container["volumeMounts"] == [{"name": "store", "mountPath": "/mnt/transpile"}]
    # the flow's own pod, as prefect-kubernetes renders the work pool template with prefect.yaml's variables
    flow_pod = yaml.load((manifests / "flow-pod-job.yaml").read_text(), Loader=yaml.CSafeLoader)["spec"]["template"][
        "spec"
    ]
    assert flow_pod["volumes"] == [{"name": "store", "persistentVolumeClaim": {"claimName": "etl-store"}}]
    assert flow_pod["containers"][0]["volumeMounts"] == [{"name": "store", "mountPath": "/mnt/transpile"}]
    assert flow_pod["serviceAccountName"] == "etl-runner"


def test_deployment_file_and_determinism(project):
    first = run_cli("compile", "samples/etl.yaml", "-t", "prefect", cwd=project).stdout
    second = run_cli("compile", "samples/etl.yaml", "-t", "prefect", cwd=project).stdout
    assert first == second
    assert first.startswith("# ==> etl_daily_flow.py <==\n")
    deployment_text = first.split("# ==> prefect.yaml <==\n")[1].split("# ==> base-job-template.json <==\n")[0]
    deployment = yaml.load(deployment_text, Loader=yaml.CSafeLoader)["deployments"][0]
    assert deployment["entrypoint"] == "etl_daily_flow.py:etl_daily"
    # no user value in prefect.yaml: `prefect deploy` would template it; the flow function has the defaults
    assert "parameters" not in deployment and "description" not in deployment
    variables = deployment["work_pool"]["job_variables"]
    assert variables["volumes"][0]["persistentVolumeClaim"]["claimName"] == "transpile-store"
    assert variables["volume_mounts"][0]["mountPath"] == "/mnt/transpile"


def test_flow_hits_the_cache_entries_of_transpile_run(project, prefect_bin, prefect_api):
    """Entries `transpile run` wrote on the store settle every cached node of the flow run (no process, same
    values); the flow parameter transpile_cache=off runs them all again."""
    flow_file = compile_flow(project, "samples/etl.yaml", prefect_bin)
    local = run_cli("run", "samples/etl.yaml", "--store", "store", "--run-id", "local", cwd=project)
    assert local.returncode == 0, local.stderr
    store = project / "store"
    flow = run_flow(flow_file, prefect_bin, prefect_api, project)
    assert flow.returncode == 0, flow.stderr[-3000:]
    (hit,) = [RunStore(store, p.name) for p in (store / "runs").iterdir() if p.name != "local"]
    off_run = run_with(flow_file, "etl_daily", {"transpile_cache": "off"}, prefect_bin, prefect_api, project)
    assert off_run.returncode == 0, off_run.stderr[-3000:]
    (off,) = [RunStore(store, p.name) for p in (store / "runs").iterdir() if p.name not in ("local", hit.run_id)]
    assert outcomes(hit) == outcomes(RunStore(store, "local")) == outcomes(off)
    sources = cached_from(hit)
    assert {key for key, source in sources.items() if source is None} == ETL_CONTROL_NODES
    assert set(sources.values()) == {"local", None}
    assert set(cached_from(off).values()) == {None}


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
    the flow uses go through `**params`, whose defaults the flow function holds; a run gives them under
    `params`, as Prefect binds them."""
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
    deployment = yaml.load((flow_file.parent / "prefect.yaml").read_text(), Loader=yaml.CSafeLoader)["deployments"][0]
    assert "parameters" not in deployment  # the defaults are the flow function's (`**params` for these)
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


POD_PROBE = Path(__file__).resolve().parent / "support" / "prefect_pods_probe.py"


def test_job_manifests_carry_the_argo_pods_fields_and_pass_restricted(project, prefect_bin, prefect_api, tmp_path):
    """flavour `job`: each node's Job has the fields of the Argo pod of the same node, and every pod (the
    nodes' and the flow's own, rendered by prefect-kubernetes from the base job template) passes `restricted`."""
    from tests.support import pod_security
    from tests.support.argo_pods import node_templates, pods, view

    deploy = ("-c", "samples/deploy-restricted.yaml")
    out = project / "jobs"
    result = run_cli(
        "compile", "samples/pods.yaml", "-t", "prefect", "--flavour", "job", *deploy, "-o", f"{out}/", cwd=project
    )
    assert result.returncode == 0, result.stderr
    flow_file = next(out.glob("*_flow.py"))
    calls = re.findall(r'run\.(node|fan_out|route)\("[^"]*", "([^"]*)"(?:, "([^"]*)")?', flow_file.read_text())
    nodes = [[node, settings or "control", kind != "node"] for kind, node, settings in calls]
    (tmp_path / "nodes.json").write_text(json.dumps(nodes))
    probe = subprocess.run(
        [str(prefect_bin / "python"), str(POD_PROBE), str(flow_file), str(tmp_path / "nodes.json")]
        + [str(out / "prefect.yaml"), str(out / "base-job-template.json"), str(tmp_path / "jobs.json")],
        env=engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | prefect_api),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    jobs = json.loads((tmp_path / "jobs.json").read_text())
    argo = run_cli("compile", "samples/pods.yaml", "-t", "argo", *deploy, cwd=project)
    documents = list(yaml.load_all(argo.stdout, Loader=yaml.CSafeLoader))
    argo_pods, templates = pods(documents), node_templates(documents)
    assert set(jobs["nodes"]) == set(templates)  # every node: tasks, map bodies, control nodes
    for node, job in jobs["nodes"].items():
        pod = job["spec"]["template"]
        expected = argo_pods[templates[node]]
        labels = list(expected["metadata"].get("labels") or {})
        assert view(pod, labels) == view(expected, labels), node
        assert pod_security.restricted(pod) == [], (node, pod_security.restricted(pod))
    flow_pod = jobs["flow"]["spec"]["template"]
    assert pod_security.restricted(flow_pod) == [], pod_security.restricted(flow_pod)
    control = argo_pods[templates["shard"]]
    labels = list(control["metadata"].get("labels") or {})
    assert view(flow_pod, labels) == view(control, labels)  # control_resources too


@pytest.fixture(scope="session")
def process_pool(prefect_bin, prefect_api) -> str:
    """The work pool prefect.yaml names, created as a `process` pool: a worker runs each flow run as a local
    process (the job variables of the Kubernetes pool are ignored), after the deployment's pull step."""
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | prefect_api)
    created = subprocess.run(
        # --overwrite: the session's workers share one server, and each creates the pool it needs
        [
            str(prefect_bin / "prefect"),
            "work-pool",
            "create",
            "transpile-kubernetes",
            "--type",
            "process",
            "--overwrite",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    return "transpile-kubernetes"


def prefect_cli(prefect_bin: Path, api: dict, project: Path, *args: str, env: dict | None = None):
    environment = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | api | (env or {}))
    return subprocess.run(
        [str(prefect_bin / "prefect"), *args], cwd=project, env=environment, capture_output=True, text=True, timeout=600
    )


def test_hostile_values_survive_a_real_prefect_deploy(tmp_path, prefect_bin, prefect_api, process_pool):
    """`prefect deploy` templates the whole deployment (`{{ x }}` dropped, `{{ $NAME }}` replaced by the
    deployer's environment): the generated prefect.yaml carries no user value, so parameters (the flow's
    defaults, or given per run), env values and map items reach the steps byte for byte after a real
    `prefect deploy`, `prefect deployment run` and a worker. Both cases run in one test: they deploy the same
    deployment name to the server the session's workers share, so they must not run at once."""
    for per_run in (False, True):
        project = tmp_path / ("per-run" if per_run else "defaults")
        project.mkdir()
        _deploy_and_run_hostile_values(project, prefect_bin, prefect_api, process_pool, per_run)


def _deploy_and_run_hostile_values(project: Path, prefect_bin: Path, prefect_api: dict, pool: str, per_run: bool):
    pipeline = injection.write_project(project)
    (project / "deploy.yaml").write_text(
        f"working_dir: {project}\ncommand: [{prefect_bin / 'transpile'}]\nvolume: {{mount_path: {project / 'store'}}}\n"
    )
    # the flow file goes where the deployment's pull step sets the working directory
    result = run_cli("compile", pipeline, "-t", "prefect", "-c", "deploy.yaml", "-o", f"{project}/", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (
        "parameters" not in yaml.load((project / "prefect.yaml").read_text(), Loader=yaml.CSafeLoader)["deployments"][0]
    )
    secret = {injection.SECRET_ENV: "leaked-from-the-deployer"}
    deployed = prefect_cli(prefect_bin, prefect_api, project, "--no-prompt", "deploy", "--all", env=secret)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    given = ["--params", json.dumps(injection.OVERRIDES)] if per_run else []
    started = prefect_cli(prefect_bin, prefect_api, project, "deployment", "run", "inject/inject", *given)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    worker = prefect_cli(prefect_bin, prefect_api, project, "worker", "start", "--pool", pool, "--run-once")
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    run = only_run(project)
    injection.check(run, injection.OVERRIDES if per_run else injection.DEFAULTS, env=True)
    assert "leaked-from-the-deployer" not in json.dumps(run.result("show").returns)


def test_every_schedule_becomes_one_prefect_reads(project, prefect_bin, prefect_api, process_pool):
    """`@every` is an interval (Prefect 3.8.8 refuses `cron: "@every 1h"`), a cron stays a cron; a real
    `prefect deploy` accepts both and stores them."""
    for name, schedule in (("every", "'@every 1h30m'"), ("nightly", "{cron: '0 3 * * *', timezone: Europe/Paris}")):
        (project / f"{name}.yaml").write_text(
            f"name: {name}\ndefaults: {{image: img}}\nschedule: {schedule}\nsteps: {{a: {{stub: true}}}}\n"
        )
        out = project / name
        assert run_cli("compile", f"{name}.yaml", "-t", "prefect", "-o", f"{out}/", cwd=project).returncode == 0
        deployment = yaml.load((out / "prefect.yaml").read_text(), Loader=yaml.CSafeLoader)["deployments"][0]
        deployed = prefect_cli(prefect_bin, prefect_api, out, "--no-prompt", "deploy", "--all")
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        shown = prefect_cli(prefect_bin, prefect_api, out, "deployment", "inspect", f"{name}/{name}")
        assert shown.returncode == 0, shown.stderr
        if name == "every":
            assert deployment["schedules"] == [{"interval": 5400}]
            assert "5400" in shown.stdout or "1:30:00" in shown.stdout
        else:
            assert deployment["schedules"] == [{"cron": "0 3 * * *", "timezone": "Europe/Paris"}]
            assert "0 3 * * *" in shown.stdout
