"""The end-of-run table of `transpile run`: per step, how its instances ended, honestly.

A step's status is the worst of its instances: `failed` (or `timed out` when its last failure was a
timeout), `interrupted`, then `succeeded` (`cached` when every instance came from the step cache); retries
show in the attempts column and in the status (`succeeded after retry`). Steps that never started (after a
failure, in a case not chosen) are listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

SUMMARY_ROWS = 40
TAIL_LINES = 5  # of a failed attempt's stderr, shown under its failure line
TAIL_WIDTH = 200
RUNNING_SHOWN = 3  # running node instances named in the progress line


@dataclass(frozen=True)
class Failure:
    """A node instance that failed for good: its key, why, and its last attempt's directory (logs)."""

    key: str
    error: str
    attempt_dir: Path | None = None

    def lines(self) -> list[str]:
        """The failure line, where its logs are, and the last lines its step wrote to stderr."""
        lines = [f"failed: {self.key}: {self.error}"]
        if self.attempt_dir is not None:
            stderr = self.attempt_dir / "stderr.log"
            lines.append(f"  logs: {stderr} (and stdout.log)")
            lines += [f"  | {line}" for line in stderr_tail(stderr)]
        return lines


def stderr_tail(path: Path) -> list[str]:
    """The last non-empty lines of a log (each cut to a readable width); none when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return [line if len(line) <= TAIL_WIDTH else line[: TAIL_WIDTH - 3] + "..." for line in lines[-TAIL_LINES:]]


def running_text(running: Iterable[tuple[str, float]]) -> str:
    """`clean@1/load 3.2s, extract 0.4s, +2 more`: the longest-running instances first."""
    ordered = sorted(running, key=lambda item: -item[1])
    shown = ", ".join(f"{key} {seconds:.1f}s" for key, seconds in ordered[:RUNNING_SHOWN])
    more = len(ordered) - RUNNING_SHOWN
    return shown + (f", +{more} more" if more > 0 else "")


@dataclass
class StepStats:
    """Per step (all its map items together)."""

    instances: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    interrupted: int = 0
    skipped: int = 0
    reused: int = 0
    cached: int = 0
    retried: int = 0
    attempts: int = 0
    seconds: float = 0.0

    def add(self, what: str, seconds: float = 0.0, timed_out: bool = False) -> None:
        """Count one attempt (`retry`, `succeeded`, `failed`, `interrupted`, `skipped`, `cached`: settled from
        the step cache, no process) or a `reused` node."""
        self.seconds += seconds
        if what != "reused":
            self.attempts += 1
        if what == "retry":
            self.retried += 1
            self.timed_out += int(timed_out)
            return
        self.instances += 1
        if what == "failed":
            self.failed += 1
            self.timed_out += int(timed_out)
        else:
            setattr(self, what, getattr(self, what) + 1)

    def status(self) -> str:
        if self.failed:
            return "timed out" if self.timed_out and self.failed == self.timed_out else "failed"
        if self.interrupted:
            return "interrupted"
        if self.retried:
            return "succeeded after retry"
        if self.reused and not self.succeeded:
            return "reused"
        if self.cached and not self.succeeded:
            return "cached"
        if self.skipped and not self.succeeded:
            return "skipped"
        return f"succeeded ({self.cached} cached)" if self.cached else "succeeded"


_ORDER = {"failed": 0, "timed out": 0, "interrupted": 1, "not started": 3}


def write_summary(
    out: TextIO, stats: dict[str, StepStats], not_started: list[str], failures: list[Failure], footer: str, run_id: str
) -> None:
    rows = [("step", "status", "items", "attempts", "seconds")]
    shown = sorted(stats.items(), key=lambda kv: _ORDER.get(kv[1].status(), 2))
    entries = [(node, s.status(), str(s.instances), str(s.attempts), f"{s.seconds:.2f}") for node, s in shown]
    entries += [(node, "not started", "0", "0", "-") for node in not_started]
    entries.sort(key=lambda row: _ORDER.get(row[1], 2))
    hidden = max(0, len(entries) - SUMMARY_ROWS)
    rows += entries[:SUMMARY_ROWS]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    out.write("\n".join(lines) + "\n")
    if hidden:
        out.write(f"... and {hidden} more steps (transpile runs show {run_id})\n")
    for failure in failures:
        out.write("\n".join(failure.lines()) + "\n")
    out.write(footer + "\n")
    out.flush()
