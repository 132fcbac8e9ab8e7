"""The pipeline format as frozen pydantic models: the IR every frontend builds and every backend reads.

The JSON Schema in `schemas/pipeline.schema.json` is generated from these models. Short forms of the
format (`retries: 2`, durations such as `30s`) are normalised on validation, so two inputs that mean the
same thing give equal models and the same compiled hash.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from transpile.ir import rules
from transpile.ir.cron import check_cron
from transpile.ir.image import check_image
from transpile.ir.pod import PodSection
from transpile.ir.shape import StepShape
from transpile.ir.values import env_value_problem, json_problem, process_text_problem

FORMAT_VERSION = 1

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> Any:
    """`90`, `"90"`, `"30s"`, `"10m"`, `"1h30m"` -> seconds; anything else is left for pydantic to reject."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a duration (use seconds or a form like 30s, 10m, 1h30m, 1d)")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        match = _DURATION.fullmatch(text)
        if match and text:
            days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
            return days * 86400 + hours * 3600 + minutes * 60 + seconds
        raise ValueError(f"'{value}' is not a duration (use seconds or a form like 30s, 10m, 1h30m, 1d)")
    return value


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    Field(ge=0, le=rules.INT_MAX),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": rules.INT_MAX},
                {"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$|^\d+$"},
            ],
            "description": "Seconds, or a duration such as 30s, 10m, 1h30m, 1d.",
        }
    ),
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]


def check_parameter_value(value: Any) -> Any:
    """A parameter's declared value: JSON every engine carries (a string's text reaches a process as it is)."""
    problem = process_text_problem(value) if isinstance(value, str) else json_problem(value)
    if problem:
        raise ValueError(f"the value {problem}")
    return value


JsonValue = Annotated[Any, AfterValidator(check_parameter_value)]
Count = Annotated[int, Field(ge=0, le=rules.INT_MAX)]


def check_env_value(value: str) -> str:
    """An env value a process can be given (no NUL, valid Unicode); its size is checked with its name."""
    problem = process_text_problem(value)
    if problem:
        raise ValueError(f"the value {problem}")
    return value


class ShortForm:
    """Marks a field that also takes a short form (`retries: 2`, `schedule: "0 3 * * *"`): its JSON Schema
    accepts the full form or `short`, as validation does."""

    def __init__(self, short: dict[str, Any]):
        self.short = short

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        full = handler(core_schema)
        if "anyOf" in full:  # Optional[...]: keep null beside both forms
            return {**full, "anyOf": [*full["anyOf"], self.short]}
        return {"anyOf": [full, self.short]}


def _quantity(kind: str) -> Any:
    """Checks the value as written (before pydantic would read `true` as 1)."""

    def check(value: Any) -> Any:
        return rules.check_quantity(value, kind) if isinstance(value, (str, int, float)) else value

    return BeforeValidator(check)


