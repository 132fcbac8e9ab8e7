"""What the benchmark scripts share."""

from __future__ import annotations

import compileall
import resource
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def precompile() -> None:
    """Byte-compile transpile, as installing a wheel does (PYTHONDONTWRITEBYTECODE would otherwise make
    every measured process recompile the package from source)."""
    compileall.compile_dir(str(REPO / "transpile"), quiet=1)


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run a whole process: its wall seconds, CPU seconds (with its children's) and the peak RSS (KiB) of the
    largest process waited for so far; SystemExit with its stderr when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, after.ru_maxrss
