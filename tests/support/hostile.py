"""Hostile but valid user strings: every engine must carry them to the step byte-for-byte.

Shared by the injection tests of every backend (Argo replay, Airflow, Prefect, SLURM) and the runtime; HOSTILE
and hostile_pipeline() by the Airflow and Prefect tests.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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


HOSTILE = 'it\'s "quoted" \'\'\'triple\'\'\' """also""" back\\slash {{ ds }} {% if %} {# c #} $HOME `id`\nnew line'


def hostile_pipeline(project: Path, description: str = HOSTILE) -> str:
    """Write hostile.yaml: HOSTILE as a parameter, an env value, map items, step and case names; its file name."""
    data = {
        "name": "hostile",
        "description": description,
        "parameters": {"text": HOSTILE, "items": [HOSTILE, "{{ run_id }}"]},
        # an image holding `{{` is no image reference at all (refused), so the image is plain
        "defaults": {"image": "registry.example:5000/img:1.0-rc_1", "env": {"HOSTILE_ENV": HOSTILE}},
        "steps": {
            'say "hi" {{ x }}': {
                "shell": 'printf \'%s\' "$text" > "$TRANSPILE_RETURNS/t"; '
                'printf \'%s\' "$HOSTILE_ENV" > "$TRANSPILE_RETURNS/e"',
                "returns": ["t", "e"],
            },
            "fan": {
                "needs": ['say "hi" {{ x }}'],
                "map": {
                    "over": "items",
                    "as": "it",
                    "steps": {"echo'''": {"shell": 'printf \'%s\' "$it" > "$TRANSPILE_RETURNS/o"', "returns": ["o"]}},
                },
            },
            "route": {
                "needs": ["fan"],
                "switch": {
                    "on": "text",
                    "cases": {
                        HOSTILE: {"steps": {"x": {"shell": "echo picked"}}},
                        "other": {"steps": {"y": {"stub": True}}},
                    },
                },
            },
        },
    }
    (project / "hostile.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return "hostile.yaml"
