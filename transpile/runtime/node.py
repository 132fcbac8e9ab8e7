"""Run one node instance: the body of `transpile execute-node`, shared by every backend and `transpile run`.

A node is a task step (python, shell, stub) or the control node of a map (fan-out: writes the items and
their indices) or of a switch (route: picks the case). Each execution claims a new attempt in the run
store, records its inputs, outputs, logs and outcome there, and publishes the node's result once.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transpile.ir.names import node_id, step_key
from transpile.plan.params import ParameterError, encode
from transpile.runtime.capture import capture
from transpile.runtime.loader import Loaded, load_pipeline
from transpile.runtime.store import RunStore, now
from transpile.runtime.values import NotAvailable, ValueReader, parse_parameters

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_HASH_MISMATCH = 4


class NodeError(Exception):
    """The node cannot run at all (unknown node, bad arguments); exit 2, nothing recorded."""


class HashMismatch(Exception):
    """The pipeline file in the image is not the one the spec was compiled from; exit 4."""


class StepFailure(Exception):
    """The step ran and failed; the message says why in the user's terms."""


@dataclass
class NodeRequest:
    """Everything `execute-node` is told on its command line."""

    pipeline: str
    store: Path
    run_id: str
    node: str
    indices: tuple[int, ...] = ()
    expected_hash: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    control_out: Path | None = None
    xcom_out: Path | None = None
    print_control: bool = False
    echo: bool = True


