"""Python frontend: a small builder SDK that produces the same pipeline data as the YAML form.

    from transpile import Flow

    flow = Flow("etl-daily", parameters={"shards": ["a", "b"]}, defaults={"image": "etl:1.4"})
    extract = flow.python("extract", "etl.steps:extract", returns=["rows", "shards"])
    clean = flow.map("clean", over="shards", as_="shard", needs=[extract])
    clean.python("load", "etl.steps:load", returns=["n"])

Every call records the line that made it, so compile errors point into the Python file.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from transpile.errors import Diagnostic, Span, TranspileError
from transpile.ir.source import DocPath, SourceMap

Need = "str | StepRef"


def _caller_span() -> Span:
    """The first frame outside this module: where the user called the builder."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:
        return Span("<python>")
    col = 1
    try:
        positions = list(frame.f_code.co_positions())
        index = frame.f_lasti // 2
        if 0 <= index < len(positions) and positions[index][2] is not None:
            col = positions[index][2] + 1
    except (AttributeError, IndexError):
        pass
    return Span(frame.f_code.co_filename, frame.f_lineno, col)


class StepRef:
    """A handle on a declared step; pass it in another step's `needs`."""

    def __init__(self, name: str, data: dict[str, Any]):
        self.name = name
        self.data = data

    def __repr__(self) -> str:
        return f"<step {self.name}>"


def _python_ref(target: str | Callable[..., Any]) -> str:
    if isinstance(target, str):
        return target
    return f"{target.__module__}:{target.__qualname__}"


class Steps:
    """An ordered block of steps; the top-level Flow, map bodies, branches and cases are all Steps."""

    def __init__(self, doc_path: DocPath, sources: dict[DocPath, Span]):
        self._doc_path = doc_path
        self._sources = sources
        self._steps: dict[str, Any] = {}

    def _add(self, name: str, body: dict[str, Any], needs: Iterable[Any] | None, settings: dict[str, Any]) -> dict:
        data: dict[str, Any] = {}
        if needs:
            data["needs"] = [n.name if isinstance(n, StepRef) else n for n in needs]
        data.update(body)
        data.update({k: v for k, v in settings.items() if v is not None})
        if name in self._steps:
            self._sources[self._doc_path + ("@duplicate", name)] = _caller_span()
        self._steps[name] = data
        self._sources[self._doc_path + (name,)] = _caller_span()
        return data

    def python(self, name: str, target: str | Callable[..., Any], *, needs=None, returns=None, **settings) -> StepRef:
        """A step calling `module:function` (or the function itself) with arguments bound by name."""
        body: dict[str, Any] = {"python": _python_ref(target)}
        if returns:
            body["returns"] = list(returns)
        return StepRef(name, self._add(name, body, needs, settings))

    def shell(self, name: str, command: str, *, needs=None, returns=None, **settings) -> StepRef:
        """A step running `command` with bash; parameters arrive as environment variables."""
        body: dict[str, Any] = {"shell": command}
        if returns:
            body["returns"] = list(returns)
        return StepRef(name, self._add(name, body, needs, settings))

    def stub(self, name: str, *, needs=None) -> StepRef:
        """A placeholder step that does nothing."""
        return StepRef(name, self._add(name, {"stub": True}, needs, {}))

    def map(self, name: str, *, over: str, as_: str, needs=None) -> MapRef:
        """A runtime fan-out: add steps to the returned block; they run once per item of `over`."""
        ref = MapRef(name, self._doc_path + (name, "map", "steps"), self._sources)
        data = self._add(name, {"map": {"over": over, "as": as_, "steps": ref._steps}}, needs, {})
        ref.data = data
        return ref

    def parallel(self, name: str, *, needs=None) -> ParallelRef:
        """Static branches: call `.branch(name)` on the result for each branch."""
        ref = ParallelRef(name, self._doc_path + (name, "parallel"), self._sources)
        ref.data = self._add(name, {"parallel": ref._branches}, needs, {})
        return ref

    def switch(self, name: str, *, on: str, needs=None) -> SwitchRef:
        """Exactly one case runs, chosen by the value of `on`: call `.case(value)` for each case."""
        ref = SwitchRef(name, self._doc_path + (name, "switch", "cases"), self._sources)
        ref.data = self._add(name, {"switch": {"on": on, "cases": ref._cases}}, needs, {})
        return ref


