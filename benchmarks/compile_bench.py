"""Whole-process compile benchmark: wall time and peak memory of `transpile compile -t argo`.

    python benchmarks/compile_bench.py [--runs 5] [--sizes 100,1000,10000] [--shapes chain,wide,nested-maps]
                                      [--extra wide:5000]

Each case runs the real CLI in a fresh process `--runs` times and prints the median wall time, the median
peak RSS (from wait4), the number of objects and templates emitted and the largest object's size.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.pipelines import SHAPES  # noqa: E402
from benchmarks.support import precompile  # noqa: E402

# Runs the CLI as `python -m transpile` would, then reports the process's own high-water RSS (VmHWM is
# reset by exec, unlike ru_maxrss, which Linux carries over from the forking parent).
LAUNCHER = """
import atexit, runpy, sys
def report():
    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
    sys.stderr.write(f'\\nVMHWM_KB={hwm}\\n')
atexit.register(report)
sys.argv = ['transpile'] + sys.argv[1:]
runpy.run_module('transpile', run_name='__main__')
"""


def run_once(pipeline: Path, output: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of one whole compile process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "compile", str(pipeline), "-o", str(output)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"compile failed: {proc.stderr}")
    peak_kb = int(proc.stderr.rsplit("VMHWM_KB=", 1)[1].split()[0])
    return wall, peak_kb // 1024


def describe(output: Path) -> tuple[int, int, int]:
    """(objects, templates in all, largest object in bytes) of a compiled file."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in yaml.load_all(output.read_text(), Loader=loader) if d]
    templates = sum(len(d.get("spec", {}).get("templates", [])) for d in docs)
    import json

    largest = max(len(json.dumps(d, separators=(",", ":")).encode()) for d in docs)
    return len(docs), templates, largest


def main() -> None:
    precompile()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--extra", default="wide:5000", help="more shape:size cases, comma-separated ('' for none)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.runs} runs")
    print(f"{'case':<22}{'wall s':>8}{'peak MB':>9}{'objects':>9}{'templates':>11}{'largest KiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(shape, int(size)) for shape in args.shapes.split(",") for size in args.sizes.split(",")]
        cases += [(c.split(":")[0], int(c.split(":")[1])) for c in args.extra.split(",") if c]
        for shape, size in cases:
            pipeline = Path(tmp) / f"{shape}-{size}.yaml"
            pipeline.write_text(SHAPES[shape](size))
            output = Path(tmp) / f"{shape}-{size}.out.yaml"
            walls, peaks = zip(*(run_once(pipeline, output) for _ in range(args.runs)), strict=True)
            objects, templates, largest = describe(output)
            print(
                f"{shape + '-' + str(size):<22}{statistics.median(walls):>8.2f}{statistics.median(peaks):>9.0f}"
                f"{objects:>9}{templates:>11}{largest / 1024:>13.0f}"
            )


if __name__ == "__main__":
    main()
