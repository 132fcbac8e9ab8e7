"""Python frontend: a small builder SDK that produces the same pipeline data as the YAML form.

    from transpile import Flow

    flow = Flow("etl-daily", parameters={"shards": ["a", "b"]}, defaults={"image": "etl:1.4"})
    extract = flow.python("extract", "etl.steps:extract", returns=["rows", "shards"])
    clean = flow.map("clean", over="shards", as_="shard", needs=extract)
    clean.python("load", "etl.steps:load", returns="n")

Every call records the line that made it, so compile errors point into the Python file. What the YAML
form could not express is refused there too: values that are not JSON, functions a pod cannot import.
A single string where a list of names is expected (`returns`, `needs`, `catalog` globs) is one name.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeAlias

from transpile.errors import Diagnostic, Span, TranspileError, did_you_mean
from transpile.frontends.plain import Problem, plain_json
from transpile.ir.source import DocPath, SourceMap

if TYPE_CHECKING:
    from transpile.results import Run

_MODULE_PREFIX = "_transpile_pipeline_"
SETTINGS: tuple[str, ...] = ("image", "retries", "timeout", "resources", "env", "secrets", "node_selector")
SETTINGS += ("tolerations", "service_account", "pod", "catalog")


def _caller_frame() -> FrameType | None:
    """The first frame outside this module: where the user called the builder."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame


def _caller_span() -> Span:
    frame = _caller_frame()
    if frame is None:
        return Span("<python>")
    col = 1
    try:
        positions = list(frame.f_code.co_positions())
        index = frame.f_lasti // 2
        if 0 <= index < len(positions) and positions[index][2] is not None:
            col = (positions[index][2] or 0) + 1
    except (AttributeError, IndexError):
        pass
    return Span(frame.f_code.co_filename, frame.f_lineno, col)


class _Record:
    """What every block of one Flow shares: the source spans by document path, and the problems found."""

    def __init__(self) -> None:
        self.sources: dict[DocPath, Span] = {}
        self.problems: list[Diagnostic] = []

    def problem(self, message: str, step: str | None = None, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(message, _caller_span(), step=step, hint=hint))


def _plain(value: Any, where: str, record: _Record, step: str | None = None) -> Any:
    """`value` as plain JSON data; what is not JSON is a problem located at the caller's line."""
    problems: list[Problem] = []
    data = plain_json(value, where, problems)
    for message, hint in problems:
        record.problem(message, step, hint)
    return data


def _names(value: Any) -> list[Any]:
    """A list of names; a single string is one name (not its characters)."""
    if value is None:
        return []
    if isinstance(value, (str, StepRef)):
        value = [value]
    return [n.name if isinstance(n, StepRef) else n for n in value]


class StepRef:
    """A handle on a declared step; pass it in another step's `needs`."""

    def __init__(self, name: str, data: dict[str, Any]):
        self.name = name
        self.data = data

    def __repr__(self) -> str:
        return f"<step {self.name}>"


Need: TypeAlias = "StepRef | str"
Needs: TypeAlias = "StepRef | str | Sequence[StepRef | str] | None"
Names: TypeAlias = "str | Sequence[str] | None"


def _python_ref(target: str | Callable[..., Any], record: _Record, step: str) -> str:
    """`module:qualname` of a step function; a function a pod cannot import is a located problem."""
    if isinstance(target, str):
        return target
    module = str(getattr(target, "__module__", None) or "?")
    qualname = str(getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target)))
    reference = f"{module}:{qualname}"
    if "<locals>" in qualname or "<lambda>" in qualname:
        record.problem(
            f"'{qualname}' is a nested function or a lambda, which pods cannot import",
            step,
            "define the function at the top level of an importable module",
        )
    elif module.startswith(_MODULE_PREFIX):
        record.problem(
            f"function '{qualname}' is defined in the pipeline file itself; pods import step functions by module "
            "and cannot import the pipeline file as one",
            step,
            "move the function into an importable module (e.g. steps.py beside the pipeline) and import it from there",
        )
    elif module == "__main__":
        record.problem(
            f"function '{qualname}' is defined in the script being run (__main__), which pods cannot import",
            step,
            "move the function into an importable module and import it from there",
        )
    return reference


