"""The Job-per-node placement (flavour `job`) and the deployment file: every Job passes
`kubernetes-validate --strict`, carries the fields of the Argo pod of the same node and passes `restricted`,
as does the flow's own pod; prefect.yaml holds no user value and the output is deterministic."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import run_cli
from tests.support.prefect_engine import PROBE
from tests.support.venvs import engine_env
from transpile.compiler import compile_pipeline
from transpile.ir.graph import walk
from transpile.ir.names import node_id


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


POD_PROBE = Path(__file__).resolve().parents[1] / "support" / "prefect_pods_probe.py"


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
