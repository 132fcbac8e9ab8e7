# ruff: noqa: E501  (a table of cases: one case a line reads best)
"""A corpus of bad inputs: YAML pipelines, deploy configs and command lines a person plausibly gets wrong.

Each case asserts: exit code 2, the line the report points at first, how many errors it reports, a
fragment of the message, and no traceback. Run in-process (`transpile.cli.main`) for speed.
(The Python SDK's bad inputs live with the SDK's tests.)
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.support.inprocess import run_main
from tests.support.input_cases import OK, Case, H, deep_value, deploy, nested, step, top

RUN = ("run", "p.yaml", "--store", "store")
TYPED = top("parameters: {n: 3, xs: [1], ratio: 0.5, flag: true, obj: {a: 1}, s: text}\n")


CASES = [
    # ---- reading the file: syntax, encoding, tags, YAML 1.2 ----
    Case("empty-file", "", 1, 1, "the file is empty"),
    Case("only-comments", "# nothing\n", 1, 1, "the file is empty"),
    Case("top-list", "- a\n- b\n", 1, 1, "expected a mapping at the top of the file, got a list"),
    Case("top-scalar", "hello\n", 1, 1, "got a string"),
    Case("unclosed-flow", H + "  a: {shell: echo\n", 4, 1, "while parsing a flow mapping (never closed)"),
    Case("tab-indent", H + "\ta: {shell: echo}\n", 4, 1, "a tab character here: YAML indents with spaces only"),
    Case("bad-indent", "name: p\n  steps: {a: {stub: true}}\n", 2, 1, "cannot parse YAML"),
    Case("unclosed-quote", H + "  a: {shell: 'echo}\n", 4, 1, "cannot parse YAML"),
    Case("undefined-alias", H + "  a: *nothing\n", 4, 1, "cannot parse YAML"),
    Case("two-documents", OK + "---\n" + OK, 5, 1, "several YAML documents"),
    Case("duplicate-step", H + "  a: {shell: echo}\n  a: {shell: ls}\n", 5, 1, "duplicate key 'a' (first at line 4)"),
    Case("duplicate-key-in-step", step("shell: echo, shell: ls"), 4, 1, "duplicate key 'shell'"),
    Case("duplicate-top-key", OK + "name: q\n", 5, 1, "duplicate key 'name'"),
    Case("mapping-key", H + "  ? [a, b]\n  : {shell: echo}\n", 4, 1, "mapping keys must be plain strings"),
    Case("merge-key", H + "  a:\n    <<: {shell: echo}\n", 5, 1, "merge keys ('<<') are not part of YAML 1.2"),
    Case("merge-key-defaults", "name: p\ndefaults:\n  <<: {image: x}\nsteps: {a: {stub: true}}\n", 3, 1, "YAML 1.2"),
    Case("yaml11-yes", top("parameters: {dry_run: yes}\n"), 5, 1, "'yes' is the string 'yes' in YAML 1.2"),
    Case("yaml11-off", top("parameters:\n  verbose: off\n"), 6, 1, "write false for a boolean"),
    Case("yaml11-in-list", top("parameters:\n  flags: [on, 'on']\n"), 6, 1, "but true in YAML 1.1"),
    Case("non-utf8", b"name: p\nsteps:\n  a: {shell: 'caf\xe9'}\n", 3, 1, "byte 0xe9 at line 3, column 18"),
    Case("latin1-name", b"name: p\xe9\nsteps: {}\n", 1, 1, "is not UTF-8 text"),
    Case("unknown-tag", top("parameters: {x: !!timestamp 2026-01-01}\n"), 5, 1, "unsupported YAML tag '!!timestamp'"),
    Case("local-tag", top("parameters: {x: !env HOME}\n"), 5, 1, "unsupported YAML tag '!env'"),
    Case("bad-int-tag", top("parameters: {x: !!int ten}\n"), 5, 1, "'ten' is not a valid !!int value"),
    Case("bad-float-tag", top("parameters: {x: !!float abc}\n"), 5, 1, "not a valid !!float value"),
    Case("bad-bool-tag", top("parameters: {x: !!bool yes}\n"), 5, 1, "not a valid !!bool value"),
    Case("bad-null-tag", top("parameters: {x: !!null nothing}\n"), 5, 1, "not a valid !!null value"),
    Case("tag-on-mapping", top("parameters: !!set {a: null}\n"), 5, 1, "unsupported YAML tag '!!set'"),
    Case("control-char", "name: p\nsteps:\n  a: {shell: \"x\x07\"}\n", 3, 1, "cannot parse YAML"),
    Case("compiled-spec", "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nspec: {}\n", 1, 1, "compiled spec"),
    Case("compiled-multi", "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n", 1, 1, "this is a compiled spec"),
    # ---- the format: unknown keys, types, required keys ----
    Case("typo-python", step("pythn: m:f"), 4, 1, "did you mean 'python'?"),
    Case("typo-needs", H + "  a: {shell: echo}\n  b: {shell: echo, need: [a]}\n", 5, 1, "did you mean 'needs'?"),
    Case("retry", step("shell: echo, retry: 3"), 4, 1, "did you mean 'retries'?"),
    Case("depends-on", H + "  a: {shell: x}\n  b: {shell: x, depends_on: [a]}\n", 5, 1, "did you mean 'needs'?"),
    Case("command", step("command: echo"), 4, 1, "did you mean 'shell'?"),
    Case("cpu-at-step", step("shell: x, cpu: 2"), 4, 1, "put it under `resources:`"),
    Case("memory-at-step", step("shell: x, memory: 1Gi"), 4, 1, "resources: {memory: ...}"),
    Case("typo-timeout-defaults", "name: p\ndefaults: {image: i, timout: 3}\nsteps: {a: {stub: true}}\n", 2, 1, "timeout"),
    Case("typo-top", OK + "paramters: {x: 1}\n", 5, 1, "did you mean 'parameters'?"),
    Case("typo-schedule", OK + "shedule: '@daily'\n", 5, 1, "did you mean 'schedule'?"),
    Case("typo-map-over", step("map: {ovr: xs, as: x, steps: {b: {stub: true}}}"), 4, 1, "did you mean 'over'?"),
    Case("typo-switch-cases", step("switch: {on: x, case: {}}"), 4, 1, "did you mean 'cases'?"),
    Case("typo-secret", step("shell: x, secrets: [{secret: s, key: k, evn: E}]"), 4, 1, "did you mean 'env'?"),
    Case("missing-name", "steps: {a: {stub: true}}\n", 1, 1, "missing required key 'name'"),
    Case("missing-steps", "name: p\n", 1, 1, "missing required key 'steps'"),
    Case("empty-steps", "name: p\nsteps: {}\n", 2, 1, "steps: needs at least one step"),
    Case("steps-list", "name: p\nsteps: [a, b]\n", 2, 1, "expected a mapping of step name to step, got a list"),
    Case("step-string", H + "  a: echo hi\n", 4, 1, "got a string"),
    Case("step-null", H + "  a:\n", 4, 1, "got null"),
    Case("retries-word", step("shell: x, retries: many"), 4, 1, "expected a retry count (retries: 2) or a mapping"),
    Case("retries-negative", step("shell: x, retries: -1"), 4, 1, "too small (at least 0)"),
    Case("retries-huge", step("shell: x, retries: 99999999999999999999999"), 4, 1, "too large (at most 2147483647)"),
    Case("retries-float", step("shell: x, retries: 1.5"), 4, 1, "a mapping {limit, backoff, factor, max_backoff}, got a number 1.5"),
    Case("retries-no-limit", step("shell: x, retries: {backoff: 10s}"), 4, 1, "missing required key 'limit'"),
    Case("retries-factor-0", step("shell: x, retries: {limit: 1, factor: 0}"), 4, 1, "too small (at least 1)"),
    Case("backoff-word", step("shell: x, retries: {limit: 1, backoff: later}"), 4, 1, "'later' is not a duration"),
    Case("timeout-word", step("shell: x, timeout: soon"), 4, 1, "'soon' is not a duration"),
    Case("timeout-units", step("shell: x, timeout: 5 minutes"), 4, 1, "is not a duration"),
    Case("timeout-negative", step("shell: x, timeout: -5"), 4, 1, "too small"),
    Case("timeout-huge", step("shell: x, timeout: 99999999999"), 4, 1, "too large"),
    Case("timeout-huge-days", step("shell: x, timeout: 99999d"), 4, 1, "too large"),
    Case("timeout-bool", step("shell: x, timeout: true"), 4, 1, "timeout"),
    Case("image-space", step("shell: x, image: 'my-image '"), 4, 1, "holds U+0020 (space) (write 'my-image')"),
    Case("image-empty", step("shell: x, image: ''"), 4, 1, "the image is empty"),
    Case("image-number", step("shell: x, image: 3"), 4, 1, "expected a string, got a number"),
    Case("env-list", step("shell: x, env: [A=1]"), 4, 1, "expected a mapping of variable name to string, got a list"),
    Case("env-number", step("shell: x, env: {PORT: 8080}"), 4, 1, "expected a string, got a number"),
    Case("env-bad-name", step("shell: x, env: {MY-VAR: 1x}"), 4, 1, "'MY-VAR' is not a valid environment variable"),
    Case("needs-number", H + "  a: {shell: x, needs: 3}\n", 4, 1, "a step name or a list of step names"),
    Case("returns-string", step("shell: x, returns: rows"), 4, 1, "expected a list of names, got a string"),
    Case("returns-bad-name", step("shell: x, returns: [row-count]"), 4, 1, "not starting with a digit"),
    Case("stub-word", step("stub: maybe"), 4, 1, "expected true or false"),
    Case("python-number", step("python: 3"), 4, 1, "expected a string"),
    Case("description-list", OK + "description: [a]\n", 5, 1, "expected a string, got a list"),
    Case("param-bad-name", top("parameters: {bad-name: 1}\n"), 5, 1, "'bad-name' is not a valid name"),
    Case("param-digit-name", top("parameters: {1st: 1}\n"), 5, 1, "is not a valid name"),
    Case("params-list", top("parameters: [a, b]\n"), 5, 1, "expected a mapping, got a list"),
    Case("param-nan", top("parameters: {x: .nan}\n"), 5, 1, "JSON cannot carry"),
    Case("param-inf", top("parameters: {x: .inf}\n"), 5, 1, "holds inf"),
    Case("param-neg-inf", top("parameters: {x: -.inf}\n"), 5, 1, "holds -inf"),
    Case("param-nested-nan", top("parameters:\n  x: {a: [1, .nan]}\n"), 6, 1, "JSON cannot carry"),
    Case("param-tagged-nan", top("parameters: {x: !!float .nan}\n"), 5, 1, "JSON cannot carry"),
    Case("map-no-over", step("map: {as: x, steps: {b: {stub: true}}}"), 4, 1, "missing required key 'over'"),
    Case("map-bad-as", top("parameters: {xs: [1]}\n").replace("a: {shell: echo}", "a: {map: {over: xs, as: 1x, steps: {b: {stub: true}}}}"), 4, 1, "'1x' is not valid: it must be a name of letters"),
    Case("switch-no-cases", step("switch: {on: x, cases: {}}"), 4, 1, "needs at least one case"),
    Case("parallel-list", step("parallel: [a, b]"), 4, 1, "a mapping of branch name to {steps}"),
    Case("toleration-item", step("shell: x, tolerations: [5]"), 4, 1, "expected a toleration {key, operator"),
    Case("secret-item", step("shell: x, secrets: [db]"), 4, 1, "expected a mapping {secret, key, env}, got a string 'db'"),
    Case("returns-item", step("shell: x, returns: [1]"), 4, 1, "expected a name, got a number 1"),
    Case("needs-item", H + "  a: {shell: x, needs: [[b]]}\n", 4, 1, "expected a step name, got a list"),
    Case("catalog-string", step("shell: x, catalog: out.csv"), 4, 1, "a mapping {get: [patterns], put: [patterns]}"),
    # ---- Kubernetes rules: quantities, names, labels ----
    Case("cpu-lots", step("shell: x, resources: {cpu: lots}"), 4, 1, "'lots' is not a Kubernetes quantity"),
    Case("cpu-negative", step("shell: x, resources: {cpu: -1}"), 4, 1, "cannot be negative"),
    Case("cpu-bool", step("shell: x, resources: {cpu: true}"), 4, 1, "not a boolean"),
    Case("cpu-unit", step("shell: x, resources: {cpu: 2 cores}"), 4, 1, "cores as a number (2, 0.5) or millicores"),
    Case("memory-gb", step("shell: x, resources: {memory: 1GB}"), 4, 1, "write 1G (powers of 10) or 1Gi (powers of 2)"),
    Case("memory-gib", step("shell: x, resources: {memory: 2GiB}"), 4, 1, "write 2Gi"),
    Case("memory-mb-lower", step("shell: x, resources: {memory: 512mb}"), 4, 1, "512Mi"),
    Case("memory-words", step("shell: x, resources: {memory: a lot}"), 4, 1, "512Mi, 1Gi"),
    Case("memory-number", step("shell: x, resources: {memory: 1024}"), 4, 1, "expected a string"),
    Case("gpu-negative", step("shell: x, resources: {gpu: -1}"), 4, 1, "too small"),
    Case("gpu-word", step("shell: x, resources: {gpu: one}"), 4, 1, "expected a whole number"),
    Case("secret-name", step("shell: x, secrets: [{secret: My Secret, key: k, env: E}]"), 4, 1, "not a valid secret name"),
    Case("secret-key", step("shell: x, secrets: [{secret: s, key: a/b, env: E}]"), 4, 1, "not a valid secret key"),
    Case("secret-env", step("shell: x, secrets: [{secret: s, key: k, env: 1E}]"), 4, 1, "not starting with a digit"),
    Case("selector-key", step("shell: x, node_selector: {'bad key': x}"), 4, 1, "label key 'bad key' is not valid"),
    Case("selector-prefix", step("shell: x, node_selector: {'Bad_Prefix/zone': x}"), 4, 1, "prefix of label key"),
    Case("selector-value", step("shell: x, node_selector: {zone: 'a b'}"), 4, 1, "is not a valid label value"),
    Case("toleration-op", step("shell: x, tolerations: [{key: k, operator: Equals}]"), 4, 1, "'Equals' is not one of"),
    Case("toleration-effect", step("shell: x, tolerations: [{key: k, effect: Never}]"), 4, 1, "is not one of"),
    Case("toleration-seconds", step("shell: x, tolerations: [{key: k, toleration_seconds: 1e99}]"), 4, 1, "toleration_seconds"),
    Case("pipeline-name-upper", "name: Bad_Name\nsteps: {a: {stub: true}}\n", 1, 1, "(for example 'bad-name')"),
    Case("pipeline-name-long", f"name: {'a' * 70}\nsteps: {{a: {{stub: true}}}}\n", 1, 1, "at most 63 are allowed"),
    Case("pipeline-name-dash", "name: -p\nsteps: {a: {stub: true}}\n", 1, 1, "not a valid pipeline name"),
    Case("pipeline-name-empty", "name: ''\nsteps: {a: {stub: true}}\n", 1, 1, "the pipeline name is empty"),
    # ---- schedules ----
    Case("cron-99", top("schedule: '99 99 * * *'\n"), 5, 1, "minute 99 is out of range: minute goes from 0 to 59"),
    Case("cron-hour-24", top("schedule: '0 24 * * *'\n"), 5, 1, "hour 24 is out of range"),
    Case("cron-dom-0", top("schedule: '0 0 0 * *'\n"), 5, 1, "day of month 0 is out of range"),
    Case("cron-month-13", top("schedule: '0 0 1 13 *'\n"), 5, 1, "month 13 is out of range"),
    Case("cron-dow-7", top("schedule: '0 0 * * 7'\n"), 5, 1, "(0 is Sunday)"),
    Case("cron-four-fields", top("schedule: '0 3 * *'\n"), 5, 1, "has 4 fields"),
    Case("cron-six-fields", top("schedule: '0 0 3 * * *'\n"), 5, 1, "seconds and years are not supported"),
    Case("cron-words", top("schedule: every day\n"), 5, 1, "has 2 fields"),
    Case("cron-reboot", top("schedule: '@reboot'\n"), 5, 1, "is not a cron descriptor"),
    Case("cron-every-bad", top("schedule: '@every soon'\n"), 5, 1, "is not a valid @every"),
    Case("cron-range-backwards", top("schedule: '0 5-1 * * *'\n"), 5, 1, "range starts after it ends"),
    Case("cron-step-zero", top("schedule: '*/0 * * * *'\n"), 5, 1, "positive whole number"),
    Case("cron-bad-name", top("schedule: '0 0 * FOO *'\n"), 5, 1, "'FOO' is not a valid month"),
    Case("cron-question-minute", top("schedule: '? * * * *'\n"), 5, 1, "'?' is only allowed"),
    Case("cron-L", top("schedule: '0 0 L * *'\n"), 5, 1, "not every engine reads"),
    Case("cron-hash", top("schedule: '0 0 * * 1#2'\n"), 5, 1, "not every engine reads"),
    Case("cron-empty", top("schedule: ''\n"), 5, 1, "the schedule is empty"),
    Case("cron-number", top("schedule: 5\n"), 5, 1, "a cron string ('0 3 * * *') or a mapping"),
    Case("timezone-mars", top("schedule: {cron: '@daily', timezone: Mars/Olympus}\n"), 5, 1, "not an IANA time zone"),
    Case("timezone-typo", top("schedule:\n  cron: '@daily'\n  timezone: Europe/Pari\n"), 7, 1, "did you mean 'Europe/Paris'?"),
    Case("timezone-offset", top("schedule: {cron: '@daily', timezone: '+02:00'}\n"), 5, 1, "not an IANA time zone"),
    Case("concurrency", top("schedule: {cron: '@daily', concurrency_policy: Skip}\n"), 5, 1, "'Skip' is not one of"),
    Case("schedule-no-cron", top("schedule: {timezone: UTC}\n"), 5, 1, "missing required key 'cron'"),
    # ---- meaning: graph, names, references, reserved names ----
    Case("unknown-need", H + "  extract: {shell: x}\n  load: {shell: x, needs: [extrct]}\n", 5, 1, "did you mean 'extract'?"),
    Case("self-need", step("shell: x, needs: [a]"), 4, 1, "a step cannot need itself"),
    Case("cycle", H + "  a: {shell: x, needs: [b]}\n  b: {shell: x, needs: [a]}\n", 4, 1, "the steps form a cycle"),
    Case("no-kind", step("needs: []"), 4, 1, "the step has no kind"),
    Case("two-kinds", step("python: m:f, shell: echo"), 4, 1, "several kinds (python, shell)"),
    Case("python-ref", step("python: mymodule.function"), 4, 1, "is not of the form module:function"),
    Case("python-ref-slash", step("python: 'pkg/mod.py:f'"), 4, 1, "module:function"),
    Case("empty-shell", step("shell: '  '"), 4, 1, "the shell command is empty"),
    Case("stub-returns", step("stub: true, returns: [x]"), 4, 1, "a stub step returns nothing"),
    Case("returns-twice", step("shell: x, returns: [r, r]"), 4, 1, "'returns' names a value twice"),
    Case("image-on-map", top("parameters: {xs: [1]}\n").replace("a: {shell: echo}", "a: {image: x, map: {over: xs, as: x, steps: {b: {stub: true}}}}"), 4, 1, "'image' applies to task steps"),
    Case("map-over-unknown", step("map: {over: shardz, as: s, steps: {b: {stub: true}}}"), 4, 1, "map.over names 'shardz'"),
    Case("switch-on-unknown", step("switch: {on: mode, cases: {x: {steps: {b: {stub: true}}}}}"), 4, 1, "switch.on names 'mode'"),
    Case("switch-case-empty", top("parameters: {mode: x}\n").replace("a: {shell: echo}", "a: {switch: {on: mode, cases: {'': {steps: {b: {stub: true}}}}}}"), 4, 1, "a switch case cannot be named ''"),
    Case("step-slash", H + "  'a/b': {shell: x}\n", 4, 1, "invalid step name 'a/b'"),
    Case("step-at", H + "  '@a': {shell: x}\n", 4, 1, "invalid step name '@a'"),
    Case("step-collision", H + "  load_data: {shell: x}\n  Load-Data: {shell: x}\n", 5, 1, "both become 'load-data'"),
    Case("branch-collision", step("parallel: {x_1: {steps: {b: {stub: true}}}, x-1: {steps: {c: {stub: true}}}}"), 4, 1, "branch names"),
    Case("return-clash-top", H + "  a: {shell: x, returns: [r]}\n  b: {shell: x, returns: [r]}\n", 5, 1, "produced by both 'a' (line 4) and 'b'"),
    Case("return-clash-map", top("parameters: {xs: [1]}\n").replace("  a: {shell: echo}\n", "  a: {shell: x, returns: [r]}\n  m: {map: {over: xs, as: x, steps: {b: {shell: x, returns: [r]}}}}\n"), 5, 1, "produced by both 'a'"),
    Case("return-clash-parallel", step("parallel: {x: {steps: {f: {shell: x, returns: [s]}}}, y: {steps: {f: {shell: x, returns: [s]}}}}"), 4, 1, "produced by both 'a/x/f' and 'a/y/f'"),
    Case("param-PATH", top("parameters: {PATH: /bin}\n"), 5, 1, "the parameter name 'PATH' is reserved"),
    Case("param-HOME", top("parameters: {HOME: /root}\n"), 5, 1, "'HOME' is reserved"),
    Case("param-IFS", top("parameters: {IFS: ','}\n"), 5, 1, "'IFS' is reserved"),
    Case("param-BASH_ENV", top("parameters: {BASH_ENV: x}\n"), 5, 1, "'BASH_ENV' is reserved"),
    Case("param-LD_PRELOAD", top("parameters: {LD_PRELOAD: x}\n"), 5, 1, "'LD_PRELOAD' is reserved"),
    Case("param-TRANSPILE", top("parameters: {TRANSPILE_RUN_ID: x}\n"), 5, 1, "reserved for transpile"),
    Case("param-LC", top("parameters: {LC_ALL: C}\n"), 5, 1, "names starting with 'LC_'"),
    Case("return-PATH", step("shell: x, returns: [PATH]"), 4, 1, "the return name 'PATH' is reserved"),
    Case("map-as-HOME", top("parameters: {xs: [1]}\n").replace("a: {shell: echo}", "a: {map: {over: xs, as: HOME, steps: {b: {stub: true}}}}"), 4, 1, "the map item name 'HOME' is reserved"),
    Case("catalog-absolute", step("shell: x, catalog: {get: [/etc/passwd]}"), 4, 1, "is absolute"),
    Case("catalog-dotdot", step("shell: x, catalog: {put: ['../out/*.csv']}"), 4, 1, "climbs out of the working directory"),
    Case("catalog-windows", step("shell: x, catalog: {put: ['C:\\\\data\\\\x']}"), 4, 1, "is absolute"),
    Case("catalog-empty", step("shell: x, catalog: {get: ['']}"), 4, 1, "a catalog pattern is empty"),
    # ---- several problems at once, across stages ----
    Case("three-in-one-step", step("shell: x, retry: 1, timeout: soon, resources: {cpu: lots}"), 4, 3, "did you mean 'retries'?"),
    Case("schema-and-meaning", H + "  a: {shell: x, retries: x}\n  b: {shell: x, needs: [c]}\n", 4, 2, "unknown step 'c'"),
    Case("parse-and-schema", H + "  a: {shell: x, shell: y}\n  b: {shell: y, timeout: soon}\n", 4, 2, "duplicate key 'shell'"),
    Case("duplicate-value-dropped", H + "  a: {shell: x}\n  a: {shell: y, timeout: soon}\n", 5, 1, "duplicate key 'a'"),
    Case("yaml11-and-meaning", top("parameters: {PATH: yes}\n"), 5, 2, "'PATH' is reserved"),
    Case("four-top-level", "name: P\nparameters: {x: .nan}\nschedule: '0 25 * * *'\nsteps:\n  a: {shell: x, needs: [b]}\n", 1, 4, "hour 25"),
    Case("meaning-both", H + "  a: {shell: x, needs: [z]}\n  b: {stub: true, returns: [q]}\n", 4, 2, "a stub step returns nothing"),
    # ---- deploy configs ----
    deploy("namespace: Data\n", 1, "'Data' is not a valid namespace", id="namespace-upper"),
    deploy("namespace: my_ns\n", 1, "(for example 'my-ns')", id="namespace-underscore"),
    deploy(f"namespace: {'n' * 64}\n", 1, "at most 63", id="namespace-long"),
    deploy("service_account: Etl Runner\n", 1, "'Etl Runner' is not a valid service account name", id="sa-space"),
    deploy("service_account: etl_runner\n", 1, "not a valid service account name", id="sa-underscore"),
    deploy("volume: {claim: My Claim}\n", 1, "not a valid claim name", id="claim"),
    deploy("volume: {size: 50 gigs}\n", 1, "'50 gigs' is not a Kubernetes quantity", id="size-gigs"),
    deploy("volume: {size: 10GB}\n", 1, "write 10G (powers of 10) or 10Gi", id="size-gb"),
    deploy("volume: {size: 10}\n", 1, "expected a string, got a number", id="size-number"),
    deploy("volume: {mount_path: mnt/x}\n", 1, "an absolute path", id="mount-relative"),
    deploy("volume: {mode: shared}\n", 1, "'shared' is not one of", id="mode"),
    deploy("volume: {access_mode: ReadWriteAll}\n", 1, "is not one of", id="access-mode"),
    deploy("volume: {storage_class: Fast SSD}\n", 1, "not a valid storage class name", id="storage-class"),
    deploy("volume: {claimm: x}\n", 1, "did you mean 'claim'?", id="volume-typo"),
    deploy("volume: 10Gi\n", 1, "a mapping {claim, mount_path, mode, size, ...}", id="volume-string"),
    deploy("labels: {team: 'data eng'}\n", 1, "is not a valid label value", id="label-value"),
    deploy(f"labels: {{team: {'x' * 70}}}\n", 1, "is not a valid label value", id="label-value-long"),
    deploy("labels: {'Example.com/team': x}\n", 1, "prefix of label key", id="label-prefix"),
    deploy("labels: {'example.com/': x}\n", 1, "has an empty name", id="label-empty-name"),
    deploy("labels: {'/team': x}\n", 1, "has an empty prefix", id="label-empty-prefix"),
    deploy("labels: {team: 3}\n", 1, "expected a string", id="label-number"),
    deploy("parallelism: 0\n", 1, "too small (at least 1)", id="parallelism-0"),
    deploy("parallelism: 99999999999\n", 1, "too large", id="parallelism-huge"),
    deploy("ttl: forever\n", 1, "is not a duration", id="ttl"),
    deploy("image: \"img\\t\"\n", 1, "holds U+0009", id="image-tab"),
    deploy("command: []\n", 1, "must not be empty", id="command-empty"),
    deploy("nampespace: x\n", 1, "did you mean 'namespace'?", id="typo"),
    deploy("- namespace: x\n", 1, "expected a mapping at the top of the file, got a list", id="list"),
    deploy(b"namespace: caf\xe9\n", 1, "byte 0xe9 at line 1, column 15", id="non-utf8"),
    deploy("namespace: [x\n", 1, "cannot parse YAML", id="syntax"),
    deploy("namespace: x\nnamespace: y\n", 2, "duplicate key 'namespace'", id="duplicate"),
    deploy("namespace: Data\nservice_account: A B\nvolume: {size: lots}\n", 1, "namespace", count=3, id="three"),
    # ---- several files: pipeline and deploy problems together ----
    Case("pipeline-and-deploy", step("shell: x, retry: 1"), 4, 2, "did you mean 'retries'?", deploy="namespace: Data\n"),
    # ---- what the target cannot express (compile, or check -t) ----
    Case("no-image-argo", "name: p\nsteps:\n  a: {shell: x}\n", 3, 1, "no image for this step", args=("compile", "p.yaml")),
    Case("no-image-check-t", "name: p\nsteps:\n  a: {shell: x}\n  b: {shell: y}\n", 3, 2, "no image", args=("check", "p.yaml", "-t", "argo")),
    Case("every-airflow", top("schedule: '@every 1h'\n"), 5, 1, "@every", args=("check", "p.yaml", "-t", "airflow")),
    Case("schema-and-target", "name: p\nsteps:\n  a: {shell: x, timeout: soon}\n  b: {shell: x}\n", 3, 3, "no image", args=("compile", "p.yaml")),
    # ---- command lines ----
    Case("missing-file", None, None, 1, "cannot read file: No such file or directory", args=("check", "nope.yaml")),
    Case("directory", None, None, 1, "cannot read file: Is a directory", args=("check", ".")),
    Case("compile-missing", None, None, 1, "cannot read file", args=("compile", "nope.yaml")),
    Case("unknown-target", OK, None, 1, "did you mean 'argo'?", args=("compile", "p.yaml", "-t", "argoo")),
    Case("check-unknown-target", OK, None, 1, "unknown target", args=("check", "p.yaml", "-t", "airflw")),
    Case("deploy-missing", OK, None, 1, "cannot read file", args=("check", "p.yaml", "-c", "nope.yaml")),
    Case("deploy-directory", OK, None, 1, "Is a directory", args=("check", "p.yaml", "-c", ".")),
    Case("out-parent-file", OK, None, 1, "p.yaml is a file, not a directory", args=("compile", "p.yaml", "-o", "p.yaml/x.yaml")),
    Case("out-proc", OK, None, 1, "cannot write /proc/version", args=("compile", "p.yaml", "-o", "/proc/version")),
    Case("out-dir-is-dir", OK, None, 1, "it is a directory", args=("compile", "p.yaml", "-o", "sub/")),
    Case("check-flag-stdout", OK, None, 1, "--check needs -o", args=("compile", "p.yaml", "--check")),
    Case("no-command", None, None, 1, "required", args=()),
    Case("unknown-command", None, None, 1, "invalid choice", args=("compiel", "p.yaml")),
    Case("check-no-file", None, None, 1, "the following arguments are required", args=("check",)),
    Case("unknown-option", OK, None, 1, "unrecognized arguments", args=("check", "p.yaml", "--strict")),
    Case("graph-spec", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", 1, 1, "compiled spec", args=("graph", "p.yaml")),
    Case("compile-spec", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", 1, 1, "compiled spec", args=("compile", "p.yaml")),
    # ---- issue 21: nesting limits, refused where they are crossed (never a crash) ----
    Case("nest-parallel-51", nested(51), 4, 1, "composites nest more than 50 levels deep here"),
    Case("nest-map-51", nested(51, "map"), 4, 1, "composites nest more than 50 levels deep here"),
    Case("nest-switch-51", nested(51, "switch"), 4, 1, "at most 50 are supported"),
    Case("nest-parallel-200", nested(200), 4, 1, "composites nest more than 50 levels deep here"),
    Case("nest-airflow-20", nested(20, "map"), 4, 1, "an Airflow DAG file nests TaskGroups at most 19 deep", args=("check", "p.yaml", "-t", "airflow")),
    Case("param-deep-list", top(f"parameters: {{deep: {deep_value(150)}}}\n"), 5, 1, "nests lists and objects more than 100 levels deep at [0][0]"),
    Case("param-deep-object", top(f"parameters: {{deep: {deep_value(120, '{')}}}\n"), 5, 1, "more than 100 levels deep"),
    Case("description-deep", top(f"description: {deep_value(900)}\n"), 5, 1, "description: expected a string, got a list"),
    Case("yaml-too-deep", top(f"parameters: {{deep: {deep_value(1200)}}}\n"), 5, 1, "more than 1,000 levels deep"),
    # ---- a map over a parameter that is not a list ----
    Case("map-over-string", top("parameters: {xs: abc}\n").replace("a: {shell: echo}", "a: {map: {over: xs, as: x, steps: {b: {stub: true}}}}"), 4, 1, "map.over names the parameter 'xs', declared as a string"),
    Case("map-over-number", top("parameters: {xs: 3}\n").replace("a: {shell: echo}", "a: {map: {over: xs, as: x, steps: {b: {stub: true}}}}"), 4, 1, "declared as a number (3), not a list"),
    Case("map-over-object", top("parameters: {xs: {a: 1}}\n").replace("a: {shell: echo}", "a: {map: {over: xs, as: x, steps: {b: {stub: true}}}}"), 4, 1, "declared as an object"),
    # ---- image references as container runtimes parse them ----
    Case("image-url-scheme", step("shell: x, image: 'https://ghcr.io/acme/etl:1.4'"), 4, 1, "has a URL scheme (https://); an image reference has none (write 'ghcr.io/acme/etl:1.4')"),
    Case("image-upper-case", step("shell: x, image: 'ghcr.io/Acme/ETL:1.4'"), 4, 1, "upper-case letters in its repository name"),
    Case("image-space-inside", step("shell: x, image: 'my image:1'"), 4, 1, "holds U+0020 (space)"),
    Case("image-zero-width", step("shell: x, image: \"etl\\u200b:1\""), 4, 1, "holds U+200B (zero width space)"),
    Case("image-short-digest", step("shell: x, image: 'etl@sha256:abc'"), 4, 1, "'sha256:abc' after '@' is not a digest"),
    Case("image-two-tags", step("shell: x, image: 'etl:1:2'"), 4, 1, "is not a container image reference"),
    Case("image-template", step("shell: x, image: 'etl:{{ds}}'"), 4, 1, "is not a container image reference"),
    Case("image-digest-length", step("shell: x, image: 'etl@sha256:" + "a" * 40 + "'"), 4, 1, "digest of 'etl@sha256:"),
    deploy("image: 'docker://python:3.12'\n", 1, "has a URL scheme (docker://)", id="image-scheme"),
    # ---- env values no engine can carry; every bad entry reported ----
    Case("env-nul", step("shell: x, env: {A: \"a\\0b\"}"), 4, 1, "holds a NUL character"),
    Case("env-too-long", step("shell: x, env: {BIG: " + "x" * 140000 + "}"), 4, 1, "Linux refuses an environment string over 131,072 bytes"),
    Case("env-two-bad-names", step("shell: x, env: {A-1: x, B-2: y}"), 4, 2, "'B-2' is not a valid environment variable name"),
    Case("selector-two-bad-values", step("shell: x, node_selector: {zone: 'a b', tier: 'c d'}"), 4, 2, "'c d' is not a valid label value"),
    deploy("labels: {a: 'x y', b: 'z z', c: ok, d: 'w w'}\n", 1, "labels.d: 'w w' is not a valid label value", count=3, id="three-labels"),
    # ---- keys inside parameter values: JSON keys are strings (as the Python SDK requires) ----
    Case("param-key-float", top("parameters: {m: {1e30: a}}\n"), 5, 1, "the key 1e30 is a number in YAML 1.2, not a string"),
    Case("param-key-hex", top("parameters: {m: {0x1F: a}}\n"), 5, 1, "quote it: \"0x1F\""),
    Case("param-key-octal", top("parameters:\n  m:\n    007: a\n"), 7, 1, "the key 007 is a number"),
    Case("param-key-bool", top("parameters: {m: {true: a}}\n"), 5, 1, "the key true is a boolean in YAML 1.2"),
    Case("param-key-inf", top("parameters: {m: {.inf: a}}\n"), 5, 1, "the key .inf is a number"),
    Case("param-key-null", top("parameters: {m: [{~: a}]}\n"), 5, 1, "the key ~ is null in YAML 1.2"),
    # ---- characters YAML 1.1 reads as line breaks ----
    Case("raw-nel", H + "  a: {shell: \"x\x85y\"}\n", 4, 1, "a raw U+0085 NEXT LINE (NEL) character"),
    Case("raw-line-separator", OK + "# note\u2028more\n", 5, 1, "U+2028 LINE SEPARATOR"),
    Case("raw-paragraph-separator", H + "  a: {shell: 'x\u2029y'}\n  b: {shell: 'z\u2029'}\n", 4, 2, "write it as the escape \"\\P\""),
    Case("tab-in-mapping", H + "  a:\n  \tshell: echo\n", 5, 1, "a tab character here: YAML indents with spaces only"),
    # ---- look-alike letters are named, not suggested as the same word ----
    Case("needs-cyrillic", H + "  load: {shell: x}\n  b: {shell: x, needs: [l\u043ead]}\n", 5, 1, "U+043E CYRILLIC SMALL LETTER O where 'load' has 'o'"),
    Case("over-greek", top("parameters: {shards: [1]}\n").replace("a: {shell: echo}", "a: {map: {over: sh\u0430rds, as: s, steps: {b: {stub: true}}}}"), 4, 1, "CYRILLIC SMALL LETTER A"),
    # ---- a file given in the other's place ----
    Case("pipeline-as-deploy", OK, 3, 1, "this is a pipeline (it has `steps`), not a deploy config", deploy=OK),
    Case("deploy-as-pipeline", "namespace: data\nimage: python:3.12\n", 1, 1, "this is a deploy config (namespace, image, volume...), not a pipeline"),
    # ---- values given per run: the declared type (from the default) is enforced, every problem at once ----
    Case("run-int-bool", TYPED, None, 1, "parameter 'n' must be an integer, got 'true', which is a boolean", args=(*RUN, "-p", "n=true")),
    Case("run-list-number", TYPED, None, 1, "parameter 'xs' must be a JSON list, got '5'", args=(*RUN, "-p", "xs=5")),
    Case("run-null", TYPED, None, 1, "parameter 'ratio' must be a number, got 'null', which is null", args=(*RUN, "-p", "ratio=null")),
    Case("run-bool-word", TYPED, None, 1, "parameter 'flag' must be a boolean (true or false) (given as JSON), got 'yes'", args=(*RUN, "-p", "flag=yes")),
    Case("run-object-list", TYPED, None, 1, "parameter 'obj' must be a JSON object, got '[1]'", args=(*RUN, "-p", "obj=[1]")),
    Case("run-three-at-once", TYPED, None, 4, "unknown parameter 'nn'; did you mean 'n'?", args=(*RUN, "-p", "n=1.5", "-p", "xs={}", "-p", "nn=1", "-p", "bad")),
    Case("run-deep-json", TYPED, None, 1, "parameter 'xs' nests lists and objects too deeply", args=(*RUN, "-p", "xs=" + "[" * 5000 + "]" * 5000)),
    Case("run-parallelism-0", OK, None, 1, "argument --parallelism: expected at least 1, got 0", args=(*RUN, "--parallelism", "0")),
    Case("run-parallelism-negative", OK, None, 1, "expected at least 1, got -1", args=(*RUN, "--parallelism", "-1")),
    # ---- schedules and what one target cannot carry ----
    Case("every-zero", top("schedule: '@every 0s'\n"), 5, 1, "shorter than a second"),
    Case("prefect-description-placeholder", OK + "description: 'report for {{ date }}'\n", 5, 1, "`prefect deploy` would replace", args=("check", "p.yaml", "-t", "prefect")),
    Case("prefect-working-dir-placeholder", OK, None, 1, "the deploy config's `working_dir` holds '{{ $HOME }}'", deploy="working_dir: '{{ $HOME }}/app'\nimage: img\n", args=("check", "p.yaml", "-t", "prefect")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(tmp_path, capsys, monkeypatch, case: Case):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub" / "p.yaml").mkdir(parents=True)  # for out-dir-is-dir
    args = list(case.args)
    if case.pipeline is not None:
        data = case.pipeline.encode() if isinstance(case.pipeline, str) else case.pipeline
        (tmp_path / "p.yaml").write_bytes(data)
    if case.deploy is not None:
        data = case.deploy.encode() if isinstance(case.deploy, str) else case.deploy
        (tmp_path / "d.yaml").write_bytes(data)
        args += ["-c", "d.yaml"]
    result = run_main(capsys, *args)
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    assert result.code == 2, result.err
    assert case.fragment in result.err, result.err
    assert result.errors == case.count, result.err
    if case.line is None:
        assert result.lines == [], result.err
    else:
        assert result.lines and result.lines[0] == case.line, result.err


def test_corpus_is_large_enough():
    assert len(CASES) >= 150 + 40  # issue 21 added at least 40
    assert len({c.id for c in CASES}) == len(CASES)


def test_corpus_pipelines_differ_from_a_valid_one_only_by_their_mistake(capsys, tmp_path, monkeypatch):
    """The building blocks are valid: a failure in the corpus comes from the case's mistake."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(top("parameters: {xs: [1], mode: x}\nschedule: {cron: '@daily', timezone: UTC}\n"))
    assert run_main(capsys, "check", "p.yaml", "-t", "argo").code == 0
    assert run_main(capsys, "check", str(REPO / "samples" / "etl.yaml")).code == 0
