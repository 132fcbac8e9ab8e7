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
