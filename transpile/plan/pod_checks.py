"""Checks of the pods a pipeline makes that need the deploy config: located, every one at once, exit 2.

A `pod:` section is written in up to three places (the deploy config, the pipeline's `defaults`, a step)
and the pods get them layered (`transpile.ir.pod.merge`). Each section's own values are checked against
the deploy config's Pod Security profile where they are written; the layered pods are checked for what
only shows once layered: a volume mount naming a volume the pod does not have, a mount over the run
store, a resource request above the limit it meets. `deploy_problems` checks the deploy config alone
(reported in its file), `pipeline_problems` the pipeline under it (reported in the pipeline's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transpile.errors import Diagnostic
from transpile.ir import kube_rules, pod_security
from transpile.ir.graph import walk
from transpile.ir.pod import merge
from transpile.ir.source import DocPath, SourceMap, step_doc_path
from transpile.passes.validate import display

if TYPE_CHECKING:
    from transpile.compiler import Compiled
    from transpile.config import DeployConfig
    from transpile.ir.pod_model import Pod


@dataclass(frozen=True)
class Layer:
    """One written `pod:` section: where it is (its document path in `source`, None: not locatable)."""

    pod: Pod | None
    doc: DocPath
    source: SourceMap | None
    step: str | None = None


class _Report:
    def __init__(self) -> None:
        self.found: dict[tuple[Any, str], Diagnostic] = {}

    def add(self, layer: Layer, path: DocPath, message: str, hint: str | None = None, key: bool = False) -> None:
        if layer.source is None:  # the deploy config's own problems are reported in its file
            return
        span = layer.source.span(layer.doc + path, key=key)
        where = ".".join(str(s) for s in layer.doc + path)
        diagnostic = Diagnostic(f"{where}: {message}", span, step=layer.step, hint=hint)
        self.found.setdefault((span, diagnostic.message), diagnostic)

    def profile(self, layer: Layer, level: str) -> None:
        """Every value of the section that the profile forbids, where it is written."""
        data = layer.pod.data() if layer.pod is not None else None
        for path, message, hint in pod_security.violations(data, level):
            self.add(layer, path, message, hint)

    def layered(self, layers: list[Layer], store_path: str) -> None:
        """What only shows once the sections are layered: mounts without their volume, mounts over the store."""
        pod: Pod | None = None
        for layer in layers:
            pod = merge(pod, layer.pod)
        if pod is None or not pod.volume_mounts:
            return
        mounts_from = next(layer for layer in reversed(layers) if layer.pod and layer.pod.volume_mounts)
        volumes_from = next((layer for layer in reversed(layers) if layer.pod and layer.pod.volumes), None)
        names = {volume.name for volume in pod.volumes or ()}
        store = store_path.rstrip("/")
        for i, mount in enumerate(pod.volume_mounts):
            if mount.name not in names:
                message = f"volume mount {mount.mount_path} names volume '{mount.name}', which this pod does not have"
                hint = "add it to `volumes` (a section's volumes replace those it is layered on)"
                if mounts_from.source is not None:
                    self.add(mounts_from, ("volumeMounts", i, "name"), message, hint)
                elif volumes_from is not None and volumes_from.source is not None:
                    self.add(volumes_from, ("volumes",), message, hint, key=True)
            if mounts_from.source is not None and (
                mount.mount_path.rstrip("/") == store or mount.mount_path.startswith(store + "/")
            ):
                message = f"mountPath {mount.mount_path} is inside the run store's mount path {store_path}"
                self.add(mounts_from, ("volumeMounts", i, "mountPath"), message, "mount it elsewhere")


def deploy_problems(config: DeployConfig, source: SourceMap) -> list[Diagnostic]:
    """The deploy config's `pod` section against its own `security` profile and volumes."""
    report = _Report()
    layer = Layer(config.pod, ("pod",), source)
    report.profile(layer, config.security)
    report.layered([layer], config.volume.mount_path)
    return list(report.found.values())


def pipeline_problems(compiled: Compiled, config: DeployConfig) -> list[Diagnostic]:
    """The pipeline's `pod` sections against the deploy config's profile, and its pods once layered."""
    pipeline, source = compiled.pipeline, compiled.source
    report = _Report()
    deploy = Layer(config.pod, ("pod",), None)  # its own problems are reported in its file
    defaults = Layer(pipeline.defaults.pod, ("defaults", "pod"), source)
    report.profile(defaults, config.security)
    shared = deploy.pod is not None or defaults.pod is not None  # sections every step's pod is layered on
    controls = False
    for located in walk(pipeline):
        step = located.step
        if not step.is_task:
            controls = controls or step.map is not None or step.switch is not None
            continue
        written = compiled.own_pods.get(located.path)
        limits = step.resources is not None and step.resources.limits is not None
        if written is None and not shared and not limits:
            continue  # nothing to check (most steps of a large pipeline)
        doc = step_doc_path(pipeline, located.path)
        own = Layer(written, doc + ("pod",), source, display(located.path))
        report.profile(own, config.security)
        report.layered([deploy, defaults, own], config.volume.mount_path)
        _limits(report, Layer(None, doc + ("resources",), source, display(located.path)), step)
    if controls:
        report.layered([deploy, defaults], config.volume.mount_path)
    return list(report.found.values())


def _limits(report: _Report, layer: Layer, step: Any) -> None:
    """A request (from `defaults` or the step) above the limit it meets once layered."""
    resources = step.resources
    if resources is None or resources.limits is None:
        return
    for name in ("cpu", "memory", "ephemeral_storage"):
        try:
            kube_rules.request_within_limit(name, getattr(resources, name), getattr(resources.limits, name))
        except ValueError as exc:
            report.add(layer, (name,), str(exc), "`defaults` and the step's resources merge key by key", key=True)
