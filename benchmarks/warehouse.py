"""Time and peak memory of building the techtest-size warehouse and of the full aggregation on it.

Each stage runs in its own process so that its peak resident memory (ru_maxrss, DuckDB included)
is its own. Prints one line per stage; record them in benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/warehouse.py [--size techtest] [--seed 1] [--path data/bench-techtest.duckdb]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def _stage(stage: str, size: str, seed: int, path: Path) -> dict[str, object]:
    start = time.perf_counter()
    if stage == "build":
        from bayesseg.simulate import simulate_warehouse

        result = simulate_warehouse(path, size, seed=seed, overwrite=True)  # type: ignore[arg-type]
        extra = {"rows": result.row_counts}
    else:
        from bayesseg.data.aggregate import aggregate
        from bayesseg.data.quality import check_schema, data_quality
        from bayesseg.data.sources import DuckDBSource
        from bayesseg.taxonomy import Taxonomy

        taxonomy = Taxonomy.from_toml()
        with DuckDBSource(path) as src:
            check_schema(src)
            t0 = time.perf_counter()
            agg = aggregate(src, taxonomy)
            t_agg = time.perf_counter() - t0
            t0 = time.perf_counter()
            data_quality(src, taxonomy)
            t_quality = time.perf_counter() - t0
        extra = {
            "aggregate_s": round(t_agg, 1),
            "quality_s": round(t_quality, 1),
            "rows": {k: len(v) for k, v in vars(agg).items()},
        }
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"stage": stage, "wall_s": round(wall, 1), "peak_rss_mb": round(peak_mb), **extra}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="techtest")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--path", default="data/bench-techtest.duckdb")
    p.add_argument("--stage", choices=["build", "aggregate"])
    p.add_argument("--skip-build", action="store_true", help="reuse an existing warehouse at --path")
    args = p.parse_args()
    path = Path(args.path)
    if args.stage:
        print(json.dumps(_stage(args.stage, args.size, args.seed, path)))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    stages = ["aggregate"] if args.skip_build else ["build", "aggregate"]
    for stage in stages:
        cmd = [
            sys.executable,
            __file__,
            "--stage",
            stage,
            "--size",
            args.size,
            "--seed",
            str(args.seed),
            "--path",
            str(path),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(out)


if __name__ == "__main__":
    main()
