"""Does bayesseg's K-choice rule find K? Simulated data sets per true K, and real count tables beside R.

**Simulated** (``--simulated``): for each true K, data sets from :func:`bayesseg.simulate.simulate_counts`
(the model's own Dirichlet-multinomial mixture with logit gating: in-model for the likelihood; no
anchors, K unknown to the fit). :func:`bayesseg.model.compare_k` fits K - 1, K and K + 1
(``WINDOW``; the window keeps 90 data sets to ~1 h on two cores, and limits the errors it can see to
off-by-one, the ones a parsimony rule can make: a K two away is further from the best) and keeps
K by its rule (the smallest K within 2 dse of the best elpd; exact K-fold when PSIS-LOO's k̂ are
too often high). Reported: the share of data sets where the rule picks the true K,
where the top elpd does, and which estimate was used.

**Real** (``--real``): count tables that R packages ship, exported by ``Rscript`` (needs R with
``vegan`` and ``DirichletMultinomial``: ``apt-get install r-cran-vegan r-bioc-dirichletmultinomial``):
vegan's ``BCI`` (50 plots × 225 tree species) and ``mite`` (70 soil cores × 35 oribatid mite species).
Each is fitted by bayesseg for K = 1..6 (no covariates) and by ``DirichletMultinomial::dmn``
(Holmes et al. 2012, the reference implementation of the DM mixture), whose Laplace, AIC and BIC
criteria are the established choices shown beside bayesseg's. DirichletMultinomial's own example
data are left out, kept for an independent check.

    .venv/bin/python benchmarks/choose_k.py --simulated --true-k 3 5 7 --datasets 30 --first-seed 1000
    .venv/bin/python benchmarks/choose_k.py --real

The sampler settings are lighter than the shipped ones (``SAMPLER`` below: 2 × (300 + 300) draws, PyMC's NUTS;
``SIMULATION``: 300 authors × 20 categories)
to make hundreds of fits feasible; the elpd estimates do not need the shipped run's R-hat margin.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.model import compare_k
from bayesseg.simulate import simulate_counts

OUT = Path(__file__).parent / "out"
RESULTS = Path(__file__).parent / "results"
# PyMC's NUTS (compiled C reused across fits in one process; nutpie recompiles every data set)
SAMPLER = {
    "sampler": "pymc",
    "draws": 300,
    "tune": 300,
    "chains": 2,
    "progressbar": False,
    "em_restarts": 6,
    "loglik_draws": 600,
}
SIMULATION = {"n_authors": 300, "n_categories": 20, "separation": 1.5, "mean_total": 80.0}
WINDOW = 1
"""K fitted per data set: true K - WINDOW .. true K + WINDOW (K = 1 when the window reaches it)."""

R_EXPORT = """
suppressMessages({library(vegan); library(DirichletMultinomial)})
out <- commandArgs(trailingOnly = TRUE)[1]
data(BCI); data(mite)
tables <- list(BCI = as.matrix(BCI), mite = as.matrix(mite))
rows <- list()
for (name in names(tables)) {
  y <- tables[[name]]
  write.csv(y, file.path(out, paste0(name, ".csv")))
  set.seed(1)
  fits <- lapply(1:6, function(k) dmn(y, k, verbose = FALSE))
  rows[[name]] <- data.frame(table = name, k = 1:6, laplace = sapply(fits, laplace),
                             aic = sapply(fits, AIC), bic = sapply(fits, BIC))
}
write.csv(do.call(rbind, rows), file.path(out, "dmn_criteria.csv"), row.names = FALSE)
"""


def _done(path: Path) -> set[tuple[int, int]]:
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["true_k", "seed"])
    return set(zip(done["true_k"].astype(int), done["seed"].astype(int), strict=True))


def _simulated(true_ks: list[int], datasets: int, first_seed: int, reverse: bool = False) -> pd.DataFrame:
    """Fit each data set's K window; rows appended to ``results/choose_k_simulated.csv`` (resumable).

    The rows written are read again before each data set, so a second process with ``reverse``
    (the data sets from the last down) shares the work with a first one.
    """
    path = RESULTS / "choose_k_simulated.csv"
    # data sets interleaved across true K, so a run stopped early covers every K alike
    for i in reversed(range(datasets)) if reverse else range(datasets):
        for true_k in true_ks:
            seed = first_seed + 100 * true_k + i
            if (true_k, seed) in _done(path):
                continue
            counts, cov, _ = simulate_counts(
                SIMULATION["n_authors"],
                SIMULATION["n_categories"],
                true_k,
                separation=SIMULATION["separation"],
                mean_total=SIMULATION["mean_total"],
                seed=seed,
            )
            start = time.perf_counter()
            ks = list(range(max(1, true_k - WINDOW), true_k + WINDOW + 1))
            comparison = compare_k(counts, cov, ks, sampler_config={**SAMPLER, "random_seed": seed}, seed=seed)
            table = comparison.table.set_index("k")
            row = {
                "true_k": true_k,
                "seed": seed,
                "chosen_k": comparison.best_k,
                "top_k": comparison.top_k,
                "criterion": comparison.criterion,
                "max_high_pareto_k": int(table["n_high_pareto_k"].max()),
                **{f"elpd_diff_k{d:+d}": float(table.loc[true_k + d, "elpd_diff"]) for d in (-1, 1)},
                **{f"dse_k{d:+d}": float(table.loc[true_k + d, "dse"]) for d in (-1, 1)},
                "seconds": round(time.perf_counter() - start, 1),
            }
            pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)
            print(json.dumps(row), flush=True)
    # two processes may meet on one data set: its first row is kept
    return pd.read_csv(path).drop_duplicates(["true_k", "seed"])


def _real() -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["Rscript", "-e", R_EXPORT, tmp], check=True, capture_output=True, text=True)
        criteria = pd.read_csv(Path(tmp) / "dmn_criteria.csv")
        tables = {name: pd.read_csv(Path(tmp) / f"{name}.csv", index_col=0) for name in ("BCI", "mite")}
    rows = []
    for name, frame in tables.items():
        frame = frame.loc[:, frame.sum(axis=0) > 0]
        counts = xr.DataArray(
            frame.to_numpy(dtype=np.int64),
            dims=("author", "category"),
            coords={"author": np.arange(len(frame)), "category": [str(c) for c in frame.columns]},
        )
        comparison = compare_k(counts, None, range(1, 7), sampler_config={**SAMPLER, "random_seed": 7})
        crit = criteria[criteria["table"] == name].set_index("k")
        row = {
            "table": name,
            "rows": int(counts.sizes["author"]),
            "categories": int(counts.sizes["category"]),
            "bayesseg_rule": comparison.best_k,
            "bayesseg_top_elpd": comparison.top_k,
            "bayesseg_criterion": comparison.criterion,
            "dmn_laplace": int(crit["laplace"].idxmin()),
            "dmn_aic": int(crit["aic"].idxmin()),
            "dmn_bic": int(crit["bic"].idxmin()),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        comparison.table.to_csv(RESULTS / f"choose_k_{name}.csv", index_label="model")
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulated", action="store_true")
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--true-k", type=int, nargs="+", default=[3, 5, 7])
    ap.add_argument("--datasets", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--reverse", action="store_true", help="data sets from the last down (a second process)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    if args.simulated:
        sim = _simulated(args.true_k, args.datasets, args.first_seed, args.reverse)
        summary = sim.assign(rule=sim["chosen_k"] == sim["true_k"], top=sim["top_k"] == sim["true_k"]).groupby(
            "true_k"
        )[["rule", "top"]]
        print(summary.mean().to_string())
    if args.real:
        real = _real()
        real.to_csv(RESULTS / "choose_k_real.csv", index=False)
        print(real.to_string(index=False))


if __name__ == "__main__":
    main()
