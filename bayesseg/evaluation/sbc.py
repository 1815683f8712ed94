"""Simulation-based calibration (SBC) of :class:`bayesseg.model.SegmentModel`.

Draw parameters from the model's own prior, simulate counts from them, fit, and record the rank of
each true value among the posterior draws. If the sampler and the likelihood are right, every rank
is uniform on ``0 .. L`` (Talts et al. 2018); a ∪-shaped histogram means intervals too narrow, a
∩-shape too wide, a slope a biased posterior.

A mixture's labels are arbitrary (the prior is symmetric in the free segments), so the checked
quantities are functions the labels do not change (with K = 2): the gating slope and intercept
contrasts in absolute value, the smallest and largest log concentration, a contrast of the
population log-profile and the largest segment profile contrast between the same two categories.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A., & Gelman, A. (2018). Validating Bayesian
inference algorithms with simulation-based calibration. arXiv:1804.06788.
https://doi.org/10.48550/arXiv.1804.06788

Modrák, M., Moon, A. H., Kim, S., Bürkner, P., Huurre, N., Faltejsková, K., Gelman, A., & Vehtari, A.
(2023). Simulation-based calibration checking for Bayesian computation: The choice of test quantities
shapes sensitivity. *Bayesian Analysis*. https://doi.org/10.1214/23-BA1404
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import stats

from bayesseg.dims import stack_sample_dims
from bayesseg.exceptions import InputError
from bayesseg.model import SegmentModel
from bayesseg.model.likelihood import data_by_reference
from bayesseg.model.sampling import without_fastmath

__all__ = ["SBC_QUANTITIES", "rank_uniformity", "sbc_ranks"]

SBC_QUANTITIES = (
    "abs_slope_contrast",
    "abs_intercept_contrast",
    "min_log_concentration",
    "max_log_concentration",
    "population_contrast",
    "max_profile_contrast",
)
"""The label-invariant quantities whose ranks :func:`sbc_ranks` records."""


def _quantities(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The SBC quantities from draws first arrays: slope (S, P, K), intercept (S, K), ..."""
    slope, intercept = values["slope"], values["intercept"]
    log_kappa = np.log(values["concentration"])
    log_profile = np.log(values["profile"])
    return {
        "abs_slope_contrast": np.abs(slope[:, 0, 1] - slope[:, 0, 0]),
        "abs_intercept_contrast": np.abs(intercept[:, 1] - intercept[:, 0]),
        "min_log_concentration": log_kappa.min(axis=1),
        "max_log_concentration": log_kappa.max(axis=1),
        "population_contrast": values["population_logit"][:, 0] - values["population_logit"][:, 1],
        "max_profile_contrast": (log_profile[:, :, 0] - log_profile[:, :, 1]).max(axis=1),
    }


def _arrays(data: xr.Dataset, categories: list[str]) -> dict[str, np.ndarray]:
    """Draws-first arrays of the variables :func:`_quantities` reads, from a (chain, draw, ...) dataset."""

    def draws(name: str, *dims: str) -> np.ndarray:
        return np.asarray(stack_sample_dims(data[name]).transpose("draw", *dims).values)

    out = {
        "slope": draws("slope", "covariate", "segment"),
        "intercept": draws("intercept", "segment"),
        "concentration": draws("concentration", "segment"),
        "profile": draws("profile", "segment", "category")[..., _positions(data["profile"], "category", categories)],
    }
    if "population_profile" in data:  # a fitted posterior keeps the softmax of the population logit
        population = draws("population_profile", "category")
        out["population_logit"] = np.log(population[:, _positions(data["population_profile"], "category", categories)])
    else:
        logit = draws("population_logit", "category_sampling")
        out["population_logit"] = logit[:, _positions(data["population_logit"], "category_sampling", categories)]
    return out


def _positions(values: xr.DataArray, dim: str, labels: list[str]) -> list[int]:
    index = {str(c): i for i, c in enumerate(values[dim].values)}
    return [index[c] for c in labels]


