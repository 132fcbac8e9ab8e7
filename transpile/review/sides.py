"""The two sides of `transpile diff`, each a pipeline (compiled and lowered to its plan; its Argo YAML
emitted only when asked) or a compiled spec (read as kubectl reads it, its summary read back by structure).

On Linux the new side loads in a forked child while this process loads the old one: the sides are
independent, so on two cores a diff takes about the wall time of one compile. The child sends its plan
(or its spec's summary and text), then emits its Argo YAML only if the comparison needs it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transpile.errors import Diagnostic, TranspileError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from transpile.plan.model import Plan
    from transpile.review.summary import Summary


@dataclass
class Side:
    """One side of the comparison: its summary, its plan (pipelines only) and its Argo YAML, on demand."""

    label: str
    plan: Plan | None
    read_summary: Callable[[], Summary]
    read_text: Callable[[], str]

    prefetch: Callable[[], None] = lambda: None  # start emitting the YAML in the helper process
    release: Callable[[], None] = lambda: None  # end the helper process when the YAML is not needed

    @functools.cached_property
    def summary(self) -> Summary:
        return self.read_summary()


def load_side(reference: str, config: Any) -> Side:
    """A compiled spec as it is, or a pipeline compiled and lowered now (its Argo YAML emitted if needed)."""
    from transpile.compiler import compile_pipeline, source_file
    from transpile.specfile import looks_like_manifests, parse_manifests

    path = Path(source_file(reference))
    if path.suffix in (".yaml", ".yml"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TranspileError([Diagnostic(f"cannot read {reference}: {exc}")]) from None
        if looks_like_manifests(text):
            documents = parse_manifests(text, reference)
            return Side(reference, None, lambda: _spec_summary(reference, documents), lambda: text)
    from transpile.emit import emit_files
    from transpile.plan.lower import lower
    from transpile.review.summary import from_plan

    compiled = compile_pipeline(reference)
    plan = lower(compiled, config)

    def argo_text() -> str:
        files = emit_files(compiled, config, "argo")  # exactly what `transpile compile` writes
        if len(files) == 1:
            return next(iter(files.values()))
        return "".join(f"# ==> {name} <==\n{text}" for name, text in files.items())

    return Side(reference, plan, lambda: from_plan(plan), argo_text)


def _spec_summary(reference: str, documents: list[dict]) -> Summary:
    from transpile.review.spec_reader import SpecError, from_spec

    try:
        return from_spec(documents)
    except (SpecError, KeyError, TypeError, AttributeError) as exc:
        raise TranspileError([Diagnostic(f"{reference} is not an Argo spec transpile compiled: {exc}")]) from None


def load_both(old_reference: str, new_reference: str, config: Any) -> tuple[Side, Side]:
    """Both sides, the new one loaded concurrently in a child process where fork is safe (Linux)."""
    if not sys.platform.startswith("linux") or os.environ.get("TRANSPILE_DIFF_SERIAL"):
        return load_side(old_reference, config), load_side(new_reference, config)
    from multiprocessing import Pipe

    here, there = Pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        here.close()
        _serve(there, new_reference, config)
    there.close()
    try:
        old = load_side(old_reference, config)
        new = _receive(here, new_reference, pid)
    except BaseException:
        _stop(here, pid)
        raise
    return old, new


def _serve(connection: Connection, reference: str, config: Any) -> None:
    """In the child: load the side, send it, and emit its YAML if asked; exit without cleanup handlers."""
    code = 0
    try:
        side = load_side(reference, config)
        if side.plan is None:
            connection.send(("spec", side.summary, side.read_text()))
        else:
            connection.send(("plan", side.plan))
            if connection.recv() == "text":
                connection.send(side.read_text())
    except TranspileError as exc:
        connection.send(("error", exc.diagnostics))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        code = 1
    except BaseException as exc:  # a bug: the parent reports it as one
        try:
            connection.send(("bug", f"{type(exc).__name__}: {exc}"))
        except Exception:
            code = 1
    finally:
        sys.stdout.flush()  # what a Python pipeline printed while loading
        sys.stderr.flush()
        os._exit(code)


def _receive(connection: Connection, reference: str, pid: int) -> Side:
    try:
        message = connection.recv()
    except EOFError:
        raise RuntimeError(f"the process loading {reference} ended without an answer") from None
    kind = message[0]
    if kind == "error":
        raise TranspileError(message[1])
    if kind == "bug":
        raise RuntimeError(f"loading {reference}: {message[1]}")
    if kind == "spec":
        _, summary, text = message
        _reap(connection, pid)
        return Side(reference, None, lambda: summary, lambda: text)
    plan = message[1]
    asked = []

    def prefetch() -> None:
        if not asked:
            connection.send("text")
            asked.append(True)

    def text() -> str:
        prefetch()
        answer = connection.recv()
        _reap(connection, pid)
        if isinstance(answer, tuple):
            raise TranspileError(answer[1]) if answer[0] == "error" else RuntimeError(answer[1])
        return answer

    def summary() -> Summary:
        from transpile.review.summary import from_plan

        return from_plan(plan)

    return Side(reference, plan, summary, text, prefetch=prefetch, release=lambda: _reap(connection, pid))


def _reap(connection: Connection, pid: int) -> None:
    """Let the child go (it exits when its end of the pipe closes) and wait for it."""
    connection.close()
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _stop(connection: Connection, pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    _reap(connection, pid)
