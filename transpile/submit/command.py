"""`transpile submit`: check everything offline, then put the objects on the cluster; optionally run and follow.

Order: read the objects (a compiled spec file read as kubectl reads it, or a pipeline compiled now), check
them, the namespace and the run's parameters; then (unless `--dry-run client`, which sends nothing and
needs no kubeconfig) connect, check the namespace exists, create the volume claim (left as is when it
exists), the library WorkflowTemplates, the main one and the CronWorkflow (replaced when they exist), and
with `--run` start a Workflow, with `--wait` follow it to the end.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transpile.errors import Diagnostic, TranspileError

ORDER = {"PersistentVolumeClaim": 0, "WorkflowTemplate": 1, "CronWorkflow": 2}
PART_OF = "transpile.io/part-of"


def fail(message: str, hint: str | None = None) -> TranspileError:
    return TranspileError([Diagnostic(message, hint=hint)])


def load_objects(reference: str, config_path: str | None) -> list[dict[str, Any]]:
    """The objects to submit: a manifest file as kubectl reads it, or a pipeline compiled to Argo now."""
    from transpile.compiler import source_file
    from transpile.specfile import looks_like_manifests, parse_manifests, read_manifests

    path = Path(source_file(reference))
    if path.suffix in (".yaml", ".yml", ".json"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read {reference}: {exc}") from None
        if path.suffix == ".json" or looks_like_manifests(text):
            return read_manifests(path)[1]
    from transpile.backends.base import EmitOptions
    from transpile.compiler import compile_pipeline
    from transpile.config import load_config
    from transpile.emit import emit_files

    files = emit_files(compile_pipeline(reference), load_config(config_path), "argo", EmitOptions(with_claim=True))
    return [obj for name, text in files.items() for obj in parse_manifests(text, name)]


def is_main(obj: dict[str, Any]) -> bool:
    """The WorkflowTemplate a run starts from (the others are libraries it references)."""
    library = annotation(obj, PART_OF) is not None
    return obj["kind"] == "WorkflowTemplate" and not library and "entrypoint" in (obj.get("spec") or {})


def annotation(obj: dict[str, Any], name: str) -> str | None:
    """An annotation of an object (None when absent; `annotations:` may be empty)."""
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(name)


def parameter_kinds(main: dict[str, Any]) -> dict[str, str]:
    """{parameter: kind} of the WorkflowTemplate a run starts from: the kinds transpile recorded when it
    compiled the spec (`params.TYPES_ANNOTATION`), else `any` for each parameter the spec declares."""
    from transpile.plan.params import TYPES_ANNOTATION, kinds_from_annotation

    declared = [p.get("name") for p in ((main.get("spec") or {}).get("arguments") or {}).get("parameters") or []]
    recorded = kinds_from_annotation(annotation(main, TYPES_ANNOTATION)) or {}
    return {str(name): recorded.get(str(name), "any") for name in declared if name}


def run_parameters(pairs: list[str], main: dict[str, Any] | None, run: bool) -> dict[str, str]:
    """`-p NAME=VALUE` pairs, checked against the WorkflowTemplate's parameters and their types by the one
    checker `transpile run` uses; every problem at once."""
    from transpile.plan.params import check_given_kinds

    if pairs and not run:
        raise fail("-p sets a parameter of a run; add --run")
    parameters: dict[str, str] = {}
    problems = []
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            problems.append(Diagnostic(f"-p expects NAME=VALUE, got {item!r}"))
        else:
            parameters[key] = value
    if run and main is None:
        problems.append(Diagnostic("--run needs a WorkflowTemplate with an entrypoint among the submitted objects"))
    if main is not None and run:
        found = check_given_kinds(parameter_kinds(main), parameters)
        problems += [Diagnostic(f"{main['metadata']['name']}: {problem}") for problem in found]
    if problems:
        raise TranspileError(problems)
    return parameters


def cache_parameter(args: Any, main: dict[str, Any] | None, report: Report) -> dict[str, str]:
    """`--no-cache` and `--refresh STEP` as the run parameter `transpile_cache` (a spec has it when the
    pipeline caches a step; without it `--no-cache` changes nothing and `--refresh` is refused)."""
    if not args.no_cache and not args.refresh:
        return {}
    from transpile.plan.cache_mode import (
        CACHE_PARAMETER,
        CACHED_ANNOTATION,
        CacheMode,
        CacheModeError,
        cached_from_annotation,
        covers,
    )

    if not args.run:
        raise fail("--no-cache and --refresh set the cache mode of a run; add --run")
    try:
        mode = CacheMode.of(not args.no_cache, args.refresh)
    except CacheModeError as exc:
        raise fail(str(exc)) from None
    if main is not None and CACHE_PARAMETER not in parameter_kinds(main):
        if mode.refresh:
            raise fail(f"--refresh: {main['metadata']['name']} caches no step (it has no {CACHE_PARAMETER} parameter)")
        report.line(f"note: {main['metadata']['name']} caches no step: --no-cache changes nothing")
        return {}
    cached = cached_from_annotation(annotation(main, CACHED_ANNOTATION)) if main is not None else None
    unknown = [wanted for wanted in mode.refresh if cached is not None and not covers(wanted, cached)]
    if unknown:
        problems = [
            f"--refresh {w}: no cached step is {w} or under it (cached steps: {', '.join(cached)})" for w in unknown
        ]
        raise TranspileError([Diagnostic(problem) for problem in problems])
    return {CACHE_PARAMETER: mode.text()}


class Report:
    """What submit prints: progress lines (text), nothing but the workflow name (quiet), or one JSON object."""

    def __init__(self, mode: str):
        self.mode = mode
        self.objects: list[dict[str, str]] = []
        self.result: dict[str, Any] = {}

    def line(self, text: str) -> None:
        if self.mode == "text":
            print(text, flush=True)
        elif self.mode == "json":
            print(text, file=sys.stderr, flush=True)

    def workflow(self, name: str) -> None:
        self.result["workflow"] = name
        if self.mode != "json":
            print(name, flush=True)

    def finish(self, namespace: str, dry_run: str | None) -> None:
        if self.mode == "json":
            document = {"namespace": namespace, "dryRun": dry_run, "objects": self.objects, **self.result}
            print(json.dumps(document, indent=2), flush=True)


def submit(args: Any) -> int:
    """The `transpile submit` command."""
    from transpile.submit.checks import check_objects, namespace_problem

    report = Report("quiet" if args.quiet else args.output)
    objects = load_objects(args.spec, args.config)
    objects.sort(key=lambda o: (ORDER.get(o["kind"], 3), is_main(o)))
    problems = check_objects(objects, args.spec)
    main = next((o for o in objects if is_main(o)), None)
    parameters: dict[str, str] = {}
    try:
        parameters = run_parameters(args.param, main, args.run)
        parameters.update(cache_parameter(args, main, report))
    except TranspileError as exc:
        problems += exc.diagnostics
    spec_namespaces = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")})
    if args.namespace and namespace_problem(args.namespace):
        problems.append(Diagnostic(str(namespace_problem(args.namespace))))
    elif len(spec_namespaces) > 1 and not args.namespace:
        problems.append(
            Diagnostic(
                f"the objects name several namespaces ({', '.join(spec_namespaces)}); a run needs them in one",
                hint="give -n NAMESPACE to put them all there",
            )
        )
    if problems:
        raise TranspileError(problems)
    namespace = args.namespace or (spec_namespaces[0] if spec_namespaces else None)
    if args.dry_run == "client":
        return dry_run_client(args, objects, namespace, parameters, main, report)
    from transpile.submit.cluster import Cluster
    from transpile.submit.kubeconfig import new_client

    api, context_namespace = new_client(args.kubeconfig, args.context)
    namespace = namespace or context_namespace
    in_namespace(objects, namespace)
    cluster = Cluster(api, namespace, args.dry_run, (args.connect_timeout, args.request_timeout), report.line)
    cluster.check_namespace()
    for obj in objects:
        action = cluster.apply(obj)
        report.objects.append({"kind": obj["kind"], "name": obj["metadata"]["name"], "action": action})
    if args.run:
        assert main is not None  # run_parameters refused --run without it
        name = cluster.run(main["metadata"]["name"], parameters)
        report.workflow(name)
        if args.wait and not args.dry_run:
            phase, timed_out = cluster.wait(name, args.poll, args.timeout)
            report.result["phase"] = phase
            if timed_out:
                report.result["timedOut"] = True
                report.line(f"workflow {name} still {phase} after {args.timeout:g}s; stopped waiting (it goes on)")
            report.finish(namespace, args.dry_run)
            return 0 if phase == "Succeeded" else 1
    report.finish(namespace, args.dry_run)
    return 0


def in_namespace(objects: list[dict[str, Any]], namespace: str) -> None:
    """Put every object in `namespace` (-n, else the spec's, else the kubeconfig context's), so the
    templates, the check of the namespace and the Workflow all meet in one place."""
    for obj in objects:
        obj["metadata"]["namespace"] = namespace


def dry_run_client(
    args: Any,
    objects: list[dict[str, Any]],
    namespace: str | None,
    parameters: dict[str, str],
    main: dict[str, Any] | None,
    report: Report,
) -> int:
    """Print what would be sent, sending nothing (no kubeconfig needed; its namespace used when readable)."""
    from transpile.submit.kubeconfig import context_namespace

    namespace = namespace or context_namespace(args.kubeconfig, args.context) or "default"
    in_namespace(objects, namespace)
    for obj in objects:
        where = f"{namespace}/{obj['metadata']['name']}"
        report.line(f"would create or update {obj['kind']} {where} (client dry run, nothing sent)")
        report.objects.append({"kind": obj["kind"], "name": obj["metadata"]["name"], "action": "none"})
    if args.run and main is not None:
        shown = " ".join(f"{k}={v}" for k, v in parameters.items())
        report.line(f"would create a Workflow from {main['metadata']['name']}{' with ' + shown if shown else ''}")
        report.workflow(f"{main['metadata']['name']}-(dry-run)")
    report.finish(namespace, "client")
    return 0


def positive(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def add_arguments(p: Any, func: Callable[[Any], int]) -> None:
    import argparse

    p.add_argument("spec", metavar="SPEC_OR_PIPELINE", help="a compiled Argo YAML file, or a pipeline to compile")
    p.add_argument(
        "-n", "--namespace", help="namespace of every object and the run (default: the spec's, else the context's)"
    )
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings, when compiling a pipeline")
    p.add_argument("--run", action="store_true", help="also start a Workflow from the WorkflowTemplate")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="parameter of that run")
    p.add_argument("--no-cache", action="store_true", help="that run reads and writes no step cache entry")
    p.add_argument(
        "--refresh", action="append", default=[], metavar="STEP", help="that run runs this cached step again"
    )
    p.add_argument(
        "--dry-run",
        choices=("server", "client"),
        help="server: the API server checks everything and persists nothing; client: send nothing, print the plan",
    )
    p.add_argument("--wait", action="store_true", help="follow the run to its end; exit 0 if it succeeded")
    p.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=positive, default=None, help="give up waiting after this many seconds")
    p.add_argument(
        "--request-timeout", type=positive, default=30.0, metavar="SECONDS", help="per API request (default 30)"
    )
    p.add_argument("--connect-timeout", type=positive, default=10.0, metavar="SECONDS", help="to connect (default 10)")
    p.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="json: one JSON object on stdout, for scripts"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the workflow's name (with --run)")
    p.set_defaults(func=func)
