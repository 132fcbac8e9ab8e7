"""Read a compiled Argo spec back into a `Summary`, recognising everything by structure, never by names.

How transpile writes a pipeline (transpile/backends/argo.py) and how it is read back here:
- a task step is a DAG task whose template is a container without outputs; its node id is the task's
  `node` argument (with `{{inputs.parameters.prefix}}` replaced by the place being read);
- a composite step is a DAG task passing a new `prefix` (its node id); its DAG holds a control node (a
  container template with an output parameter read from a file) and then either a `withParam` loop over
  that output (a map: the loop's template is the body), `when` guards comparing that output (a switch:
  each guarded task is a case at its own prefix), or neither (a parallel: each task is a branch);
- a DAG task passing the same place (or none) is a part of a block cut into pieces, or the exit handler's
  guard; its tasks belong to the enclosing block. Needs that crossed two parts are not visible.
"""

from __future__ import annotations

from typing import Any

from transpile.backends.argo import SECURITY_ANNOTATION
from transpile.ir.rules import CACHE_PARAMETER
from transpile.review.pod_facts import from_template, resources_extra
from transpile.review.summary import (
    StepFacts,
    Summary,
    clean,
    compact,
    pairs,
    resources_fact,
    retries_fact,
    schedule_fact,
)

PREFIX = "{{inputs.parameters.prefix}}"


class SpecError(ValueError):
    """The documents are not a spec transpile compiled (or were edited beyond recognition)."""


def from_spec(documents: list[dict[str, Any]]) -> Summary:
    """The summary of compiled Argo documents (one pipeline: WorkflowTemplates, a CronWorkflow, a claim)."""
    library: dict[str, dict[str, dict]] = {}
    main = cron = None
    for document in documents:
        kind = document.get("kind")
        if kind == "WorkflowTemplate":
            spec = document.get("spec") or {}
            library[document["metadata"]["name"]] = {t["name"]: t for t in spec.get("templates") or []}
            if "entrypoint" in spec:
                main = document
        elif kind == "CronWorkflow":
            cron = document
    if main is None:
        raise SpecError("no WorkflowTemplate with an entrypoint")
    home = main["metadata"]["name"]
    reader = _Reader(library, main["spec"].get("imagePullSecrets") or [])
    reader.block(reader.template(home, main["spec"]["entrypoint"]), home, "", partial=False)
    if main["spec"].get("onExit"):
        reader.block(reader.template(home, main["spec"]["onExit"]), home, "", partial=False)
    annotations = main["metadata"].get("annotations") or {}
    return Summary(
        name=home,
        hash=annotations.get("transpile.io/pipeline-hash"),
        pipeline_file=reader.pipeline_file,
        facts=_pipeline_facts(main, cron, reader.container)
        | clean({"control image": reader.control_image})
        | reader.control_facts,
        steps=reader.steps,
        from_spec=True,
    )


def _is_control(template: dict) -> bool:
    outputs = (template.get("outputs") or {}).get("parameters") or []
    return "container" in template and any((o.get("valueFrom") or {}).get("path") for o in outputs)


