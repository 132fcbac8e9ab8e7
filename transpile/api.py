"""The Python API: run pipelines, read their runs and compile them from Python (tests, notebooks, tools).

    import transpile

    run = transpile.run("samples/etl.yaml", {"date": "2026-02-01"}, store=tmp_path)
    run.raise_for_status()
    assert run.values["n"] == [30, 31, 32]

`run` uses the runner of `transpile run` (in a process of its own, with this interpreter's `sys.path`),
blocks until the run ends and returns a `Run`; it never exits the interpreter and prints nothing unless
`progress=True`. Input the CLI would refuse with exit 2 raises `CompileError`, carrying every located
error (its message is the CLI's report). Imports are lazy: `import transpile` stays light.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

from transpile.errors import Diagnostic, Span, TranspileError
from transpile.results import NodeRun, Run, RunFailed, read_run, read_runs

if TYPE_CHECKING:
    from transpile.compiler import Compiled
    from transpile.config import DeployConfig
    from transpile.frontends.python import Flow

__all__ = ["CompileError", "NodeRun", "Run", "RunFailed", "RunNotFound", "compile", "list_runs", "load_run", "run"]

Pipeline = Union[str, "os.PathLike[str]", "Flow"]
DEFAULT_STORE = ".transpile/store"  # as `transpile run`: --store, else $TRANSPILE_STORE, else this


class CompileError(TranspileError):
    """The input was refused (the CLI would exit 2): `diagnostics` holds every located error and `str()` is
    the CLI's report."""


class RunNotFound(LookupError):
    """`load_run` was given a run id the store does not hold."""


def _store(store: str | os.PathLike[str] | None) -> Path:
    return Path(store if store is not None else os.environ.get("TRANSPILE_STORE") or DEFAULT_STORE)


def _is_flow(pipeline: object) -> bool:
    from transpile.frontends.python import Flow

    return isinstance(pipeline, Flow)


def _compile_flow(flow: Flow) -> Compiled:
    from transpile.compiler import analyse_flow

    analysis = analyse_flow(flow, flow.reference())
    if analysis.diagnostics or analysis.compiled is None:
        raise CompileError(analysis.diagnostics)
    return analysis.compiled


def _compiled(pipeline: Pipeline) -> Compiled:
    from transpile.compiler import compile_pipeline

    if _is_flow(pipeline):
        return _compile_flow(pipeline)  # type: ignore[arg-type]
    return compile_pipeline(os.fspath(pipeline))  # type: ignore[arg-type]


def _config(config: str | os.PathLike[str] | Mapping[str, Any] | DeployConfig | None) -> DeployConfig:
    from transpile.config import DeployConfig, load_config

    if config is None or isinstance(config, DeployConfig):
        return config or DeployConfig.model_validate({})
    if isinstance(config, Mapping):
        from transpile.config import check_deploy
        from transpile.ir.source import SourceMap

        checked = check_deploy(dict(config), SourceMap("<deploy config>"))
        if checked.diagnostics or checked.model is None:
            raise TranspileError(checked.diagnostics)
        return checked.model
    return load_config(os.fspath(config))


def compile(
    pipeline: Pipeline,
    target: str = "argo",
    config: str | os.PathLike[str] | Mapping[str, Any] | DeployConfig | None = None,
) -> dict[str, str]:
    """The files `transpile compile` writes for a target: {file name: text}, the main file first.

    `pipeline` is a path (`.yaml`, `.py`, `file.py:attribute`) or a `Flow`; `config` a deploy config file,
    mapping or `DeployConfig`. Raises `CompileError` with every located error.
    """
    from transpile.backends.registry import get_backend
    from transpile.emit import emit_files

    try:
        get_backend(target)
        deploy = _config(config)
        return emit_files(_compiled(pipeline), deploy, target)
    except TranspileError as exc:
        raise CompileError(list(exc.diagnostics)) from None


def _flow_file(flow: Flow, store: Path) -> str:
    """Compile a Flow here (errors at its .py lines) and write it as YAML into the store for the runner's
    processes, named by its content so that a resumed run finds the same pipeline."""
    from transpile.backends.yaml_writer import dump
    from transpile.runtime.store import write_once

    _compile_flow(flow)
    text = f"# {flow.name}, built with the Python SDK in {flow.file}\n" + dump(flow.to_data())
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = store / "cache" / "flows" / f"{flow.name}-{digest}.yaml"
    if not path.is_file():
        write_once(path, text)
    return str(path)


