"""Find and read the kubeconfig as kubectl does, with one clear sentence for each way it can be unusable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from transpile.errors import Diagnostic, TranspileError

HINT = "pass --kubeconfig FILE, set KUBECONFIG, or use --dry-run client (which needs no cluster)"


def fail(message: str, hint: str | None = HINT) -> TranspileError:
    return TranspileError([Diagnostic(message, hint=hint)])


def kubeconfig_files(given: str | None) -> list[Path]:
    """The kubeconfig files in use: --kubeconfig, else $KUBECONFIG's existing entries, else ~/.kube/config."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise fail(
                f"kubeconfig {given} does not exist" if not path.exists() else f"kubeconfig {given} is not a file"
            )
        return [path]
    listed = [Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        found = [p for p in listed if p.is_file()]
        if not found:
            raise fail(f"none of the kubeconfig files in $KUBECONFIG exists ({os.environ['KUBECONFIG']})")
        return found
    default = Path("~/.kube/config").expanduser()
    if not default.is_file():
        raise fail("no kubeconfig: ~/.kube/config does not exist and KUBECONFIG is not set")
    return [default]


def read_kubeconfig(path: Path) -> dict[str, Any]:
    """One kubeconfig file as a mapping; a one-line error when it is not YAML or not a kubeconfig."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read kubeconfig {path}: {exc}", hint=None) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise fail(f"kubeconfig {path} is not valid YAML: {problem}{where}", hint=None) from None
    if not isinstance(data, dict) or not isinstance(data.get("clusters", []), list):
        raise fail(f"kubeconfig {path} is not a kubeconfig (no mapping of clusters, users and contexts)", hint=None)
    return data


def active_context(files: list[Path], context: str | None) -> tuple[str, dict[str, Any]]:
    """(context name, its `context` mapping), checked to name a cluster with a server."""
    merged: dict[str, list] = {"clusters": [], "contexts": [], "users": []}
    current = None
    for path in files:
        data = read_kubeconfig(path)
        for key in merged:
            merged[key] += [e for e in data.get(key) or [] if isinstance(e, dict)]
        current = current or data.get("current-context")
    where = ", ".join(str(p) for p in files)
    name = context or current
    if not name:
        raise fail(f"kubeconfig {where} sets no current-context", hint="pass --context NAME")
    contexts = {c.get("name"): c.get("context") or {} for c in merged["contexts"]}
    if name not in contexts:
        known = ", ".join(sorted(str(c) for c in contexts)) or "none"
        raise fail(f"context {name!r} is not in kubeconfig {where} (contexts: {known})", hint="pass --context NAME")
    chosen = contexts[name]
    clusters = {c.get("name"): c.get("cluster") or {} for c in merged["clusters"]}
    cluster = clusters.get(chosen.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise fail(f"context {name!r} in kubeconfig {where} names no cluster with a server address", hint=None)
    return name, chosen


def new_client(given: str | None, context: str | None) -> tuple[Any, str]:
    """(kubernetes ApiClient, the context's namespace or 'default') from the kubeconfig."""
    from kubernetes import config as kube_config

    files = kubeconfig_files(given)
    name, chosen = active_context(files, context)
    try:
        api = kube_config.new_client_from_config(
            config_file=os.pathsep.join(str(p) for p in files) if len(files) > 1 else str(files[0]), context=name
        )
    except Exception as exc:  # the client's own messages ("Invalid kube-config file") say little; keep it to one line
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise fail(f"cannot use context {name!r} of kubeconfig {files[0]}: {detail}", hint=None) from None
    api.configuration.retries = 0
    return api, str(chosen.get("namespace") or "default")


def context_namespace(given: str | None, context: str | None) -> str | None:
    """The context's namespace when a kubeconfig is readable, else None (for client dry runs)."""
    try:
        return str(active_context(kubeconfig_files(given), context)[1].get("namespace") or "default")
    except TranspileError:
        return None
