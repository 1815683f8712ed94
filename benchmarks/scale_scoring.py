"""Scoring time and peak memory of `bayesseg score --source` for 100k to millions of authors.

For each size, a warehouse of author-level aggregates is simulated
(:func:`bayesseg.simulate.simulate_aggregates`, not timed as scoring) and the real command runs
in a subprocess: authors streamed from DuckDB in batches, scored on a local Dask cluster against
the stored posterior, AUTHOR_SEGMENTS and EXCLUDED_AUTHORS written back in batches. Peak memory
is the peak of the summed resident memory of the command and its Dask workers (sampled every
0.1 s with psutil), with the command's and the largest worker's own peaks. The command runs with
its default ``--duckdb-memory 1GB``.

Usage::

    .venv/bin/python benchmarks/scale_scoring.py --model runs/latest --authors 100000 1000000 5000000 --draws 100
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from bayesseg.simulate import simulate_aggregates


def _rss(proc: psutil.Process) -> dict[int, int]:
    out = {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            out[p.pid] = p.memory_info().rss
        except psutil.Error:
            pass
    return out


def run_measured(argv: list[str]) -> tuple[float, dict[str, int], str]:
    """Run a command; return its wall time, peak RSS (summed tree, the command, a worker), its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ps = psutil.Process(proc.pid)
    peak = {"total": 0, "driver": 0, "worker": 0}
    while proc.poll() is None:
        try:
            rss = _rss(ps)
        except psutil.Error:
            rss = {}
        if rss:
            peak["total"] = max(peak["total"], sum(rss.values()))
            peak["driver"] = max(peak["driver"], rss.get(proc.pid, 0))
            peak["worker"] = max([peak["worker"]] + [v for k, v in rss.items() if k != proc.pid])
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with status {proc.returncode}:\n{out}")
    return wall, peak, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path, help="a run folder (model.nc, run.json)")
    ap.add_argument("--authors", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    ap.add_argument("--draws", type=int, nargs="+", default=[100], help="posterior draws per author")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-authors", type=int, default=100_000)
    ap.add_argument("--chunk-authors", type=int, default=25_000)
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).parent / "out", help="folder of the simulated warehouses"
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "scale_scoring.csv")
    args = ap.parse_args()
    rows = []
    exe = Path(sys.executable).parent / "bayesseg"
    for n in args.authors:
        path = args.data / f"bayesseg-aggregates-{n}.duckdb"
        if not path.exists():
            t0 = time.perf_counter()
            written = simulate_aggregates(path, n, seed=n % 997)
            print(f"simulated {n:,} authors ({written}) in {time.perf_counter() - t0:.0f} s", flush=True)
        for draws in args.draws:
            argv = [str(exe), "score", "--model", str(args.model), "--source", f"duckdb:{path}"]
            argv += ["--aggregates", "AGGREGATES", "--schema", "SCALED", "--draws", str(draws)]
            argv += ["--workers", str(args.workers), "--batch-authors", str(args.batch_authors)]
            argv += ["--chunk-authors", str(args.chunk_authors)]
            wall, peak, out = run_measured(argv)
            parts = dict(re.findall(r"(read|score|write) ([\d.]+)", out))
            scored = int(re.search(r"scored ([\d,]+) of", out).group(1).replace(",", ""))  # type: ignore[union-attr]
            rows.append(
                {
                    "authors": n,
                    "scored": scored,
                    "draws": draws,
                    "workers": args.workers,
                    "wall_s": round(wall, 1),
                    "read_s": float(parts.get("read", "nan")),
                    "score_s": float(parts.get("score", "nan")),
                    "write_s": float(parts.get("write", "nan")),
                    "authors_per_s": round(n / wall),
                    "peak_rss_gb": round(peak["total"] / 2**30, 2),
                    "peak_command_gb": round(peak["driver"] / 2**30, 2),
                    "peak_worker_gb": round(peak["worker"] / 2**30, 2),
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
