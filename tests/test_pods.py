"""Pod settings: the sample using every one compiles for every Kubernetes target, the Argo output passes the
v4.1.2 CRDs and Argo's rules, every pod passes the chosen Pod Security profile (Argo's executor containers
configured as the README says), layers merge as documented, SLURM refuses or maps them, `transpile diff`
reports them and `transpile run` notes them once."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transpile
from tests.conftest import REPO, run_cli
from tests.support import pod_security
from tests.support.argo_check import check_argo_documents
from tests.support.argo_pods import pods
from transpile.compiler import compile_pipeline
from transpile.config import DeployConfig
from transpile.plan.lower import lower

SAMPLE = "samples/pods.yaml"
RESTRICTED = "samples/deploy-restricted.yaml"


def readme_executor_context() -> dict:
    """The executor security context the README tells users to put in the controller's configmap."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n( *)executor: \|\n(.*?)```", text, re.S)
    assert block, "the README shows the workflow-controller-configmap's executor entry"
    return yaml.load(textwrap.dedent(block.group(2)), Loader=yaml.CSafeLoader)["securityContext"]


def argo_documents(*args: str) -> list[dict]:
    result = run_cli("compile", SAMPLE, "-t", "argo", *args)
    assert result.returncode == 0, result.stderr
    return check_argo_documents(result.stdout)


