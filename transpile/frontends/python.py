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

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeAlias

from transpile.errors import Diagnostic, Span
from transpile.frontends import sdk_checks
from transpile.frontends.plain import Problem, plain_json
from transpile.frontends.sdk_checks import names as _checked_names
from transpile.frontends.sdk_checks import python_ref
from transpile.ir.source import DocPath, SourceMap

if TYPE_CHECKING:
    from transpile.results import Run

SETTINGS: tuple[str, ...] = ("image", "retries", "timeout", "resources", "env", "secrets", "node_selector")
SETTINGS += ("tolerations", "service_account", "pod", "catalog", "cache")


_SDK_FILES = frozenset([__file__, sdk_checks.__file__])  # frames of the builder itself, never the user's line


def _caller_frame() -> FrameType | None:
    """The first frame outside this module: where the user called the builder."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in _SDK_FILES:
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
        self.tainted: list[DocPath] = []  # steps with problems here: later stages do not repeat them

    def problem(self, message: str, step: str | None = None, hint: str | None = None, doc: DocPath = ()) -> None:
        self.problems.append(Diagnostic(message, _caller_span(), step=step, hint=hint))
        if doc:
            self.tainted.append(doc)

    def unknown_keywords(
        self, unknown: Mapping[str, Any], allowed: Sequence[str], step: str | None, doc: DocPath
    ) -> None:
        """A keyword argument the call does not take, with a suggestion (`retry=` -> `retries`)."""
        from transpile.frontends.python_loader import suggest

        for word in unknown:
            self.problem(f"unexpected keyword argument '{word}'", step, suggest(word, allowed), doc)


def _plain(value: Any, where: str, record: _Record, step: str | None = None, doc: DocPath = ()) -> Any:
    """`value` as plain JSON data; what is not JSON is a problem located at the caller's line."""
    problems: list[Problem] = []
    data = plain_json(value, where, problems)
    for message, hint in problems:
        record.problem(message, step, hint, doc)
    return data


def _names(value: Any, what: str, record: _Record, step: str | None, doc: DocPath) -> list[str]:
    """A list of names (`needs` also takes step handles, by their names); anything else is a problem."""
    return _checked_names(value, what, StepRef, lambda message, hint: record.problem(message, step, hint, doc))


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


# The keyword arguments of each builder call, by the kind of step it adds (for did-you-mean hints).
_KEYWORDS = {
    "python": (*SETTINGS, "needs", "returns"),
    "shell": (*SETTINGS, "needs", "returns"),
    "stub": ("needs",),
    "map": ("over", "as_", "batch", "needs"),
    "parallel": ("needs",),
    "switch": ("on", "needs"),
}


