"""The retry policy: after an attempt ended, how long to wait before the next one, or whether to give up.

One function decides it for `transpile run`, and every backend's translation says the same thing in its
engine's terms (Argo's `retryStrategy`, Airflow's `retries`/`retry_delay`/`retry_exponential_backoff`/
`max_retry_delay`, Prefect's `retry_delay_seconds`, the SLURM script's `DELAYS`); the tests hold each of
them to it. The delay before retry n (n = 1 after the first attempt) is `backoff * factor^(n-1)`, capped by
`max_backoff`; `limit` retries follow the first attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transpile.plan.model import Retries

RETRIED = ("failed", "timed_out")  # how an attempt may end and be tried again
"""Outcomes retried: the step failed (an exception, a non-zero exit, no result, a store it could not write)
or ran out of time. Never retried: `interrupted` (the run or pod was stopped) and `refused` (the node cannot
run at all: bad input, another pipeline in the image; the entrypoint's exit codes 2 and 4)."""


def retry_delay(retries: Retries | None, attempt: int, outcome: str) -> int | None:
    """Seconds to wait after attempt number `attempt` (1-based) ended with `outcome`; None: give up."""
    if retries is None or outcome not in RETRIED or attempt > retries.limit:
        return None
    delay = retries.backoff * retries.factor ** (attempt - 1)
    return min(delay, retries.max_backoff) if retries.max_backoff else delay
