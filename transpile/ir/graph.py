"""Graph helpers over the IR. All iterative, so 10,000-step chains never touch the recursion limit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transpile.ir.models import Pipeline, Step


ON_FAILURE = "@on_failure"

Path = tuple[str, ...]


@dataclass(frozen=True)
class Located:
    """A step with its path; `block` is the path of the block holding it (its siblings' parent)."""

    path: Path
    step: Step
    block: Path


def top_blocks(pipeline: Pipeline) -> list[tuple[Path, Mapping[str, Step]]]:
    """The pipeline's root blocks: its steps and, if declared, the on_failure steps."""
    blocks: list[tuple[Path, Mapping[str, Step]]] = [((), pipeline.steps)]
    if pipeline.on_failure is not None:
        blocks.append(((ON_FAILURE,), pipeline.on_failure.steps))
    return blocks


def child_block_path(path: Path, segment: str) -> Path:
    """Path of a composite's child block: the map body shares the map's path, branches and cases add one."""
    return path + (segment,) if segment else path


def walk(pipeline: Pipeline) -> Iterator[Located]:
    """Every step, parents before children, siblings in declaration order."""
    stack: list[tuple[Path, Mapping[str, Step]]] = list(reversed(top_blocks(pipeline)))
    while stack:
        block_path, steps = stack.pop()
        pending: list[tuple[Path, Mapping[str, Step]]] = []
        for name, step in steps.items():
            path = block_path + (name,)
            yield Located(path, step, block_path)
            for segment, child in step.blocks():
                pending.append((child_block_path(path, segment), child))
        stack.extend(reversed(pending))


def walk_blocks(pipeline: Pipeline) -> Iterator[tuple[Path, Mapping[str, Step]]]:
    """Every block (root, on_failure, map bodies, branches, cases) as (block path, steps)."""
    stack: list[tuple[Path, Mapping[str, Step]]] = list(reversed(top_blocks(pipeline)))
    while stack:
        block_path, steps = stack.pop()
        yield block_path, steps
        pending = []
        for name, step in steps.items():
            for segment, child in step.blocks():
                pending.append((child_block_path(block_path + (name,), segment), child))
        stack.extend(reversed(pending))


class CycleError(Exception):
    """The needs of a block form a cycle; `cycle` lists it with the first node repeated at the end."""

    def __init__(self, cycle: list[str]):
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


def find_cycle(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle among `needs` edges (iterative DFS), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in order:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = [root]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            deps = [d for d in needs.get(node, ()) if d in needs]
            if i < len(deps):
                stack[-1] = (node, i + 1)
                nxt = deps[i]
                if state.get(nxt) == 1:
                    start = trail.index(nxt)
                    return list(reversed(trail[start:] + [nxt]))
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    trail.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                trail.pop()
    return None


def toposort(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm; ties broken by declaration order, so the result is deterministic."""
    position = {name: i for i, name in enumerate(order)}
    indegree = {name: 0 for name in order}
    children: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        for dep in dict.fromkeys(needs.get(name, ())):
            if dep in indegree:
                indegree[name] += 1
                children[dep].append(name)
    import heapq

    ready = [(position[n], n) for n in order if indegree[n] == 0]
    heapq.heapify(ready)
    result: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        result.append(name)
        for child in children[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, (position[child], child))
    if len(result) != len(order):
        cycle = find_cycle(order, needs) or [n for n in order if n not in set(result)]
        raise CycleError(cycle)
    return result