class Steps:
    """An ordered block of steps; the top-level Flow, map bodies, branches and cases are all Steps."""

    def __init__(self, doc_path: DocPath, record: _Record):
        self._doc_path = doc_path
        self._record = record
        self._steps: dict[str, Any] = {}

    def _add(self, name: str, body: dict[str, Any], needs: Needs, unknown: Mapping[str, Any] = {}) -> dict[str, Any]:
        doc = self._doc_path + (name,)
        allowed = _KEYWORDS.get(next(iter(body), ""), ("needs",))
        self._record.unknown_keywords(unknown, allowed, str(name), doc)
        data: dict[str, Any] = {}
        wanted = _names(needs, "needs", self._record, str(name), doc)
        if wanted:
            data["needs"] = wanted
        data.update(body)
        sources = self._record.sources
        if name in self._steps:
            self._record.problem(f"step '{name}' is declared twice in the same block", step=str(name))
        self._steps[name] = data
        sources[self._doc_path + (name,)] = _caller_span()
        return data

    def _task(
        self,
        name: str,
        body: dict[str, Any],
        needs: Needs,
        returns: Names,
        settings: dict[str, Any],
        unknown: Mapping[str, Any],
    ) -> StepRef:
        doc = self._doc_path + (name,)
        names = _names(returns, "returns", self._record, str(name), doc)
        if names:
            body["returns"] = names
        for key, value in settings.items():
            if value is None:
                continue
            if key == "catalog" and isinstance(value, Mapping):
                value = {k: _names(v, "glob", self._record, str(name), doc) for k, v in value.items()}
            body[key] = _plain(value, key, self._record, name, doc)
        return StepRef(name, self._add(name, body, needs, unknown))

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
        cache: bool | Mapping[str, Any] | None = None,
        **unknown: Any,
    ) -> StepRef:
        """A step calling `module:function` (or the function itself) with arguments bound by name.

        `returns` names the return value (one name) or the items of the returned tuple (several).
        """
        doc = self._doc_path + (name,)
        reference = python_ref(target, lambda message, hint: self._record.problem(message, name, hint, doc))
        body: dict[str, Any] = {"python": reference}
        settings: dict[str, Any] = dict(image=image, retries=retries, timeout=timeout, resources=resources, env=env)
        settings.update(secrets=secrets, node_selector=node_selector, tolerations=tolerations, catalog=catalog)
        settings.update(service_account=service_account, pod=pod, cache=cache)
        return self._task(name, body, needs, returns, settings, unknown)

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
        cache: bool | Mapping[str, Any] | None = None,
        **unknown: Any,
    ) -> StepRef:
        """A step running `command` with bash; values arrive as environment variables, and each name in
        `returns` is read from the file `$TRANSPILE_RETURNS/<name>`."""
        settings: dict[str, Any] = dict(image=image, retries=retries, timeout=timeout, resources=resources, env=env)
        settings.update(secrets=secrets, node_selector=node_selector, tolerations=tolerations, catalog=catalog)
        settings.update(service_account=service_account, pod=pod, cache=cache)
        return self._task(name, {"shell": command}, needs, returns, settings, unknown)

    def stub(self, name: str, *, needs: Needs = None, **unknown: Any) -> StepRef:
        """A placeholder step that does nothing."""
        return StepRef(name, self._add(name, {"stub": True}, needs, unknown))

    def map(
        self, name: str, *, over: str, as_: str, batch: int | None = None, needs: Needs = None, **unknown: Any
    ) -> MapRef:
        """A runtime fan-out: add steps to the returned block; they run once per item of `over` (`batch`
        items per engine instance: see the `map.batch` setting)."""
        ref = MapRef(name, self._doc_path + (name, "map", "steps"), self._record)
        spec: dict[str, Any] = {"over": over, "as": as_, "steps": ref._steps}
        if batch is not None:
            spec["batch"] = batch
        ref.data = self._add(name, {"map": spec}, needs, unknown)
        return ref

    def parallel(self, name: str, *, needs: Needs = None, **unknown: Any) -> ParallelRef:
        """Static branches: call `.branch(name)` on the result for each branch."""
        ref = ParallelRef(name, self._doc_path + (name, "parallel"), self._record)
        ref.data = self._add(name, {"parallel": ref._branches}, needs, unknown)
        return ref

    def switch(self, name: str, *, on: str, needs: Needs = None, **unknown: Any) -> SwitchRef:
        """Exactly one case runs, chosen by the value of `on`: call `.case(value)` for each case."""
        ref = SwitchRef(name, self._doc_path + (name, "switch", "cases"), self._record)
        ref.data = self._add(name, {"switch": {"on": on, "cases": ref._cases}}, needs, unknown)
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
        **unknown: Any,
    ):
        record = _Record()
        span = _caller_span()
        record.sources[()] = span
        record.unknown_keywords(unknown, ("description", "parameters", "defaults", "schedule"), None, ())
        super().__init__(("steps",), record)
        self.span = span  # where the Flow was created
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

    def tainted_paths(self) -> list[DocPath]:
        """The document paths of the steps those problems are in (later stages do not repeat them)."""
        return list(self._record.tainted)

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
