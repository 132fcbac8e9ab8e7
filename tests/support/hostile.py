"""Hostile but valid user strings: every engine must carry them to the step byte-for-byte.

Shared by the injection tests of every backend (Argo replay, Airflow, Prefect, SLURM) and the runtime.
"""

from __future__ import annotations

# Values for parameters, env values, map items and switch keys.
VALUES: tuple[str, ...] = (
    'it\'s "quoted" \\ back\\slash',
    "$(touch /tmp/pwned) `id` ${HOME} $HOME",
    "{{workflow.name}} | {{inputs.parameters.node}} | {{=1+1}}",
    "{{item}} {{inputs.parameters.indices}} {{workflow.parameters.x}}",
    "a {{= b",
    "{% raw %}{{ params }}{% endraw %} {# comment #}",
    "line one\nline two\n\ttabbed",
    "unicode: é ß 漢字 🚀 \u200b",
    "'; DROP TABLE x; --",
    "%x-%j %A_%a %%",
)

# Names for steps, branches and cases (no '/', no control characters, no leading '@').
NAMES: tuple[str, ...] = (
    "Load Data",
    "it's",
    "{{workflow.name}}",
    "$(id)",
    "items",
    "attempt-1",
    "select",
    "each",
)
