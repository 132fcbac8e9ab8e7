"""Pydantic models of the Kubernetes objects a `pod:` section holds, built from the pinned OpenAPI schema.

`schemas/kubernetes-1.36.json` (made by `tools/kube_schema.py` from the Kubernetes OpenAPI schema of
version 1.36) lists each object's fields with their JSON name, type and the Python client's attribute
name. Every object becomes a frozen model whose fields are the JSON (camelCase) names, strict as the API
server reads JSON: `runAsUser: "1000"` or `readOnlyRootFilesystem: "true"` are refused with a hint, an
unknown field gets a did-you-mean (`run_as_non_root` -> `runAsNonRoot`). Values are then checked as
Kubernetes checks them (`transpile.ir.kube_rules`): names, quantities, ranges, enums.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from transpile.errors import HINT, did_you_mean
from transpile.ir import kube_rules
from transpile.package_data import schemas_dir

KUBERNETES_VERSION = "1.36"
SCHEMA_FILE = f"kubernetes-{KUBERNETES_VERSION}.json"
_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def problem(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error in plain words, with an optional hint shown under it."""
    return PydanticCustomError("value_error", message, {HINT: hint} if hint else {})


@functools.cache
def definitions() -> dict[str, Any]:
    """The definitions of the shipped schema, by short name (`PodSecurityContext`)."""
    text = (schemas_dir() / SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)["definitions"]


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return {dict: "a mapping", list: "a list", tuple: "a list"}.get(type(value), type(value).__name__)


