r"""Selection the data cannot see: bounds on a corrected share under the marginal sensitivity model.

Inverse-propensity weights remove the selection the propensity model sees. Curators may pick on
what it does not (an eye for accounts that adopt trends early). The marginal sensitivity model
(Tan 2006; Zhao, Small & Bhattacharya 2019) lets the true selection odds of every panel author
differ from the fitted ones by at most a factor :math:`\Gamma \ge 1`:

.. math::

    \Gamma^{-1} \le \frac{e_i / (1 - e_i)}{e^*_i / (1 - e^*_i)} \le \Gamma
    \quad\Longleftrightarrow\quad
    w^*_i = 1 / e^*_i \in \Big[1 + \frac{1/e_i - 1}{\Gamma},\; 1 + \Gamma\,(1/e_i - 1)\Big].

The corrected share of a week is a ratio :math:`\sum_i w_i h_i / \sum_i w_i n_i` (trend posts
over posts of the panel's authors). Its smallest and largest values over every weight inside
those boxes are reached with each weight at an end of its box, the authors sorted by their share
:math:`h_i / n_i` and the weights switching from one end to the other at a threshold (the
linear-fractional program of Zhao et al. 2019, section 4; Dorn & Guo 2022 show these bounds are
valid, if not sharp). :func:`share_bounds` computes them for every week at once.

A conclusion drawn from the corrected series (here: the trend is rising, its late share above its
early share) *flips* at the smallest :math:`\Gamma` whose bounds admit the opposite;
:func:`flip_gamma` finds it by bisection, bounding the late and the early share apart (a
conservative flip: one set of weights cannot reach both bounds at once).

The panel's lead (:func:`bayesseg.survey.panel.best_shift`) is not a ratio of sums, and its
extremes over the box have no closed form. The fashion-forward panel's lead is read against its
comparison group, the other authors weighted by their selection odds :math:`e_i/(1-e_i)`
(:func:`bayesseg.survey.reweight.comparison_weights`), whose true values lie in
:math:`[\Gamma^{-1}, \Gamma]` times the fitted ones (:func:`odds_bounds`). :func:`lead_bounds`
searches the weightings that move the weighted series earliest and latest: the authors sorted by
the mean week of their trend posts, the weights at the top of their box for the earliest authors
and at the bottom for the rest (and the reverse), at every threshold (at most 512, evenly
spaced). Over that family the range of leads is a lower bound on the range the box allows (a
search, not a proof); the lead *flips* at the smallest :math:`\Gamma` whose range reaches 0
(:func:`lead_sensitivity_table`).

References
----------
Tan, Z. (2006). A distributional approach for causal inference using propensity scores. *JASA*
101(476), 1619-1637. https://doi.org/10.1198/016214506000000023

Zhao, Q., Small, D. S., & Bhattacharya, B. B. (2019). Sensitivity analysis for inverse probability
weighting estimators via the percentile bootstrap. *JRSS B* 81(4), 735-761.
https://doi.org/10.1111/rssb.12327

Dorn, J., & Guo, K. (2022). Sharp sensitivity analysis for inverse propensity weighting via
quantile balancing. *JASA* 118(544), 2645-2657. https://doi.org/10.1080/01621459.2022.2069029
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bayesseg.exceptions import InputError
from bayesseg.survey.panel import best_shift
from bayesseg.survey.weekly import smooth_weeks

__all__ = [
    "GAMMAS",
    "flip_gamma",
    "lead_bounds",
    "lead_sensitivity_table",
    "odds_bounds",
    "ratio_bounds",
    "sensitivity_table",
    "share_bounds",
    "weight_bounds",
]

GAMMAS = (1.0, 1.25, 1.5, 2.0, 3.0)
"""The sensitivity parameters the report tabulates."""


def weight_bounds(propensity: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The box of each panel author's true inverse-propensity weight at sensitivity `gamma`.

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        Fitted probabilities of being in the panel, in (0, 1].
    gamma : float
        The largest factor between true and fitted selection odds (>= 1; 1: the fitted weights).

    Returns
    -------
    low, high : numpy.ndarray, shape (author,)

    Raises
    ------
    bayesseg.exceptions.InputError
        If `gamma` < 1 or a propensity is outside (0, 1].
    """
    odds = 1.0 / _checked(propensity, gamma, one=True) - 1.0
    return 1.0 + odds / gamma, 1.0 + odds * gamma


