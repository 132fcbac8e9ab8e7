"""Prefect backend: a compiled pipeline -> a Prefect 3 flow file, its prefect.yaml deployment and the
Kubernetes work pool's base job template that mounts the shared volume.

The flow is plain Prefect: two tasks (a node, a control node) that run the entrypoint, dependencies
through futures and `wait_for`, branches submitted without waiting, maps as `.map()` over the instances
the fan-out returns, switches as a Python `if` on the case the select node returns (inside maps, each
case's nodes map over the instances that chose it). Every future is checked at the end, so any failed
node fails the flow, after `on_failure` has run. Caching is off (`cache_policy=NO_CACHE`).

Placement (`--flavour`): `pod` (default) runs every node as a process in the flow's own pod, whose work
pool job template mounts the volume; `job` runs every node as its own Kubernetes Job (prefect-kubernetes
`KubernetesJob`) carrying image, resources, env, secrets, node selector, tolerations and the volume.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Mapping
from typing import Any

from transpile.backends import kube
from transpile.backends.base import EmitOptions, pipeline_file
from transpile.backends.pysource import comment_text, py, render
from transpile.backends.yaml_writer import dump_all
from transpile.compiler import Compiled
from transpile.config import DeployConfig
from transpile.errors import Diagnostic, TranspileError
from transpile.ir.graph import ON_FAILURE, Path, toposort
from transpile.ir.models import Settings, Step
from transpile.ir.names import DottedNames, node_id, short_hash, step_key
from transpile.resources import templates_dir

PLACEMENTS = ("pod", "job")
NAME_LIMIT = 200
# Names the flow function's body uses: a parameter called like one of them would shadow it.
_BODY_NAMES = {"start", "dict", "params"}


def retry_delays(backoff: int, factor: int, cap: int | None, limit: int) -> list[int]:
    """Prefect's retry_delay_seconds list: backoff * factor^n, capped."""
    delays = []
    for attempt in range(limit):
        delay = backoff * (factor**attempt)
        delays.append(min(delay, cap) if cap else delay)
    return delays


