"""Every problem of every stage in one report: reading the pipeline, its format, its meaning, the deploy
config, and (when a target is named) what that target cannot express.

`transpile compile` and `transpile check` go through `verify`, so a file with three mistakes reports
three. A later stage still runs when an earlier one found problems, on what was valid (the bad parts cut
out); reports about a step that already has errors of its own are left out, as they would only repeat them.
"""

from __future__ import annotations

from dataclasses import dataclass

from transpile.backends.base import EmitOptions
from transpile.compiler import Compiled, analyse
from transpile.config import DeployConfig
from transpile.errors import Diagnostic, TranspileError


@dataclass(frozen=True)
class Verified:
    """A pipeline that passed every stage: the compiled form, the deploy config, the target's files."""

    compiled: Compiled
    config: DeployConfig
    files: dict[str, str] | None


def check_config(path: str | None) -> tuple[DeployConfig | None, list[Diagnostic]]:
    """The deploy config (defaults when no path; the valid part when it has errors) and its problems."""
    if path is None:
        return DeployConfig(), []
    from transpile.config import check_deploy
    from transpile.frontends.yaml import ParseNotes, read_yaml_file

    notes = ParseNotes()
    try:
        data, source = read_yaml_file(path, notes=notes, empty="")
    except TranspileError as exc:
        return None, exc.diagnostics
    if isinstance(data, dict) and "steps" in data and "steps" not in DeployConfig.model_fields:
        return None, [
            Diagnostic(
                "this is a pipeline (it has `steps`), not a deploy config",
                source.span(("steps",), key=True),
                hint="give the pipeline as the PIPELINE argument, and deploy settings (namespace, image, volume...) "
                "in their own file with -c",
            )
        ]
    checked = check_deploy({} if data is None else data, source)
    return checked.model, notes.problems + checked.diagnostics


def verify(
    reference: str,
    config_path: str | None = None,
    target: str | None = None,
    options: EmitOptions | None = None,
    stdin_needs_file: bool = False,
) -> Verified:
    """Check a pipeline through every stage; raise one TranspileError with every problem found."""
    from transpile.backends.registry import get_backend

    if target is not None:
        get_backend(target)  # an unknown target is refused before anything is read
    diagnostics: list[Diagnostic] = []
    try:
        analysis = analyse(reference)
    except TranspileError as exc:  # the file cannot be read or parsed: nothing to analyse further
        diagnostics += exc.diagnostics
        analysis = None
    config, config_problems = check_config(config_path)
    if analysis is not None:
        diagnostics += analysis.diagnostics
    diagnostics += config_problems
    compiled = analysis.compiled if analysis is not None else None
    files = None
    if target is not None and compiled is not None and config is not None and analysis.sound:
        if stdin_needs_file and reference == "-" and not config.pipeline_file:
            diagnostics.append(
                Diagnostic(
                    "the pipeline was read from standard input, so pods cannot find its file",
                    hint="set `pipeline_file` in the deploy config (-c) to the pipeline's path inside the image",
                )
            )
        files = _emit(compiled, config, target, options, analysis, failed=bool(diagnostics), found=diagnostics)
    elif compiled is not None and config is not None and analysis.sound:
        from transpile.plan.pod_checks import pipeline_problems

        diagnostics += [d for d in pipeline_problems(compiled, config) if analysis.keep(d)]
    if diagnostics or compiled is None or config is None:
        raise TranspileError(diagnostics)
    return Verified(compiled, config, files)


def _emit(compiled, config, target, options, analysis, failed: bool, found: list[Diagnostic]):
    """The target's files; its refusals are added to `found`. When earlier stages already failed, the
    pipeline holds placeholders where the errors were, so a crash of the backend is not reported."""
    from transpile.emit import emit_files

    try:
        return emit_files(compiled, config, target, options or EmitOptions())
    except TranspileError as exc:
        found += [d for d in exc.diagnostics if analysis.keep(d)]
    except Exception:
        if not failed:
            raise
    return None