def _check_gamma(gamma: float) -> None:
    if not gamma >= 1:
        raise InputError(f"the sensitivity parameter gamma must be >= 1, got {gamma}")


def _checked(propensity: np.ndarray, gamma: float, one: bool) -> np.ndarray:
    """The propensities as floats, once `gamma` >= 1 and each lies in (0, 1] (`one`) or (0, 1)."""
    e = np.asarray(propensity, dtype=float)
    _check_gamma(gamma)
    if not np.all((e > 0) & ((e <= 1) if one else (e < 1))):
        raise InputError(f"propensities must lie in (0, 1{']' if one else ')'}")
    return e


def odds_bounds(propensity: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The box of each comparison author's true selection odds (its weight toward the panel) at sensitivity `gamma`.

    Under the marginal sensitivity model the true odds lie within a factor `gamma` of the fitted
    :math:`e_i / (1 - e_i)`, the weight :func:`bayesseg.survey.reweight.comparison_weights` gives.

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        Fitted probabilities of being in the panel, in (0, 1).
    gamma : float
        Sensitivity parameter (>= 1).

    Returns
    -------
    low, high : numpy.ndarray, shape (author,)
        The box's ends.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `gamma` < 1 or a propensity is outside the open interval (0, 1).
    """
    e = _checked(propensity, gamma, one=False)
    odds = e / (1.0 - e)
    return odds / gamma, odds * gamma


def _threshold_sums(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per threshold k = 0..n (rows): the first k rows of `first` plus the other rows of `second`, summed.

    `first` and `second` have shape (row, column); the result is (row + 1, column).
    """
    zero = np.zeros((1, first.shape[1]))
    below = np.vstack([zero, np.cumsum(first, axis=0)])
    above = np.vstack([np.cumsum(second[::-1], axis=0)[::-1], zero])
    return below + above


def ratio_bounds(y: np.ndarray, n: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Smallest and largest :math:`\sum_i w_i n_i y_i / \sum_i w_i n_i` over :math:`w_i \in [low_i, high_i]`.

    Parameters
    ----------
    y : numpy.ndarray, shape (author, column)
        Each author's value per column (a week's trend share; any value where ``n`` is 0).
    n : numpy.ndarray, shape (author, column)
        Each author's mass per column (posts), >= 0.
    low, high : numpy.ndarray, shape (author,)
        The weights' boxes (0 < low <= high).

    Returns
    -------
    lower, upper : numpy.ndarray, shape (column,)
        NaN for a column without mass.
    """
    y, n = np.atleast_2d(np.asarray(y, dtype=float)), np.atleast_2d(np.asarray(n, dtype=float))
    order = np.argsort(np.where(n > 0, y, 0.0), axis=0, kind="stable")
    ys = np.take_along_axis(np.where(n > 0, y, 0.0), order, axis=0)
    ns = np.take_along_axis(n, order, axis=0)
    lo, hi = low[order], high[order]

    def extreme(first: np.ndarray, second: np.ndarray, reduce: np.ufunc) -> np.ndarray:
        # weights `first` on the k authors of smallest y, `second` on the rest, for every threshold k
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _threshold_sums(first * ns * ys, second * ns * ys) / _threshold_sums(first * ns, second * ns)
        # fmin / fmax skip NaN (a threshold with no mass) and give NaN only to a column without any
        return reduce.reduce(np.where(np.isfinite(ratio), ratio, np.nan), axis=0)

    # the minimum puts large weights on small values; the maximum, small weights on small values
    return extreme(hi, lo, np.fmin), extreme(lo, hi, np.fmax)


def share_bounds(
    propensity: np.ndarray, hits: np.ndarray, posts: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the panel's inverse-propensity-weighted share of every column at sensitivity `gamma`.

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        The panel authors' fitted propensities.
    hits, posts : numpy.ndarray, shape (author, column)
        Trend posts and posts of each panel author per column (a week, or a period pooled).
    gamma : float
        Sensitivity parameter (>= 1).

    Returns
    -------
    lower, upper : numpy.ndarray, shape (column,)
    """
    low, high = weight_bounds(propensity, gamma)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(posts > 0, hits / np.where(posts > 0, posts, 1.0), 0.0)
    return ratio_bounds(y, posts, low, high)


def flip_gamma(
    propensity: np.ndarray,
    early: tuple[np.ndarray, np.ndarray],
    late: tuple[np.ndarray, np.ndarray],
    max_gamma: float = 10.0,
    tol: float = 0.01,
) -> float:
    """The smallest sensitivity at which "the late share is above the early share" can fail.

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        The panel authors' fitted propensities.
    early, late : tuple of numpy.ndarray, shape (author,)
        Each author's trend posts and posts over the early and the late period.
    max_gamma : float, default 10.0
        Largest sensitivity searched.
    tol : float, default 0.01
        Bisection tolerance.

    Returns
    -------
    float
        1.0 when the conclusion does not hold even with the fitted weights; ``inf`` when it
        survives `max_gamma`.
    """

    def holds(gamma: float) -> bool:
        late_low = share_bounds(propensity, late[0][:, None], late[1][:, None], gamma)[0][0]
        early_high = share_bounds(propensity, early[0][:, None], early[1][:, None], gamma)[1][0]
        return bool(late_low > early_high)

    return _first_failure(holds, max_gamma, tol)


def _first_failure(holds: Callable[[float], bool], max_gamma: float, tol: float) -> float:
    """The smallest gamma at which a conclusion stops holding (bisection; 1 if it fails at 1, inf past `max_gamma`)."""
    if not holds(1.0):
        return 1.0
    if holds(max_gamma):
        return float("inf")
    lo, hi = 1.0, max_gamma
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return round(hi, 2)


def sensitivity_table(
    propensity: np.ndarray,
    hits: np.ndarray,
    posts: np.ndarray,
    trends: list[str],
    period_weeks: int = 13,
    gammas: tuple[float, ...] = GAMMAS,
) -> pd.DataFrame:
    """Per trend: the corrected early and late shares' bounds at each gamma, and the gamma that flips "rising".

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        The panel authors' fitted propensities.
    hits : numpy.ndarray, shape (author, trend, week)
        The panel authors' trend posts per week.
    posts : numpy.ndarray, shape (author, week)
        Their posts per week.
    trends : list of str
        Trend names.
    period_weeks : int, default 13
        The early period is the first `period_weeks` weeks, the late one the last.
    gammas : tuple of float
        Sensitivities tabulated.

    Returns
    -------
    pandas.DataFrame
        Index (``trend``, ``gamma``): ``early_low``, ``early_high``, ``late_low``, ``late_high``;
        and, repeated on each row of a trend, ``direction`` (``rising`` or ``falling`` under the
        fitted weights) and ``flip_gamma`` (:func:`flip_gamma`, for the direction found).

    Raises
    ------
    bayesseg.exceptions.InputError
        If the window is shorter than two periods.
    """
    n_weeks = posts.shape[1]
    if n_weeks < 2 * period_weeks:
        raise InputError(f"{n_weeks} weeks are fewer than two periods of {period_weeks} weeks")
    rows = []
    for j, trend in enumerate(trends):
        early = (hits[:, j, :period_weeks].sum(axis=1), posts[:, :period_weeks].sum(axis=1))
        late = (hits[:, j, -period_weeks:].sum(axis=1), posts[:, -period_weeks:].sum(axis=1))
        bounds = {}
        for g in gammas:
            e_lo, e_hi = share_bounds(propensity, early[0][:, None], early[1][:, None], g)
            l_lo, l_hi = share_bounds(propensity, late[0][:, None], late[1][:, None], g)
            bounds[g] = (e_lo[0], e_hi[0], l_lo[0], l_hi[0])
        rising = bounds[1.0][2] > bounds[1.0][0]
        # a falling trend flips when its early share can fall below its late one: swap the periods
        flip = flip_gamma(propensity, early, late) if rising else flip_gamma(propensity, late, early)
        for g, (e_lo, e_hi, l_lo, l_hi) in bounds.items():
            rows.append((trend, g, e_lo, e_hi, l_lo, l_hi, "rising" if rising else "falling", flip))
    cols = ["trend", "gamma", "early_low", "early_high", "late_low", "late_high", "direction", "flip_gamma"]
    return pd.DataFrame(rows, columns=cols).set_index(["trend", "gamma"])


def lead_bounds(
    propensity: np.ndarray,
    hits: np.ndarray,
    posts: np.ndarray,
    target: np.ndarray,
    gamma: float,
    max_lead: int,
    smooth_sd: float = 0.0,
    panel_posts: np.ndarray | None = None,
    max_thresholds: int = 512,
) -> tuple[float, float]:
    """The range of a lead across the timing-ordered threshold weightings of the box.

    Without `panel_posts`: the authors are the panel's, weighted by inverse propensities in
    their box (:func:`weight_bounds`), and the lead is their series' over `target`. With
    `panel_posts`: the authors are the panel's comparison group, weighted by selection odds in
    their box (:func:`odds_bounds`), `target` is the panel's (unweighted) series, and the lead
    is the panel's over the comparison group's (the lead :func:`bayesseg.survey.panel.panel_lead`
    reads for the fashion-forward panel).

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        The authors' fitted panel propensities.
    hits, posts : numpy.ndarray, shape (author, week)
        Each author's trend posts and posts per week.
    target : numpy.ndarray, shape (week,)
        The series the authors' is compared with (pooled as theirs is).
    gamma : float
        Sensitivity parameter (>= 1).
    max_lead : int
        Shifts compared, either way (:func:`bayesseg.survey.panel.best_shift`).
    smooth_sd : float, default 0.0
        Gaussian pooling of the weeks, as the series (:func:`bayesseg.survey.weekly.smooth_weeks`).
    panel_posts : numpy.ndarray, shape (week,), optional
        The panel's posts per week: the authors are its comparison group (above).
    max_thresholds : int, default 512
        At most this many thresholds, evenly spaced over the authors, are searched.

    Returns
    -------
    low, high : float
        Smallest and largest lead found (NaN when no weighting gives one).
    """
    search = _TimingSearch(propensity, hits, posts, panel_posts is not None, max_thresholds)
    return _search_bounds(search, target, gamma, max_lead, smooth_sd, panel_posts)


def _search_bounds(
    search: _TimingSearch, target: np.ndarray, gamma: float, max_lead: int, smooth_sd: float, panel_posts: Any
) -> tuple[float, float]:
    """:func:`lead_bounds` on a precomputed search."""
    moving = search.series(gamma, smooth_sd)
    fixed = np.broadcast_to(target, moving.shape)
    if panel_posts is not None:
        leads, _ = best_shift(fixed, moving, max_lead, panel_posts)
    else:
        leads, _ = best_shift(moving, fixed, max_lead, search.posts)
    if not np.isfinite(leads).any():
        return float("nan"), float("nan")
    return float(np.nanmin(leads)), float(np.nanmax(leads))


class _TimingSearch:
    """The timing-ordered threshold weightings of :func:`lead_bounds` for one trend, precomputed for every gamma.

    Every weight of the box is ``base + odds * f`` with ``f`` = gamma or 1/gamma (base 1 for
    inverse propensities, 0 for odds), so the authors between two searched thresholds enter as
    two gamma-free block sums (of ``x`` and of ``odds * x``) and a gamma costs a cumulative sum
    over the blocks.
    """

    def __init__(
        self, propensity: np.ndarray, hits: np.ndarray, posts: np.ndarray, comparison: bool, max_thresholds: int
    ) -> None:
        low, _ = (odds_bounds if comparison else weight_bounds)(propensity, 1.0)  # checks the propensities
        self.base = 0.0 if comparison else 1.0
        odds = low - self.base
        hits, posts = np.asarray(hits, dtype=float), np.asarray(posts, dtype=float)
        self.posts = posts.sum(axis=0)
        week = np.arange(hits.shape[1], dtype=float)
        total = hits.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            timing = np.where(total > 0, hits @ week / total, np.nan)
        timing = np.where(np.isfinite(timing), timing, np.nanmedian(timing) if np.isfinite(timing).any() else 0.0)
        order = np.argsort(timing, kind="stable")
        n = len(order)
        grid = np.unique(np.linspace(0, n, min(max_thresholds, n + 1)).round().astype(int))
        h, c, o = hits[order], posts[order], odds[order, None]
        # per block of authors between two thresholds: sums of h, odds h, n, odds n (block, week)
        self.blocks = [np.add.reduceat(x, grid[:-1], axis=0) for x in (h, o * h, c, o * c)] if n else []

    def series(self, gamma: float, smooth_sd: float) -> np.ndarray:
        """The weighted series at every searched threshold, earliest authors up then down: (2 * threshold, week)."""
        _check_gamma(gamma)
        if not self.blocks:
            return np.full((1, len(self.posts)), np.nan)
        h, oh, c, oc = self.blocks
        out = []
        for f_first, f_second in ((gamma, 1 / gamma), (1 / gamma, gamma)):
            sums = [
                _threshold_sums(self.base * x + f_first * ox, self.base * x + f_second * ox)
                for x, ox in ((h, oh), (c, oc))
            ]
            num, den = (smooth_weeks(v, smooth_sd) for v in sums)
            with np.errstate(invalid="ignore", divide="ignore"):
                out.append(np.where(den > 0, num / den, np.nan))
        return np.vstack(out)


def _sign_flip(bounds: Callable[[float], tuple[float, float]], point: float, max_gamma: float, tol: float) -> float:
    """The smallest gamma whose range `bounds(gamma)` reaches 0, for a `point` lead other than 0 (bisection)."""
    if not np.isfinite(point) or point == 0:
        return float("nan")

    def holds(g: float) -> bool:
        low, high = bounds(g)
        return bool(low > 0) if point > 0 else bool(high < 0)

    return _first_failure(holds, max_gamma, tol)


def lead_sensitivity_table(
    propensity: np.ndarray,
    hits: np.ndarray,
    posts: np.ndarray,
    target: np.ndarray,
    trends: list[str],
    max_lead: int,
    smooth_sd: float = 0.0,
    gammas: tuple[float, ...] = GAMMAS,
    max_gamma: float = 10.0,
    tol: float = 0.01,
    panel_posts: np.ndarray | None = None,
    max_thresholds: int = 512,
) -> pd.DataFrame:
    """Per trend: the lead's range at each gamma (:func:`lead_bounds`) and the gamma at which its sign can flip.

    Parameters
    ----------
    propensity : numpy.ndarray, shape (author,)
        The authors' fitted panel propensities (the panel's, or its comparison group's: `panel_posts`).
    hits : numpy.ndarray, shape (author, trend, week)
        Their trend posts per week.
    posts : numpy.ndarray, shape (author, week)
        Their posts per week.
    target : numpy.ndarray, shape (trend, week)
        The series theirs is compared with (the target's, or the panel's).
    trends : list of str
        Trend names.
    max_lead : int
        Shifts compared, either way.
    smooth_sd : float, default 0.0
        Gaussian pooling of the weeks.
    gammas : tuple of float
        Sensitivities tabulated.
    max_gamma, tol : float
        Range and tolerance of the bisection.
    panel_posts : numpy.ndarray, shape (week,), optional
        The panel's posts per week: the authors are its comparison group and `target` the
        panel's series (:func:`lead_bounds`).
    max_thresholds : int, default 512
        As :func:`lead_bounds`.

    Returns
    -------
    pandas.DataFrame
        Index (``trend``, ``gamma``): ``lead_low``, ``lead_high``; and, repeated on each row of a
        trend, ``lead_flip_gamma``: for a lead other than 0 under the fitted weights, the smallest
        gamma whose range reaches 0 (``inf`` beyond `max_gamma`); NaN for a lead of 0 or none.
    """
    rows = []
    for j, trend in enumerate(trends):
        search = _TimingSearch(propensity, hits[:, j], posts, panel_posts is not None, max_thresholds)

        def bounds(g: float, search: _TimingSearch = search, j: int = j) -> tuple[float, float]:
            return _search_bounds(search, target[j], g, max_lead, smooth_sd, panel_posts)

        found = {g: bounds(g) for g in gammas}
        point = found[1.0][0] if 1.0 in found else bounds(1.0)[0]  # the fitted weights' lead
        flip = _sign_flip(bounds, point, max_gamma, tol)
        for g, (low, high) in found.items():
            rows.append((trend, g, low, high, flip))
    return pd.DataFrame(rows, columns=["trend", "gamma", "lead_low", "lead_high", "lead_flip_gamma"]).set_index(
        ["trend", "gamma"]
    )
