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


def cached_from(run: RunStore) -> dict[str, str | None]:
    """Node key -> the run whose cache entry settled it (None: it ran), for every node with attempts."""
    found = {}
    for key in run.node_keys():
        attempts = run.attempts(key)
        if attempts:
            last = attempts[-1]
            found[key] = (last.cache or {}).get("run") if last.status == "cached" else None
    return found


# The etl sample's nodes that are not cached task steps: the map's fan-out and the switch's select.
ETL_CONTROL_NODES = {"clean", "route"}
