"""Exact K-fold cross-validation of one K on a small table: what compiling each fold's fit costs (issue 25).

:func:`bayesseg.model.compare_k` with ``criterion="kfold"`` fits the K on every author, then once per
fold on the other folds. Since the folds' data are held by reference
(:func:`bayesseg.model.likelihood.data_by_reference`), folds of one structure share one compiled
model (:func:`bayesseg.model.sampling.compile_nutpie`); before, each fold's counts were constants
of its graph and every fold compiled afresh. The table is ``benchmarks/dmn_speed.py``'s (278 × 130
simulated microbiome-like counts, true K = 4, seed ``--seed``) and the sampler settings its own
(2 × (300 + 300), 6 EM restarts), with nutpie. The log density is the same bits either way, so the
draws, and the elpd, are the same: the script prints the elpd with the seconds so that two checkouts
can be compared (``PYTHONPATH=/path/to/other/checkout`` runs the other one's ``bayesseg``).

    .venv/bin/python benchmarks/kfold_refits.py --k 4
    PYTHONPATH=/tmp/bayesseg-before .venv/bin/python benchmarks/kfold_refits.py --k 4 --label before

Prints one JSON line and appends it to ``results/kfold_refits.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import bayesseg
from bayesseg.model import compare_k

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    from dmn_speed import SAMPLER, simulate_table  # benchmarks/ is this script's directory, first on sys.path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4, help="the K cross-validated")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1, help="seed of the table and of the sampler")
    ap.add_argument("--label", default="", help="a name for the row (e.g. the checkout measured)")
    args = ap.parse_args()
    counts = simulate_table(278, 130, 4, args.seed)
    start = time.perf_counter()
    comparison = compare_k(
        counts,
        None,
        [args.k],
        sampler_config={**SAMPLER, "sampler": "nutpie", "random_seed": args.seed},
        criterion="kfold",
        n_folds=args.folds,
        seed=args.seed,
    )
    seconds = time.perf_counter() - start
    row = {
        "label": args.label,
        "bayesseg": str(Path(bayesseg.__file__).parent.parent),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "k": args.k,
        "folds": args.folds,
        "seed": args.seed,
        "fits": 1 + args.folds,
        "seconds": round(seconds, 1),
        "elpd": float(np.round(comparison.table["elpd"].iloc[0], 6)),
        "criterion": comparison.criterion,
    }
    print(json.dumps(row), flush=True)
    path = RESULTS / "kfold_refits.csv"
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


if __name__ == "__main__":
    main()
