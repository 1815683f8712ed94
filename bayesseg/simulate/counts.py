"""A model-level simulator: label counts drawn from the segmentation model itself, with its truth.

For tests and benchmarks; independent of the warehouse simulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy import special

__all__ = ["simulate_counts"]


def simulate_counts(
    n_authors: int,
    n_categories: int,
    n_segments: int,
    *,
    n_covariates: int = 2,
    separation: float = 1.5,
    concentration: float = 60.0,
    mean_total: float = 80.0,
    seed: int = 0,
) -> tuple[xr.DataArray, xr.DataArray, dict[str, Any]]:
    """Simulate label counts from the segmentation model itself, with its truth.

    Used by model tests and benchmarks: a count matrix drawn from a Dirichlet-multinomial
    mixture with multinomial-logit gating, independent of the warehouse simulator.

    Parameters
    ----------
    n_authors, n_categories, n_segments : int
        Sizes N, C and K.
    n_covariates : int, default 2
        Number of standard-normal covariates P.
    separation : float, default 1.5
        Standard deviation of segment log-profile departures from the population (larger is
        easier to separate).
    concentration : float, default 60
        Dirichlet-multinomial concentration κ of every segment.
    mean_total : float, default 80
        Mean count total per author (negative binomial, at least 5).
    seed : int, default 0
        Random seed.

    Returns
    -------
    counts : xarray.DataArray, dims (author, category)
    covariates : xarray.DataArray, dims (author, covariate)
    truth : dict
        ``segment`` (N,), ``profile`` (K, C), ``intercept`` (K,), ``slope`` (P, K) with
        segment 0 as reference, ``concentration``.
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, n_categories)
    logits = base + rng.normal(0, separation, (n_segments, n_categories))
    profile = special.softmax(logits, axis=1)
    x = rng.normal(0, 1, (n_authors, n_covariates))
    intercept = np.r_[0.0, rng.normal(0, 0.5, n_segments - 1)]
    slope = np.c_[np.zeros(n_covariates), rng.normal(0, 1.0, (n_covariates, n_segments - 1))]
    prob = special.softmax(intercept + x @ slope, axis=1)
    segment = (prob.cumsum(axis=1) < rng.random(n_authors)[:, None]).sum(axis=1)
    totals = np.maximum(rng.negative_binomial(2, 2 / (2 + mean_total), n_authors), 5)
    p = rng.dirichlet(np.ones(n_categories), size=n_authors)
    for i in range(n_authors):
        p[i] = rng.dirichlet(concentration * profile[segment[i]])
    y = np.array([rng.multinomial(totals[i], p[i] / p[i].sum()) for i in range(n_authors)])
    authors = np.arange(1, n_authors + 1)
    counts = xr.DataArray(
        y, dims=("author", "category"), coords={"author": authors, "category": [f"c{j}" for j in range(n_categories)]}
    )
    covariates = xr.DataArray(
        x, dims=("author", "covariate"), coords={"author": authors, "covariate": [f"x{j}" for j in range(n_covariates)]}
    )
    truth = {
        "segment": segment,
        "profile": profile,
        "intercept": intercept,
        "slope": slope,
        "concentration": concentration,
    }
    return counts, covariates, truth
