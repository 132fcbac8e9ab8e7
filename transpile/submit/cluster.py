"""The API calls of `transpile submit`, with connect and request timeouts and one clear sentence per failure."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transpile.errors import Diagnostic, TranspileError
from transpile.plan.params import argo_safe

GROUP, VERSION = "argoproj.io", "v1alpha1"
PLURALS = {"WorkflowTemplate": "workflowtemplates", "CronWorkflow": "cronworkflows", "Workflow": "workflows"}
DONE = {"Succeeded", "Failed", "Error"}


def fail(message: str, hint: str | None = None) -> TranspileError:
    return TranspileError([Diagnostic(message, hint=hint)])


def _server_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return (exc.body or exc.reason or "").strip() if isinstance(exc.body, str) or exc.reason else str(exc)
    message = body.get("message") or exc.reason
    causes = [c.get("message", "") for c in (body.get("details") or {}).get("causes", []) if c.get("message")]
    return message + (": " + "; ".join(causes) if causes and not all(c in message for c in causes) else "")


def _not_found_kind(exc: Any) -> str | None:
    """The kind of what a 404 says is missing (`namespaces` for a namespace), from the Status body."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return None
    details = body.get("details") if isinstance(body, dict) else None
    return details.get("kind") if isinstance(details, dict) else None


