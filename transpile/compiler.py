"""The thin compiler entry point: pipeline file -> validated, resolved IR with its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transpile.errors import Diagnostic, TranspileError
from transpile.frontends.nesting import limit_composites
from transpile.frontends.validation import check_model
from transpile.ir.graph import walk
from transpile.ir.models import FORMAT_VERSION, Pipeline
from transpile.ir.scope import Index
from transpile.ir.source import SourceMap
from transpile.passes.defaults import apply_defaults
from transpile.passes.validate import check

if TYPE_CHECKING:
    from transpile.ir.pod_model import Pod


@dataclass(frozen=True)
class Compiled:
    """A compiled pipeline: the resolved IR, its lookup index, its hash and where it came from."""

    pipeline: Pipeline
    index: Index
    hash: str
    source_file: str
    source: SourceMap
    own_pods: dict[tuple[str, ...], Pod] = field(default_factory=dict)  # steps' own `pod:`, before `defaults`

    @property
    def short_hash(self) -> str:
        return self.hash[:12]


def pipeline_hash(pipeline: Pipeline) -> str:
    """sha256 of the canonical JSON of the validated pipeline (before defaults are folded in)."""
    data = pipeline.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    text = json.dumps([FORMAT_VERSION, data], separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Analysis:
    """Everything found about a pipeline: the compiled form (of what is valid, when there are errors),
    every problem, the steps whose own errors may cause follow-on reports, and whether the graph is sound
    enough to try a target."""

    compiled: Compiled | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tainted_steps: set[str] = field(default_factory=set)
    sound: bool = True

    def keep(self, diagnostic: Diagnostic) -> bool:
        """False for a later stage's report about a step that already has errors of its own."""
        step = diagnostic.step or ""
        return not any(step == t or step.startswith(t + "/") for t in self.tainted_steps)


def load_data(
    reference: str, problems: list[Diagnostic] | None = None, tainted: list | None = None
) -> tuple[Any, SourceMap]:
    """Read a YAML pipeline (`-`: standard input), or run a Python one (`file.py[:attribute]`), into
    (data, SourceMap). With `problems`, reading problems that do not stop it are added there (and the
    document paths they are at to `tainted`)."""
    if reference.endswith(".py") or ".py:" in reference:
        from transpile.frontends.python_loader import load_flow

        flow, file = load_flow(reference)
        found = flow.problems()
        if found and problems is None:
            raise TranspileError(found)
        if problems is not None:
            problems += found
        if tainted is not None:
            tainted += flow.tainted_paths()
        return flow.to_data(), flow.source_map(file)
    from transpile.frontends.yaml import ParseNotes, read_yaml_file

    notes = ParseNotes()
    data, source = read_yaml_file(reference, notes=notes)
    found = notes.problems + _yaml11_parameters(notes, source) + _scalar_keys_in_parameters(notes, source)
    if found and problems is None:
        raise TranspileError(found)
    if problems is not None:
        problems += found
    if tainted is not None:
        tainted += notes.tainted
    return data, source


def _yaml11_parameters(notes, source: SourceMap) -> list[Diagnostic]:
    """Unquoted `yes`/`no`/`on`/`off` as a parameter's value: true/false in YAML 1.1, a string in 1.2."""
    found = []
    for path, word in notes.yaml11_booleans:
        if len(path) >= 2 and path[0] == "parameters":
            meaning = "true" if word.lower() in ("yes", "on", "y") else "false"
            found.append(
                Diagnostic(
                    f"parameter '{path[1]}': '{word}' is the string '{word}' in YAML 1.2 (which transpile reads), "
                    f"but {meaning} in YAML 1.1",
                    source.span(path),
                    hint=f'write {meaning} for a boolean, or quote "{word}" for the string',
                )
            )
    return found


def _scalar_keys_in_parameters(notes, source: SourceMap) -> list[Diagnostic]:
    """Unquoted keys inside a parameter's value that YAML 1.2 reads as numbers, booleans or null: JSON keys
    are strings (the Python SDK refuses such keys too), so they are refused rather than rewritten."""
    found = []
    for path, text, kind in notes.scalar_keys:
        if len(path) >= 3 and path[0] == "parameters":
            found.append(
                Diagnostic(
                    f"parameter '{path[1]}': the key {text} is {kind} in YAML 1.2, not a string; JSON keys are strings",
                    source.span(path, key=True),
                    hint=f'quote it: "{text}"',
                )
            )
    return found


