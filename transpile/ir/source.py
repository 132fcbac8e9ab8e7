"""Where each part of a pipeline came from: document paths mapped to spans in the user's file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from transpile.errors import Span
from transpile.ir.graph import ON_FAILURE, Path
from transpile.ir.models import Pipeline, Step

DocPath = tuple[str | int, ...]
# A Span, or (line, column, width) in the map's file: the YAML reader stores tuples for speed.
Position = Span | tuple[int, int, int]


@dataclass
class SourceMap:
    """Spans of values and of mapping keys, by their path in the document."""

    file: str
    values: dict[DocPath, Position] = field(default_factory=dict)
    keys: dict[DocPath, Position] = field(default_factory=dict)
    lazy: Callable[[], SourceMap] | None = None  # computes the spans on first use (only errors need them)

    def _make(self, position: Position) -> Span:
        return position if isinstance(position, Span) else Span(self.file, *position)

    def span(self, path: DocPath, key: bool = False) -> Span:
        """The span at `path` (of the key itself when `key`), or of the nearest enclosing node."""
        if self.lazy is not None:
            full, self.lazy = self.lazy(), None
            self.values, self.keys = full.values, full.keys
        table = self.keys if key else self.values
        if path in table:
            return self._make(table[path])
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            if prefix in self.keys:
                return self._make(self.keys[prefix])
            if prefix in self.values:
                return self._make(self.values[prefix])
        return Span(self.file)


def step_doc_path(pipeline: Pipeline, path: Path) -> DocPath:
    """The document path of the step at `path` (e.g. steps.train.parallel.xgb.steps.fit)."""
    if path and path[0] == ON_FAILURE:
        doc: list[str | int] = ["on_failure", "steps"]
        steps = pipeline.on_failure.steps if pipeline.on_failure else {}
        rest = path[1:]
    else:
        doc = ["steps"]
        steps = pipeline.steps
        rest = path
    i = 0
    while i < len(rest):
        name = rest[i]
        doc.append(name)
        step: Step | None = steps.get(name)
        i += 1
        if i >= len(rest) or step is None:
            break
        if step.map is not None:
            doc += ["map", "steps"]
            steps = step.map.steps
        elif step.parallel is not None:
            branch = rest[i]
            doc += ["parallel", branch, "steps"]
            steps = step.parallel[branch].steps if branch in step.parallel else {}
            i += 1
        elif step.switch is not None:
            case = rest[i]
            doc += ["switch", "cases", case, "steps"]
            steps = step.switch.cases[case].steps if case in step.switch.cases else {}
            i += 1
        else:
            break
    return tuple(doc)
