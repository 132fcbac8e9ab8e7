"""Lower a compiled pipeline (resolved IR) and a deploy config into the execution plan, once.

Every rule that belongs to the pipeline rather than to an engine is applied here: the image fallback
from the deploy config, the deploy config's `pod` section under the pipeline's and what its Pod Security
profile requires, the managed-by labels, node ids and Kubernetes-safe keys, the nodes a pod runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from transpile.ir import pod as ir_pod
from transpile.ir import pod_security
from transpile.ir.graph import ON_FAILURE, child_block_path
from transpile.ir.names import node_id, step_key
from transpile.plan import model as p

if TYPE_CHECKING:
    from transpile.compiler import Compiled
    from transpile.config import DeployConfig
    from transpile.ir import models as ir
    from transpile.ir.pod_model import Pod


def _resources(resources: ir.Resources | None) -> p.Resources | None:
    if resources is None:
        return None
    limits = resources.limits
    return p.Resources(
        resources.cpu,
        resources.memory,
        resources.gpu,
        resources.ephemeral_storage,
        p.Limits(limits.cpu, limits.memory, limits.ephemeral_storage) if limits else None,
    )


def plan_pod(section: Pod | None, security: str) -> p.Pod | None:
    """A resolved `pod:` section as the plan holds it, completed for the Pod Security profile."""
    if section is None and security != "restricted":
        return None  # nothing written, nothing to add (most steps)
    data = pod_security.complete(section.data() if section is not None else {}, security)
    if not data:
        return None
    return p.Pod(
        image_pull_secrets=tuple(ref["name"] for ref in data.get("imagePullSecrets", ())),
        security_context=data.get("securityContext"),
        container_security_context=data.get("containerSecurityContext"),
        labels=data.get("labels"),
        annotations=data.get("annotations"),
        affinity=data.get("affinity"),
        topology_spread_constraints=tuple(data.get("topologySpreadConstraints", ())),
        priority_class_name=data.get("priorityClassName"),
        volumes=tuple(data.get("volumes", ())),
        volume_mounts=tuple(data.get("volumeMounts", ())),
    )


def _settings(step: ir.Settings, image_fallback: str | None, deploy: DeployConfig) -> p.Settings:
    retries = step.retries
    return p.Settings(
        image=step.image or image_fallback,
        retries=p.Retries(retries.limit, retries.backoff, retries.factor, retries.max_backoff) if retries else None,
        timeout=step.timeout,
        resources=_resources(step.resources),
        env=dict(step.env) if step.env is not None else None,
        secrets=tuple(p.SecretRef(s.secret, s.key, s.env) for s in step.secrets) if step.secrets is not None else None,
        node_selector=dict(step.node_selector) if step.node_selector is not None else None,
        tolerations=tuple(
            p.Toleration(t.key, t.operator, t.value, t.effect, t.toleration_seconds) for t in step.tolerations
        )
        if step.tolerations is not None
        else None,
        service_account=step.service_account,
        pod=plan_pod(ir_pod.merge(deploy.pod, step.pod), deploy.security),
        cache=_cache(step.cache),
    )


def _cache(cache: ir.Cache | bool | None) -> p.Cache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return p.Cache()
    return p.Cache(cache.max_age, tuple(cache.key_files), tuple(cache.key_env))


class _Lowering:
    def __init__(self, image_fallback: str | None, deploy: DeployConfig):
        self.image_fallback = image_fallback
        self.deploy = deploy
        self.nodes: dict[str, p.Node] = {}

    def block(self, path: tuple[str, ...], steps: Mapping[str, ir.Step], maps: tuple[str, ...]) -> dict[str, p.Step]:
        """Lower a block's steps (iteratively over siblings; nesting depth is the pipeline's)."""
        return {name: self.step(path + (name,), path, step, maps) for name, step in steps.items()}

    def step(self, path: tuple[str, ...], block: tuple[str, ...], step: ir.Step, maps: tuple[str, ...]) -> p.Step:
        ident = node_id(path)
        kind = step.kind
        after = tuple(node_id(block + (n,)) for n in dict.fromkeys(step.needs))
        fields: dict[str, Any] = {}
        if step.is_task:
            self.nodes[ident] = p.Node(ident, "task", path, block, maps, after)
            fields["python"], fields["shell"], fields["stub"] = step.python, step.shell, step.stub
            if step.catalog is not None:
                fields["catalog"] = p.Catalog(tuple(step.catalog.get), tuple(step.catalog.put))
            fields["settings"] = _settings(step, self.image_fallback, self.deploy)
        elif step.map is not None:
            self.nodes[ident] = p.Node(ident, "fan_out", path, block, maps, after)
            body = self.block(child_block_path(path, ""), step.map.steps, maps + (ident,))
            fields["map"] = p.MapSpec(step.map.over, step.map.as_, body, step.map.batch)
        elif step.parallel is not None:
            fields["parallel"] = {
                name: p.Block(self.block(path + (name,), b.steps, maps)) for name, b in step.parallel.items()
            }
        elif step.switch is not None:
            self.nodes[ident] = p.Node(ident, "select", path, block, maps, after)
            cases = {name: p.Block(self.block(path + (name,), b.steps, maps)) for name, b in step.switch.cases.items()}
            fields["switch"] = p.SwitchSpec(step.switch.on, cases)
        return p.Step(
            path=path,
            id=ident,
            key=step_key(path[-1]),
            kind=kind,
            needs=tuple(step.needs),
            returns=tuple(step.returns),
            **fields,
        )


def _deploy(compiled: Compiled, config: DeployConfig) -> p.Deploy:
    from transpile.compiler import relative_source

    volume = config.volume
    return p.Deploy(
        pipeline_file=config.pipeline_file or relative_source(compiled.source_file),
        command=tuple(config.command),
        working_dir=config.working_dir,
        namespace=config.namespace,
        service_account=config.service_account,
        volume=p.Volume(
            claim=volume.claim,
            mount_path=volume.mount_path,
            mode=volume.mode,
            size=volume.size,
            storage_class=volume.storage_class,
            access_mode=volume.access_mode,
            emit_claim=volume.emit_claim,
            mount_path_set="mount_path" in volume.model_fields_set,
        ),
        parallelism=config.parallelism,
        ttl=config.ttl,
        slurm=_slurm(config),
        max_object_bytes=config.split.max_object_bytes,
        max_pods_per_map=config.argo.max_pods_per_map,
        max_tasks_per_map=config.prefect.max_tasks_per_map,
        security=config.security,
        pod=plan_pod(config.pod, "privileged"),
    )


def _slurm(config: DeployConfig) -> dict[str, Any] | None:
    section = getattr(config, "slurm", None)
    if section is None:
        return None
    return section.model_dump(mode="json", exclude_none=True)


def lower(compiled: Compiled, config: DeployConfig | None = None) -> p.Plan:
    """The execution plan of a compiled pipeline under a deploy config (the defaults when None)."""
    if config is None:
        from transpile.config import DeployConfig

        config = DeployConfig()
    pipeline = compiled.pipeline
    lowering = _Lowering(config.image, config)
    steps = lowering.block((), pipeline.steps, ())
    on_failure = None
    if pipeline.on_failure is not None:
        on_failure = p.Block(lowering.block((ON_FAILURE,), pipeline.on_failure.steps, ()))
    schedule = pipeline.schedule
    labels = {p.MANAGED_BY: "transpile", p.PIPELINE_LABEL: pipeline.name} | dict(config.labels)
    return p.Plan(
        plan_version=p.PLAN_VERSION,
        name=pipeline.name,
        hash=compiled.hash,
        deploy=_deploy(compiled, config),
        steps=steps,
        nodes=lowering.nodes,
        parameters=dict(pipeline.parameters),
        description=pipeline.description,
        on_failure=on_failure,
        schedule=p.Schedule(schedule.cron, schedule.timezone, schedule.concurrency_policy) if schedule else None,
        control=p.Settings(
            image=pipeline.defaults.image or config.image,
            resources=_resources(config.control_resources),
            service_account=pipeline.defaults.service_account,
            pod=plan_pod(ir_pod.merge(config.pod, pipeline.defaults.pod), config.security),
        ),
        labels=labels,
    )
