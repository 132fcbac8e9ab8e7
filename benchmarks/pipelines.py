"""Synthetic pipelines for benchmarks and scale tests, written as YAML text."""

from __future__ import annotations

import json

HEADER = "defaults:\n  image: python:3.11-slim\n"
NOOP = "bench.steps:noop"


def chain(n: int) -> str:
    """n python steps, each needing the one before."""
    lines = [f"name: chain-{n}", HEADER.rstrip(), "steps:"]
    for i in range(n):
        needs = f", needs: [s{i - 1}]" if i else ""
        lines.append(f"  s{i}: {{python: {NOOP}{needs}}}")
    return "\n".join(lines) + "\n"


def wide(n: int) -> str:
    """A parallel step with n branches of one python step each, then a join."""
    lines = [f"name: wide-{n}", HEADER.rstrip(), "steps:", "  fan:", "    parallel:"]
    for i in range(n):
        lines.append(f"      b{i}: {{steps: {{work: {{python: {NOOP}}}}}}}")
    lines.append(f"  join: {{needs: [fan], python: {NOOP}}}")
    return "\n".join(lines) + "\n"


def nested_maps(n: int) -> str:
    """Three levels of maps (10 x 10 x n/100 items at run time) holding n/… python steps in all."""
    per_body = max(1, n // 3)
    items = json.dumps(list(range(10)))
    lines = [f"name: nested-{n}", HEADER.rstrip(), f"parameters: {{xs: {items}}}", "steps:"]
    lines += ["  outer:", "    map:", "      over: xs", "      as: x", "      steps:"]
    lines += ["        mid:", "          map:", "            over: xs", "            as: y", "            steps:"]
    lines += ["              inner:", "                map:", "                  over: xs", "                  as: z"]
    lines += ["                  steps:"]
    for i in range(per_body):
        needs = f", needs: [t{i - 1}]" if i else ""
        lines.append(f"                    t{i}: {{python: {NOOP}{needs}}}")
    return "\n".join(lines) + "\n"


SHAPES = {"chain": chain, "wide": wide, "nested-maps": nested_maps}