Glob = Annotated[str, AfterValidator(rules.check_glob)]
LabelKey = Annotated[str, AfterValidator(rules.check_label_key)]
LabelValue = Annotated[str, AfterValidator(rules.check_label_value)]
EnvName = Annotated[str, AfterValidator(rules.check_env_name)]
EnvValue = Annotated[str, AfterValidator(check_env_value)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Retries(_Model):
    """How often and how patiently a failed step is retried (`retries: 2` is the short form)."""

    limit: int = Field(ge=0, le=rules.INT_MAX, description="Retries after the first attempt.")
    backoff: Duration = Field(0, description="Delay before the first retry.")
    factor: int = Field(1, ge=1, le=rules.INT_MAX, description="Multiplier applied to the delay after each retry.")
    max_backoff: Duration | None = Field(None, description="Upper bound of one delay.")


def _retries_short_form(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"limit": value}
    return value


RetriesField = Annotated[
    Retries,
    BeforeValidator(_retries_short_form),
    ShortForm({"type": "integer", "minimum": 0, "maximum": rules.INT_MAX, "description": "A retry count."}),
]


class Limits(_Model):
    """The most a step's container may use (Kubernetes limits)."""

    cpu: Annotated[str | int | float, _quantity("cpu")] | None = Field(None, description="CPU limit (2, 1500m).")
    memory: Annotated[str, _quantity("memory")] | None = Field(None, description="Memory limit (4Gi).")
    ephemeral_storage: Annotated[str, _quantity("storage")] | None = Field(None, description="Local disk limit (10Gi).")


class Resources(_Model):
    """Compute requested by a task step, and its limits."""

    cpu: Annotated[str | int | float, _quantity("cpu")] | None = Field(
        None, description="CPU, as Kubernetes quantity (500m, 2)."
    )
    memory: Annotated[str, _quantity("memory")] | None = Field(
        None, description="Memory, as Kubernetes quantity (1Gi)."
    )
    gpu: Count | None = Field(None, description="Number of GPUs (nvidia.com/gpu).")
    ephemeral_storage: Annotated[str, _quantity("storage")] | None = Field(
        None, description="Local disk requested (ephemeral-storage: 1Gi)."
    )
    limits: Limits | None = Field(None, description="Limits: {cpu, memory, ephemeral_storage}.")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        from transpile.ir.kube_rules import request_within_limit

        for name in ("cpu", "memory", "ephemeral_storage"):
            request_within_limit(name, getattr(self, name), getattr(self.limits, name, None))
        return self


class Secret(_Model):
    """A Kubernetes secret key exposed to the step as an environment variable."""

    secret: Annotated[str, Field(min_length=1), AfterValidator(lambda v: rules.check_dns_subdomain(v, "secret name"))]
    key: Annotated[str, Field(min_length=1), AfterValidator(rules.check_config_key)]
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Toleration(_Model):
    """A Kubernetes toleration."""

    key: LabelKey | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Annotated[int, Field(le=rules.INT_MAX)] | None = None


def check_key_file(pattern: str) -> str:
    """A `cache.key_files` glob: relative to the run's working directory, never climbing out of it."""
    if not pattern.strip() or pattern.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", pattern):
        raise ValueError(f"key file pattern '{pattern}' must be a path relative to the working directory")
    if ".." in re.split(r"[\\/]", pattern) or "\x00" in pattern:
        raise ValueError(f"key file pattern '{pattern}' must stay inside the working directory (no '..', no NUL)")
    return pattern


class Cache(_Model):
    """Caching of a task step's results across runs (`cache: true` is the short form)."""

    max_age: Duration | None = Field(None, description="Entries older than this are not used (default: no limit).")
    key_files: tuple[Annotated[str, AfterValidator(check_key_file)], ...] = Field(
        (), description="Globs of more files whose contents are part of the key (relative to the working directory)."
    )
    key_env: tuple[EnvName, ...] = Field((), description="Environment variables whose values are part of the key.")


CacheField = Annotated[
    Annotated[Cache, Tag("settings")] | Annotated[StrictBool, Tag("switch")],
    Discriminator(lambda value: "settings" if isinstance(value, (dict, Cache)) else "switch"),
    Field(description="true: cache with no limit; false: never cache this step; or {max_age, key_files, key_env}."),
]


class Settings(_Model):
    """Settings of a task step; `defaults` holds the same fields for every task step."""

    image: Annotated[str, AfterValidator(check_image)] | None = Field(None, description="Container image.")
    retries: RetriesField | None = Field(None, description="Retry policy, or a retry count.")
    timeout: Duration | None = Field(None, description="Time allowed for one attempt.")
    resources: Resources | None = None
    env: dict[EnvName, EnvValue] | None = Field(None, description="Environment variables.")
    secrets: tuple[Secret, ...] | None = None
    node_selector: dict[LabelKey, LabelValue] | None = None
    tolerations: tuple[Toleration, ...] | None = None
    service_account: (
        Annotated[str, AfterValidator(lambda v: rules.check_dns_subdomain(v, "service account name"))] | None
    ) = Field(None, description="Kubernetes service account of the step's pod (default: the deploy config's).")
    pod: PodSection | None = Field(
        None, description="Kubernetes pod settings, written as Kubernetes writes them (camelCase)."
    )
    cache: CacheField | None = Field(None, description="Reuse the step's results across runs (off by default).")

    @field_validator("env")
    @classmethod
    def _env_sizes(cls, env: dict[str, str] | None) -> dict[str, str] | None:
        found = {name: env_value_problem(name, value) for name, value in (env or {}).items()}
        too_big = [f"{name} {problem}" for name, problem in found.items() if problem]
        if too_big:
            raise ValueError("; ".join(too_big))
        return env


SETTING_FIELDS: tuple[str, ...] = tuple(Settings.model_fields)


class Catalog(_Model):
    """Files copied between the step's working directory and the run's catalog on the shared volume."""

    get: tuple[Glob, ...] = Field((), description="Globs copied from the catalog before the step runs.")
    put: tuple[Glob, ...] = Field((), description="Globs copied into the catalog after the step succeeds.")


class Block(_Model):
    """A sub-pipeline: an ordered mapping of step name to step."""

    steps: dict[str, Step] = Field(description="Step name -> step, in order.")


class MapSpec(_Model):
    """Runtime fan-out: the body runs once per item of a list parameter."""

    over: Identifier = Field(description="Name of a list-valued parameter or upstream return.")
    as_: Identifier = Field(alias="as", description="Name under which the body sees the item.")
    steps: dict[str, Step]
    batch: int | None = Field(
        None,
        ge=1,
        le=rules.INT_MAX,
        description="Items per pod (Airflow task instance, Prefect task, SLURM array task); default: one, "
        "batched automatically beyond the engine's limit. `transpile run` runs every item on its own.",
    )


class SwitchSpec(_Model):
    """Exactly one case runs, chosen by a parameter's value."""

    on: Identifier = Field(description="Name of the parameter or upstream return to route on.")
    cases: dict[str, Block] = Field(min_length=1)


class Step(Settings, StepShape):
    """One step: a task (`python`, `shell` or `stub`) or a composite (`map`, `parallel`, `switch`)."""

    needs: Annotated[tuple[str, ...], ShortForm({"type": "string", "description": "One upstream step."})] = Field(
        (), description="Upstream steps in the same block."
    )
    python: str | None = Field(None, description="module:function to call.")
    shell: str | None = Field(None, description="Shell command to run with bash -c.")
    stub: bool | None = Field(None, description="A no-op placeholder step.")
    map: MapSpec | None = None
    parallel: dict[str, Block] | None = Field(None, description="Static branches, each a sub-pipeline.")
    switch: SwitchSpec | None = None
    returns: tuple[Identifier, ...] = Field((), description="Names for the step's return value.")
    catalog: Catalog | None = None

    @field_validator("needs", mode="before")
    @classmethod
    def _needs_short_form(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    def settings(self) -> Settings:
        """The step's own settings fields."""
        return Settings(**{name: getattr(self, name) for name in SETTING_FIELDS})


CRON = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\s+([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+"
    r"|([A-Za-z0-9*,/?-]+\s+){4}[A-Za-z0-9*,/?-]+)$"
)


class Schedule(_Model):
    """When the pipeline runs by itself (`schedule: "0 3 * * *"` is the short form)."""

    cron: Annotated[str, AfterValidator(check_cron)] = Field(
        json_schema_extra={"pattern": CRON},
        description="A cron expression (five fields) or @daily, @every 1h, ...",
    )
    timezone: Annotated[str, AfterValidator(rules.check_timezone)] | None = Field(
        None, description="IANA time zone of the cron, e.g. Europe/Paris."
    )
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] | None = Field(
        None, description="What to do when a run is due while the previous one still runs."
    )


def _schedule_short_form(value: Any) -> Any:
    return {"cron": value} if isinstance(value, str) else value


class Pipeline(_Model):
    """A whole pipeline."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
        title="transpile pipeline",
    )

    name: Annotated[str, AfterValidator(lambda v: rules.check_dns_label(v, "pipeline name"))] = Field(
        json_schema_extra={"pattern": DNS_LABEL, "maxLength": 63}, description="Lowercase DNS-1123 label."
    )
    description: str | None = None
    parameters: dict[Identifier, JsonValue] = Field(
        default_factory=dict, description="Initial values, any JSON; overridable per run."
    )
    defaults: Settings = Field(default_factory=Settings, description="Settings for every task step.")
    steps: dict[str, Step] = Field(min_length=1)
    on_failure: Block | None = Field(None, description="Runs when the pipeline fails.")
    schedule: (
        Annotated[
            Schedule,
            BeforeValidator(_schedule_short_form),
            ShortForm({"type": "string", "pattern": CRON, "description": "A cron expression."}),
        ]
        | None
    ) = Field(None, description="A cron schedule, or {cron, timezone, concurrency_policy}.")


Block.model_rebuild()
MapSpec.model_rebuild()
SwitchSpec.model_rebuild()
Step.model_rebuild()
Pipeline.model_rebuild()
