"""Runtime benchmark: the per-node entrypoint's whole-process cost, and `transpile run` at 1,000 nodes.

    python benchmarks/runtime_bench.py [--runs 21] [--runnable PATH_TO_runnable]

Prints medians of several runs:
- `transpile execute-node` for a no-op Python step, with the compiled-pipeline cache warm (every pod after
  the first) and cold (the first pod of a pipeline version), including reading and writing the run store;
- `runnable execute-single-node` for the same no-op step, when runnable is installed (it is not a
  dependency: `pip install runnable==0.50.0` in another virtualenv and pass `--runnable`);
- `transpile run` of a 1,000-step chain and of a 1,000-item map of no-op Python steps (parallelism 2), with
  the CPU time of all its processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.support import measure, precompile  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
NOOP = "def noop():\n    return None\n"
RUNNABLE_PIPELINE = """\
dag:
  start_at: s
  steps:
    s: {type: task, command_type: python, command: noop.noop, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def timed(argv: list[str], cwd: Path, cpu: list[float] | None = None) -> float:
    """Wall seconds of the whole process; with `cpu`, its CPU seconds (and its children's) are appended."""
    wall, seconds, _ = measure(argv, cwd, ENV)
    if cpu is not None:
        cpu.append(seconds)
    return wall


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms (min {min(samples) * 1000:.1f}, n={len(samples)})"


def entrypoint(work: Path, runs: int) -> None:
    (work / "noop.py").write_text(NOOP)
    (work / "noop.yaml").write_text("name: noop\nsteps:\n  s: {python: noop:noop}\n")
    base = [sys.executable, "-m", "transpile", "execute-node", "--pipeline", "noop.yaml", "--node", "s", "--no-echo"]
    timed(base + ["--store", "warm", "--run-id", "prime"], work)
    warm = [timed(base + ["--store", "warm", "--run-id", f"w{i}"], work) for i in range(runs)]
    cold = []
    for i in range(max(5, runs // 3)):
        shutil.rmtree(work / "cold", ignore_errors=True)
        cold.append(timed(base + ["--store", "cold", "--run-id", f"c{i}"], work))
    print(f"transpile execute-node, no-op python step, cache warm  {median_ms(warm)}")
    print(f"transpile execute-node, no-op python step, cache cold  {median_ms(cold)}")


def runnable(work: Path, executable: str | None, runs: int) -> None:
    found = executable or shutil.which("runnable")
    if not found:
        print("runnable execute-single-node: not measured (pass --runnable PATH; pip install runnable==0.50.0)")
        return
    (work / "rnoop.yaml").write_text(RUNNABLE_PIPELINE)
    timed([found, "execute", "rnoop.yaml", "bench"], work)  # creates the run log the single node needs
    samples = [timed([found, "execute-single-node", "bench", "rnoop.yaml", "s"], work) for _ in range(runs)]
    print(f"runnable execute-single-node, same no-op step          {median_ms(samples)}")


def local_runs(work: Path, repeats: int) -> None:
    chain = ["name: chain", "steps:"] + [
        f"  s{i}: {{python: noop:noop{', needs: [s' + str(i - 1) + ']' if i else ''}}}" for i in range(1000)
    ]
    (work / "chain.yaml").write_text("\n".join(chain) + "\n")
    items = list(range(1000))
    body = "{map: {over: xs, as: x, steps: {s: {python: noop:noop}}}}"
    (work / "map.yaml").write_text(f"name: fan\nparameters: {{xs: {items}}}\nsteps:\n  m: {body}\n")
    for name in ("chain", "map"):
        cpu: list[float] = []
        samples = [
            timed(
                [
                    sys.executable,
                    "-m",
                    "transpile",
                    "run",
                    f"{name}.yaml",
                    "--store",
                    f"runs-{i}",
                    "--parallelism",
                    "2",
                ],
                work,
                cpu,
            )
            for i in range(repeats)
        ]
        label = "1,000-step chain" if name == "chain" else "1,000-item map"
        print(
            f"transpile run, {label} of no-op python steps, 2 workers: {statistics.median(samples):.2f} s "
            f"(min {min(samples):.2f}, n={repeats}), CPU {statistics.median(cpu):.2f} s"
        )


def main() -> None:
    precompile()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the 1,000-node local runs")
    parser.add_argument("--runnable", help="path of the runnable executable to compare with")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        entrypoint(work, args.runs)
        runnable(work, args.runnable, max(5, args.runs // 3))
        local_runs(work, args.repeats)


if __name__ == "__main__":
    main()