@dataclass
class NodeOutcome:
    """What happened: the store key, attempt, status, the error if any, and the control value."""

    key: str
    attempt: int
    status: str
    error: str | None = None
    control: Any = None
    exit_code: int = EXIT_OK


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _import_callable(reference: str) -> Any:
    module_name, _, qualname = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _bind(function: Any, reader: ValueReader, path: tuple[str, ...], indices: tuple[int, ...]) -> dict[str, Any]:
    """Keyword arguments for `function`, by parameter name, from the visible values."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return {}
    kwargs: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if param.kind == param.VAR_KEYWORD:
            for other, value in reader.visible_values(path, indices).items():
                kwargs.setdefault(other, value)
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            continue
        source = reader.index.resolve(name, path)
        if source is None:
            if param.default is param.empty:
                visible = ", ".join(reader.index.visible(path)) or "nothing"
                raise StepFailure(
                    f"argument '{name}' has no value: no parameter or upstream return of that name (visible: {visible})"
                )
            continue
        try:
            kwargs[name] = reader.resolve(source, path, indices)
        except NotAvailable as exc:
            if param.default is param.empty:
                raise StepFailure(f"argument '{name}': {exc}") from None
    return kwargs


def _check_json(name: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StepFailure(
            f"return '{name}' is a {type(value).__name__}, which is not JSON ({exc}); "
            "return lists, dicts, strings, numbers, booleans or None"
        ) from None


def _unpack_returns(step: Any, value: Any) -> dict[str, Any]:
    names = list(step.returns)
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: _check_json(names[0], value)}
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = f"a {type(value).__name__}" + (f" of {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise StepFailure(f"returns {names} needs a tuple of {len(names)} values, got {got}")
    return {n: _check_json(n, v) for n, v in zip(names, value, strict=True)}


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _shell_returns(step: Any, returns_dir: Path) -> dict[str, Any]:
    values = {}
    for name in step.returns:
        path = returns_dir / name
        if not path.is_file():
            raise StepFailure(f"the shell step did not write return '{name}' to $TRANSPILE_RETURNS/{name}")
        text = path.read_text(encoding="utf-8")
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text[:-1] if text.endswith("\n") else text
    return values


def _copy(source: Path, target: Path) -> None:
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.transpile-tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _copy_matching(patterns: tuple[str, ...], source: Path, target: Path, where: str) -> list[str]:
    """Copy the files of `source` matching any glob into `target` (same relative paths); each glob must match."""
    import glob

    copied = []
    for pattern in patterns:
        files = [m for m in sorted(glob.glob(pattern, root_dir=source, recursive=True)) if (source / m).is_file()]
        if not files:
            raise StepFailure(f"{where} matches '{pattern}'")
        for name in files:
            _copy(source / name, target / name)
            copied.append(name)
    return copied


def _catalog_get(step: Any, catalog: Path, workdir: Path) -> list[str]:
    patterns = step.catalog.get if step.catalog else ()
    return _copy_matching(patterns, catalog, workdir, "catalog.get: no file in the run's catalog")


def _catalog_put(step: Any, catalog: Path, workdir: Path) -> list[str]:
    patterns = step.catalog.put if step.catalog else ()
    return _copy_matching(patterns, workdir, catalog, "catalog.put: no file in the working directory")


class _Execution:
    def __init__(self, request: NodeRequest, loaded: Loaded):
        self.request = request
        self.loaded = loaded
        path = loaded.step_path(request.node)
        if path is None:
            raise NodeError(f"the pipeline has no node '{request.node}'")
        self.path = path
        self.step = loaded.index.steps[path].step
        self.display = "/".join("on_failure" if s == "@on_failure" else s for s in path)
        self.run = RunStore(request.store, request.run_id)
        try:
            self.parameters = parse_parameters(loaded.plan.parameters, request.parameters)
        except ParameterError as exc:
            raise NodeError(str(exc)) from None
        self.reader = ValueReader(loaded.index, self.run, self.parameters)
        maps = loaded.index.enclosing_maps(path)
        if len(request.indices) != len(maps):
            raise NodeError(f"node '{request.node}' is inside {len(maps)} map(s) but got indices {request.indices}")
        self.key = self.reader.instance_key(path, request.indices)

    def ensure_run_record(self) -> None:
        if (self.run.run_dir / "run.json").is_file():
            return
        self.run.create_run(
            {
                "run_id": self.request.run_id,
                "pipeline": self.loaded.plan.name,
                "pipeline_file": self.request.pipeline,
                "hash": self.loaded.hash,
                "parameters": self.parameters,
                "created": now(),
            }
        )

    def run_task(self, attempt_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
        """Run the step's body; returns the result to publish."""
        step, workdir = self.step, Path.cwd()
        indices = self.request.indices
        os.environ.update(
            TRANSPILE_RUN_ID=self.request.run_id,
            TRANSPILE_NODE=self.request.node,
            TRANSPILE_ATTEMPT=str(record["attempt"]),
            TRANSPILE_CATALOG=str(self.run.catalog),
        )
        if step.catalog:
            record["catalog_get"] = _catalog_get(step, self.run.catalog, workdir)
        if step.python is not None:
            for extra in (str(workdir), str(Path(self.request.pipeline).resolve().parent)):
                if extra not in sys.path:
                    sys.path.insert(0, extra)
            try:
                function = _import_callable(step.python)
            except (ImportError, AttributeError) as exc:
                raise StepFailure(f"cannot import {step.python}: {type(exc).__name__}: {exc}") from None
            kwargs = _bind(function, self.reader, self.path, indices)
            record["inputs"] = {k: v for k, v in kwargs.items()}
            try:
                value = function(**kwargs)
            except Exception as exc:
                traceback.print_exc()
                raise StepFailure(f"{type(exc).__name__}: {exc}") from None
            returns = _unpack_returns(step, value)
        elif step.shell is not None:
            values = self.reader.visible_values(self.path, indices)
            record["inputs"] = values
            returns_dir = attempt_dir / "returns"
            returns_dir.mkdir(exist_ok=True)
            env = {**os.environ, **{k: _env_value(v) for k, v in values.items()}}
            env["TRANSPILE_RETURNS"] = str(returns_dir)
            import subprocess

            completed = subprocess.run(["bash", "-c", step.shell], env=env, cwd=workdir)
            record["exit_code"] = completed.returncode
            if completed.returncode != 0:
                raise StepFailure(f"the shell command exited with code {completed.returncode}")
            returns = _shell_returns(step, returns_dir)
        else:
            returns = {}
        if step.catalog:
            record["catalog_put"] = _catalog_put(step, self.run.catalog, workdir)
        record["returns"] = returns
        return {"returns": returns}

    def run_control(self, record: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Fan-out of a map or routing of a switch: (result, control value)."""
        step = self.step
        if step.map is not None:
            items = self.reader.value(step.map.over, self.path, self.request.indices)
            if not isinstance(items, list):
                raise StepFailure(f"map.over '{step.map.over}' is a {type(items).__name__}, not a list")
            for i, item in enumerate(items):
                self.run.write_item(self.key, i, item)
            record["count"] = len(items)
            return {"returns": {}, "count": len(items)}, len(items)
        value = self.reader.value(step.switch.on, self.path, self.request.indices)
        text = encode(value)
        for case in step.switch.cases:
            if case == text:
                record["case"] = case
                return {"returns": {}, "case": case, "key": step_key(case)}, step_key(case)
        cases = ", ".join(repr(c) for c in step.switch.cases)
        raise StepFailure(f"switch.on '{step.switch.on}' is {text!r}, which matches no case ({cases})")

    def write_control(self, value: Any) -> None:
        """Write the control value where the engine reads it.

        For a map, `--control-out` (Argo) gets the JSON array of item indices, which Argo appends to the
        enclosing indices itself; `--xcom` and `--print-control` get the items' full instance indices
        (`["2.0", "2.1"]`), ready for Airflow's and Prefect's fan-out. For a switch, all get the case's key.
        """
        if isinstance(value, int):  # a map's item count
            local = _json(list(range(value)))
            prefix = ".".join(str(i) for i in self.request.indices)
            full = _json([f"{prefix}.{i}" if prefix else str(i) for i in range(value)])
        else:
            local = full = value
        if self.request.control_out is not None:
            self.request.control_out.parent.mkdir(parents=True, exist_ok=True)
            self.request.control_out.write_text(local, encoding="utf-8")
        if self.request.xcom_out is not None:
            self.request.xcom_out.parent.mkdir(parents=True, exist_ok=True)
            xcom = full if isinstance(value, int) else _json(value)
            self.request.xcom_out.write_text(xcom, encoding="utf-8")
        if self.request.print_control:
            print(full, flush=True)

    def unchosen_case(self) -> str | None:
        """If this node sits in a switch case that was not chosen for this instance, say which switch."""
        index = self.loaded.index
        path = self.path
        while True:
            block = index.steps[path].block
            owner = index.block_owner.get(block)
            if owner is None:
                return None
            step = index.steps[owner].step
            if step.switch is not None:
                maps = len(index.enclosing_maps(owner))
                route = self.run.result(self.reader.instance_key(owner, self.request.indices[:maps]))
                if route is None:
                    raise NodeError(f"switch '{node_id(owner)}' has not chosen a case yet")
                if route["case"] != block[-1]:
                    return node_id(owner)
            path = owner

    def execute(self) -> NodeOutcome:
        self.ensure_run_record()
        skipped_by = self.unchosen_case()
        attempt, attempt_dir = self.run.claim_attempt(self.key)
        record: dict[str, Any] = {
            "node": self.request.node,
            "step": self.display,
            "key": self.key,
            "indices": list(self.request.indices),
            "attempt": attempt,
            "kind": self.step.kind,
            "status": "running",
            "started": now(),
            "host": os.uname().nodename,
            "pid": os.getpid(),
            "logs": {"stdout": f"{attempt_dir.name}/stdout.log", "stderr": f"{attempt_dir.name}/stderr.log"},
        }
        if skipped_by is not None:
            record.update(status="skipped", ended=record["started"], duration=0.0)
            record["note"] = f"switch '{skipped_by}' chose another case"
            self.run.write_attempt(attempt_dir, record)
            return NodeOutcome(self.key, attempt, "skipped")
        self.run.write_attempt(attempt_dir, record)
        control = None
        try:
            with capture(attempt_dir / "stdout.log", attempt_dir / "stderr.log", self.request.echo):
                if self.step.is_task:
                    result = self.run_task(attempt_dir, record)
                elif self.step.map is not None or self.step.switch is not None:
                    result, control = self.run_control(record)
                else:
                    raise NodeError(f"node '{self.request.node}' is a {self.step.kind}, which has no node to run")
        except (StepFailure, NotAvailable) as exc:
            return self.finish(attempt_dir, record, "failed", str(exc))
        except NodeError:
            raise
        except Exception as exc:  # a store or runtime problem: recorded, never lost
            return self.finish(attempt_dir, record, "failed", f"{type(exc).__name__}: {exc}")
        result["attempt"] = attempt
        if not self.run.publish_result(self.key, result):
            record["note"] = "an earlier attempt had already published this node's result"
        if control is not None:
            self.write_control(control)
        outcome = self.finish(attempt_dir, record, "succeeded", None)
        outcome.control = control
        return outcome

    def finish(self, attempt_dir: Path, record: dict[str, Any], status: str, error: str | None) -> NodeOutcome:
        record.update(status=status, ended=now())
        record["duration"] = round(record["ended"] - record["started"], 3)
        if error is not None:
            record["error"] = error
        self.run.write_attempt(attempt_dir, record)
        code = EXIT_OK if status == "succeeded" else EXIT_FAILED
        return NodeOutcome(self.key, record["attempt"], status, error, exit_code=code)


def execute_node(request: NodeRequest, loaded: Loaded | None = None) -> NodeOutcome:
    """Run one node instance and record it; raises NodeError or HashMismatch when it cannot run."""
    if loaded is None:
        loaded = load_pipeline(request.pipeline, request.store)
    if request.expected_hash and loaded.hash != request.expected_hash:
        raise HashMismatch(
            f"{request.pipeline} compiles to hash {loaded.hash[:12]}…, but this spec was compiled from "
            f"{request.expected_hash[:12]}…: the image holds a different pipeline than the one compiled; "
            "rebuild the image or recompile the spec"
        )
    return _Execution(request, loaded).execute()
