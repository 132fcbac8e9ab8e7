"""Airflow backend: an execution plan -> one Airflow 3 DAG file (rendered from templates/airflow_dag.py.j2).

Mapping: each node is a KubernetesPodOperator running the entrypoint (`--flavour local`: a BashOperator
running it as a local command); every composite is a TaskGroup. A map is a fan-out node whose XCom lists
the item instances, an `instances` task that flattens them, and the body's nodes mapped over that list
with `.partial(...).expand(...)`; a `_done` marker (none_failed_min_one_success) lets an empty map count
as done while a skipped one stays skipped. A switch is a select node, a `@task.branch` that follows the
chosen case, and a `_join` marker (none_failed_min_one_success); inside a map, where Airflow cannot branch
per item, every case's nodes run and the entrypoint skips those of cases not chosen. `on_failure` starts
with trigger_rule one_failed downstream of every other task.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transpile.backends import kube
from transpile.backends.airflow_pod import pod_fields
from transpile.backends.base import EmitOptions, Refusals
from transpile.backends.pysource import comment_text, jinja_inert, py, render
from transpile.ir.graph import ON_FAILURE, Path
from transpile.ir.names import DottedNames, fit, short_hash, step_key
from transpile.plan.cache_mode import CACHE_PARAMETER, cached_steps
from transpile.plan.model import Plan, Step

TASK_ID_LIMIT = 250
GROUP_ID_LIMIT = 199  # validate_group_key: "less than 200 characters"
FLAVOURS = ("kubernetes", "local")
# Python allows 20 nested blocks in a function or module (CO_MAXBLOCKS); `with DAG` is one of them.
MAX_GROUP_NESTING = 19
NONE_FAILED_MIN_ONE = "none_failed_min_one_success"


@dataclass
class _Context:
    """Where a block is emitted: its instances list when inside maps, the tasks its roots follow."""

    instances: str | None
    entry: list[str]
    indent: int
    root_trigger: str | None = None


@dataclass
class _Ends:
    """A step's first tasks (where its upstream connects) and last tasks (what its downstream waits for)."""

    entry: list[str] = field(default_factory=list)
    exit: list[str] = field(default_factory=list)


