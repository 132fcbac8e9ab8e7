"""`transpile diff OLD NEW`: compare two versions of a pipeline by meaning, then show the Argo YAML diff.

Each side is a pipeline (YAML or Python), read through its execution plan, or a compiled Argo spec, read
back by structure (`spec_reader`). Two pipelines that lower to the same plan do not differ, even when
their files sit at different paths (a note says so). Exit 0 when they mean the same, 1 when they differ.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transpile.plan.model import Plan

CONTEXT = 3


def same_plan(old: Plan, new: Plan) -> bool:
    """True when two plans mean the same: equal but for the pipeline file's path and the source's hash."""

    def meaning(plan: Plan) -> Plan:
        composite = any(node.role != "task" for node in plan.nodes.values())
        control = plan.control if composite else type(plan.control)()  # no control node: its image is unused
        return replace(plan, hash="", deploy=replace(plan.deploy, pipeline_file=""), control=control)

    return meaning(old) == meaning(new)


def unified_diff(a: Sequence[str], b: Sequence[str], label_a: str, label_b: str) -> list[str]:
    """difflib's unified diff, with the common head and tail set aside first (fast for local edits)."""
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    if head == len(a) == len(b):
        return []
    matcher = difflib.SequenceMatcher(None, a[head : len(a) - tail], b[head : len(b) - tail])
    opcodes = [("equal", 0, head, 0, head)] if head else []
    opcodes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    if tail:
        opcodes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return [f"--- {label_a}\n", f"+++ {label_b}\n", *_hunks(a, b, opcodes)]


def _range(start: int, stop: int) -> str:
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


def _hunks(a: Sequence[str], b: Sequence[str], opcodes: list[tuple[str, int, int, int, int]]) -> Iterator[str]:
    matcher = difflib.SequenceMatcher(None, "", "")
    matcher.get_opcodes = lambda: opcodes  # type: ignore[method-assign]
    for group in matcher.get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            yield from ("-" + line for line in a[i1:i2])
            yield from ("+" + line for line in b[j1:j2])


def _ends(lines: list[str]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def cmd_diff(args: Any) -> int:
    import gc

    # Like `compile`: short-lived and allocation-heavy, so the cyclic collector would only slow it down.
    gc.disable()
    from transpile.config import load_config
    from transpile.review.compare import Change, Comparison, compare, compare_plans, path_notes
    from transpile.review.render import markdown_report, text_report
    from transpile.review.sides import load_both

    config = load_config(args.config)
    old, new = load_both(args.old, args.new, config)
    if old.plan is not None and new.plan is not None:
        if same_plan(old.plan, new.plan):
            result = Comparison(notes=path_notes(old.plan.deploy.pipeline_file, new.plan.deploy.pipeline_file))
            if old.plan.hash != new.plan.hash:
                result.notes.append(
                    f"the pipelines are written differently (hash {old.plan.short_hash} -> "
                    f"{new.plan.short_hash}) but mean the same"
                )
        else:
            result = compare_plans(old.plan, new.plan)
            if not result.differ:  # the plans differ where the summary does not look
                result.pipeline.append(Change("~", "pipeline", "settings this summary does not list changed"))
    else:
        result = compare(old.summary, new.summary)
    yaml_diff: list[str] = []
    if not result.differ:
        new.release()
    else:
        new.prefetch()  # the helper process emits the new side while this one emits the old
        a = _ends(old.read_text().splitlines(keepends=True))
        b = _ends(new.read_text().splitlines(keepends=True))
        yaml_diff = unified_diff(a, b, old.label, new.label)
    if args.format == "markdown":
        print(markdown_report(result, yaml_diff, old.label, new.label), end="")
    else:
        print(text_report(result, yaml_diff), end="")
    return 1 if result.differ else 0


def cmd_graph(args: Any) -> int:
    from transpile.compiler import compile_pipeline
    from transpile.review.graph import dot, mermaid

    compiled = compile_pipeline(args.pipeline)
    print(mermaid(compiled.pipeline) if args.format == "mermaid" else dot(compiled.pipeline), end="")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("diff", help="compare two pipelines or compiled specs by meaning, then as YAML")
    p.add_argument("old", metavar="OLD", help="pipeline or compiled Argo spec")
    p.add_argument("new", metavar="NEW", help="pipeline or compiled Argo spec")
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings for compiling pipelines")
    p.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="markdown: a pull-request comment (summary table, collapsible YAML diff)",
    )
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser("graph", help="render the pipeline's DAG as Mermaid or Graphviz DOT")
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline.yaml, pipeline.py or pipeline.py:attribute")
    p.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="mermaid (default) or dot for Graphviz"
    )
    p.set_defaults(func=cmd_graph)
