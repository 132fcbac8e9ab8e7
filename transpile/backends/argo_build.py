"""Argo template building: the execution plan -> the templates of one (unsplit) WorkflowTemplate.

Every block is a DAG template; task steps share container templates keyed by their settings (so 1,000
alike steps need one template); a map is a DAG of a fan-out node and a `withParam` loop over the item
indices it outputs; a switch is a DAG of a select node and one `when`-guarded task per case, compared
against the case's sanitized key (never a user string); `on_failure` is the exit handler. DAGs may hold
any number of tasks here: `argo_split` cuts them (and the spec) to Argo's limits afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transpile.backends import argo_models as m
from transpile.backends import argo_pod, kube
from transpile.backends.argo_models import to_data
from transpile.backends.base import Refusals
from transpile.ir.graph import ON_FAILURE
from transpile.ir.names import fit, node_id, short_hash, step_key
from transpile.plan import batching
from transpile.plan.cache_mode import CACHE_PARAMETER, cached_steps
from transpile.plan.model import Plan, Settings, Step

NAME_LIMIT = 63
CONTROL_OUT = "/tmp/transpile-control/value.json"
VOLUME = "store"
INDICES = "{{inputs.parameters.indices}}"
PREFIX = "{{inputs.parameters.prefix}}"

Path = tuple[str, ...]


class Names:
    """Template names: unique, at most 63 characters, stable (collisions and long names get a hash)."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    def reserve(self, base: str, owner: str) -> str:
        name = fit(base, NAME_LIMIT, salt=owner)
        if name in self.owners and self.owners[name] != owner:
            name = fit(f"{base}-{short_hash(owner)}", NAME_LIMIT, salt=owner)
        self.owners[name] = owner
        return name

    def release(self, name: str) -> None:
        del self.owners[name]


@dataclass
class Built:
    """The built templates in output order (the entrypoint `main` first), the exit handler's name, the names
    in use, a memo of converted data (model id -> plain data) that later passes reuse, and the image pull
    secrets of every pod."""

    templates: dict[str, m.Template]
    on_exit: str | None
    names: Names
    memo: dict[int, Any]
    shared_secrets: tuple[str, ...] = ()  # image pull secrets every pod has (the workflow's field)


@dataclass(frozen=True)
class _Context:
    """Where a DAG template sits: nested (its node id arrives as `prefix`) and/or inside a map."""

    nested: bool
    in_map: bool
    here: str

    def child(self, key: str) -> str:
        return f"{self.here}/{key}" if self.here else key


def _duration(seconds: int) -> str:
    return f"{seconds}s"


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    """Settings as JSON data with None left out at every level (the form template names are hashed from)."""
    kind = type(value)
    if hasattr(kind, "__dataclass_fields__"):
        return {name: _plain(v) for name in _field_names(kind) if (v := getattr(value, name)) is not None}
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    return value


def settings_signature(image: str, settings: Settings) -> str:
    """The identity of a container template: its image and every other setting."""
    data = _plain(settings)
    data.pop("image", None)
    data.pop("cache", None)  # read by the entrypoint from the plan: steps that only differ there share a template
    return json.dumps([image, data], sort_keys=True)


def resources(settings: Settings) -> m.ResourceRequirements | None:
    found = kube.resources(settings)
    return m.ResourceRequirements(requests=found.get("requests"), limits=found.get("limits")) if found else None


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


TAG = "{{"
_TAG_MESSAGE = "{what} holds '{{{{', which Argo would read as its own template syntax"


def _tagged(values: dict[str, str] | None) -> list[str]:
    return [k for k, v in (values or {}).items() if TAG in k or TAG in v]


