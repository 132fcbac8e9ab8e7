"""Which values a step can see, and where each comes from.

A step sees, nearest first: the returns of its upstream steps in its block (transitively through
`needs`), the map item if its block is a map body, then whatever its enclosing composite step sees,
and finally the pipeline parameters. A composite exports what its blocks' steps return: a map's
returns become lists, a parallel's branches merge, a switch's cases offer alternatives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from transpile.ir.graph import Located, Path, child_block_path, top_blocks, walk

if TYPE_CHECKING:
    from transpile.ir.models import Pipeline, Step


@dataclass(frozen=True)
class Source:
    """Where a visible name comes from: a pipeline parameter, a map item, or task returns."""

    kind: Literal["param", "item", "return"]
    name: str
    producers: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Conflict:
    """A return name produced twice where only one producer is allowed."""

    name: str
    producers: tuple[Path, ...]
    where: Path


@dataclass
class Index:
    """Lookup tables over a pipeline, built once."""

    pipeline: Pipeline
    steps: dict[Path, Located] = field(default_factory=dict)
    blocks: dict[Path, Mapping[str, Step]] = field(default_factory=dict)
    block_owner: dict[Path, Path | None] = field(default_factory=dict)
    exports: dict[Path, dict[str, tuple[Path, ...]]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    @classmethod
    def build(cls, pipeline: Pipeline) -> Index:
        index = cls(pipeline)
        for block_path, steps in top_blocks(pipeline):
            index.blocks[block_path] = steps
            index.block_owner[block_path] = None
        order: list[Located] = []
        for located in walk(pipeline):
            index.steps[located.path] = located
            order.append(located)
            for segment, child in located.step.blocks():
                child_path = child_block_path(located.path, segment)
                index.blocks[child_path] = child
                index.block_owner[child_path] = located.path
        for located in reversed(order):
            index.exports[located.path] = index._exports_of(located)
        return index

    def _block_exports(self, block_path: Path) -> dict[str, tuple[Path, ...]]:
        merged: dict[str, tuple[Path, ...]] = {}
        for name in self.blocks[block_path]:
            for value, producers in self.exports[block_path + (name,)].items():
                if value in merged:
                    self.conflicts.append(Conflict(value, merged[value] + producers, block_path))
                    continue
                merged[value] = producers
        return merged

    def _exports_of(self, located: Located) -> dict[str, tuple[Path, ...]]:
        step = located.step
        if step.is_task:
            return {name: (located.path,) for name in step.returns}
        merged: dict[str, tuple[Path, ...]] = {}
        for segment, _ in step.blocks():
            block = self._block_exports(child_block_path(located.path, segment))
            for value, producers in block.items():
                if value in merged:
                    if step.parallel is None:  # switch cases are alternatives: one of them runs
                        merged[value] = merged[value] + producers
                        continue
                    self.conflicts.append(Conflict(value, merged[value] + producers, located.path))
                    continue
                merged[value] = producers
        return merged

    def map_owner(self, block_path: Path) -> Step | None:
        """The map step whose body is this block, if it is one."""
        owner = self.block_owner.get(block_path)
        if owner is None or owner != block_path:
            return None
        step = self.steps[owner].step
        return step if step.map is not None else None

    def _upstream(self, path: Path) -> list[Path]:
        """Upstream steps of `path` in its block, nearest first (breadth-first over `needs`)."""
        located = self.steps[path]
        siblings = self.blocks[located.block]
        seen: set[str] = set()
        queue = deque(located.step.needs)
        found: list[Path] = []
        while queue:
            name = queue.popleft()
            if name in seen or name not in siblings:
                continue
            seen.add(name)
            found.append(located.block + (name,))
            queue.extend(siblings[name].needs)
        return found

    def resolve(self, name: str, path: Path) -> Source | None:
        """Where the value `name` seen by the step at `path` comes from, or None."""
        current: Path | None = path
        while current is not None:
            for upstream in self._upstream(current):
                producers = self.exports[upstream].get(name)
                if producers:
                    return Source("return", name, producers)
            block = self.steps[current].block
            owner_map = self.map_owner(block)
            if owner_map is not None and owner_map.map is not None and owner_map.map.as_ == name:
                return Source("item", name, (block,))
            current = self.block_owner.get(block)
        if name in self.pipeline.parameters:
            return Source("param", name)
        return None

    def visible(self, path: Path) -> dict[str, Source]:
        """Every name the step at `path` sees, nearest definition winning."""
        result: dict[str, Source] = {}
        current: Path | None = path
        while current is not None:
            for upstream in self._upstream(current):
                for name, producers in self.exports[upstream].items():
                    result.setdefault(name, Source("return", name, producers))
            block = self.steps[current].block
            owner_map = self.map_owner(block)
            if owner_map is not None and owner_map.map is not None:
                result.setdefault(owner_map.map.as_, Source("item", owner_map.map.as_, (block,)))
            current = self.block_owner.get(block)
        for name in self.pipeline.parameters:
            result.setdefault(name, Source("param", name))
        return result

    def enclosing_maps(self, path: Path) -> list[Path]:
        """Paths of the map steps enclosing `path`, outermost first."""
        maps: list[Path] = []
        block = self.steps[path].block
        while True:
            owner = self.block_owner.get(block)
            if owner is None:
                break
            if self.steps[owner].step.map is not None:
                maps.append(owner)
            block = self.steps[owner].block
        return list(reversed(maps))