def _parameter_values(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters as JSON data for the run's process, which checks them against the declared types."""
    from transpile.frontends.plain import plain_json

    values, problems = {}, []
    for name, value in (parameters or {}).items():
        found: list[tuple[str, str | None]] = []
        values[str(name)] = plain_json(value, f"parameter '{name}'", found)
        problems += [Diagnostic(message, hint=hint) for message, hint in found]
    if problems:
        raise CompileError(problems)
    return values


def _wait(process: subprocess.Popen[str], relay: IO[str] | None) -> bool:
    """Wait for the run's process, copying its output to `relay`; Ctrl-C is passed on to the run (a second
    one kills it). True if the run was interrupted."""
    interrupted = False
    while True:
        try:
            if relay is not None and process.stdout is not None:
                for line in process.stdout:
                    relay.write(line)
                    relay.flush()
            process.wait()
            return interrupted
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL if interrupted else signal.SIGINT)
            interrupted = True


def run(
    pipeline: Pipeline,
    parameters: Mapping[str, Any] | None = None,
    *,
    store: str | os.PathLike[str] | None = None,
    parallelism: int | None = None,
    run_id: str | None = None,
    resume: str | None = None,
    progress: bool = False,
    cache: bool = True,
    refresh: str | list[str] | tuple[str, ...] = (),
) -> Run:
    """Run a pipeline on this machine as `transpile run` does and return its `Run` once it has ended.

    `pipeline`: a path (`.yaml`, `.py`, `file.py:attribute`) or a `Flow`. `parameters` override declared
    values (any JSON value). `store` defaults to $TRANSPILE_STORE, else `.transpile/store`; `parallelism`
    to the number of cores. `resume` reruns a failed run, reusing its parameters and successful nodes.
    `progress` prints the runner's progress and summary to stderr. `cache=False` runs every step and reads and
    writes no step cache entry (`--no-cache`); `refresh` names steps to run even when an entry matches
    (`--refresh`). A failed run is returned, not raised:
    call `run.raise_for_status()`. Raises `CompileError` for refused input (nothing ran).
    """
    if parallelism is not None and (
        isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1
    ):
        raise ValueError(f"parallelism must be a whole number of at least 1, got {parallelism!r}")
    from transpile.plan.cache_mode import CacheMode, CacheModeError

    try:
        mode = CacheMode.of(bool(cache), [refresh] if isinstance(refresh, str) else list(refresh))
    except CacheModeError as exc:
        text = str(exc).replace("--no-cache", "cache=False").replace("--refresh", "refresh")
        raise ValueError(text) from None
    root = _store(store)
    reference = _flow_file(pipeline, root) if _is_flow(pipeline) else os.fspath(pipeline)  # type: ignore[arg-type]
    request = {
        "pipeline": reference,
        "parameters": _parameter_values(parameters),
        "store": str(root),
        "parallelism": parallelism or os.cpu_count() or 2,
        "run_id": run_id,
        "resume": resume,
        "cache": mode.text(),
        "sys_path": [entry or os.getcwd() for entry in sys.path],
    }
    with tempfile.TemporaryDirectory(prefix="transpile-run-") as scratch:
        request_path, result_path = Path(scratch, "request.json"), Path(scratch, "result.json")
        request_path.write_text(json.dumps(request), encoding="utf-8")
        with open(Path(scratch, "output.log"), "w+", encoding="utf-8") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "transpile.api_child", str(request_path), str(result_path)],
                stdout=subprocess.PIPE if progress else log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # Ctrl-C reaches the run through _wait, once
            )
            interrupted = _wait(process, sys.stderr if progress else None)
            log.seek(0)
            output = log.read()
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
    if result is None and interrupted:
        raise KeyboardInterrupt  # interrupted twice: the run was killed
    if result is None or "internal" in result:
        detail = result["internal"] if result else f"the run process ended with exit code {process.returncode}"
        raise RuntimeError(f"internal error in transpile: {detail}\n{output[-2000:]}".rstrip())
    if "diagnostics" in result:
        raise CompileError([_diagnostic(d) for d in result["diagnostics"]])
    found = read_run(root, result["run_id"])
    record = found.record if found is not None else None
    status = "interrupted" if interrupted or result.get("interrupted") else None
    return Run(root, result["run_id"], record, status=status, values=result.get("values"))


def _diagnostic(data: dict[str, Any]) -> Diagnostic:
    span = data.get("span")
    return Diagnostic(data["message"], Span(**span) if span else None, data.get("step"), data.get("hint"))


def load_run(run_id: str, store: str | os.PathLike[str] | None = None) -> Run:
    """An earlier run, read from the store; raises `RunNotFound` when the store has no such run."""
    root = _store(store)
    found = read_run(root, run_id)
    if found is None:
        raise RunNotFound(f"no run '{run_id}' in {root}")
    return found


def list_runs(store: str | os.PathLike[str] | None = None) -> list[Run]:
    """Every run in the store, oldest first."""
    return read_runs(_store(store))
