"""Deploy settings (namespace, image, volume, ...), kept apart from the pipeline in an optional file."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from transpile.ir.models import DNS_LABEL, Duration

_LABEL = re.compile(r"(?=.{0,63}$)([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VolumeConfig(_Model):
    """The shared volume every pod mounts; it holds the run store."""

    claim: str = Field("transpile-store", pattern=DNS_LABEL, max_length=63, description="PersistentVolumeClaim.")
    mount_path: str = Field("/mnt/transpile", pattern=r"^/", description="Where pods mount the volume.")
    mode: Literal["existing", "template"] = Field(
        "existing", description="Mount an existing claim, or create one per run (volumeClaimTemplates)."
    )
    size: str = Field("10Gi", description="Requested size when transpile writes the claim.")
    storage_class: str | None = None
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


class DeployConfig(_Model):
    """Where and how a compiled pipeline runs."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="transpile deploy settings")

    namespace: str | None = Field(None, pattern=DNS_LABEL)
    image: str | None = Field(None, description="Image for steps that name none (and for control nodes).")
    service_account: str | None = None
    volume: VolumeConfig = Field(default_factory=VolumeConfig)
    labels: dict[str, str] = Field(default_factory=dict)
    parallelism: int | None = Field(None, ge=1, description="Most pods of one run at once.")
    ttl: Duration | None = Field(None, description="Delete finished runs after this long.")
    pipeline_file: str | None = Field(
        None, description="Path of the pipeline file inside the image (default: the path compiled)."
    )
    working_dir: str | None = Field(None, description="Working directory of every container.")
    command: tuple[str, ...] = Field(("transpile",), min_length=1, description="How the image runs transpile.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Object size budget.")

    @field_validator("labels")
    @classmethod
    def _label_values(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            name = key.rsplit("/", 1)[-1]
            if not _LABEL.fullmatch(name) or not name:
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label name")
            if not _LABEL.fullmatch(value):
                raise ValueError(f"label {key}: {value!r} is not a valid label value (at most 63 of [A-Za-z0-9._-])")
        return labels


def load_config(path: str | None) -> DeployConfig:
    """Read a deploy config file (YAML), or the defaults when no path is given."""
    if path is None:
        return DeployConfig()
    from transpile.frontends.validation import validate_model
    from transpile.frontends.yaml import read_yaml_file

    data, source = read_yaml_file(path)
    return validate_model(DeployConfig, data, source)
