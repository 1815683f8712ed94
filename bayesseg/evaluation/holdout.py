"""Judging any grouping of authors by the labels it predicts: split each author's labels, score the held-out half.

A segmentation is useful to a trends team when knowing an author's group says what the author will
post. This measure applies to every grouping alike (the follower tiers, bayesseg's segments, k-means
clusters, no grouping at all): each author's label counts are thinned into two halves at random
(binomial thinning keeps both halves draws of the same profile); groups are assigned from half A (or
from what does not use labels at all, like followers); each group's pooled profile is estimated from
half A; half B is scored under the author's group profile (a mixture over groups for soft
memberships). The log score is proper (Gneiting & Raftery 2007), so a grouping cannot gain by
hedging or by over-splitting beyond what half A supports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from bayesseg.exceptions import InputError

__all__ = ["PSEUDO_COUNT", "group_log_score", "split_labels"]

PSEUDO_COUNT = 0.5
"""Added to every category of a group's pooled half-A counts (Jeffreys' prior on a multinomial)."""


def split_labels(counts: xr.DataArray, *, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Thin each author's label counts into two halves at random.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Non-negative integer label counts.
    seed : int, default 0
        Seed of the thinning.

    Returns
    -------
    half_a, half_b : xarray.DataArray, dims (author, category)
        ``half_a ~ Binomial(counts, 1/2)`` and ``half_b = counts - half_a``: given the author's
        profile, two independent multinomial-like draws of it.

    Raises
    ------
    bayesseg.exceptions.InputError
        If a count is negative or not an integer.
    """
    values = np.asarray(counts.values)
    if (values < 0).any() or not np.allclose(values, np.round(values)):
        raise InputError("counts must be non-negative integers")
    rng = np.random.default_rng(seed)
    a = rng.binomial(values.astype(np.int64), 0.5)
    return counts.copy(data=a), counts.copy(data=values.astype(np.int64) - a)


def group_log_score(train: xr.DataArray, test: xr.DataArray, groups: Any) -> float:
    r"""Mean log probability of each held-out label under the author's group profile.

    With memberships :math:`r_{ig}` (one-hot for hard groups), the pooled profile of group *g* is
    :math:`p_{gc} \propto \sum_i r_{ig} a_{ic} + \tfrac12` from the training half *a*, and author
    *i*'s held-out labels *b* score :math:`\sum_c b_{ic}\log\sum_g r_{ig} p_{gc}`. The result is
    the total over authors divided by the held-out labels.

    Parameters
    ----------
    train, test : xarray.DataArray, dims (author, category)
        The two halves of :func:`split_labels` (same authors and categories, same order).
    groups : array_like, shape (author,) of int, or (author, group) of probabilities
        Each author's group (an integer; negative for an author without one, left out), or its
        membership probabilities (rows summing to one).

    Returns
    -------
    float
        Mean log score per held-out label (nats; higher is better). One group for everyone gives
        the population-profile baseline.

    Raises
    ------
    bayesseg.exceptions.InputError
        If the halves' shapes differ, `groups` has another number of authors, or memberships are
        not probabilities.

    References
    ----------
    Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
    estimation. Journal of the American Statistical Association 102, 359-378.
    https://doi.org/10.1198/016214506000001437
    """
    a = np.asarray(train.values, dtype=float)
    b = np.asarray(test.values, dtype=float)
    if a.shape != b.shape:
        raise InputError(f"the halves differ in shape: {a.shape} and {b.shape}")
    g = np.asarray(groups)
    if g.ndim == 1:
        if g.shape[0] != a.shape[0]:
            raise InputError(f"groups has {g.shape[0]} authors, the counts {a.shape[0]}")
        keep = g >= 0
        labels = g[keep].astype(np.int64)
        r = np.zeros((int(keep.sum()), int(labels.max(initial=0)) + 1))
        r[np.arange(labels.size), labels] = 1.0
        a, b = a[keep], b[keep]
    else:
        r = g.astype(float)
        if r.shape[0] != a.shape[0]:
            raise InputError(f"groups has {r.shape[0]} authors, the counts {a.shape[0]}")
        if (r < 0).any() or not np.allclose(r.sum(axis=1), 1.0, atol=1e-6):
            raise InputError("membership probabilities must be non-negative and sum to one per author")
    pooled = r.T @ a + PSEUDO_COUNT
    profile = pooled / pooled.sum(axis=1, keepdims=True)
    predictive = r @ profile
    n = b.sum()
    if n == 0:
        raise InputError("the held-out half has no label")
    return float((b * np.log(predictive)).sum() / n)
