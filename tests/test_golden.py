"""Every sample, in each of its forms, compiles to the committed golden file byte for byte.

Regenerate with `pytest tests/test_golden.py --update-goldens` after an intended change (never in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GOLDEN, REPO, SAMPLES, run_cli

SAMPLE_FILES = sorted(
    p.relative_to(REPO).as_posix()
    for p in SAMPLES.iterdir()
    if p.suffix in (".yaml", ".py") and not p.name.startswith(("deploy", "_"))
)
CASES = [(sample, target, []) for sample in SAMPLE_FILES for target in ("argo", "airflow", "prefect")] + [
    ("samples/etl.yaml", "prefect", ["-c", "samples/deploy.yaml", "--flavour", "job"]),
    ("samples/etl.yaml", "argo", ["-c", "samples/deploy.yaml", "--with-claim"]),
    ("samples/etl.yaml", "airflow", ["-c", "samples/deploy.yaml"]),
    ("samples/etl.yaml", "airflow", ["-c", "samples/deploy-local.yaml", "--flavour", "local"]),
    ("samples/pods.yaml", "argo", ["-c", "samples/deploy-restricted.yaml"]),
    ("samples/pods.yaml", "airflow", ["-c", "samples/deploy-restricted.yaml"]),
    ("samples/pods.yaml", "prefect", ["-c", "samples/deploy-restricted.yaml", "--flavour", "job"]),
]


def golden_name(sample: str, target: str, extra: list[str]) -> str:
    stem = sample.replace("samples/", "").replace(".", "-")
    suffix = "".join("-" + Path(a).stem for a in extra if a.endswith(".yaml"))
    suffix += "".join(f"-{extra[i + 1]}" for i, a in enumerate(extra) if a == "--flavour")
    return f"{stem}{suffix}.{target}.out"


def test_samples_exist_in_both_forms():
    names = {p.stem for p in SAMPLES.glob("*.py")} & {p.stem for p in SAMPLES.glob("*.yaml")}
    assert "etl" in names


@pytest.mark.parametrize(("sample", "target", "extra"), CASES, ids=[golden_name(*c) for c in CASES])
def test_golden(sample, target, extra, update_goldens):
    result = run_cli("compile", sample, "-t", target, *extra)
    assert result.returncode == 0, result.stderr
    path = GOLDEN / golden_name(sample, target, extra)
    if update_goldens:
        path.write_text(result.stdout, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run pytest --update-goldens"
    assert result.stdout == path.read_text(encoding="utf-8")
