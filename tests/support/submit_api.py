"""`transpile submit` against the local fake API server (tests/support/fake_apiserver.py): scripted answers,
a kubeconfig naming the server, the submit command line, and the writes the server received."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import run_cli
from tests.support.fake_apiserver import FakeApiServer

WT_PATH = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtemplates"


def status_body(code: int, message: str, reason: str = "Invalid") -> dict:
    """A Kubernetes `Status` failure body, as the API server answers an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def created(method: str, path: str, body: dict | None):
    """Scripted answers: accept every create, find nothing (the old recording server's behaviour)."""
    if method == "POST":
        answer = dict(body or {})
        answer["metadata"] = {**answer.get("metadata", {}), "resourceVersion": "1"}
        if answer["metadata"].get("generateName"):
            answer["metadata"]["name"] = answer["metadata"]["generateName"] + "x7k2p"
        return 201, answer
    if method == "GET" and path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
        return 200, {"kind": "Namespace", "metadata": {"name": path.rsplit("/", 1)[1]}}
    return 404, status_body(404, "not found", "NotFound")


def kubeconfig(tmp_path: Path, server: str, namespace: str = "data") -> Path:
    """A kubeconfig naming `server`, with a token and `namespace` as the context's namespace."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": server}}],
                "users": [{"name": "test", "user": {"token": "secret-token"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
            }
        )
    )
    return path


def submit(tmp_path: Path, server: FakeApiServer, *args: str, target: str = "samples/etl.yaml", env=None):
    """`transpile submit TARGET ARGS` against `server`."""
    return run_cli("submit", target, "--kubeconfig", str(kubeconfig(tmp_path, server.url)), *args, env=env)


def writes(server: FakeApiServer) -> list[tuple[str, str]]:
    """(method, path) of each write the server received, in order."""
    return [(r.method, r.path) for r in server.writes()]
