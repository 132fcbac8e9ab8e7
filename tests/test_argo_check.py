"""The checker every Argo test relies on can fail: each CRD rule kind it enforces rejects a spec that breaks it."""

from __future__ import annotations

import copy

import pytest

from tests.support.argo_check import crd_errors, require_shared

VALID = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "t"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "dag": {"tasks": [{"name": "a", "template": "c"}, {"name": "b", "template": "c", "depends": "a"}]},
            },
            {"name": "c", "container": {"image": "busybox"}},
        ],
    },
}


@pytest.fixture(autouse=True)
def _crds():
    require_shared()


def broken(change) -> dict:
    spec = copy.deepcopy(VALID)
    change(spec["spec"])
    return spec


def test_the_valid_spec_passes():
    assert crd_errors(copy.deepcopy(VALID)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["templates"][0]["dag"]["tasks"][1].update(dependencies=["a"]), "depends"),
        (lambda s: s["templates"][0]["dag"]["tasks"][1].update(continueOn={"failed": True}), "depends"),
        (lambda s: s["templates"][0]["dag"]["tasks"][1].update(name="1b"), "digit"),
        (lambda s: s["templates"][1].update(dag={"tasks": []}), "one"),
        (lambda s: s["templates"][0].update(timeout="10s"), "timeout"),
        (lambda s: s["templates"][0].update(activeDeadlineSeconds=5), "activeDeadlineSeconds"),
        (lambda s: s["templates"][1]["container"].update(imagee="x"), "imagee"),
        (
            lambda s: s["templates"].extend({"name": f"x{i}", "container": {"image": "i"}} for i in range(200)),
            "spec.templates:",
        ),
    ],
)
def test_each_rule_kind_rejects(change, expected):
    errors = crd_errors(broken(change))
    assert errors, "the checker accepted a spec the v4.1.2 CRD rejects"
    assert any(expected.lower() in e.lower() for e in errors), errors