def refuse_tags(refusals: Refusals, step: Step, settings: Settings) -> None:
    """Refuse `{{` in a step's settings that reach a template as they are (Argo cannot be told to leave them)."""
    found: list[tuple[str, tuple[str | int, ...]]] = []
    if settings.image and TAG in settings.image:
        found.append(("the image", ("image",)))
    found += [("a node_selector entry", ("node_selector", k)) for k in _tagged(settings.node_selector)]
    for i, secret in enumerate(settings.secrets or ()):
        if TAG in secret.secret or TAG in secret.key:
            found.append(("a secret's name or key", ("secrets", i)))
    for i, toleration in enumerate(settings.tolerations or ()):
        if any(TAG in str(v) for v in (toleration.key, toleration.value, toleration.operator, toleration.effect) if v):
            found.append(("a toleration", ("tolerations", i)))
    for what, doc in found:
        refusals.unsupported(
            _TAG_MESSAGE.format(what=what), step, doc=doc, hint="Argo has no escaping for '{{' in this field"
        )


def refuse_deploy_tags(refusals: Refusals, plan: Plan) -> None:
    """Refuse `{{` in the deploy settings every pod's template carries."""
    deploy, volume = plan.deploy, plan.deploy.volume
    fields = {
        "command": " ".join(deploy.command),
        "working_dir": deploy.working_dir,
        "pipeline_file": deploy.pipeline_file,
        "volume.claim": volume.claim,
        "volume.mount_path": volume.mount_path,
        "volume.storage_class": volume.storage_class,
        "service_account": deploy.service_account,
    }
    for name, value in fields.items():
        if value and TAG in value:
            refusals.unsupported(_TAG_MESSAGE.format(what=f"the deploy config's `{name}`"))


def _chosen(key: str, in_map: bool) -> str:
    """A case's `when`: the select's key equals the case's; inside maps, where one pod's select may route a
    batch of items, the set of keys it output (`|ship|hold|`) holds it (govaluate's regex match)."""
    value = "'{{tasks.select.outputs.parameters.value}}'"
    return f"{value} =~ '[|]{key}[|]'" if in_map else f"{value} == '{key}'"