def tmpl(value: Any) -> Any:
    """Make every string in a value inert for Airflow's Jinja rendering of templated fields."""
    if isinstance(value, str):
        return jinja_inert(value)
    if isinstance(value, dict):
        return {k: tmpl(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tmpl(v) for v in value]
    return value


class _DagBuilder:
    def __init__(self, plan: Plan, flavour: str, refusals: Refusals):
        self.plan = plan
        self.flavour = flavour
        self.refusals = refusals
        self.lines: list[str] = []
        self.settings: dict[str, list[tuple[str, str]]] = {}
        self.signatures: dict[str, str] = {}
        self.task_id = DottedNames(TASK_ID_LIMIT)  # full task ids, group prefixes included
        self.control_fields: list[tuple[str, str]] | None = None
        self.cached = bool(cached_steps(plan))  # whether the DAG has the cache mode's run parameter

    # -- ids and settings ---------------------------------------------------------------------------
    @staticmethod
    def group_id(path: Path) -> str:
        """TaskGroup id (`^[\\w-]+$`, no dots): the path's keys joined by `_`, which keys never contain."""
        full = "_".join("on_failure" if s == ON_FAILURE else step_key(s) for s in path)
        return fit(full, GROUP_ID_LIMIT, salt=full)

    def settings_of(self, step: Step | None, in_map: bool = False) -> str:
        """Name of the SETTINGS entry for a task step's settings (None: a control node's); inside maps without
        an `execution_timeout` (one task instance may run a batch of items: the entrypoint enforces each
        attempt's timeout)."""
        if step is None:
            if self.control_fields is None:  # once: a missing image is refused once, not per control node
                self.control_fields = self.settings_fields(None)
            fields = self.control_fields
        else:
            fields = self.settings_fields(step)
            if in_map:
                fields = [(name, value) for name, value in fields if name != "execution_timeout"]
        signature = json.dumps(fields)
        if signature not in self.signatures:
            name = "control" if step is None else f"task-{short_hash(signature)}"
            self.signatures[signature] = name
            self.settings[name] = fields
        return self.signatures[signature]

    def settings_fields(self, step: Step | None) -> list[tuple[str, str]]:
        """The operator arguments of a task step (None: of a control node), as Python source."""
        settings = (step.settings if step is not None else None) or self.plan.control
        fields: list[tuple[str, str]] = []
        local = self.flavour == "local"
        if not local:
            fields.append(("image", py(tmpl(self.refusals.require_image(settings.image, step)))))
        if settings.env:
            fields.append(("env_vars", py(tmpl(dict(settings.env)))))
        if not local:
            if settings.secrets:
                secrets = ", ".join(
                    f'Secret("env", {py(s.env)}, {py(s.secret)}, {py(s.key)})' for s in settings.secrets
                )
                fields.append(("secrets", f"[{secrets}]"))
            found = kube.resources(settings)
            if found:
                requests, limits = found.get("requests"), found.get("limits")
                fields.append(
                    (
                        "container_resources",
                        f"k8s.V1ResourceRequirements(requests={py(tmpl(requests))}, limits={py(tmpl(limits))})",
                    )
                )
            if settings.node_selector:
                fields.append(("node_selector", py(tmpl(dict(settings.node_selector)))))
            items = [
                "k8s.V1Toleration(" + ", ".join(f"{kube.snake(k)}={py(v)}" for k, v in t.items()) + ")"
                for t in kube.tolerations(settings)
            ]
            if items:
                fields.append(("tolerations", f"[{', '.join(items)}]"))
            fields += pod_fields(settings, dict(self.plan.labels), control=step is None)
        retries = settings.retries
        if retries is not None and retries.limit:
            fields.append(("retries", py(retries.limit)))
            fields.append(("retry_delay", f"datetime.timedelta(seconds={retries.backoff})"))
            if retries.factor > 1:
                fields.append(("retry_exponential_backoff", py(float(retries.factor))))
            if retries.max_backoff:
                fields.append(("max_retry_delay", f"datetime.timedelta(seconds={retries.max_backoff})"))
        if settings.timeout:
            fields.append(("execution_timeout", f"datetime.timedelta(seconds={settings.timeout})"))
        return fields

    # -- statements ---------------------------------------------------------------------------------
    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def node(self, ctx: _Context, task_id: str, step: Step, control: bool = False, trigger: str | None = None) -> None:
        """A task step's node, or (control) the fan-out or select node of a map or switch step (a fan-out is
        told the running Airflow's `max_map_length`: its items are batched to fit)."""
        settings = self.settings_of(None if control else step, in_map=ctx.instances is not None)
        extra = f", trigger_rule={py(trigger)}" if trigger else ""
        flag = (", control=True, fan_out=True" if step.map is not None else ", control=True") if control else ""
        call = (
            f"mapped_node({py(task_id)}, {py(step.id)}, SETTINGS[{py(settings)}], {ctx.instances}{flag}{extra})"
            if ctx.instances
            else f"node({py(task_id)}, {py(step.id)}, SETTINGS[{py(settings)}]{flag}{extra})"
        )
        self.emit(ctx.indent, f"tasks[{py(task_id)}] = {call}")

    def marker(self, ctx: _Context, task_id: str, trigger: str | None) -> None:
        extra = f", trigger_rule={py(trigger)}" if trigger else ""
        self.emit(ctx.indent, f"tasks[{py(task_id)}] = EmptyOperator(task_id={py(task_id)}{extra})")

    def edges(self, ctx: _Context, upstream: list[str], downstream: list[str]) -> None:
        if not upstream or not downstream:
            return
        left = (
            f"tasks[{py(upstream[0])}]"
            if len(upstream) == 1
            else "[" + ", ".join(f"tasks[{py(u)}]" for u in upstream) + "]"
        )
        for target in downstream:
            self.emit(ctx.indent, f"{left} >> tasks[{py(target)}]")

    def block(self, path: Path, steps: Mapping[str, Step], ctx: _Context) -> list[str]:
        """Emit a block's steps; returns the task ids its downstream must wait for (its leaves' exits)."""
        ends: dict[str, _Ends] = {}
        for name, step in steps.items():
            trigger = ctx.root_trigger if not step.needs else None
            ends[name] = self.step(path + (name,), step, ctx, trigger)
        for name, step in steps.items():
            upstream = [t for dep in dict.fromkeys(step.needs) for t in ends[dep].exit] if step.needs else ctx.entry
            self.edges(ctx, upstream, ends[name].entry)
        needed = {dep for step in steps.values() for dep in step.needs}
        return [t for name in steps if name not in needed for t in ends[name].exit]

    def step(self, path: Path, step: Step, ctx: _Context, trigger: str | None) -> _Ends:
        if step.is_task:
            task_id = self.task_id(path)
            self.node(ctx, task_id, step, trigger=trigger)
            return _Ends([task_id], [task_id])
        if ctx.indent == MAX_GROUP_NESTING:
            self.refusals.unsupported(
                f"composites nest more than {MAX_GROUP_NESTING} deep here (on_failure counts as one); an Airflow "
                f"DAG file nests TaskGroups at most {MAX_GROUP_NESTING} deep (Python allows 20 nested blocks)",
                path,
                hint="flatten the pipeline: put the inner steps side by side in one block, joined by `needs`",
            )
        self.emit(ctx.indent, f"with TaskGroup({py(self.group_id(path))}, prefix_group_id=False):")
        inner = _Context(ctx.instances, [], ctx.indent + 1)
        if step.map is not None:
            items, listed, done = (self.task_id(path, s) for s in ("items", "instances", "done"))
            self.node(inner, items, step, control=True, trigger=trigger)
            mapped = "True" if ctx.instances else "False"
            self.emit(
                inner.indent,
                f"tasks[{py(listed)}] = instances.override(task_id={py(listed)})(tasks[{py(items)}].output, {mapped})",
            )
            body = _Context(f"tasks[{py(listed)}]", [listed], inner.indent)
            leaves = self.block(path, step.map.steps, body)
            self.marker(inner, done, NONE_FAILED_MIN_ONE)
            self.edges(inner, [items, *leaves] if leaves else [items, listed], [done])
            return _Ends([items], [done])
        if step.parallel is not None:
            start, done = self.task_id(path, "start"), self.task_id(path, "done")
            self.marker(inner, start, trigger)
            leaves: list[str] = []
            for branch, blk in step.parallel.items():
                branch_ctx = _Context(ctx.instances, [start], inner.indent)
                found = self.block(path + (branch,), blk.steps, branch_ctx)
                leaves += found or [start]
            self.marker(inner, done, None)
            self.edges(inner, list(dict.fromkeys(leaves)), [done])
            return _Ends([start], [done])
        assert step.switch is not None
        select, join = self.task_id(path, "select"), self.task_id(path, "join")
        self.node(inner, select, step, control=True, trigger=trigger)
        follow = [select]
        if not ctx.instances:  # inside maps every case runs and the entrypoint skips the unchosen ones
            choose = self.task_id(path, "choose")
            routes = {
                step_key(case): self.case_entries(path + (case,), blk.steps) or [join]
                for case, blk in step.switch.cases.items()
            }
            call = f"choose.override(task_id={py(choose)})(tasks[{py(select)}].output, {py(routes)})"
            self.emit(inner.indent, f"tasks[{py(choose)}] = {call}")
            follow = [choose]
        leaves: list[str] = []
        for case, blk in step.switch.cases.items():
            leaves += self.block(path + (case,), blk.steps, _Context(ctx.instances, follow, inner.indent))
        self.marker(inner, join, NONE_FAILED_MIN_ONE)
        self.edges(inner, [*follow, *leaves], [join])
        return _Ends([select], [join])

    def case_entries(self, path: Path, steps: Mapping[str, Step]) -> list[str]:
        """Task ids where a case block starts (its root steps' first tasks)."""
        roots = []
        for name, step in steps.items():
            if step.needs:
                continue
            child = path + (name,)
            if step.is_task:
                roots.append(self.task_id(child))
            elif step.map is not None:
                roots.append(self.task_id(child, "items"))
            elif step.parallel is not None:
                roots.append(self.task_id(child, "start"))
            else:
                roots.append(self.task_id(child, "select"))
        return roots

    def build(self) -> list[str]:
        self.block((), self.plan.steps, _Context(None, [], 0))
        if self.plan.on_failure is not None:
            self.emit(0, "main_tasks = list(tasks.values())")
            self.emit(0, f"with TaskGroup({py(self.group_id((ON_FAILURE,)))}, prefix_group_id=False):")
            ctx = _Context(None, [], 1, root_trigger="one_failed")
            self.block((ON_FAILURE,), self.plan.on_failure.steps, ctx)
            for root in self.case_entries((ON_FAILURE,), self.plan.on_failure.steps):
                self.emit(0, f"main_tasks >> tasks[{py(root)}]")
            # on_failure's tasks are leaves that succeed: without this, a failed pipeline's run would too.
            self.emit(0, 'main_tasks >> fail_run.override(task_id="_failed", trigger_rule="one_failed")()')
        return self.lines

    # -- the file -----------------------------------------------------------------------------------
    def schedule(self) -> dict[str, Any]:
        schedule = self.plan.schedule
        if schedule is None:
            return {"schedule": "None", "max_active_runs": None}
        if schedule.cron.startswith("@every"):
            self.refusals.unsupported(
                f"Airflow cannot schedule '{schedule.cron}'", doc=("schedule",), hint="use a cron expression"
            )
            return {"schedule": "None", "max_active_runs": None}
        timetable = f"CronTriggerTimetable({py(schedule.cron)}, timezone={py(schedule.timezone or 'UTC')})"
        return {"schedule": timetable, "max_active_runs": 1 if schedule.concurrency_policy == "Forbid" else None}

    def run_env(self) -> dict[str, str]:
        env = {"TRANSPILE_RUN_ID": "{{ run_id }}"}
        for name in self.plan.parameters:
            # params['x'], not params.x: a parameter called `items` or `keys` must not meet dict methods
            lookup = f"params[{name!r}]"
            env[f"TRANSPILE_PARAM_{name}"] = f"{{{{ {lookup} | param_text }}}}"
        if self.cached:  # the run's cache mode, a DAG param (`airflow dags trigger -c '{"transpile_cache": "off"}'`)
            env["TRANSPILE_CACHE"] = f"{{{{ params[{CACHE_PARAMETER!r}] | param_text }}}}"
        return env

    def working_dir(self) -> str:
        """Where local commands run: the deploy config's working_dir, else the directory compiled from."""
        import os

        return self.plan.deploy.working_dir or os.getcwd()

    def store_path(self) -> str:
        """The run store's path as nodes see it; local commands default to `.transpile/store` in working_dir."""
        volume = self.plan.deploy.volume
        if self.flavour == "local" and not volume.mount_path_set:
            return f"{self.working_dir().rstrip('/')}/.transpile/store"
        return volume.mount_path

    def context(self) -> dict[str, Any]:
        plan = self.plan
        deploy = plan.deploy
        volume = deploy.volume
        body = self.build()
        schedule = self.schedule()
        claim = f"k8s.V1PersistentVolumeClaimVolumeSource(claim_name={py(tmpl(volume.claim))})"
        return {
            "flavour": self.flavour,
            "source_comment": comment_text(deploy.pipeline_file),
            "pipeline_name_comment": plan.name,
            "hash": plan.hash,
            "hash_literal": py(plan.hash),
            "pipeline_file": py(deploy.pipeline_file),
            "store": py(self.store_path()),
            "command": py(list(deploy.command)),
            "run_env": py(self.run_env()),
            "namespace": py(tmpl(deploy.namespace)),
            "service_account": py(deploy.service_account),
            "labels": py(tmpl(dict(plan.labels))),
            "volume": f'k8s.V1Volume(name="store", persistent_volume_claim={claim})',
            "mount_path_templated": py(tmpl(volume.mount_path)),
            "workdir": py(self.working_dir()),
            "settings": [(py(name), fields) for name, fields in self.settings.items()],
            "dag_id": py(plan.name),
            "description": py(plan.description),
            "params": py(dict(plan.parameters) | ({CACHE_PARAMETER: "on"} if self.cached else {})),
            "body": body,
            **schedule,
            "uses_secrets": any(name == "secrets" for fields in self.settings.values() for name, _ in fields),
            "uses_markers": any("EmptyOperator(" in line for line in body),
            "uses_groups": any("TaskGroup(" in line for line in body),
            "uses_maps": any("fan_out=True" in line for line in body),
        }


class AirflowBackend:
    """`transpile compile -t airflow [--flavour kubernetes|local]`: one Airflow 3 DAG file."""

    name = "airflow"
    suffix = ".py"

    def emit(self, plan: Plan, options: EmitOptions) -> str:
        refusals = Refusals(self.name)
        flavour = refusals.flavour(options.flavour, FLAVOURS, "Airflow")
        refusals.existing_claim_only(plan, "Airflow")
        context = _DagBuilder(plan, flavour, refusals).context()
        refusals.check()
        return render("airflow_dag.py.j2", context)
