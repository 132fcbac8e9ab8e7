"""Argo backend: a compiled pipeline -> one WorkflowTemplate (and optionally its volume claim).

Mapping: every block is a DAG template; task steps share container templates keyed by their settings
(so 1,000 alike steps need one template); a map is a DAG of a fan-out node and a `withParam` loop over
the item indices it outputs; a switch is a DAG of a route node and one `when`-guarded task per case,
compared against the case's sanitized key (never a user string); `on_failure` is the exit handler.
A DAG over 200 tasks is cut, in topological order, into nested part templates of at most 200.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from transpile.backends import argo_models as m
from transpile.backends import kube
from transpile.backends.argo_models import to_data
from transpile.backends.base import EmitOptions, pipeline_file
from transpile.backends.yaml_writer import dump_all
from transpile.compiler import Compiled
from transpile.config import DeployConfig
from transpile.errors import Diagnostic, TranspileError
from transpile.ir.graph import ON_FAILURE, Path, toposort
from transpile.ir.models import Settings, Step
from transpile.ir.names import fit, node_id, short_hash, step_key
from transpile.ir.source import step_doc_path
from transpile.passes.validate import display

MAX_DAG_TASKS = 200
MAX_TEMPLATES = 200  # per WorkflowTemplate (v4 full CRD)
MAX_OBJECT_BYTES = 800 * 1024  # templates' JSON per WorkflowTemplate: objects stay well under 1 MiB
REF_ALLOWANCE = 64  # bytes per template for a templateRef its tasks may gain when linked
NAME_LIMIT = 63
CRON_NAME_LIMIT = 52
CONTROL_OUT = "/tmp/transpile-control/value.json"
VOLUME = "store"
INDICES = "{{inputs.parameters.indices}}"
PREFIX = "{{inputs.parameters.prefix}}"


@dataclass(frozen=True)
class _Context:
    """Where a DAG template sits: nested (its node id arrives as `prefix`) and/or inside a map."""

    nested: bool
    in_map: bool
    here: str

    def child(self, key: str) -> str:
        return f"{self.here}/{key}" if self.here else key


def parameter_value(value: object) -> str:
    """A pipeline parameter as an Argo string: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _duration(seconds: int) -> str:
    return f"{seconds}s"


