"""Pipelines shared by the engine tests."""

OPS_PIPELINE = (
    "name: ops\nparameters: {xs: [1, 2], who: ops}\n"
    "defaults: {retries: {limit: 2, backoff: 1}}\n"
    "steps:\n"
    '  flaky: {shell: \'[ "$TRANSPILE_ATTEMPT" -ge 2 ] && echo ok > "$TRANSPILE_RETURNS/r"\', returns: [r]}\n'
    "  m:\n    needs: [flaky]\n    map:\n      over: xs\n      as: x\n      steps:\n"
    "        sq: {shell: 'echo $((x * x)) > \"$TRANSPILE_RETURNS/y\"', returns: [y]}\n"
    "  boom: {needs: [m], shell: 'echo \"got $y\"; exit 3', retries: 0}\n"
    "  never: {needs: [boom], stub: true}\n"
    'on_failure: {steps: {alert: {shell: \'echo "paging $who" > "$TRANSPILE_RETURNS/page"\', returns: [page]}}}\n'
)
"""Retries that succeed (flaky), a map, a failing step (boom) and on_failure: the run fails."""

NESTED = """
name: nested
parameters: {groups: [[1, 2], [3]], modes: [fast, slow, fast]}
steps:
  outer:
    map:
      over: groups
      as: g
      steps:
        inner:
          map:
            over: g
            as: v
            steps:
              double: {shell: 'echo $((v * 2)) > "$TRANSPILE_RETURNS/d"', returns: [d]}
        total: {needs: [inner], shell: 'echo "$d" > "$TRANSPILE_RETURNS/t"', returns: [t]}
  by_mode:
    map:
      over: modes
      as: mode
      steps:
        pick:
          switch:
            on: mode
            cases:
              fast: {steps: {quick: {shell: 'echo q > "$TRANSPILE_RETURNS/r"', returns: [r]}}}
              slow:
                steps:
                  both:
                    parallel:
                      a: {steps: {pa: {shell: 'echo a > "$TRANSPILE_RETURNS/r"', returns: [r]}}}
                      b: {steps: {pb: {stub: true}}}
        after_pick: {needs: [pick], stub: true}
  top:
    needs: [outer, by_mode]
    switch:
      on: modes
      cases:
        other: {steps: {nope: {stub: true}}}
        '["fast","slow","fast"]':
          steps:
            fan:
              map: {over: groups, as: g, steps: {one: {stub: true}}}
  last: {needs: [top], shell: 'echo "$t" > "$TRANSPILE_RETURNS/all"', returns: [all]}
"""
"""Maps within maps, a switch in a map whose case holds a parallel, a switch on a list: the run succeeds."""
