"""Prefect backend: an execution plan -> a Prefect 3 flow file, its prefect.yaml deployment and the
Kubernetes work pool's base job template that mounts the shared volume.

The flow file is wiring: the pipeline's shape as plain Prefect calls on `transpile.runtime.prefect_tasks`
(two tasks, a node and a control node, that run the entrypoint): dependencies through futures and
`wait_for`, branches submitted without waiting, maps as `.map()` over the instances the fan-out returns,
switches as a Python `if` on the case the select node returns (inside maps, each case's nodes map over
the instances that chose it). Every future is checked at the end, so any failed node fails the flow,
after `on_failure` has run. Caching is off (`cache_policy=NO_CACHE`).

Flavours (`--flavour`): `pod` (default) runs every node as a process in the flow's own pod, whose work
pool job template mounts the volume (the entrypoint applies each step's env from the plan); `job` runs
every node as its own Kubernetes Job (prefect-kubernetes `KubernetesJob`) carrying image, resources,
env, secrets, node selector, tolerations, the pod settings and the volume.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from typing import Any

from transpile.backends import kube
from transpile.backends.base import EmitOptions, Refusals
from transpile.backends.prefect_pod import flow_pod_variables, job_fields
from transpile.backends.pysource import comment_text, py, render
from transpile.backends.yaml_writer import dump_all
from transpile.ir.cron import every_seconds
from transpile.ir.graph import ON_FAILURE, Path, toposort
from transpile.ir.names import DottedNames, short_hash, step_key
from transpile.package_data import templates_dir
from transpile.plan.cache_mode import CACHE_PARAMETER, cached_steps
from transpile.plan.model import Plan, Pod, Settings, Step

FLAVOURS = ("pod", "job")
NAME_LIMIT = 200
# Names the flow function's body uses: a parameter called like one of them would shadow it.
_BODY_NAMES = {"start", "dict", "params"}
# Names Prefect reserves for a flow function's own arguments (Flow.__init__ refuses them).
PREFECT_RESERVED = {"wait_for", "return_state"}
# What `prefect deploy` reads as a placeholder in the deployment (prefect.utilities.templating, 3.8.8): it
# is replaced by a block, a variable, the deployer's environment (`{{ $NAME }}`) or a step output, or
# dropped. User values never go into prefect.yaml (parameters stay in the flow file); the deploy settings
# and the description that do reach the deployment are refused when they hold one.
PREFECT_PLACEHOLDER = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")


def safe_parameter(name: str) -> bool:
    """Whether a parameter can be a keyword argument of the flow function (else it goes to `**params`)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name not in _BODY_NAMES
        and name not in PREFECT_RESERVED
    )


