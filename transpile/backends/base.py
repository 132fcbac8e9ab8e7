"""What a backend is: a named emitter from a compiled pipeline to the text of one output file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from transpile.compiler import Compiled, relative_source
from transpile.config import DeployConfig


@dataclass(frozen=True)
class EmitOptions:
    """Options of one compile run that backends may honour."""

    with_claim: bool = False
    flavour: str | None = None


class Backend(Protocol):
    """A backend: `name`, the output file `suffix`, and `emit`."""

    name: str
    suffix: str

    def emit(self, compiled: Compiled, config: DeployConfig, options: EmitOptions) -> str | dict[str, str]:
        """The generated file's text, or several files as {file name: text} (the first is the main one);
        raise TranspileError for problems in the user's input."""
        ...


def pipeline_file(compiled: Compiled, config: DeployConfig) -> str:
    """The pipeline file as pods load it: the deploy config's `pipeline_file`, else the path compiled."""
    return config.pipeline_file or relative_source(compiled.source_file)
