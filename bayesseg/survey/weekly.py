"""The arithmetic of weekly series: pooled weighted shares, bootstrap multiplicities, bands, diagnostics.

Pure NumPy functions of weights and counts (no panel, model or warehouse), composed by
:func:`bayesseg.survey.trends.trend_series`.

References
----------
Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
https://doi.org/10.1201/9780429246593

Kish, L. (1965). *Survey Sampling*. Wiley. ISBN 978-0-471-10949-5.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import xarray as xr
from scipy import special, stats
from scipy.ndimage import gaussian_filter1d

from bayesseg.config import TrendConfig
from bayesseg.dims import MONTH, PANEL, TREND
from bayesseg.survey.reweight import design_effect, kish_ess

__all__ = [
    "bands",
    "bootstrap_counts",
    "cluster_design_effect",
    "month_pool",
    "monthly_series",
    "panel_diagnostics",
    "smooth_weeks",
    "weekly_shares",
]


def bootstrap_counts(rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
    """Multiplicities of a bootstrap resample of units drawn separately within each group.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    groups : numpy.ndarray, shape (n,)
        Group of each unit (e.g. in the panel or not).

    Returns
    -------
    numpy.ndarray, shape (n,)
        How many times each unit is drawn; each group keeps its size.
    """
    m = np.zeros(len(groups))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        m[idx] = np.bincount(rng.integers(0, len(idx), size=len(idx)), minlength=len(idx))
    return m


def smooth_weeks(a: np.ndarray, sd: float) -> np.ndarray:
    """Pool neighbouring weeks (last axis) with a Gaussian kernel of `sd` weeks, truncated at 3 sd; 0: unchanged.

    Parameters
    ----------
    a : numpy.ndarray
        Weekly values along the last axis.
    sd : float
        Standard deviation of the kernel, in weeks.

    Returns
    -------
    numpy.ndarray
        The kernel is truncated at the ends of the window (zeros outside).
    """
    if sd <= 0:
        return a
    return gaussian_filter1d(a, sd, axis=-1, mode="constant", cval=0.0, truncate=3.0)


def _kernels(sd: float | np.ndarray, n_panels: int) -> list[tuple[float, np.ndarray]]:
    """Each distinct kernel width among `n_panels` panels (`sd` a scalar: the same for all) and its panels' mask."""
    sds = np.broadcast_to(np.asarray(sd, dtype=float), (n_panels,))
    return [(float(value), sds == value) for value in np.unique(sds)]


def _smooth_panels(a: np.ndarray, sd: float | np.ndarray) -> np.ndarray:
    """:func:`smooth_weeks` of each panel (first axis of `a`) with its own `sd` (a scalar: the same for all)."""
    out = np.empty_like(a, dtype=float)
    for value, rows in _kernels(sd, a.shape[0]):
        out[rows] = smooth_weeks(a[rows], value)
    return out


def weekly_shares(
    weights: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray,
    n_trends: int,
    sd: float | np.ndarray,
    pool: np.ndarray | None = None,
) -> np.ndarray:
    r"""Weighted weekly shares of every trend in every panel, pooled over neighbouring weeks or into periods.

    :math:`s_{pt} = \sum_s K(t-s) \sum_i w_{pi} h_{is} / \sum_s K(t-s) \sum_i w_{pi} n_{is}`; with
    `pool`, :math:`K(t-s)` is the (week, period) matrix itself: a period's share is its weeks'
    posts showing the trend over its weeks' posts (months pooled, not the mean of weekly shares).

    Parameters
    ----------
    weights : numpy.ndarray, shape (panel, author)
        Each panel's author weights.
    numerator : numpy.ndarray, shape (author, trend × week)
        Posts showing each trend.
    denominator : numpy.ndarray, shape (author, week)
        Posts.
    n_trends : int
        Trends (the numerator's leading block size).
    sd : float or numpy.ndarray, shape (panel,)
        Kernel standard deviation in weeks (:func:`smooth_weeks`), one for every panel or one per
        panel; 0 gives plain weekly shares. Ignored with `pool`.
    pool : numpy.ndarray, shape (week, period), optional
        Pools weeks into periods (:func:`month_pool`: 1 where a week belongs to a month).

    Returns
    -------
    numpy.ndarray, shape (trend, panel, week) or (trend, panel, period) with `pool`
        NaN where a panel has no post within the kernel (the period).
    """
    n_w = denominator.shape[1]
    top = (weights @ numerator).reshape(len(weights), n_trends, n_w)
    bottom = weights @ denominator
    if pool is None:
        top, bottom = _smooth_panels(top, sd), _smooth_panels(bottom, sd)
    else:
        top, bottom = top @ pool, bottom @ pool
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(bottom[:, None, :] > 0, top / np.where(bottom > 0, bottom, 1.0)[:, None, :], np.nan)
    return out.transpose(1, 0, 2)


