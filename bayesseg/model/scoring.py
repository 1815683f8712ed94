r"""Scoring from a stored posterior: membership probabilities, predictive densities, replicated counts.

The array layer of the model (as ``arviz_stats.base.array``): NumPy functions of a *draws* mapping
(:func:`flatten_draws` of a posterior thinned by :func:`thin_posterior`: flat arrays, one row per
posterior draw, chain by chain: ``profile`` (S, K, C), ``concentration`` (S, K),
``intercept`` (S, K), ``slope`` (S, P, K)), sparse counts and standardised covariates. The model
class (:class:`bayesseg.model.SegmentModel`) and the Dask scoring (:mod:`bayesseg.workflow.scale`)
both call these; nothing here knows a fitted object.

For author *i* and draw *s*, the membership probabilities are

.. math::

    r_{ik}^{(s)} = \operatorname{softmax}_k\big(\gamma_k^{(s)} + x_i^\top\beta_k^{(s)}
        + \log \mathrm{DM}(y_i \mid \kappa_k^{(s)}\theta_k^{(s)})\big),

and the pointwise log-likelihood is the log of the gated mixture (multinomial coefficient
included). Every author's row depends on that author alone (elementwise arithmetic, one
multiply-add per covariate), so any partition of the authors gives the same bits.

References
----------
McLachlan, G. J., & Peel, D. (2000). *Finite Mixture Models*, ch. 1.15 (posterior probabilities of
component membership). Wiley. https://doi.org/10.1002/0471721182

Gelman, A., Carlin, J. B., Stern, H. S., Dunson, D. B., Vehtari, A., & Rubin, D. B. (2013).
*Bayesian Data Analysis*, 3rd ed., ch. 6 (posterior predictive checking). CRC Press.
https://doi.org/10.1201/b16018
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from scipy import special

from bayesseg.dims import AUTHOR, CATEGORY, SEGMENT
from bayesseg.model.likelihood import SparseCounts, dm_logpmf_parts, dm_logpmf_rows, dm_logpmf_sparse

__all__ = [
    "MEMBERSHIP_STATS",
    "SEGMENT_VARS",
    "assignment_counts",
    "count_statistics",
    "draw_segments",
    "flatten_draws",
    "log_dm",
    "log_gating",
    "log_membership",
    "log_predictive_density",
    "logsumexp_last",
    "membership_dataset",
    "membership_probabilities",
    "membership_summary",
    "ppc_tree",
    "replicate_counts",
    "segment_log_predictive",
    "thin_posterior",
    "thinning_step",
]

SEGMENT_VARS = ("profile", "concentration", "intercept", "slope")
"""The posterior variables scoring needs (the relabelled ones, with their ``segment`` dim)."""
MEMBERSHIP_STATS = ("prob_mean", "prob_low", "prob_high", "p_modal")
"""The per (author, segment) statistics of :func:`membership_summary`, in its last axis's order."""

Draws = dict[str, np.ndarray]


def thin_posterior(posterior: xr.Dataset, max_draws: int) -> xr.Dataset:
    """Every k-th draw of each chain, k the smallest step that keeps at most `max_draws` draws in all.

    Parameters
    ----------
    posterior : xarray.Dataset
        A posterior (dims ``chain``, ``draw``, ...).
    max_draws : int
        At most this many draws are kept (at least one per chain).

    Returns
    -------
    xarray.Dataset
        The same variables on the kept draws; ``draw`` keeps its original coordinate.
    """
    step = thinning_step(posterior.sizes["chain"], posterior.sizes["draw"], max_draws)
    return posterior.isel(draw=slice(None, None, step))


