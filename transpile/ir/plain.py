"""A plain-object view of a compiled pipeline, rebuilt from its JSON dump without pydantic.

Pods use it when the compiled pipeline is in the store's cache: the same attribute names as the models,
so `graph` and `scope` work on it unchanged, at a fraction of the import cost.
"""

from __future__ import annotations

from typing import Any

from transpile.ir.shape import StepShape


class Plain:
    """An object whose attributes are the keys of a mapping (nested mappings stay mappings)."""

    def __init__(self, **fields: Any):
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"Plain({self.__dict__!r})"


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    retries = data.get("retries")
    resources = data.get("resources")
    return {
        "image": data.get("image"),
        "retries": Plain(
            limit=retries["limit"],
            backoff=retries.get("backoff", 0),
            factor=retries.get("factor", 1),
            max_backoff=retries.get("max_backoff"),
        )
        if retries
        else None,
        "timeout": data.get("timeout"),
        "resources": Plain(**{"cpu": None, "memory": None, "gpu": None, **resources}) if resources else None,
        "env": data.get("env"),
        "secrets": tuple(Plain(**s) for s in data["secrets"]) if data.get("secrets") else None,
        "node_selector": data.get("node_selector"),
        "tolerations": tuple(Plain(**t) for t in data["tolerations"]) if data.get("tolerations") else None,
    }


class PlainStep(StepShape):
    """A step rebuilt from JSON."""

    def __init__(self, data: dict[str, Any]):
        self.needs = tuple(data.get("needs", ()))
        self.python = data.get("python")
        self.shell = data.get("shell")
        self.stub = data.get("stub")
        self.returns = tuple(data.get("returns", ()))
        catalog = data.get("catalog")
        self.catalog = Plain(get=tuple(catalog.get("get", ())), put=tuple(catalog.get("put", ()))) if catalog else None
        self.__dict__.update(_settings(data))
        self.map = self.parallel = self.switch = None
        if "map" in data:
            spec = data["map"]
            self.map = Plain(over=spec["over"], as_=spec["as"], steps=steps_from(spec["steps"]))
        if "parallel" in data:
            self.parallel = {name: Plain(steps=steps_from(b["steps"])) for name, b in data["parallel"].items()}
        if "switch" in data:
            spec = data["switch"]
            cases = {name: Plain(steps=steps_from(b["steps"])) for name, b in spec["cases"].items()}
            self.switch = Plain(on=spec["on"], cases=cases)


def steps_from(data: dict[str, Any]) -> dict[str, PlainStep]:
    return {name: PlainStep(step) for name, step in data.items()}


class PlainPipeline:
    """A pipeline rebuilt from `Pipeline.model_dump(mode="json", by_alias=True, exclude_none=True)`."""

    def __init__(self, data: dict[str, Any]):
        self.name = data["name"]
        self.description = data.get("description")
        self.parameters = dict(data.get("parameters", {}))
        self.steps = steps_from(data["steps"])
        on_failure = data.get("on_failure")
        self.on_failure = Plain(steps=steps_from(on_failure["steps"])) if on_failure else None
