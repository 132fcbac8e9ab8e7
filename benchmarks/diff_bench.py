"""Whole-process `transpile diff` benchmark against `transpile compile`, in wall time (medians).

    python benchmarks/diff_bench.py [--runs 5] [--size 10000] [--same 30000]

Cases:
- compile: `transpile compile` of the SIZE-step chain (the reference: diff should cost at most 2x this);
- diff (edited): two versions of the SIZE-step chain, the second with one command changed, one step's
  retries changed and one step added;
- diff (spec vs pipeline): the compiled spec of the first version against the second version;
- compile of the SAME-step chain, and its diff against an identical copy at another path (exit 0, a note).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipelines import chain  # noqa: E402
from benchmarks.support import precompile  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def wall(args: list[str], cwd: Path, expect: tuple[int, ...] = (0,)) -> float:
    """Seconds of one whole `python -m transpile ARGS` process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "transpile", *args], cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in expect:
        raise SystemExit(f"transpile {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
    return elapsed


def edited(n: int) -> str:
    """The n-step chain with one command changed, one step's retries set and one step added."""
    text = chain(n)
    middle, late = n // 2, (3 * n) // 4
    text = text.replace(f"  s{middle}: {{python: bench.steps:noop,", f"  s{middle}: {{python: bench.steps:other,")
    text = text.replace(
        f"  s{late}: {{python: bench.steps:noop,", f"  s{late}: {{retries: {{limit: 2}}, python: bench.steps:noop,"
    )
    return text + f"  extra: {{python: bench.steps:noop, needs: [s{n - 1}]}}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--same", type=int, default=30_000)
    args = parser.parse_args()
    precompile()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "v1.yaml").write_text(chain(args.size))
        (root / "v2.yaml").write_text(edited(args.size))
        (root / "copy").mkdir()
        (root / "same.yaml").write_text(chain(args.same))
        (root / "copy" / "same.yaml").write_text(chain(args.same))
        wall(["compile", "v1.yaml", "-o", "v1.out.yaml"], root)
        cases = [
            (f"compile chain-{args.size}", ["compile", "v1.yaml", "-o", "out.yaml"], (0,)),
            (f"diff chain-{args.size} (edited)", ["diff", "v1.yaml", "v2.yaml"], (1,)),
            (f"diff spec vs chain-{args.size}", ["diff", "v1.out.yaml", "v2.yaml"], (1,)),
            (f"compile chain-{args.same}", ["compile", "same.yaml", "-o", "out.yaml"], (0,)),
            (f"diff chain-{args.same} (no difference)", ["diff", "same.yaml", "copy/same.yaml"], (0,)),
        ]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.runs} runs")
        medians = {}
        for label, command, expect in cases:
            medians[label] = statistics.median(wall(command, root, expect) for _ in range(args.runs))
            print(f"{label:<40}{medians[label]:>8.2f} s")
        small, large = medians[cases[0][0]], medians[cases[3][0]]
        for label, reference in ((cases[1][0], small), (cases[2][0], small), (cases[4][0], large)):
            print(f"{label:<40}{medians[label] / reference:>8.2f} x its compile")


if __name__ == "__main__":
    main()
