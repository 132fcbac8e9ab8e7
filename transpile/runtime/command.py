"""`transpile execute-node`: the per-node entrypoint every pod (and `transpile run`) executes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

PARAM_ENV = "TRANSPILE_PARAM_"


def expand_file_arguments(argv: list[str]) -> list[str]:
    """Replace every `@path` argument by the file's content (Argo offloads large arguments that way)."""
    expanded = []
    for arg in argv:
        if arg.startswith("@") and len(arg) > 1:
            try:
                expanded.append(Path(arg[1:]).read_text(encoding="utf-8"))
                continue
            except OSError as exc:
                raise SystemExit(f"transpile execute-node: cannot read argument file {arg[1:]}: {exc}") from None
        expanded.append(arg)
    return expanded


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _b64_parameter(text: str) -> tuple[str, str]:
    """`NAME=BASE64` (Argo pods): the value's text, untouched by Argo's templating, decoded."""
    from transpile.plan.params import ParameterError, from_base64

    name, value = _parameter(text)
    try:
        return name, from_base64(value)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(f"parameter '{name}': {exc}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("execute-node", help="run one node of a compiled pipeline (used inside pods)")
    p.add_argument("--pipeline", required=True, help="pipeline file inside the image")
    p.add_argument("--hash", default=None, help="hash of the compiled pipeline; refuse to run on mismatch")
    p.add_argument("--store", required=True, type=Path, help="run store root (the shared volume's mount)")
    p.add_argument("--run-id", help="run id ({{workflow.name}} on Argo; default: $TRANSPILE_RUN_ID)")
    p.add_argument("--node", required=True, help="node id, e.g. clean/load")
    p.add_argument(
        "--indices",
        default="",
        help="the instances to run: map indices of the enclosing maps, dot-separated (2, 2.0), or a batch "
        "START~END (0~99, 0.40~3.7)",
    )
    p.add_argument(
        "--max-instances",
        type=_positive,
        metavar="N",
        help="a map's fan-out: the most instances the engine takes for the map's body (items are batched to fit)",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        type=_parameter,
        metavar="NAME=VALUE",
        help="a parameter's value for this run (also read from $TRANSPILE_PARAM_<NAME>; -p wins)",
    )
    p.add_argument(
        "--param-b64",
        action="append",
        default=[],
        type=_b64_parameter,
        metavar="NAME=BASE64",
        help="a parameter's value as base64 of its text (how Argo pods receive values)",
    )
    p.add_argument("--control-out", type=Path, help="write the map/switch control value to this file")
    p.add_argument("--xcom", nargs="?", const="/airflow/xcom/return.json", type=Path, help="write it as XCom")
    p.add_argument("--print-control", action="store_true", help="print it as the last stdout line")
    p.add_argument("--no-echo", action="store_true", help="do not echo the step's output (logs only)")
    p.add_argument(
        "--force", action="store_true", help="run the step even if this node instance already has a published result"
    )
    p.add_argument(
        "--cache",
        metavar="MODE",
        help="the run's cache mode: on (default), off, refresh=STEP[,STEP...] (default: $TRANSPILE_CACHE)",
    )
    p.add_argument("--cache-b64", metavar="BASE64", help="the cache mode as base64 of its text (Argo pods)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transpile.errors import TranspileError
    from transpile.runtime.node import (
        EXIT_BAD_INPUT,
        EXIT_HASH_MISMATCH,
        HashMismatch,
        NodeError,
        NodeRequest,
        execute_node,
    )

    run_id = args.run_id or os.environ.get("TRANSPILE_RUN_ID")
    if not run_id:
        print("transpile execute-node: give --run-id or set TRANSPILE_RUN_ID", file=sys.stderr)
        return EXIT_BAD_INPUT
    parameters = {name[len(PARAM_ENV) :]: value for name, value in os.environ.items() if name.startswith(PARAM_ENV)}
    parameters.update(dict(args.param_b64))
    parameters.update(dict(args.param))
    cache = args.cache if args.cache is not None else os.environ.get("TRANSPILE_CACHE")
    if args.cache_b64 is not None:
        from transpile.plan.params import ParameterError, from_base64

        try:
            cache = from_base64(args.cache_b64)
        except ParameterError as exc:
            print(f"transpile execute-node: --cache-b64: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    request = NodeRequest(
        pipeline=args.pipeline,
        store=args.store,
        run_id=run_id,
        node=args.node,
        indices=args.indices,
        expected_hash=args.hash,
        parameters=parameters,
        control_out=args.control_out,
        xcom_out=args.xcom,
        print_control=args.print_control,
        echo=not args.no_echo,
        force=args.force,
        cache=cache,
        max_instances=args.max_instances,
    )
    from transpile.runtime.store import apply_umask

    try:
        apply_umask(os.environ.get("TRANSPILE_UMASK"))
    except ValueError as exc:
        print(f"transpile execute-node: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    signal.signal(signal.SIGTERM, _terminated)  # a stopped pod: record the attempt as interrupted
    if sys.argv[1:2] == ["execute-node"]:  # this process is the entrypoint (not a library call in a process
        from transpile.runtime import child  # with children of its own): catch what a dead step leaves

        child.become_subreaper()
    try:
        outcome = execute_node(request)
    except HashMismatch as exc:
        print(f"transpile execute-node: refusing to run: {exc}", file=sys.stderr)
        return EXIT_HASH_MISMATCH
    except NodeError as exc:
        print(f"transpile execute-node: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TranspileError as exc:
        print(f"transpile execute-node: the pipeline file does not compile:\n{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not outcome.ok:
        where = args.store / "runs" / run_id / "nodes" / outcome.key
        where = where / f"attempt.{outcome.attempt}" if outcome.attempt else where
        print(f"step '{args.node}' failed: {outcome.error}\n  logs: {where}", file=sys.stderr)
    elif outcome.status == "cached":
        print(f"node '{outcome.key}' was not run: its result comes from the step cache", file=sys.stderr)
    elif outcome.status == "reused":
        print(
            f"node '{outcome.key}' already succeeded in this run: its result is reused (--force runs it again)",
            file=sys.stderr,
        )
    if sys.argv[1:2] == ["execute-node"]:  # this process is the entrypoint: skip the interpreter's teardown,
        sys.stdout.flush()  # which after the attempt's fork would fault on every page of the heap
        sys.stderr.flush()
        os._exit(outcome.exit_code)
    return outcome.exit_code
