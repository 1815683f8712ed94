"""From the sampler's trace to the model's DataTree: relabelled draws, gating re-referenced, pointwise log-likelihood.

References
----------
Stephens, M. (2000). Dealing with label switching in mixture models. *JRSS B* 62(4), 795-809.
https://doi.org/10.1111/1467-9868.00265
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import special

from bayesseg.dims import AUTHOR, CATEGORY, COVARIATE, SEGMENT
from bayesseg.model.checks import PreparedData
from bayesseg.model.kernel import gating_log_softmax, mixture_log_likelihood_values
from bayesseg.model.likelihood import SparseCounts
from bayesseg.model.relabel import apply_permutation, stephens
from bayesseg.model.scoring import SEGMENT_VARS, log_membership, thinning_step

__all__ = ["relabelled_posterior", "relabelled_tree"]


def relabelled_tree(
    trace: xr.DataTree,
    data: PreparedData,
    segment_names: Sequence[str],
    relabel_authors: int,
    seed: int,
    loglik_draws: int,
) -> tuple[xr.DataTree, int]:
    """The fitted model's DataTree: draws relabelled to one labelling, gating against segment 0.

    Parameters
    ----------
    trace : xarray.DataTree
        The sampler's output (:func:`bayesseg.model.sampling.sample_posterior`).
    data : bayesseg.model.checks.PreparedData
        The data of the fit.
    segment_names : sequence of str
        The K segment names.
    relabel_authors : int
        Authors (a random subset) whose membership probabilities decide the relabelling.
    seed : int
        Seed of that subset.
    loglik_draws : int
        At most this many draws (every k-th of each chain, :func:`~bayesseg.model.scoring.thinning_step`)
        carry the pointwise log-likelihood.

    Returns
    -------
    tree : xarray.DataTree
        Groups ``posterior`` (``profile``, ``concentration``, ``intercept``, ``slope``,
        ``population_profile`` and the hyperparameters), ``log_likelihood`` (``y``: the pointwise
        log-likelihood, multinomial coefficient included, on the thinned draws), ``observed_data`` (``counts``),
        ``sample_stats`` (NUTS) and ``constant_data`` (``covariates``, ``sample_weight``).
    relabelled_draws : int
        Draws whose labels had to be permuted.
    """
    counts, covariates = data.counts, data.covariates
    posterior, flat, relabelled = relabelled_posterior(trace, data, segment_names, relabel_authors, seed)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    sample = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    cov_names = [str(c) for c in posterior[COVARIATE].values]
    # the pointwise log-likelihood (invariant to the labels) on every k-th draw of each chain: enough
    # for PSIS-LOO, and a tenth of the file of every draw's (SegmentModel.loo thins the posterior alike)
    step = thinning_step(n_chain, n_draw, loglik_draws)
    kept = np.arange(0, n_draw, step)
    pointwise = _pointwise_loglik(flat, data, (np.arange(n_chain)[:, None] * n_draw + kept[None, :]).ravel())
    authors = counts[AUTHOR].values
    log_lik = xr.Dataset(
        {"y": (("chain", "draw", AUTHOR), pointwise.reshape(n_chain, kept.size, -1))},
        coords={"chain": sample["chain"], "draw": sample["draw"][kept], AUTHOR: authors},
    )
    groups = {
        "posterior": posterior,
        "log_likelihood": log_lik,
        "observed_data": xr.Dataset({"counts": counts.astype(np.int64)}),
    }
    if "sample_stats" in trace.children:
        groups["sample_stats"] = trace["sample_stats"].to_dataset()
    constant: dict[str, Any] = {}
    if covariates is not None:
        constant["covariates"] = covariates.astype(float)
        # the fit's standardisation: the model's state outside the posterior, restored from here on load
        constant["covariate_mean"] = xr.DataArray(data.x_mean, dims=COVARIATE, coords={COVARIATE: cov_names})
        constant["covariate_sd"] = xr.DataArray(data.x_sd, dims=COVARIATE, coords={COVARIATE: cov_names})
    if data.weights is not None:
        constant["sample_weight"] = xr.DataArray(data.weights, dims=AUTHOR, coords={AUTHOR: authors})
    if constant:
        groups["constant_data"] = xr.Dataset(constant)
    return xr.DataTree.from_dict(groups), relabelled


def relabelled_posterior(
    trace: xr.DataTree,
    data: PreparedData,
    segment_names: Sequence[str],
    relabel_authors: int,
    seed: int,
) -> tuple[xr.Dataset, dict[str, np.ndarray], int]:
    """The sampler's posterior relabelled to one labelling, the gating re-expressed against segment 0.

    Parameters
    ----------
    trace : xarray.DataTree
        The sampler's output (``posterior`` group, dims ``chain``, ``draw``).
    data : bayesseg.model.checks.PreparedData
        The data of the fit.
    segment_names : sequence of str
        The K segment names.
    relabel_authors : int
        Authors (a random subset) whose membership probabilities decide the relabelling (Stephens 2000).
    seed : int
        Seed of that subset.

    Returns
    -------
    posterior : xarray.Dataset
        ``profile`` (chain, draw, segment, category), ``concentration`` (chain, draw, segment),
        ``intercept`` (chain, draw, segment), ``slope`` (chain, draw, covariate, segment),
        ``population_profile`` (chain, draw, category) and the scalar hyperparameters.
    flat : dict of str to numpy.ndarray
        The same segment variables with chain and draw flattened (chain-major), for scoring.
    relabelled_draws : int
        Draws whose labels had to be permuted.
    """
    counts, covariates = data.counts, data.covariates
    k = len(segment_names)
    post = trace["posterior"].to_dataset()
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    flat = {
        name: post[name].values.reshape(n_chain * n_draw, *post[name].shape[2:])
        for name in SEGMENT_VARS
        if name in post
    }
    n_cov = 0 if covariates is None else covariates.sizes[COVARIATE]
    if "intercept" not in flat:  # one segment: no gating
        flat["intercept"] = np.zeros((n_chain * n_draw, k))
    if "slope" not in flat:
        flat["slope"] = np.zeros((n_chain * n_draw, n_cov if k == 1 else 0, k))
    categories = [str(c) for c in counts[CATEGORY].values]
    cov_names = [] if covariates is None else [str(c) for c in covariates[COVARIATE].values]

    # relabel on a random subset of authors, then re-reference the gating to segment 0
    rng = np.random.default_rng(seed)
    n = counts.sizes[AUTHOR]
    sub = np.sort(rng.choice(n, size=min(n, relabel_authors), replace=False))
    perm = stephens(_relabelling_memberships(flat, data, sub))
    flat["profile"] = apply_permutation(flat["profile"], perm, axis=1)
    flat["concentration"] = apply_permutation(flat["concentration"], perm, axis=1)
    flat["intercept"] = apply_permutation(flat["intercept"], perm, axis=1)
    flat["slope"] = apply_permutation(flat["slope"], perm, axis=2)
    flat["intercept"] = flat["intercept"] - flat["intercept"][:, :1]
    flat["slope"] = flat["slope"] - flat["slope"][:, :, :1]
    relabelled = int((perm != np.arange(k)).any(axis=1).sum())

    def unflat(v: np.ndarray) -> np.ndarray:
        return v.reshape(n_chain, n_draw, *v.shape[1:])

    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    data_vars: dict[str, Any] = {
        "profile": (("chain", "draw", SEGMENT, CATEGORY), unflat(flat["profile"])),
        "concentration": (("chain", "draw", SEGMENT), unflat(flat["concentration"])),
        "intercept": (("chain", "draw", SEGMENT), unflat(flat["intercept"])),
        "slope": (("chain", "draw", COVARIATE, SEGMENT), unflat(flat["slope"])),
    }
    for name in ("deviation_sd", "log_concentration_mu", "log_concentration_sd"):
        if name in post:
            data_vars[name] = (("chain", "draw"), post[name].values)
    data_vars["population_profile"] = (
        ("chain", "draw", CATEGORY),
        # sampled in the graph's category_sampling order: back to the counts' order, by label
        special.softmax(post["population_logit"].sel(category_sampling=categories).values, axis=-1),
    )
    posterior = xr.Dataset(
        data_vars,
        coords={**sample, SEGMENT: list(segment_names), CATEGORY: categories, COVARIATE: cov_names},
        attrs=dict(post.attrs),
    )
    return posterior, flat, relabelled


def _relabelling_memberships(flat: dict[str, np.ndarray], data: PreparedData, subset: np.ndarray) -> np.ndarray:
    """Membership probabilities of the `subset` authors under every draw, shape (S, n, K), in chunks of draws."""
    counts = SparseCounts.from_dense(data.counts.values[subset])
    x = data.x[subset]
    n_draws = flat["profile"].shape[0]
    probs = np.empty((n_draws, subset.size, flat["profile"].shape[1]))
    for i in range(0, n_draws, 200):
        chunk = {key: v[i : i + 200] for key, v in flat.items()}
        probs[i : i + 200] = np.exp(log_membership(chunk, counts, x, loglik=False)[0])
    return probs


def _pointwise_loglik(flat: dict[str, np.ndarray], data: PreparedData, draws: np.ndarray) -> np.ndarray:
    """Every author's log-likelihood (segment marginalised) under the `draws` (flat indices), shape (S', N).

    The model's own forward sweep (:func:`~bayesseg.model.kernel.mixture_log_likelihood_values`), draw by draw.
    """
    x = np.ascontiguousarray(data.x, dtype=np.float64)
    intercept, slope = flat["intercept"][draws], flat["slope"][draws]
    log_alpha = np.log(flat["concentration"][draws])[..., None] + np.log(flat["profile"][draws])
    return mixture_log_likelihood_values(
        data.sparse, log_alpha, lambda s: gating_log_softmax(intercept[s], slope[s], x)
    )
