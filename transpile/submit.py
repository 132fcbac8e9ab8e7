"""`transpile submit`: put compiled specs on a cluster with the kubernetes client, optionally run and follow.

Creates the volume claim (left as is when it exists) and the WorkflowTemplate(s) and CronWorkflow (replaced
on conflict, with the server's resourceVersion), then with `--run` a Workflow from the template, and with
`--wait` follows it to the end. Every failure the API server reports becomes one clear sentence.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transpile.errors import Diagnostic, TranspileError

GROUP, VERSION = "argoproj.io", "v1alpha1"
PLURALS = {"WorkflowTemplate": "workflowtemplates", "CronWorkflow": "cronworkflows", "Workflow": "workflows"}
ORDER = {"PersistentVolumeClaim": 0, "WorkflowTemplate": 1, "CronWorkflow": 2}
DONE = {"Succeeded", "Failed", "Error"}


def fail(message: str, hint: str | None = None) -> TranspileError:
    return TranspileError([Diagnostic(message, hint=hint)])


def load_documents(reference: str, config_path: str | None, with_claim: bool = True) -> list[dict[str, Any]]:
    """The objects to submit: a compiled spec file as it is, or a pipeline compiled to Argo now."""
    import yaml

    from transpile.compiler import source_file

    path = Path(source_file(reference))
    if path.suffix in (".yaml", ".yml"):
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise fail(f"cannot read {reference}: {exc}") from None
        if documents and all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in documents):
            return documents
    from transpile.backends.argo import ArgoBackend
    from transpile.backends.base import EmitOptions
    from transpile.compiler import compile_pipeline
    from transpile.config import load_config

    config = load_config(config_path)
    compiled = compile_pipeline(reference)
    return ArgoBackend().documents(compiled, config, EmitOptions(with_claim=with_claim))


def _server_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return (exc.body or exc.reason or "").strip() if isinstance(exc.body, str) or exc.reason else str(exc)
    message = body.get("message") or exc.reason
    causes = [c.get("message", "") for c in (body.get("details") or {}).get("causes", []) if c.get("message")]
    return message + (": " + "; ".join(causes) if causes and not all(c in message for c in causes) else "")


@dataclass
class Cluster:
    """A thin wrapper over the kubernetes client that turns API errors into user-facing ones."""

    api: Any
    namespace: str
    dry_run: str | None
    out: Callable[[str], None]

    @property
    def server(self) -> str:
        return self.api.configuration.host

    def call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if self.dry_run == "server":
            kwargs["dry_run"] = "All"
        try:
            return function(*args, **kwargs)
        except ApiException as exc:
            raise self.explain(what, exc) from None
        except (HTTPError, OSError) as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: Exception) -> TranspileError:
        reason = getattr(exc, "reason", None) or exc
        return fail(
            f"cannot reach the Kubernetes API server at {self.server}: {reason}",
            hint="check the kubeconfig's server address, the VPN or the cluster",
        )

    def explain(self, what: str, exc: Any) -> TranspileError:
        message = _server_message(exc)
        status = exc.status
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
    def apply(self, document: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        kind, name = document["kind"], document["metadata"]["name"]
        namespace = document["metadata"].get("namespace") or self.namespace
        body = {**document, "metadata": {**document["metadata"], "namespace": namespace}}
        if self.dry_run == "client":
            self.out(f"would create or update {kind} {namespace}/{name} (dry run, nothing sent)")
            return
        if kind == "PersistentVolumeClaim":
            from kubernetes.client import CoreV1Api

            core = CoreV1Api(self.api)
            try:
                self.raw(core.create_namespaced_persistent_volume_claim, namespace, body)
                self.out(f"created PersistentVolumeClaim {namespace}/{name}")
            except ApiException as exc:
                if exc.status != 409:
                    raise self.explain(f"create PersistentVolumeClaim {name}", exc) from None
                self.out(f"PersistentVolumeClaim {namespace}/{name} exists, left as is")
            return
        from kubernetes.client import CustomObjectsApi

        objects = CustomObjectsApi(self.api)
        plural = PLURALS[kind]
        what = f"create {kind} {name} ({GROUP})"
        try:
            self.raw(objects.create_namespaced_custom_object, GROUP, VERSION, namespace, plural, body)
            self.out(f"created {kind} {namespace}/{name}")
            return
        except ApiException as exc:
            if exc.status != 409:
                raise self.explain(what, exc) from None
        current = self.call(
            f"read {kind} {name} ({GROUP})",
            objects.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
        )
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.call(
            f"replace {kind} {name} ({GROUP})",
            objects.replace_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            body,
        )
        self.out(f"updated {kind} {namespace}/{name}")

    def raw(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call without translating ApiException (the caller handles some statuses), but with dry-run."""
        from urllib3.exceptions import HTTPError

        kwargs = {"dry_run": "All"} if self.dry_run == "server" else {}
        try:
            return function(*args, **kwargs)
        except (HTTPError, OSError) as exc:
            raise self.unreachable(exc) from None

    def run(self, template: dict[str, Any], parameters: dict[str, str]) -> str:
        from kubernetes.client import CustomObjectsApi

        name = template["metadata"]["name"]
        declared = [p["name"] for p in template["spec"].get("arguments", {}).get("parameters", [])]
        unknown = [p for p in parameters if p not in declared]
        if unknown:
            raise fail(
                f"unknown parameter(s) {', '.join(unknown)} for {name}",
                hint=f"its parameters: {', '.join(declared) or 'none'}",
            )
        workflow = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workflow",
            "metadata": {
                "generateName": f"{name[:57]}-",
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "transpile", "transpile.io/pipeline": name},
            },
            "spec": {
                "workflowTemplateRef": {"name": name},
                "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]},
            },
        }
        if not parameters:
            del workflow["spec"]["arguments"]
        if self.dry_run == "client":
            self.out(f"would create a Workflow from {name} (dry run, nothing sent)")
            return f"{name}-(dry-run)"
        created = self.call(
            f"create Workflow from {name} ({GROUP})",
            CustomObjectsApi(self.api).create_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            "workflows",
            workflow,
        )
        return created["metadata"].get("name") or f"{name}-(dry-run)"

    def wait(self, name: str, poll: float, timeout: float | None) -> str:
        from kubernetes.client import CustomObjectsApi

        objects = CustomObjectsApi(self.api)
        started = time.monotonic()
        last = ""
        while True:
            workflow = self.call(
                f"read Workflow {name} ({GROUP})",
                objects.get_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                "workflows",
                name,
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
                return phase
            if timeout is not None and time.monotonic() - started > timeout:
                raise fail(f"workflow {name} still {phase} after {timeout:.0f}s")
            time.sleep(poll)


def connect(kubeconfig: str | None, context: str | None, namespace: str | None, dry_run: str | None) -> Cluster:
    """A Cluster from the kubeconfig (its context's namespace unless one is given)."""
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    try:
        api = kube_config.new_client_from_config(config_file=kubeconfig, context=context)
        _, active = kube_config.list_kube_config_contexts(config_file=kubeconfig)
        if context:
            contexts, _ = kube_config.list_kube_config_contexts(config_file=kubeconfig)
            active = next((c for c in contexts if c["name"] == context), active)
    except (ConfigException, OSError) as exc:
        where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise fail(f"no usable kubeconfig ({where}): {exc}", hint="pass --kubeconfig FILE or set KUBECONFIG") from None
    api.configuration.retries = 0
    namespace = namespace or (active or {}).get("context", {}).get("namespace") or "default"
    return Cluster(api, namespace, dry_run, lambda line: print(line, flush=True))


def submit(args: Any) -> int:
    """The `transpile submit` command."""
    documents = load_documents(args.spec, args.config)
    documents.sort(
        key=lambda d: (
            ORDER.get(d["kind"], 3),
            d["kind"] == "WorkflowTemplate" and "transpile.io/part-of" not in d["metadata"].get("annotations", {}),
        )
    )
    templates = [d for d in documents if d["kind"] == "WorkflowTemplate"]
    main = next((d for d in templates if "transpile.io/part-of" not in d["metadata"].get("annotations", {})), None)
    namespace = args.namespace or next(
        (d["metadata"].get("namespace") for d in documents if d["metadata"].get("namespace")), None
    )
    cluster = connect(args.kubeconfig, args.context, namespace, args.dry_run)
    for document in documents:
        cluster.apply(document)
    if not args.run:
        return 0
    if main is None:
        raise fail("--run needs a WorkflowTemplate among the submitted objects")
    parameters = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"-p expects NAME=VALUE, got {item!r}")
        parameters[key] = value
    name = cluster.run(main, parameters)
    print(name, flush=True)
    if not args.wait or args.dry_run:
        return 0
    phase = cluster.wait(name, args.poll, args.timeout)
    return 0 if phase == "Succeeded" else 1


def register(sub: Any) -> None:
    p = sub.add_parser("submit", help="create or update the compiled specs on a cluster; optionally run them")
    p.add_argument("spec", metavar="SPEC_OR_PIPELINE", help="a compiled Argo YAML file, or a pipeline to compile")
    p.add_argument("-n", "--namespace", help="namespace (default: the spec's, then the kubeconfig context's)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings, when compiling a pipeline")
    p.add_argument("--run", action="store_true", help="also start a Workflow from the WorkflowTemplate")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="parameter of that run")
    p.add_argument(
        "--dry-run",
        choices=("server", "client"),
        help="server: validate without persisting; client: send nothing, print the plan",
    )
    p.add_argument("--wait", action="store_true", help="follow the run to its end; exit 0 if it succeeded")
    p.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    p.set_defaults(func=submit)