def month_pool(weeks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (week, month) matrix that pools weeks into the calendar month of their first day.

    Parameters
    ----------
    weeks : numpy.ndarray of datetime64, shape (week,)
        The weeks' first days (Mondays), increasing.

    Returns
    -------
    pool : numpy.ndarray, shape (week, month)
        1 where the week belongs to the month, else 0; every week in exactly one month.
    months : numpy.ndarray of datetime64, shape (month,)
        The months' first days, increasing (months without a week are absent).
    """
    start = np.asarray(weeks, dtype="datetime64[M]")
    months, index = np.unique(start, return_inverse=True)
    pool = np.zeros((len(start), len(months)))
    pool[np.arange(len(start)), index] = 1.0
    return pool, months.astype("datetime64[ns]")


def bands(
    point: np.ndarray,
    replicates: np.ndarray,
    config: TrendConfig,
    ci_prob: float,
    target_posts: np.ndarray,
    wide: np.ndarray | None = None,
    target_deff: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed bands of every series from its replicates (``config.band``: :class:`bayesseg.config.TrendConfig`).

    Parameters
    ----------
    point : numpy.ndarray, shape (trend, panel, week)
        Point estimates (panel 1 is the fashion-forward one).
    replicates : numpy.ndarray, shape (replicate, trend, panel, week)
        :func:`bayesseg.survey.trends.replicate_shares`.
    config : TrendConfig
        ``band`` and ``smooth_weeks``.
    ci_prob : float
        Probability of the band.
    target_posts : numpy.ndarray, shape (week,)
        Posts of the target each week: the binomial noise of its realised share.
    wide : numpy.ndarray, shape (trend, panel, week), optional
        The point series pooled with each panel's kernel × √2 (``logit_bias``: their difference
        estimates the pooling's bias; zero for a panel not pooled).
    target_deff : numpy.ndarray, shape (trend,), optional
        Design effect of the target's weekly share, posts clustered within authors
        (:func:`cluster_design_effect`); it multiplies the binomial variance. Default 1.

    Returns
    -------
    low, high : numpy.ndarray, shape (trend, panel, week)
        NaN where no replicate has a share.
    """
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # a week without posts in any replicate has no band (NaN), reported by trend_series
        warnings.simplefilter("ignore", RuntimeWarning)
        if config.band == "percentile":
            return np.nanquantile(replicates, lo_q, axis=0), np.nanquantile(replicates, hi_q, axis=0)
        eps = 1e-6
        logit_point = special.logit(np.clip(point, eps, 1 - eps))
        var = np.nanvar(special.logit(np.clip(replicates, eps, 1 - eps)), axis=0, ddof=1)
        # the fashion-forward band covers the target's realised weekly share: add its variance, the
        # binomial one times the design effect of posts clustered within authors
        p_ff = np.clip(point[:, 1, :], eps, 1 - eps)
        deff = np.ones(point.shape[0]) if target_deff is None else np.asarray(target_deff, dtype=float)
        n_t = np.where(target_posts > 0, target_posts, np.nan)[None, :]
        var[:, 1, :] += deff[:, None] / (n_t * p_ff * (1 - p_ff))
        if config.band == "logit_bias" and wide is not None:
            var += (special.logit(np.clip(wide, eps, 1 - eps)) - logit_point) ** 2
        half = stats.norm.ppf(hi_q) * np.sqrt(var)
        return special.expit(logit_point - half), special.expit(logit_point + half)


def cluster_design_effect(numerator: np.ndarray, denominator: np.ndarray, n_trends: int) -> np.ndarray:
    r"""Design effect of each trend's weekly share of all posts when posts are clustered within authors.

    The weekly share :math:`p_t = \sum_i h_{it} / \sum_i n_{it}` is a ratio of totals over
    authors; its linearisation variance with authors as clusters is
    :math:`\sum_i (h_{it} - p_t n_{it})^2 / (\sum_i n_{it})^2` (Cochran 1977, §6.11), against
    :math:`p_t (1 - p_t) / \sum_i n_{it}` if posts were independent. The design effect of a trend is
    the ratio of the two summed over its weeks (one figure per trend: a single week's ratio is too
    noisy for a rare trend). Authors who post a trend again and again make it above 1.

    Parameters
    ----------
    numerator : numpy.ndarray, shape (author, trend × week)
        Trend posts (trend-major, as :class:`bayesseg.survey.weighting.TrendInputs`).
    denominator : numpy.ndarray, shape (author, week)
        Posts.
    n_trends : int
        Trends.

    Returns
    -------
    numpy.ndarray, shape (trend,)
        NaN for a trend without a week of share strictly between 0 and 1.

    References
    ----------
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed. Wiley. ISBN 978-0-471-16240-7.

    Kish, L. (1965). *Survey Sampling*. Wiley (the design effect).
    """
    n_a, n_w = denominator.shape
    h = numerator.reshape(n_a, n_trends, n_w)
    total = denominator.sum(axis=0)  # (week,)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = h.sum(axis=0) / total  # (trend, week)
        cluster = ((h - p[None] * denominator[:, None, :]) ** 2).sum(axis=0) / total**2
        binomial = p * (1 - p) / total
    ok = np.isfinite(p) & (p > 0) & (p < 1)
    num = np.where(ok, cluster, 0.0).sum(axis=1)
    den = np.where(ok, binomial, 0.0).sum(axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def panel_diagnostics(
    weights: np.ndarray, raw_weights: np.ndarray, denominator: np.ndarray, posts: np.ndarray, sd: float | np.ndarray
) -> dict[str, np.ndarray]:
    """Per panel and week: effective number of authors, design effect, authors and posts.

    An author's contribution to a week is :math:`w_i n_{it}`, pooled over neighbouring weeks with
    the kernel when the series are smoothed.

    Parameters
    ----------
    weights : numpy.ndarray, shape (panel, author)
        The point estimate's weights.
    raw_weights : numpy.ndarray, shape (panel, author)
        The unweighted panels' weights (posts of the panel's authors).
    denominator : numpy.ndarray, shape (author, week)
        The shares' denominators (posts, or active authors).
    posts : numpy.ndarray, shape (author, week)
        Posts.
    sd : float or numpy.ndarray, shape (panel,)
        Kernel standard deviation in weeks, for every panel or per panel.

    Returns
    -------
    dict of str to numpy.ndarray, shape (panel, week)
        ``ess`` (Kish), ``design_effect``, ``n_authors`` (posting that week) and ``n_posts``.

    References
    ----------
    Kish, L. (1965). *Survey Sampling*. Wiley. ISBN 978-0-471-10949-5.
    """
    contrib = np.empty((*weights.shape, denominator.shape[1]))  # (panel, author, week)
    for value, rows in _kernels(sd, len(weights)):
        contrib[rows] = weights[rows][:, :, None] * smooth_weeks(denominator, value)[None, :, :]
    return {
        "ess": kish_ess(contrib, axis=1),
        "design_effect": design_effect(contrib, axis=1),
        "n_authors": ((weights[:, :, None] > 0) & (posts[None] > 0)).sum(axis=1),
        "n_posts": raw_weights @ posts,  # posts of the panel's authors (segments: soft counts)
    }


def monthly_series(
    weights: tuple[np.ndarray, np.ndarray, np.ndarray],
    counts: tuple[np.ndarray, np.ndarray, np.ndarray],
    pool: np.ndarray,
    config: TrendConfig,
    ci_prob: float,
    coords: dict[str, Any],
) -> xr.Dataset:
    """Every panel's series pooled by period (month): point estimates, percentile bands, diagnostics.

    Parameters
    ----------
    weights : tuple of numpy.ndarray
        The point weights (panel, author), the unweighted panels' weights (panel, author) and the
        replicates pooled by period (replicate, trend, panel, period).
    counts : tuple of numpy.ndarray
        Numerator (author, trend × week), denominator and posts (author, week), as
        :func:`weekly_shares` and :func:`panel_diagnostics`.
    pool : numpy.ndarray, shape (week, period)
        :func:`month_pool`.
    config : TrendConfig
        The series' configuration (the band is percentile whatever ``config.band`` says).
    ci_prob : float
        Probability of the bands.
    coords : dict
        ``trend``, ``panel`` and ``month`` coordinates.

    Returns
    -------
    xarray.Dataset
        ``raw_share``, ``weighted_share``, ``low``, ``high`` (trend, panel, month); ``ess``,
        ``design_effect``, ``n_authors``, ``n_posts`` (panel, month); ``weeks`` (month).
    """
    w0, raw_w, reps = weights
    numerator, denominator, posts = counts
    n_trends = len(coords[TREND])
    point = weekly_shares(w0, numerator, denominator, n_trends, 0.0, pool)
    raw = weekly_shares(raw_w, numerator, denominator, n_trends, 0.0, pool)
    # percentile bands: a small panel's month is often without a trend post in some replicates, and
    # the logit band's variance then runs to the clip at 1e-6 (bands of ~0.5 around shares of ~0.01);
    # no kernel inside a month, so no pooling bias term either
    target_posts = np.ones(denominator.shape[0]) @ denominator @ pool
    low, high = bands(point, reps, dataclasses.replace(config, band="percentile"), ci_prob, target_posts)
    diag = panel_diagnostics(w0, raw_w, denominator @ pool, posts @ pool, 0.0)
    dims3 = (TREND, PANEL, MONTH)
    return xr.Dataset(
        {
            "raw_share": (dims3, raw),
            "weighted_share": (dims3, point),
            "low": (dims3, low),
            "high": (dims3, high),
            **{name: ((PANEL, MONTH), v) for name, v in diag.items()},
            "weeks": ((MONTH,), pool.sum(axis=0).astype(int)),
        },
        coords=coords,
        attrs={"ci_prob": ci_prob, "weighting": config.weighting, "band": "percentile"},
    )
