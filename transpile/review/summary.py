"""What a pipeline means, as comparable facts: read from its execution plan, or back from a compiled Argo
spec (`transpile.review.spec_reader`), so that two versions can be compared by meaning (`transpile diff`).

Facts are short strings, written the same way from either source. A spec shows fewer facts than a plan
(pods read commands, returns and catalogs from the pipeline file), so each summary names the facts it
can see and a comparison looks only at the facts both sides see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from transpile.ir.names import node_id
from transpile.plan import model as p
from transpile.review import pod_facts

# Step facts a compiled spec shows (from its container templates and composite DAGs). Env values are not
# among them: the entrypoint applies them from the plan, so no user string meets Argo's templating.
SPEC_STEP_FACTS = frozenset(
    ["image", "resources", "retries", "timeout", "secrets", "node selector", "tolerations", "cases"]
    + ["service account", *pod_facts.FIELDS]
)
# A step inside a map has its timeout enforced by the entrypoint alone (a pod may run a batch of items), so
# a spec does not show it: it is the plan's `attempt timeout`.
PLAN_STEP_FACTS = SPEC_STEP_FACTS | {
    "env",
    "command",
    "returns",
    "catalog",
    "over",
    "as",
    "on",
    "attempt timeout",
    "cache",
}
# The order facts are reported in (a pipeline's `parameter NAME` facts come after `schedule`).
ORDER = {
    name: i
    for i, name in enumerate(
        [
            "command",
            "image",
            "resources",
            "retries",
            "timeout",
            "attempt timeout",
            "env",
            "secrets",
            "node selector",
            "tolerations",
            "service account",
            *pod_facts.FIELDS,
            "returns",
            "catalog",
            "cache",
            "over",
            "as",
            "on",
            "cases",
            "name",
            "description",
            "schedule",
            "parameter",
            "namespace",
            "service account",
            "parallelism",
            "ttl",
            "labels",
            "volume",
            "control image",
            *(f"control {key}" for key in pod_facts.FIELDS),
            "control service account",
            "security",
            "working dir",
        ]
    )
}


def fact_order(key: str) -> tuple[int, str]:
    return ORDER.get(key.split(" ", 1)[0] if key.startswith("parameter ") else key, len(ORDER)), key


@dataclass
class StepFacts:
    """The comparable facts of one step. `needs_partial`: the spec shows only some of its needs (a DAG
    cut into parts keeps only the needs inside each part)."""

    kind: str
    needs: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    needs_partial: bool = False


@dataclass
class Summary:
    """A pipeline's meaning: pipeline facts and its steps by node id, in declaration order."""

    name: str
    hash: str | None
    pipeline_file: str | None
    facts: dict[str, str]
    steps: dict[str, StepFacts]
    from_spec: bool

    @property
    def step_facts(self) -> frozenset[str]:
        return SPEC_STEP_FACTS if self.from_spec else PLAN_STEP_FACTS