def _boolean(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    hint = None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        hint = f"write {value.lower()} without quotes: Kubernetes refuses a quoted boolean"
    raise problem(f"expected true or false, got {_shown(value)}", hint)


def _integer(form: str):
    low, high = _RANGES.get(form, _RANGES["int64"])

    def check(value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if not low <= value <= high:
                raise problem(f"{value} does not fit a {form} field ({low} to {high})")
            return value
        hint = None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            hint = f"write {value.strip()} without quotes: Kubernetes refuses a quoted number"
        elif isinstance(value, float) and value.is_integer():
            hint = f"write {int(value)}"
        raise problem(f"expected a whole number, got {_shown(value)}", hint)

    return check


def _string(value: Any) -> Any:
    if isinstance(value, str) or value is None:
        return value
    hint = None
    if isinstance(value, (bool, int, float)):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        hint = f'quote it: "{text}" (Kubernetes takes a string here)'
    raise problem(f"expected a string, got {_shown(value)}", hint)


def _enum(values: list[str]):
    def check(value: Any) -> Any:
        if value is None or value in values:
            return value
        _string(value)
        near = [v for v in values if v.lower() == value.lower()] or None
        hint = f"did you mean '{near[0]}'?" if near else did_you_mean(value, values)
        raise problem(f"{value!r} is not one of {', '.join(values)}", hint)

    return check


def _listed(what: str):
    def check(value: Any) -> Any:
        if value is None or isinstance(value, (list, tuple)):
            return value
        hint = f"write it as a list: [{value}]" if isinstance(value, (str, int)) else None
        raise problem(f"expected a list of {what}, got {_shown(value)}", hint)

    return check


def _mapping(what: str):
    def check(value: Any) -> Any:
        if value is None or isinstance(value, dict):
            return value
        raise problem(f"expected a mapping of {what}, got {_shown(value)}")

    return check


def _quantity(value: Any) -> Any:
    if value is None:
        return value
    try:
        return kube_rules.quantity(value)
    except ValueError as exc:
        raise problem(str(exc)) from None


class KubeModel(BaseModel):
    """A Kubernetes object: JSON field names only (`run_as_user` is unknown), no unknown fields, frozen."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        if data is None or isinstance(data, (dict, BaseModel)):
            return data
        fields = [info.alias or name for name, info in cls.model_fields.items()]
        hint = f"write {{{fields[0]}: {data}}}" if fields == ["name"] and isinstance(data, str) else None
        raise problem(f"expected a mapping {{{', '.join(fields)}}}, got {_shown(data)}", hint)

    def data(self) -> dict[str, Any]:
        """The object as Kubernetes JSON (camelCase, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _what(spec: dict[str, Any]) -> str:
    if "ref" in spec:
        return f"{spec['ref']} objects"
    return {"string": "strings", "integer": "whole numbers", "boolean": "booleans"}.get(spec.get("type", ""), "values")


def _annotation(owner: str, name: str, spec: dict[str, Any], models: dict[str, type[KubeModel]]) -> Any:
    """The annotation of a field (or list item / map value) from its schema entry."""
    checks = [AfterValidator(check) for check in kube_rules.field_checks(owner, name)]
    if "ref" in spec:
        target = models[spec["ref"]]
        return Annotated[(target, *checks)] if checks else target
    kind = spec["type"]
    if kind == "array":
        item = _annotation(owner, f"{name}[]", spec["items"], models)
        return Annotated[(tuple[item, ...], BeforeValidator(_listed(_what(spec["items"]))), *checks)]
    if kind == "map":
        value = _annotation(owner, f"{name}{{}}", spec["values"], models)
        return Annotated[(dict[str, value], BeforeValidator(_mapping(_what(spec["values"]))), *checks)]
    if "enum" in spec:
        extra = Field(json_schema_extra={"enum": spec["enum"]})
        return Annotated[(str, BeforeValidator(_enum(spec["enum"])), extra, *checks)]
    base: Any = {
        "string": Annotated[str, BeforeValidator(_string)],
        "boolean": Annotated[bool, BeforeValidator(_boolean)],
        "integer": Annotated[int, BeforeValidator(_integer(spec.get("format", "int64")))],
        "quantity": Annotated[str | int | float, BeforeValidator(_quantity)],
    }[kind]
    return Annotated[(base, *checks)] if checks else base


def _unsupported_keys(name: str, body: dict[str, Any]):
    """A before-validator naming fields Kubernetes has but transpile does not carry (other volume types)."""
    unsupported = set(body.get("unsupported", ()))
    supported = [p for p in body["properties"] if p != "name"]

    def check(cls: type, data: Any) -> Any:
        if isinstance(data, dict):
            found = sorted(k for k in data if k in unsupported)
            if found:
                raise problem(
                    f"{name.lower()} type '{found[0]}' is not supported",
                    f"transpile mounts {', '.join(supported)} volumes (a pod's volumes must also pass the namespace's "
                    "Pod Security profile)",
                )
        return data

    return model_validator(mode="before")(check)


@functools.cache
def models() -> dict[str, type[KubeModel]]:
    """Every definition as a model, by short name (built once; nested definitions first)."""
    defs = definitions()
    built: dict[str, type[KubeModel]] = {}

    def build(name: str) -> type[KubeModel]:
        if name in built:
            return built[name]
        body = defs[name]
        for spec in body["properties"].values():
            inner = spec.get("items") or spec.get("values") or spec
            if "ref" in inner:
                build(inner["ref"])
        fields: dict[str, Any] = {}
        for prop, spec in body["properties"].items():
            annotation = _annotation(name, prop, spec, built)
            required = prop in body["required"]
            info = Field(... if required else None, alias=prop, description=spec.get("description"))
            fields[spec["python"]] = (annotation if required else annotation | None, info)
        validators: dict[str, Any] = {}
        if body.get("unsupported"):
            validators["unsupported_keys"] = _unsupported_keys(name, body)
        for i, check in enumerate(kube_rules.object_checks(name)):
            validators[f"rule_{i}"] = model_validator(mode="after")(_after(check))
        model = create_model(  # type: ignore[call-overload]
            name,
            __base__=KubeModel,
            __doc__=body["description"],
            __validators__=validators,
            __module__=__name__,
            **fields,
        )
        built[name] = model
        return model

    for name in defs:
        build(name)
    return built


def _after(check):
    def validate(self: KubeModel) -> KubeModel:
        check(self.data())
        return self

    return validate


def model(name: str) -> type[KubeModel]:
    """The model of one Kubernetes definition (`Volume`, `PodSecurityContext`, ...)."""
    return models()[name]
