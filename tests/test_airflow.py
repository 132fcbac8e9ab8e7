"""The Airflow backend, proven in a real Airflow 3.3.2: DagBag loads every generated file with the structure
the IR says, `airflow dags test` runs the local flavour to the same results as `transpile run`, hostile
strings stay inert, and pods built by the provider pass `kubernetes-validate --strict`."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2.sandbox
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPO, SAMPLES, run_cli
from tests.support import injection
from tests.support.outcomes import ETL_CONTROL_NODES, cached_from, outcomes
from tests.support.pipelines import OPS_PIPELINE
from tests.support.venvs import engine_venv
from transpile.backends.pysource import jinja_inert
from transpile.compiler import compile_pipeline
from transpile.ir.graph import walk
from transpile.plan.params import encode
from transpile.runtime.store import RunStore

AIRFLOW = ["apache-airflow==3.3.2", "apache-airflow-providers-cncf-kubernetes"]
KUBECONFIG = {  # any reachable-looking cluster: the provider builds pods without talking to it
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "test",
    "clusters": [{"name": "test", "cluster": {"server": "http://127.0.0.1:9"}}],
    "users": [{"name": "test", "user": {"token": "x"}}],
    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "data"}}],
}
RUFF_RULES = ["--select", "E,F,W,I,B,UP", "--line-length", "120", "--target-version", "py310"]


def assert_ruff_clean(path: Path) -> None:
    """Generated code passes ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade for Python 3.10)."""
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", *RUFF_RULES, str(path)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


PROBE = Path(__file__).resolve().parent / "support" / "airflow_probe.py"


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    return engine_venv("airflow", AIRFLOW)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, airflow_bin) -> Path:
    home = tmp_path_factory.mktemp("airflow-home")
    result = subprocess.run(
        [str(airflow_bin / "airflow"), "db", "migrate"],
        env=airflow_env(home, airflow_bin, home / "dags"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return home


def airflow_env(home: Path, airflow_bin: Path, dags: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PATH=f"{airflow_bin}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    return tmp_path


def compile_to(project: Path, pipeline: str, dags: Path, *extra: str) -> Path:
    dags.mkdir(parents=True, exist_ok=True)
    result = run_cli("compile", pipeline, "-t", "airflow", "-o", str(dags) + "/", *extra, cwd=project)
    assert result.returncode == 0, result.stderr
    return next(dags.glob("*.py"))


def probe(airflow_bin: Path, home: Path, dags: Path, *extra: str, env: dict | None = None) -> dict:
    result = subprocess.run(
        [str(airflow_bin / "python"), str(PROBE), str(dags), *extra],
        env={**airflow_env(home, airflow_bin, dags), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def dags_test(
    airflow_bin: Path, home: Path, dags: Path, dag_id: str, conf: dict | None = None
) -> subprocess.CompletedProcess:
    """`airflow dags test` of one DAG; `conf` overrides its params for this run."""
    return subprocess.run(
        [str(airflow_bin / "airflow"), "dags", "test", dag_id, *(["-c", json.dumps(conf)] if conf else [])],
        env=airflow_env(home, airflow_bin, dags),
        capture_output=True,
        text=True,
        timeout=600,
    )


def expected_task_ids(pipeline: str) -> set[str]:
    """Every task id the IR implies: a node per task step, the markers and control nodes per composite."""
    compiled = compile_pipeline(pipeline)
    ids = set()
    for located in walk(compiled.pipeline):
        base = ".".join("on_failure" if s == "@on_failure" else s.replace("_", "-").lower() for s in located.path)
        step = located.step
        if step.is_task:
            ids.add(base)
        elif step.map is not None:
            ids |= {f"{base}._items", f"{base}._instances", f"{base}._done"}
        elif step.parallel is not None:
            ids |= {f"{base}._start", f"{base}._done"}
        else:
            ids |= {f"{base}._select", f"{base}._choose", f"{base}._join"}
    return ids


@pytest.mark.parametrize("sample", ["samples/etl.yaml", "samples/etl.py"])
def test_sample_dag_structure_matches_the_ir(project, airflow_bin, airflow_home, sample):
    dags = project / "dags"
    compile_to(project, sample, dags)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    dag = info["dags"]["etl-daily"]
    tasks = dag["tasks"]
    assert set(tasks) == expected_task_ids(sample) | {"_failed"}
    # the sample caches its steps: the DAG has the run's cache mode as one more param
    assert dag["params"] == {"date": "2026-01-01", "shards": ["a", "b", "c"], "transpile_cache": "on"}
    # dependencies follow `needs`, through each composite's entry and exit
    assert tasks["clean._items"]["upstream"] == ["extract"]
    assert tasks["train._start"]["upstream"] == ["clean._done"]
    assert tasks["gate"]["upstream"] == ["train._done"]
    assert tasks["noop"]["upstream"] == ["route._join"]
    assert tasks["clean.tidy"]["upstream"] == ["clean._instances", "clean.load"]
    # maps are dynamic task mapping; switches a branch task and a join that survives skipped branches
    assert tasks["clean.load"]["mapped"] and tasks["clean.tidy"]["mapped"]
    assert not tasks["extract"]["mapped"]
    assert tasks["route._choose"]["operator"] == "_BranchPythonDecoratedOperator"
    assert tasks["route._join"]["trigger_rule"] == "none_failed_min_one_success"
    assert tasks["clean._done"]["trigger_rule"] == "none_failed_min_one_success"
    assert tasks["on_failure.alert"]["trigger_rule"] == "one_failed"
    assert set(tasks["on_failure.alert"]["upstream"]) == set(tasks) - {"on_failure.alert", "_failed"}
    assert tasks["_failed"]["trigger_rule"] == "one_failed"
    # settings: image, volume, mount, resources, retries, timeout, env, secrets, placement
    extract = tasks["extract"]
    assert extract["operator"] == "NodePod" and extract["image"] == "ghcr.io/acme/etl:1.4"
    assert extract["volumes"] == [{"name": "store", "claim": "transpile-store"}]
    assert extract["mounts"] == [{"name": "store", "path": "/mnt/transpile"}]
    assert extract["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": None}
    assert tasks["train.xgb.fit"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert (extract["retries"], extract["retry_delay"], extract["max_retry_delay"]) == (2, 30.0, 600.0)
    assert extract["retry_exponential_backoff"] == 2.0 and extract["execution_timeout"] == 1800.0
    assert extract["env"]["LOG_LEVEL"] == "info" and extract["env"]["TRANSPILE_RUN_ID"] == "{{ run_id }}"
    assert extract["secrets"][0]["deploy_target"] == "DB_PASSWORD" and extract["secrets"][0]["key"] == "password"
    assert extract["node_selector"] == {"pool": "batch"}
    assert extract["tolerations"][0]["key"] == "spot"
    assert extract["cmds"] == ["transpile"]
    assert extract["arguments"][:2] == ["execute-node", "--pipeline"] and "--hash" in extract["arguments"]
    assert tasks["clean._items"]["do_xcom_push"] is True and extract["do_xcom_push"] is False


def run_both(project: Path, airflow_bin: Path, home: Path, pipeline: str) -> tuple[int, dict, dict]:
    """Run `pipeline` with `airflow dags test` (local flavour) and with `transpile run`; their results."""
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    compile_to(project, pipeline, dags, "--flavour", "local", "-c", "deploy.yaml")
    dag_id = compile_pipeline(str(project / pipeline.split(":")[0])).pipeline.name
    test = dags_test(airflow_bin, home, dags, dag_id)
    store = project / ".transpile" / "store"
    runs = [p.name for p in (store / "runs").iterdir()]
    assert len(runs) == 1, (runs, test.stdout[-2000:], test.stderr[-3000:])
    local = run_cli("run", pipeline, "--store", "local", "--run-id", "local", cwd=project)
    airflow_run, local_run = RunStore(store, runs[0]), RunStore(project / "local", "local")

    assert (test.returncode == 0) == (local.returncode == 0), (test.stdout[-3000:], local.stderr)
    return test.returncode, outcomes(airflow_run), outcomes(local_run)


def test_local_flavour_runs_the_sample_like_transpile_run(project, airflow_bin, airflow_home):
    code, airflow_results, local_results = run_both(project, airflow_bin, airflow_home, "samples/etl.yaml")
    assert code == 0
    assert airflow_results == local_results
    assert [airflow_results[f"clean@{i}/load"]["returns"]["n"] for i in range(3)] == [30, 31, 32]
    assert airflow_results["route"]["case"] == "ship" and "route/hold/notify" not in airflow_results
    assert "noop" in airflow_results and "on_failure/alert" not in airflow_results


def test_local_flavour_hits_the_cache_entries_of_transpile_run(project, airflow_bin, airflow_home):
    """Entries `transpile run` wrote on the store settle every cached node of `airflow dags test` (no process,
    same values); the DAG param transpile_cache=off runs them all again."""
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    store = project / ".transpile" / "store"
    local = run_cli("run", "samples/etl.yaml", "--store", str(store), "--run-id", "local", cwd=project)
    assert local.returncode == 0, local.stderr
    dags = project / "dags"
    compile_to(project, "samples/etl.yaml", dags, "--flavour", "local", "-c", "deploy.yaml")
    runs: list[RunStore] = []
    for conf in (None, {"transpile_cache": "off"}):
        test = dags_test(airflow_bin, airflow_home, dags, "etl-daily", conf)
        assert test.returncode == 0, (test.stdout[-2000:], test.stderr[-3000:])
        new = [
            p.name for p in (store / "runs").iterdir() if p.name != "local" and p.name not in {r.run_id for r in runs}
        ]
        assert len(new) == 1, new
        runs.append(RunStore(store, new[0]))
    hit, off = runs
    assert outcomes(hit) == outcomes(RunStore(store, "local")) == outcomes(off)
    sources = cached_from(hit)
    assert {key for key, source in sources.items() if source is None} == ETL_CONTROL_NODES
    assert set(sources.values()) == {"local", None}
    assert set(cached_from(off).values()) == {None}  # --no-cache as a per-run DAG param


def test_local_flavour_retries_failures_and_on_failure(project, airflow_bin, airflow_home):
    (project / "ops.yaml").write_text(OPS_PIPELINE)
    code, airflow_results, local_results = run_both(project, airflow_bin, airflow_home, "ops.yaml")
    assert code != 0
    assert airflow_results == local_results
    assert airflow_results["flaky"]["returns"] == {"r": "ok"}
    assert [airflow_results[f"m@{i}/sq"]["returns"]["y"] for i in range(2)] == [1, 4]
    assert "boom" not in airflow_results and "never" not in airflow_results
    assert airflow_results["on_failure/alert"]["returns"] == {"page": "paging ops"}
    flaky = RunStore(project / ".transpile" / "store", next((project / ".transpile/store/runs").iterdir()).name)
    assert [a.status for a in flaky.attempts("flaky")] == ["failed", "succeeded"]


HOSTILE = 'it\'s "quoted" \'\'\'triple\'\'\' """also""" back\\slash {{ ds }} {% if %} {# c #} $HOME `id`\nnew line'


def hostile_pipeline(project: Path, description: str = HOSTILE) -> str:
    data = {
        "name": "hostile",
        "description": description,
        "parameters": {"text": HOSTILE, "items": [HOSTILE, "{{ run_id }}"]},
        # an image holding `{{` is no image reference at all (refused), so the image is plain
        "defaults": {"image": "registry.example:5000/img:1.0-rc_1", "env": {"HOSTILE_ENV": HOSTILE}},
        "steps": {
            'say "hi" {{ x }}': {
                "shell": 'printf \'%s\' "$text" > "$TRANSPILE_RETURNS/t"; '
                'printf \'%s\' "$HOSTILE_ENV" > "$TRANSPILE_RETURNS/e"',
                "returns": ["t", "e"],
            },
            "fan": {
                "needs": ['say "hi" {{ x }}'],
                "map": {
                    "over": "items",
                    "as": "it",
                    "steps": {"echo'''": {"shell": 'printf \'%s\' "$it" > "$TRANSPILE_RETURNS/o"', "returns": ["o"]}},
                },
            },
            "route": {
                "needs": ["fan"],
                "switch": {
                    "on": "text",
                    "cases": {
                        HOSTILE: {"steps": {"x": {"shell": "echo picked"}}},
                        "other": {"steps": {"y": {"stub": True}}},
                    },
                },
            },
        },
    }
    (project / "hostile.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return "hostile.yaml"


@pytest.mark.parametrize("flavour", ["kubernetes", "local"])
def test_hostile_strings_are_never_code(project, flavour, airflow_bin, airflow_home):
    pipeline = hostile_pipeline(project)
    dags = project / "dags"
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    path = compile_to(project, pipeline, dags, "--flavour", flavour, "-c", "deploy.yaml")
    source = path.read_text()
    ast.parse(source)
    assert_ruff_clean(path)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    dag = info["dags"]["hostile"]
    assert dag["params"]["text"] == HOSTILE
    for task_id in dag["tasks"]:
        assert len(task_id) <= 250 and task_id.isascii()
    if flavour == "kubernetes":
        return
    code = dags_test(airflow_bin, airflow_home, dags, "hostile")
    assert code.returncode == 0, code.stdout[-3000:] + code.stderr[-3000:]
    store = project / ".transpile" / "store"
    run = RunStore(store, next((store / "runs").iterdir()).name)
    assert run.result("say-hi-x").returns == {"t": HOSTILE, "e": HOSTILE}
    assert [run.result(f"fan@{i}/echo").returns["o"] for i in range(2)] == [HOSTILE, "{{ run_id }}"]
    assert run.result("route").case == HOSTILE


def test_output_is_deterministic_and_ruff_clean(project):
    first = run_cli("compile", "samples/etl.yaml", "-t", "airflow", cwd=project).stdout
    second = run_cli("compile", "samples/etl.py", "-t", "airflow", cwd=project).stdout
    assert first == run_cli("compile", "samples/etl.yaml", "-t", "airflow", cwd=project).stdout
    assert first != second and first.replace("samples/etl.yaml", "X") == second.replace("samples/etl.py", "X")
    assert first.startswith("# Generated by transpile from samples/etl.yaml")
    assert "hash: sha256:" in first.splitlines()[1]
    path = project / "dag.py"
    path.write_text(first)
    assert_ruff_clean(path)


def test_long_and_deep_names_fit_airflow_rules(project, airflow_bin, airflow_home):
    long = "n" * 90
    text = "name: deep\ndefaults: {image: img}\nsteps:\n"
    indent = "  "
    for level in range(4):
        text += f"{indent}{long}{level}:\n{indent}  parallel:\n{indent}    b:\n{indent}      steps:\n"
        indent += "        "
    text += f"{indent}{long}leaf: {{stub: true}}\n"
    (project / "deep.yaml").write_text(text)
    dags = project / "dags"
    compile_to(project, "deep.yaml", dags)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    ids = list(info["dags"]["deep"]["tasks"])
    assert all(len(i) <= 250 for i in ids) and any(len(i) == 250 for i in ids)
    assert len(set(ids)) == len(ids)


def test_pods_pass_kubernetes_validate(project, airflow_bin, airflow_home, tmp_path):
    dags = project / "dags"
    compile_to(project, "samples/etl.yaml", dags, "-c", "samples/deploy.yaml")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
    pods = tmp_path / "pods"
    pods.mkdir()
    probe(airflow_bin, airflow_home, dags, "--pods", str(pods), env={"KUBECONFIG": str(kubeconfig)})
    files = sorted(pods.glob("*.yaml"))
    assert len(files) >= 8
    validate = shutil.which("kubernetes-validate") or str(Path(sys.executable).parent / "kubernetes-validate")
    result = subprocess.run([validate, "--strict", *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    pod = yaml.load((pods / "extract.yaml").read_text(), Loader=yaml.CSafeLoader)
    spec = pod["spec"]
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "etl-store"
    assert spec["containers"][0]["volumeMounts"][0]["mountPath"] == "/mnt/transpile"
    assert spec["serviceAccountName"] == "etl-runner"
    assert pod["metadata"]["namespace"] == "data"


def test_repo_has_no_airflow_leftovers():
    assert not (REPO / "airflow.cfg").exists()


def test_schedule_becomes_a_cron_timetable(project, airflow_bin, airflow_home):
    (project / "sch.yaml").write_text(
        "name: sch\nschedule: {cron: '0 3 * * *', timezone: Europe/Paris, concurrency_policy: Forbid}\n"
        "defaults: {image: img}\nsteps: {a: {stub: true}}\n"
    )
    dags = project / "dags"
    compile_to(project, "sch.yaml", dags)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    assert info["dags"]["sch"]["timetable"] == "0 3 * * *" and info["dags"]["sch"]["max_active_runs"] == 1


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_hostile_values_reach_steps_byte_for_byte(project, airflow_bin, airflow_home, per_run):
    """Parameters (defaults, or given per run with `-c`), env values and map items pass Airflow's Jinja
    rendering unchanged, into python and shell steps."""
    pipeline = injection.write_project(project)
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    compile_to(project, pipeline, dags, "--flavour", "local", "-c", "deploy.yaml")
    conf = injection.OVERRIDES if per_run else None
    test = dags_test(airflow_bin, airflow_home, dags, "inject", conf)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    store = project / ".transpile" / "store"
    run = RunStore(store, next((store / "runs").iterdir()).name)
    injection.check(run, conf or injection.DEFAULTS)


@given(st.text())
def test_jinja_inert_text_renders_to_itself(text):
    """Any string made inert renders back to itself (Airflow renders with a sandboxed Jinja environment)."""
    environment = jinja2.sandbox.SandboxedEnvironment()
    assert environment.from_string(jinja_inert(text)).render() == text


POD_PROBE = Path(__file__).resolve().parent / "support" / "airflow_pods_probe.py"
HOSTILE_ANNOTATIONS = {"x.example.com/a": "{{ run_id }}", "x.example.com/b": "{% raw %}\n", "x.example.com/c": "a{#b"}


def test_pod_settings_build_the_argo_pods_and_pass_restricted(project, airflow_bin, airflow_home, tmp_path):
    """Each KubernetesPodOperator's pod, built by the provider without a cluster, has the fields of the Argo
    pod of the same node, and every pod (the XCom sidecar of control pods included) passes `restricted`."""
    from tests.support import pod_security
    from tests.support.argo_pods import node_templates, pods, view

    deploy = ("-c", "samples/deploy-restricted.yaml")
    dags = project / "dags"
    compile_to(project, "samples/pods.yaml", dags, *deploy)
    pipeline = {
        "name": "hostile-pods",
        "defaults": {"image": "img"},
        "steps": {
            "a": {
                "stub": True,
                "pod": {
                    "annotations": HOSTILE_ANNOTATIONS,
                    "volumes": [{"name": "v", "emptyDir": {}}],
                    "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "{{ ds }}/{% x %}"}],
                },
            }
        },
    }
    (project / "hostile-pods.yaml").write_text(json.dumps(pipeline))
    compile_to(project, "hostile-pods.yaml", dags)
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(KUBECONFIG))
    out = tmp_path / "pods.json"
    result = subprocess.run(
        [str(airflow_bin / "python"), str(POD_PROBE), str(dags), str(out)],
        env={**airflow_env(airflow_home, airflow_bin, dags), "KUBECONFIG": str(tmp_path / "kubeconfig")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    built = json.loads(out.read_text())
    assert built["import_errors"] == {}
    hostile = built["pods"].pop("hostile-pods/a")  # Jinja-like annotation values and sub-paths arrive as written
    assert hostile["metadata"]["annotations"] == HOSTILE_ANNOTATIONS
    assert [m.get("subPath") for m in hostile["spec"]["containers"][0]["volumeMounts"]] == [None, "{{ ds }}/{% x %}"]
    built["pods"] = {key.split("/", 1)[1]: pod for key, pod in built["pods"].items()}
    argo = run_cli("compile", "samples/pods.yaml", "-t", "argo", *deploy, cwd=project)
    documents = list(yaml.load_all(argo.stdout, Loader=yaml.CSafeLoader))
    argo_pods, templates = pods(documents), node_templates(documents)
    compared = set()
    for task_id, pod in built["pods"].items():
        control = task_id.endswith(("._items", "._select"))
        node = task_id.rsplit(".", 1)[0] if control else task_id
        expected = argo_pods[templates[node.replace(".", "/")]]
        labels = list(expected["metadata"].get("labels") or {})
        assert view(pod, labels) == view(expected, labels), task_id
        assert pod_security.restricted(pod) == [], (task_id, pod_security.restricted(pod))
        compared.add(task_id)
    # every unmapped pod: top-level steps, the switch case's step, both control nodes (map bodies are mapped)
    assert compared == {"prepare", "train", "shard._items", "route._select", "route.full.publish", "route.dry.skip"}
    sidecar = built["pods"]["shard._items"]["spec"]["containers"][1]
    assert sidecar["name"] == "airflow-xcom-sidecar"
    assert sidecar["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}} | {
        "readOnlyRootFilesystem": True
    }  # the container's; the pod's runAsUser (1000) applies to it


@pytest.mark.parametrize("per_run", [False, True], ids=["defaults", "per-run"])
def test_hostile_values_survive_kubernetes_pod_rendering(project, airflow_bin, airflow_home, per_run):
    """Flavour kubernetes: the DAG imports, its params are the declared values, and the env of every pod as
    Airflow renders its templated fields for a run (defaults, or values given per run) holds each env value
    and each parameter's text byte for byte: `{{x}}`, `{% %}`, values ending in .sh/.bash/.j2/.json and
    number-like keys included."""
    pipeline = injection.write_project(project)
    dags = project / "dags"
    compile_to(project, pipeline, dags)
    info = probe(airflow_bin, airflow_home, dags)
    assert info["import_errors"] == {}
    assert info["dags"]["inject"]["params"] == injection.DEFAULTS
    conf = injection.OVERRIDES if per_run else {}
    rendered = probe(airflow_bin, airflow_home, dags, "--render", "inject", json.dumps(conf))
    assert rendered["import_errors"] == {}
    values = injection.DEFAULTS | conf
    run_env = {f"TRANSPILE_PARAM_{name}": encode(value) for name, value in values.items()}
    run_env["TRANSPILE_RUN_ID"] = "manual__2026-01-01T00:00:00+00:00"
    for task_id in ("show", "sh"):
        assert rendered["rendered"][task_id] == injection.ENV | run_env, task_id
    assert rendered["rendered"]["fan._items"] == run_env  # a control node: no step env


def test_local_commands_never_read_a_value_as_a_template_file(project, airflow_bin, airflow_home):
    """Flavour local: an env value ending in .sh is a value, not a template file to load (BashOperator's
    template_ext), even when the DAG folder holds a file of that name."""
    pipeline = injection.write_project(project)
    (project / "deploy.yaml").write_text(f"working_dir: {project}\ncommand: [{airflow_bin / 'transpile'}]\n")
    dags = project / "dags"
    compile_to(project, pipeline, dags, "--flavour", "local", "-c", "deploy.yaml")
    (dags / "run.sh").write_text("{{ 6 * 7 }}\n")  # rendered as Jinja, it would become the value
    rendered = probe(airflow_bin, airflow_home, dags, "--render", "inject", "{}")
    name = next(key for key, value in injection.ENV.items() if value == "run.sh")
    assert rendered["rendered"]["show"][name] == "run.sh"


SHAPES = {
    "task-only": "steps: {a: {stub: true}}",
    "map-only": "parameters: {xs: [1]}\nsteps: {m: {map: {over: xs, as: x, steps: {a: {stub: true}}}}}",
    "switch": "parameters: {k: a}\nsteps: {s: {switch: {on: k, cases: {a: {steps: {b: {stub: true}}}}}}}",
    "on-failure": "steps: {a: {stub: true}}\non_failure: {steps: {alert: {stub: true}}}",
    "secrets-schedule": "schedule: '@daily'\nsteps: {a: {shell: x, secrets: [{secret: s, key: k, env: E}]}}",
}


@pytest.mark.parametrize("flavour", ["kubernetes", "local"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_generated_dag_passes_lint_for_every_shape(project, flavour, shape):
    """The DAG file imports only what its shape uses (no unused EmptyOperator when nothing is a composite):
    it passes the project's own lint rules, pyflakes' F401 included, for every shape and flavour."""
    (project / "p.yaml").write_text(f"name: p\ndefaults: {{image: img}}\n{SHAPES[shape]}\n")
    path = compile_to(project, "p.yaml", project / "dags", "--flavour", flavour)
    assert_ruff_clean(path)
