"""Wide-map benchmark (issue 20): a map of no-op Python steps, 100,000 items by default.

    python benchmarks/wide_map_bench.py [--items 100000] [--runs 1] [--batch 1000] [--repeat 3] [--argo-items 0]

Prints, for whole processes (wall, CPU of the process and its children, peak memory of the largest one):
- `transpile compile` of the pipeline for each target (medians of 5);
- `transpile run` of the map (every item its own instance: local runs never batch), `--runs` times;
- inside one batch (`execute-node --indices 0~N-1` of the map's body, what one pod runs, its output echoed),
  the CPU per item: (CPU of a batch of `--batch` items - CPU of a batch of 1) / (batch - 1), median of
  `--repeat` pairs;
- with `--argo-items N`: the Argo spec of an N-item map replayed (tests/support/argo_replay.py, Argo's default
  deploy config): pod nodes created and the Workflow object's bytes as Argo v4.1.2 writes its status.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.support import measure, precompile  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
STEPS = "def make(count):\n    return list(range(int(count)))\n\n\ndef noop(item):\n    return None\n"
PIPELINE = """\
name: wide
defaults: {{image: img}}
parameters: {{count: {count}}}
steps:
  make: {{python: wide:make, returns: [xs]}}
  each: {{needs: [make], map: {{over: xs, as: item, steps: {{s: {{python: wide:noop}}}}}}}}
"""


def timed(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the process and its children) and peak RSS (KiB, the largest process)."""
    return measure(argv, cwd, ENV)


def transpile(*args: str) -> list[str]:
    return [sys.executable, "-m", "transpile", *args]


def compile_times(work: Path) -> None:
    for target in ("argo", "airflow", "prefect", "slurm"):
        walls = [timed(transpile("compile", "wide.yaml", "-t", target, "-o", "out/"), work)[0] for _ in range(5)]
        print(f"compile -t {target:8} {statistics.median(walls) * 1000:8.1f} ms (median of 5)")


def local_run(work: Path, items: int, runs: int) -> None:
    for i in range(runs):
        wall, cpu, peak = timed(transpile("run", "wide.yaml", "--store", f"local-{i}", "--run-id", "r"), work)
        print(f"transpile run, {items:,} items: wall {wall:.1f} s, CPU {cpu:.1f} s, peak {peak / 1024:.0f} MiB")


def batch_cost(work: Path, batch: int, repeat: int) -> None:
    """CPU per item inside one batch, as a pod runs it (its output echoed, here to /dev/null); the step's module
    byte-compiled, as in an image. Medians of `repeat` pairs (a batch of 1, a batch of `batch`)."""
    compileall.compile_dir(str(work), quiet=1)

    def prepared(run_id: str) -> list[str]:
        base = ["execute-node", "--pipeline", "wide.yaml", "--store", "batch", "--run-id", run_id]
        for node in ("make", "each"):
            timed(transpile(*base, "--node", node), work)
        return transpile(*base, "--node", "each/s")

    per_cpu, per_wall, totals = [], [], []
    for round_ in range(repeat):
        cpus: dict[int, float] = {}
        walls: dict[int, float] = {}
        for size in (1, batch):
            indices = f"0~{size - 1}" if size > 1 else "0"
            wall, cpu, _ = timed(prepared(f"b{size}-{round_}") + ["--indices", indices], work)
            cpus[size], walls[size] = cpu, wall
        per_cpu.append((cpus[batch] - cpus[1]) / (batch - 1) * 1000)
        per_wall.append((walls[batch] - walls[1]) / (batch - 1) * 1000)
        totals.append((walls[batch], cpus[batch], cpus[1]))
    wall, cpu, one = sorted(totals)[len(totals) // 2]
    print(f"one batch of {batch:,} items: wall {wall:.2f} s, CPU {cpu:.2f} s; of 1 item: CPU {one:.2f} s")
    print(f"per no-op item inside a batch: CPU {statistics.median(per_cpu):.2f} ms, ", end="")
    print(f"wall {statistics.median(per_wall):.2f} ms (medians of {repeat}; CPU each: ", end="")
    print(", ".join(f"{value:.2f}" for value in per_cpu) + ")")


def argo_replay(work: Path, items: int) -> None:
    import yaml

    from tests.support.argo_replay import ArgoRun
    from transpile.plan import batching

    (work / "argo.yaml").write_text(PIPELINE.format(count=items).replace("name: wide", "name: wide-argo"))
    (work / "deploy.yaml").write_text(f"volume: {{mount_path: {work / 'volume'}}}\n")
    spec = subprocess.run(transpile("compile", "argo.yaml", "-c", "deploy.yaml"), cwd=work, env=ENV, text=True,
                          capture_output=True, check=True).stdout  # fmt: skip
    start = time.perf_counter()
    replay = ArgoRun(list(yaml.load_all(spec, Loader=yaml.CSafeLoader)), work, "wf-wide")
    assert replay.run(), "the replayed workflow failed"
    pods = len(replay.status.pod_ids)
    size = replay.status.size()
    nodes, took = len(replay.status.nodes), time.perf_counter() - start
    print(f"argo replay, {items:,} items: {pods} pod nodes (limit per map {batching.ARGO_MAX_PODS_PER_MAP}), ", end="")
    print(f"{nodes} nodes, Workflow object {size:,} bytes ({size / nodes:.0f} per node), replayed in {took:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="batch pairs measured (the median is quoted)")
    parser.add_argument("--argo-items", type=int, default=0)
    args = parser.parse_args()
    precompile()
    with tempfile.TemporaryDirectory(prefix="wide-bench-") as tmp:
        work = Path(tmp)
        (work / "wide.py").write_text(STEPS)
        (work / "wide.yaml").write_text(PIPELINE.format(count=args.items))
        compile_times(work)
        batch_cost(work, args.batch, args.repeat)
        if args.argo_items:
            argo_replay(work, args.argo_items)
        if args.runs:
            local_run(work, args.items, args.runs)


if __name__ == "__main__":
    main()
