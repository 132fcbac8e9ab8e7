"""`transpile submit` with the real kubernetes client against the local fake API server
(tests/support/fake_apiserver.py), which keeps objects like a cluster and can be scripted (404, 409, 422,
500, a server that never answers, ...)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.support.fake_apiserver import FakeApiServer

WT_PATH = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtemplates"


def status_body(code: int, message: str, reason: str = "Invalid") -> dict:
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

    def start(respond=created, **options) -> FakeApiServer:
        server = FakeApiServer(respond=respond, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def submit(tmp_path: Path, server: FakeApiServer, *args: str, target: str = "samples/etl.yaml", env=None):
    return run_cli("submit", target, "--kubeconfig", str(kubeconfig(tmp_path, server.url)), *args, env=env)


def writes(server: FakeApiServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.writes()]


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
    run = next(r for r in server.requests if r.path.endswith("/workflows"))
    assert run.method == "POST"
    assert run.body["spec"] == {
        "workflowTemplateRef": {"name": "etl-daily"},
        "arguments": {"parameters": [{"name": "date", "value": "2026-02-02"}]},
    }
    assert run.body["metadata"]["generateName"] == "etl-daily-"
    lines = result.stdout.splitlines()
    assert "etl-daily-x7k2p" in lines
    assert "workflow etl-daily-x7k2p: Running 1/3" in lines and lines[-1] == "workflow etl-daily-x7k2p: Succeeded 3/3"


def test_wait_exits_one_when_the_run_fails(api, tmp_path):
    def respond(method, path, body):
        if method == "GET" and "/workflows/" in path:
            return 200, {"status": {"phase": "Failed", "message": "child 'extract' failed"}}
        return created(method, path, body)

    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05")
    assert result.returncode == 1
    assert "Failed" in result.stdout and "child 'extract' failed" in result.stdout


def test_unknown_run_parameter_creates_nothing(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "--run", "-p", "nope=1", "-p", "date=2026-02-02")
    assert result.returncode == 2
    assert "etl-daily: unknown parameter 'nope' (parameters: date, shards, transpile_cache)" in result.stderr
    assert server.requests == [] and server.objects == {}
    result = submit(tmp_path, server, "-p", "date=1")
    assert result.returncode == 2 and "-p sets a parameter of a run; add --run" in result.stderr
    assert server.requests == []


@pytest.mark.parametrize(
    ("flags", "mode"), [(["--no-cache"], "off"), (["--refresh", "clean", "--refresh", "gate"], "refresh=clean,gate")]
)
def test_cache_flags_become_the_runs_cache_parameter(api, tmp_path, flags, mode):
    server = api()
    result = submit(tmp_path, server, "--run", *flags)
    assert result.returncode == 0, result.stderr
    run = next(r for r in server.requests if r.path.endswith("/workflows"))
    assert run.body["spec"]["arguments"] == {"parameters": [{"name": "transpile_cache", "value": mode}]}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--no-cache"], "--no-cache and --refresh set the cache mode of a run; add --run"),
        (["--run", "--no-cache", "--refresh", "clean"], "--no-cache and --refresh do not go together"),
        (["--run", "--refresh", "Not A Step"], "'Not A Step' is not a step id"),
    ],
)
def test_bad_cache_flags_create_nothing(api, tmp_path, flags, message):
    server = api(respond=None)
    result = submit(tmp_path, server, *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert server.requests == []


def test_namespace_is_checked_before_anything_is_created(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "-n", "Not_A_Namespace")
    assert result.returncode == 2 and "namespace 'Not_A_Namespace' is not a valid name" in result.stderr
    assert server.requests == []
    result = submit(tmp_path, server, "-n", "missing")
    assert result.returncode == 2
    assert f"namespace missing does not exist on the cluster at {server.url}" in result.stderr
    assert server.writes() == [] and server.objects == {}
    # a user who may not read namespaces still submits: the creates are the test
    forbidden = api(
        respond=lambda method, path, body: (
            (403, status_body(403, "forbidden", "Forbidden")) if path == "/api/v1/namespaces/data" else None
        )
    )
    assert submit(tmp_path, forbidden).returncode == 0
    assert len(forbidden.objects) == 2


def test_a_bad_spec_creates_nothing(api, tmp_path):
    spec = tmp_path / "spec.yaml"
    assert run_cli("compile", "samples/etl.yaml", "-o", str(spec), "--with-claim").returncode == 0
    documents = list(yaml.load_all(spec.read_text(), Loader=yaml.CSafeLoader))
    template = documents[0]
    template["spec"]["templates"][0]["dag"]["tasks"][0]["template"] = "nowhere"
    template["spec"]["entrypoint"] = "nothing"
    template["metadata"]["labels"]["team"] = True
    documents.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    spec.write_text(yaml.safe_dump_all(documents))
    server = api(respond=None)
    result = submit(tmp_path, server, target=str(spec))
    assert result.returncode == 2
    for message in (
        "spec.entrypoint names template 'nothing', which is not defined",
        "uses template 'nowhere', which is not defined",
        "metadata.labels.team is true, not a string; quote it",
        "transpile submit sends PersistentVolumeClaim, WorkflowTemplate, CronWorkflow objects; apply a Secret",
    ):
        assert message in result.stderr
    assert server.requests == []


def test_an_object_over_the_etcd_limit_is_refused_offline(api, tmp_path):
    big = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "big"},
        "spec": {
            "entrypoint": "t0",
            "templates": [{"name": f"t{i}", "container": {"image": "i", "args": ["x" * 9000]}} for i in range(180)],
        },
    }
    spec = tmp_path / "big.yaml"
    spec.write_text(json.dumps(big))
    server = api(respond=None)
    result = submit(tmp_path, server, target=str(spec))
    assert result.returncode == 2 and "etcd refuses objects over 1,572,864 bytes" in result.stderr
    assert server.requests == []


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


def test_dry_run_client_needs_no_kubeconfig(tmp_path):
    env = {"KUBECONFIG": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}
    result = run_cli("submit", "samples/etl.yaml", "--dry-run", "client", "--run", "-p", "date=x", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "would create or update PersistentVolumeClaim default/transpile-store (client dry run, nothing sent)",
        "would create or update WorkflowTemplate default/etl-daily (client dry run, nothing sent)",
        "would create a Workflow from etl-daily with date=x",
        "etl-daily-(dry-run)",
    ]
    bad = run_cli("submit", "samples/etl.yaml", "--dry-run", "client", "--run", "-p", "nope=1", env=env)
    assert bad.returncode == 2 and "unknown parameter 'nope'" in bad.stderr


def test_dry_run_server_persists_nothing_and_says_so(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "--dry-run", "server", "--run")
    assert result.returncode == 0, result.stderr
    assert server.writes() and all(r.query.get("dryRun") == ["All"] for r in server.writes())
    assert server.objects == {}
    lines = result.stdout.splitlines()
    assert "would create PersistentVolumeClaim data/transpile-store (server dry run)" in lines
    assert "would create WorkflowTemplate data/etl-daily (server dry run)" in lines
    assert "would create a Workflow from etl-daily (server dry run)" in lines
    assert not any(line.startswith("created") for line in lines)
    # against objects that exist: "would update" when they differ, "up to date" when they do not
    assert submit(tmp_path, server).returncode == 0
    result = submit(tmp_path, server, "--dry-run", "server")
    assert "WorkflowTemplate data/etl-daily is up to date, left as is" in result.stdout.splitlines()
    (tmp_path / "deploy.yaml").write_text("parallelism: 3\n")
    result = submit(tmp_path, server, "--dry-run", "server", "-c", str(tmp_path / "deploy.yaml"))
    assert "would update WorkflowTemplate data/etl-daily (server dry run)" in result.stdout.splitlines()


def test_quiet_and_json_output_for_scripts(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "--run", "--quiet")
    assert result.returncode == 0, result.stderr
    (workflow,) = result.stdout.splitlines()
    assert workflow.startswith("etl-daily-") and ("workflows", "data", workflow) in server.objects
    result = submit(tmp_path, server, "--run", "--output", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["workflow"].startswith("etl-daily-") and document["workflow"] != workflow
    assert document["namespace"] == "data" and document["dryRun"] is None
    assert {"kind": "WorkflowTemplate", "name": "etl-daily", "action": "unchanged"} in document["objects"]
    assert "WorkflowTemplate data/etl-daily is up to date, left as is" in result.stderr


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


@pytest.mark.parametrize("shape", ["etl", "etl-deploy", "scheduled", "nested-maps", "wide"])
def test_the_offline_checks_accept_what_transpile_compiles(tmp_path, shape):
    from benchmarks.pipelines import nested_maps, wide

    args = ["--dry-run", "client", "-o", "json"]
    target = "samples/etl.yaml"
    if shape == "etl-deploy":
        args += ["-c", "samples/deploy.yaml"]
    elif shape == "scheduled":
        target = str(tmp_path / "p.yaml")
        Path(target).write_text(
            "name: nightly\nschedule: {cron: '0 2 * * *', timezone: Europe/Paris}\n"
            "steps:\n  one: {python: m:f, image: i}\n"
        )
        (tmp_path / "deploy.yaml").write_text("volume: {mode: template}\n")
        args += ["-c", str(tmp_path / "deploy.yaml")]
    elif shape != "etl":
        target = str(tmp_path / "p.yaml")
        Path(target).write_text({"nested-maps": nested_maps, "wide": wide}[shape](900))
    result = run_cli("submit", target, *args)
    assert result.returncode == 0, result.stderr
    kinds = [o["kind"] for o in json.loads(result.stdout)["objects"]]
    assert "WorkflowTemplate" in kinds
    assert ("CronWorkflow" in kinds) == (shape == "scheduled")


# ---- issue 21: submit does what the README says ----


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


@pytest.mark.parametrize("from_spec", [False, True], ids=["pipeline", "spec-file"])
def test_run_parameters_are_checked_against_their_declared_types(api, tmp_path, from_spec):
    """`submit --run -p` refuses what `transpile run -p` refuses, for a pipeline and for a compiled spec
    (which records the parameters' types), every problem at once; nothing is created."""
    (tmp_path / "p.yaml").write_text(
        "name: typed\ndefaults: {image: i}\nparameters: {threshold: 0.5, n: 3, xs: [1], on: true, date: d}\n"
        "steps:\n  a: {shell: x}\n"
    )
    target = str(tmp_path / "p.yaml")
    if from_spec:
        assert run_cli("compile", target, "-o", str(tmp_path / "spec.yaml")).returncode == 0
        target = str(tmp_path / "spec.yaml")
    server = api(respond=None)
    bad = ["-p", "threshold=abc", "-p", "n=true", "-p", "xs=5", "-p", "on=null", "-p", "n2=1"]
    result = submit(tmp_path, server, "--run", *bad, target=target)
    assert result.returncode == 2, result.stderr
    assert "typed: parameter 'threshold' must be a number (given as JSON), got 'abc'" in result.stderr
    assert "parameter 'n' must be an integer, got 'true'" in result.stderr
    assert "parameter 'xs' must be a JSON list, got '5'" in result.stderr
    assert "parameter 'on' must be a boolean" in result.stderr
    assert "unknown parameter 'n2'; did you mean 'n'?" in result.stderr
    assert result.stderr.rstrip().endswith("5 errors found") and "Traceback" not in result.stderr
    assert server.requests == []
    good = ["-p", "threshold=2", "-p", "n=4", "-p", "xs=[2, 3]", "-p", "on=false", "-p", "date=5"]
    assert submit(tmp_path, server, "--run", *good, target=target).returncode == 0


def test_a_wait_that_times_out_exits_one(api, tmp_path):
    def respond(method, path, body):
        if method == "GET" and "/workflows/" in path:
            return 200, {"status": {"phase": "Running", "progress": "1/3"}}
        return created(method, path, body)

    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05", "--timeout", "0.3")
    assert result.returncode == 1, result.stderr
    assert "still Running after 0.3s" in result.stdout and "Traceback" not in result.stderr
    result = submit(tmp_path, api(respond), "--run", "--wait", "--poll", "0.05", "--timeout", "0.3", "-o", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["phase"] == "Running" and document["timedOut"] is True


def test_resubmitting_an_identical_spec_reports_unchanged_and_replaces_nothing(api, tmp_path):
    server = api(respond=None)
    assert submit(tmp_path, server).returncode == 0
    result = submit(tmp_path, server, "-o", "json")
    assert result.returncode == 0, result.stderr
    actions = {o["kind"]: o["action"] for o in json.loads(result.stdout)["objects"]}
    assert actions == {"PersistentVolumeClaim": "unchanged", "WorkflowTemplate": "unchanged"}
    assert not any(r.method == "PUT" for r in server.requests)


def test_every_problem_of_a_submit_is_reported_at_once(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "-n", "Bad_NS", "--run", "-p", "nope=1", "-p", "shards=5", "-p", "oops")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith("4 errors found"), result.stderr
    assert "namespace 'Bad_NS' is not a valid name" in result.stderr and "-p expects NAME=VALUE" in result.stderr
    assert server.requests == []
