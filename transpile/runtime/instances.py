"""Instance descriptors: which node instances one pod, task or job runs (`execute-node --indices D`).

- `""`: the one instance of a node outside maps;
- `"2"`, `"2.0"`: one instance, one index per enclosing map;
- `"START~END"`: a batch, every existing instance from START to END inclusive, in lexicographic order of
  index paths: `"0~99"` (items 0 to 99 of a map), `"0.40~3.7"` (a map in a map: (0,40), (0,41) ... the
  last item of 0, (1,0) ... (3,7), each inner map's item count read from the store).

A descriptor has a constant size whatever the batch, so the engines' objects that carry it (Argo's loop
items, Airflow's XComs, Prefect's futures, SLURM's files) stay small. This module parses, checks (against
the item counts the store holds: an index out of range is the caller's NodeError, exit 2), enumerates and
makes them; the backends only pass them through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

Indices = tuple[int, ...]
SPAN = "~"


class BadDescriptor(ValueError):
    """A descriptor that does not name instances of this node (the message says why)."""


@dataclass(frozen=True)
class Descriptor:
    """The first and last instance of a descriptor (the same for one instance), and its text."""

    first: Indices
    last: Indices
    text: str

    @property
    def single(self) -> bool:
        return self.first == self.last


def _indices(text: str) -> Indices:
    parts = [p for p in text.strip().split(".") if p != ""]  # leading dots: Argo's nested substitution
    if not all(p.isdigit() for p in parts):
        raise BadDescriptor(f"bad --indices {text!r}: expected numbers joined by '.', or START~END")
    return tuple(int(p) for p in parts)


def parse(text: str) -> Descriptor:
    """A descriptor from its text (BadDescriptor when it is not one)."""
    start, sep, end = text.partition(SPAN)
    first = _indices(start)
    last = _indices(end) if sep else first
    if sep and (len(first) != len(last) or not first):
        raise BadDescriptor(f"bad --indices {text!r}: START and END of a batch need the same number of indices")
    if last < first:
        raise BadDescriptor(f"bad --indices {text!r}: END comes before START")
    return Descriptor(first, last, text)


def text_of(first: Indices, last: Indices) -> str:
    """The descriptor of the instances from `first` to `last` (one instance: its indices alone)."""
    head = ".".join(str(i) for i in first)
    return head if first == last else f"{head}{SPAN}{'.'.join(str(i) for i in last)}"


Counts = Callable[[Indices], int]
"""The item count of the map at one depth, for the enclosing indices given (the fan-out's result)."""


def check(descriptor: Descriptor, depth: int, count: Counts) -> None:
    """Each index of the first and last instance must name an item of its map (BadDescriptor otherwise;
    `count` raises its own error for a map that has not fanned out)."""
    if len(descriptor.first) != depth:
        raise BadDescriptor(f"the node is inside {depth} map(s) but got indices {descriptor.text!r}")
    for bound in {descriptor.first, descriptor.last}:
        for level, index in enumerate(bound):
            items = count(bound[:level])
            if index >= items:
                named = f"indices 0-{items - 1}" if items else "no items"
                raise BadDescriptor(
                    f"index {index} of {descriptor.text!r} is out of range: the map at depth "
                    f"{level + 1} has {items} item(s) ({named}) there"
                )


def members(descriptor: Descriptor, count: Counts) -> Iterator[Indices]:
    """Every instance of the descriptor, in order (its bounds already checked)."""
    if descriptor.single:
        yield descriptor.first
        return
    first, last = descriptor.first, descriptor.last

    def walk(prefix: Indices, low: bool, high: bool) -> Iterator[Indices]:
        level = len(prefix)
        if level == len(first):
            yield prefix
            return
        start = first[level] if low else 0
        end = last[level] if high else count(prefix) - 1
        for index in range(start, end + 1):
            yield from walk(prefix + (index,), low and index == start, high and index == end)

    yield from walk((), True, True)


def batches(counts: list[tuple[Indices, int]], size: int) -> list[str]:
    """Descriptors of the items of several map instances (each `(its indices, its item count)`, in order),
    `size` consecutive (instance, item) pairs to a descriptor: one instance per item at size 1."""
    made: list[str] = []
    first: Indices | None = None
    taken = 0
    for prefix, items in counts:
        index = 0
        while index < items:
            if first is None:
                first = prefix + (index,)
            step = min(size - taken, items - index)
            index += step
            taken += step
            if taken == size:
                made.append(text_of(first, prefix + (index - 1,)))
                first, taken = None, 0
    if first is not None:
        last_prefix, last_items = next((p, n) for p, n in reversed(counts) if n)
        made.append(text_of(first, last_prefix + (last_items - 1,)))
    return made
