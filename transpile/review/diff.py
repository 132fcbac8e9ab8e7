"""`transpile diff OLD NEW`: compare two versions of a pipeline by meaning, then as YAML.

Each side is a pipeline (YAML or Python) or a compiled Argo spec. The summary lists steps added, removed
and changed (kind, needs, image, resources, retries, timeout, and the command when both sides are
pipelines), then the unified diff of the two Argo specs. Exit code 1 when they differ.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from transpile.errors import Diagnostic, TranspileError

if TYPE_CHECKING:
    from transpile.review.summary import Summary


@dataclass
class Side:
    label: str
    summary: Summary
    spec_text: str


def load_side(reference: str, config_path: str | None) -> Side:
    """Read one side: a compiled spec as it is, or a pipeline compiled to Argo YAML now."""
    import yaml

    from transpile.compiler import source_file
    from transpile.review.summary import from_pipeline, from_spec

    path = Path(source_file(reference))
    if path.suffix in (".yaml", ".yml"):
        try:
            text = path.read_text(encoding="utf-8")
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise TranspileError([Diagnostic(f"cannot read {reference}: {exc}")]) from None
        if documents and all(isinstance(d, dict) and "apiVersion" in d for d in documents):
            try:
                return Side(reference, from_spec(documents), text)
            except (KeyError, ValueError) as exc:
                raise TranspileError([Diagnostic(f"{reference} is not a spec transpile compiled: {exc}")]) from None
    from transpile.backends.argo import ArgoBackend
    from transpile.backends.base import EmitOptions
    from transpile.compiler import compile_pipeline
    from transpile.config import load_config

    compiled = compile_pipeline(reference)
    text = ArgoBackend().emit(compiled, load_config(config_path), EmitOptions())
    return Side(reference, from_pipeline(compiled.pipeline, compiled.hash), text)


def changes(old: Summary, new: Summary) -> list[str]:
    """Human lines: `+ step`, `- step`, `~ step: what changed`."""
    lines = []
    for node in new.steps:
        if node not in old.steps:
            detail = new.steps[node].detail
            lines.append(f"+ {node} ({new.steps[node].kind}{': ' + detail if detail and not old.from_spec else ''})")
    for node in old.steps:
        if node not in new.steps:
            lines.append(f"- {node}")
    for node, after in new.steps.items():
        before = old.steps.get(node)
        if before is None:
            continue
        what = []
        if before.kind != after.kind:
            what.append(f"kind {before.kind} -> {after.kind}")
        if before.needs != after.needs and before.needs_known and after.needs_known:
            what.append(f"needs [{', '.join(before.needs)}] -> [{', '.join(after.needs)}]")
        for key in sorted(set(before.settings) | set(after.settings)):
            a, b = before.settings.get(key, "-"), after.settings.get(key, "-")
            if a != b:
                what.append(f"{key} {a} -> {b}")
        if before.detail is not None and after.detail is not None and before.detail != after.detail:
            what.append(f"command {before.detail!r} -> {after.detail!r}")
        if what:
            lines.append(f"~ {node}: " + "; ".join(what))
    return lines


def report(old: Side, new: Side) -> tuple[str, bool]:
    """The summary and the unified YAML diff; True when the two differ."""
    lines = changes(old.summary, new.summary)
    yaml_diff = list(
        difflib.unified_diff(
            old.spec_text.splitlines(keepends=True), new.spec_text.splitlines(keepends=True), old.label, new.label
        )
    )
    added = sum(1 for line in lines if line.startswith("+"))
    removed = sum(1 for line in lines if line.startswith("-"))
    changed = sum(1 for line in lines if line.startswith("~"))
    if not lines and not yaml_diff:
        return "no differences\n", False
    head = f"{added} step(s) added, {removed} removed, {changed} changed"
    if old.summary.hash != new.summary.hash and old.summary.hash and new.summary.hash:
        head += f"; pipeline hash {old.summary.hash[:12]} -> {new.summary.hash[:12]}"
    body = "\n".join([head, *("  " + line for line in lines)]) + "\n"
    if yaml_diff:
        body += "\n" + "".join(yaml_diff)
    return body, True


def cmd_diff(args) -> int:
    old = load_side(args.old, args.config)
    new = load_side(args.new, args.config)
    text, differ = report(old, new)
    print(text, end="")
    return 1 if differ else 0


def cmd_graph(args) -> int:
    from transpile.compiler import compile_pipeline
    from transpile.review.graph import dot, mermaid

    compiled = compile_pipeline(args.pipeline)
    print(mermaid(compiled.pipeline) if args.format == "mermaid" else dot(compiled.pipeline), end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare two pipelines or compiled specs by meaning, then as YAML")
    p.add_argument("old", metavar="OLD", help="pipeline or compiled Argo spec")
    p.add_argument("new", metavar="NEW", help="pipeline or compiled Argo spec")
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings for compiling pipelines")
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser("graph", help="render the pipeline's DAG as Mermaid or Graphviz DOT")
    p.add_argument("pipeline", metavar="PIPELINE")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    p.set_defaults(func=cmd_graph)