def _same(current: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether the object on the server already is what would be sent: the same spec, labels and annotations
    (annotations others added, such as kubectl's, are ignored)."""
    have, want = current.get("metadata") or {}, body.get("metadata") or {}
    annotations = have.get("annotations") or {}
    return (
        current.get("spec") == body.get("spec")
        and (have.get("labels") or {}) == (want.get("labels") or {})
        and all(annotations.get(k) == v for k, v in (want.get("annotations") or {}).items())
    )


@dataclass
class Cluster:
    """The kubernetes client for one namespace; `dry_run` is None or "server" (a client dry run sends
    nothing and never builds a Cluster)."""

    api: Any
    namespace: str
    dry_run: str | None
    timeouts: tuple[float, float]  # (connect, request) seconds
    out: Callable[[str], None]

    @property
    def server(self) -> str:
        return self.api.configuration.host

    @property
    def suffix(self) -> str:
        return " (server dry run)" if self.dry_run == "server" else ""

    def call(self, what: str, function: Callable[..., Any], *args: Any, translate: bool = True, **kwargs: Any) -> Any:
        """Call the API with the timeouts (and dry run); API errors explained unless `translate` is False."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import (
            ConnectTimeoutError,
            HTTPError,
            MaxRetryError,
            NewConnectionError,
            ReadTimeoutError,
        )

        if self.dry_run == "server" and what.split()[0] in ("create", "replace"):
            kwargs["dry_run"] = "All"
        try:
            return function(*args, _request_timeout=self.timeouts, **kwargs)
        except ApiException as exc:
            if not translate:
                raise
            raise self.explain(what, exc) from None
        except (HTTPError, OSError) as exc:
            reason = exc.reason if isinstance(exc, MaxRetryError) else exc
            if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
                raise fail(
                    f"cannot connect to the Kubernetes API server at {self.server} within {self.timeouts[0]:g}s",
                    hint="check the kubeconfig's server address and the VPN, or raise --connect-timeout",
                ) from None
            if isinstance(reason, (ReadTimeoutError, TimeoutError)):
                raise fail(
                    f"the Kubernetes API server at {self.server} did not answer within {self.timeouts[1]:g}s "
                    f"(while trying to {what})",
                    hint="raise --request-timeout, or check the cluster's health",
                ) from None
            raise fail(
                f"cannot reach the Kubernetes API server at {self.server}: {getattr(reason, 'reason', None) or reason}",
                hint="check the kubeconfig's server address, the VPN or the cluster",
            ) from None

    def explain(self, what: str, exc: Any) -> TranspileError:
        message = _server_message(exc)
        status = exc.status
        if status == 404 and _not_found_kind(exc) == "namespaces":
            return fail(
                f"cannot {what}: namespace {self.namespace} does not exist on the cluster at {self.server}",
                hint=f"create it (kubectl create namespace {self.namespace}) or pass -n NAMESPACE",
            )
        if status in (401, 403):
            return fail(
                f"not allowed to {what} in namespace {self.namespace} ({status}): {message}",
                hint="check your credentials and RBAC (kubectl auth can-i)",
            )
        if status == 404 and "argoproj.io" in what:
            return fail(
                f"cannot {what}: the Argo Workflows CRDs are not installed on this cluster "
                f"({GROUP}/{VERSION} not found; server said: {message})",
                hint="install Argo Workflows v4, or point --context at a cluster that has it",
            )
        if status == 404:
            return fail(f"cannot {what}: {message}")
        if status == 409:
            return fail(f"conflict while trying to {what}: {message}", hint="someone changed it meanwhile; retry")
        if status == 422:
            return fail(f"the API server rejected the spec ({what}): {message}")
        return fail(f"the API server failed to {what} ({status}): {message}")

    # -- objects ------------------------------------------------------------------------------------
    def check_namespace(self) -> None:
        """Refuse a namespace that does not exist, before creating anything (skipped without read rights)."""
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException

        try:
            self.call(
                f"read namespace {self.namespace}", CoreV1Api(self.api).read_namespace, self.namespace, translate=False
            )
        except ApiException as exc:
            if exc.status == 404:
                raise fail(
                    f"namespace {self.namespace} does not exist on the cluster at {self.server}",
                    hint=f"create it (kubectl create namespace {self.namespace}) or pass -n NAMESPACE",
                ) from None
            if exc.status != 403:  # many users may not read namespaces: the creates will tell
                raise self.explain(f"read namespace {self.namespace}", exc) from None

    def apply(self, document: dict[str, Any]) -> str:
        """Create the object, or replace it when it exists (a claim that exists is left as is); the action."""
        from kubernetes.client import CoreV1Api, CustomObjectsApi
        from kubernetes.client.exceptions import ApiException

        kind, name = document["kind"], document["metadata"]["name"]
        namespace = document["metadata"].get("namespace") or self.namespace
        body = {**document, "metadata": {**document["metadata"], "namespace": namespace}}
        if kind == "PersistentVolumeClaim":
            try:
                self.call(
                    f"create PersistentVolumeClaim {name}",
                    CoreV1Api(self.api).create_namespaced_persistent_volume_claim,
                    namespace,
                    body,
                    translate=False,
                )
            except ApiException as exc:
                if exc.status != 409:
                    raise self.explain(f"create PersistentVolumeClaim {name}", exc) from None
                self.out(f"PersistentVolumeClaim {namespace}/{name} exists, left as is")
                return "unchanged"
            self.out(
                f"{'would create' if self.dry_run else 'created'} PersistentVolumeClaim {namespace}/{name}{self.suffix}"
            )
            return "created"
        objects = CustomObjectsApi(self.api)
        plural = PLURALS[kind]
        what = f"create {kind} {name} ({GROUP})"
        try:
            self.call(
                what, objects.create_namespaced_custom_object, GROUP, VERSION, namespace, plural, body, translate=False
            )
            self.out(f"{'would create' if self.dry_run else 'created'} {kind} {namespace}/{name}{self.suffix}")
            return "created"
        except ApiException as exc:
            if exc.status != 409:
                raise self.explain(what, exc) from None
        read = f"read {kind} {name} ({GROUP})"
        current = self.call(read, objects.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name)
        if _same(current, body):
            self.out(f"{kind} {namespace}/{name} is up to date, left as is")
            return "unchanged"
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        replace = f"replace {kind} {name} ({GROUP})"
        self.call(replace, objects.replace_namespaced_custom_object, GROUP, VERSION, namespace, plural, name, body)
        self.out(f"{'would update' if self.dry_run else 'updated'} {kind} {namespace}/{name}{self.suffix}")
        return "updated"

    def run(self, template_name: str, parameters: dict[str, str]) -> str:
        """Start a Workflow from the WorkflowTemplate; its name."""
        from kubernetes.client import CustomObjectsApi

        workflow: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workflow",
            "metadata": {
                "generateName": f"{template_name[:57]}-",
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "transpile", "transpile.io/pipeline": template_name},
            },
            "spec": {"workflowTemplateRef": {"name": template_name}},
        }
        if parameters:
            # values holding `{{` travel in the inert form Argo's substitution leaves alone (params.argo_safe)
            values = [{"name": k, "value": argo_safe(v)} for k, v in parameters.items()]
            workflow["spec"]["arguments"] = {"parameters": values}
        created = self.call(
            f"create Workflow from {template_name} ({GROUP})",
            CustomObjectsApi(self.api).create_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            "workflows",
            workflow,
        )
        if self.dry_run:
            self.out(f"would create a Workflow from {template_name}{self.suffix}")
        return created["metadata"].get("name") or f"{template_name}-(dry-run)"

    def wait(self, name: str, poll: float, timeout: float | None) -> tuple[str, bool]:
        """Follow a Workflow until it ends, or `timeout` seconds: (its last phase, whether time ran out)."""
        from kubernetes.client import CustomObjectsApi

        objects = CustomObjectsApi(self.api)
        started = time.monotonic()
        last = ""
        while True:
            read = f"read Workflow {name} ({GROUP})"
            workflow = self.call(
                read, objects.get_namespaced_custom_object, GROUP, VERSION, self.namespace, "workflows", name
            )
            status = workflow.get("status") or {}
            phase = status.get("phase") or "Pending"
            line = f"workflow {name}: {phase}" + (f" {status['progress']}" if status.get("progress") else "")
            if line != last:
                self.out(line)
                last = line
            if phase in DONE:
                if status.get("message") and phase != "Succeeded":
                    self.out(f"  {status['message']}")
                return phase, False
            if timeout is not None and time.monotonic() - started > timeout:
                return phase, True
            time.sleep(poll)
