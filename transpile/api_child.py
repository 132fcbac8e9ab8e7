"""The process `transpile.run` starts: `python -m transpile.api_child REQUEST.json RESULT.json`.

It runs the pipeline with the runner of `transpile run` (`runs.start_run`) and writes what happened as
JSON: the run id, the exit code and the run's values, or the located errors of a refused input. A
process of its own, with the caller's `sys.path`, so the runner's worker processes never re-import the
caller's `__main__` (a script calling `flow.run()` at top level), Ctrl-C ends the run as the CLI's does,
and nothing of the runner (signal handlers, imports, `sys.path`) stays in the caller's interpreter.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any


def _new_run_id(pipeline: str, store: Path) -> str:
    from transpile.runtime.loader import load_pipeline

    name = load_pipeline(pipeline, store).plan.name
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _values(pipeline: str, store: Path, run_id: str) -> dict[str, Any] | None:
    from transpile.results import read_run, run_values
    from transpile.runtime.loader import load_pipeline

    run = read_run(store, run_id)
    if run is None:
        return None
    return run_values(load_pipeline(pipeline, store), run._runstore, run.parameters)


def _parameter_texts(pipeline: str, store: Path, values: dict[str, Any], resume: str | None) -> dict[str, str]:
    """The run's parameter values as texts, once they are checked against the declared types (the one
    checker of `transpile.plan.params`: a Python value must already have its parameter's type)."""
    from transpile.errors import Diagnostic, TranspileError
    from transpile.plan.params import check_values, encode
    from transpile.runtime.loader import load_pipeline

    if values and not resume:
        problems = check_values(load_pipeline(pipeline, store).plan.parameters, values)
        if problems:
            raise TranspileError([Diagnostic(problem) for problem in problems])
    return {name: encode(value) for name, value in values.items()}


def execute(request: dict[str, Any]) -> dict[str, Any]:
    """Run the request; the result as JSON-ready data."""
    from transpile.errors import Diagnostic, TranspileError
    from transpile.plan.cache_mode import CacheMode
    from transpile.plan.params import ParameterError
    from transpile.runtime.runs import check_store, start_run

    pipeline, store = request["pipeline"], Path(request["store"])
    run_id = request["run_id"]
    try:
        check_store(store)
        texts = _parameter_texts(pipeline, store, request["parameters"], request["resume"])
        if run_id is None and request["resume"] is None:
            run_id = _new_run_id(pipeline, store)
        run_id = run_id or request["resume"]
        _, code = start_run(
            pipeline,
            texts,
            store=store,
            parallelism=request["parallelism"],
            run_id=None if request["resume"] else run_id,
            resume=request["resume"],
            out=sys.stderr,
            cache=CacheMode.parse(request.get("cache")),
        )
        return {"run_id": run_id, "exit_code": code, "values": _values(pipeline, store, run_id)}
    except TranspileError as exc:
        return {"diagnostics": [asdict(d) for d in exc.diagnostics]}
    except ParameterError as exc:
        return {"diagnostics": [asdict(Diagnostic(str(exc)))]}
    except KeyboardInterrupt:
        return {"run_id": run_id, "exit_code": 130, "interrupted": True}
    except OSError as exc:  # the file system refused (a store that is a file, no permission): the CLI's exit 2
        reason = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
        return {"diagnostics": [asdict(Diagnostic(reason))]}
    except Exception as exc:  # a bug in transpile: reported to the caller as an internal error
        return {"run_id": run_id, "internal": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str]) -> int:
    request_path, result_path = argv
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    sys.path[:] = request["sys_path"]
    result = execute(request)
    Path(result_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
