"""Error types that carry a source span, and the one formatter that prints them with a caret."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A place in a source file: 1-based line and column, and how many characters to underline."""

    file: str
    line: int = 0
    col: int = 0
    width: int = 1

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in the user's input."""

    message: str
    span: Span | None = None
    step: str | None = None
    hint: str | None = None


HINT = "transpile_hint"  # the context key of a validation error holding a hint (frontends/validation.py reads it)


@dataclass
class TranspileError(Exception):
    """Raised with every problem found; the CLI formats them and exits 2."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return format_diagnostics(self.diagnostics)


# Words people write for a key of the format, and the key they mean.
ALIASES = {
    "retry": "retries",
    "depends_on": "needs",
    "depends": "needs",
    "dependencies": "needs",
    "after": "needs",
    "requires": "needs",
    "command": "shell",
    "cmd": "shell",
    "script": "shell",
    "bash": "shell",
    "run": "shell",
    "environment": "env",
    "env_vars": "env",
    "timeout_seconds": "timeout",
    "return": "returns",
    "outputs": "returns",
    "params": "parameters",
    "tasks": "steps",
    "nodeSelector": "node_selector",
    "serviceAccountName": "service_account",
}


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.lower(), b.lower(), strict=False):
        if x != y:
            break
        n += 1
    return n


def _spelling(word: str) -> str:
    return word.replace("_", "").replace("-", "").lower()


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt word, as a hint, or None. Known synonyms come first
    (`retry` -> `retries`); among equally similar words, the one sharing the longest start wins."""
    options = list(choices)
    alias = ALIASES.get(word)
    if alias in options:
        return f"did you mean '{alias}'?"
    spelling = _spelling(word)  # the same word in another case or spelling: run_as_user -> runAsUser
    same = [choice for choice in options if _spelling(choice) == spelling]
    if same:
        return f"did you mean '{same[0]}'?"
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    scored = []
    for choice in options:
        matcher.set_seq1(choice)
        ratio = matcher.ratio()
        if ratio >= 0.6:
            scored.append((ratio, _common_prefix(word, choice), choice))
    if not scored:
        return None
    best = max(scored, key=lambda item: (round(item[0], 2), item[1], -len(item[2])))
    return f"did you mean '{best[2]}'?" + look_alike(word, best[2])


def non_ascii_note(text: str) -> str:
    """' (it holds U+0430 CYRILLIC SMALL LETTER A, not an ASCII letter)' for a name with characters that
    may look like ASCII letters but are not; '' when the text is ASCII."""
    import unicodedata

    odd = list(dict.fromkeys(c for c in text if not c.isascii()))[:3]
    if not odd:
        return ""
    named = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'a character')}" for c in odd)
    return f" (it holds {named}, not an ASCII letter)"


def look_alike(word: str, choice: str) -> str:
    """When two names differ only in characters that look the same (a Cyrillic 'о' for a Latin 'o'), the
    characters that differ, named, so the suggestion does not read as the word itself; else ''."""
    import unicodedata

    if len(word) != len(choice) or word == choice:
        return ""
    pairs = [(a, b) for a, b in zip(word, choice, strict=True) if a != b]
    if not all(a.isascii() != b.isascii() for a, b in pairs):
        return ""

    def named(char: str) -> str:
        return f"'{char}'" if char.isascii() else f"U+{ord(char):04X} {unicodedata.name(char, 'a character')}"

    differences = ", ".join(f"{named(a)} where '{choice}' has {named(b)}" for a, b in pairs[:3])
    return f" ('{word}' has {differences}: they look alike but differ)"


_MEMORY_SOURCES: dict[str, list[str]] = {}


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as YAML and Python count lines (not U+0085, U+2028...)
EXCERPT_WIDTH = 100  # characters of a long source line shown around the caret


def source_lines(text: str) -> list[str]:
    """The lines of a source text, split where YAML and Python break lines."""
    return _LINE_BREAK.split(text)


def remember_source(name: str, text: str) -> None:
    """Keep the text of a source that is not a file on disk (standard input), for the report's excerpts."""
    _MEMORY_SOURCES[name] = source_lines(text)


def _source_line(span: Span, cache: dict[str, list[str]]) -> str | None:
    if span.line <= 0:
        return None
    if span.file in _MEMORY_SOURCES:
        cache[span.file] = _MEMORY_SOURCES[span.file]
    if span.file not in cache:
        try:
            cache[span.file] = source_lines(Path(span.file).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            cache[span.file] = []
    lines = cache[span.file]
    return lines[span.line - 1] if span.line <= len(lines) else None


def _window(line: str, col: int) -> tuple[str, int]:
    """A long line cut to about EXCERPT_WIDTH characters around `col` (marked with '...'), and the column
    of the caret in what is shown. Tabs are shown as one space, so the caret stays under its character."""
    line = line.replace("\t", " ")
    if len(line) <= EXCERPT_WIDTH:
        return line, col
    start = max(0, min(col - EXCERPT_WIDTH // 2, len(line) - EXCERPT_WIDTH))
    shown = line[start : start + EXCERPT_WIDTH]
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + EXCERPT_WIDTH < len(line) else ""
    return prefix + shown + suffix, col - start + len(prefix)


def format_diagnostic(diag: Diagnostic, cache: dict[str, list[str]] | None = None) -> str:
    """Render one diagnostic: message, location, the source line and a caret under the culprit."""
    cache = {} if cache is None else cache
    head = "error"
    if diag.step:
        head += f" in step '{diag.step}'"
    out = [f"{head}: {diag.message}"]
    if diag.span is not None:
        out.append(f"  --> {diag.span}")
        text = _source_line(diag.span, cache)
        if text is not None:
            text, col = _window(text, max(diag.span.col - 1, 0))
            gutter = " " * len(str(diag.span.line))
            out.append(f" {gutter} |")
            out.append(f" {diag.span.line} | {text}")
            out.append(f" {gutter} | {' ' * col}{'^' * max(min(diag.span.width, EXCERPT_WIDTH - col), 1)}")
    if diag.hint:
        out.append(f"  = help: {diag.hint}")
    return "\n".join(out)


def format_diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    """Render all diagnostics, blank-line separated, with a closing count."""
    cache: dict[str, list[str]] = {}
    diags = list(diagnostics)
    body = "\n\n".join(format_diagnostic(d, cache) for d in diags)
    noun = "error" if len(diags) == 1 else "errors"
    return f"{body}\n\n{len(diags)} {noun} found"