def thinning_step(chains: int, draws: int, max_draws: int) -> int:
    """The step of :func:`thin_posterior`: the smallest that keeps at most `max_draws` of ``chains × draws``.

    Parameters
    ----------
    chains, draws : int
        The posterior's sizes.
    max_draws : int
        At most this many draws are kept (at least one per chain).

    Returns
    -------
    int
    """
    return max(1, -(-(chains * draws) // max(int(max_draws), 1)))


def flatten_draws(posterior: xr.Dataset) -> Draws:
    """The segment variables of a posterior, (chain, draw) flattened chain by chain.

    Parameters
    ----------
    posterior : xarray.Dataset
        A relabelled posterior with :data:`SEGMENT_VARS` (dims ``chain``, ``draw``, ...).

    Returns
    -------
    dict of str to numpy.ndarray
        One contiguous float64 array per variable, draws first.
    """
    total = posterior.sizes["chain"] * posterior.sizes["draw"]
    out = {}
    for name in SEGMENT_VARS:
        v = posterior[name].values
        # contiguous copies: the same memory layout in memory and after load, so the same
        # floating-point summation order and bit-identical memberships
        out[name] = np.ascontiguousarray(v.reshape(total, *v.shape[2:]), dtype=np.float64)
    return out


def logsumexp_last(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=-1))`` for finite `a`: scipy's logsumexp without its generality (3x faster).

    Parameters
    ----------
    a : numpy.ndarray
        Finite values.

    Returns
    -------
    numpy.ndarray
        `a` reduced over its last axis.
    """
    top = a.max(axis=-1, keepdims=True)
    return top[..., 0] + np.log(np.exp(a - top).sum(axis=-1))


def log_dm(draws: Draws, counts: SparseCounts) -> np.ndarray:
    """Per draw, log DM(y_i | alpha_k) of every author under every segment.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        ``concentration`` (S, K) and ``profile`` (S, K, C).
    counts : bayesseg.model.likelihood.SparseCounts
        N authors' counts.

    Returns
    -------
    numpy.ndarray, shape (S, N, K)
        In nats, multinomial coefficient included.
    """
    log_alpha = np.log(draws["concentration"])[..., None] + np.log(draws["profile"])
    return dm_logpmf_sparse(counts, log_alpha)


def log_gating(draws: Draws, x: np.ndarray) -> np.ndarray:
    """Per draw, the gating's linear predictor η = γ + x β of every author (log π up to a constant per author).

    One multiply-add per covariate, elementwise: the same bits for an author whatever the batch it is in.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        ``intercept`` (S, K) and ``slope`` (S, P, K).
    x : numpy.ndarray, shape (N, P)
        Standardised covariates.

    Returns
    -------
    numpy.ndarray, shape (S, N, K)
    """
    eta = np.broadcast_to(
        draws["intercept"][:, None, :], (draws["intercept"].shape[0], x.shape[0], draws["intercept"].shape[1])
    ).copy()
    for p in range(x.shape[1]):
        eta += x[None, :, p, None] * draws["slope"][:, None, p, :]
    return eta


def log_membership(
    draws: Draws,
    counts: SparseCounts,
    x: np.ndarray,
    *,
    loglik: bool = True,
    log_dm_values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per draw, log membership probabilities and (optionally) the pointwise log-likelihood.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS`.
    counts : bayesseg.model.likelihood.SparseCounts
        N authors' counts.
    x : numpy.ndarray, shape (N, P)
        Standardised covariates.
    loglik : bool, default True
        Also return the pointwise log-likelihood.
    log_dm_values : numpy.ndarray, shape (S, N, K), optional
        :func:`log_dm` of these authors, when already computed (it is overwritten).

    Returns
    -------
    log_r : numpy.ndarray, shape (S, N, K)
        Log membership probabilities.
    loglik : numpy.ndarray, shape (S, N), or None
        Log-likelihood of each author under each draw (the segment marginalised).
    """
    joint = log_dm(draws, counts) if log_dm_values is None else log_dm_values  # (S, N, K)
    eta = log_gating(draws, x)
    joint += eta  # log pi_ik + log DM, up to log sum_k exp(eta_ik) (which cancels in r_ik)
    total = logsumexp_last(joint)
    joint -= total[..., None]
    return joint, (total - logsumexp_last(eta)) if loglik else None


def membership_summary(
    draws: Draws, counts: np.ndarray, x: np.ndarray, ci_prob: float, batch_authors: int = 2_000
) -> np.ndarray:
    """Membership summaries of authors over the draws, in batches bounding memory.

    The Dirichlet-multinomial terms of the distinct (category, count) pairs are computed once for
    all the authors given (the costly log-gamma calls), then reused by every batch.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS`.
    counts : numpy.ndarray of int, shape (N, C)
        Counts in the model's category order.
    x : numpy.ndarray, shape (N, P)
        Standardised covariates.
    ci_prob : float
        Probability of the equal-tailed interval.
    batch_authors : int, default 2000
        Authors per batch: memory is about ``batch_authors × S × K × 8`` bytes times a small constant.

    Returns
    -------
    numpy.ndarray, shape (N, K, 4)
        :data:`MEMBERSHIP_STATS`: mean, interval bounds and P(modal segment = k) of r_ik.
    """
    sparse_counts = SparseCounts.from_dense(counts)
    log_alpha = np.log(draws["concentration"])[..., None] + np.log(draws["profile"])
    parts = dm_logpmf_parts(sparse_counts, log_alpha)
    out = np.empty((counts.shape[0], draws["intercept"].shape[-1], 4))
    for start in range(0, counts.shape[0], batch_authors):
        sl = slice(start, start + batch_authors)
        values = dm_logpmf_rows(sparse_counts, parts, sl)
        log_r, _ = log_membership(draws, sparse_counts, x[sl], loglik=False, log_dm_values=values)
        r = np.exp(log_r, out=log_r)  # (S, n, K)
        lo, hi = np.quantile(r, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
        top = r.argmax(axis=-1)  # (S, n)
        modal = (top[..., None] == np.arange(r.shape[-1])).mean(axis=0)
        out[sl] = np.stack([r.mean(axis=0), lo, hi, modal], axis=-1)
    return out


def membership_dataset(stats: Any, authors: np.ndarray, segments: list[str], ci_prob: float) -> xr.Dataset:
    """Label :func:`membership_summary`'s statistics.

    Parameters
    ----------
    stats : numpy.ndarray or dask.array.Array, shape (author, segment, 4)
        :data:`MEMBERSHIP_STATS` in the last axis.
    authors : numpy.ndarray
        Author ids.
    segments : list of str
        Segment names.
    ci_prob : float
        Probability of the interval (kept in ``attrs``).

    Returns
    -------
    xarray.Dataset
        ``prob_mean``, ``prob_low``, ``prob_high``, ``p_modal`` (author, segment);
        ``entropy`` (author; nats, of the mean probabilities) and ``p_misassigned`` (author;
        ``1 - max_k prob_mean``, the probability that the most likely segment is not the author's).
    """
    mean = stats[..., 0]
    entropy = -(mean * np.log(np.maximum(mean, 1e-300))).sum(axis=-1)
    dims = (AUTHOR, SEGMENT)
    data: dict[str, Any] = {name: (dims, stats[..., j]) for j, name in enumerate(MEMBERSHIP_STATS)}
    data["entropy"] = (AUTHOR, entropy)
    # the uncertainty a user reads: the interval prob_low-prob_high is over parameter draws only
    # and is ~0.01 wide with thousands of authors, while the assignment itself may be a coin toss
    data["p_misassigned"] = (AUTHOR, 1.0 - mean.max(axis=-1))
    return xr.Dataset(data, coords={AUTHOR: authors, SEGMENT: segments}, attrs={"ci_prob": ci_prob})


def membership_probabilities(draws: Draws, counts: np.ndarray, x: np.ndarray, batch_authors: int = 2_000) -> np.ndarray:
    """Per-draw membership probabilities r_ik of authors.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS`.
    counts : numpy.ndarray of int, shape (N, C)
        Counts in the model's category order.
    x : numpy.ndarray, shape (N, P)
        Standardised covariates.
    batch_authors : int, default 2000
        Authors per batch.

    Returns
    -------
    numpy.ndarray, shape (S, N, K)
    """
    pieces = []
    for start in range(0, counts.shape[0], batch_authors):
        sl = slice(start, start + batch_authors)
        log_r, _ = log_membership(draws, SparseCounts.from_dense(counts[sl]), x[sl], loglik=False)
        pieces.append(np.exp(log_r))
    return np.concatenate(pieces, axis=1)


def draw_segments(draws: Draws, counts: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""Each author's segment drawn from its membership probabilities, within each posterior draw.

    :math:`z_i^{(s)} \sim \mathrm{Categorical}(r_i^{(s)})`: draws of the latent segments from
    their posterior, for realised discrepancies (:mod:`bayesseg.model.ppc`).

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS` (S draws).
    counts : numpy.ndarray of int, shape (n, C)
        Counts in the model's category order.
    x : numpy.ndarray, shape (n, P)
        Standardised covariates.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int, shape (S, n)
    """
    log_r, _ = log_membership(draws, SparseCounts.from_dense(counts), x, loglik=False)
    return _draw_categorical(np.exp(log_r), rng)


def _draw_categorical(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of the last axis of probabilities `prob` (inverse CDF of one uniform each)."""
    u = rng.random(prob.shape[:-1])
    return np.minimum((np.cumsum(prob, axis=-1) < u[..., None]).sum(axis=-1), prob.shape[-1] - 1)


def assignment_counts(
    draws: Draws,
    counts: np.ndarray,
    x: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    seed: int,
    batch_authors: int = 2_000,
) -> np.ndarray:
    r"""Authors per group and segment when every author's segment is drawn, within each posterior draw.

    For each draw *s* and author *i*, :math:`z_i^{(s)} \sim \mathrm{Categorical}(r_i^{(s)})`; the
    counts of :math:`z^{(s)}` by group carry both the parameter uncertainty and the uncertainty of
    each author's assignment (the latter dominates with thousands of authors).

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS` (S draws).
    counts : numpy.ndarray of int, shape (N, C)
        Counts in the model's category order.
    x : numpy.ndarray, shape (N, P)
        Standardised covariates.
    groups : numpy.ndarray of int, shape (N,)
        Each author's group, in ``0 .. n_groups - 1``.
    n_groups : int
        Number of groups.
    seed : int
        Seed of the assignments.
    batch_authors : int, default 2000
        Authors per batch (memory: batch × S × K floats).

    Returns
    -------
    numpy.ndarray of int64, shape (S, n_groups, K)
    """
    rng = np.random.default_rng(seed)
    n_draws, k = draws["profile"].shape[0], draws["profile"].shape[1]
    out = np.zeros(n_draws * n_groups * k, dtype=np.int64)
    for start in range(0, counts.shape[0], batch_authors):
        sl = slice(start, start + batch_authors)
        log_r, _ = log_membership(draws, SparseCounts.from_dense(counts[sl]), x[sl], loglik=False)
        z = _draw_categorical(np.exp(log_r), rng)  # (S, n)
        cell = (np.arange(n_draws)[:, None] * n_groups + groups[sl][None, :]) * k + z
        out += np.bincount(cell.ravel(), minlength=out.size)
    return out.reshape(n_draws, n_groups, k)


def log_predictive_density(draws: Draws, counts: np.ndarray, x: np.ndarray, batch_authors: int = 2_000) -> np.ndarray:
    r"""Log predictive density of authors' counts, the segment marginalised.

    :math:`\log \frac{1}{S} \sum_s \sum_k \pi_{ik}^{(s)} \mathrm{DM}(y_i \mid \alpha_k^{(s)})`,
    multinomial coefficient included.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS`.
    counts : numpy.ndarray of int, shape (N, C)
        Counts in the model's category order.
    x : numpy.ndarray, shape (N, P)
        Standardised covariates.
    batch_authors : int, default 2000
        Authors per batch.

    Returns
    -------
    numpy.ndarray, shape (N,)
        In nats.

    References
    ----------
    Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432.
    https://doi.org/10.1007/s11222-016-9696-4
    """
    out = []
    for start in range(0, counts.shape[0], batch_authors):
        sl = slice(start, start + batch_authors)
        _, ll = log_membership(draws, SparseCounts.from_dense(counts[sl]), x[sl])
        assert ll is not None
        out.append(special.logsumexp(ll, axis=0) - np.log(ll.shape[0]))
    return np.concatenate(out)


def segment_log_predictive(draws: Draws, counts: np.ndarray) -> np.ndarray:
    r"""Posterior predictive log density of count vectors under each segment, without the gating.

    :math:`\log \frac{1}{S} \sum_s \mathrm{DM}(y_i \mid \kappa_k^{(s)} \theta_k^{(s)})`.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        ``concentration`` and ``profile`` draws.
    counts : numpy.ndarray of int, shape (n, C)
        Counts in the model's category order; every row with at least one count.

    Returns
    -------
    numpy.ndarray, shape (n, K)
        In nats.
    """
    values = log_dm(draws, SparseCounts.from_dense(counts))  # (S, N, K)
    return special.logsumexp(values, axis=0) - np.log(values.shape[0])


def replicate_counts(
    draws: Draws,
    counts: np.ndarray,
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    segments: np.ndarray | None = None,
) -> np.ndarray:
    r"""Replicate authors' counts from the posterior predictive distribution of the gated mixture.

    For each draw and author the segment is drawn from the gating probabilities
    :math:`\pi_{ik}` (not from its posterior given :math:`y_i`, so a check tests the marginal
    model that LOO scores), then :math:`p \sim \mathrm{Dirichlet}(\kappa_z\theta_z)` and
    :math:`y^{rep}_i \sim \mathrm{Multinomial}(n_i, p)` with the author's observed total.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The draws of :data:`SEGMENT_VARS`.
    counts : numpy.ndarray of int, shape (n, C)
        Observed counts (their totals are kept).
    x : numpy.ndarray, shape (n, P)
        Standardised covariates.
    rng : numpy.random.Generator
        Source of randomness.
    segments : numpy.ndarray of int, shape (S, n), optional
        Replicate from these segments instead of drawing them from the gating (e.g. segments drawn
        from the authors' memberships: replicates given the latent segments, for realised
        discrepancies).

    Returns
    -------
    numpy.ndarray of int, shape (S, n, C)
    """
    totals = counts.sum(axis=1)
    if segments is None:
        eta = draws["intercept"][:, None, :] + np.einsum("np,spk->snk", x, draws["slope"])
        z = _draw_categorical(special.softmax(eta, axis=-1), rng)  # (S, n)
    else:
        z = np.asarray(segments)
    alpha = draws["concentration"][..., None] * draws["profile"]  # (S, K, C)
    alpha_z = np.take_along_axis(alpha, z[..., None], axis=1)  # (S, n, C)
    g = rng.gamma(alpha_z)
    p = g / np.maximum(g.sum(axis=-1, keepdims=True), 1e-300)
    # float noise can push sum(p) a hair above 1, which numpy's multinomial rejects
    p = p / p.sum(axis=-1, keepdims=True) * (1 - 1e-12)
    return rng.multinomial(np.broadcast_to(totals, z.shape), p)


def count_statistics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of count vectors the posterior predictive checks compare.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (..., C)
        Count vectors over the last axis.

    Returns
    -------
    dict of str to numpy.ndarray
        ``n_categories`` (distinct categories used) and ``max_share`` (share of the largest category).
    """
    tot = np.maximum(counts.sum(axis=-1), 1)
    return {"n_categories": (counts > 0).sum(axis=-1), "max_share": counts.max(axis=-1) / tot}


def ppc_tree(
    y: np.ndarray,
    y_rep: np.ndarray,
    authors: np.ndarray,
    categories: np.ndarray,
    segments_obs: np.ndarray | None = None,
    y_rep_given: np.ndarray | None = None,
) -> xr.DataTree:
    """Observed and replicated counts as the DataTree ``arviz_plots.plot_ppc_*`` read.

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n, C)
        Observed counts.
    y_rep : numpy.ndarray of int, shape (S, n, C)
        Replicates (:func:`replicate_counts`).
    authors, categories : numpy.ndarray
        Coordinates.
    segments_obs : numpy.ndarray of int, shape (S, n), optional
        The observed authors' segments drawn from their memberships under the same draws
        (``posterior/segment``).
    y_rep_given : numpy.ndarray of int, shape (S, n, C), optional
        Replicates drawn from `segments_obs` (``posterior_predictive/counts_given_segment``).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior_predictive`` (``chain`` of length 1, ``draw``, ``author``, and
        ``category`` for ``counts``) and ``observed_data``, each with ``counts``,
        ``n_categories`` and ``max_share``; with `segments_obs`, a ``posterior`` group with
        ``segment``, and with `y_rep_given`, ``posterior_predictive/counts_given_segment``.
    """
    rep = count_statistics(y_rep)
    obs = count_statistics(y)
    pp = xr.Dataset(
        {
            "counts": (("chain", "draw", AUTHOR, CATEGORY), y_rep[None]),
            "n_categories": (("chain", "draw", AUTHOR), rep["n_categories"][None]),
            "max_share": (("chain", "draw", AUTHOR), rep["max_share"][None]),
        },
        coords={"chain": [0], "draw": np.arange(y_rep.shape[0]), AUTHOR: authors, CATEGORY: categories},
    )
    od = xr.Dataset(
        {
            "counts": ((AUTHOR, CATEGORY), y),
            "n_categories": (AUTHOR, obs["n_categories"]),
            "max_share": (AUTHOR, obs["max_share"]),
        },
        coords={AUTHOR: authors, CATEGORY: categories},
    )
    groups = {"posterior_predictive": pp, "observed_data": od}
    sample = ("chain", "draw", AUTHOR)
    if y_rep_given is not None:
        pp["counts_given_segment"] = (("chain", "draw", AUTHOR, CATEGORY), np.asarray(y_rep_given)[None])
    if segments_obs is not None:
        coords = {"chain": [0], "draw": np.arange(y_rep.shape[0]), AUTHOR: authors}
        groups["posterior"] = xr.Dataset({"segment": (sample, np.asarray(segments_obs)[None])}, coords=coords)
    return xr.DataTree.from_dict(groups)
