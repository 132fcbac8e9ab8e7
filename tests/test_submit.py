"""`transpile submit` with the real kubernetes client against a local HTTP server on 127.0.0.1 that records
every request and answers as scripted (201, 404, 409, 422, 500, ...)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tests.conftest import run_cli

Answer = tuple[int, dict]
WT_PATH = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtemplates"


class FakeApiServer:
    """Records (method, path, query, body) and answers with `respond(method, path, body)`."""

    def __init__(self, respond: Callable[[str, str, dict | None], Answer]):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                url = urlparse(self.path)
                server.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "body": body,
                        "auth": self.headers.get("Authorization"),
                    }
                )
                status, answer = respond(self.command, url.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def status_body(code: int, message: str, reason: str = "Invalid") -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def created(method: str, path: str, body: dict | None) -> Answer:
    if method == "POST":
        answer = dict(body or {})
        answer["metadata"] = {**answer.get("metadata", {}), "resourceVersion": "1"}
        if answer["metadata"].get("generateName"):
            answer["metadata"]["name"] = answer["metadata"]["generateName"] + "x7k2p"
        return 201, answer
    return 404, status_body(404, "not found", "NotFound")


def kubeconfig(tmp_path: Path, server: str, namespace: str = "data") -> Path:
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


@pytest.fixture
def api():
    servers = []

    def start(respond: Callable[[str, str, dict | None], Answer] = created) -> FakeApiServer:
        server = FakeApiServer(respond)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def submit(tmp_path: Path, server: FakeApiServer, *args: str, target: str = "samples/etl.yaml"):
    return run_cli("submit", target, "--kubeconfig", str(kubeconfig(tmp_path, server.url)), *args)


def test_creates_claim_and_template(api, tmp_path):
    server = api()
    result = submit(tmp_path, server)
    assert result.returncode == 0, result.stderr
    methods = [(r["method"], r["path"]) for r in server.requests]
    assert methods == [
        ("POST", "/api/v1/namespaces/data/persistentvolumeclaims"),
        ("POST", WT_PATH.format(ns="data")),
    ]
    claim, template = (r["body"] for r in server.requests)
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert template["kind"] == "WorkflowTemplate" and template["metadata"]["name"] == "etl-daily"
    assert template["metadata"]["namespace"] == "data"
    assert template["spec"]["templates"][0]["name"] == "main"
    assert server.requests[0]["auth"] == "Bearer secret-token"
    assert "created WorkflowTemplate data/etl-daily" in result.stdout


def test_namespace_flag_and_compiled_spec_file(api, tmp_path):
    spec = tmp_path / "spec.yaml"
    assert run_cli("compile", "samples/etl.yaml", "-o", str(spec)).returncode == 0
    server = api()
    result = submit(tmp_path, server, "-n", "other", target=str(spec))
    assert result.returncode == 0, result.stderr
    assert [r["path"] for r in server.requests] == [WT_PATH.format(ns="other")]


def test_conflict_replaces_with_the_server_resource_version(api, tmp_path):
    def respond(method, path, body):
        if method == "POST" and path.endswith("/workflowtemplates"):
            return 409, status_body(409, 'workflowtemplates.argoproj.io "etl-daily" already exists', "AlreadyExists")
        if method == "POST":
            return 409, status_body(409, "exists", "AlreadyExists")
        if method == "GET":
            return 200, {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "WorkflowTemplate",
                "metadata": {"name": "etl-daily", "resourceVersion": "4242"},
            }
        return 200, body

    server = api(respond)
    result = submit(tmp_path, server)
    assert result.returncode == 0, result.stderr
    methods = [(r["method"], r["path"]) for r in server.requests]
    assert methods[-2:] == [
        ("GET", WT_PATH.format(ns="data") + "/etl-daily"),
        ("PUT", WT_PATH.format(ns="data") + "/etl-daily"),
    ]
    assert server.requests[-1]["body"]["metadata"]["resourceVersion"] == "4242"
    assert "PersistentVolumeClaim data/transpile-store exists, left as is" in result.stdout
    assert "updated WorkflowTemplate data/etl-daily" in result.stdout


def test_missing_argo_crds(api, tmp_path):
    def respond(method, path, body):
        if "argoproj.io" in path:
            return 404, status_body(404, "the server could not find the requested resource", "NotFound")
        return created(method, path, body)

    result = submit(tmp_path, api(respond))
    assert result.returncode == 2
    assert "the Argo Workflows CRDs are not installed" in result.stderr and "Traceback" not in result.stderr


def test_invalid_spec_shows_the_server_message(api, tmp_path):
    def respond(method, path, body):
        if "argoproj.io" in path:
            answer = status_body(422, 'WorkflowTemplate.argoproj.io "etl-daily" is invalid: spec.templates: Too many')
            answer["details"] = {"causes": [{"message": "spec.templates: Too many: 201: must have at most 200 items"}]}
            return 422, answer
        return created(method, path, body)

    result = submit(tmp_path, api(respond))
    assert result.returncode == 2
    assert "the API server rejected the spec" in result.stderr
    assert "must have at most 200 items" in result.stderr


@pytest.mark.parametrize(
    ("code", "expected"), [(500, "the API server failed"), (401, "not allowed"), (403, "not allowed")]
)
def test_server_errors(api, tmp_path, code, expected):
    result = submit(tmp_path, api(lambda method, path, body: (code, status_body(code, f"boom {code}"))))
    assert result.returncode == 2
    assert expected in result.stderr and f"boom {code}" in result.stderr


def test_unreachable_server_and_missing_kubeconfig(tmp_path):
    result = run_cli("submit", "samples/etl.yaml", "--kubeconfig", str(kubeconfig(tmp_path, "http://127.0.0.1:9")))
    assert result.returncode == 2 and "cannot reach the Kubernetes API server at http://127.0.0.1:9" in result.stderr
    result = run_cli("submit", "samples/etl.yaml", "--kubeconfig", str(tmp_path / "none"))
    assert result.returncode == 2 and "no usable kubeconfig" in result.stderr


def test_run_and_wait(api, tmp_path):
    polls = []

    def respond(method, path, body):
        if method == "GET" and "/workflows/" in path:
            polls.append(path)
            phase = "Running" if len(polls) < 3 else "Succeeded"
            return 200, {
                "metadata": {"name": "etl-daily-x7k2p"},
                "status": {"phase": phase, "progress": f"{len(polls)}/3"},
            }
        return created(method, path, body)

    server = api(respond)
    result = submit(tmp_path, server, "--run", "-p", "date=2026-02-02", "--wait", "--poll", "0.05")
    assert result.returncode == 0, result.stderr
    run = next(r for r in server.requests if r["path"].endswith("/workflows"))
    assert run["method"] == "POST"
    assert run["body"]["spec"] == {
        "workflowTemplateRef": {"name": "etl-daily"},
        "arguments": {"parameters": [{"name": "date", "value": "2026-02-02"}]},
    }
    assert run["body"]["metadata"]["generateName"] == "etl-daily-"
    lines = result.stdout.splitlines()
    assert "etl-daily-x7k2p" in lines
    assert "workflow etl-daily-x7k2p: Running 1/3" in lines and lines[-1] == "workflow etl-daily-x7k2p: Succeeded 3/3"


def test_wait_exits_one_when_the_run_fails(api, tmp_path):
    def respond(method, path, body):
        if method == "GET":
            return 200, {"status": {"phase": "Failed", "message": "child 'extract' failed"}}
        return created(method, path, body)

    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05")
    assert result.returncode == 1
    assert "Failed" in result.stdout and "child 'extract' failed" in result.stdout


def test_unknown_run_parameter(api, tmp_path):
    result = submit(tmp_path, api(), "--run", "-p", "dat=1")
    assert result.returncode == 2 and "unknown parameter(s) dat" in result.stderr


def test_dry_runs(api, tmp_path):
    server = api()
    result = submit(tmp_path, server, "--dry-run", "server", "--run")
    assert result.returncode == 0, result.stderr
    assert server.requests and all(r["query"].get("dryRun") == ["All"] for r in server.requests)
    quiet = api()
    result = submit(tmp_path, quiet, "--dry-run", "client", "--run")
    assert result.returncode == 0 and quiet.requests == []
    assert "would create or update WorkflowTemplate data/etl-daily" in result.stdout


def test_split_templates_are_created_before_the_main_one(api, tmp_path):
    from benchmarks.pipelines import chain

    (tmp_path / "big.yaml").write_text(chain(10_000))
    server = api()
    result = submit(tmp_path, server, target=str(tmp_path / "big.yaml"))
    assert result.returncode == 0, result.stderr
    names = [r["body"]["metadata"]["name"] for r in server.requests if r["path"].endswith("/workflowtemplates")]
    assert names == [f"chain-10000-part-{i}" for i in range(1, len(names))] + ["chain-10000"] and len(names) > 2
