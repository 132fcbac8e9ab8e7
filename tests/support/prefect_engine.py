"""The real Prefect 3.8.8 the tests run: its requirements, a local server (started once per session by
tests/support/engine_fixtures.py), compiling a pipeline into a flow, and running that flow as a script, as a
deployment's flow run, or through the `prefect` CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support.venvs import engine_env
from transpile.runtime.store import RunStore

# prefect 3.9.x needs a certifi release the registry lacks; 3.8.8 with fastapi<0.151 installs and runs.
PREFECT = ["prefect==3.8.8", "fastapi<0.151", "prefect-kubernetes"]
PROBE = Path(__file__).resolve().parent / "prefect_probe.py"
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def start_server(home: Path, prefect_bin: Path) -> dict:
    """Start a Prefect server on 127.0.0.1 (10-20 s here); its state for `shared_by_workers`."""
    home.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    env = engine_env({**os.environ, **QUIET, "PREFECT_HOME": str(home)})
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen(
            [str(prefect_bin / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the worker that started it, until the last worker stops it
        )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return {"url": url, "home": str(home), "pid": server.pid}
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            pytest.fail(f"the Prefect server exited: {(home / 'server.log').read_text()[-3000:]}")
    server.kill()
    pytest.fail("the Prefect server did not start within 120 s")


def stop_server(state: dict) -> None:
    """Stop the server's process group (uvicorn and its workers), SIGKILL after 20 s."""
    pid = state["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it if this worker started it
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            os.kill(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)


def compile_flow(project: Path, pipeline: str, prefect_bin: Path, *extra: str) -> Path:
    """Compile `pipeline` for Prefect with a deploy config running the engine venv's transpile; the flow file."""
    (project / "deploy.yaml").write_text(
        f"working_dir: {project}\ncommand: [{prefect_bin / 'transpile'}]\nvolume: {{mount_path: {project / 'store'}}}\n"
        "image: example.org/flow:1\n"  # the flow's pod image (prefect.yaml), required
    )
    out = project / "flow"
    result = run_cli(
        "compile", pipeline, "-t", "prefect", "-c", "deploy.yaml", "-o", str(out) + "/", *extra, cwd=project
    )
    assert result.returncode == 0, result.stderr
    return next(out.glob("*_flow.py"))


def run_flow(flow_file: Path, prefect_bin: Path, api: dict, project: Path) -> subprocess.CompletedProcess:
    """Run the flow file as a script against the session's server (the flow's default parameters)."""
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | api)
    return subprocess.run(
        [str(prefect_bin / "python"), str(flow_file)], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


def run_with(flow_file: Path, function: str, parameters: dict, prefect_bin: Path, api: dict, project: Path):
    """Run the flow once with `parameters` as a deployment's flow run does (Prefect's own `run_flow`)."""
    (project / "parameters.json").write_text(json.dumps(parameters))
    env = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | api)
    return subprocess.run(
        [str(prefect_bin / "python"), str(PROBE), "run", str(flow_file), function, str(project / "parameters.json")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def only_run(project: Path) -> RunStore:
    """The one run the flow recorded in the project's store."""
    runs = list((project / "store" / "runs").iterdir())
    assert len(runs) == 1, runs
    return RunStore(project / "store", runs[0].name)


def prefect_cli(prefect_bin: Path, api: dict, project: Path, *args: str, env: dict | None = None):
    """`prefect ARGS` in `project` against the session's server, with `env` added."""
    environment = engine_env({k: v for k, v in os.environ.items() if not k.startswith("PREFECT")} | api | (env or {}))
    return subprocess.run(
        [str(prefect_bin / "prefect"), *args], cwd=project, env=environment, capture_output=True, text=True, timeout=600
    )