class Steps:
    """An ordered block of steps; the top-level Flow, map bodies, branches and cases are all Steps."""

    def __init__(self, doc_path: DocPath, record: _Record):
        self._doc_path = doc_path
        self._record = record
        self._steps: dict[str, Any] = {}

    def _add(self, name: str, body: dict[str, Any], needs: Needs) -> dict[str, Any]:
        data: dict[str, Any] = {}
        wanted = _names(needs)
        if wanted:
            data["needs"] = wanted
        data.update(body)
        sources = self._record.sources
        if name in self._steps:
            self._record.problem(f"step '{name}' is declared twice in the same block", step=str(name))
        self._steps[name] = data
        sources[self._doc_path + (name,)] = _caller_span()
        return data

    def _task(self, name: str, body: dict[str, Any], needs: Needs, returns: Names, settings: dict[str, Any]) -> StepRef:
        names = _names(returns)
        if names:
            body["returns"] = names
        for key, value in settings.items():
            if value is None:
                continue
            if key == "catalog" and isinstance(value, Mapping):
                value = {k: _names(v) if isinstance(v, str) else v for k, v in value.items()}
            body[key] = _plain(value, key, self._record, name)
        return StepRef(name, self._add(name, body, needs))

    def python(
        self,
        name: str,
        target: str | Callable[..., Any],
        *,
        needs: Needs = None,
        returns: Names = None,
        image: str | None = None,
        retries: int | Mapping[str, Any] | None = None,
        timeout: int | str | None = None,
        resources: Mapping[str, str | int | float] | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[Mapping[str, str]] | None = None,
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
        service_account: str | None = None,
        pod: Mapping[str, Any] | None = None,
        catalog: Mapping[str, str | Sequence[str]] | None = None,
    ) -> StepRef:
        """A step calling `module:function` (or the function itself) with arguments bound by name.

        `returns` names the return value (one name) or the items of the returned tuple (several).
        """
        body: dict[str, Any] = {"python": _python_ref(target, self._record, name)}
        settings: dict[str, Any] = dict(image=image, retries=retries, timeout=timeout, resources=resources, env=env)
        settings.update(secrets=secrets, node_selector=node_selector, tolerations=tolerations, catalog=catalog)
        settings.update(service_account=service_account, pod=pod)
        return self._task(name, body, needs, returns, settings)

    def shell(
        self,
        name: str,
        command: str,
        *,
        needs: Needs = None,
        returns: Names = None,
        image: str | None = None,
        retries: int | Mapping[str, Any] | None = None,
        timeout: int | str | None = None,
        resources: Mapping[str, str | int | float] | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[Mapping[str, str]] | None = None,
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
        service_account: str | None = None,
        pod: Mapping[str, Any] | None = None,
        catalog: Mapping[str, str | Sequence[str]] | None = None,
    ) -> StepRef:
        """A step running `command` with bash; values arrive as environment variables, and each name in
        `returns` is read from the file `$TRANSPILE_RETURNS/<name>`."""
        settings: dict[str, Any] = dict(image=image, retries=retries, timeout=timeout, resources=resources, env=env)
        settings.update(secrets=secrets, node_selector=node_selector, tolerations=tolerations, catalog=catalog)
        settings.update(service_account=service_account, pod=pod)
        return self._task(name, {"shell": command}, needs, returns, settings)

    def stub(self, name: str, *, needs: Needs = None) -> StepRef:
        """A placeholder step that does nothing."""
        return StepRef(name, self._add(name, {"stub": True}, needs))

    def map(self, name: str, *, over: str, as_: str, needs: Needs = None) -> MapRef:
        """A runtime fan-out: add steps to the returned block; they run once per item of `over`."""
        ref = MapRef(name, self._doc_path + (name, "map", "steps"), self._record)
        ref.data = self._add(name, {"map": {"over": over, "as": as_, "steps": ref._steps}}, needs)
        return ref

    def parallel(self, name: str, *, needs: Needs = None) -> ParallelRef:
        """Static branches: call `.branch(name)` on the result for each branch."""
        ref = ParallelRef(name, self._doc_path + (name, "parallel"), self._record)
        ref.data = self._add(name, {"parallel": ref._branches}, needs)
        return ref

    def switch(self, name: str, *, on: str, needs: Needs = None) -> SwitchRef:
        """Exactly one case runs, chosen by the value of `on`: call `.case(value)` for each case."""
        ref = SwitchRef(name, self._doc_path + (name, "switch", "cases"), self._record)
        ref.data = self._add(name, {"switch": {"on": on, "cases": ref._cases}}, needs)
        return ref


