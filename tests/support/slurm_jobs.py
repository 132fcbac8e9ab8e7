"""Running generated SLURM scripts on the session's cluster (tests/support/engine_fixtures.py): a project
whose deploy config runs this tree's transpile with a store and a secret, compiling, submitting with sbatch,
comparing a run with `transpile run`, and the jobs a run left in the queue."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import SAMPLES, run_cli
from tests.support.outcomes import outcomes
from transpile.runtime.store import RunStore

SECRET = "s3cret 'pw' $HOME\n"


def make_project(root: Path, **slurm: object) -> Path:
    """Samples, a deploy config running this tree's transpile with a store in the project, a secret."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLES, root / "samples")
    secret = root / "secrets" / "db" / "password"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET)
    secret.chmod(0o600)
    deploy = {
        "working_dir": str(root),
        "command": [sys.executable, "-m", "transpile"],
        "volume": {"mount_path": str(root / "store")},
        "parallelism": 2,
        "slurm": {"secrets_dir": str(root / "secrets"), **slurm},
    }
    (root / "deploy.yaml").write_text(yaml.safe_dump(deploy))
    return root


def compile_script(project: Path, pipeline: str) -> Path:
    """Compile `pipeline` for SLURM with the project's deploy config; the script written."""
    result = run_cli("compile", pipeline, "-t", "slurm", "-c", "deploy.yaml", "-o", "out/", cwd=project)
    assert result.returncode == 0, result.stderr
    return next((project / "out").glob("*.slurm.sh"))


def submit(script: Path, env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the generated script (it calls sbatch) with `args`."""
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def run_both(
    project: Path, pipeline: str, env: dict, *params: str, env_readers: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess, RunStore]:
    """Run the pipeline through its SLURM script (run `s1`) and with `transpile run` (run `local`); their
    exit status and every node's result must agree (except the `env_readers`' results: `transpile run`
    does not apply a step's `env`, a job does)."""
    script = compile_script(project, pipeline)
    flags = [arg for p in params for arg in ("-p", p)]
    done = submit(script, env, *flags, "--run-id", "s1", "--wait", cwd=project)
    local = run_cli(
        "run", pipeline, *flags, "--store", "local", "--run-id", "local", cwd=project, env={"DB_PASSWORD": SECRET}
    )
    run = RunStore(project / "store", "s1")
    assert (done.returncode == 0) == (local.returncode == 0), (done.stdout, done.stderr[-3000:], local.stderr[-2000:])
    ours = {k: v for k, v in outcomes(run).items() if k not in env_readers}
    theirs = {k: v for k, v in outcomes(RunStore(project / "local", "local")).items() if k not in env_readers}
    assert ours == theirs, done.stderr[-3000:]
    return done, run


def left_in_queue(run: RunStore, env: dict) -> set[str]:
    """The run's jobs still pending or running."""
    ours = set()
    for listing in [*(run.run_dir / "slurm" / "jobs").iterdir(), run.run_dir / "slurm" / "finalizer"]:
        ours |= set(listing.read_text().split())
    queued = subprocess.run(["squeue", "-h", "-o", "%F"], env=env, capture_output=True, text=True, check=True)
    return ours & set(queued.stdout.split())