class _FlowBuilder:
    def __init__(self, compiled: Compiled, config: DeployConfig, placement: str):
        self.compiled = compiled
        self.pipeline = compiled.pipeline
        self.config = config
        self.placement = placement
        self.settings: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.signatures: dict[str, str] = {}
        self.task_name = DottedNames(NAME_LIMIT)
        self.problems: list[Diagnostic] = []
        self.default_image = self.pipeline.defaults.image or config.image
        self.counter = 0

    # -- names and settings -------------------------------------------------------------------------
    def settings_of(self, step: Step | None) -> str:
        settings = step.settings() if step is not None else Settings(image=self.default_image)
        options: dict[str, Any] = {}
        retries = settings.retries
        if retries is not None and retries.limit:
            options["retries"] = retries.limit
            options["retry_delay_seconds"] = retry_delays(
                retries.backoff, retries.factor, retries.max_backoff, retries.limit
            )
        if settings.timeout:
            options["timeout_seconds"] = settings.timeout
        pod = self.pod_settings(settings) if self.placement == "job" else {}
        if step is None:  # control nodes have their own entry, which the flow's template names
            self.settings["control"] = (options, pod)
            return "control"
        signature = json.dumps([options, pod])
        if signature not in self.signatures:
            self.signatures[signature] = f"task-{short_hash(signature)}"
            self.settings[self.signatures[signature]] = (options, pod)
        return self.signatures[signature]

    def pod_settings(self, settings: Settings) -> dict[str, Any]:
        image = settings.image or self.config.image or self.default_image
        if not image:
            self.problems.append(Diagnostic("no image for a step", hint="set `image` in the pipeline or deploy config"))
        pod: dict[str, Any] = {"image": image or "missing"}
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
        return pod

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
            settings = py(self.settings_of(step))
            lines.append(f"{pad}f[{key}] = run.node({key}, {py(node_id(path))}, {settings}, wait_for={wait}{where})")
            return
        if step.map is not None:
            items = py(self.task_name(path, "items"))
            listed = self.variable("instances")
            lines.append(
                f"{pad}f[{items}], {listed} = run.fan_out({items}, {py(node_id(path))}, wait_for={wait}{where})"
            )
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
        lines.append(
            f"{pad}f[{select}], {cases_var} = run.route({select}, {py(node_id(path))}, wait_for={wait}{where})"
        )
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
        """The flow function's parameters and the dict expression that collects them."""
        names = list(self.pipeline.parameters)
        unsafe = [n for n in names if keyword.iskeyword(n) or n.startswith("_") or n in _BODY_NAMES]
        if unsafe or not names:
            defaults = py(dict(self.pipeline.parameters))
            return "**params: Any", f"{{**{defaults}, **params}}"
        parts = [f"{n}: Any = {py(v)}" for n, v in self.pipeline.parameters.items()]
        return ", ".join(parts), "{" + ", ".join(f"{py(n)}: {n}" for n in names) + "}"

    def workdir(self) -> str:
        import os

        return self.config.working_dir or os.getcwd()

    def store(self) -> str:
        if (
            self.placement == "pod"
            and "mount_path" not in self.config.volume.model_fields_set
            and not (self.config.working_dir)
        ):
            return f"{self.workdir().rstrip('/')}/.transpile/store"
        return self.config.volume.mount_path

    def function_name(self) -> str:
        name = self.pipeline.name.replace("-", "_")
        return name if name.isidentifier() and not keyword.iskeyword(name) else f"flow_{name}"

    def flow_file(self) -> str:
        body: list[str] = []
        self.block(body, 0, (), self.pipeline.steps, "[]", None)
        on_failure: list[str] = []
        if self.pipeline.on_failure is not None:
            self.block(on_failure, 0, (ON_FAILURE,), self.pipeline.on_failure.steps, "[]", None)
        self.settings_of(None)
        if self.problems:
            raise TranspileError(self.problems)
        signature, params_dict = self.signature()
        source = pipeline_file(self.compiled, self.config)
        labels = {"app.kubernetes.io/managed-by": "transpile", "transpile.io/pipeline": self.pipeline.name}
        context = {
            "placement": self.placement,
            "source_comment": comment_text(source),
            "pipeline_name": self.pipeline.name,
            "hash": self.compiled.hash,
            "hash_literal": py(self.compiled.hash),
            "pipeline_file": py(source),
            "store": py(self.config.volume.mount_path),
            "command": py(list(self.config.command)),
            "workdir": py(self.config.working_dir),
            "namespace": py(self.config.namespace),
            "service_account": py(self.config.service_account),
            "labels": py(labels | dict(self.config.labels)),
            "claim": py(self.config.volume.claim),
            "settings": [(py(n), py(o), py(p)) for n, (o, p) in self.settings.items()],
            "body": body or ["pass"],
            "on_failure": on_failure,
            "flow_name": py(self.pipeline.name),
            "description": py(self.pipeline.description),
            "function": self.function_name(),
            "signature": signature,
            "params_dict": params_dict,
        }
        return render("prefect_flow.py.j2", context)

    def deployment(self, flow_file: str) -> str:
        """prefect.yaml: one deployment on a Kubernetes work pool whose job variables mount the volume."""
        config = self.config
        volume = config.volume
        variables: dict[str, Any] = {"image": self.default_image or "missing"}
        if config.namespace:
            variables["namespace"] = config.namespace
        if config.service_account:
            variables["service_account_name"] = config.service_account
        variables["volumes"] = [{"name": "store", "persistentVolumeClaim": {"claimName": volume.claim}}]
        variables["volume_mounts"] = [{"name": "store", "mountPath": volume.mount_path}]
        document = {
            "name": f"transpile-{self.pipeline.name}",
            "prefect-version": "3.8.8",
            "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": config.working_dir or "/app"}}],
            "deployments": [
                {
                    "name": self.pipeline.name,
                    "description": self.pipeline.description or f"transpile pipeline {self.pipeline.name}",
                    "entrypoint": f"{flow_file}:{self.function_name()}",
                    "parameters": dict(self.pipeline.parameters),
                    "work_pool": {"name": "transpile-kubernetes", "job_variables": variables},
                }
            ],
        }
        schedule = self.pipeline.schedule
        if schedule is not None:
            deployment = document["deployments"][0]
            entry = {"cron": schedule.cron}
            if schedule.timezone:
                entry["timezone"] = schedule.timezone
            deployment["schedules"] = [entry]
            if schedule.concurrency_policy == "Forbid":
                deployment["concurrency_limit"] = 1
        source = comment_text(pipeline_file(self.compiled, self.config))
        header = (
            f"# Generated by transpile from {source}; do not edit by hand.\n"
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

    reads_plan = False  # transitional: emits from (compiled, config) until moved onto the plan
    name = "prefect"
    suffix = ".py"

    def emit(self, compiled: Compiled, config: DeployConfig, options: EmitOptions) -> dict[str, str]:
        placement = options.flavour or "pod"
        if placement not in PLACEMENTS:
            raise TranspileError(
                [Diagnostic(f"unknown Prefect placement '{placement}'", hint=f"choose one of {', '.join(PLACEMENTS)}")]
            )
        if config.volume.mode == "template":
            raise TranspileError([Diagnostic("volume.mode 'template' is Argo-only; use an existing claim")])
        builder = _FlowBuilder(compiled, config, placement)
        flow_file = f"{compiled.pipeline.name.replace('-', '_')}_flow.py"
        return {
            flow_file: builder.flow_file(),
            "prefect.yaml": builder.deployment(flow_file),
            "base-job-template.json": base_job_template(),
        }
