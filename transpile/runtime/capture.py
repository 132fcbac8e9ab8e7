"""A step's stdout and stderr: captured at the file-descriptor level into its attempt's two log files (so the
processes it starts are caught too), and echoed from those files by the process supervising the attempt (so
`kubectl logs` of a pod still shows them).

The attempt's process writes straight into the files: no pipe and no pump thread to start in every
attempt, and nothing written is lost when the step's process dies. `LogEcho` follows the files from the
supervising process and copies what they gain to its own stdout and stderr, while the attempt runs and
once more when it has ended.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOGS = (("stdout.log", 1), ("stderr.log", 2))
_CHUNK = 1 << 16


@contextmanager
def capture(stdout_path: str | Path, stderr_path: str | Path) -> Iterator[None]:
    """Send fds 1 and 2 to the two log files for the duration of the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        for fd, original in saved.items():
            os.dup2(original, fd)
            os.close(original)


class LogEcho:
    """Copies what an attempt's log files gain to this process's fds 1 and 2 (`pump`), from the moment the
    attempt has created them. A stream that cannot be written to any more (a closed pipe) is dropped."""

    def __init__(self, attempt_dir: Path):
        self.waiting = [(str(attempt_dir / name), target) for name, target in LOGS]  # not opened yet
        self.sources: list[tuple[int, list[int | None]]] = []  # (log fd, [echo fd, None once it failed])

    def pump(self) -> None:
        """Copy what the files gained since the last call."""
        while self.waiting:
            try:
                log = os.open(self.waiting[0][0], os.O_RDONLY)
            except OSError:
                break  # not created yet (the attempt creates stdout.log first)
            self.sources.append((log, [self.waiting.pop(0)[1]]))
        for log, target in self.sources:
            while True:
                try:
                    chunk = os.read(log, _CHUNK)
                except OSError:
                    break
                if not chunk:
                    break
                if target[0] is not None:
                    try:
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(target[0], view) :]
                    except OSError:
                        target[0] = None

    def close(self) -> None:
        """Copy the rest, and stop following the files."""
        self.pump()
        for log, _ in self.sources:
            os.close(log)
        self.sources = []
