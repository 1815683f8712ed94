"""A K range on a small sparse table: bayesseg's full NUTS against DirichletMultinomial's EM, side by side (issue 25).

The table is simulated microbiome-like (``--rows`` × ``--categories``, default 278 × 130): a few
dominant categories (population log-profile with standard deviation 2.5), most counts zero,
totals in the thousands (log-normal around 3,000), ``--true-k`` segments, each row
Dirichlet-multinomial around its segment's profile with concentration 20 (overdispersed). Not
in-model for bayesseg's K choice (no covariates, K unknown), in-model for its likelihood.

- **R**: ``DirichletMultinomial::dmn`` (Holmes et al. 2012; EM, point estimates, Laplace / AIC / BIC)
  for K = 1..``--max-k`` by ``Rscript`` (``apt-get install r-base-core r-bioc-dirichletmultinomial``),
  timed inside R (``system.time``), the table read once.
- **bayesseg**: :func:`bayesseg.model.compare_k` over the same K, with the sampler settings of
  ``benchmarks/choose_k.py`` (2 × (300 + 300) NUTS draws) and its parsimony rule (PSIS-LOO, or exact
  K-fold when k̂ is too often high; the high-k̂ authors moment matched first unless
  ``--no-moment-match``), timed in this process. ``--sampler nutpie`` fits with nutpie instead, its
  low-rank correction regularised by ``--mass-matrix-gamma`` and its step size adapted by
  ``--step-size-adaptation`` (the fit's defaults unless given), and ``--n-jobs`` K at a time
  (:func:`bayesseg.model.compare_k`'s ``n_jobs``; the K-fold refits too).

Run the two one after the other on an otherwise idle machine::

    .venv/bin/python benchmarks/dmn_speed.py --max-k 7

Prints the seconds of each, the K each criterion keeps and, for each K, whether bayesseg's fit meets the
project's convergence rule (R-hat < 1.01, ESS ≥ 400, few divergences); appends a row to
``results/dmn_speed.csv``.
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
from results_table import append_rows
from scipy import special

from bayesseg.config import DEFAULT_SAMPLER_CONFIG
from bayesseg.model import compare_k
from bayesseg.model.sampling import STEP_SIZE_ADAPTATIONS

SAMPLER = {"sampler": "pymc", "draws": 300, "tune": 300, "chains": 2, "progressbar": False, "em_restarts": 6}
"""As ``benchmarks/choose_k.py``: PyMC's NUTS reuses its compiled C code across the K and the folds."""
R_DMN = """
suppressMessages(library(DirichletMultinomial))
args <- commandArgs(trailingOnly = TRUE)
y <- as.matrix(read.csv(args[1], row.names = 1))
max_k <- as.integer(args[2])
set.seed(1)
elapsed <- system.time(fits <- lapply(1:max_k, function(k) dmn(y, k, verbose = FALSE)))[["elapsed"]]
cat(sprintf('{"seconds": %.2f, "laplace": %d, "aic": %d, "bic": %d}\\n', elapsed,
            which.min(sapply(fits, laplace)), which.min(sapply(fits, AIC)), which.min(sapply(fits, BIC))))
"""


