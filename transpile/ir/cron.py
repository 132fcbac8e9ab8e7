"""Cron expressions as every engine reads them: five fields with their ranges, or a descriptor.

The rules are those both Argo (robfig/cron) and Airflow/Prefect (croniter) accept: `*`, `?` (day fields),
values, ranges `a-b`, steps `*/n`, `a-b/n`, `a/n`, lists with `,`, month and weekday names; `@yearly`,
`@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, and `@every 1h30m` (Argo only;
other targets refuse it when compiling).
"""

from __future__ import annotations

import re

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EVERY = re.compile(r"^@every\s+((\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# (name, low, high, names)
_FIELDS = [
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
]
_FORM = "five fields 'minute hour day-of-month month day-of-week' (e.g. '0 3 * * *'), or @daily, @hourly, @every 1h"


def _value(text: str, field: int) -> int:
    name, low, high, names = _FIELDS[field]
    if names is not None and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"'{text}' is not a valid {name}")
    number = int(text)
    if not low <= number <= high:
        extra = " (0 is Sunday)" if field == 4 else ""
        raise ValueError(f"{name} {number} is out of range: {name} goes from {low} to {high}{extra}")
    return number


def _check_item(item: str, field: int) -> None:
    name = _FIELDS[field][0]
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"'{item}': the step after '/' in the {name} must be a positive whole number")
    if base in ("*", "?"):
        if base == "?" and field not in (2, 4):
            raise ValueError(f"'?' is only allowed in the day-of-month and day-of-week fields, not the {name}")
        return
    start, dash, end = base.partition("-")
    if not start:
        raise ValueError(f"'{item}' is not a valid {name}")
    first = _value(start, field)
    if dash:
        last = _value(end, field)
        if first > last:
            raise ValueError(f"'{item}': the {name} range starts after it ends")


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def every_seconds(expression: str) -> int | None:
    """The whole seconds between runs of an `@every` schedule (None for any other), truncated to the
    second as Argo's cron library does."""
    match = _EVERY.match(expression.strip())
    if match is None:
        return None
    total = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(match.group(1)))
    return int(total)


def check_cron(text: str) -> str:
    """The cron expression, or a ValueError that says which field is wrong and why."""
    expression = text.strip()
    if not expression:
        raise ValueError(f"the schedule is empty; give {_FORM}")
    if expression.startswith("@"):
        if expression in DESCRIPTORS:
            return text
        if _EVERY.match(expression):
            if (every_seconds(expression) or 0) < 1:
                raise ValueError(f"'{expression}' is shorter than a second; @every takes at least 1s")
            return text
        if expression.startswith("@every"):
            raise ValueError(f"'{expression}' is not a valid @every: give a duration such as @every 1h or @every 90s")
        raise ValueError(f"'{expression}' is not a cron descriptor; use one of {', '.join(DESCRIPTORS)} or @every 1h")
    fields = expression.split()
    if len(fields) != 5:
        extra = " (seconds and years are not supported)" if len(fields) in (6, 7) else ""
        raise ValueError(f"'{expression}' has {len(fields)} fields{extra}; a schedule is {_FORM}")
    for position, field in enumerate(fields):
        for item in field.split(","):
            if not item:
                raise ValueError(f"'{field}': an empty item in the {_FIELDS[position][0]} list")
            if "#" in item or re.search(r"(^|\d)[LW]$|^L", item):
                raise ValueError(f"'{item}' uses L, W or #, which not every engine reads")
            _check_item(item, position)
    return text
