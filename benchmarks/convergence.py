"""Does the shipped `bayesseg run` converge by the project's rule, and at what cost in fit time?

For each simulated warehouse (built when missing, not timed) the main job runs in a child process with
the shipped specification; the table gives its fit time (from run.json), the convergence block (largest
R-hat and where, smallest bulk and tail ESS, divergences, the verdict) and the adjusted Rand index
against the simulator's truth. ``--package DIR`` runs another checkout of bayesseg instead (its
``bayesseg`` package put first on ``PYTHONPATH``), so two versions are measured side by side, one
after the other, on the same machine and warehouses:

    git worktree add /tmp/bayesseg-before <rev>
    .venv/bin/python benchmarks/convergence.py --seeds 3 4 5 --package /tmp/bayesseg-before \
        --spec /tmp/bayesseg-before/models/fashion.toml --label before
    .venv/bin/python benchmarks/convergence.py --seeds 3 4 5 --label after
    .venv/bin/python benchmarks/convergence.py --size techtest --seeds 1 --label after

In-model: the simulator, the anchors and K = 6 are the model's own (see docs/validity.md for what
happens when they are not).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def _warehouse(size: str, seed: int) -> Path:
    path = OUT / f"{size}-{seed}.duckdb"
    if not path.exists():
        from bayesseg.simulate import simulate_warehouse

        OUT.mkdir(parents=True, exist_ok=True)
        simulate_warehouse(path, size, seed=seed)
    return path


def _run(warehouse: Path, package: Path | None, spec: Path | None) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if package is not None:
        env["PYTHONPATH"] = str(package)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "bayesseg.cli", "run", "--source", f"duckdb:{warehouse}", "--out", str(out)]
        cmd += ["--no-write-back"] + (["--spec", str(spec)] if spec else [])
        log = Path(tmp) / "stderr.txt"
        start = time.perf_counter()
        with log.open("w") as err:
            child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
            # this child's own peak resident memory (getrusage would give the largest of all children)
            _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(log.read_text()[-3000:])
        peak_gb = usage.ru_maxrss / 1024**2  # kilobytes on Linux
        return {"wall_s": wall, "peak_gb": peak_gb, **json.loads((out / "run.json").read_text())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=["demo", "techtest"], default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--package", type=Path, help="another checkout of bayesseg to run instead of this one")
    ap.add_argument("--spec", type=Path, help="run specification (default: the shipped one of the package run)")
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "convergence.csv")
    args = ap.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    rows = []
    for seed in args.seeds:
        run = _run(_warehouse(args.size, seed), args.package, args.spec)
        c = run.get("convergence", {})
        row = {
            "label": args.label,
            "size": args.size,
            "seed": seed,
            "fit_authors": run["fit_authors"],
            "fit_s": round(run["timings_s"]["fit"], 1),
            "wall_s": round(run["wall_s"], 1),
            "peak_gb": round(run["peak_gb"], 2),
            # the process's peak at the end of the fit stage (loading and aggregation included)
            "fit_peak_gb": round(run.get("peak_memory_gb", {}).get("fit", float("nan")), 2),
            "draws_per_chain": c.get("draws", 0) // max(1, run["spec"]["sampler"].get("chains", 2)),
            "max_rhat": round(c.get("max_rhat", float("nan")), 4),
            "max_rhat_at": c.get("max_rhat_at", ""),
            "min_ess_bulk": round(c.get("min_ess_bulk", float("nan"))),
            "min_ess_tail": round(c.get("min_ess_tail", float("nan"))),
            "divergences": c.get("divergences", ""),
            "draws": c.get("draws", ""),
            "passed": c.get("passed", ""),
            "ari": round(run.get("validation", {}).get("ari", float("nan")), 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    old = []
    if args.out.exists():
        with args.out.open(newline="") as f:
            old = list(csv.DictReader(f))
    fields = list(dict.fromkeys([*(old[0] if old else []), *rows[0]]))  # rows before a new column keep it empty
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows([*old, *rows])
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
