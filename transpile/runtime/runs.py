"""`transpile run` and `transpile runs list|show`: run locally, and read the run store."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

DEFAULT_STORE = ".transpile/store"


def _store(args: argparse.Namespace) -> Path:
    return Path(args.store or os.environ.get("TRANSPILE_STORE") or DEFAULT_STORE)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a whole pipeline on this machine")
    p.add_argument("pipeline", metavar="PIPELINE")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    p.add_argument("--store", help=f"run store directory (default: $TRANSPILE_STORE or {DEFAULT_STORE})")
    p.add_argument("--parallelism", type=int, default=os.cpu_count() or 2, help="nodes at once (default: cores)")
    p.add_argument("--resume", metavar="RUN_ID", help="rerun a failed run, skipping nodes that succeeded")
    p.add_argument("--run-id", help="name the run (default: <pipeline>-<time>-<random>)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list runs or show one (from the run store)")
    runs = p.add_subparsers(dest="runs_command", required=True, metavar="list|show")
    q = runs.add_parser("list", help="every run in the store")
    q.add_argument("--store")
    q.set_defaults(func=cmd_runs_list)
    q = runs.add_parser("show", help="status tree, durations, returned values and log paths of a run")
    q.add_argument("run_id", metavar="RUN_ID")
    q.add_argument("--store")
    q.set_defaults(func=cmd_runs_show)


def _parameters(items: list[str]) -> dict[str, str]:
    from transpile.errors import Diagnostic, TranspileError

    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TranspileError([Diagnostic(f"-p expects NAME=VALUE, got {item!r}")])
        values[name] = value
    return values


def cmd_run(args: argparse.Namespace) -> int:
    run_id, code = start_run(
        args.pipeline,
        _parameters(args.param),
        store=_store(args),
        parallelism=args.parallelism,
        run_id=args.run_id,
        resume=args.resume,
    )
    return code


def start_run(
    pipeline: str,
    parameters: dict[str, str],
    *,
    store: Path,
    parallelism: int,
    run_id: str | None = None,
    resume: str | None = None,
    out: TextIO = sys.stderr,
) -> tuple[str, int]:
    """Run (or resume) a pipeline locally to its end: (run id, exit code 0/1). Raises TranspileError for bad
    input. The one entry point of `transpile run` and of the Python API's `transpile.run`."""
    from transpile.errors import Diagnostic, TranspileError
    from transpile.runtime.local import LocalRunner
    from transpile.runtime.store import RunStore

    if resume:
        previous = RunStore(store, resume).run_record()
        if previous is None:
            raise TranspileError([Diagnostic(f"no run '{resume}' in {store}")])
        runner = LocalRunner(pipeline, store, {}, parallelism, run_id=resume, resume=True, out=out)
        if runner.loaded.hash != previous["hash"]:
            raise TranspileError(
                [
                    Diagnostic(
                        f"cannot resume {resume}: {pipeline} changed since that run "
                        f"(hash {runner.loaded.hash[:12]}, the run used {previous['hash'][:12]})",
                        hint="start a new run instead",
                    )
                ]
            )
        if parameters:
            raise TranspileError([Diagnostic("--resume reuses the run's parameters; drop -p")])
        from transpile.runtime.values import parse_parameters

        runner.raw_parameters = {k: _as_text(v) for k, v in previous["parameters"].items()}
        runner.values = parse_parameters(runner.pipeline.parameters, runner.raw_parameters)
        runner.reader.parameters = runner.values
    else:
        unknown = [name for name in parameters if name not in _declared(pipeline, store)]
        if unknown:
            raise TranspileError([Diagnostic(f"unknown parameter(s): {', '.join(unknown)}")])
        runner = LocalRunner(pipeline, store, parameters, parallelism, run_id=run_id, out=out)
    return runner.run_id, runner.run()


def _declared(pipeline: str, store: Path) -> dict:
    from transpile.runtime.loader import load_pipeline

    return load_pipeline(pipeline, store).plan.parameters


def _as_text(value) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def cmd_runs_list(args: argparse.Namespace) -> int:
    from transpile.runtime.report import run_rows, table

    rows = run_rows(_store(args))
    if not rows:
        print(f"no runs in {_store(args)}", file=sys.stderr)
        return 0
    print(table([("run", "pipeline", "status", "started", "nodes ok", "failed")] + rows))
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from transpile.errors import Diagnostic, TranspileError
    from transpile.runtime.report import show_run

    text = show_run(_store(args), args.run_id)
    if text is None:
        raise TranspileError([Diagnostic(f"no run '{args.run_id}' in {_store(args)}")])
    print(text)
    return 0
