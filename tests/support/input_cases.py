"""Building blocks of the bad- and good-input corpora (tests/test_bad_inputs.py, tests/test_good_inputs.py): a
case, and pipeline texts whose lines are known (steps start on line 4)."""

from __future__ import annotations

from dataclasses import dataclass

H = "name: p\ndefaults: {image: img}\nsteps:\n"  # steps start on line 4
OK = H + "  a: {shell: echo}\n"


@dataclass(frozen=True)
class Case:
    """One bad input and what its report must say."""

    id: str
    pipeline: str | bytes | None  # p.yaml
    line: int | None  # the first line the report points at; None: no location
    count: int  # errors reported
    fragment: str
    deploy: str | bytes | None = None  # d.yaml, passed with -c
    args: tuple[str, ...] = ("check", "p.yaml")  # the command line (-c d.yaml appended when deploy is set)


def step(body: str, name: str = "a") -> str:
    """A pipeline whose one step (line 4) is `name: {body}`."""
    return H + f"  {name}: {{{body}}}\n"


def top(extra: str) -> str:
    """A valid pipeline with top-level lines added after the steps (from line 5)."""
    return OK + extra


def deploy(text: str, line: int | None, fragment: str, count: int = 1, id: str = "") -> Case:
    """A case of a bad deploy config (d.yaml, passed with -c) beside a valid pipeline."""
    return Case(f"deploy-{id}", OK, line, count, fragment, deploy=text)


def nested(depth: int, kind: str = "parallel") -> str:
    """A pipeline (steps on line 4) whose one step nests `depth` composites of one kind."""
    body = "{leaf: {shell: 'true'}}"
    for i in range(depth):
        body = {
            "parallel": f"{{c{i}: {{parallel: {{b: {{steps: {body}}}}}}}}}",
            "map": f"{{c{i}: {{map: {{over: xs, as: it{i}, steps: {body}}}}}}}",
            "switch": f"{{c{i}: {{switch: {{on: m, cases: {{x: {{steps: {body}}}}}}}}}}}",
        }[kind]
    return "name: p\ndefaults: {image: img}\nparameters: {xs: [1], m: x}\nsteps: " + body + "\n"


def deep_value(depth: int, open_: str = "[", close: str = "]") -> str:
    """A YAML value nesting `depth` lists (or, with open_ '{', mappings) around 1."""
    return open_ * depth + "1" + close * depth if open_ == "[" else "{a: " * depth + "1" + "}" * depth
