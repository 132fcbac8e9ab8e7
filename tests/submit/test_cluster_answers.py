"""What `transpile submit` makes of the cluster's answers, scripted on the fake API server (404, 409, 422, 500,
a server that never answers, a namespace that does not exist), and of a kubeconfig or context it cannot use:
one clear message, exit 2, never a traceback."""

from __future__ import annotations

import time

import pytest

from tests.conftest import run_cli
from tests.support.submit_api import created, kubeconfig, status_body, submit


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
    assert result.returncode == 2 and f"kubeconfig {tmp_path / 'none'} does not exist" in result.stderr


def test_a_hanging_server_times_out(api, tmp_path):
    server = api(respond=None, hang=True)
    started = time.monotonic()
    result = submit(tmp_path, server, "--request-timeout", "1")
    assert result.returncode == 2
    assert time.monotonic() - started < 60
    assert f"the Kubernetes API server at {server.url} did not answer within 1s" in result.stderr
    assert "--request-timeout" in result.stderr and "Traceback" not in result.stderr


def test_timeouts_have_defaults():
    help_text = run_cli("submit", "--help").stdout
    assert "--request-timeout SECONDS" in help_text and "(default 30)" in help_text
    assert "--connect-timeout SECONDS" in help_text and "(default 10)" in help_text
    result = run_cli("submit", "samples/etl.yaml", "--request-timeout", "0")
    assert result.returncode == 2 and "expected a positive number of seconds" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "kubeconfig {path} does not exist"),
        ("clusters: [\n  not: yaml: at all", "kubeconfig {path} is not valid YAML"),
        ("just a string", "kubeconfig {path} is not a kubeconfig"),
        ("apiVersion: v1\nclusters: []\ncontexts: []\n", "kubeconfig {path} sets no current-context"),
    ],
)
def test_an_unusable_kubeconfig_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "kube.yaml"
    if content is not None:
        path.write_text(content)
    result = run_cli("submit", "samples/etl.yaml", "--kubeconfig", str(path))
    assert result.returncode == 2, result.stderr
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error: " + message.format(path=path))
    assert not any(line.startswith("error") for line in rest)
    assert "Invalid kube-config" not in result.stderr and "Traceback" not in result.stderr


def test_context_flag_is_checked(api, tmp_path):
    result = submit(tmp_path, api(), "--context", "nope")
    assert result.returncode == 2 and "context 'nope' is not in kubeconfig" in result.stderr
    assert "(contexts: test)" in result.stderr


def test_a_spec_namespace_that_does_not_exist_is_named_not_blamed_on_the_crds(api, tmp_path):
    (tmp_path / "deploy.yaml").write_text("namespace: ghost\n")
    spec = tmp_path / "spec.yaml"
    assert run_cli("compile", "samples/etl.yaml", "-c", str(tmp_path / "deploy.yaml"), "-o", str(spec)).returncode == 0
    server = api(respond=None)
    result = submit(tmp_path, server, target=str(spec))
    assert result.returncode == 2
    assert "namespace ghost does not exist" in result.stderr and "CRDs" not in result.stderr
    assert server.objects == {}
    # a user who may not read namespaces: the server's 404 on the create names the namespace too
    forbidden = api(
        respond=lambda method, path, body: (
            (403, status_body(403, "forbidden", "Forbidden")) if path == "/api/v1/namespaces/ghost" else None
        )
    )
    result = submit(tmp_path, forbidden, target=str(spec))
    assert result.returncode == 2
    assert "namespace ghost does not exist" in result.stderr and "CRDs" not in result.stderr