def simulate_table(rows: int, categories: int, true_k: int, seed: int) -> xr.DataArray:
    """Sparse, overdispersed counts: few dominant categories, totals in the thousands."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 2.5, categories)
    profiles = special.softmax(base + rng.normal(0.0, 1.0, (true_k, categories)), axis=1)
    segment = rng.integers(0, true_k, rows)
    totals = np.maximum(100, rng.lognormal(np.log(3000.0), 0.5, rows)).astype(int)
    counts = np.array(
        [rng.multinomial(n, rng.dirichlet(20.0 * profiles[z])) for n, z in zip(totals, segment, strict=True)]
    )
    return xr.DataArray(
        counts,
        dims=("author", "category"),
        coords={"author": np.arange(rows), "category": [f"c{j}" for j in range(categories)]},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=278)
    ap.add_argument("--categories", type=int, default=130)
    ap.add_argument("--true-k", type=int, default=4)
    ap.add_argument("--max-k", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sampler", default=SAMPLER["sampler"], choices=["pymc", "nutpie"])
    ap.add_argument("--no-moment-match", action="store_true", help="K-fold whenever PSIS-LOO is unreliable")
    ap.add_argument("--skip-r", action="store_true", help="bayesseg only (the R side was timed already)")
    ap.add_argument(
        "--mass-matrix-gamma",
        type=float,
        default=DEFAULT_SAMPLER_CONFIG["nutpie_mass_matrix_gamma"],
        help="sampler_config['nutpie_mass_matrix_gamma'] (nutpie only; nutpie's own is 1e-5)",
    )
    ap.add_argument(
        "--step-size-adaptation",
        default=DEFAULT_SAMPLER_CONFIG["nutpie_step_size_adaptation"],
        choices=sorted(STEP_SIZE_ADAPTATIONS),
        help="sampler_config['nutpie_step_size_adaptation'] (nutpie only; the fit's default unless given)",
    )
    ap.add_argument(
        "--criterion",
        default="auto",
        choices=["auto", "loo", "kfold"],
        help="compare_k's criterion; 'loo' keeps PSIS-LOO (moment matched) whatever k̂ says: the fits' cost alone",
    )
    ap.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="compare_k's n_jobs: K fitted (and K-fold refitted) at a time (nutpie only; chains on their own cores)",
    )
    args = ap.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# {machine}", flush=True)
    counts = simulate_table(args.rows, args.categories, args.true_k, args.seed)
    zeros = float((counts.values == 0).mean())
    print(f"# {args.rows} × {args.categories}, true K = {args.true_k}; {zeros:.0%} of counts zero", flush=True)
    dmn = {"seconds": np.nan, "laplace": None, "aic": None, "bic": None}
    if not args.skip_r:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "table.csv"
            pd.DataFrame(counts.values, columns=counts["category"].values).to_csv(path)
            out = subprocess.run(
                ["Rscript", "-e", R_DMN, str(path), str(args.max_k)], check=True, capture_output=True, text=True
            )
        dmn = json.loads(out.stdout.strip().splitlines()[-1])
        kept = f"Laplace keeps K = {dmn['laplace']}, AIC {dmn['aic']}, BIC {dmn['bic']}"
        print(f"DirichletMultinomial::dmn, K = 1..{args.max_k}: {dmn['seconds']:.1f} s; {kept}", flush=True)
    start = time.perf_counter()
    comparison = compare_k(
        counts,
        None,
        range(1, args.max_k + 1),
        sampler_config={
            **SAMPLER,
            "sampler": args.sampler,
            "random_seed": args.seed,
            "nutpie_mass_matrix_gamma": args.mass_matrix_gamma,
            "nutpie_step_size_adaptation": args.step_size_adaptation,
        },
        moment_match=not args.no_moment_match,
        criterion=args.criterion,
        n_jobs=args.n_jobs,
    )
    seconds = time.perf_counter() - start
    print(comparison.table.to_string(), flush=True)
    fits = sorted(comparison.models.items())
    steps = {k: float(m.idata_["sample_stats"]["n_steps"].mean()) for k, m in fits}
    verdicts = {k: m.convergence() for k, m in fits}
    for k, m in fits:
        v = verdicts[k]
        print(
            f"K = {k}: {steps[k]:.1f} leapfrog steps per draw, {m.sampling_time_:.1f} s to the draws; "
            f"largest R-hat {v.max_rhat:.3f} ({v.max_rhat_at}), least bulk / tail ESS {v.min_ess_bulk:.0f} / "
            f"{v.min_ess_tail:.0f}, {v.divergences} divergences: the convergence rule "
            f"{'holds' if v.passed else 'fails'}",
            flush=True,
        )
    print(
        f"bayesseg compare_k, K = 1..{args.max_k}: {seconds:.1f} s; keeps K = {comparison.best_k} "
        f"({comparison.criterion}; top elpd K = {comparison.top_k})",
        flush=True,
    )
    row = {
        **vars(args),
        "zeros": zeros,
        "dmn_seconds": dmn["seconds"],
        "dmn_laplace": dmn["laplace"],
        "dmn_aic": dmn["aic"],
        "dmn_bic": dmn["bic"],
        "bayesseg_seconds": round(seconds, 1),
        "bayesseg_k": comparison.best_k,
        "bayesseg_criterion": comparison.criterion,
        # authors with a high k̂ per K (after matching) and matched per K, "K:n" pairs
        "bayesseg_high_k": " ".join(
            f"{k}:{n}" for k, n in zip(comparison.table["k"], comparison.table["n_high_pareto_k"], strict=True)
        ),
        "bayesseg_matched": " ".join(
            f"{k}:{n}" for k, n in zip(comparison.table["k"], comparison.table["n_moment_matched"], strict=True)
        ),
        # per K of the full-data fits: leapfrog steps per draw, and seconds from the EM start to the draws
        "bayesseg_steps": " ".join(f"{k}:{n:.1f}" for k, n in steps.items()),
        "bayesseg_fit_seconds": " ".join(f"{k}:{m.sampling_time_:.1f}" for k, m in fits),
        # per K: the full-data fit's largest R-hat, least bulk ESS and divergences (the project's convergence rule)
        "bayesseg_max_rhat": " ".join(f"{k}:{v.max_rhat:.3f}" for k, v in verdicts.items()),
        "bayesseg_min_ess_bulk": " ".join(f"{k}:{v.min_ess_bulk:.0f}" for k, v in verdicts.items()),
        "bayesseg_divergences": " ".join(f"{k}:{v.divergences}" for k, v in verdicts.items()),
    }
    append_rows([row], "dmn_speed.csv")  # rows of earlier versions of this script lack later columns


if __name__ == "__main__":
    main()
