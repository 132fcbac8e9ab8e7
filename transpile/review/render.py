"""`transpile diff` reports: plain text for a terminal, Markdown for a pull-request comment."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from transpile.review.compare import Comparison

MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def headline(result: Comparison) -> str:
    text = f"{result.count('+')} step(s) added, {result.count('-')} removed, {result.count('~')} changed"
    if result.pipeline:
        text += f"; {len(result.pipeline)} pipeline setting(s) changed"
    return text


def text_report(result: Comparison, yaml_diff: Sequence[str]) -> str:
    """The summary, notes, then the unified diff of the Argo YAML."""
    if not result.differ:
        return "no differences\n" + "".join(f"note: {note}\n" for note in result.notes)
    lines = [headline(result)]
    lines += [
        f"  {c.sign} {c.subject}" + (f" ({c.detail})" if c.sign == "+" else "") for c in result.steps if c.sign != "~"
    ]
    lines += [f"  ~ {c.subject}: {c.detail}" for c in result.steps if c.sign == "~"]
    lines += [f"  ~ pipeline: {c.detail}" for c in result.pipeline]
    lines += [f"note: {note}" for note in result.notes]
    body = "\n".join(lines) + "\n"
    return body + ("\n" + "".join(yaml_diff) if yaml_diff else "")


def markdown_text(text: str) -> str:
    """Any string as literal Markdown text for a table cell or a paragraph (no markup, no HTML)."""
    text = _PUNCTUATION.sub(r"\\\1", html.escape(text, quote=False))
    return text.replace("\r", "").replace("\n", "<br>")


def _cut(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def markdown_report(result: Comparison, yaml_diff: Sequence[str], old: str, new: str) -> str:
    """A pull-request comment: a summary table, the changes, notes, and the YAML diff folded away."""
    title = f"**transpile diff** {markdown_text(old)} → {markdown_text(new)}"
    notes = [f"> **Note:** {markdown_text(note)}" for note in result.notes]
    if not result.differ:
        return "\n\n".join([f"{title}: no differences in meaning", *notes]) + "\n"
    out = [
        title,
        "| steps added | steps removed | steps changed | pipeline settings changed |\n"
        "|---:|---:|---:|---:|\n"
        f"| {result.count('+')} | {result.count('-')} | {result.count('~')} | {len(result.pipeline)} |",
    ]
    budget = MARKDOWN_LIMIT - sum(len(part) for part in out) - sum(len(note) for note in notes)
    rows = ["| | step | change |", "|---|---|---|"]
    words = {"+": "added", "-": "removed", "~": "changed"}
    changes = [*result.steps, *result.pipeline]
    rows_budget = budget // 2
    for number, change in enumerate(changes):
        row = f"| {words[change.sign]} | {markdown_text(_cut(change.subject))} | {markdown_text(_cut(change.detail))} |"
        if len(row) + 1 > rows_budget:
            rows.append(f"| | {len(changes) - number} more | run `transpile diff` for all changes |")
            break
        rows.append(row)
        rows_budget -= len(row) + 1
        budget -= len(row) + 1
    out.append("\n".join(rows))
    out += notes
    if yaml_diff:
        body: list[str] = []
        for line in yaml_diff:
            if len(line) > budget - 400:
                break
            body.append(line)
            budget -= len(line)
        text = "".join(body)
        if not text.endswith("\n"):
            text += "\n"
        fence = _fence(text)
        summary = f"Argo YAML diff ({len(yaml_diff)} lines)"
        if len(body) < len(yaml_diff):
            summary += f", first {len(body)} shown; run `transpile diff` for the rest"
        out.append(f"<details><summary>{html.escape(summary)}</summary>\n\n{fence}diff\n{text}{fence}\n\n</details>")
    return "\n\n".join(out) + "\n"