# -- writing facts (shared by both sources) ---------------------------------------------------------------
def parameter_value(value: Any) -> str:
    """A parameter's default as Argo holds it: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def pairs(mapping: dict[str, Any] | None) -> str | None:
    return ", ".join(f"{k}={v}" for k, v in sorted(mapping.items())) if mapping else None


def resources_fact(cpu: Any, memory: Any, gpu: Any) -> str | None:
    parts = [f"cpu={cpu}" if cpu is not None else "", f"memory={memory}" if memory else "", f"gpu={gpu}" if gpu else ""]
    return " ".join(x for x in parts if x) or None


def retries_fact(limit: Any, backoff: str | None, factor: Any, cap: str | None) -> str | None:
    if not limit:
        return None
    text = str(limit)
    if backoff:
        text += f" (backoff {backoff}" + (f" x{factor}" if factor else "") + (f", at most {cap}" if cap else "") + ")"
    return text


def compact(items: Iterable[dict[str, Any]]) -> str | None:
    text = ", ".join(json.dumps(item, separators=(",", ":"), sort_keys=True) for item in items)
    return text or None


def clean(facts: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in facts.items() if v is not None}


# -- from the plan ----------------------------------------------------------------------------------------
def _task_facts(step: p.Step) -> dict[str, str]:
    settings = step.settings or p.Settings()
    command = f"python {step.python}" if step.python else f"shell {step.shell}" if step.shell is not None else "stub"
    res = settings.resources
    retries = settings.retries
    facts: dict[str, str | None] = {
        "command": command,
        "image": settings.image,
        "resources": _resources(res) if res else None,
        "retries": retries_fact(
            retries.limit,
            f"{retries.backoff}s" if retries.backoff else None,
            retries.factor if retries.factor != 1 else None,
            f"{retries.max_backoff}s" if retries.max_backoff else None,
        )
        if retries
        else None,
        "timeout": f"{settings.timeout}s" if settings.timeout else None,
        "env": pairs(settings.env),
        "secrets": ", ".join(f"{s.env} from {s.secret}/{s.key}" for s in settings.secrets or ()) or None,
        "node selector": pairs(settings.node_selector),
        "tolerations": compact(_toleration(t) for t in settings.tolerations or ()),
        "returns": ", ".join(step.returns) or None,
    } | pod_facts.from_settings(settings)
    if step.catalog is not None:
        facts["catalog"] = f"get [{', '.join(step.catalog.get)}] put [{', '.join(step.catalog.put)}]"
    cache = settings.cache
    if cache is not None:
        parts = [f"max_age {cache.max_age}s" if cache.max_age is not None else ""]
        parts += [f"key_files [{', '.join(cache.key_files)}]" if cache.key_files else ""]
        parts += [f"key_env [{', '.join(cache.key_env)}]" if cache.key_env else ""]
        facts["cache"] = " ".join(p for p in parts if p) or "on"
    return clean(facts)


def _resources(res: p.Resources) -> str | None:
    limits = res.limits or p.Limits()
    caps = {"cpu": limits.cpu, "memory": limits.memory, "ephemeral-storage": limits.ephemeral_storage}
    extra = pod_facts.resources_extra(res.ephemeral_storage, caps)
    return ((resources_fact(res.cpu, res.memory, res.gpu) or "") + extra).strip() or None


def _toleration(t: p.Toleration) -> dict[str, Any]:
    fields = (
        ("key", t.key),
        ("operator", t.operator),
        ("value", t.value),
        ("effect", t.effect),
        ("tolerationSeconds", t.toleration_seconds),
    )
    return {k: v for k, v in fields if v is not None}


def walk(plan: p.Plan) -> Iterator[p.Step]:
    """Every step of a plan, composites before their children, in declaration order; on_failure last."""
    blocks = [plan.steps] + ([plan.on_failure.steps] if plan.on_failure is not None else [])
    stack = [iter(block.values()) for block in reversed(blocks)]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        yield step
        children = [child for _, block in step.blocks() for child in block.values()]
        if children:
            stack.append(iter(children))


def step_facts(step: p.Step, in_map: bool = False) -> StepFacts:
    """The facts of one plan step (`in_map`: its timeout is the `attempt timeout`, which a spec does not show)."""
    where = step.path[:-1]
    needs = tuple(node_id(where + (n,)) for n in dict.fromkeys(step.needs))
    if step.is_task:
        facts = _task_facts(step)
        if in_map and "timeout" in facts:
            facts["attempt timeout"] = facts.pop("timeout")
    elif step.map is not None:
        facts = {"over": step.map.over, "as": step.map.as_}
    elif step.switch is not None:
        facts = {"on": step.switch.on, "cases": ", ".join(node_id((c,)) for c in step.switch.cases)}
    else:
        facts = {}
    return StepFacts(step.kind, needs, facts)


def from_plan(plan: p.Plan) -> Summary:
    """The summary of an execution plan."""
    in_map = {ident for ident, node in plan.nodes.items() if node.maps}
    steps = {step.id: step_facts(step, step.id in in_map) for step in walk(plan)}
    return Summary(plan.name, plan.hash, plan.deploy.pipeline_file, pipeline_facts(plan), steps, from_spec=False)


def pipeline_facts(plan: p.Plan) -> dict[str, str]:
    deploy, volume, schedule = plan.deploy, plan.deploy.volume, plan.schedule
    if volume.mode == "template":
        where = f"a claim per run ({volume.size}, {volume.access_mode}) at {volume.mount_path}"
    else:
        where = f"claim {volume.claim} at {volume.mount_path}"
    facts: dict[str, str | None] = {
        "name": plan.name,
        "description": plan.description,
        "schedule": schedule_fact(schedule.cron, schedule.timezone, schedule.concurrency_policy) if schedule else None,
        "namespace": deploy.namespace,
        "service account": deploy.service_account,
        "parallelism": str(deploy.parallelism) if deploy.parallelism is not None else None,
        "ttl": f"{deploy.ttl}s" if deploy.ttl is not None else None,
        "labels": pairs(plan.labels),
        "volume": where,
        "command": " ".join(deploy.command),
        "working dir": deploy.working_dir,
        "control image": plan.control.image if any(n.role != "task" for n in plan.nodes.values()) else None,
        "security": deploy.security if deploy.security != "baseline" else None,
    }
    if any(n.role != "task" for n in plan.nodes.values()):
        facts |= {f"control {k}": v for k, v in pod_facts.from_settings(plan.control).items()}
    facts |= {f"parameter {k}": parameter_value(v) for k, v in plan.parameters.items()}
    return clean(facts)


def schedule_fact(cron: str, timezone: str | None, policy: str | None) -> str:
    return cron + (f" ({timezone})" if timezone else "") + (f", {policy}" if policy else "")
