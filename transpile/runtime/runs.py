"""`transpile run` and `transpile runs list|show`: run locally, and read the run store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

DEFAULT_STORE = ".transpile/store"


def _store(args: argparse.Namespace) -> Path:
    store = Path(args.store or os.environ.get("TRANSPILE_STORE") or DEFAULT_STORE)
    check_store(store)
    return store


def check_store(store: Path) -> None:
    """A store that exists must be a directory: a file-system error (one line, exit 2; `CompileError` in the
    API) before anything reads or writes."""
    if store.exists() and not store.is_dir():
        import errno

        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(store))


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    store_help = f"run store directory (default: $TRANSPILE_STORE, else {DEFAULT_STORE})"
    p = sub.add_parser("run", help="run a whole pipeline on this machine")
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline.yaml, pipeline.py or pipeline.py:attribute")
    p.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter's value for this run"
    )
    p.add_argument("--store", help=store_help)
    cores = os.cpu_count() or 2
    p.add_argument(
        "--parallelism", type=positive_int, default=cores, help="attempts at once, at least 1 (default: the cores)"
    )
    p.add_argument("--resume", metavar="RUN_ID", help="continue a failed run, reusing the nodes that succeeded")
    p.add_argument("--run-id", help="name the run (default: <pipeline>-<time>-<random>)")
    p.add_argument("--no-cache", action="store_true", help="run every step: read and write no step cache entry")
    p.add_argument(
        "--refresh",
        action="append",
        default=[],
        metavar="STEP",
        help="run this cached step (a composite: every step under it) even when an entry matches; repeatable",
    )
    p.add_argument("--explain-cache", action="store_true", help="say for each cached step why it hit or missed")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list runs or show one (from the run store)")
    runs = p.add_subparsers(dest="runs_command", required=True, metavar="list|show")
    json_help = "print JSON for scripts (one object on stdout; unreadable files under `problems`)"
    q = runs.add_parser("list", help="every run in the store")
    q.add_argument("--store", help=store_help)
    q.add_argument("--json", action="store_true", help=json_help)
    q.set_defaults(func=cmd_runs_list)
    q = runs.add_parser("show", help="status tree, durations, returned values and log paths of a run")
    q.add_argument(
        "run_id",
        metavar="RUN_ID",
        nargs="?",
        help="the run's id (`transpile runs list` lists them); default: the latest",
    )
    q.add_argument("--store", help=store_help)
    q.add_argument("--json", action="store_true", help=json_help)
    q.set_defaults(func=cmd_runs_show)


def _parameters(items: list[str], pipeline: str, store: Path) -> dict[str, str]:
    """`-p NAME=VALUE` pairs; a malformed one is reported with every other problem of the values given."""
    from transpile.errors import Diagnostic, TranspileError
    from transpile.plan.params import check_given
    from transpile.runtime.loader import load_pipeline

    values, problems = {}, []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            problems.append(Diagnostic(f"-p expects NAME=VALUE, got {item!r}"))
        else:
            values[name] = value
    if problems:
        try:
            declared = load_pipeline(pipeline, None).plan.parameters
            problems += [Diagnostic(problem) for problem in check_given(declared, values)]
        except TranspileError as exc:
            problems += exc.diagnostics
        raise TranspileError(problems)
    return values


def cmd_run(args: argparse.Namespace) -> int:
    run_id, code = start_run(
        args.pipeline,
        _parameters(args.param, args.pipeline, _store(args)),
        store=_store(args),
        parallelism=args.parallelism,
        run_id=args.run_id,
        resume=args.resume,
        cache=cache_mode(not args.no_cache, args.refresh),
        explain_cache=args.explain_cache,
    )
    if sys.argv[1:2] == ["run"]:  # this process is `transpile run`: skip the interpreter's teardown
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
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
    cache: Any = None,
    explain_cache: bool = False,
) -> tuple[str, int]:
    """Run (or resume) a pipeline locally to its end: (run id, exit code 0 succeeded, 1 failed, 130 stopped).
    Raises TranspileError for bad input. The one entry point of `transpile run` and of the Python API's
    `transpile.run`; it leaves no signal handler or lock behind. `cache`: the run's CacheMode (None: on);
    `explain_cache` prints each cached step's hit or miss, and why, after the summary."""
    from transpile.errors import Diagnostic, TranspileError
    from transpile.plan.notes import kubernetes_only
    from transpile.plan.params import check_given
    from transpile.runtime.lease import Lease, LeaseHeld
    from transpile.runtime.loader import load_pipeline
    from transpile.runtime.local import LocalRunner
    from transpile.runtime.records import CorruptRecord
    from transpile.runtime.recovery import clean_workdirs, recover
    from transpile.runtime.store import RunStore, StoreFault, apply_umask, run_id_problem
    from transpile.runtime.values import parse_parameters
    from transpile.runtime.verdict import unreadable_files

    def refuse(message: str, hint: str | None = None) -> TranspileError:
        return TranspileError([Diagnostic(message, hint=hint)])

    store = Path(store).absolute()
    check_store(store)
    try:
        apply_umask(os.environ.get("TRANSPILE_UMASK"))
    except ValueError as exc:
        raise refuse(str(exc)) from None
    loaded = load_pipeline(pipeline, store)
    if cache is not None:
        from transpile.plan.cache_mode import refresh_problems

        found = refresh_problems(cache, loaded.plan)
        if found:
            raise TranspileError([Diagnostic(message, hint=hint) for message, hint in found])
    note = kubernetes_only(loaded.plan)
    if note:
        print(note, file=out)
    if resume:
        if run_id_problem(resume):
            raise refuse(run_id_problem(resume))
        run = RunStore(store, resume)
        try:
            previous = run.run_record()
        except CorruptRecord as exc:
            raise refuse(f"cannot resume {resume}: cannot read {exc}", hint="a run needs its run.json") from None
        if previous is None:
            raise refuse(f"no run '{resume}' in {store}")
        if loaded.hash != previous.hash:
            raise refuse(
                f"cannot resume {resume}: {pipeline} changed since that run "
                f"(hash {loaded.hash[:12]}, the run used {previous.hash[:12]})",
                hint="start a new run instead",
            )
        if parameters:
            raise refuse("--resume reuses the run's parameters; drop -p")
        if _finished(run, loaded.plan):
            raise refuse(
                f"run '{resume}' already succeeded: there is nothing to resume",
                hint=f"start a new run: transpile run {pipeline}",
            )
        broken = unreadable_files(run)
        if broken:
            raise TranspileError(
                [Diagnostic(f"cannot resume {resume}: cannot read {exc}", hint=fix) for exc, fix in broken]
            )
        values = previous.parameters
    else:
        problems = check_given(loaded.plan.parameters, parameters)  # the one checker of values given per run
        if problems:
            raise TranspileError([Diagnostic(problem) for problem in problems])
        values = parse_parameters(loaded.plan.parameters, parameters)
        run = _new_run(store, loaded, pipeline, values, run_id, refuse)
    lease = Lease(run, notify=lambda message: print(message, file=out, flush=True))
    try:
        lease.acquire()
    except LeaseHeld as exc:
        raise refuse(str(exc)) from None
    except StoreFault as fault:
        raise refuse(f"cannot take the lease of run '{run.run_id}': {fault.reason}") from None
    try:
        if resume:
            try:
                recover(run, lease.holder)
            except StoreFault as fault:
                raise refuse(f"cannot resume {resume}: {fault.reason}") from None
        runner = LocalRunner(
            loaded, pipeline, run, values, parallelism, lease, resume=bool(resume), out=out, cache_mode=cache
        )
        code = runner.run()
        if explain_cache:
            from transpile.runtime.cache_step import explain_run

            out.write("\n".join(explain_run(run)) + "\n")
            out.flush()
        clean_workdirs(run.run_id)  # again: a killed runner's last spares may have outlived the first pass
        return run.run_id, code
    finally:
        lease.release()