class MapRef(Steps, StepRef):
    """A map step; its steps form the body."""

    def __init__(self, name: str, doc_path: DocPath, record: _Record):
        Steps.__init__(self, doc_path, record)
        StepRef.__init__(self, name, {})


class ParallelRef(StepRef):
    """A parallel step; each branch is a block of steps."""

    def __init__(self, name: str, doc_path: DocPath, record: _Record):
        super().__init__(name, {})
        self._doc_path = doc_path
        self._record = record
        self._branches: dict[str, Any] = {}

    def branch(self, name: str) -> Steps:
        block = Steps(self._doc_path + (name, "steps"), self._record)
        self._branches[name] = {"steps": block._steps}
        self._record.sources[self._doc_path + (name,)] = _caller_span()
        return block


class SwitchRef(StepRef):
    """A switch step; each case is a block of steps."""

    def __init__(self, name: str, doc_path: DocPath, record: _Record):
        super().__init__(name, {})
        self._doc_path = doc_path
        self._record = record
        self._cases: dict[str, Any] = {}

    def case(self, value: str) -> Steps:
        block = Steps(self._doc_path + (value, "steps"), self._record)
        self._cases[value] = {"steps": block._steps}
        self._record.sources[self._doc_path + (value,)] = _caller_span()
        return block


class Flow(Steps):
    """A pipeline built in Python. `flow.to_data()` gives the same data as the YAML form."""

    def __init__(
        self,
        name: str,
        *,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        schedule: str | Mapping[str, Any] | None = None,
    ):
        record = _Record()
        span = _caller_span()
        record.sources[()] = span
        super().__init__(("steps",), record)
        self.name = name
        self.description = description
        self.parameters: dict[str, Any] = _plain(dict(parameters or {}), "parameters", record)
        self.defaults: dict[str, Any] = _plain(dict(defaults or {}), "defaults", record)
        self.schedule = _plain(schedule, "schedule", record)
        self.file = span.file
        frame = _caller_frame()
        self._module_globals: dict[str, Any] | None = frame.f_globals if frame is not None else None
        self._on_failure: Steps | None = None

    @property
    def on_failure(self) -> Steps:
        """The block that runs when the pipeline fails."""
        if self._on_failure is None:
            self._on_failure = Steps(("on_failure", "steps"), self._record)
        return self._on_failure

    def to_data(self) -> dict[str, Any]:
        """The pipeline as plain data, in the YAML format's key order."""
        data: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            data["description"] = self.description
        if self.parameters:
            data["parameters"] = self.parameters
        if self.defaults:
            data["defaults"] = self.defaults
        data["steps"] = self._steps
        if self._on_failure is not None and self._on_failure._steps:
            data["on_failure"] = {"steps": self._on_failure._steps}
        if self.schedule is not None:
            data["schedule"] = self.schedule
        return data

    def source_map(self, file: str) -> SourceMap:
        source = SourceMap(file)
        for path, span in self._record.sources.items():
            source.values[path] = span
            source.keys[path] = span
        return source

    def problems(self) -> list[Diagnostic]:
        """What the builder refused, each at the line that made it: steps declared twice, values that are not
        JSON, step functions a pod cannot import."""
        return list(self._record.problems)

    duplicates = problems  # the name the compiler calls

    def reference(self) -> str:
        """How a pod loads this Flow: its file, or `file.py:attribute` when that file defines several Flows."""
        module = self._module_globals or {}
        flows = [name for name, value in module.items() if isinstance(value, Flow) and not name.startswith("_")]
        mine = [name for name in flows if module[name] is self]
        return f"{self.file}:{mine[0]}" if mine and len(flows) > 1 else self.file

    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        store: str | Path | None = None,
        parallelism: int | None = None,
        run_id: str | None = None,
        resume: str | None = None,
        progress: bool = False,
    ) -> Run:
        """Run this pipeline on this machine, as `transpile.run(flow, ...)` does."""
        from transpile.api import run

        return run(
            self, parameters, store=store, parallelism=parallelism, run_id=run_id, resume=resume, progress=progress
        )

    def compile(self, target: str = "argo", config: str | Path | None = None) -> dict[str, str]:
        """The files a target generates for this pipeline, as `transpile.compile(flow, ...)` gives them."""
        from transpile.api import compile

        return compile(self, target, config)


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    """A did-you-mean hint, preferring the longest shared prefix (`retry` -> `retries`, not `returns`)."""
    prefix = max(choices, key=lambda c: len(os.path.commonprefix([c, word])))
    if len(os.path.commonprefix([prefix, word])) >= 3:
        return f"did you mean '{prefix}'?"
    return did_you_mean(word, choices)