class _SpecBuilder:
    def __init__(self, compiled: Compiled, config: DeployConfig):
        self.compiled = compiled
        self.pipeline = compiled.pipeline
        self.config = config
        self.templates: dict[str, m.Template | None] = {}
        self.owners: dict[str, str] = {}
        self.task_templates: dict[str, str] = {}
        self.shapes: dict[str, str] = {}
        self.memo: dict[int, Any] = {}  # model id -> its plain data, converted once
        self.problems: list[Diagnostic] = []
        self.default_image = self.pipeline.defaults.image or config.image

    # -- names -------------------------------------------------------------------------------------
    def reserve(self, base: str, owner: str) -> str:
        """A unique template name derived from `base`; collisions and long names get a stable hash."""
        name = fit(base, NAME_LIMIT, salt=owner)
        if name in self.owners and self.owners[name] != owner:
            name = fit(f"{base}-{short_hash(owner)}", NAME_LIMIT, salt=owner)
        self.owners[name] = owner
        self.templates.setdefault(name, None)
        return name

    def block_base(self, path: Path) -> str:
        return "-".join("on-failure" if s == ON_FAILURE else step_key(s) for s in path) or "main"

    # -- container templates -----------------------------------------------------------------------
    def command_args(self) -> list[str]:
        args = [
            *self.config.command[1:],
            "execute-node",
            "--pipeline",
            pipeline_file(self.compiled, self.config),
            "--hash",
            self.compiled.hash,
            "--store",
            self.config.volume.mount_path,
            "--run-id",
            "{{workflow.name}}",
            "--node",
            "{{inputs.parameters.node}}",
            "--indices",
            INDICES,
        ]
        for name in self.pipeline.parameters:
            args += ["-p", f"{name}={{{{workflow.parameters.{name}}}}}"]
        return args

    def container(self, image: str, settings: Settings | None, extra_args: tuple[str, ...] = ()) -> m.Container:
        env: list[m.EnvVar] = []
        resources = None
        if settings is not None:
            env += [m.EnvVar(name=k, value=v) for k, v in (settings.env or {}).items()]
            env += [
                m.EnvVar(
                    name=s.env,
                    value_from=m.EnvVarSource(secret_key_ref=m.SecretKeySelector(name=s.secret, key=s.key)),
                )
                for s in settings.secrets or ()
            ]
            resources = self.resources(settings)
        return m.Container(
            image=image,
            command=(self.config.command[0],),
            args=(*self.command_args(), *extra_args),
            working_dir=self.config.working_dir,
            env=tuple(env),
            resources=resources,
            volume_mounts=(m.VolumeMount(name=VOLUME, mount_path=self.config.volume.mount_path),),
        )

    @staticmethod
    def resources(settings: Settings) -> m.ResourceRequirements | None:
        found = kube.resources(settings)
        return m.ResourceRequirements(requests=found.get("requests"), limits=found.get("limits")) if found else None

    @staticmethod
    def retry_strategy(settings: Settings) -> m.RetryStrategy | None:
        retries = settings.retries
        if retries is None or retries.limit == 0:
            return None
        backoff = None
        if retries.backoff:
            backoff = m.Backoff(
                duration=_duration(retries.backoff),
                factor=retries.factor if retries.factor != 1 else None,
                cap=_duration(retries.max_backoff) if retries.max_backoff else None,
            )
        return m.RetryStrategy(limit=retries.limit, retry_policy="Always", backoff=backoff)

    def task_template(self, path: Path, step: Step) -> str:
        settings = step.settings()
        image = settings.image or self.config.image
        if not image:
            doc = step_doc_path(self.pipeline, path)
            self.problems.append(
                Diagnostic(
                    "no image for this step",
                    self.compiled.source.span(doc, key=True),
                    step=display(path),
                    hint="set `image` on the step, in `defaults`, or in the deploy config",
                )
            )
            image = "missing"
        signature = json.dumps(
            [image, settings.model_dump(mode="json", exclude={"image"}, exclude_none=True)], sort_keys=True
        )
        if signature in self.task_templates:
            return self.task_templates[signature]
        name = self.reserve(f"task-{short_hash(signature)}", signature)
        self.task_templates[signature] = name
        self.templates[name] = m.Template(
            name=name,
            inputs=m.Inputs(parameters=(m.Parameter(name="node"), m.Parameter(name="indices", default=""))),
            retry_strategy=self.retry_strategy(settings),
            timeout=_duration(settings.timeout) if settings.timeout else None,
            node_selector=settings.node_selector or None,
            tolerations=tuple(
                m.Toleration(**{kube.snake(k): v for k, v in t.items()}) for t in kube.tolerations(settings)
            ),
            container=self.container(image, settings),
        )
        return name

    def control_template(self) -> str:
        name = self.reserve("control", "@control")
        if self.templates[name] is None:
            image = self.default_image
            if not image:
                self.problems.append(
                    Diagnostic(
                        "map and switch steps need a default image for their control node",
                        self.compiled.source.span(("defaults",), key=True),
                        hint="set `defaults.image` in the pipeline or `image` in the deploy config",
                    )
                )
                image = "missing"
            self.templates[name] = m.Template(
                name=name,
                inputs=m.Inputs(parameters=(m.Parameter(name="node"), m.Parameter(name="indices", default=""))),
                outputs=m.Outputs(parameters=(m.Parameter(name="value", value_from=m.ValueFrom(path=CONTROL_OUT)),)),
                container=self.container(image, None, ("--control-out", CONTROL_OUT)),
            )
        return name

    # -- DAG templates -----------------------------------------------------------------------------
    # A nested DAG template receives `prefix` (the node id of its place) and, inside maps, `indices`;
    # so blocks of the same shape share one template, whatever their place in the pipeline.
    @staticmethod
    def inputs(ctx: _Context) -> m.Inputs | None:
        params = []
        if ctx.nested:
            params.append(m.Parameter(name="prefix"))
        if ctx.in_map:
            params.append(m.Parameter(name="indices"))
        return m.Inputs(parameters=tuple(params)) if params else None

    @staticmethod
    def arguments(ctx: _Context, **values: str) -> m.Arguments | None:
        """Arguments for a task in a template of context `ctx`; `indices` passes through inside maps."""
        if ctx.in_map:
            values.setdefault("indices", INDICES)
        params = tuple(m.Parameter(name=k, value=v) for k, v in values.items())
        return m.Arguments(parameters=params) if params else None

    def store(self, name: str, owner: str, ctx: _Context, tasks: list[m.DAGTask], deps: dict[str, list[str]]) -> str:
        """Store a DAG template, or reuse an identical one; DAGs over MAX_DAG_TASKS are cut into parts."""
        if ctx.nested:
            signature = json.dumps([ctx.in_map, to_data(tasks)])
            if signature in self.shapes:
                del self.templates[name], self.owners[name]
                return self.shapes[signature]
            self.shapes[signature] = name
        level = 0
        while len(tasks) > MAX_DAG_TASKS:
            level += 1
            tasks, deps = self.split(name, level, tasks, deps, ctx)
        self.templates[name] = m.Template(name=name, inputs=self.inputs(ctx), dag=m.DAGTemplate(tuple(tasks)))
        return name

    def split(
        self, name: str, level: int, tasks: list[m.DAGTask], deps: dict[str, list[str]], ctx: _Context
    ) -> tuple[list[m.DAGTask], dict[str, list[str]]]:
        by_name = {t.name: t for t in tasks}
        order = toposort([t.name for t in tasks], deps)
        chunks = [order[i : i + MAX_DAG_TASKS] for i in range(0, len(order), MAX_DAG_TASKS)]
        chunk_of = {task: i for i, chunk in enumerate(chunks) for task in chunk}
        suffix = "part" if level == 1 else f"part{level}"
        parts: list[m.DAGTask] = []
        part_deps: dict[str, list[str]] = {}
        passthrough = {"prefix": PREFIX} if ctx.nested else {}
        for i, chunk in enumerate(chunks):
            inner = []
            for task in chunk:
                local = [d for d in deps[task] if chunk_of[d] == i]
                inner.append(replace(by_name[task], depends=" && ".join(local) or None))
            upstream = sorted({chunk_of[d] for task in chunk for d in deps[task] if chunk_of[d] != i})
            part_name = f"{suffix}-{i + 1}"
            template = self.reserve(f"{name}-{part_name}", f"{name}@{part_name}")
            self.templates[template] = m.Template(
                name=template, inputs=self.inputs(ctx), dag=m.DAGTemplate(tuple(inner))
            )
            part_deps[part_name] = [f"{suffix}-{j + 1}" for j in upstream]
            parts.append(
                m.DAGTask(
                    name=part_name,
                    template=template,
                    depends=" && ".join(part_deps[part_name]) or None,
                    arguments=self.arguments(ctx, **passthrough),
                )
            )
        return parts, part_deps

    def block_template(self, path: Path, steps: Mapping[str, Step], ctx: _Context, base: str | None = None) -> str:
        """The DAG template of a block; `ctx.here` is the node id (or its expression) of the block."""
        name = self.reserve(base or self.block_base(path), "block:" + "/".join(path))
        tasks: list[m.DAGTask] = []
        deps: dict[str, list[str]] = {}
        for step_name, step in steps.items():
            key = step_key(step_name)
            deps[key] = [step_key(n) for n in dict.fromkeys(step.needs)]
            if step.is_task:
                template = self.task_template(path + (step_name,), step)
                arguments = self.arguments(ctx, node=ctx.child(key))
            else:
                template = self.composite_template(path + (step_name,), step, ctx.in_map)
                arguments = self.arguments(ctx, prefix=ctx.child(key))
            tasks.append(
                m.DAGTask(name=key, template=template, depends=" && ".join(deps[key]) or None, arguments=arguments)
            )
        return self.store(name, "block:" + "/".join(path), ctx, tasks, deps)

    def composite_template(self, path: Path, step: Step, in_map: bool) -> str:
        """The DAG template of a map, parallel or switch step (always nested: its place is `prefix`)."""
        name = self.reserve(self.block_base(path), "composite:" + "/".join(path))
        ctx = _Context(nested=True, in_map=in_map, here=PREFIX)
        tasks: list[m.DAGTask] = []
        if step.map is not None:
            body_ctx = _Context(nested=True, in_map=True, here=PREFIX)
            body = self.block_template(path, step.map.steps, body_ctx, base=f"{self.block_base(path)}-body")
            item = f"{INDICES}.{{{{item}}}}" if in_map else "{{item}}"
            tasks = [
                m.DAGTask(name="items", template=self.control_template(), arguments=self.arguments(ctx, node=PREFIX)),
                m.DAGTask(
                    name="each",
                    template=body,
                    depends="items",
                    with_param="{{tasks.items.outputs.parameters.value}}",
                    arguments=self.arguments(ctx, prefix=PREFIX, indices=item),
                ),
            ]
        elif step.parallel is not None:
            for branch, block in step.parallel.items():
                key = step_key(branch)
                template = self.block_template(path + (branch,), block.steps, ctx)
                tasks.append(
                    m.DAGTask(name=key, template=template, arguments=self.arguments(ctx, prefix=ctx.child(key)))
                )
        elif step.switch is not None:
            tasks.append(
                m.DAGTask(
                    name="select",
                    template=self.control_template(),
                    arguments=self.arguments(ctx, node=PREFIX),
                )
            )
            for case, block in step.switch.cases.items():
                key = step_key(case)
                template = self.block_template(path + (case,), block.steps, ctx)
                tasks.append(
                    m.DAGTask(
                        name=f"case-{key}",
                        template=template,
                        depends="select",
                        when=f"'{{{{tasks.select.outputs.parameters.value}}}}' == '{key}'",
                        arguments=self.arguments(ctx, prefix=ctx.child(key)),
                    )
                )
        return self.store(name, "composite:" + "/".join(path), ctx, tasks, {t.name: [] for t in tasks})

    def exit_handler(self) -> str | None:
        if self.pipeline.on_failure is None:
            return None
        name = self.reserve("on-exit", "@on-exit")
        top = _Context(nested=False, in_map=False, here=node_id((ON_FAILURE,)))
        body = self.block_template((ON_FAILURE,), self.pipeline.on_failure.steps, top)
        self.templates[name] = m.Template(
            name=name,
            dag=m.DAGTemplate(
                (
                    m.DAGTask(
                        name="on-failure",
                        template=body,
                        when="'{{workflow.status}}' != 'Succeeded'",
                    ),
                )
            ),
        )
        return name

    # -- the documents -----------------------------------------------------------------------------
    def volumes(self) -> tuple[tuple[m.Volume, ...], tuple[m.ClaimTemplate, ...]]:
        volume = self.config.volume
        if volume.mode == "template":
            return (), (m.ClaimTemplate(metadata=m.ObjectMeta(name=VOLUME), spec=self.claim_spec()),)
        claim = m.PersistentVolumeClaimVolumeSource(claim_name=volume.claim)
        return (m.Volume(name=VOLUME, persistent_volume_claim=claim),), ()

    def claim_spec(self) -> m.ClaimSpec:
        volume = self.config.volume
        return m.ClaimSpec(
            access_modes=(volume.access_mode,),
            resources=m.ClaimResources(requests={"storage": volume.size}),
            storage_class_name=volume.storage_class,
        )

    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/managed-by": "transpile",
            "transpile.io/pipeline": self.pipeline.name,
        } | dict(self.config.labels)

    def workflow_templates(self) -> list[m.WorkflowTemplate]:
        """The WorkflowTemplate, split into several wired with templateRef when one would exceed a limit."""
        self.reserve("main", "block:")
        self.block_template((), self.pipeline.steps, _Context(nested=False, in_map=False, here=""))
        on_exit = self.exit_handler()
        if self.problems:
            raise TranspileError(self.problems)
        volumes, claims = self.volumes()
        annotations = {"transpile.io/pipeline-hash": self.compiled.hash}
        if self.pipeline.description:
            annotations["workflows.argoproj.io/description"] = self.pipeline.description
        parameters = tuple(m.Parameter(name=k, value=parameter_value(v)) for k, v in self.pipeline.parameters.items())
        arguments = m.Arguments(parameters=parameters) if parameters else None
        ttl = self.config.ttl
        groups = self.partition([t for t in self.templates.values() if t is not None], on_exit, self.memo)
        names = [self.pipeline.name] + [
            fit(f"{self.pipeline.name}-part-{i}", NAME_LIMIT, salt=f"{self.pipeline.name}@{i}")
            for i in range(1, len(groups))
        ]
        home = {t.name: names[i] for i, group in enumerate(groups) for t in group if t.dag is not None}
        documents = []
        for i, group in enumerate(groups):
            local = {t.name for t in group}
            templates = tuple(self.link(t, names[i], home, local) for t in group)
            if i == 0:
                spec = m.WorkflowSpec(
                    entrypoint="main",
                    arguments=arguments,
                    on_exit=on_exit,
                    service_account_name=self.config.service_account,
                    parallelism=self.config.parallelism,
                    ttl_strategy=m.TTLStrategy(seconds_after_completion=ttl) if ttl is not None else None,
                    workflow_metadata=m.WorkflowMetadata(labels=self.labels()),
                    volumes=volumes,
                    volume_claim_templates=claims,
                    templates=templates,
                )
                part_annotations = annotations
            else:  # a library of templates: the same parameters and volumes, so it validates on its own
                spec = m.WorkflowSpec(
                    arguments=arguments, volumes=volumes, volume_claim_templates=claims, templates=templates
                )
                part_annotations = {**annotations, "transpile.io/part-of": self.pipeline.name}
            metadata = m.ObjectMeta(
                name=names[i], namespace=self.config.namespace, labels=self.labels(), annotations=part_annotations
            )
            documents.append(m.WorkflowTemplate(metadata=metadata, spec=spec))
        return documents

    @staticmethod
    def partition(templates: list[m.Template], on_exit: str | None, memo: dict[int, Any]) -> list[list[m.Template]]:
        """Groups of at most MAX_TEMPLATES templates and MAX_OBJECT_BYTES of JSON each.

        DAG templates are packed greedily in order (the entrypoint and the exit handler first); each group
        carries its own copy of the container templates its DAGs use, so only DAG-to-DAG references
        cross WorkflowTemplates (through templateRef).
        """
        position = {t.name: i for i, t in enumerate(templates)}
        leaves = {t.name: t for t in templates if t.dag is None}
        first = {"main", on_exit}
        dags = [t for t in templates if t.dag is not None and t.name in first]
        dags += [t for t in templates if t.dag is not None and t.name not in first]
        size_of = {t.name: len(json.dumps(to_data(t, memo), separators=(",", ":"))) + REF_ALLOWANCE for t in templates}
        groups: list[dict[str, m.Template]] = [{}]
        sizes = [0]
        for dag in dags:
            assert dag.dag is not None
            used = [leaves[task.template] for task in dag.dag.tasks if task.template in leaves]
            new = {t.name: t for t in [dag, *used] if t.name not in groups[-1]}
            extra = sum(size_of[name] for name in new)
            if groups[-1] and (len(groups[-1]) + len(new) > MAX_TEMPLATES or sizes[-1] + extra > MAX_OBJECT_BYTES):
                groups.append({})
                sizes.append(0)
                new = {t.name: t for t in [dag, *used]}
                extra = sum(size_of[name] for name in new)
            groups[-1].update(new)
            sizes[-1] += extra
        return [sorted(group.values(), key=lambda t: position[t.name]) for group in groups]

    @staticmethod
    def link(template: m.Template, here: str, home: dict[str, str], local: set[str]) -> m.Template:
        """Point a DAG's tasks at DAG templates held by other WorkflowTemplates, through templateRef."""
        if template.dag is None:
            return template
        tasks = []
        for task in template.dag.tasks:
            if task.template is not None and task.template not in local:
                task = replace(
                    task, template=None, template_ref=m.TemplateRef(name=home[task.template], template=task.template)
                )
            tasks.append(task)
        return replace(template, dag=m.DAGTemplate(tuple(tasks)))

    def cron_workflow(self, template_name: str) -> m.CronWorkflow | None:
        schedule = self.pipeline.schedule
        if schedule is None:
            return None
        name = fit(self.pipeline.name, CRON_NAME_LIMIT, salt=self.pipeline.name)
        metadata = m.ObjectMeta(name=name, namespace=self.config.namespace, labels=self.labels())
        spec = m.CronWorkflowSpec(
            schedules=(schedule.cron,),
            timezone=schedule.timezone,
            concurrency_policy=schedule.concurrency_policy,
            workflow_metadata=m.WorkflowMetadata(labels=self.labels()),
            workflow_spec=m.CronWorkflowRunSpec(workflow_template_ref=m.WorkflowTemplateRef(name=template_name)),
        )
        return m.CronWorkflow(metadata=metadata, spec=spec)

    def claim(self) -> m.PersistentVolumeClaim:
        volume = self.config.volume
        metadata = m.ObjectMeta(name=volume.claim, namespace=self.config.namespace, labels=self.labels())
        return m.PersistentVolumeClaim(metadata=metadata, spec=self.claim_spec())


