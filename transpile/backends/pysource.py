"""Put values into generated Python safely: every user string becomes a Python literal (never pasted into
source), and strings bound for an engine's Jinja-templated fields are made inert first."""

from __future__ import annotations

from typing import Any


def py(value: Any) -> str:
    """A Python literal for a JSON-like value: deterministic (dict order kept), always valid source."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise ValueError("NaN and infinity have no literal")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(str(k))}: {py(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _string(text: str) -> str:
    """A double-quoted string literal (ruff's preferred quotes) that escapes everything unusual."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif (
            code < 0x20
            or code == 0x7F
            or 0x80 <= code < 0xA0
            or char in "\u2028\u2029\ufeff"
            or (0xD800 <= code <= 0xDFFF)
        ):
            out.append(f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def comment_text(text: str) -> str:
    """Text safe inside a `#` comment: escaped like a string literal's content, so no newline gets out."""
    return py(text)[1:-1]


_JINJA_OPENERS = ("{{", "{%", "{#")


def jinja_inert(text: str) -> str:
    """A Jinja template that renders to exactly `text`.

    Text without `{{`, `{%` or `{#`, without a carriage return and not ending in a newline renders as
    itself; otherwise (Jinja would also turn "\r\n" and "\r" into "\n" and drop a final newline) the whole
    text becomes one Jinja string literal, `{{ "..." }}`, with every non-printable or non-ASCII character
    escaped so Jinja's lexer gives it back unchanged.
    """
    if not any(opener in text for opener in _JINJA_OPENERS) and "\r" not in text and not text.endswith("\n"):
        return text
    escaped = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            escaped.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            escaped.append(char)
        elif code <= 0xFFFF:
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(f"\\U{code:08x}")
    return '{{ "' + "".join(escaped) + '" }}'


def render(template: str, context: dict[str, Any]) -> str:
    """Render one of the shipped jinja2 templates; every value in `context` is already Python source."""
    import jinja2

    from transpile.package_data import templates_dir

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template(template).render(context)