class TemplateBuilder:
    """Builds the templates of a plan; what Argo cannot express is refused through `refusals`."""

    def __init__(self, plan: Plan, refusals: Refusals):
        self.plan = plan
        self.deploy = plan.deploy
        self.refusals = refusals
        self.names = Names()
        self.templates: dict[str, m.Template | None] = {}
        self.task_templates: dict[str, str] = {}
        self.shapes: dict[str, str] = {}
        self.memo: dict[int, Any] = {}
        self._args: tuple[str, ...] | None = None
        self.shared_secrets = argo_pod.shared_pull_secrets(plan)  # in the workflow's imagePullSecrets

    def reserve(self, base: str, owner: str) -> str:
        name = self.names.reserve(base, owner)
        self.templates.setdefault(name, None)
        return name

    @staticmethod
    def block_base(path: Path) -> str:
        return "-".join("on-failure" if s == ON_FAILURE else step_key(s) for s in path) or "main"

    # -- container templates -----------------------------------------------------------------------
    def command_args(self) -> tuple[str, ...]:
        """The entrypoint's arguments, the same for every pod (the node arrives as an input)."""
        if self._args is None:
            deploy = self.deploy
            args = [
                *deploy.command[1:],
                "execute-node",
                "--pipeline",
                deploy.pipeline_file,
                "--hash",
                self.plan.hash,
                "--store",
                deploy.volume.mount_path,
                "--run-id",
                "{{workflow.name}}",
                "--node",
                "{{inputs.parameters.node}}",
                "--indices",
                INDICES,
            ]
            for name in self.plan.parameters:  # computed by Argo as base64: no templating pass can alter it
                args += ["--param-b64", f"{name}={{{{=sprig.b64enc(workflow.parameters['{name}'])}}}}"]
            if cached_steps(self.plan):
                args += ["--cache-b64", f"{{{{=sprig.b64enc(workflow.parameters['{CACHE_PARAMETER}'])}}}}"]
            self._args = tuple(args)
        return self._args

    def container(self, image: str, settings: Settings | None, extra_args: tuple[str, ...] = ()) -> m.Container:
        """The entrypoint's container (`settings` None: a control node's, which has no secrets)."""
        env: list[m.EnvVar] = []  # plain env values are applied by the entrypoint from the plan, never templated
        own = settings or self.plan.control
        pod = argo_pod.container_fields(own, m.VolumeMount(name=VOLUME, mount_path=self.deploy.volume.mount_path))
        if settings is not None:
            env += [
                m.EnvVar(
                    name=s.env,
                    value_from=m.EnvVarSource(secret_key_ref=m.SecretKeySelector(name=s.secret, key=s.key)),
                )
                for s in settings.secrets or ()
            ]
        needs = resources(own)
        return m.Container(
            image=image,
            command=(self.deploy.command[0],),
            args=(*self.command_args(), *extra_args),
            working_dir=self.deploy.working_dir,
            env=tuple(env),
            resources=needs,
            **pod,
        )

    def task_template(self, step: Step, in_map: bool) -> str:
        """A task step's container template; inside maps without a `timeout` (one pod may run a batch of
        items: the entrypoint enforces each attempt's)."""
        settings = step.settings or Settings()
        if in_map and settings.timeout:
            settings = dataclasses.replace(settings, timeout=None)
        image = self.refusals.require_image(settings.image, step)
        refuse_tags(self.refusals, step, settings)
        argo_pod.refuse_tags(self.refusals, step, settings)
        signature = settings_signature(image, settings)
        if signature in self.task_templates:
            return self.task_templates[signature]
        name = self.reserve(f"task-{short_hash(signature)}", signature)
        self.task_templates[signature] = name
        self.templates[name] = m.Template(
            name=name,
            inputs=m.Inputs(parameters=(m.Parameter(name="node"), m.Parameter(name="indices", default=""))),
            retry_strategy=retry_strategy(settings),
            timeout=_duration(settings.timeout) if settings.timeout else None,
            node_selector=settings.node_selector or None,
            tolerations=tuple(
                m.Toleration(**{kube.snake(k): v for k, v in t.items()}) for t in kube.tolerations(settings)
            ),
            container=self.container(image, settings),
            **argo_pod.template_fields(settings, self.shared_secrets),
        )
        return name

    def control_template(self, fan_out: bool = False) -> str:
        """The pod of a switch's select, or (`fan_out`) of a map's fan-out, told the most pods its loop may
        make (`limit`: the map's items are batched to fit, plan/batching.py)."""
        name = self.reserve("fan-out", "@fan-out") if fan_out else self.reserve("control", "@control")
        if self.templates[name] is None:
            image = self.refusals.require_image(self.plan.control.image, None)
            if TAG in image:
                self.refusals.unsupported(
                    _TAG_MESSAGE.format(what="the control nodes' image"), doc=("defaults", "image")
                )
            argo_pod.refuse_tags(self.refusals, None, self.plan.control)
            inputs = (m.Parameter(name="node"), m.Parameter(name="indices", default=""))
            extra = ("--control-out", CONTROL_OUT)
            if fan_out:
                inputs += (m.Parameter(name="limit"),)
                extra += ("--max-instances", "{{inputs.parameters.limit}}")
            self.templates[name] = m.Template(
                name=name,
                inputs=m.Inputs(parameters=inputs),
                outputs=m.Outputs(parameters=(m.Parameter(name="value", value_from=m.ValueFrom(path=CONTROL_OUT)),)),
                container=self.container(image, None, extra),
                **argo_pod.template_fields(self.plan.control, self.shared_secrets),
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

    def store(self, name: str, ctx: _Context, tasks: list[m.DAGTask]) -> str:
        """Store a DAG template, or reuse an identical one (nested templates of the same shape)."""
        if ctx.nested:
            signature = json.dumps([ctx.in_map, to_data(tasks)])
            if signature in self.shapes:
                del self.templates[name]
                self.names.release(name)
                return self.shapes[signature]
            self.shapes[signature] = name
        self.templates[name] = m.Template(name=name, inputs=self.inputs(ctx), dag=m.DAGTemplate(tuple(tasks)))
        return name

    def block_template(self, path: Path, steps: Mapping[str, Step], ctx: _Context, base: str | None = None) -> str:
        """The DAG template of a block; `ctx.here` is the node id (or its expression) of the block."""
        name = self.reserve(base or self.block_base(path), "block:" + "/".join(path))
        tasks: list[m.DAGTask] = []
        for step in steps.values():
            key = step.key
            if step.is_task:
                template = self.task_template(step, ctx.in_map)
                arguments = self.arguments(ctx, node=ctx.child(key))
            else:
                template = self.composite_template(path + (step.name,), step, ctx.in_map)
                arguments = self.arguments(ctx, prefix=ctx.child(key))
            depends = " && ".join(step_key(n) for n in dict.fromkeys(step.needs)) or None
            tasks.append(m.DAGTask(name=key, template=template, depends=depends, arguments=arguments))
        return self.store(name, ctx, tasks)

    def composite_template(self, path: Path, step: Step, in_map: bool) -> str:
        """The DAG template of a map, parallel or switch step (always nested: its place is `prefix`)."""
        name = self.reserve(self.block_base(path), "composite:" + "/".join(path))
        ctx = _Context(nested=True, in_map=in_map, here=PREFIX)
        tasks: list[m.DAGTask] = []
        if step.map is not None:
            limit = batching.share_limit(self.deploy.max_pods_per_map, batching.pods_per_item(step))
            (only,) = step.map.steps.values() if len(step.map.steps) == 1 else (None,)
            if only is not None and only.is_task:  # the loop runs the pod itself: one node per instance
                body = self.task_template(only, in_map=True)
                each = self.arguments(ctx, node=f"{PREFIX}/{only.key}", indices="{{item}}")
            else:
                body_ctx = _Context(nested=True, in_map=True, here=PREFIX)
                body = self.block_template(path, step.map.steps, body_ctx, base=f"{self.block_base(path)}-body")
                each = self.arguments(ctx, prefix=PREFIX, indices="{{item}}")
            tasks = [
                m.DAGTask(
                    name="items",
                    template=self.control_template(fan_out=True),
                    arguments=self.arguments(ctx, node=PREFIX, limit=str(limit)),
                ),
                m.DAGTask(
                    name="each",
                    template=body,
                    depends="items",
                    with_param="{{tasks.items.outputs.parameters.value}}",
                    arguments=each,
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
                m.DAGTask(name="select", template=self.control_template(), arguments=self.arguments(ctx, node=PREFIX))
            )
            for case, block in step.switch.cases.items():
                key = step_key(case)
                template = self.block_template(path + (case,), block.steps, ctx)
                tasks.append(
                    m.DAGTask(
                        name=f"case-{key}",
                        template=template,
                        depends="select",
                        when=_chosen(key, in_map),
                        arguments=self.arguments(ctx, prefix=ctx.child(key)),
                    )
                )
        return self.store(name, ctx, tasks)

    def exit_handler(self) -> str | None:
        if self.plan.on_failure is None:
            return None
        name = self.reserve("on-exit", "@on-exit")
        top = _Context(nested=False, in_map=False, here=node_id((ON_FAILURE,)))
        body = self.block_template((ON_FAILURE,), self.plan.on_failure.steps, top)
        task = m.DAGTask(name="on-failure", template=body, when="'{{workflow.status}}' != 'Succeeded'")
        self.templates[name] = m.Template(name=name, dag=m.DAGTemplate((task,)))
        return name

    def build(self) -> Built:
        refuse_deploy_tags(self.refusals, self.plan)
        self.reserve("main", "block:")
        self.block_template((), self.plan.steps, _Context(nested=False, in_map=False, here=""))
        on_exit = self.exit_handler()
        templates = {name: t for name, t in self.templates.items() if t is not None}
        return Built(templates, on_exit, self.names, self.memo, self.shared_secrets)


def build_templates(plan: Plan, refusals: Refusals) -> Built:
    """Every template of the plan's WorkflowTemplate (DAGs not yet cut to Argo's limits)."""
    return TemplateBuilder(plan, refusals).build()
