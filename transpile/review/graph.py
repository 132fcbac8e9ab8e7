"""`transpile graph`: the pipeline's DAG as Mermaid (paste into a pull request) or Graphviz DOT, with
composites drawn as clusters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from transpile.ir.graph import ON_FAILURE, Path
from transpile.ir.models import Pipeline, Step


def describe(step: Step) -> str:
    """A one-line description of what a step is."""
    if step.python is not None:
        return f"python {step.python}"
    if step.shell is not None:
        first = step.shell.strip().splitlines()[0] if step.shell.strip() else ""
        return "shell " + (first if len(first) <= 40 else first[:37] + "...")
    if step.stub:
        return "stub"
    if step.map is not None:
        batch = f", {step.map.batch} items per instance" if step.map.batch else ""
        return f"map over {step.map.over} as {step.map.as_}{batch}"
    if step.parallel is not None:
        return f"parallel, {len(step.parallel)} branches"
    if step.switch is not None:
        return f"switch on {step.switch.on}"
    return ""


@dataclass
class _Cluster:
    ident: str
    label: str
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (id, label)
    clusters: list[_Cluster] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


class _Layout:
    """The pipeline as nested clusters with generated ids (n1, n2, ...), never user strings."""

    def __init__(self, pipeline: Pipeline):
        self.count = 0
        self.root = _Cluster("root", pipeline.name)
        self.block(self.root, (), pipeline.steps)
        if pipeline.on_failure is not None:
            cluster = _Cluster(self.new_id(), "on_failure: runs when the pipeline fails")
            self.root.clusters.append(cluster)
            self.block(cluster, (ON_FAILURE,), pipeline.on_failure.steps)

    def new_id(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def block(self, cluster: _Cluster, path: Path, steps: Mapping[str, Step]) -> None:
        ids: dict[str, str] = {}
        for name, step in steps.items():
            ident = self.new_id()
            ids[name] = ident
            if step.is_task:
                cluster.nodes.append((ident, f"{name}\n{describe(step)}"))
                continue
            inner = _Cluster(ident, f"{name}: {describe(step)}")
            cluster.clusters.append(inner)
            for segment, child in step.blocks():
                if not segment:
                    self.block(inner, path + (name,), child)
                    continue
                kind = "case" if step.switch is not None else "branch"
                sub = _Cluster(self.new_id(), f"{kind} {segment}")
                inner.clusters.append(sub)
                self.block(sub, path + (name, segment), child)
        for name, step in steps.items():
            for dep in dict.fromkeys(step.needs):
                cluster.edges.append((ids[dep], ids[name]))


def _mermaid_text(text: str) -> str:
    escaped = text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return escaped.replace("\n", "<br/>")


def mermaid(pipeline: Pipeline) -> str:
    """A Mermaid flowchart: steps as boxes, composites as subgraphs, `needs` as arrows."""
    layout = _Layout(pipeline)
    lines = ["flowchart TD"]

    def emit(cluster: _Cluster, indent: str) -> None:
        for ident, label in cluster.nodes:
            lines.append(f'{indent}{ident}["{_mermaid_text(label)}"]')
        for inner in cluster.clusters:
            lines.append(f'{indent}subgraph {inner.ident} ["{_mermaid_text(inner.label)}"]')
            emit(inner, indent + "  ")
            lines.append(f"{indent}end")
        for source, target in cluster.edges:
            lines.append(f"{indent}{source} --> {target}")

    emit(layout.root, "  ")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dot(pipeline: Pipeline) -> str:
    """A Graphviz digraph: composites as clusters (edges attach to a cluster through its anchor)."""
    layout = _Layout(pipeline)
    anchors: dict[str, str] = {}
    lines = [
        f'digraph "{_dot_text(pipeline.name)}" {{',
        "  compound=true;",
        "  rankdir=TB;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
    ]

    def emit(cluster: _Cluster, indent: str) -> None:
        for ident, label in cluster.nodes:
            lines.append(f'{indent}{ident} [label="{_dot_text(label)}"];')
        for inner in cluster.clusters:
            anchors[inner.ident] = f"{inner.ident}_anchor"
            lines.append(f"{indent}subgraph cluster_{inner.ident} {{")
            lines.append(f'{indent}  label="{_dot_text(inner.label)}";')
            lines.append(f'{indent}  {inner.ident}_anchor [shape=point, style=invis, label=""];')
            emit(inner, indent + "  ")
            lines.append(f"{indent}}}")
        for source, target in cluster.edges:
            attrs = []
            if source in anchors:
                attrs.append(f"ltail=cluster_{source}")
            if target in anchors:
                attrs.append(f"lhead=cluster_{target}")
            suffix = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f"{indent}{anchors.get(source, source)} -> {anchors.get(target, target)}{suffix};")

    emit(layout.root, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"