def cache_mode(enabled: bool, refresh: list[str]) -> Any:
    """The CacheMode of `--no-cache` and `--refresh STEP...` (None: the default, on); TranspileError when
    they contradict each other or a step is not written as a step id."""
    if enabled and not refresh:
        return None
    from transpile.errors import Diagnostic, TranspileError
    from transpile.plan.cache_mode import CacheMode, CacheModeError

    try:
        return CacheMode.of(enabled, refresh)
    except CacheModeError as exc:
        raise TranspileError([Diagnostic(str(exc))]) from None


def _finished(run, plan) -> bool:  # noqa: ANN001 - a RunStore and a Plan
    """Whether the run succeeded and nothing of it is left to do: its runner recorded success and released
    the lease, and every top-level step's result is still published (a result removed by hand is rerun)."""
    from transpile.runtime.lease import current, is_live
    from transpile.runtime.records import CorruptRecord

    try:
        status, lease = run.status(), current(run)
        if status is None or status.status != "succeeded" or (lease is not None and is_live(lease)):
            return False
        return all(run.result(name) is not None for name, step in plan.steps.items() if step.parallel is None)
    except CorruptRecord:
        return False  # --resume's other checks name the unreadable file


def _new_run(store: Path, loaded, pipeline: str, values: dict, run_id: str | None, refuse):
    """Create the run's directory and record; an existing id is refused (it is `--resume`'s job)."""
    import secrets
    import time

    from transpile.runtime.records import RunRecord
    from transpile.runtime.store import RunStore, now, run_id_problem

    for _ in range(20):
        fresh = f"{loaded.plan.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        chosen = run_id if run_id is not None else fresh
        if run_id_problem(chosen):
            raise refuse(run_id_problem(chosen))
        run = RunStore(store, chosen)
        record = RunRecord(chosen, loaded.plan.name, loaded.hash, values, pipeline, now())
        if run.create_run(record):  # a store that cannot be written: StoreFault, a one-line error
            return run
        if run_id is not None:
            raise refuse(
                f"run '{run_id}' already exists in {store}",
                hint=f"continue it with --resume {run_id}, or choose another --run-id",
            )
    raise refuse(f"could not find a free run id in {store}")


def cmd_runs_list(args: argparse.Namespace) -> int:
    from transpile.runtime.report import list_json, run_rows, table

    store = _store(args)
    if args.json:
        print(json.dumps(list_json(store), ensure_ascii=False, indent=1))
        return 0
    rows, problems = run_rows(store)
    if not rows:
        print(f"no runs in {store}", file=sys.stderr)
        return 0
    print(table([("run", "pipeline", "status", "started", "nodes ok", "failed")] + rows))
    for line in problems:
        print(line, file=sys.stderr)
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from transpile.errors import Diagnostic, TranspileError
    from transpile.runtime.report import show_json, show_run
    from transpile.runtime.store import list_runs

    store = _store(args)
    run_id = args.run_id
    if run_id is None:
        runs = list_runs(store)
        if not runs:
            raise TranspileError([Diagnostic(f"no runs in {store}")])
        run_id = runs[-1]
    if args.json:
        data = show_json(store, run_id)
        if data is None:
            raise TranspileError([Diagnostic(f"no run '{run_id}' in {store}")])
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return 0
    text = show_run(store, run_id)
    if text is None:
        raise TranspileError([Diagnostic(f"no run '{run_id}' in {store}")])
    print(text)
    return 0
