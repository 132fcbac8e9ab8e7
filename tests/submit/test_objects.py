"""`transpile submit` with the real kubernetes client against the local fake API server, which keeps objects
like a cluster: what it creates or updates (claim, templates, split templates first), in which namespace, from
a pipeline or a spec file read as kubectl reads it, and an identical spec left as it is."""

from __future__ import annotations

import json

import yaml

from tests.conftest import run_cli
from tests.support.submit_api import WT_PATH, status_body, submit, writes


def test_creates_claim_and_template(api, tmp_path):
    server = api()
    result = submit(tmp_path, server)
    assert result.returncode == 0, result.stderr
    assert writes(server) == [
        ("POST", "/api/v1/namespaces/data/persistentvolumeclaims"),
        ("POST", WT_PATH.format(ns="data")),
    ]
    assert server.requests[0].path == "/api/v1/namespaces/data"  # the namespace is checked first
    claim, template = (r.body for r in server.writes())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert template["kind"] == "WorkflowTemplate" and template["metadata"]["name"] == "etl-daily"
    assert template["metadata"]["namespace"] == "data"
    assert template["spec"]["templates"][0]["name"] == "main"
    assert {r.auth for r in server.requests} == {"Bearer secret-token"}
    assert "created WorkflowTemplate data/etl-daily" in result.stdout


def test_namespace_flag_and_compiled_spec_file(api, tmp_path):
    spec = tmp_path / "spec.yaml"
    assert run_cli("compile", "samples/etl.yaml", "-o", str(spec)).returncode == 0
    server = api()
    result = submit(tmp_path, server, "-n", "other", target=str(spec))
    assert result.returncode == 0, result.stderr
    assert writes(server) == [("POST", WT_PATH.format(ns="other"))]


def test_conflict_replaces_with_the_server_resource_version(api, tmp_path):
    def respond(method, path, body):
        if method == "POST" and path.endswith("/workflowtemplates"):
            return 409, status_body(409, 'workflowtemplates.argoproj.io "etl-daily" already exists', "AlreadyExists")
        if method == "POST":
            return 409, status_body(409, "exists", "AlreadyExists")
        if method == "GET" and "workflowtemplates" in path:
            return 200, {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "WorkflowTemplate",
                "metadata": {"name": "etl-daily", "resourceVersion": "4242"},
            }
        if method == "PUT":
            return 200, body
        return None

    server = api(respond)
    result = submit(tmp_path, server)
    assert result.returncode == 0, result.stderr
    methods = [(r.method, r.path) for r in server.requests]
    assert methods[-2:] == [
        ("GET", WT_PATH.format(ns="data") + "/etl-daily"),
        ("PUT", WT_PATH.format(ns="data") + "/etl-daily"),
    ]
    assert server.requests[-1].body["metadata"]["resourceVersion"] == "4242"
    assert "PersistentVolumeClaim data/transpile-store exists, left as is" in result.stdout
    assert "updated WorkflowTemplate data/etl-daily" in result.stdout


def test_spec_files_are_read_like_kubectl(api, tmp_path):
    spec = tmp_path / "spec.yaml"
    assert run_cli("compile", "samples/etl.yaml", "-o", str(spec), "--with-claim").returncode == 0
    template, claim = list(yaml.load_all(spec.read_text(), Loader=yaml.CSafeLoader))
    listed = {"apiVersion": "v1", "kind": "List", "items": [claim]}
    spec.write_text(
        "---\n# comment only\n---\n" + yaml.safe_dump(template) + "---\n" + yaml.safe_dump(listed) + "---\n"
    )
    server = api(respond=None)
    result = submit(tmp_path, server, target=str(spec))
    assert result.returncode == 0, result.stderr
    assert sorted(kind for kind, _, _ in server.objects) == ["persistentvolumeclaims", "workflowtemplates"]
    # YAML 1.1 as kubectl reads it: unquoted y/yes/on are booleans, which a label cannot be
    text = spec.read_text()
    for word in ("y", "yes", "on"):
        spec.write_text(
            text.replace("app.kubernetes.io/managed-by: transpile", f"app.kubernetes.io/managed-by: {word}", 1)
        )
        result = submit(tmp_path, server, target=str(spec))
        assert result.returncode == 2 and "managed-by is true, not a string; quote it" in result.stderr
    spec.write_text("apiVersion: v1\nkind: List\nmetadata: {name: a}\nkind: List\n")
    result = submit(tmp_path, server, target=str(spec))
    assert result.returncode == 2 and "mapping key 'kind' is given twice" in result.stderr
    assert f"{spec}:4:1" in result.stderr


def test_split_templates_are_created_before_the_main_one(api, tmp_path):
    from benchmarks.pipelines import chain

    (tmp_path / "big.yaml").write_text(chain(10_000))
    server = api(respond=None)
    result = submit(tmp_path, server, target=str(tmp_path / "big.yaml"))
    assert result.returncode == 0, result.stderr
    names = [r.body["metadata"]["name"] for r in server.writes() if r.path.endswith("/workflowtemplates")]
    assert names[-1] == "chain-10000" and len(names) > 1
    assert all(name.startswith("chain-10000-part-") for name in names[:-1])
    assert {name for _, _, name in server.objects} == {*names, "transpile-store"}


def test_namespace_flag_overrides_the_spec_namespace_for_every_object_and_the_run(api, tmp_path):
    """`-n` wins over the namespace written in the spec: the templates, the namespace check, the Workflow
    and `-o json` all use it (before, the template went to the spec's namespace and the run elsewhere)."""
    spec = tmp_path / "spec.yaml"
    assert run_cli("compile", "samples/etl.yaml", "-c", "samples/deploy.yaml", "-o", str(spec)).returncode == 0
    assert "namespace: data" in spec.read_text()
    server = api(respond=None, namespaces={"default", "data", "other"})
    result = submit(tmp_path, server, "-n", "other", "--run", "-o", "json", target=str(spec))
    assert result.returncode == 0, result.stderr
    assert {path.split("/namespaces/")[1].split("/")[0] for _, path in writes(server)} == {"other"}
    assert json.loads(result.stdout)["namespace"] == "other"
    assert ("workflowtemplates", "other", "etl-daily") in server.objects
    assert not any(namespace == "data" for _, namespace, _ in server.objects)


def test_resubmitting_an_identical_spec_reports_unchanged_and_replaces_nothing(api, tmp_path):
    server = api(respond=None)
    assert submit(tmp_path, server).returncode == 0
    result = submit(tmp_path, server, "-o", "json")
    assert result.returncode == 0, result.stderr
    actions = {o["kind"]: o["action"] for o in json.loads(result.stdout)["objects"]}
    assert actions == {"PersistentVolumeClaim": "unchanged", "WorkflowTemplate": "unchanged"}
    assert not any(r.method == "PUT" for r in server.requests)
