"""A small Kubernetes API server on 127.0.0.1 that the real `kubectl` and the kubernetes client can talk to.

It serves what `kubectl create -f`, `kubectl apply -f` (client- and server-side) and `transpile submit` need:
legacy discovery (/api, /apis and their versions), an OpenAPI v3 index whose PATCH operations declare the
`fieldValidation` query parameter (so kubectl leaves validation to the server instead of downloading
schemas), and GET/POST/PUT/PATCH/DELETE on persistentvolumeclaims, workflowtemplates, cronworkflows and
workflows, kept in memory with resourceVersions. It enforces the limits a real cluster does:

- the total size of an object's annotations (keys + values) at most 262,144 bytes, answered 422 with the
  API server's wording (`metadata.annotations: Too long: must have at most 262144 bytes`);
- a request body at most 3 MiB (413, `Request entity too large: limit is 3145728`);
- the stored object at most etcd's 1.5 MiB request limit (500, `etcdserver: request is too large`).

Every request is recorded; `respond` can script answers (return None to fall through to the store), and
`hang=True` makes the server accept connections and never answer (for client timeouts).
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

ANNOTATIONS_LIMIT = 262_144  # apimachinery TotalAnnotationSizeLimitB
REQUEST_LIMIT = 3 * 1024 * 1024  # the API server's maximum request body
ETCD_LIMIT = 1536 * 1024  # etcd's default --max-request-bytes

Answer = tuple[int, Any]
Respond = Callable[[str, str, Any], "Answer | None"]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    short: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES = (
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", ("pvc",)),
    Resource("argoproj.io", "v1alpha1", "workflowtemplates", "WorkflowTemplate", ("wftmpl",)),
    Resource("argoproj.io", "v1alpha1", "cronworkflows", "CronWorkflow", ("cwf", "cronwf")),
    Resource("argoproj.io", "v1alpha1", "workflows", "Workflow", ("wf",)),
)
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A metav1.Status failure body, as the API server writes it."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    body |= {"reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic-merge directives such as `$patch` are dropped: this server's
    objects have no lists kubectl merges by key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def annotations_size(obj: dict) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    size: int
    body: Any
    auth: str | None
    status: int = 0


@dataclass
class FakeApiServer:
    respond: Respond | None = None
    hang: bool = False
    requests: list[Request] = field(default_factory=list)
    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # (plural, namespace, name)
    namespaces: set[str] = field(default_factory=lambda: {"default", "data"})

    def __post_init__(self) -> None:
        self._versions = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kubeconfig(self, path: Any, namespace: str = "data", token: str = "secret-token") -> Any:
        """Write a kubeconfig pointing at this server (context `test`) to `path`; returns `path`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    def writes(self) -> list[Request]:
        """The requests that would change something (dry runs included)."""
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]

    # -- routing -------------------------------------------------------------------------------------
    def handle(self, record: Request, raw: bytes) -> Answer:
        if self.hang:
            self._stop.wait(600)
            return 503, status(503, "ServiceUnavailable", "stopped")
        method, path, query, content_type = record.method, record.path, record.query, record.content_type
        body: Any = None
        if raw and len(raw) <= REQUEST_LIMIT:
            try:
                body = json.loads(raw)
            except ValueError:
                import yaml

                body = yaml.load(raw, Loader=yaml.CSafeLoader)
        record.body = body
        if self.respond is not None:
            answer = self.respond(method, path, body)
            if answer is not None:
                return answer
        if len(raw) > REQUEST_LIMIT:
            return 413, status(413, "RequestEntityTooLarge", f"Request entity too large: limit is {REQUEST_LIMIT}")
        discovered = self.discovery(path)
        if discovered is not None:
            return discovered
        return self.resource(method, path, query, body, content_type)

    def discovery(self, path: str) -> Answer | None:
        path = path.rstrip("/") or "/"
        groups = sorted({r.group for r in RESOURCES if r.group})
        if path == "/version":
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self.group(g) for g in groups]}
        if path.startswith("/apis/") and path.count("/") == 2 and path[6:] in groups:
            return 200, {"kind": "APIGroup", "apiVersion": "v1", **self.group(path[6:])}
        for prefix in sorted({r.prefix for r in RESOURCES}):
            if path == prefix:
                members = [r for r in RESOURCES if r.prefix == prefix]
                return 200, {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": members[0].group_version,
                    "resources": [
                        {"name": r.plural, "singularName": r.kind.lower(), "namespaced": True, "kind": r.kind}
                        | {"verbs": VERBS, "shortNames": list(r.short)}
                        for r in members
                    ],
                }
        if path == "/openapi/v3":
            return 200, {
                "paths": {
                    r.prefix[1:]: {"serverRelativeURL": f"{r.prefix.replace('/', '/openapi/v3/', 1)}?hash=fake"}
                    for r in RESOURCES
                }
            }
        if path.startswith("/openapi/v3/"):
            prefix = path[len("/openapi/v3") :]
            members = [r for r in RESOURCES if r.prefix == prefix]
            if members:
                return 200, self.openapi(members)
        return None

    @staticmethod
    def group(name: str) -> dict:
        version = next(r.version for r in RESOURCES if r.group == name)
        gv = {"groupVersion": f"{name}/{version}", "version": version}
        return {"name": name, "versions": [gv], "preferredVersion": gv}

    @staticmethod
    def openapi(members: list[Resource]) -> dict:
        """An OpenAPI v3 document whose PATCH operations accept `fieldValidation` (server-side validation)."""
        paths = {}
        for r in members:
            gvk = {"group": r.group, "version": r.version, "kind": r.kind}
            patch_types = [
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]
            if not r.group:
                patch_types.append("application/strategic-merge-patch+json")
            paths[f"{r.prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}"] = {
                "patch": {
                    "operationId": f"patch{r.kind}",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                    ],
                    "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in patch_types}},
                    "responses": {"200": {"description": "OK"}},
                }
            }
        return {"openapi": "3.0.0", "info": {"title": "fake", "version": "v1"}, "paths": paths, "components": {}}

    # -- objects -------------------------------------------------------------------------------------
    def resource(self, method: str, path: str, query: dict[str, list[str]], body: Any, content_type: str) -> Answer:
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4 and method == "GET":
            if parts[3] in self.namespaces:
                return 200, {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": parts[3]}}
            return 404, status(
                404, "NotFound", f'namespaces "{parts[3]}" not found', {"name": parts[3], "kind": "namespaces"}
            )
        # /api/v1/namespaces/NS/PLURAL[/NAME] or /apis/GROUP/VERSION/namespaces/NS/PLURAL[/NAME]
        base = 2 if parts[0] == "api" else 3
        if len(parts) < base + 3 or parts[base] != "namespaces":
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        prefix = "/" + "/".join(parts[:base])
        found = [r for r in RESOURCES if r.prefix == prefix and r.plural == parts[base + 2]]
        if not found:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        kind, namespace = found[0], parts[base + 1]
        name = parts[base + 3] if len(parts) > base + 3 else None
        dry_run = query.get("dryRun") == ["All"]
        with self._lock:
            if method == "GET" and name is None:
                items = [o for (p, ns, _), o in sorted(self.objects.items()) if p == kind.plural and ns == namespace]
                return 200, {"kind": f"{kind.kind}List", "apiVersion": kind.group_version, "items": items}
            if method == "POST" and name is None:
                return self.create(kind, namespace, body, dry_run)
            if name is None:
                return 405, status(405, "MethodNotAllowed", f"the server does not allow this method: {method}")
            key = (kind.plural, namespace, name)
            current = self.objects.get(key)
            if method == "GET":
                return (200, current) if current is not None else self.not_found(kind, name)
            if method == "DELETE":
                if current is None:
                    return self.not_found(kind, name)
                if not dry_run:
                    del self.objects[key]
                return 200, current
            if method == "PUT":
                if current is None:
                    return self.not_found(kind, name)
                wanted = (body.get("metadata") or {}).get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    return 409, status(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {kind.plural}.{kind.group or "core"} "{name}": the object '
                        "has been modified; please apply your changes to the latest version and try again",
                    )
                return self.store(kind, namespace, name, body, current, dry_run)
            if method == "PATCH":
                if content_type.startswith("application/apply-patch"):
                    if current is None:
                        return self.create(kind, namespace, body, dry_run)
                    return self.store(kind, namespace, name, merge_patch(current, body), current, dry_run)
                if current is None:
                    return self.not_found(kind, name)
                if not content_type.startswith(("application/merge-patch", "application/strategic-merge-patch")):
                    return 415, status(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")
                return self.store(kind, namespace, name, merge_patch(current, body), current, dry_run)
        return 405, status(405, "MethodNotAllowed", f"the server does not allow this method: {method}")

    def not_found(self, kind: Resource, name: str) -> Answer:
        qualified = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
        details = {"name": name, "group": kind.group, "kind": kind.plural}
        return 404, status(404, "NotFound", f'{qualified} "{name}" not found', details)

    def create(self, kind: Resource, namespace: str, body: Any, dry_run: bool) -> Answer:
        if not isinstance(body, dict):
            return 400, status(400, "BadRequest", "the body of the request was in an unknown format")
        if namespace not in self.namespaces:
            details = {"name": namespace, "kind": "namespaces"}
            return 404, status(404, "NotFound", f'namespaces "{namespace}" not found', details)
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        if not name and metadata.get("generateName"):
            name = metadata["generateName"] + f"{next(self._versions):05d}"[-5:]
        if not name:
            return 422, self.invalid(kind, "", "metadata.name", "Required value", "name or generateName is required")
        key = (kind.plural, namespace, name)
        if key in self.objects:
            qualified = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
            details = {"name": name, "group": kind.group, "kind": kind.plural}
            return 409, status(409, "AlreadyExists", f'{qualified} "{name}" already exists', details)
        obj = copy.deepcopy(body)
        obj["metadata"] = {**metadata, "name": name, "namespace": namespace}
        obj["metadata"].setdefault("uid", f"uid-{name}")
        obj["metadata"].setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return self.store(kind, namespace, name, obj, None, dry_run, created=True)

    def store(
        self, kind: Resource, namespace: str, name: str, obj: dict, current: dict | None, dry_run: bool, created=False
    ) -> Answer:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", kind.group_version)
        obj.setdefault("kind", kind.kind)
        obj["metadata"] = {**(current or {}).get("metadata", {}), **obj.get("metadata", {})}
        obj["metadata"].update(name=name, namespace=namespace)
        size = annotations_size(obj)
        if size > ANNOTATIONS_LIMIT:
            cause = f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes"
            return 422, self.invalid(kind, name, "metadata.annotations", cause, cause, reason="FieldValueTooLong")
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        if len(json.dumps(obj, separators=(",", ":")).encode()) > ETCD_LIMIT:
            return 500, status(500, "InternalError", "etcdserver: request is too large")
        if not dry_run:
            self.objects[(kind.plural, namespace, name)] = obj
        return (201 if created else 200), obj

    @staticmethod
    def invalid(kind: Resource, name: str, field_path: str, short: str, detail: str, reason="FieldValueInvalid"):
        qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
        message = f'{qualified} "{name}" is invalid: {field_path}: {detail}'
        details = {
            "name": name,
            "group": kind.group,
            "kind": kind.kind,
            "causes": [{"reason": reason, "message": short, "field": field_path}],
        }
        return status(422, "Invalid", message, details)


def _handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlparse(self.path)
            query = parse_qs(url.query)
            content_type = self.headers.get("Content-Type") or ""
            record = Request(
                self.command, url.path, query, content_type, len(raw), None, self.headers.get("Authorization")
            )
            server.requests.append(record)
            code, answer = server.handle(record, raw)
            record.status = code
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    return Handler
