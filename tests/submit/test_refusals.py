"""What `transpile submit` refuses before sending anything: unknown or mistyped run parameters, bad cache
flags, a bad namespace, a spec with errors or over the etcd limit; every problem at once, nothing created."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import run_cli
from tests.support.submit_api import status_body, submit


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


def test_every_problem_of_a_submit_is_reported_at_once(api, tmp_path):
    server = api(respond=None)
    result = submit(tmp_path, server, "-n", "Bad_NS", "--run", "-p", "nope=1", "-p", "shards=5", "-p", "oops")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith("4 errors found"), result.stderr
    assert "namespace 'Bad_NS' is not a valid name" in result.stderr and "-p expects NAME=VALUE" in result.stderr
    assert server.requests == []
