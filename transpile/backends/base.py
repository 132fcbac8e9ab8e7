"""What a backend is, and the one funnel through which any backend refuses what it cannot express.

A backend maps the execution plan to engine objects: `emit(plan, options)` returns the text of its
file, or several files as {file name: text}. Whatever the target cannot express (no image for a pod,
`@every` on Airflow, `volume.mode: template` outside Argo...) goes through `Refusals.unsupported`;
`transpile.emit` turns the collected refusals into one located report, like any other compile error.
A backend never writes a placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from transpile.plan.model import Plan, Step


@dataclass(frozen=True)
class EmitOptions:
    """Options of one compile run that backends may honour."""

    with_claim: bool = False
    flavour: str | None = None


class Backend(Protocol):
    """A backend: `name`, the output file `suffix`, and `emit`."""

    name: str
    suffix: str

    def emit(self, plan: Plan, options: EmitOptions) -> str | dict[str, str]:
        """The generated file's text, or several files as {file name: text} (the first is the main one);
        raise `Unsupported` (through `Refusals`) for what the target cannot express."""
        ...


@dataclass(frozen=True)
class Refusal:
    """One thing a target cannot express: where (a step path and/or a document path) and why."""

    message: str
    path: tuple[str, ...] | None = None  # the step's path, when a step is concerned
    doc: tuple[str | int, ...] = ()  # a document path (absolute without `path`, else below the step)
    hint: str | None = None


@dataclass
class Unsupported(Exception):
    """Raised by a backend with every refusal it collected."""

    refusals: list[Refusal] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(r.message for r in self.refusals)


class Refusals:
    """A backend's collector of refusals: `unsupported(...)` each, then `check()` once."""

    def __init__(self, target: str):
        self.target = target
        self.found: list[Refusal] = []

    def unsupported(
        self,
        message: str,
        step: Step | tuple[str, ...] | None = None,
        doc: tuple[str | int, ...] = (),
        hint: str | None = None,
    ) -> None:
        path = step.path if isinstance(step, Step) else step
        self.found.append(Refusal(f"{message} (target {self.target})", path, doc, hint))

    def require_image(self, image: str | None, step: Step | tuple[str, ...] | None) -> str:
        """The image, or a refusal: a step with no image (None: a control node) cannot run in a pod."""
        if image:
            return image
        if step is None:
            self.unsupported(
                "map and switch steps need a default image for their control node",
                doc=("defaults",),
                hint="set `defaults.image` in the pipeline or `image` in the deploy config",
            )
        else:
            self.unsupported(
                "no image for this step", step, hint="set `image` on the step, in `defaults`, or in the deploy config"
            )
        return ""

    def flavour(self, given: str | None, flavours: tuple[str, ...], engine: str) -> str:
        """The chosen flavour (the first is the default); an unknown one is refused at once."""
        flavour = given or flavours[0]
        if flavour not in flavours:
            self.unsupported(f"unknown {engine} flavour '{flavour}'", hint=f"choose one of {', '.join(flavours)}")
            self.check()
        return flavour

    def existing_claim_only(self, plan: Plan, engine: str) -> None:
        """Refuse `volume.mode: template` (a claim per run), which only Argo can create."""
        if plan.deploy.volume.mode == "template":
            hint = f"use an existing claim (volume.mode: existing) for {engine}"
            self.unsupported("volume.mode 'template' is Argo-only", hint=hint)

    def check(self) -> None:
        if self.found:
            raise Unsupported(list(self.found))