class MapRef(Steps, StepRef):
    """A map step; its steps form the body."""

    def __init__(self, name: str, doc_path: DocPath, sources: dict[DocPath, Span]):
        Steps.__init__(self, doc_path, sources)
        StepRef.__init__(self, name, {})


class ParallelRef(StepRef):
    """A parallel step; each branch is a block of steps."""

    def __init__(self, name: str, doc_path: DocPath, sources: dict[DocPath, Span]):
        super().__init__(name, {})
        self._doc_path = doc_path
        self._sources = sources
        self._branches: dict[str, Any] = {}

    def branch(self, name: str) -> Steps:
        block = Steps(self._doc_path + (name, "steps"), self._sources)
        self._branches[name] = {"steps": block._steps}
        self._sources[self._doc_path + (name,)] = _caller_span()
        return block


class SwitchRef(StepRef):
    """A switch step; each case is a block of steps."""

    def __init__(self, name: str, doc_path: DocPath, sources: dict[DocPath, Span]):
        super().__init__(name, {})
        self._doc_path = doc_path
        self._sources = sources
        self._cases: dict[str, Any] = {}

    def case(self, value: str) -> Steps:
        block = Steps(self._doc_path + (value, "steps"), self._sources)
        self._cases[value] = {"steps": block._steps}
        self._sources[self._doc_path + (value,)] = _caller_span()
        return block


class Flow(Steps):
    """A pipeline built in Python. `flow.to_data()` gives the same data as the YAML form."""

    def __init__(
        self,
        name: str,
        *,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        defaults: dict[str, Any] | None = None,
    ):
        self._root_sources: dict[DocPath, Span] = {(): _caller_span()}
        super().__init__(("steps",), self._root_sources)
        self.name = name
        self.description = description
        self.parameters = dict(parameters or {})
        self.defaults = dict(defaults or {})
        self._on_failure: Steps | None = None

    @property
    def on_failure(self) -> Steps:
        """The block that runs when the pipeline fails."""
        if self._on_failure is None:
            self._on_failure = Steps(("on_failure", "steps"), self._root_sources)
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
        return data

    def source_map(self, file: str) -> SourceMap:
        source = SourceMap(file)
        for path, span in self._root_sources.items():
            if path and path[-2:-1] == ("@duplicate",):
                continue
            source.values[path] = span
            source.keys[path] = span
        return source

    def duplicates(self) -> list[Diagnostic]:
        return [
            Diagnostic(f"step '{path[-1]}' is declared twice in the same block", span, step=str(path[-1]))
            for path, span in self._root_sources.items()
            if path[-2:-1] == ("@duplicate",)
        ]


def _user_error(exc: BaseException, file: str) -> Diagnostic:
    """An exception raised by the user's pipeline module, located at its deepest frame in that file."""
    span = Span(file)
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == Path(file).resolve():
            span = Span(file, frame.lineno or 0, (frame.colno or 0) + 1)
    return Diagnostic(f"importing the pipeline module failed: {type(exc).__name__}: {exc}", span)


def load_flow(reference: str) -> tuple[Flow, str]:
    """Import `file.py` (or `file.py:attribute`) and return its Flow and the file path."""
    file, _, attribute = reference.partition(".py:")
    file = file + ".py" if attribute or not file.endswith(".py") else file
    path = Path(file)
    if not path.is_file():
        raise TranspileError([Diagnostic(f"no such file: {file}", Span(file))])
    module_name = "_transpile_pipeline_" + path.stem.replace("-", "_")
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
    except Exception as exc:  # the user's module: report, never a traceback
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
