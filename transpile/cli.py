"""The `transpile` command line. Errors in the user's input print as a report and exit 2.

Imports are lazy per command, so `transpile execute-node` (run in every pod) loads only the runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_ERROR = 2
EXIT_INTERNAL = 3
EXIT_BROKEN_PIPE = 141  # as a process killed by SIGPIPE, like any Unix tool whose reader went away


def _write_output(text: str, path: Path) -> None:
    """Replace `path` with `text` (temp file + rename); a file-system problem is a one-line error."""
    from transpile.errors import Diagnostic, TranspileError

    tmp = path.with_name(path.name + ".tmp")
    try:
        blocker = _file_in_the_way(path.parent)
        if blocker is not None:
            reason = f"{blocker} is a file, not a directory"
        elif path.is_dir():
            reason = "it is a directory"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            return
    except OSError as exc:
        reason = exc.strerror or str(exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    raise TranspileError([Diagnostic(f"cannot write {path}: {reason}")])


def _file_in_the_way(directory: Path) -> Path | None:
    """The nearest existing ancestor of `directory` when it is not a directory (so nothing can go under it)."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _reason(exc: OSError) -> str:
    """An OSError in words, with the file concerned."""
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


def _output_path(target: str, default_name: str) -> Path:
    path = Path(target)
    if path.is_dir() or target.endswith(("/", os.sep)):
        path = path / default_name
    return path


def cmd_compile(args: argparse.Namespace) -> int:
    import gc

    # A compile allocates many small objects and frees them at exit: the cyclic collector would only
    # rescan them (it made big compiles up to twice as slow), so it is off for this short-lived process.
    gc.disable()
    from transpile.backends.base import EmitOptions
    from transpile.verify import verify

    options = EmitOptions(with_claim=args.with_claim, flavour=args.flavour)
    files = verify(args.pipeline, args.config, args.target, options, stdin_needs_file=True).files or {}
    main_name = next(iter(files))
    if args.check:
        if args.output == "-":
            from transpile.errors import Diagnostic, TranspileError

            raise TranspileError([Diagnostic("--check needs -o naming the committed file or its directory")])
        main_path = _output_path(args.output, main_name)
        paths = {name: main_path if name == main_name else main_path.parent / name for name in files}
        return max(_check(files[name], path) for name, path in paths.items())
    if args.output == "-":
        if len(files) == 1:
            sys.stdout.write(files[main_name])
        else:
            for name, text in files.items():
                sys.stdout.write(f"# ==> {name} <==\n{text}")
        return 0
    main_path = _output_path(args.output, main_name)
    for name, text in files.items():
        written = main_path if name == main_name else main_path.parent / name
        _write_output(text, written)
        print(f"wrote {written}", file=sys.stderr)
    _print_splits(args.pipeline, args.config, args.target)
    return 0


