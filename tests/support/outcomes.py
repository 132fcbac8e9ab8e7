"""Compare runs of the same pipeline by what each node published, whichever engine ran it."""

from __future__ import annotations

from transpile.runtime.store import RunStore


def outcomes(run: RunStore) -> dict[str, dict]:
    """Node key -> its published result, without the attempt number (engines retry differently)."""
    found = {}
    for key in run.node_keys():
        result = run.result(key)
        if result is not None:
            found[key] = {k: v for k, v in result.to_json().items() if k != "attempt"}
    return found