def sbc_ranks(
    n_simulations: int,
    *,
    n_authors: int = 200,
    n_categories: int = 6,
    mean_total: float = 50.0,
    n_rank_draws: int = 99,
    sampler_config: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Ranks of prior-drawn truths among posterior draws, for K = 2 segments and one covariate.

    Parameters
    ----------
    n_simulations : int
        Number of prior draws, each simulated and fitted once.
    n_authors, n_categories : int, default 200 and 6
        Problem size (N authors × C categories).
    mean_total : float, default 50
        Mean label total per author (negative binomial with shape 2, at least 5).
    n_rank_draws : int, default 99
        Posterior draws the rank is taken among, evenly spaced over the chains' draws (at most
        the fit's draws); ranks lie in ``0 .. n_rank_draws``. Thinning keeps the draws close to
        independent, as the rank statistic assumes.
    sampler_config : mapping, optional
        Sampler settings of each fit (default: PyMC's NUTS, 2 chains × (300 tuning + 300) draws,
        4 EM restarts).
    seed : int, default 0
        Seeds the prior draws, the simulated data and the fits.

    Returns
    -------
    pandas.DataFrame
        One row per simulation and quantity: ``simulation``, ``quantity`` (one of
        ``SBC_QUANTITIES``), ``rank``, ``n_rank_draws``, ``truth``, ``max_rhat``, ``divergences``.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `n_simulations` or `n_rank_draws` is below 1.
    """
    if n_simulations < 1 or n_rank_draws < 1:
        raise InputError(f"n_simulations and n_rank_draws must be at least 1, got {n_simulations}, {n_rank_draws}")
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n_authors, 1))
    x = (x - x.mean()) / x.std()  # the model standardises covariates: the prior's scale is then the data's
    categories = [f"c{j}" for j in range(n_categories)]
    authors = np.arange(n_authors)
    cov = xr.DataArray(x, dims=("author", "covariate"), coords={"author": authors, "covariate": ["x"]})
    config = {
        # PyMC's NUTS: its compiled C is reused from one simulated data set to the next, where nutpie
        # compiles each with Numba (~25 s per fit at this size)
        "sampler": "pymc",
        "draws": 300,
        "tune": 300,
        "chains": 2,
        "progressbar": False,
        "em_restarts": 4,
        "loglik_draws": 50,
        **(sampler_config or {}),
    }
    dummy = xr.DataArray(
        np.ones((n_authors, n_categories), dtype=np.int64),
        dims=("author", "category"),
        coords={"author": authors, "category": categories},
    )
    model = SegmentModel(2, sampler_config=config)
    names = ["slope", "intercept", "concentration", "profile", "population_logit"]
    with model.build_model(dummy, cov), warnings.catch_warnings(), without_fastmath():
        # the Potential is the marginal likelihood: the prior is what it leaves out, as wanted here
        warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        prior = pm.sample_prior_predictive(draws=n_simulations, var_names=names, random_seed=rng)["prior"]
    prior = prior.to_dataset() if isinstance(prior, xr.DataTree) else prior
    truths = _arrays(prior, categories)
    rows = []
    for s in range(n_simulations):
        logit = truths["intercept"][s] + x @ truths["slope"][s]
        prob = np.exp(logit - logit.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        z = (prob.cumsum(axis=1) < rng.random(n_authors)[:, None]).sum(axis=1)
        totals = np.maximum(rng.negative_binomial(2, 2 / (2 + mean_total), n_authors), 5)
        alpha = truths["concentration"][s][z, None] * truths["profile"][s][z]
        p = rng.gamma(np.maximum(alpha, 1e-300))
        p /= p.sum(axis=1, keepdims=True)
        # a draw whose shares underflow to zero everywhere puts its whole total on one category
        p = np.where(np.isfinite(p).all(axis=1, keepdims=True), p, np.eye(n_categories)[rng.integers(n_categories)])
        y = np.array([rng.multinomial(t, row) for t, row in zip(totals, p, strict=True)])
        counts = dummy.copy(data=y)
        with data_by_reference():  # the replicates share one compilation where their structures agree
            fit = SegmentModel(2, sampler_config={**config, "random_seed": int(rng.integers(2**31))}).fit(counts, cov)
        drawn = _quantities(_arrays(fit.check_fitted()["posterior"].to_dataset(), categories))
        # evenly spaced over the chains' draws, so that they are close to independent
        keep = np.linspace(0, len(drawn["abs_slope_contrast"]) - 1, n_rank_draws).round().astype(int)
        true = _quantities({k: v[s : s + 1] for k, v in truths.items()})
        conv = fit.convergence()
        for name in SBC_QUANTITIES:
            values = drawn[name][keep]
            rows.append(
                {
                    "simulation": s,
                    "quantity": name,
                    "rank": int((values < true[name][0]).sum()),
                    "n_rank_draws": values.size,
                    "truth": float(true[name][0]),
                    "max_rhat": conv.max_rhat,
                    "divergences": conv.divergences,
                }
            )
    return pd.DataFrame(rows)


def rank_uniformity(ranks: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks, per quantity.

    Parameters
    ----------
    ranks : pandas.DataFrame
        As returned by :func:`sbc_ranks` (``quantity``, ``rank``, ``n_rank_draws``).
    n_bins : int, default 10
        Equal-width bins over ``0 .. n_rank_draws`` (``n_rank_draws + 1`` should be a multiple of it).

    Returns
    -------
    pandas.DataFrame
        Indexed by quantity: ``simulations``, ``chi2``, ``p_value`` and ``counts`` (the histogram,
        a list of `n_bins` integers).

    Raises
    ------
    bayesseg.exceptions.InputError
        If the ranks were taken among different numbers of draws.
    """
    if ranks["n_rank_draws"].nunique() != 1:
        raise InputError("ranks taken among different numbers of draws cannot share one histogram")
    levels = int(ranks["n_rank_draws"].iloc[0]) + 1
    rows = {}
    for name, g in ranks.groupby("quantity", sort=False):
        counts = np.bincount((g["rank"].to_numpy() * n_bins) // levels, minlength=n_bins)
        chi2, p = stats.chisquare(counts)
        rows[name] = {"simulations": len(g), "chi2": float(chi2), "p_value": float(p), "counts": counts.tolist()}
    return pd.DataFrame.from_dict(rows, orient="index")
