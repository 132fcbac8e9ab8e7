"""Read Kubernetes manifest files the way kubectl does, for `transpile diff` and `transpile submit`.

kubectl reads YAML with go-yaml v2, that is YAML 1.1: unquoted `y/n/yes/no/on/off` (any case spelling
go-yaml accepts) are booleans and `0777` is octal. A stream holds documents separated by `---`; empty
documents are skipped, a `kind: List` stands for its items, and a mapping key given twice is an error.
Every object needs `apiVersion`, `kind` and `metadata.name` (or `generateName`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from transpile.errors import Diagnostic, Span, TranspileError

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# go-yaml v2's booleans beyond PyYAML's (which already has yes/no/on/off/true/false)
_GO_BOOLS = {"y": True, "Y": True, "n": False, "N": False}
_SPEC_MARKER = re.compile(r"^(apiVersion|kind):", re.MULTILINE)


class KubectlLoader(_BASE):  # type: ignore[misc, valid-type]
    """A safe loader that also reads `y`/`n` as booleans and refuses duplicate keys, as kubectl does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"mapping key {key_node.value!r} is given twice", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_str(self, node: yaml.ScalarNode) -> Any:
        if not node.style and node.value in _GO_BOOLS:  # plain: '' from libyaml, None from the Python parser
            return _GO_BOOLS[node.value]
        return super().construct_yaml_str(node)


KubectlLoader.add_constructor("tag:yaml.org,2002:str", KubectlLoader.construct_yaml_str)


def looks_like_manifests(text: str) -> bool:
    """True when a YAML text is Kubernetes manifests (top-level apiVersion and kind), not a pipeline."""
    if text.lstrip().startswith(("{", "[")):  # JSON, which kubectl also reads
        return '"apiVersion"' in text and '"kind"' in text
    found = {m.group(1) for m in _SPEC_MARKER.finditer(text)}
    return found == {"apiVersion", "kind"}


def read_manifests(path: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """(text, objects) of a manifest file; a located, exit-2 error for anything kubectl would refuse."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TranspileError([Diagnostic(f"cannot read {path}: {exc}")]) from None
    return text, parse_manifests(text, str(path))


def parse_manifests(text: str, origin: str) -> list[dict[str, Any]]:
    try:
        documents = list(yaml.load_all(text, Loader=KubectlLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(origin, mark.line + 1, mark.column + 1) if mark is not None else Span(origin)
        raise TranspileError([Diagnostic(f"not valid YAML: {exc.problem or exc}", span)]) from None
    except yaml.YAMLError as exc:
        raise TranspileError([Diagnostic(f"not valid YAML: {exc}", Span(origin))]) from None
    objects: list[dict[str, Any]] = []
    problems = []
    for number, document in enumerate(documents, 1):
        if document is None:
            continue
        if isinstance(document, dict) and document.get("kind") == "List" and isinstance(document.get("items"), list):
            items = document["items"]
        else:
            items = [document]
        for item in items:
            problem = _problem(item)
            if problem:
                problems.append(Diagnostic(f"document {number}: {problem}", Span(origin)))
            else:
                objects.append(item)
    if problems:
        raise TranspileError(problems)
    if not objects:
        raise TranspileError([Diagnostic("no Kubernetes objects in the file", Span(origin))])
    return objects


def _problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"expected a mapping (a Kubernetes object), found {type(item).__name__}"
    missing = [key for key in ("apiVersion", "kind") if not isinstance(item.get(key), str) or not item.get(key)]
    if missing:
        return f"the object has no {' or '.join(missing)}"
    metadata = item.get("metadata")
    if not isinstance(metadata, dict) or not (metadata.get("name") or metadata.get("generateName")):
        return f"the {item['kind']} has no metadata.name"
    return None
