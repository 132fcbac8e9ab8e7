"""The Kubernetes models of a `pod:` section are built only when one is validated (or a JSON Schema is made):
a command on a pipeline without a section never builds them; with a section, anywhere, it does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

# Runs one command in this process, then says whether the pod models were built.
_PROBE = """
import sys
from transpile.cli import main
code = main(sys.argv[1:])
schema = sys.modules.get("transpile.ir.kube_schema")
built = "transpile.ir.pod_model" in sys.modules or (schema is not None and schema.models.cache_info().currsize > 0)
print(code, built)
"""


def _models_built(*args: str) -> bool:
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=REPO, timeout=300)
    code, built = out.stdout.split()[-2:]
    assert code == "0", out.stdout + out.stderr
    return built == "True"


@pytest.mark.parametrize(
    "args",
    [
        ("compile", "samples/etl.yaml", "-t", "argo"),
        ("compile", "samples/etl.yaml", "-t", "airflow", "-c", "samples/deploy.yaml"),
        ("compile", "samples/etl.py", "-t", "prefect"),
        ("check", "samples/etl.yaml", "samples/etl.py"),
    ],
)
def test_without_a_pod_section_the_models_are_not_built(args, tmp_path):
    output = () if args[0] == "check" else ("-o", str(tmp_path / "out"))
    assert not _models_built(*args, *output)


@pytest.mark.parametrize(
    "args",
    [
        ("compile", "samples/pods.yaml", "-t", "argo"),  # the pipeline's defaults and steps
        ("compile", "samples/etl.yaml", "-t", "argo", "-c", "samples/deploy-restricted.yaml"),  # the deploy config
        ("schema",),
    ],
)
def test_a_pod_section_or_the_schema_builds_them(args, tmp_path):
    output = ("-o", str(tmp_path / "out")) if args[0] == "compile" else ("-o", str(tmp_path))
    assert _models_built(*args, *output)