class _Reader:
    def __init__(self, library: dict[str, dict[str, dict]], secrets: list[dict[str, str]]):
        self.library = library
        self.secrets = secrets  # the workflow's imagePullSecrets: of every pod without its own
        self.steps: dict[str, StepFacts] = {}
        self.pipeline_file: str | None = None
        self.container: dict | None = None  # one task container, for the pipeline-wide facts
        self.control_image: str | None = None
        self.control_facts: dict[str, str] = {}

    def template(self, document: str, name: str) -> dict:
        try:
            return self.library[document][name]
        except KeyError:
            raise SpecError(f"template {name} not found in {document}") from None

    def resolve(self, task: dict, here: str) -> tuple[dict, str]:
        ref = task.get("templateRef")
        if ref:
            return self.template(ref["name"], ref["template"]), ref["name"]
        return self.template(here, task["template"]), here

    @staticmethod
    def argument(task: dict, name: str, place: str) -> str | None:
        for param in (task.get("arguments") or {}).get("parameters") or []:
            if param.get("name") == name:
                value = str(param.get("value", ""))
                return value.replace(PREFIX, place) if PREFIX in value else value
        return None

    def tasks(self, template: dict, here: str, place: str) -> list[tuple[dict, dict, str]]:
        """(task, its template, that template's document) of a DAG, with the parts of a cut DAG inlined."""
        out = []
        pending = [(template, here)]
        while pending:
            current, where = pending.pop()
            for task in reversed((current.get("dag") or {}).get("tasks") or []):
                target, there = self.resolve(task, where)
                if self.is_part(task, target, place):
                    pending.append((target, there))
                else:
                    out.append((task, target, there))
        out.reverse()
        return out

    def is_part(self, task: dict, target: dict, place: str) -> bool:
        same_place = self.argument(task, "prefix", place) in (None, place)
        return "dag" in target and same_place and "withParam" not in task and "when" not in task

    def block(self, template: dict, here: str, place: str, partial: bool) -> None:
        """The steps of a block (a DAG template and its parts) at `place`."""
        dag_tasks = (template.get("dag") or {}).get("tasks") or []
        ids: dict[str, str] = {}
        for task in dag_tasks:
            target, there = self.resolve(task, here)
            node = self.argument(task, "node", place)
            prefix = self.argument(task, "prefix", place)
            if "container" in target and node is not None and not _is_control(target):
                ids[task["name"]] = node
                self.task(target, node)
            elif "dag" in target and prefix not in (None, place):
                ids[task["name"]] = prefix
                self.composite(target, there, prefix)
            elif "dag" in target:  # a part of a cut block (its needs are partial), or the exit handler's guard
                self.block(target, there, place, partial=partial or "when" not in task)
            else:
                raise SpecError(f"task {task['name']} fits no shape transpile writes")
        for task in dag_tasks:
            step = self.steps.get(ids.get(task["name"], ""))
            if step is not None:
                depends = task.get("depends") or ""
                step.needs = tuple(ids[d] for d in depends.split(" && ") if d in ids)
                step.needs_partial = partial

    def task(self, target: dict, node: str) -> None:
        """A task step's facts, from its container template."""
        self.steps[node] = StepFacts("task", (), _task_facts(target) | from_template(target, self.secrets))
        self.note_container(target)

    def composite(self, template: dict, here: str, place: str) -> None:
        tasks = self.tasks(template, here, place)
        controls = {task["name"] for task, target, _ in tasks if _is_control(target)}
        for task, target, _ in tasks:
            if task["name"] in controls:
                self.control_image = target["container"].get("image")
                facts = from_template(target, self.secrets)
                self.control_facts = {f"control {key}": value for key, value in facts.items()}
        loops = [(task, target, there) for task, target, there in tasks if "withParam" in task]
        guarded = [
            (task, target, there)
            for task, target, there in tasks
            if "when" in task and any(f"tasks.{c}." in task["when"] for c in controls)
        ]
        if loops and controls:
            self.steps[place] = StepFacts("map")
            for task, target, there in loops:
                if "container" in target:  # a body of one task step: the loop runs its pod itself
                    self.task(target, self.argument(task, "node", place) or place)
                else:
                    self.block(target, there, place, partial=False)
        elif guarded:
            cases = [(self.argument(task, "prefix", place) or "", target, there) for task, target, there in guarded]
            names = ", ".join(prefix.rsplit("/", 1)[-1] for prefix, _, _ in cases)
            self.steps[place] = StepFacts("switch", facts={"cases": names})
            for prefix, target, there in cases:
                self.block(target, there, prefix, partial=False)
        else:
            self.steps[place] = StepFacts("parallel")
            for task, target, there in tasks:
                self.block(target, there, self.argument(task, "prefix", place) or place, partial=False)

    def note_container(self, template: dict) -> None:
        if self.container is None:
            self.container = template["container"]
            args = self.container.get("args") or []
            if "--pipeline" in args[:-1]:
                self.pipeline_file = args[args.index("--pipeline") + 1]


