"""Time and peak memory of `bayesseg run`, the main job, on a simulated warehouse.

Builds the warehouse first when it is missing (not timed), then runs the CLI in a child process
and reports its wall time, peak resident memory (the child's, DuckDB and sampler included), the
time of each stage (from run.json) and, since the warehouse is simulated, the adjusted Rand index
against the truth.

    .venv/bin/python benchmarks/run_job.py --size demo
    .venv/bin/python benchmarks/run_job.py --size techtest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", choices=["demo", "techtest"], default="demo")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warehouse", help="DuckDB file (default data/bench-<size>.duckdb; built when missing)")
    p.add_argument("--config", help="run specification (default: the shipped models/fashion.toml)")
    args = p.parse_args()
    warehouse = Path(args.warehouse or f"data/bench-{args.size}.duckdb")
    if not warehouse.exists():
        from bayesseg.simulate import simulate_warehouse

        simulate_warehouse(warehouse, args.size, seed=args.seed)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "bayesseg.cli", "run", "--source", f"duckdb:{warehouse}", "--out", str(out)]
        if args.config:
            cmd += ["--config", args.config]
        start = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if res.returncode:
            print(res.stderr[-3000:])
            sys.exit(res.returncode)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        run = json.loads((out / "run.json").read_text())
    print(
        json.dumps(
            {
                "size": args.size,
                "authors": run["authors"],
                "segmented": run["segmented"],
                "fit_authors": run["fit_authors"],
                "wall_s": round(wall, 1),
                "peak_rss_mb": round(peak),
                "stages_s": run["timings_s"],
                "ari": round(run.get("validation", {}).get("ari", float("nan")), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
