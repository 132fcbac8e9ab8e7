"""The real `kubectl` against a local API server that enforces Kubernetes' size rules
(tests/support/fake_apiserver.py): compiled specs of any size must go on a cluster the way users ship them.

Plain `kubectl apply -f` is client-side apply: it stores the whole object in the
`kubectl.kubernetes.io/last-applied-configuration` annotation, and the API server refuses annotations over
262,144 bytes in total, so every object transpile emits must fit that budget.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.pipelines import chain, wide
from tests.conftest import run_cli
from tests.support.fake_apiserver import ANNOTATIONS_LIMIT, FakeApiServer

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.fixture(scope="module")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is required under CI=true")
        pytest.skip("kubectl is not installed")
    return found


@pytest.fixture
def cluster(tmp_path, kubectl):
    """(server, run): a fresh fake API server and a function running kubectl against it."""
    server = FakeApiServer()
    config = server.kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=300)

    yield server, run
    server.close()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Compile a synthetic pipeline once per module: {shape: compiled spec path}."""
    root = tmp_path_factory.mktemp("specs")
    cache: dict[str, Path] = {}

    def get(shape: str) -> Path:
        if shape not in cache:
            kind, size = shape.split("-")
            source = root / f"{shape}.yaml"
            source.write_text({"chain": chain, "wide": wide}[kind](int(size)))
            result = run_cli("compile", str(source), "-o", str(root / f"{shape}.out.yaml"), "--with-claim")
            assert result.returncode == 0, result.stderr
            cache[shape] = root / f"{shape}.out.yaml"
        return cache[shape]

    return get


def documents(path: Path) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(path.read_text(), Loader=loader) if d]


def stored(server: FakeApiServer, document: dict) -> dict:
    plural = {"PersistentVolumeClaim": "persistentvolumeclaims"}.get(document["kind"], document["kind"].lower() + "s")
    return server.objects[(plural, "data", document["metadata"]["name"])]


@pytest.mark.parametrize("shape", ["chain-10000", "wide-5000"])
def test_kubectl_create(cluster, compiled, shape):
    server, kubectl = cluster
    spec = compiled(shape)
    result = kubectl("create", "-f", str(spec))
    assert result.returncode == 0, result.stderr
    for document in documents(spec):
        assert stored(server, document)["spec"] == document["spec"]
    assert result.stdout.count(" created") == len(documents(spec))


def apply_twice(server: FakeApiServer, kubectl, spec: Path) -> None:
    """Apply (create), then apply a changed version (update through a patch); check what the server holds."""
    first = kubectl("apply", "-f", str(spec))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" created") == len(documents(spec))
    changed = spec.with_name("changed-" + spec.name)
    changed.write_text(spec.read_text().replace("python:3.11-slim", "python:3.12-slim"))
    second = kubectl("apply", "-f", str(changed))
    assert second.returncode == 0, second.stderr
    assert " configured" in second.stdout
    patches = [r for r in server.requests if r.method == "PATCH"]
    assert patches and all(r.content_type.startswith("application/merge-patch+json") for r in patches)
    for document in documents(changed):
        held = stored(server, document)
        assert held["spec"] == document["spec"]
        assert json.loads(held["metadata"]["annotations"][LAST_APPLIED])["spec"] == document["spec"]


@pytest.mark.parametrize(
    "shape",
    [
        "chain-10000",
        "wide-5000",
        "chain-2000",  # fits the annotation budget with today's split
    ],
)
def test_kubectl_apply_creates_then_updates(cluster, compiled, shape):
    server, kubectl = cluster
    apply_twice(server, kubectl, compiled(shape))


def big_template(name: str, templates: int) -> dict:
    """A WorkflowTemplate of `templates` container templates (about 290 bytes of JSON each)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "t0",
            "templates": [
                {
                    "name": f"t{i}",
                    "container": {"image": "python:3.11-slim", "command": ["python", "-c", "print(1)" + " " * 200]},
                }
                for i in range(templates)
            ],
        },
    }


def test_the_server_refuses_an_annotation_over_the_limit_with_plain_apply(cluster, tmp_path):
    server, kubectl = cluster
    document = big_template("too-big-to-apply", 1000)
    assert ANNOTATIONS_LIMIT < len(json.dumps(document, separators=(",", ":"))) < 1024 * 1024
    spec = tmp_path / "big.yaml"
    spec.write_text(yaml.safe_dump(document))
    result = kubectl("apply", "-f", str(spec))
    assert result.returncode == 1
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in result.stderr
    assert server.objects == {}
    # the same object fits through kubectl create and server-side apply, which store no such annotation
    assert kubectl("apply", "--server-side", "-f", str(spec)).returncode == 0
    server.objects.clear()
    assert kubectl("create", "-f", str(spec)).returncode == 0


@pytest.mark.parametrize(
    ("templates", "message"),
    [(6_000, "etcdserver: request is too large"), (12_000, "Request entity too large: limit is 3145728")],
)
def test_the_server_refuses_objects_over_etcd_and_request_limits(cluster, tmp_path, templates, message):
    server, kubectl = cluster
    spec = tmp_path / "huge.yaml"
    spec.write_text(json.dumps(big_template("huge", templates)))
    result = kubectl("create", "-f", str(spec))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert server.objects == {}
