"""The execution plan: what every backend emits from and what every pod runs, as plain frozen data.

A plan is the resolved pipeline lowered once: its step tree (with each task's fully resolved settings:
defaults folded in, the deploy config's image fallback applied), the nodes a pod runs (task, fan-out,
select) with their scope, enclosing maps and upstream nodes, the deploy settings, labels and names.
It imports neither pydantic nor YAML, and `transpile.plan.codec` turns it into JSON and back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transpile.plan.batching import ARGO_MAX_PODS_PER_MAP, PREFECT_MAX_TASKS_PER_MAP

PLAN_VERSION = 3

TASK_KINDS = ("python", "shell", "stub")
ROLES = ("task", "fan_out", "select")
MANAGED_BY = "app.kubernetes.io/managed-by"
PIPELINE_LABEL = "transpile.io/pipeline"


@dataclass(frozen=True)
class Retries:
    """Retries after the first attempt, the first delay, its growth factor and its cap (seconds)."""

    limit: int
    backoff: int = 0
    factor: int = 1
    max_backoff: int | None = None

    def delays(self) -> list[int]:
        """The delay before each retry, as the retry policy (`plan/retry.py`) gives it after each failure."""
        from transpile.plan.retry import retry_delay

        return [retry_delay(self, n, "failed") or 0 for n in range(1, self.limit + 1)]


@dataclass(frozen=True)
class Limits:
    """The most a container may use, as Kubernetes quantities."""

    cpu: str | int | float | None = None
    memory: str | None = None
    ephemeral_storage: str | None = None


@dataclass(frozen=True)
class Resources:
    """CPU, memory and local disk requested as Kubernetes quantities, a GPU count, and the limits."""

    cpu: str | int | float | None = None
    memory: str | None = None
    gpu: int | None = None
    ephemeral_storage: str | None = None
    limits: Limits | None = None


@dataclass(frozen=True)
class SecretRef:
    """A key of a secret exposed to the step as the environment variable `env`."""

    secret: str
    key: str
    env: str


@dataclass(frozen=True)
class Toleration:
    """A Kubernetes toleration (unset fields are None)."""

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class Pod:
    """A pod's Kubernetes settings, resolved (deploy config, then `defaults`, then the step) and completed for
    the deploy config's Pod Security profile. Kubernetes objects are JSON as Kubernetes writes them (camelCase),
    passed to the engines as they are; `image_pull_secrets` holds the secrets' names."""

    image_pull_secrets: tuple[str, ...] = ()
    security_context: dict[str, Any] | None = None
    container_security_context: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    affinity: dict[str, Any] | None = None
    topology_spread_constraints: tuple[dict[str, Any], ...] = ()
    priority_class_name: str | None = None
    volumes: tuple[dict[str, Any], ...] = ()
    volume_mounts: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Cache:
    """A cached step: how old an entry may be (seconds; None: any age) and what else its key holds (globs of
    files under the working directory, environment variable names). See transpile/runtime/cache_key.py."""

    max_age: int | None = None
    key_files: tuple[str, ...] = ()
    key_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """A task's resolved settings (and, with `image`, `resources`, `service_account` and `pod`, a control
    node's)."""

    image: str | None = None
    retries: Retries | None = None
    timeout: int | None = None
    resources: Resources | None = None
    env: dict[str, str] | None = None
    secrets: tuple[SecretRef, ...] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: tuple[Toleration, ...] | None = None
    service_account: str | None = None  # None: the deploy config's
    pod: Pod | None = None
    cache: Cache | None = None  # None: never cached


@dataclass(frozen=True)
class Catalog:
    """Globs copied from the run's catalog before a step, and into it after."""

    get: tuple[str, ...] = ()
    put: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    """A sub-pipeline: step name -> step, in declaration order."""

    steps: dict[str, Step]


@dataclass(frozen=True)
class MapSpec:
    """A runtime fan-out over the list `over`; the body sees each item as `as_`; `batch` items per engine
    instance (None: one, batched beyond the engine's limit: plan/batching.py)."""

    over: str
    as_: str
    steps: dict[str, Step]
    batch: int | None = None


@dataclass(frozen=True)
class SwitchSpec:
    """Exactly one case runs, chosen by the value of `on` (case name -> block)."""

    on: str
    cases: dict[str, Block]


