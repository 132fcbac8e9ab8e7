"""Whole-process `transpile diff` benchmark against `transpile compile`: wall and CPU time (medians).

    python benchmarks/diff_bench.py [--runs 5] [--size 10000] [--same 30000]

CPU time (user + system of the process) is printed beside wall time: on a shared machine it is the
steadier measure of the work done. Cases:
- compile: `transpile compile` of the SIZE-step chain (the reference: diff should cost at most 2x this);
- diff (edited): two versions of the SIZE-step chain, the second with one command changed, one step's
  retries changed and one step added (on Linux the second side loads in a helper process), and the same
  with TRANSPILE_DIFF_SERIAL=1 (both sides in one process);
- diff (spec vs pipeline): the compiled spec of the first version against the second version;
- compile of the SAME-step chain, and its diff against an identical copy at another path (exit 0, a note).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def measure(args: list[str], cwd: Path, expect: tuple[int, ...] = (0,), env=ENV) -> tuple[float, float]:
    """(wall seconds, CPU seconds, its helper process included) of one whole `python -m transpile ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "transpile", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in expect:
        raise SystemExit(f"transpile {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


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
        measure(["compile", "v1.yaml", "-o", "v1.out.yaml"], root)
        cases = [
            (f"compile chain-{args.size}", ["compile", "v1.yaml", "-o", "out.yaml"], (0,)),
            (f"diff chain-{args.size} (edited)", ["diff", "v1.yaml", "v2.yaml"], (1,)),
            ("  the same, in one process", ["diff", "v1.yaml", "v2.yaml"], (1,)),
            (f"diff spec vs chain-{args.size}", ["diff", "v1.out.yaml", "v2.yaml"], (1,)),
            (f"compile chain-{args.same}", ["compile", "same.yaml", "-o", "out.yaml"], (0,)),
            (f"diff chain-{args.same} (no difference)", ["diff", "same.yaml", "copy/same.yaml"], (0,)),
        ]
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {args.runs} runs"
        )
        print(f"{'case':<40}{'wall s':>8}{'cpu s':>8}")
        walls, cpus = {}, {}
        for label, command, expect in cases:
            env = {**ENV, "TRANSPILE_DIFF_SERIAL": "1"} if "one process" in label else ENV
            runs = [measure(command, root, expect, env) for _ in range(args.runs)]
            walls[label] = statistics.median(w for w, _ in runs)
            cpus[label] = statistics.median(c for _, c in runs)
            print(f"{label:<40}{walls[label]:>8.2f}{cpus[label]:>8.2f}")
        print(f"{'ratio to its compile':<40}{'wall':>8}{'cpu':>8}")
        small, large = cases[0][0], cases[4][0]
        for label, reference in (
            (cases[1][0], small),
            (cases[2][0], small),
            (cases[3][0], small),
            (cases[5][0], large),
        ):
            print(f"{label:<40}{walls[label] / walls[reference]:>8.2f}{cpus[label] / cpus[reference]:>8.2f}")


if __name__ == "__main__":
    main()
