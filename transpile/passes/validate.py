"""Semantic checks on a structurally valid pipeline; every problem is collected with its span.

Problems that leave the graph unusable (a step without a kind, unknown `needs`, a cycle, names that
collide, references nothing provides) are *structural*: with one of them no target is tried.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from transpile.errors import Diagnostic, TranspileError, did_you_mean
from transpile.ir.envlimit import ENV_STRING_LIMIT, env_string_size, env_text, mentions_variable
from transpile.ir.graph import ON_FAILURE, Path, find_cycle, walk, walk_blocks
from transpile.ir.models import SETTING_FIELDS, Pipeline, Step
from transpile.ir.names import step_key
from transpile.ir.rules import CACHE_PARAMETER, reserved_env_name
from transpile.ir.scope import Index
from transpile.ir.source import SourceMap, step_doc_path

_PYTHON_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_BAD_NAME = re.compile(r"[/\x00-\x1f\x7f]")


def display(path: Path) -> str:
    """A step path as users write it: `clean/load`, `on_failure/alert`."""
    return "/".join("on_failure" if s == ON_FAILURE else s for s in path)


class _Lazy:
    """The span of a key, computed only if a problem is reported there (spans cost a second YAML walk)."""

    def __init__(self, source: SourceMap, path: tuple):
        self.source, self.path = source, path

    def __call__(self):
        return self.source.span(self.path, key=True)


class _Checker:
    def __init__(self, pipeline: Pipeline, source: SourceMap):
        self.pipeline = pipeline
        self.source = source
        self.problems: list[Diagnostic] = []
        self.structural = False

    def report(
        self,
        path: Path,
        message: str,
        field: str | tuple[str, ...] | None = None,
        key: bool = False,
        hint=None,
        structural=False,
    ) -> None:
        doc = step_doc_path(self.pipeline, path)
        if field is not None:
            doc = doc + (field if isinstance(field, tuple) else (field,))
        span = self.source.span(doc, key=key or field is None)
        self.problems.append(Diagnostic(message, span, step=display(path), hint=hint))
        self.structural = self.structural or structural

    def check_names(self, block: Path, names: list[str], what: str, doc_prefix: tuple) -> None:
        keys: dict[str, str] = {}
        for name in names:
            span = _Lazy(self.source, doc_prefix + (name,))
            if what == "case" and not name:
                self.problems.append(
                    Diagnostic(
                        f"a switch case cannot be named {name!r}",
                        span(),
                        step=display(block),
                        hint="name each case after the value that selects it",
                    )
                )
                self.structural = True
                continue
            if what != "case" and (not name or _BAD_NAME.search(name) or name.startswith("@")):
                rule = "no '/', control characters or leading '@'"
                self.problems.append(Diagnostic(f"invalid {what} name {name!r}: {rule}", span()))
                self.structural = True
                continue
            key = step_key(name)
            if key in keys:
                self.problems.append(
                    Diagnostic(
                        f"{what} names '{keys[key]}' and '{name}' both become '{key}' in Kubernetes names",
                        span(),
                        step=display(block + (name,)) if what == "step" else None,
                        hint="rename one of them",
                    )
                )
                self.structural = True
            else:
                keys[key] = name

    def check_step(self, path: Path, step: Step) -> None:
        kinds = step.kinds
        if not kinds:
            self.report(
                path,
                "the step has no kind",
                hint="give it one of python, shell, stub, map, parallel, switch",
                structural=True,
            )
            return
        if len(kinds) > 1:
            self.report(path, f"the step has several kinds ({', '.join(kinds)}); give it exactly one", structural=True)
            return
        if step.python is not None and not _PYTHON_REF.fullmatch(step.python):
            self.report(path, f"'{step.python}' is not of the form module:function", field="python")
        if step.shell is not None and not step.shell.strip():
            self.report(path, "the shell command is empty", field="shell")
        if step.stub and step.returns:
            self.report(path, "a stub step returns nothing; remove 'returns'", field="returns", key=True)
        if not step.is_task:
            for name in (*SETTING_FIELDS, "returns", "catalog"):
                value = getattr(step, name)
                if value not in (None, ()):
                    self.report(path, f"'{name}' applies to task steps, not to a {step.kind}", field=name, key=True)
        if len(set(step.returns)) != len(step.returns):
            self.report(path, "'returns' names a value twice", field="returns")
        for i, name in enumerate(step.returns):
            self.reserved(name, ("returns", i), path, "return")
        if step.map is not None:
            self.reserved(step.map.as_, ("map", "as"), path, "map item")

    def reserved(self, name: str, doc: tuple, path: Path | None, what: str) -> None:
        """Refuse a value name shell steps would receive as an environment variable that breaks them
        (`doc`: the document path below the step at `path`, or from the top without one)."""
        why = reserved_env_name(name)
        if why:
            where = step_doc_path(self.pipeline, path) + doc if path else doc
            self.problems.append(
                Diagnostic(
                    f"the {what} name '{name}' is reserved: {why}",
                    self.source.span(where, key=what == "parameter"),
                    step=display(path) if path else None,
                    hint="rename it (shell steps see every value as an environment variable of the same name)",
                )
            )

    def check_top_returns(self, index: Index) -> None:
        """Two top-level steps (or a step and a map) returning the same name: refuse, naming both."""
        for block, steps in index.blocks.items():
            if index.block_owner.get(block) is not None:
                continue  # blocks inside composites are checked when the index is built
            producers: dict[str, Path] = {}
            for name in steps:
                path = block + (name,)
                for value in index.exports[path]:
                    if value in producers:
                        first = producers[value]
                        where = self.source.span(step_doc_path(self.pipeline, first), key=True)
                        self.report(
                            path,
                            f"return '{value}' is produced by both '{display(first)}' (line {where.line}) "
                            f"and '{display(path)}'",
                            field="returns" if steps[name].is_task else None,
                            hint="rename one of them: which value a later step sees would depend on the order",
                        )
                    else:
                        producers[value] = path

    def check_block(self, block: Path, steps: Mapping[str, Step]) -> None:
        names = list(steps)
        self.check_names(block, names, "step", step_doc_path(self.pipeline, block + ("x",))[:-1])
        needs: dict[str, list[str]] = {}
        for name, step in steps.items():
            path = block + (name,)
            valid = []
            for i, dep in enumerate(step.needs):
                if dep == name:
                    self.report(path, "a step cannot need itself", field="needs", structural=True)
                elif dep not in steps:
                    self.structural = True
                    where = step_doc_path(self.pipeline, path) + ("needs", i)
                    self.problems.append(
                        Diagnostic(
                            f"'needs' names unknown step '{dep}'",
                            self.source.span(where),
                            step=display(path),
                            hint=did_you_mean(dep, names) or f"steps in this block: {', '.join(names)}",
                        )
                    )
                else:
                    valid.append(dep)
            needs[name] = valid
        cycle = find_cycle(names, needs)
        if cycle:
            self.report(
                block + (cycle[0],),
                f"the steps form a cycle: {' -> '.join(cycle)}",
                field="needs",
                key=True,
                structural=True,
            )

    def check_composite_names(self, path: Path, step: Step) -> None:
        doc = step_doc_path(self.pipeline, path)
        if step.parallel is not None:
            self.check_names(path, list(step.parallel), "branch", doc + ("parallel",))
        if step.switch is not None:
            self.check_names(path, list(step.switch.cases), "case", doc + ("switch", "cases"))

    def check_list_parameter(self, path: Path, name: str) -> None:
        """A map over a parameter whose declared value is not a list (null: any value) would fail at run time,
        on every engine, and a `-p` value must keep the declared type: refuse it now."""
        declared = self.pipeline.parameters[name]
        if declared is None or isinstance(declared, list):
            return
        kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number", dict: "an object"}
        shown = repr(declared) if len(repr(declared)) <= 40 else repr(declared)[:37] + "..."
        self.report(
            path,
            f"map.over names the parameter '{name}', declared as {kinds.get(type(declared), 'a value')} ({shown}), "
            "not a list",
            field=("map", "over"),
            hint=f"declare '{name}' as a list (e.g. {name}: [a, b]), or map over a step's returned list",
        )

    def check_references(self, index: Index) -> None:
        for path, located in index.steps.items():
            step = located.step
            if step.map is not None:
                ref, field = step.map.over, ("map", "over")
            elif step.switch is not None:
                ref, field = step.switch.on, ("switch", "on")
            else:
                continue
            found = index.resolve(ref, path)
            if found is not None:
                if step.map is not None and found.kind == "param":
                    self.check_list_parameter(path, ref)
                continue
            siblings = [
                name
                for name in index.blocks[located.block]
                if ref in index.exports[located.block + (name,)] and name != path[-1]
            ]
            if siblings:
                hint = f"'{siblings[0]}' returns '{ref}': add it to this step's needs"
            else:
                known = list(index.visible(path))
                hint = did_you_mean(ref, known) or (f"visible here: {', '.join(known)}" if known else None)
            doc = step_doc_path(self.pipeline, path) + field
            self.structural = True
            self.problems.append(
                Diagnostic(
                    f"{'.'.join(field)} names '{ref}', which no parameter or upstream step provides",
                    self.source.span(doc),
                    step=display(path),
                    hint=hint,
                )
            )
        self.check_env_sizes(index)
        for conflict in index.conflicts:
            producers = " and ".join(f"'{display(p)}'" for p in conflict.producers)
            self.report(
                conflict.producers[-1],
                f"return '{conflict.name}' is produced by both {producers}",
                field="returns",
                hint="rename one of them",
            )

    def check_env_sizes(self, index: Index) -> None:
        """A shell step reading `$NAME` of a parameter whose declared value is too large for one environment
        variable would find it unset: refuse it, naming the limit and where the value is instead."""
        limit = ENV_STRING_LIMIT // 1024
        sizes = {name: env_string_size(name, env_text(value)) for name, value in self.pipeline.parameters.items()}
        large = {name: size for name, size in sizes.items() if size > ENV_STRING_LIMIT}
        if not large:
            return
        for path, located in index.steps.items():
            command = located.step.shell
            if command is None:
                continue
            for name, size in large.items():
                source = index.resolve(name, path)
                if source is not None and source.kind == "param" and mentions_variable(command, name):
                    self.report(
                        path,
                        f"the shell command reads ${name}, but parameter '{name}' is {size // 1024} KiB, over "
                        f"Linux's {limit} KiB limit for one environment variable: it would be unset",
                        field="shell",
                        hint=f'read it from the file "$TRANSPILE_VALUES/{name}" instead',
                    )


def check(pipeline: Pipeline, source: SourceMap) -> tuple[Index, list[Diagnostic], bool]:
    """Every semantic problem of the pipeline: (its Index, the problems, whether any is structural)."""
    checker = _Checker(pipeline, source)
    for name in pipeline.parameters:
        checker.reserved(name, ("parameters", name), None, "parameter")
        if name == CACHE_PARAMETER:
            why = "the run parameter of the cache mode (--no-cache, --refresh) in the generated specs"
            span = source.span(("parameters", name), key=True)
            checker.problems.append(Diagnostic(f"the parameter name '{name}' is reserved: {why}", span))
    for block, steps in walk_blocks(pipeline):
        checker.check_block(block, steps)
    for located in walk(pipeline):
        checker.check_step(located.path, located.step)
        checker.check_composite_names(located.path, located.step)
    index = Index.build(pipeline)
    checker.check_references(index)
    checker.check_top_returns(index)
    return index, checker.problems, checker.structural


def index_checked(pipeline: Pipeline, source: SourceMap) -> Index:
    """The pipeline's scope Index once it passes every check; else a TranspileError listing them all."""
    index, problems, _ = check(pipeline, source)
    if problems:
        raise TranspileError(problems)
    return index
