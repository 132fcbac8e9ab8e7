"""The one path from a pipeline to generated files: compile, lower to the plan, emit, report refusals.

Used by `transpile compile`, `diff`, `submit` and the Python API, so every caller gets the same files
and the same located report for what a target cannot express.
"""

from __future__ import annotations

from transpile.backends.base import Backend, EmitOptions, Unsupported
from transpile.compiler import Compiled
from transpile.config import DeployConfig
from transpile.errors import Diagnostic, TranspileError
from transpile.ir.source import step_doc_path
from transpile.passes.validate import display
from transpile.plan.lower import lower
from transpile.plan.model import Plan
from transpile.plan.pod_checks import pipeline_problems


def refusal_report(compiled: Compiled, error: Unsupported) -> TranspileError:
    """Every refusal of a backend as a located diagnostic."""
    diagnostics = []
    for refusal in error.refusals:
        if refusal.path is not None:
            doc = step_doc_path(compiled.pipeline, refusal.path) + refusal.doc
            span = compiled.source.span(doc, key=not refusal.doc)
            step = display(refusal.path)
        else:
            span = compiled.source.span(refusal.doc, key=True) if refusal.doc else None
            step = None
        diagnostics.append(Diagnostic(refusal.message, span, step=step, hint=refusal.hint))
    return TranspileError(diagnostics)


def emit_plan(backend: Backend, plan: Plan, compiled: Compiled, options: EmitOptions) -> str | dict[str, str]:
    """Run one backend over the plan; its refusals become a located TranspileError."""
    try:
        return backend.emit(plan, options)
    except Unsupported as exc:
        raise refusal_report(compiled, exc) from None


def emit_files(
    compiled: Compiled, config: DeployConfig, target: str, options: EmitOptions | None = None
) -> dict[str, str]:
    """The files a target generates for a compiled pipeline: {file name: text}, the main file first."""
    from transpile.backends.registry import get_backend

    backend = get_backend(target)
    problems = pipeline_problems(compiled, config)
    if problems:
        raise TranspileError(problems)
    plan = lower(compiled, config)
    emitted = emit_plan(backend, plan, compiled, options or EmitOptions())
    return emitted if isinstance(emitted, dict) else {f"{plan.name}{backend.suffix}": emitted}
