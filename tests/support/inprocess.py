"""Run `transpile.cli.main` in this process (much faster than a subprocess per case)."""

from __future__ import annotations

import gc
import io
import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> int:
        """The count the report ends with ('3 errors found'), 1 for a one-line argparse error, else 0."""
        for line in reversed(self.err.splitlines()):
            words = line.split()
            if len(words) == 3 and words[1] in ("error", "errors") and words[2] == "found":
                return int(words[0])
        return 1 if "error:" in self.err else 0

    @property
    def lines(self) -> list[int]:
        """The line numbers the report points at, in order."""
        found = []
        for line in self.err.splitlines():
            if line.startswith("  --> ") and line.count(":") >= 2:
                found.append(int(line.rsplit(":", 2)[-2]))
        return found


def run_main(capsys, *args: str, stdin: bytes | None = None) -> Result:
    """`transpile ARGS` in-process: the exit code (argparse's SystemExit included) and both outputs."""
    from transpile.cli import main

    capsys.readouterr()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = saved
        gc.enable()  # `compile` turns the cyclic collector off for its short-lived process
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
