"""A small, fast, deterministic YAML writer for generated specs: block style, keys in given order.

Strings are written plain only when every YAML 1.1 and 1.2 reader takes them back as the same string;
otherwise double-quoted with JSON escapes (a subset of YAML's). Multi-line strings use literal blocks.
A mapping key too long for a simple key (readers allow 1,024 characters) is written in the explicit form
`? key` / `: value`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_PLAIN = re.compile(r"^(?:--?[A-Za-z]|[A-Za-z_/$])[A-Za-z0-9_./$()=+-]*(?::[A-Za-z0-9_./$=+-]+)*$")
_WORD = re.compile(r"^[A-Za-z0-9_./$()=+-]+$")
_RESERVED = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"])
_NUMERIC_LIKE = re.compile(r"^[-+]?(\d|\.\d|\.inf|\.nan)", re.IGNORECASE)
_UNSAFE_FOR_BLOCK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff\r]")
# Characters YAML readers refuse raw or change (NEL, line separators, BOM, non-characters, lone surrogates).
_ESCAPE_EXTRA = re.compile(r"[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def quote(text: str) -> str:
    """A double-quoted YAML scalar for `text`."""
    out = json.dumps(text, ensure_ascii=False)
    return _ESCAPE_EXTRA.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def _plain_ok(text: str) -> bool:
    """True when `text` can be written unquoted (inner single spaces allowed, as in `Nightly ETL`)."""
    words = text.split(" ")
    if not all(words) or text.lower() in _RESERVED or _NUMERIC_LIKE.match(text):
        return False
    if len(words) > 1 and not all(_WORD.fullmatch(w) for w in words[1:]):
        return False
    return bool(_PLAIN.fullmatch(words[0])) and words[0].lower() not in _RESERVED


def scalar(value: Any) -> str:
    """One scalar in YAML syntax."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return json.dumps(value)
    return _string(str(value))


@functools.lru_cache(maxsize=65536)
def _string(text: str) -> str:
    return text if _plain_ok(text) else quote(text)


_SIMPLE_KEY_LIMIT = 1000  # characters of a written key, under the readers' 1,024 (with room for the ':')


def _key(key: Any) -> str | None:
    """The key as written for `key: value`, or None when it needs the explicit `? key` form."""
    written = scalar(key)
    return written if len(written) <= _SIMPLE_KEY_LIMIT else None


def _emit_entry(key: Any, value: Any, key_indent: str, first: str, lines: list[str]) -> None:
    """One mapping entry; `first` starts the key's line (the indent, or `- ` for a sequence item's first key)."""
    written = _key(key)
    if written is not None:
        _emit_value(value, key_indent + "  ", lines, f"{first}{written}:")
        return
    lines.append(f"{first}? {quote(str(key)) if isinstance(key, str) else scalar(key)}")
    _emit_value(value, key_indent + "  ", lines, f"{key_indent}:")


def _literal_ok(text: str) -> bool:
    if "\n" not in text or _UNSAFE_FOR_BLOCK.search(text):
        return False
    if text.endswith("\n\n"):
        return False
    lines = text.split("\n")
    first = next((line for line in lines if line), "")
    if not first or first.startswith((" ", "\t")):
        return False
    return all(line == line.rstrip(" \t") for line in lines)


def _emit_value(value: Any, indent: str, lines: list[str], prefix: str) -> None:
    if isinstance(value, dict):
        if not value:
            lines.append(f"{prefix} {{}}")
            return
        lines.append(prefix)
        for key, item in value.items():
            _emit_entry(key, item, indent, indent, lines)
        return
    if isinstance(value, (list, tuple)):
        if not value:
            lines.append(f"{prefix} []")
            return
        lines.append(prefix)
        # Sequences inside a mapping are indented by two, like kubectl and hera write them.
        for item in value:
            _emit_item(item, indent, lines)
        return
    if isinstance(value, str) and _literal_ok(value):
        chomp = "" if value.endswith("\n") else "-"
        lines.append(f"{prefix} |{chomp}")
        for line in value.rstrip("\n").split("\n"):
            lines.append(f"{indent}{line}" if line else "")
        return
    lines.append(f"{prefix} {scalar(value)}")


def _emit_item(item: Any, indent: str, lines: list[str]) -> None:
    dash = f"{indent}-"
    if isinstance(item, dict) and item:
        inner = indent + "  "
        first = True
        for key, value in item.items():
            _emit_entry(key, value, inner, f"{dash} " if first else inner, lines)
            first = False
        return
    if isinstance(item, (list, tuple)) and item:
        lines.append(dash)
        for sub in item:
            _emit_item(sub, indent + "  ", lines)
        return
    _emit_value(item, indent + "  ", lines, dash)


def dump(value: Any) -> str:
    """One YAML document (no leading `---`) for a mapping."""
    lines: list[str] = []
    for key, item in value.items():
        _emit_entry(key, item, "", "", lines)
    return "\n".join(lines) + "\n"


def dump_all(documents: list[dict[str, Any]], header: str = "") -> str:
    """A multi-document YAML stream with an optional comment header."""
    parts = []
    for i, document in enumerate(documents):
        parts.append(("---\n" if i else "") + dump(document))
    return header + "".join(parts)
