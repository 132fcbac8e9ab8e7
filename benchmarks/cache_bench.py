"""Step cache benchmark: what a cache hit costs a node in `transpile execute-node`.

    python benchmarks/cache_bench.py [--runs 21]

The cached step is a python step receiving one value of SIZE bytes and putting one catalog file of SIZE
bytes (so the key hashes a real value and a hit restores a real file), for SIZE 1 kB and 1 MB. Prints
medians of:
- whole processes of `transpile execute-node`: the cached step's hit (no attempt process), the same step
  with the cache mode `off` (it runs), a miss that runs it and writes its entry (`refresh=`), and an
  uncached no-op step (the cheapest node that runs);
- in-process, the hit path alone: from the prepared node instance to its recorded `cached` outcome (the
  key: the module's file located and hashed, the inputs hashed, the entry read and verified, its file
  restored, the attempt and result written), i.e. what a hit adds to the entrypoint's fixed start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.runtime_bench import median_ms, timed  # noqa: E402
from benchmarks.support import precompile  # noqa: E402

STEPS = """\
from pathlib import Path


def make():
    return "x" * {size}


def work(blob):
    Path("out.bin").write_bytes(blob.encode())
    return len(blob)


def noop():
    return None
"""

PIPELINE = """\
name: cachebench
steps:
  make: {python: steps:make, returns: [blob]}
  work: {needs: [make], python: steps:work, returns: [size], cache: true, catalog: {put: [out.bin]}}
  noop: {python: steps:noop}
"""


def whole_processes(work: Path, runs: int) -> None:
    base = [sys.executable, "-m", "transpile", "execute-node", "--pipeline", "cb.yaml", "--store", "store"]
    base += ["--no-echo"]

    def node(run_id: str, name: str, *extra: str) -> list[str]:
        return [*base, "--run-id", run_id, "--node", name, *extra]

    def prepared(prefix: str, i: int) -> str:  # a run whose `make` has published its value
        timed(node(f"{prefix}{i}", "make"), work)
        return f"{prefix}{i}"

    timed(node(prepared("prime", 0), "work"), work)  # writes the entry every hit below uses
    figures = {
        "hit (no attempt process)": [timed(node(prepared("h", i), "work"), work) for i in range(runs)],
        "cache off (the step runs)": [
            timed(node(prepared("o", i), "work", "--cache", "off"), work) for i in range(runs)
        ],
        "miss, entry written (refresh)": [
            timed(node(prepared("m", i), "work", "--cache", "refresh=work"), work) for i in range(runs)
        ],
        "uncached no-op step": [timed(node(f"n{i}", "noop"), work) for i in range(runs)],
    }
    for label, samples in figures.items():
        print(f"execute-node, {label:32} {median_ms(samples)}")


def hit_path(work: Path, runs: int) -> None:
    """The hit alone, in this process: prepare() (loading the pipeline) is left out of the timing."""
    os.chdir(work)
    from transpile.runtime.node import NodeRequest, prepare

    samples = []
    for i in range(runs):
        run_id = f"p{i}"
        timed(
            [sys.executable, "-m", "transpile", "execute-node", "--pipeline", "cb.yaml", "--store", "store"]
            + ["--run-id", run_id, "--node", "make", "--no-echo"],
            work,
        )
        instance = prepare(NodeRequest(pipeline="cb.yaml", store=Path("store"), run_id=run_id, node="work"))
        start = time.perf_counter()
        instance.ctx.ensure_run_record()
        outcome = instance.before_launch()
        samples.append(time.perf_counter() - start)
        if outcome is None or outcome.status != "cached":
            raise SystemExit(f"expected a cache hit, got {outcome}")
    print(f"in-process hit path (key, verify, restore, record)   {median_ms(samples)}")


def main() -> None:
    precompile()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for size, label in ((1_000, "1 kB"), (1_000_000, "1 MB")):
        print(f"-- a value and a catalog file of {label}")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "steps.py").write_text(STEPS.replace("{size}", str(size)))
            (work / "cb.yaml").write_text(PIPELINE)
            whole_processes(work, args.runs)
            hit_path(work, args.runs)


if __name__ == "__main__":
    main()
