"""The injection pipeline of the Airflow and Prefect tests: hostile strings as parameter defaults, per-run
parameter values, env values and map items, read back byte for byte by python and shell steps."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.hostile import VALUES
from transpile.runtime.store import RunStore

# More strings that templating engines are known to alter: Jinja drops a template's trailing newline and
# turns "\r\n" and "\r" into "\n"; leading and trailing spaces; Airflow's own macros; whole placeholders
# `prefect deploy` replaces (a step output, a variable, the deployer's environment: SECRET_ENV is set when
# it runs) or drops; values ending like a template file (Airflow's BashOperator loads `*.sh`, `*.bash`).
SECRET_ENV = "TRANSPILE_INJECTION_SECRET"
EXTRA = (
    "ends with a newline\n",
    "carriage\rreturn\r\n",
    "  padded  ",
    "{{ run_id }} {{ ds }} {{ params }}",
    "{{x}}",
    "{{ $" + SECRET_ENV + " }}",
    "{{ prefect.variables.missing }}",
    "{% if true %}yes{% endif %}",
    "run.sh",
    "setup.bash",
    "page.j2",
    "values.json",
)
# Mapping keys that read as numbers, booleans or null when unquoted (JSON keys: strings, kept as written).
NUMBER_LIKE_KEYS = ("1e30", "0x1F", "007", "true", ".inf", "null")
STRINGS = VALUES + EXTRA
NAMES = [f"s{i}" for i in range(len(STRINGS))]
ENV = {f"E{i}": value for i, value in enumerate(STRINGS)}
DEFAULTS = {name: value for name, value in zip(NAMES, STRINGS, strict=True)} | {
    "items": list(STRINGS),
    "obj": {"z": STRINGS[0], "a": STRINGS[2], "{{ key }}": STRINGS[5]} | {k: k for k in NUMBER_LIKE_KEYS},
}
# Per-run values, different from the defaults.
OVERRIDES = {name: value for name, value in zip(NAMES, reversed(STRINGS), strict=True)} | {
    "items": [f"run {s}" for s in STRINGS[:4]],
    "obj": {"{% x %}": STRINGS[1], "b": [STRINGS[3]], "{{x}}": "run.sh"} | {k: [k] for k in NUMBER_LIKE_KEYS},
}

STEPS = f'''"""Steps of the injection pipeline: they hand back exactly what reached them."""

import os


def show({", ".join(NAMES)}, items, obj):
    return {{"params": [{", ".join(NAMES)}], "items": items, "obj": list(obj.items())}}, [
        os.environ.get(name) for name in {list(ENV)!r}
    ]


def each(item):
    return item
'''

# Hex of every parameter and env value as the shell step sees it ("x" + hex per line).
SHELL = (
    f"for v in {' '.join(NAMES)} {' '.join(ENV)}; do "
    'printf x; printf "%s" "${!v}" | od -An -v -tx1 | tr -d " \\n"; echo; done > "$TRANSPILE_RETURNS/hex"'
)


def write_project(project: Path) -> str:
    """Write the pipeline and its steps module into `project`; returns the pipeline file's name."""
    data = {
        "name": "inject",
        "parameters": DEFAULTS,
        "defaults": {"image": "example.org/inject:1", "env": ENV},
        "steps": {
            "show": {"python": "inject_steps:show", "returns": ["params", "env"]},
            "sh": {"shell": SHELL, "returns": ["hex"]},
            "fan": {
                "needs": ["show"],
                "map": {
                    "over": "items",
                    "as": "item",
                    "steps": {"each": {"python": "inject_steps:each", "returns": ["out"]}},
                },
            },
        },
    }
    # JSON, which is YAML 1.2, so every key is a quoted string (a YAML 1.1 writer leaves `1e30:` unquoted,
    # which YAML 1.2 reads as a number, and transpile refuses as a key)
    (project / "inject.yaml").write_text(json.dumps(data, ensure_ascii=False, indent=1))
    (project / "inject_steps.py").write_text(STEPS)
    return "inject.yaml"


def hex_lines(values: list[str]) -> str:
    return "\n".join("x" + v.encode().hex() for v in values)


def check(run: RunStore, params: dict, env: bool = True) -> None:
    """Every value reached the steps unchanged: parameters (as given), env values (when `env`), map items."""
    show = run.result("show")
    assert show is not None, "the step show did not publish a result"
    strings = [params[name] for name in NAMES]
    assert show.returns["params"]["params"] == strings, (show.returns["params"]["params"], strings)
    assert show.returns["params"]["items"] == params["items"], (show.returns["params"]["items"], params["items"])
    pairs = [list(kv) for kv in params["obj"].items()]
    assert show.returns["params"]["obj"] == pairs, (show.returns["params"]["obj"], pairs)  # key order kept
    shell = run.result("sh").returns["hex"].split("\n")
    assert shell[: len(NAMES)] == hex_lines(strings).split("\n")
    if env:
        assert show.returns["env"] == list(ENV.values()), (show.returns["env"], list(ENV.values()))
        assert shell[len(NAMES) :] == hex_lines(list(ENV.values())).split("\n")
    items = [run.result(f"fan@{i}/each").returns["out"] for i in range(len(params["items"]))]
    assert items == params["items"], (items, params["items"])
