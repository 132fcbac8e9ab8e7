"""A faithful replay of Argo v4.1.2's `{{...}}` substitution, for tests (the run replayed by
tests/support/argo_replay.py substitutes with it).

Substitution as `util/template` does it: the object is JSON-marshalled (Go's escaping), tags are found as
fasttemplate finds them (`{{` to the next `}}`, an unclosed tag is an error), a simple tag is replaced by
`strconv.Quote` of its value without the quotes (so control characters become `\\x01`, invalid JSON) or
written back when unknown (or fails when strict), a `{{=...}}` tag is an expr-lang expression evaluated over
the expanded map (missing variables leave it as it is), and the result must be valid JSON. A small
evaluator covers the expressions a spec may hold (members, indexing, sprig's b64enc/b64dec, + - * /); an
expression it cannot parse is an error, as Argo's compile error is. `when` is evaluated as govaluate does
for the forms a spec uses.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from tests.support.argo_expr import EvalError, ParseError, Parser, evaluate, identifiers


class ArgoError(Exception):
    """What Argo would report: the workflow or the node errors."""


# -- Go's JSON and strconv -------------------------------------------------------------------------------
def go_marshal(value: Any) -> str:
    """json.Marshal: compact, UTF-8, with `<`, `>`, `&`, U+2028 and U+2029 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(char, escape)
    return text.replace("\u2029", "\\u2029")


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def json_valid(text: str) -> bool:
    """json.Valid: strict JSON (no NaN, no raw control characters in strings, no `\\x` escapes)."""
    try:
        json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return False
    return True


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote_inner(text: str) -> str:
    """strconv.Quote(text) without its quotes."""
    out = []
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


# -- fasttemplate and util/template ----------------------------------------------------------------------
def split_tags(text: str) -> list[tuple[str, str | None]]:
    """(text before, tag) pairs as fasttemplate reads them; the last has tag None."""
    parts: list[tuple[str, str | None]] = []
    rest = text
    while True:
        start = rest.find("{{")
        if start < 0:
            parts.append((rest, None))
            return parts
        before, rest = rest[:start], rest[start + 2 :]
        end = rest.find("}}")
        if end < 0:
            raise ArgoError(f"Cannot find end tag='}}}}' in the template starting from {rest[:40]!r}")
        parts.append((before, rest[:end]))
        rest = rest[end + 2 :]


VARIABLES_TO_CHECK = (
    "item",
    "retries",
    "lastRetry.exitCode",
    "lastRetry.status",
    "lastRetry.duration",
    "lastRetry.message",
    "workflow.status",
    "workflow.failures",
)


def replace(text: str, mapping: dict[str, Any], allow_unresolved: bool = True, strict: list[str] | None = None) -> str:
    """template.Replace (allow_unresolved) / ReplaceStrictAny (strict prefixes) over a JSON document."""
    if not json_valid(text):
        raise ArgoError("cannot do template replacements with invalid JSON")
    if strict:
        regex: re.Pattern | None = re.compile("^((" + "|".join(map(re.escape, strict)) + "))(\\.|$)")
        artifacts_ok = True
    else:
        regex = None if allow_unresolved else re.compile(".*")
        artifacts_ok = allow_unresolved
    out = []
    for before, tag in split_tags(text):
        out.append(before)
        if tag is None:
            continue
        if tag.startswith("="):
            expression = tag[1:].replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
            out.append(_expression(expression, _expand(mapping), regex))
        else:
            out.append(_simple(tag, mapping, regex, artifacts_ok))
    result = "".join(out)
    if not json_valid(result):
        raise ArgoError("cannot finish template replacement because the result was invalid JSON")
    return result


def _simple(tag: str, mapping: dict[str, Any], regex: re.Pattern | None, artifacts_ok: bool) -> str:
    key = tag.strip()
    if key not in mapping:
        index = tag.rfind("{{")
        if index > 0 and tag[index + 2 :] in mapping:
            nested = mapping[tag[index + 2 :]]
            if nested is None:
                raise ArgoError(f"unable to substitute nested tag {{{{{tag}}}}}")
            if isinstance(nested, str):
                return "{{" + tag[:index] + go_quote_inner(nested)
        if regex is not None and regex.match(key) and (not artifacts_ok or ".outputs.artifacts." not in key):
            raise ArgoError(f"failed to resolve {{{{{tag}}}}}")
        return "{{" + tag + "}}"
    value = mapping[key]
    if not isinstance(value, str):
        raise ArgoError(f"failed to resolve {{{{{tag}}}}} to string")
    return go_quote_inner(value)


def _expand(mapping: dict[str, Any]) -> dict[str, Any]:
    """util/expand: dotted keys as nested maps (a key with children loses to them), plus sprig."""
    keys = sorted(mapping)
    kept = {k: mapping[k] for i, k in enumerate(keys) if not (i + 1 < len(keys) and keys[i + 1].startswith(k + "."))}
    env: dict[str, Any] = {}
    for key, value in kept.items():
        node = env
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node.setdefault(last, value)
    env["sprig"] = SPRIG
    return env


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except ValueError:
        return base64.b64decode(text + "==", validate=False).decode("utf-8", "replace")


SPRIG = {
    "b64enc": lambda s: base64.b64encode(str(s).encode("utf-8")).decode("ascii"),
    "b64dec": _b64dec,
}
_MISSING = object()


def _has_var(env: dict[str, Any], path: str) -> bool:
    node: Any = env
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _expression(expression: str, env: dict[str, Any], regex: re.Pattern | None) -> str:
    unchanged = "{{=" + expression + "}}"
    try:
        source = json.loads('"' + expression + '"')
        tree = Parser(source).parse()
    except (ValueError, ParseError) as exc:
        raise ArgoError(f"failed to evaluate expression: {exc}") from None
    missing = [i for i in identifiers(tree) if not _has_var(env, i)]
    if regex is not None and any(regex.match(i) for i in missing):
        raise ArgoError(f"failed to evaluate expression: {missing[0]} is missing")
    allow = bool(missing) or regex is None
    if allow and any(i in VARIABLES_TO_CHECK for i in missing):
        return unchanged
    try:
        result = evaluate(tree, env)
    except EvalError as exc:
        if allow:
            return unchanged
        raise ArgoError(f"failed to evaluate expression: {exc}") from None
    if result is None:
        if allow:
            return unchanged
        raise ArgoError(f"failed to evaluate expression {expression!r}")
    marshalled = go_marshal(result)
    if len(marshalled) > 1 and marshalled[0] == '"' and marshalled[-1] == '"':
        return marshalled[1:-1]
    return go_quote_inner(marshalled)


def evaluate_when(text: str) -> bool:
    """govaluate over the `when` forms a spec uses: `'a' == 'b'`, `'a' != 'b'` and `'a' =~ 'regex'` (Go's
    regexp, unanchored: re.search for the patterns a spec holds)."""
    match = re.fullmatch(r"'([^']*)' (==|!=|=~) '([^']*)'", text)
    if not match:
        raise ArgoError(f"unsupported when: {text}")
    left, op, right = match.groups()
    if op == "=~":
        return re.search(right, left) is not None
    return (left == right) if op == "==" else (left != right)