def _deploy_config(data: Any) -> bool:
    """True for a mapping that has no `steps` and whose keys are all deploy config settings."""
    from transpile.config import DeployConfig

    if not isinstance(data, dict) or not data or "steps" in data:
        return False
    return set(data) <= set(DeployConfig.model_fields) and not set(data) <= set(Pipeline.model_fields)


def _compiled_spec(data: Any) -> str | None:
    """The kind of a compiled engine spec (a mapping with apiVersion and kind), else None."""
    if isinstance(data, dict) and "apiVersion" in data and "kind" in data and "steps" not in data:
        return str(data["kind"])
    return None


def analyse_data(data: Any, source: SourceMap, source_file: str, tainted: tuple = ()) -> Analysis:
    """Validate plain pipeline data and run the passes, collecting every problem of both stages
    (`tainted`: document paths where reading found problems, whose follow-on reports are left out)."""
    kind = _compiled_spec(data)
    if kind is not None:
        from transpile.frontends.yaml import compiled_spec_diagnostic

        return Analysis(None, [compiled_spec_diagnostic(source.file, kind)], sound=False)
    if _deploy_config(data):
        message = "this is a deploy config (namespace, image, volume...), not a pipeline"
        hint = "give it with -c, and the pipeline (the YAML with `name:` and `steps:`) as the PIPELINE argument"
        return Analysis(None, [Diagnostic(message, source.span(()), hint=hint)], sound=False)
    data, too_deep, cut = limit_composites(data, source)
    checked = check_model(Pipeline, data, source)
    checked.tainted += list(tainted) + cut
    analysis = Analysis(
        None, too_deep + list(checked.diagnostics), checked.tainted_steps(), sound=checked.model is not None
    )
    if checked.model is None:
        return analysis
    pipeline = checked.model
    resolved = apply_defaults(pipeline)
    index, problems, structural = check(resolved, source)
    analysis.diagnostics += [d for d in problems if analysis.keep(d)]
    analysis.sound = not structural
    own_pods = {located.path: located.step.pod for located in walk(pipeline) if located.step.pod is not None}
    analysis.compiled = Compiled(resolved, index, pipeline_hash(pipeline), source_file, source, own_pods)
    return analysis


def compile_data(data: Any, source: SourceMap, source_file: str) -> Compiled:
    """Validate plain pipeline data and run the passes; every problem is raised at once."""
    analysis = analyse_data(data, source, source_file)
    if analysis.diagnostics or analysis.compiled is None:
        raise TranspileError(analysis.diagnostics)
    return analysis.compiled


def source_file(reference: str) -> str:
    """The file of a pipeline reference: `flows.py:etl` -> `flows.py`."""
    return reference.split(".py:")[0] + ".py" if ".py:" in reference else reference


def in_file_order(found: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in file order: a reader fixes them top to bottom (ties keep the order of the stages)."""
    return sorted(found, key=lambda d: (d.span is None, d.span.line if d.span else 0, d.span.col if d.span else 0))


def analyse(reference: str) -> Analysis:
    """Read and check a pipeline file, collecting the problems of every stage (reading, format, meaning)."""
    problems: list[Diagnostic] = []
    tainted: list = []
    data, source = load_data(reference, problems, tainted)
    analysis = analyse_data(data, source, source_file(reference), tuple(tainted))
    analysis.diagnostics = in_file_order(problems + analysis.diagnostics)
    return analysis


def analyse_flow(flow, reference: str) -> Analysis:
    """Check a Python SDK `Flow` object: what the builder refused and every later stage, in one report."""
    analysis = analyse_data(flow.to_data(), flow.source_map(flow.file), reference, tuple(flow.tainted_paths()))
    analysis.diagnostics = in_file_order(flow.problems() + analysis.diagnostics)
    return analysis


def compile_pipeline(reference: str) -> Compiled:
    """Compile a pipeline file (YAML, or Python as `file.py[:attribute]`)."""
    analysis = analyse(reference)
    if analysis.diagnostics or analysis.compiled is None:
        raise TranspileError(analysis.diagnostics)
    return analysis.compiled


def relative_source(path: str) -> str:
    """The source path as written in generated files: relative to the working directory when inside it
    (the image is expected to hold the project at its working directory), with forward slashes."""
    given = Path(path)
    if given.is_absolute():
        try:
            return given.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return given.as_posix()
    return given.as_posix()
