"""The `transpile` command line. Errors in the user's input print as a report and exit 2.

Imports are lazy per command, so `transpile execute-node` (run in every pod) loads only the runtime.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_ERROR = 2
EXIT_INTERNAL = 3


def _write_output(text: str, path: Path) -> None:
    """Replace `path` with `text` (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


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
    from transpile.backends.registry import get_backend
    from transpile.compiler import compile_pipeline
    from transpile.config import load_config
    from transpile.emit import emit_files

    get_backend(args.target)  # an unknown target is refused before anything is read
    config = load_config(args.config)
    compiled = compile_pipeline(args.pipeline)
    options = EmitOptions(with_claim=args.with_claim, flavour=args.flavour)
    files = emit_files(compiled, config, args.target, options)
    main_name = next(iter(files))
    if args.check:
        if args.output == "-":
            print("--check needs -o naming the committed file or its directory", file=sys.stderr)
            return EXIT_ERROR
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
    return 0


def _check(text: str, path: Path) -> int:
    import difflib

    current = path.read_text(encoding="utf-8") if path.is_file() else ""
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
    from transpile.schema import write_schemas

    for path in write_schemas(Path(args.output) if args.output else None):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from transpile.backends.registry import available

    for name, target in available().items():
        print(f"{name}\t{target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transpile", description="Compile pipeline DAGs to Argo Workflows, Airflow and Prefect."
    )
    parser.add_argument("--version", action="version", version=f"transpile {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="compile a pipeline for a target engine")
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline.yaml, pipeline.py or pipeline.py:attribute")
    p.add_argument("-t", "--target", default="argo", help="backend (default: argo; `transpile targets` lists)")
    p.add_argument("-c", "--config", metavar="DEPLOY.yaml", help="deploy settings (namespace, image, volume...)")
    p.add_argument("-o", "--output", default="-", metavar="FILE|DIR|-", help="where to write (default: stdout)")
    p.add_argument("--check", action="store_true", help="exit 1 with a diff if the output file is stale")
    p.add_argument("--with-claim", action="store_true", help="also emit the PersistentVolumeClaim manifest")
    p.add_argument("--flavour", default=None, help="backend-specific variant (see README)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("targets", help="list the available backends")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("schema", help="regenerate the JSON Schemas of the pipeline and deploy formats")
    p.add_argument("-o", "--output", metavar="DIR", help="directory (default: the package's schemas/)")
    p.set_defaults(func=cmd_schema)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


def _register_runtime(sub: argparse._SubParsersAction) -> None:
    from transpile import submit
    from transpile.review import diff
    from transpile.runtime import command, runs

    command.register(sub)
    runs.register(sub)
    submit.register(sub)
    diff.register(sub)


_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_register_runtime]


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
        return args.func(args)
    except TranspileError as exc:
        print(str(exc), file=sys.stderr)
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
