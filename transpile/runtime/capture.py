"""Capture a step's stdout and stderr at the file-descriptor level (so child processes are caught too),
into log files, optionally echoing to the original streams (so `kubectl logs` still shows them)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_JOIN_SECONDS = 5.0


def _pump(read_fd: int, path: Path, echo_fd: int | None) -> None:
    with open(path, "ab") as log:
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            if echo_fd is not None:
                try:
                    os.write(echo_fd, chunk)
                except OSError:
                    echo_fd = None
    os.close(read_fd)


@contextmanager
def capture(stdout_path: Path, stderr_path: Path, echo: bool) -> Iterator[None]:
    """Send fds 1 and 2 to the two log files for the duration of the block (and, with `echo`, through a
    pipe that also copies them to the original streams)."""
    if not echo:
        with _direct(stdout_path, stderr_path):
            yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    pumps = []
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, fd)
        os.close(write_fd)
        pump = threading.Thread(target=_pump, args=(read_fd, path, saved[fd] if echo else None), daemon=True)
        pump.start()
        pumps.append(pump)
    try:
        yield
    finally:
        _restore(saved, close=False)
        for pump in pumps:
            pump.join(_JOIN_SECONDS)  # a background child still holding the pipe must not hang us
        for original in saved.values():
            os.close(original)


@contextmanager
def _direct(stdout_path: Path, stderr_path: Path) -> Iterator[None]:
    """fds 1 and 2 straight into the log files: no pipes, no threads."""
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
        _restore(saved, close=True)


def _restore(saved: dict[int, int], close: bool) -> None:
    """Flush Python's streams and put the original fds 1 and 2 back."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    for fd, original in saved.items():
        os.dup2(original, fd)
        if close:
            os.close(original)