def _user_error(exc: BaseException, file: str) -> Diagnostic:
    """An exception raised by the user's pipeline module, located at its deepest frame in that file."""
    span = Span(file)
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == Path(file).resolve():
            span = Span(file, frame.lineno or 0, (getattr(frame, "colno", None) or 0) + 1)
    if isinstance(exc, SystemExit):
        return Diagnostic(
            f"the pipeline file called sys.exit({exc.code!r}) while being imported",
            span,
            hint='a pipeline file only defines a Flow; put script code under `if __name__ == "__main__":`',
        )
    hint = None
    unexpected = _UNEXPECTED.search(str(exc)) if isinstance(exc, TypeError) else None
    if unexpected:
        hint = _suggest(unexpected.group(1), SETTINGS + ("needs", "returns", "description", "parameters", "schedule"))
    return Diagnostic(f"importing the pipeline module failed: {type(exc).__name__}: {exc}", span, hint=hint)


def load_flow(reference: str) -> tuple[Flow, str]:
    """Import `file.py` (or `file.py:attribute`) and return its Flow and the file path."""
    file, _, attribute = reference.partition(".py:")
    file = file + ".py" if attribute or not file.endswith(".py") else file
    path = Path(file)
    if not path.is_file():
        raise TranspileError([Diagnostic(f"no such file: {file}", Span(file))])
    module_name = _MODULE_PREFIX + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TranspileError([Diagnostic("cannot import this file as Python", Span(file))])
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        span = Span(file, exc.lineno or 0, exc.offset or 0)
        raise TranspileError([Diagnostic(f"invalid Python: {exc.msg}", span)]) from None
    except (Exception, SystemExit) as exc:  # the user's module: report, never a traceback, never exit
        raise TranspileError([_user_error(exc, file)]) from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
    if attribute:
        flow = getattr(module, attribute, None)
        if not isinstance(flow, Flow):
            raise TranspileError([Diagnostic(f"'{attribute}' in {file} is not a transpile Flow", Span(file))])
        return flow, file
    flows = [value for value in vars(module).values() if isinstance(value, Flow)]
    if len(flows) != 1:
        found = "no Flow" if not flows else f"{len(flows)} Flows"
        raise TranspileError([Diagnostic(f"{file} defines {found}; name one as {file}:ATTRIBUTE", Span(file))])
    return flows[0], file