class _FlowBuilder:
    def __init__(self, plan: Plan, flavour: str, refusals: Refusals):
        self.plan = plan
        self.flavour = flavour
        self.refusals = refusals
        self.settings: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.signatures: dict[str, str] = {}
        self.task_name = DottedNames(NAME_LIMIT)
        self.counter = 0

    # -- names and settings -------------------------------------------------------------------------
    def settings_of(self, step: Step | None, in_map: bool = False) -> str:
        """Name of the SPEC.settings entry of a task step (None: of the control nodes, named `control`); inside
        maps without a timeout (one task run may run a batch of items: the entrypoint enforces each attempt's)."""
        settings = (step.settings if step is not None else None) or self.plan.control
        options: dict[str, Any] = {}
        retries = settings.retries
        if retries is not None and retries.limit:
            options["retries"] = retries.limit
            options["retry_delay_seconds"] = retries.delays()
        if settings.timeout and not in_map:
            options["timeout_seconds"] = settings.timeout
        pod = self.pod_settings(settings, step) if self.flavour == "job" else {}
        if step is None:  # control nodes have their own entry, which the flow's template names
            self.settings["control"] = (options, pod)
            return "control"
        signature = json.dumps([options, pod])
        if signature not in self.signatures:
            self.signatures[signature] = f"task-{short_hash(signature)}"
            self.settings[self.signatures[signature]] = (options, pod)
        return self.signatures[signature]

    def pod_settings(self, settings: Settings, step: Step | None) -> dict[str, Any]:
        """A Job's settings (flavour `job`): image, env, secrets, resources, node selector, tolerations."""
        # control nodes run the flow pod's image, whose absence `flow_image` refuses once
        image = settings.image if step is None else self.refusals.require_image(settings.image, step)
        pod: dict[str, Any] = {"image": image}
        if settings.env:
            pod["env"] = dict(settings.env)
        if settings.secrets:
            pod["secrets"] = [
                {"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}}
                for s in settings.secrets
            ]
        found = kube.resources(settings)
        if found:
            pod["resources"] = found
        if settings.node_selector:
            pod["nodeSelector"] = dict(settings.node_selector)
        if settings.tolerations:
            pod["tolerations"] = kube.tolerations(settings)
        return pod | job_fields(settings)

    # -- the flow body ------------------------------------------------------------------------------
    def variable(self, stem: str) -> str:
        """A fresh local variable name for generated code (never derived from user strings)."""
        self.counter += 1
        return f"{stem}_{self.counter}"

    def block(
        self, lines: list[str], indent: int, path: Path, steps: Mapping[str, Step], entry: str, instances: str | None
    ) -> list[str]:
        """Emit a block in topological order; returns the expressions of its leaves' futures."""
        order = toposort(list(steps), {name: [d for d in step.needs if d in steps] for name, step in steps.items()})
        for name in order:
            step = steps[name]
            wait = " + ".join(f"f[{py(self.task_name(path + (dep,)))}]" for dep in dict.fromkeys(step.needs)) or entry
            self.step(lines, indent, path + (name,), step, wait, instances)
        needed = {dep for step in steps.values() for dep in step.needs}
        return [f"f[{py(self.task_name(path + (name,)))}]" for name in order if name not in needed]

    def step(self, lines: list[str], indent: int, path: Path, step: Step, wait: str, instances: str | None) -> None:
        pad = "    " * indent
        key = py(self.task_name(path))
        where = f", instances={instances}" if instances else ""
        if step.is_task:
            settings = py(self.settings_of(step, in_map=instances is not None))
            lines.append(f"{pad}f[{key}] = run.node({key}, {py(step.id)}, {settings}, wait_for={wait}{where})")
            return
        if step.map is not None:
            items = py(self.task_name(path, "items"))
            listed = self.variable("instances")
            lines.append(f"{pad}f[{items}], {listed} = run.fan_out({items}, {py(step.id)}, wait_for={wait}{where})")
            lines.append(f"{pad}f[{key}] = list(f[{items}])")
            leaves = self.block(lines, indent, path, step.map.steps, f"f[{items}]", listed)
            for leaf in leaves:
                lines.append(f"{pad}f[{key}] += {leaf}")
            return
        if step.parallel is not None:
            lines.append(f"{pad}f[{key}] = list({wait})")
            for branch, blk in step.parallel.items():
                for leaf in self.block(lines, indent, path + (branch,), blk.steps, wait, instances):
                    lines.append(f"{pad}f[{key}] += {leaf}")
            return
        assert step.switch is not None
        select = py(self.task_name(path, "select"))
        cases_var = self.variable("chosen")
        lines.append(f"{pad}f[{select}], {cases_var} = run.route({select}, {py(step.id)}, wait_for={wait}{where})")
        lines.append(f"{pad}f[{key}] = list(f[{select}])")
        first = True
        for case, blk in step.switch.cases.items():
            case_key = py(step_key(case))
            if instances:
                subset = f"{cases_var}.get({case_key}, [])"
                for leaf in self.block(lines, indent, path + (case,), blk.steps, f"f[{select}]", subset):
                    lines.append(f"{pad}f[{key}] += {leaf}")
                continue
            lines.append(f"{pad}{'if' if first else 'elif'} {case_key} in {cases_var}:")
            first = False
            body: list[str] = []
            for leaf in self.block(body, indent + 1, path + (case,), blk.steps, f"f[{select}]", None):
                body.append(f"{pad}    f[{key}] += {leaf}")
            lines.extend(body or [f"{pad}    pass"])

    # -- files --------------------------------------------------------------------------------------
    def signature(self) -> tuple[str, str]:
        """The flow function's parameters and the dict expression that collects them: every safe name is
        a keyword argument; the others (Python keywords, Prefect's reserved names, names the body uses)
        are taken through `**params`, which is also how a deployment passes them (`parameters()`)."""
        parameters = self.plan.parameters
        safe = [n for n in parameters if safe_parameter(n)]
        unsafe = {n: v for n, v in parameters.items() if not safe_parameter(n)}
        parts = [f"{n}: Any = {py(parameters[n])}" for n in safe]
        if cached_steps(self.plan):  # the run's cache mode: on, off, refresh=STEP,... (a flow parameter)
            parts.append(f'{CACHE_PARAMETER}: str = "on"')
        collected = [f"{py(n)}: {n}" for n in safe]
        if unsafe or not parameters:
            parts.append("**params: Any")
            collected.append(f"**{py(unsafe)}, **params" if unsafe else "**params")
        return ", ".join(parts), "{" + ", ".join(collected) + "}"

    def function_name(self) -> str:
        name = self.plan.name.replace("-", "_")
        return name if name.isidentifier() and not keyword.iskeyword(name) else f"flow_{name}"

    def flow_file(self) -> str:
        plan = self.plan
        deploy = plan.deploy
        body: list[str] = []
        self.block(body, 0, (), plan.steps, "[]", None)
        on_failure: list[str] = []
        if plan.on_failure is not None:
            self.block(on_failure, 0, (ON_FAILURE,), plan.on_failure.steps, "[]", None)
        self.settings_of(None)
        signature, params_dict = self.signature()
        context = {
            "flavour": self.flavour,
            "source_comment": comment_text(deploy.pipeline_file),
            "pipeline_name": plan.name,
            "hash": plan.hash,
            "hash_literal": py(plan.hash),
            "max_tasks_per_map": py(plan.deploy.max_tasks_per_map),
            "pipeline_file": py(deploy.pipeline_file),
            "store": py(deploy.volume.mount_path),
            "command": py(list(deploy.command)),
            "workdir": py(deploy.working_dir),
            "namespace": py(deploy.namespace),
            "service_account": py(deploy.service_account),
            "labels": py(dict(plan.labels)),
            "claim": py(deploy.volume.claim),
            "settings": [(py(n), py(o), py(p)) for n, (o, p) in self.settings.items()],
            "body": body or ["pass"],
            "on_failure": on_failure,
            "flow_name": py(plan.name),
            "description": py(plan.description or f"transpile pipeline {plan.name}"),
            "function": self.function_name(),
            "signature": signature,
            "params_dict": params_dict,
            "cache_parameter": CACHE_PARAMETER if cached_steps(plan) else None,
        }
        return render("prefect_flow.py.j2", context)

    def flow_image(self) -> str:
        """The image of the flow's pod (and of the control nodes): the pipeline's default image."""
        image = self.plan.control.image
        if not image:
            self.refusals.unsupported(
                "the flow's pod needs an image",
                doc=("defaults",),
                hint="set `defaults.image` in the pipeline or `image` in the deploy config",
            )
        return image or ""

    def refuse_placeholders(self) -> None:
        """Refuse what `prefect deploy` would rewrite: a placeholder in a string the deployment carries."""
        deploy = self.plan.deploy
        found = {
            "the deploy config's `working_dir`": deploy.working_dir,
            "the deploy config's `volume.mount_path`": deploy.volume.mount_path,
        }
        for what, value in found.items():
            if value and PREFECT_PLACEHOLDER.search(value):
                self.refusals.unsupported(
                    f"{what} holds {PREFECT_PLACEHOLDER.search(value).group()!r}, which `prefect deploy` would "
                    "replace (by a variable, the deployer's environment or nothing)",
                    hint="Prefect has no escaping for '{{ name }}' in a deployment",
                )
        description = self.plan.description
        if description and PREFECT_PLACEHOLDER.search(description):
            self.refusals.unsupported(
                f"the description holds {PREFECT_PLACEHOLDER.search(description).group()!r}, which `prefect deploy` "
                "would replace (by a variable, the deployer's environment or nothing)",
                doc=("description",),
                hint="write it without '{{ name }}': Prefect has no escaping in a deployment",
            )

    def schedules(self) -> list[dict[str, Any]]:
        """The deployment's schedule: a cron, or an interval in seconds for `@every` (Prefect reads no
        `@every` cron)."""
        schedule = self.plan.schedule
        if schedule is None:
            return []
        seconds = every_seconds(schedule.cron)
        entry: dict[str, Any] = {"cron": schedule.cron} if seconds is None else {"interval": seconds}
        if schedule.timezone:
            entry["timezone"] = schedule.timezone
        return [entry]

    def deployment(self, flow_file: str) -> str:
        """prefect.yaml: one deployment on a Kubernetes work pool whose job variables mount the volume. It
        holds no parameters and no description: the flow function's defaults and its `@flow` description give
        them, as Python literals that `prefect deploy` does not template."""
        plan = self.plan
        deploy = plan.deploy
        volume = deploy.volume
        self.refuse_placeholders()
        variables: dict[str, Any] = {"image": self.flow_image()}
        if deploy.namespace:
            variables["namespace"] = deploy.namespace
        control = plan.control
        if control.service_account or deploy.service_account:
            variables["service_account_name"] = control.service_account or deploy.service_account
        extra = control.pod or Pod()
        variables["volumes"] = [{"name": "store", "persistentVolumeClaim": {"claimName": volume.claim}}]
        variables["volumes"] += list(extra.volumes)
        variables["volume_mounts"] = [{"name": "store", "mountPath": volume.mount_path}]
        variables["volume_mounts"] += list(extra.volume_mounts)
        variables.update(flow_pod_variables(control, self.refusals))
        document = {
            "name": f"transpile-{plan.name}",
            "prefect-version": "3.8.8",
            "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": deploy.working_dir or "/app"}}],
            "deployments": [
                {
                    "name": plan.name,
                    "entrypoint": f"{flow_file}:{self.function_name()}",
                    "work_pool": {"name": "transpile-kubernetes", "job_variables": variables},
                }
            ],
        }
        if plan.schedule is not None:
            deployment = document["deployments"][0]
            deployment["schedules"] = self.schedules()
            if plan.schedule.concurrency_policy == "Forbid":
                deployment["concurrency_limit"] = 1
        header = (
            f"# Generated by transpile from {comment_text(deploy.pipeline_file)}; do not edit by hand.\n"
            "# Create the work pool once: prefect work-pool create transpile-kubernetes --type kubernetes \\\n"
            "#   --base-job-template base-job-template.json\n"
        )
        return dump_all([document], header)


def base_job_template() -> str:
    """A Kubernetes work pool base job template like Prefect's default, plus `volumes`/`volume_mounts`."""
    text = (templates_dir() / "prefect_base_job_template.json").read_text(encoding="utf-8")
    json.loads(text)  # fail loudly on a broken template file
    return text


class PrefectBackend:
    """`transpile compile -t prefect [--flavour pod|job]`: a flow file, prefect.yaml, a base job template."""

    name = "prefect"
    suffix = ".py"

    def emit(self, plan: Plan, options: EmitOptions) -> dict[str, str]:
        refusals = Refusals(self.name)
        flavour = refusals.flavour(options.flavour, FLAVOURS, "Prefect")
        refusals.existing_claim_only(plan, "Prefect")
        builder = _FlowBuilder(plan, flavour, refusals)
        flow_file = f"{plan.name.replace('-', '_')}_flow.py"
        files = {
            flow_file: builder.flow_file(),
            "prefect.yaml": builder.deployment(flow_file),
            "base-job-template.json": base_job_template(),
        }
        refusals.check()
        return files
