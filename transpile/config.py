"""Deploy settings (namespace, image, volume, ...), kept apart from the pipeline in an optional file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from transpile.ir import rules
from transpile.ir.image import check_image
from transpile.ir.models import DNS_LABEL, Duration, LabelKey, LabelValue, Resources
from transpile.ir.pod import PodSection
from transpile.plan import batching

if TYPE_CHECKING:
    from transpile.frontends.validation import Checked
    from transpile.ir.source import SourceMap


def _named(check, what: str) -> AfterValidator:
    return AfterValidator(lambda value: check(value, what))


_SIZE = AfterValidator(lambda value: rules.check_quantity(value, "storage"))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VolumeConfig(_Model):
    """The shared volume every pod mounts; it holds the run store."""

    claim: Annotated[str, _named(rules.check_dns_label, "claim name")] = Field(
        "transpile-store",
        json_schema_extra={"pattern": DNS_LABEL, "maxLength": 63},
        description="PersistentVolumeClaim.",
    )
    mount_path: str = Field("/mnt/transpile", pattern=r"^/", description="Where pods mount the volume.")
    mode: Literal["existing", "template"] = Field(
        "existing", description="Mount an existing claim, or create one per run (volumeClaimTemplates)."
    )
    size: Annotated[str, _SIZE] = Field("10Gi", description="Requested size when transpile writes the claim.")
    storage_class: Annotated[str, _named(rules.check_dns_subdomain, "storage class name")] | None = None
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"] = "ReadWriteMany"
    emit_claim: bool = Field(False, description="Write the PersistentVolumeClaim manifest beside the spec.")


ANNOTATION_SAFE_BYTES = 240 * 1024  # plain `kubectl apply`: the last-applied annotation must stay under 256 KiB
ETCD_SAFE_BYTES = 1024 * 1024  # `kubectl create`, `apply --server-side`, `transpile submit`: etcd's request limit


class SplitConfig(_Model):
    """How large one emitted object may be; bigger specs are split into several (Argo: library templates)."""

    max_object_bytes: int = Field(
        ANNOTATION_SAFE_BYTES,
        ge=64 * 1024,
        le=ETCD_SAFE_BYTES,
        description="Largest object's compact JSON in bytes: the default fits plain `kubectl apply`; up to 1 MiB "
        "for teams that only use `kubectl apply --server-side`, `kubectl create` or `transpile submit`.",
    )


class SlurmConfig(_Model):
    """Settings of the SLURM target (`transpile compile -t slurm`): where its jobs go and what they read."""

    partition: str | None = Field(None, description="sbatch --partition of every job.")
    account: str | None = Field(None, description="sbatch --account of every job.")
    qos: str | None = Field(None, description="sbatch --qos of every job.")
    options: tuple[str, ...] = Field(
        (), description="More sbatch options for every job, each one word, e.g. `--constraint=avx2`."
    )
    secrets_dir: str = Field(
        "~/.transpile/secrets",
        description="A step's secret key is read from the file SECRETS_DIR/<secret>/<key> (mode 600).",
    )

    @field_validator("options")
    @classmethod
    def _options(cls, options: tuple[str, ...]) -> tuple[str, ...]:
        for option in options:
            if not option.startswith("-"):
                raise ValueError(f"sbatch option {option!r} must start with '-' (one option per item)")
        return options


class ArgoConfig(_Model):
    """Settings of the Argo target."""

    max_pods_per_map: int = Field(
        batching.ARGO_MAX_PODS_PER_MAP,
        ge=1,
        le=rules.INT_MAX,
        description="Most pods one map's loop makes; its items are batched to fit. The default keeps the Workflow "
        "object of a 100,000-item map well inside etcd's 1.5 MiB without node-status offloading.",
    )


class PrefectConfig(_Model):
    """Settings of the Prefect target."""

    max_tasks_per_map: int = Field(
        batching.PREFECT_MAX_TASKS_PER_MAP,
        ge=1,
        le=rules.INT_MAX,
        description="Most task runs one map's body step makes; its items are batched to fit.",
    )


class DeployConfig(_Model):
    """Where and how a compiled pipeline runs."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="transpile deploy settings")

    namespace: Annotated[str, _named(rules.check_dns_label, "namespace")] | None = Field(
        None, json_schema_extra={"pattern": DNS_LABEL}
    )
    image: Annotated[str, AfterValidator(check_image)] | None = Field(
        None, description="Image for steps that name none (and for control nodes)."
    )
    service_account: Annotated[str, _named(rules.check_dns_subdomain, "service account name")] | None = None
    volume: VolumeConfig = Field(default_factory=VolumeConfig)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="Labels of every object and pod.")
    parallelism: int | None = Field(None, ge=1, le=rules.INT_MAX, description="Most pods of one run at once.")
    ttl: Duration | None = Field(None, description="Delete finished runs after this long.")
    pipeline_file: str | None = Field(
        None, description="Path of the pipeline file inside the image (default: the path compiled)."
    )
    working_dir: str | None = Field(None, description="Working directory of every container.")
    command: tuple[str, ...] = Field(("transpile",), min_length=1, description="How the image runs transpile.")
    slurm: SlurmConfig | None = Field(None, description="Settings of the SLURM target.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Object size budget.")
    argo: ArgoConfig = Field(default_factory=ArgoConfig, description="Settings of the Argo target.")
    prefect: PrefectConfig = Field(default_factory=PrefectConfig, description="Settings of the Prefect target.")
    security: Literal["privileged", "baseline", "restricted"] = Field(
        "baseline",
        description="The Pod Security Standards profile every pod must pass: `restricted` also sets what it "
        "requires (runAsNonRoot, RuntimeDefault seccomp, no privilege escalation, all capabilities dropped).",
    )
    pod: PodSection | None = Field(
        None, description="Kubernetes pod settings for every pod (under the pipeline's `defaults.pod` and steps' own)."
    )
    control_resources: Resources | None = Field(
        None,
        description="Requests and limits of the control pods (a map's fan-out, a switch's select) and of Prefect's "
        "flow pod, for namespaces whose ResourceQuota needs them.",
    )


def load_config(path: str | None) -> DeployConfig:
    """Read a deploy config file (YAML), or the defaults when no path is given."""
    if path is None:
        return DeployConfig()
    from transpile.errors import TranspileError
    from transpile.frontends.yaml import read_yaml_file

    data, source = read_yaml_file(path, empty="")  # an empty (or all-comment) file: every default
    checked = check_deploy({} if data is None else data, source)
    if checked.diagnostics or checked.model is None:
        raise TranspileError(checked.diagnostics)
    return checked.model


def check_deploy(data: Any, source: SourceMap) -> Checked[DeployConfig]:
    """Validate deploy config data: its format, then its `pod` section against its own `security` profile."""
    from transpile.frontends.validation import check_model
    from transpile.plan.pod_checks import deploy_problems

    checked = check_model(DeployConfig, data, source)
    if checked.model is not None:
        checked.diagnostics += deploy_problems(checked.model, source)
    return checked
