"""Read the values a node instance sees from the run store: parameters, map items, upstream returns.

A return produced inside maps the reader is not in is collected over every item, in item order, into
(nested) lists; alternatives from switch cases are merged, taking whichever case ran for each item.
"""

from __future__ import annotations

from typing import Any

from transpile.ir.graph import Path
from transpile.ir.names import node_id
from transpile.ir.scope import Index, Source
from transpile.plan.params import decode_all
from transpile.runtime.store import RunStore, node_key


class NotAvailable(Exception):
    """A visible value whose producer has not (or not successfully) run."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def parse_parameters(declared: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """Parameter values for a run: `given` texts (from `-p name=value`) override the declared values,
    decoded by the one parameter decoder (`transpile.plan.params`)."""
    return decode_all(declared, given)


def _merge(a: Any, b: Any) -> Any:
    if a is MISSING:
        return b
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_merge(x, y) for x, y in zip(a, b, strict=True)]
    return a


def _complete(value: Any) -> bool:
    if value is MISSING:
        return False
    if isinstance(value, list):
        return all(_complete(v) for v in value)
    return True


class ValueReader:
    """Resolves names for node instances of one run."""

    def __init__(self, index: Index, run: RunStore, parameters: dict[str, Any]):
        self.index = index
        self.run = run
        self.parameters = parameters

    def instance_key(self, path: Path, indices: tuple[int, ...]) -> str:
        """Store key of the step at `path` for the given enclosing map indices."""
        maps = self.index.enclosing_maps(path)
        if len(indices) < len(maps):
            raise ValueError(f"node {node_id(path)} needs {len(maps)} map indices, got {len(indices)}")
        return node_key(node_id(path), [len(m) for m in maps], indices[: len(maps)])

    def resolve(self, source: Source, reader: Path, indices: tuple[int, ...]) -> Any:
        """The value of `source` as seen by the instance `indices` of the step at `reader`."""
        if source.kind == "param":
            return self.parameters[source.name]
        if source.kind == "item":
            map_path = source.producers[0]
            depth = len(self.index.enclosing_maps(map_path))
            key = self.instance_key(map_path, indices[:depth])
            return self.run.item(key, indices[depth])
        value: Any = MISSING
        reader_maps = self.index.enclosing_maps(reader)
        for producer in source.producers:
            value = _merge(value, self._gather(producer, source.name, reader_maps, indices))
            if _complete(value):
                return value
        raise NotAvailable(f"'{source.name}' is not available: the step producing it has not succeeded")

    def _gather(self, producer: Path, name: str, reader_maps: list[Path], indices: tuple[int, ...]) -> Any:
        maps = self.index.enclosing_maps(producer)
        shared = 0
        while shared < min(len(maps), len(reader_maps)) and maps[shared] == reader_maps[shared]:
            shared += 1

        def gather(level: int, prefix: tuple[int, ...]) -> Any:
            if level == len(maps):
                result = self.run.result(self.instance_key(producer, prefix))
                return MISSING if result is None else result.returns[name]
            fan_out = self.run.result(self.instance_key(maps[level], prefix))
            if fan_out is None:
                return MISSING
            return [gather(level + 1, prefix + (i,)) for i in range(fan_out.count or 0)]

        return gather(shared, tuple(indices[:shared]))

    def value(self, name: str, reader: Path, indices: tuple[int, ...]) -> Any:
        source = self.index.resolve(name, reader)
        if source is None:
            raise NotAvailable(f"'{name}' is not visible here")
        return self.resolve(source, reader, indices)

    def visible_values(self, reader: Path, indices: tuple[int, ...]) -> dict[str, Any]:
        """Every visible value that is available (alternatives not taken are left out)."""
        values = {}
        for name, source in self.index.visible(reader).items():
            try:
                values[name] = self.resolve(source, reader, indices)
            except (NotAvailable, FileNotFoundError):
                continue
        return values
