"""Nesting limits: composites nest up to 50 levels on every target (19 on Airflow), deeper is refused where
the limit is crossed; parameter values nest up to 100 levels; the walks that check them never recurse."""

from __future__ import annotations

import sys

import pytest
import yaml

from tests.conftest import run_cli
from tests.support.input_cases import nested
from transpile.frontends.nesting import MAX_COMPOSITE_DEPTH, plain_copy
from transpile.frontends.plain import plain_json
from transpile.ir.values import MAX_VALUE_DEPTH, json_problem

ARGO_MAX_STACK_DEPTH = 150  # the workflow controller's default (argo-workflows #11646)


def _template_depth(documents: list[dict]) -> int:
    """The deepest chain of template calls from the entrypoint (Argo counts each one against its stack)."""
    templates = {t["name"]: t for doc in documents for t in doc["spec"]["templates"]}
    entry = next(doc["spec"]["entrypoint"] for doc in documents if doc["spec"].get("entrypoint"))
    depth, stack = 0, [(entry, 1)]
    while stack:
        name, level = stack.pop()
        depth = max(depth, level)
        for task in (templates[name].get("dag") or {}).get("tasks", []):
            callee = task.get("template") or task.get("templateRef", {}).get("template")
            stack.append((callee, level + 1))
    return depth


@pytest.mark.parametrize("kind", ["parallel", "map", "switch"])
def test_fifty_nested_composites_compile_for_every_target_and_run_locally(tmp_path, kind):
    (tmp_path / "p.yaml").write_text(nested(MAX_COMPOSITE_DEPTH, kind))
    for target in ("argo", "prefect", "slurm"):
        result = run_cli("compile", "p.yaml", "-t", target, "-o", f"out-{target}/", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    for path in (tmp_path / "out-prefect").glob("*.py"):
        compile(path.read_text(), str(path), "exec")  # Python accepts the generated flow's nesting
    documents = list(yaml.load_all((tmp_path / "out-argo" / "p.yaml").read_text(), Loader=yaml.CSafeLoader))
    assert _template_depth(documents) <= ARGO_MAX_STACK_DEPTH
    run = run_cli("run", "p.yaml", "--store", "store", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    too_deep = nested(MAX_COMPOSITE_DEPTH + 1, kind)
    (tmp_path / "q.yaml").write_text(too_deep)
    refused = run_cli("check", "q.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and "composites nest more than 50 levels deep here" in refused.stderr


def test_airflow_takes_nineteen_levels_and_refuses_twenty(tmp_path):
    (tmp_path / "p.yaml").write_text(nested(19, "map"))
    result = run_cli("compile", "p.yaml", "-t", "airflow", "-o", "dags/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    compile((tmp_path / "dags" / "p.py").read_text(), "p.py", "exec")
    (tmp_path / "q.yaml").write_text(nested(20, "map"))
    refused = run_cli("compile", "q.yaml", "-t", "airflow", cwd=tmp_path)
    assert refused.returncode == 2 and "nests TaskGroups at most 19 deep" in refused.stderr


def test_the_walks_that_check_nesting_never_recurse():
    deep: list = []
    for _ in range(sys.getrecursionlimit() * 20):
        deep = [deep]
    copied, levels = plain_copy(deep), 0  # a recursive copy would raise RecursionError
    while copied:
        assert copied is not deep
        copied = copied[0]
        levels += 1
    assert levels == sys.getrecursionlimit() * 20
    assert "more than 100 levels deep" in json_problem(deep)
    problems: list = []
    plain_json({"x": deep}, "parameters", problems)
    assert problems and "more than 100 levels deep" in problems[0][0]
    ok = [1]
    for _ in range(MAX_VALUE_DEPTH - 1):
        ok = [ok]
    assert json_problem(ok) is None and json_problem([ok]) is not None