def header(compiled: Compiled, config: DeployConfig) -> str:
    """The comment at the top of generated YAML: pipeline file, pipeline and hash."""
    return (
        f"# Generated by transpile from {pipeline_file(compiled, config)}; do not edit by hand.\n"
        f"# pipeline: {compiled.pipeline.name}  hash: sha256:{compiled.hash}\n"
    )


class ArgoBackend:
    """`transpile compile -t argo`: a WorkflowTemplate, plus the volume claim when asked."""

    reads_plan = False  # transitional: emits from (compiled, config) until moved onto the plan
    name = "argo"
    suffix = ".yaml"

    def documents(self, compiled: Compiled, config: DeployConfig, options: EmitOptions) -> list[dict]:
        builder = _SpecBuilder(compiled, config)
        templates = builder.workflow_templates()
        docs = [template.to_data(builder.memo) for template in templates]
        cron = builder.cron_workflow(templates[0].metadata.name or compiled.pipeline.name)
        if cron is not None:
            docs.append(cron.to_data())
        if (options.with_claim or config.volume.emit_claim) and config.volume.mode == "existing":
            docs.append(builder.claim().to_data())
        return docs

    def emit(self, compiled: Compiled, config: DeployConfig, options: EmitOptions) -> str:
        if options.flavour:
            raise TranspileError([Diagnostic(f"the argo target has no flavour '{options.flavour}'")])
        return dump_all(self.documents(compiled, config, options), header(compiled, config))
