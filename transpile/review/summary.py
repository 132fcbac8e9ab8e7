"""What a pipeline means, step by step, read from its IR or back from a compiled Argo spec, so that two
versions can be compared by meaning (`transpile diff`).

From a spec, a step's kind is known only as task/map/parallel/switch (pods read the command from the
pipeline file), and in a block cut into parts of 200 tasks, needs that cross two parts are not visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transpile.ir.graph import walk
from transpile.ir.names import node_id

if TYPE_CHECKING:
    from transpile.ir.models import Pipeline

PREFIX = "{{inputs.parameters.prefix}}"


@dataclass
class StepSummary:
    """The comparable facts of one step."""

    kind: str
    needs: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None  # the command, when read from a pipeline
    needs_known: bool = True  # False at the head of a part of a cut DAG, whose needs the spec cannot show


@dataclass
class Summary:
    name: str
    hash: str | None
    steps: dict[str, StepSummary]
    from_spec: bool


def _kind(step: Any) -> str:
    return "task" if step.is_task else step.kind


def from_pipeline(pipeline: Pipeline, digest: str) -> Summary:
    """The summary of a compiled pipeline (defaults already folded in)."""
    steps: dict[str, StepSummary] = {}
    for located in walk(pipeline):
        step = located.step
        settings: dict[str, Any] = {}
        detail = None
        if step.is_task:
            detail = step.python or step.shell or "stub"
            if step.image:
                settings["image"] = step.image
            if step.resources is not None:
                settings["resources"] = _resources(step.resources.cpu, step.resources.memory, step.resources.gpu)
            if step.retries is not None and step.retries.limit:
                settings["retries"] = step.retries.limit
            if step.timeout:
                settings["timeout"] = f"{step.timeout}s"
        needs = tuple(node_id(located.block + (n,)) for n in dict.fromkeys(step.needs))
        steps[node_id(located.path)] = StepSummary(_kind(step), needs, settings, detail)
    return Summary(pipeline.name, digest, steps, from_spec=False)


def _resources(cpu: Any, memory: Any, gpu: Any) -> str:
    parts = [f"cpu={cpu}" if cpu is not None else "", f"memory={memory}" if memory else "", f"gpu={gpu}" if gpu else ""]
    return " ".join(p for p in parts if p) or "-"


def from_spec(documents: list[dict[str, Any]]) -> Summary:
    """The summary read back from compiled Argo documents (one pipeline, possibly several templates)."""
    library: dict[str, dict[str, dict]] = {}
    main = None
    for document in documents:
        if document.get("kind") != "WorkflowTemplate":
            continue
        library[document["metadata"]["name"]] = {t["name"]: t for t in document["spec"].get("templates", [])}
        if "entrypoint" in document["spec"]:
            main = document
    if main is None:
        raise ValueError("no WorkflowTemplate with an entrypoint in the spec")
    reader = _SpecReader(library, main["metadata"]["name"])
    reader.dag(main["spec"]["entrypoint"], main["metadata"]["name"], "")
    if main["spec"].get("onExit"):
        reader.dag(main["spec"]["onExit"], main["metadata"]["name"], "")
    annotations = main["metadata"].get("annotations", {})
    return Summary(main["metadata"]["name"], annotations.get("transpile.io/pipeline-hash"), reader.steps, True)


class _SpecReader:
    def __init__(self, library: dict[str, dict[str, dict]], home: str):
        self.library = library
        self.home = home
        self.steps: dict[str, StepSummary] = {}

    def resolve(self, task: dict, here: str) -> tuple[dict, str]:
        if "templateRef" in task:
            ref = task["templateRef"]
            return self.library[ref["name"]][ref["template"]], ref["name"]
        return self.library[here][task["template"]], here

    @staticmethod
    def argument(task: dict, name: str, prefix: str) -> str | None:
        for param in task.get("arguments", {}).get("parameters", []):
            if param["name"] == name:
                return param.get("value", "").replace(PREFIX, prefix)
        return None

    def dag(self, name: str, here: str, prefix: str, part: bool = False) -> None:
        template = self.library[here][name]
        tasks = template.get("dag", {}).get("tasks", [])
        names = {t["name"] for t in tasks}
        if {"items", "each"} <= names or "select" in names:
            self.composite(tasks, here, prefix, "map" if "items" in names else "switch")
            return
        ids: dict[str, str] = {}
        for task in tasks:
            target, where = self.resolve(task, here)
            node = self.argument(task, "node", prefix)
            inner_prefix = self.argument(task, "prefix", prefix)
            if node is not None and "container" in target:
                ids[task["name"]] = node
                self.steps[node] = StepSummary("task", (), _settings(target))
            elif inner_prefix is not None and inner_prefix != prefix:
                ids[task["name"]] = inner_prefix
                self.step_dag(target, where, inner_prefix)
            elif "when" in task:  # the exit handler's guard around the on_failure block
                self.dag(target["name"], where, prefix)
            else:  # a part of a block cut into pieces: the same place
                self.dag(target["name"], where, inner_prefix if inner_prefix is not None else prefix, part=True)
        for task in tasks:
            step = self.steps.get(ids.get(task["name"], ""))
            if step is None:
                continue
            if task.get("depends"):
                step.needs = tuple(ids[d] for d in task["depends"].split(" && ") if d in ids)
            elif part:
                step.needs_known = False

    def step_dag(self, template: dict, where: str, prefix: str) -> None:
        names = {t["name"] for t in template.get("dag", {}).get("tasks", [])}
        if {"items", "each"} <= names or "select" in names:
            self.composite(template["dag"]["tasks"], where, prefix, "map" if "items" in names else "switch")
        else:
            self.steps[prefix] = StepSummary("parallel")
            for task in template["dag"]["tasks"]:
                target, there = self.resolve(task, where)
                self.dag(target["name"], there, self.argument(task, "prefix", prefix) or prefix)

    def composite(self, tasks: list[dict], here: str, prefix: str, kind: str) -> None:
        self.steps[prefix] = StepSummary(kind)
        for task in tasks:
            if task["name"] in ("items", "select"):
                continue
            target, there = self.resolve(task, here)
            self.dag(target["name"], there, self.argument(task, "prefix", prefix) or prefix)


def _settings(template: dict) -> dict[str, Any]:
    container = template.get("container", {})
    settings: dict[str, Any] = {}
    if container.get("image"):
        settings["image"] = container["image"]
    resources = container.get("resources")
    if resources:
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        settings["resources"] = _resources(requests.get("cpu"), requests.get("memory"), limits.get("nvidia.com/gpu"))
    retries = template.get("retryStrategy", {}).get("limit")
    if retries:
        settings["retries"] = int(retries)
    if template.get("timeout"):
        settings["timeout"] = template["timeout"]
    return settings