def _task_facts(template: dict) -> dict[str, str]:
    container = template["container"]
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    strategy = template.get("retryStrategy") or {}
    backoff = strategy.get("backoff") or {}
    env = container.get("env") or []
    return clean(
        {
            "image": container.get("image"),
            "resources": (
                (resources_fact(requests.get("cpu"), requests.get("memory"), limits.get("nvidia.com/gpu")) or "")
                + resources_extra(
                    requests.get("ephemeral-storage"),
                    {k: limits.get(k) for k in ("cpu", "memory", "ephemeral-storage")},
                )
            ).strip()
            or None,
            "retries": retries_fact(
                strategy.get("limit"), backoff.get("duration"), backoff.get("factor"), backoff.get("cap")
            ),
            "timeout": template.get("timeout"),
            "env": pairs({e["name"]: e.get("value", "") for e in env if "valueFrom" not in e}),
            "secrets": ", ".join(
                f"{e['name']} from {e['valueFrom']['secretKeyRef']['name']}/{e['valueFrom']['secretKeyRef']['key']}"
                for e in env
                if "secretKeyRef" in (e.get("valueFrom") or {})
            )
            or None,
            "node selector": pairs(template.get("nodeSelector")),
            "tolerations": compact(template.get("tolerations") or []),
        }
    )


def _pipeline_facts(main: dict, cron: dict | None, container: dict | None) -> dict[str, str]:
    metadata, spec = main["metadata"], main["spec"]
    annotations = metadata.get("annotations") or {}
    container = container or {}
    args = container.get("args") or []
    command = [*(container.get("command") or []), *args[: args.index("execute-node")]] if "execute-node" in args else []
    mount = next(iter(container.get("volumeMounts") or []), {}).get("mountPath", "")
    if spec.get("volumeClaimTemplates"):
        claim = spec["volumeClaimTemplates"][0]["spec"]
        size = ((claim.get("resources") or {}).get("requests") or {}).get("storage")
        volume = f"a claim per run ({size}, {(claim.get('accessModes') or [''])[0]}) at {mount}"
    else:
        claims = [
            v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or [] if "persistentVolumeClaim" in v
        ]
        volume = f"claim {claims[0] if claims else '-'} at {mount}"
    schedule = None
    if cron is not None:
        cron_spec = cron.get("spec") or {}
        crons = cron_spec.get("schedules") or [cron_spec.get("schedule", "")]
        schedule = schedule_fact(crons[0], cron_spec.get("timezone"), cron_spec.get("concurrencyPolicy"))
    ttl = (spec.get("ttlStrategy") or {}).get("secondsAfterCompletion")
    facts = {
        "name": metadata["name"],
        "description": annotations.get("workflows.argoproj.io/description"),
        "schedule": schedule,
        "namespace": metadata.get("namespace"),
        "service account": spec.get("serviceAccountName"),
        "parallelism": str(spec["parallelism"]) if spec.get("parallelism") is not None else None,
        "ttl": f"{ttl}s" if ttl is not None else None,
        "labels": pairs(metadata.get("labels")),
        "volume": volume,
        "command": " ".join(command) or None,
        "working dir": container.get("workingDir"),
        "security": annotations.get(SECURITY_ANNOTATION),
    }
    parameters = (spec.get("arguments") or {}).get("parameters") or []
    # transpile_cache is the run's cache mode, not a pipeline parameter (no pipeline may declare that name)
    facts |= {f"parameter {p['name']}": str(p.get("value", "")) for p in parameters if p["name"] != CACHE_PARAMETER}
    return clean(facts)