def test_the_kubernetes_schema_is_generated_from_the_pinned_openapi_schema():
    result = subprocess.run(
        [sys.executable, "tools/kube_schema.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("target", "flavour"), [("argo", None), ("airflow", None), ("prefect", "pod"), ("prefect", "job")]
)
@pytest.mark.parametrize("deploy", [[], ["-c", RESTRICTED]], ids=["baseline", "restricted"])
def test_the_sample_compiles_for_every_kubernetes_target(target, deploy, flavour):
    result = run_cli("compile", SAMPLE, "-t", target, *deploy, *(["--flavour", flavour] if flavour else []))
    assert result.returncode == 0, result.stderr
    if target == "argo":
        check_argo_documents(result.stdout)  # the v4.1.2 CRDs (with CEL rules), hera's models, Argo's rules


def test_argo_carries_every_setting_in_its_own_fields():
    docs = argo_documents("-c", RESTRICTED)
    spec = docs[0]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]  # every pod has the same: the workflow's field
    assert docs[0]["metadata"]["annotations"]["transpile.io/pod-security"] == "restricted"
    by_pod = pods(docs)
    load = next(p for name, p in by_pod.items() if "topologySpreadConstraints" in p["spec"])
    assert load["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert [v["name"] for v in load["spec"]["volumes"]] == ["store", "tmp", "settings", "creds", "var-run-argo"]
    main = load["spec"]["containers"][0]
    assert [m["name"] for m in main["volumeMounts"]] == ["store", "tmp", "settings", "creds"]
    assert main["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "2Gi"},
    }
    train = next(p for p in by_pod.values() if p["spec"].get("priorityClassName") == "gpu-batch")
    assert train["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert train["metadata"] == {
        "labels": {"app.kubernetes.io/part-of": "data-platform", "team": "data", "cost-center": "analytics"},
        "annotations": {"sidecar.istio.io/inject": "false"},
    }
    publish = [p for p in by_pod.values() if p["spec"].get("serviceAccountName") == "publisher"]
    assert len(publish) == 1
    control = by_pod["control"]["spec"]["containers"][0]  # the deploy config's control_resources
    assert control["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    for pod in by_pod.values():  # restricted: filled in where the pipeline left them unset
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["spec"]["securityContext"]["runAsUser"] == 1000  # the pipeline's own value kept
        main = pod["spec"]["containers"][0]["securityContext"]
        assert main["allowPrivilegeEscalation"] is False and main["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_every_argo_pod_passes_the_profile_with_the_readme_executor_configuration(tmp_path, level):
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(f"security: {level}\n")
    docs = argo_documents("-c", str(deploy))
    executor = readme_executor_context()
    found = {name: pod_security.LEVELS[level](pod) for name, pod in pods(docs, executor).items()}
    assert found and not any(found.values()), found


def test_without_the_executor_configuration_argo_pods_fail_restricted():
    """The check can fail: Argo's executor containers need the controller's configuration (README)."""
    found = [pod_security.restricted(pod) for pod in pods(argo_documents("-c", RESTRICTED)).values()]
    assert all(any(v.startswith(("init:", "wait:")) for v in violations) for violations in found)
    assert not any(v.startswith("main:") for violations in found for v in violations)


def test_pipelines_without_pod_settings_are_unchanged_by_the_default_profile():
    text = run_cli("compile", "samples/etl.yaml", "-t", "argo").stdout
    assert "securityContext" not in text and "podSpecPatch" not in text and "imagePullSecrets" not in text


def plan_of(tmp_path, pipeline: str, deploy: dict | None = None):
    path = tmp_path / "p.yaml"
    path.write_text(pipeline)
    return lower(compile_pipeline(str(path)), DeployConfig.model_validate(deploy or {}))


def test_layers_merge_as_documented(tmp_path):
    plan = plan_of(
        tmp_path,
        "name: p\ndefaults:\n  service_account: d-sa\n  resources: {cpu: 1, limits: {cpu: 2, memory: 1Gi}}\n"
        "  pod:\n    labels: {a: defaults, b: defaults}\n    securityContext: {runAsUser: 1, fsGroup: 2}\n"
        "    volumes: [{name: v1, emptyDir: {}}]\n    volumeMounts: [{name: v1, mountPath: /v1}]\n"
        "steps:\n  s:\n    shell: 'true'\n    service_account: s-sa\n    resources: {limits: {memory: 2Gi}}\n"
        "    pod:\n      labels: {b: step}\n      securityContext: {runAsUser: 3}\n"
        "      volumes: [{name: v2, emptyDir: {}}, {name: v1, emptyDir: {}}]\n"
        "  t: {shell: 'true'}\n  m: {map: {over: xs, as: x, steps: {u: {stub: true}}}}\nparameters: {xs: []}\n",
        {
            "pod": {
                "labels": {"a": "deploy", "c": "deploy"},
                "priorityClassName": "p1",
                "volumes": [{"name": "dv", "emptyDir": {}}],
            }
        },
    )
    s = plan.steps["s"].settings
    assert s.pod.labels == {"a": "defaults", "c": "deploy", "b": "step"}  # key by key, the nearer layer wins
    assert s.pod.security_context == {"fsGroup": 2, "runAsUser": 3}
    assert [v["name"] for v in s.pod.volumes] == ["v2", "v1"]  # lists replaced whole
    assert s.pod.priority_class_name == "p1" and s.service_account == "s-sa"
    assert (s.resources.cpu, s.resources.limits.cpu, s.resources.limits.memory) == (1, 2, "2Gi")
    t = plan.steps["t"].settings
    assert [v["name"] for v in t.pod.volumes] == ["v1"] and t.service_account == "d-sa"
    control = plan.control  # control pods: deploy config under defaults; resources only from control_resources
    assert control.pod.labels == {"a": "defaults", "c": "deploy", "b": "defaults"} and control.resources is None
    assert control.service_account == "d-sa"


def test_the_python_sdk_takes_the_same_settings(tmp_path):
    flow = transpile.Flow("p", defaults={"image": "i", "pod": {"imagePullSecrets": [{"name": "regcred"}]}})
    flow.shell(
        "a",
        "true",
        service_account="runner",
        resources={"cpu": "500m", "limits": {"cpu": 1}},
        pod={"securityContext": {"runAsUser": 1000}},
    )
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text(
        "name: p\ndefaults: {image: i, pod: {imagePullSecrets: [{name: regcred}]}}\nsteps:\n  a:\n    shell: 'true'\n"
        "    service_account: runner\n    resources: {cpu: 500m, limits: {cpu: 1}}\n"
        "    pod: {securityContext: {runAsUser: 1000}}\n"
    )
    same = {"pipeline_file": "p.yaml"}
    assert flow.compile("argo", same) == transpile.compile(yaml_file, "argo", same)  # the same spec, byte for byte
    bad = transpile.Flow("p", defaults={"image": "i"})
    bad.shell("a", "true", pod={"securityContext": {"runAsUsr": 1}})
    with pytest.raises(transpile.CompileError) as caught:
        bad.compile("argo")
    assert "did you mean 'runAsUser'" in str(caught.value) and __file__ in str(caught.value)


def test_slurm_refuses_pod_settings_where_written_and_maps_resources(tmp_path):
    result = run_cli("compile", SAMPLE, "-t", "slurm", "-c", RESTRICTED)
    assert result.returncode == 2
    located = re.findall(r"--> (\S+):(\d+):", result.stderr)
    assert [int(line) for file, line in located] == [9, 8, 25, 61, 40]  # defaults.pod, its service_account, steps
    assert "the deploy config's `pod` section has no meaning on SLURM" in result.stderr
    assert result.stderr.endswith("6 errors found\n")
    (tmp_path / "r.yaml").write_text(
        "name: r\nsteps: {a: {shell: 'true', resources: {cpu: 500m, memory: 1Gi, ephemeral_storage: 2Gi,"
        " limits: {cpu: 2, memory: 3Gi, ephemeral_storage: 4Gi}}}}\n"
    )
    script = run_cli("compile", "r.yaml", "-t", "slurm", cwd=tmp_path)
    assert script.returncode == 0, script.stderr
    assert "RESOURCES=(--cpus-per-task=2 --mem=3072M --tmp=2048M)" in script.stdout


def test_diff_reports_pod_setting_changes_against_plans_and_specs(tmp_path):
    (tmp_path / "old.yaml").write_text((REPO / SAMPLE).read_text())
    changed = (REPO / SAMPLE).read_text().replace("priorityClassName: gpu-batch", "priorityClassName: gpu-urgent")
    changed = changed.replace('sidecar.istio.io/inject: "false"', 'sidecar.istio.io/inject: "true"')
    (tmp_path / "new.yaml").write_text(changed)
    spec = run_cli("compile", "old.yaml", "-o", "old.argo.yaml", cwd=tmp_path)
    assert spec.returncode == 0, spec.stderr
    for old in ("old.yaml", "old.argo.yaml"):
        result = run_cli("diff", old, "new.yaml", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert 'pod priorityClassName "gpu-batch" -> "gpu-urgent"' in result.stdout
        assert '"sidecar.istio.io/inject":"false"} -> {"sidecar.istio.io/inject":"true"}' in result.stdout
    same = run_cli("diff", "old.argo.yaml", "old.yaml", cwd=tmp_path)
    assert same.returncode == 0, same.stdout  # the spec read back means what the pipeline means
    restricted = run_cli("diff", "old.yaml", "old.yaml", "-c", str(REPO / RESTRICTED), cwd=tmp_path)
    assert restricted.returncode == 0


def test_transpile_run_notes_the_settings_it_ignores_once(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "name: p\nsteps:\n  a: {shell: 'true', pod: {labels: {x: y}}}\n  b: {shell: 'true', service_account: sa}\n"
        "  c: {shell: 'true'}\n"
        "  m: {map: {over: xs, as: x, steps: {d: {shell: 'true', resources: {limits: {cpu: 1}}}}}}\n"
        "parameters: {xs: [1, 2, 3]}\n"
    )
    result = run_cli("run", "p.yaml", "--store", "store", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: transpile run ignores the Kubernetes pod settings of a, b, m/d (pod, service_account, resource "
        "limits, ephemeral_storage): they apply to pods on Argo, Airflow and Prefect"
    ]
    quiet = run_cli("run", "samples/etl.yaml", "--store", str(tmp_path / "s2"))
    assert "note:" not in quiet.stderr


CONTEXT_VALUES = {
    "runAsUser": st.sampled_from([0, 1000]),
    "runAsNonRoot": st.booleans(),
    "seccompProfile": st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Unconfined"}]),
}
CONTAINER_VALUES = {
    "privileged": st.booleans(),
    "allowPrivilegeEscalation": st.booleans(),
    "runAsNonRoot": st.booleans(),
    "runAsUser": st.sampled_from([0, 1000]),
    "procMount": st.sampled_from(["Default", "Unmasked"]),
    "capabilities": st.fixed_dictionaries(
        {},
        optional={
            "add": st.lists(st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN"]), max_size=2, unique=True),
            "drop": st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=2, unique=True),
        },
    ),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    level=st.sampled_from(["baseline", "restricted"]),
    pod_context=st.fixed_dictionaries({}, optional=CONTEXT_VALUES),
    container_context=st.fixed_dictionaries({}, optional=CONTAINER_VALUES),
)
def test_a_pod_section_is_accepted_exactly_when_its_pods_pass_the_profile(
    tmp_path, level, pod_context, container_context
):
    """transpile's own checks agree with the independent check of the pods it emits, both ways."""
    section = {
        k: v for k, v in (("securityContext", pod_context), ("containerSecurityContext", container_context)) if v
    }
    flow = transpile.Flow("p", defaults={"image": "i"})
    flow.shell("a", "true", pod=section or None)
    naive = {
        "spec": {"securityContext": pod_context, "containers": [{"name": "main", "securityContext": container_context}]}
    }
    if level == "restricted":  # what transpile adds when unset, for the comparison of a refused section
        naive["spec"]["securityContext"] = {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        } | pod_context
        naive["spec"]["containers"][0]["securityContext"] = {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}
        } | container_context  # fmt: skip
    try:
        text = flow.compile("argo", {"security": level})["p.yaml"]
    except transpile.CompileError:
        assert pod_security.LEVELS[level](naive), (level, section)
        return
    executor = readme_executor_context()
    for pod in pods(list(yaml.load_all(text, Loader=yaml.CSafeLoader)), executor).values():
        assert pod_security.LEVELS[level](pod) == [], (level, section)


@pytest.mark.parametrize(("target", "flavour"), [("argo", None), ("prefect", None)])
def test_a_pod_setting_the_engine_would_template_is_refused(tmp_path, target, flavour):
    (tmp_path / "p.yaml").write_text(
        "name: p\ndefaults:\n  image: i\n  pod: {annotations: {x.example.com/a: '{{workflow.name}}'}}\n"
        "steps: {m: {map: {over: xs, as: x, steps: {a: {stub: true}}}}}\nparameters: {xs: [1]}\n"
    )
    result = run_cli("compile", "p.yaml", "-t", target, cwd=tmp_path)
    assert result.returncode == 2
    assert "holds '{{'" in result.stderr and "p.yaml:4:" in result.stderr, result.stderr


def test_the_xcom_sidecar_runs_as_an_unprivileged_user_when_the_pod_names_none(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "name: p\ndefaults: {image: i}\nsteps: {m: {map: {over: xs, as: x, steps: {a: {stub: true}}}}}\n"
        "parameters: {xs: [1]}\n"
    )
    (tmp_path / "d.yaml").write_text("security: restricted\n")
    dag = run_cli("compile", "p.yaml", "-t", "airflow", "-c", "d.yaml", cwd=tmp_path)
    assert dag.returncode == 0, dag.stderr
    assert (
        "xcom_sidecar_container_security_context=k8s.V1SecurityContext(allow_privilege_escalation=False, "
        'capabilities=k8s.V1Capabilities(drop=["ALL"]), run_as_user=65534)'
    ) in dag.stdout
    assert dag.stdout.count("xcom_sidecar_container_security_context") == 1  # control pods only