def _print_splits(pipeline: str, config: str | None, target: str) -> None:
    """How each map will be split into engine instances on the target (plan/batching.py)."""
    from transpile.plan import batching
    from transpile.plan.lower import lower
    from transpile.verify import verify

    verified = verify(pipeline, config, None)
    for line in batching.report(lower(verified.compiled, verified.config), target):
        print(f"  {line}", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate only: every problem of every pipeline given, nothing written (`--json`: one JSON document)."""
    from transpile.errors import TranspileError
    from transpile.verify import verify

    results = []
    for pipeline in args.pipelines:
        try:
            verified = verify(pipeline, args.config, args.target)
        except TranspileError as exc:
            if args.target is not None and not exc.diagnostics:
                raise
            results.append({"pipeline": pipeline, "ok": False, "errors": exc.diagnostics})
            if not args.json:
                print(str(exc), file=sys.stderr)
            continue
        steps = len(verified.compiled.index.steps)
        results.append({"pipeline": pipeline, "ok": True, "steps": steps, "errors": []})
        if not args.json:
            where = f", compiles for {args.target}" if args.target else ""
            print(f"{pipeline}: ok ({steps} step{'s' if steps != 1 else ''}{where})", file=sys.stderr)
            if args.target:
                _print_splits(pipeline, args.config, args.target)
    failed = any(not result["ok"] for result in results)
    if args.json:
        print(_check_json(results, args.target, ok=not failed))
    return EXIT_ERROR if failed else 0


def _check_json(results: list[dict], target: str | None, ok: bool) -> str:
    """`check --json`: {ok, target, pipelines: [{pipeline, ok, steps?, errors: [{message, file, line, column,
    step, hint}]}]}."""
    import json

    def error(diagnostic) -> dict:
        span = diagnostic.span
        return {
            "message": diagnostic.message,
            "file": span.file if span else None,
            "line": span.line if span and span.line > 0 else None,
            "column": span.col if span and span.line > 0 else None,
            "step": diagnostic.step,
            "hint": diagnostic.hint,
        }

    pipelines = [{**result, "errors": [error(d) for d in result["errors"]]} for result in results]
    return json.dumps({"ok": ok, "target": target, "pipelines": pipelines}, indent=2, ensure_ascii=False)


def _check(text: str, path: Path) -> int:
    import difflib

    try:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        from transpile.errors import Diagnostic, TranspileError

        reason = _reason(exc) if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise TranspileError([Diagnostic(f"cannot read {path}: {reason}")]) from None
    if current == text:
        print(f"{path} is up to date", file=sys.stderr)
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=f"{path} (on disk)",
        tofile=f"{path} (compiled)",
    )
    sys.stdout.writelines(diff)
    state = "differs from" if path.is_file() else "is missing; it should hold"
    print(f"{path} {state} the compiled output; recompile without --check", file=sys.stderr)
    return 1


def cmd_schema(args: argparse.Namespace) -> int:
    """The JSON Schemas, on standard output (`-`) or as files in a directory; never into the package."""
    from transpile.schema import rendered

    files = rendered(args.which)
    if args.output == "-":
        for name, text in files.items():
            sys.stdout.write(text if len(files) == 1 else f"# ==> {name} <==\n{text}")
        return 0
    directory = Path(args.output)
    for name, text in files.items():
        _write_output(text, directory / name)
        print(f"wrote {directory / name}", file=sys.stderr)
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from transpile.backends.registry import available

    for name, target in available().items():
        print(f"{name}\t{target}")
    return 0


class _TopParser(argparse.ArgumentParser):
    """The top-level parser: its help ends with the targets (plugins included), looked up only when shown."""

    def format_help(self) -> str:
        from transpile.backends.registry import available

        return super().format_help() + f"\ntargets (-t): {', '.join(available())}\n"


def build_parser() -> argparse.ArgumentParser:
    parser = _TopParser(
        prog="transpile",
        description="Compile pipeline DAGs (YAML or the Python SDK) to Argo Workflows, Airflow 3, Prefect 3 or "
        "SLURM, and run them locally the way every engine runs them.",
    )
    parser.add_argument("--version", action="version", version=f"transpile {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    target_help = "backend: argo (default), airflow, prefect, slurm or a plugin's (`transpile targets` lists them)"

    p = sub.add_parser("compile", help="compile a pipeline for a target engine")
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline.yaml, pipeline.py, pipeline.py:attribute, - (stdin)")
    p.add_argument("-t", "--target", default="argo", help=target_help)
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings (namespace, image, volume...)")
    p.add_argument("-o", "--output", default="-", metavar="FILE|DIR|-", help="where to write (default: stdout)")
    p.add_argument("--check", action="store_true", help="exit 1 with a diff if the output file is stale")
    p.add_argument("--with-claim", action="store_true", help="also emit the PersistentVolumeClaim manifest")
    p.add_argument(
        "--flavour", default=None, help="a backend's variant: airflow kubernetes|local, prefect pod|job (see README)"
    )
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("check", help="validate pipelines: print every problem, write nothing (exit 0 or 2)")
    p.add_argument("pipelines", nargs="+", metavar="PIPELINE", help="pipeline files (- reads standard input)")
    p.add_argument(
        "-t", "--target", default=None, help="also check what this backend can express (" + target_help + ")"
    )
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings to check with it")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout (for scripts)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("targets", help="list the available backends (built-ins, then plugins)")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("schema", help="print or write the JSON Schemas of the pipeline and deploy formats")
    p.add_argument("which", nargs="?", choices=("pipeline", "deploy"), help="only this schema (default: both)")
    p.add_argument(
        "-o", "--output", default="-", metavar="DIR|-", help="a directory to write the files into (default: stdout)"
    )
    p.set_defaults(func=cmd_schema)

    _register_other_commands(sub)
    return parser


def _register_other_commands(sub: argparse._SubParsersAction) -> None:
    """Commands whose modules register their own parsers (run, runs, cache, execute-node, submit, diff)."""
    from transpile import submit
    from transpile.review import diff
    from transpile.runtime import cache_command, command, runs

    command.register(sub)
    runs.register(sub)
    cache_command.register(sub)
    submit.register(sub)
    diff.register(sub)


def _version() -> str:
    from transpile import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `transpile` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["execute-node"]:
        # The per-node entrypoint of every pod: a parser with this one command, so nothing else is imported.
        from transpile.runtime.command import expand_file_arguments, register

        parser = argparse.ArgumentParser(prog="transpile")
        register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(expand_file_arguments(argv))
    else:
        args = build_parser().parse_args(argv)
    from transpile.errors import TranspileError

    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that went away is seen here, not at exit
        return code
    except TranspileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of our output went away (`| head -1`): stop quietly; Python's own flush at exit
        # would fail again, so standard output is pointed at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # the file system refused (a path that is a file, no permission, disk full...)
        print(f"error: {_reason(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in transpile, not in the user's input
        if os.environ.get("TRANSPILE_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in transpile; rerun with TRANSPILE_DEBUG=1 for a traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