@dataclass(frozen=True)
class Step:
    """One step of the tree at `path`, with its engine-safe names: `id` is the node id (`clean/load`), `key`
    the Kubernetes-safe form of its name. Field names match the IR, so scope and graph helpers read either."""

    path: tuple[str, ...]
    id: str
    key: str
    kind: str
    needs: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    python: str | None = None
    shell: str | None = None
    stub: bool | None = None
    catalog: Catalog | None = None
    settings: Settings | None = None
    map: MapSpec | None = None
    parallel: dict[str, Block] | None = None
    switch: SwitchSpec | None = None

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def is_task(self) -> bool:
        return self.kind in TASK_KINDS

    def blocks(self) -> list[tuple[str, dict[str, Step]]]:
        """Child blocks as (segment, steps); the segment is '' for a map body."""
        if self.map is not None:
            return [("", self.map.steps)]
        if self.parallel is not None:
            return [(name, block.steps) for name, block in self.parallel.items()]
        if self.switch is not None:
            return [(name, block.steps) for name, block in self.switch.cases.items()]
        return []

    # The settings, read like the IR's fields (tasks only; None elsewhere).
    @property
    def image(self) -> str | None:
        return self.settings.image if self.settings else None

    @property
    def retries(self) -> Retries | None:
        return self.settings.retries if self.settings else None

    @property
    def timeout(self) -> int | None:
        return self.settings.timeout if self.settings else None

    @property
    def env(self) -> dict[str, str] | None:
        return self.settings.env if self.settings else None


@dataclass(frozen=True)
class Node:
    """A unit a pod runs: a task step, or the control node of a map (`fan_out`) or switch (`select`).

    `path` is the step's path, `block` the path of the block holding it (its scope), `maps` the ids of
    the enclosing maps (outermost first: an instance needs one index per map), `after` the ids of the
    sibling steps it needs (composites included: their whole subtree must be done).
    """

    id: str
    role: str
    path: tuple[str, ...]
    block: tuple[str, ...]
    maps: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """A cron (five fields, `@daily`, `@every 1h`), its time zone and concurrency policy."""

    cron: str
    timezone: str | None = None
    concurrency_policy: str | None = None


@dataclass(frozen=True)
class Volume:
    """The shared volume that holds the run store (a PVC on Kubernetes, a shared directory on SLURM)."""

    claim: str = "transpile-store"
    mount_path: str = "/mnt/transpile"
    mode: str = "existing"
    size: str = "10Gi"
    storage_class: str | None = None
    access_mode: str = "ReadWriteMany"
    emit_claim: bool = False
    mount_path_set: bool = False  # whether the deploy config named the mount path


@dataclass(frozen=True)
class Deploy:
    """Where and how the plan runs: the deploy config, resolved (`pipeline_file` is where pods load it)."""

    pipeline_file: str
    command: tuple[str, ...] = ("transpile",)
    working_dir: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    volume: Volume = field(default_factory=Volume)
    parallelism: int | None = None
    ttl: int | None = None
    slurm: dict[str, Any] | None = None
    max_object_bytes: int | None = None  # split.max_object_bytes (None: the backend's default)
    max_pods_per_map: int = ARGO_MAX_PODS_PER_MAP  # argo.max_pods_per_map (plan/batching.py)
    max_tasks_per_map: int = PREFECT_MAX_TASKS_PER_MAP  # prefect.max_tasks_per_map
    security: str = "baseline"  # the Pod Security Standards profile every pod passes
    pod: Pod | None = None  # the deploy config's own `pod` section (already layered into every pod's settings)


@dataclass(frozen=True)
class Plan:
    """The execution plan of one pipeline under one deploy config."""

    plan_version: int
    name: str
    hash: str
    deploy: Deploy
    steps: dict[str, Step]
    nodes: dict[str, Node]
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    on_failure: Block | None = None
    schedule: Schedule | None = None
    control: Settings = field(default_factory=Settings)  # settings of fan-out and select nodes
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def task_steps(self) -> list[Step]:
        """Every task step, on_failure's included, parents' blocks in declaration order."""
        found: list[Step] = []
        stack = [self.on_failure.steps] if self.on_failure is not None else []
        stack.append(self.steps)
        while stack:
            for step in stack.pop().values():
                if step.is_task:
                    found.append(step)
                stack.extend(steps for _, steps in reversed(step.blocks()))
        return found
