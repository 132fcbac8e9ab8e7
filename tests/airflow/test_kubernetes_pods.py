"""The pods the cncf-kubernetes provider builds from the generated DAG (without a cluster): they pass
`kubernetes-validate --strict`, carry the fields of the Argo pod of the same node and pass `restricted`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import run_cli
from tests.support.airflow_engine import KUBECONFIG, airflow_env, compile_to, probe


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


POD_PROBE = Path(__file__).resolve().parents[1] / "support" / "airflow_pods_probe.py"
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
