r"""What a panel's series says beside the target's: its gap, split into composition and behaviour, and its lead.

**Composition and behaviour.** Over the whole window, a panel's share of posts showing a trend
differs from the target's by a gap :math:`s^{raw} - s^{target}`. Reweighting the panel to the
target's composition on the weighting variables (followers, engagement, segment memberships:
:class:`bayesseg.survey.weighting.PanelWeighting`) gives :math:`s^{w}`, and

.. math::

    \underbrace{s^{raw} - s^{target}}_{\text{gap}}
    = \underbrace{s^{raw} - s^{w}}_{\text{composition}}
    + \underbrace{s^{w} - s^{target}}_{\text{behaviour}},

the reweighting decomposition of DiNardo, Fortin & Lemieux (1996): *composition* is the part of
the gap the panel's make-up on the weighting variables explains (big, luxury-heavy accounts);
*behaviour* is what remains at the target's composition: the panel's authors posting the trend
differently from comparable authors, together with any composition on variables the weights do not
see. Each share pools the window's posts (the trend's posts over all posts); the bands are
percentiles over the bootstrap × posterior replicates of :func:`bayesseg.survey.trends.replicate_shares`.

**Lead.** Per trend and panel, the lead :math:`L` (weeks) is the shift that best aligns the
panel's weekly series with a reference series up to a constant factor :math:`c`: the panel's share
of week :math:`t` is compared with :math:`c` times the reference's of week :math:`t + L` by the
Poisson deviance weighted by the panel's posts of the week, :math:`c` profiled out, over
:math:`|L| \le` ``max_lead`` and the weeks both series cover (a positive lead: the panel shows the
trend's moves :math:`L` weeks before the reference). The deviance weighs each week by what the
panel saw of it, and a week without a trend post counts as a share of 0 (a least-squares fit of
the log shares gave the sparse early weeks of a rising trend, floored before the log, the most
weight). A constant factor absorbs a level difference (behaviour) without absorbing a shift.

The fashion-forward panel's own (unweighted) series is compared with its *comparison group*: the
other authors weighted to the panel's composition by their selection odds
(:func:`bayesseg.survey.reweight.comparison_weights`; the weighting of an effect on the treated,
Hirano, Imbens & Ridder 2003). Its lead is then its authors' timing against comparable authors,
not its make-up, and the panel's posts count once each: reweighting the panel toward all authors
instead gives its rare kinds of authors weights up to the trimming cap, and the lead read from that
series was one to three weeks off on selection seeds where this one is exact, and at a lead of 4
weeks unidentified on half the benchmark's seeds (``benchmarks/RESULTS.md``). Other panels
(tiers, segments) are read through their series corrected toward all authors' composition,
against all authors'.

**Pooled lead.** A panel's lead on rising trends (``TREND`` = :data:`bayesseg.survey.panel.POOLED`)
is one shift for every trend whose target series rises over the window (its last quarter's mean
share at least ``min_rise`` times its first's, :func:`bayesseg.survey.panel.rising_trends`): the
trends' deviances are added at each shift, each trend keeping its own factor :math:`c`, so each
weighs by what the panel saw of it. It answers "is the panel ahead on what is rising?" where one
trend cannot: a trend whose rise is carried by a handful of the panel's authors (running sneakers
among the simulator's sportswear accounts) has too few posts to be timed alone, and borrows the
timing of the others; if the trends' leads differ, the pooled lead is their compromise, weighted by
information, and the per-trend rows say so.

The interval is the percentile interval of :math:`\hat L` over the replicates. A lead is *not
identified* when the target series is flat (coefficient of variation over the weeks below
``min_variation``: a shift of a flat series changes nothing), when the estimate or its interval
reaches an end of the search window (the fit cannot tell shifts apart), or when the estimate lies
outside its own interval (the criterion has several minima, which the replicates share out).

References
----------
Hirano, K., Imbens, G. W., & Ridder, G. (2003). Efficient estimation of average treatment effects
using the estimated propensity score. *Econometrica* 71(4), 1161-1189. https://doi.org/10.1111/1468-0262.00442

DiNardo, J., Fortin, N. M., & Lemieux, T. (1996). Labor market institutions and the distribution of
wages, 1973-1992: a semiparametric approach. *Econometrica* 64(5), 1001-1044.
https://doi.org/10.2307/2171954

Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
https://doi.org/10.1201/9780429246593
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.dims import PANEL, REPLICATE, TREND, WEEK
from bayesseg.exceptions import InputError

__all__ = ["LEAD_COLUMNS", "POOLED", "best_shift", "gap_decomposition", "panel_lead", "rising_trends"]

COMPARED = "fashion_forward"
"""The panel whose lead is read against its comparison group (the other authors weighted to its composition)."""

POOLED = "rising trends"
"""``TREND`` of a panel's pooled lead in :func:`panel_lead`: one shift for every rising trend (no trend is named so:
a trend's name has a colon)."""

LEAD_COLUMNS = ("TREND", "PANEL", "LEAD_WEEKS", "LOW", "HIGH", "N_WEEKS", "STATUS")
"""Columns of ``panel_lead.csv`` and of the PANEL_LEAD table."""


def gap_decomposition(point: np.ndarray, replicates: np.ndarray, trends: list[str], ci_prob: float) -> pd.DataFrame:
    """Split each trend's panel-minus-target gap into a composition part and a behaviour part, with bands.

    Parameters
    ----------
    point : numpy.ndarray, shape (trend, 3)
        Window-pooled shares: the target's, the panel's reweighted to the target, the panel's raw.
    replicates : numpy.ndarray, shape (replicate, trend, 3)
        The same per bootstrap × posterior replicate (NaN rows: replicates that failed).
    trends : list of str
        Trend names.
    ci_prob : float
        Probability of the percentile bands.

    Returns
    -------
    pandas.DataFrame
        Index ``trend``: ``target_share``, ``panel_raw_share``, ``panel_weighted_share``, and
        ``gap``, ``composition``, ``behaviour`` (share points; gap = composition + behaviour),
        each of the last three with ``_low`` and ``_high``.

    Raises
    ------
    bayesseg.exceptions.InputError
        If the shapes disagree.
    """
    point, replicates = np.asarray(point, dtype=float), np.asarray(replicates, dtype=float)
    if point.shape != (len(trends), 3) or replicates.shape[1:] != point.shape:
        raise InputError(f"point {point.shape} and replicates {replicates.shape} do not match {len(trends)} trends x 3")

    def parts(a: np.ndarray) -> dict[str, np.ndarray]:
        target, weighted, raw = a[..., 0], a[..., 1], a[..., 2]
        return {"gap": raw - target, "composition": raw - weighted, "behaviour": weighted - target}

    lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    frame = pd.DataFrame(
        {"target_share": point[:, 0], "panel_raw_share": point[:, 2], "panel_weighted_share": point[:, 1]},
        index=pd.Index(trends, name=TREND),
    )
    reps = parts(replicates)
    for name, value in parts(point).items():
        frame[name] = value
        frame[f"{name}_low"] = np.nanquantile(reps[name], lo, axis=0)
        frame[f"{name}_high"] = np.nanquantile(reps[name], hi, axis=0)
    return frame


def _shift_fits(
    panel: np.ndarray, target: np.ndarray, max_lead: int, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shifts (nearest zero first), the criterion of each (shift, row) and the weeks it compares."""
    p = np.atleast_2d(np.asarray(panel, dtype=float))
    a = np.atleast_2d(np.asarray(target, dtype=float))
    n = p.shape[1]
    w_all = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    shifts = np.array(sorted(range(-max_lead, max_lead + 1), key=abs))  # nearest zero first: ties keep it
    fits = np.full((len(shifts), p.shape[0]), np.inf)
    counts = np.zeros((len(shifts), p.shape[0]), dtype=int)
    for j, lead in enumerate(shifts):
        # panel at week t against target at week t + lead
        pp = p[:, max(0, -lead) : n - max(0, lead)]
        aa = a[:, max(0, lead) : n - max(0, -lead)]
        ok = np.isfinite(pp) & np.isfinite(aa) & (w_all[max(0, -lead) : n - max(0, lead)] > 0)
        w = np.where(ok, w_all[max(0, -lead) : n - max(0, lead)], 0.0)
        pp, aa = np.where(ok, pp, 0.0), np.where(ok, aa, 0.0)
        counts[j] = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (w * pp).sum(axis=1) / (w * aa).sum(axis=1)
            mu = c[:, None] * aa
            dev = w * (np.where(pp > 0, pp * np.log(pp / mu), 0.0) - pp + mu)
            crit = dev.sum(axis=1) / w.sum(axis=1)
        fits[j] = np.where((counts[j] >= 3) & np.isfinite(crit), crit, np.inf)
    return shifts, fits, counts


def _best(shifts: np.ndarray, fits: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shift of least criterion per row (the first: nearest zero among equals) and its weeks; NaN and 0 if none."""
    best = np.argmin(fits, axis=0)
    rows = np.arange(fits.shape[1])
    found = np.isfinite(fits[best, rows])
    return np.where(found, shifts[best].astype(float), np.nan), np.where(found, counts[best, rows], 0)


def best_shift(
    panel: np.ndarray, target: np.ndarray, max_lead: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""The shift aligning `panel` with `target` best up to a constant factor (the module's criterion).

    For each shift :math:`L`, the panel's share of week :math:`t` is compared with the target's of
    week :math:`t + L` scaled by :math:`c`, by the Poisson deviance
    :math:`\sum_t n_t [p_t \log(p_t / c a_{t+L}) - p_t + c a_{t+L}]` with :math:`n_t` the panel's
    posts (its information about that week's share) and :math:`c` its minimiser
    :math:`\sum_t n_t p_t / \sum_t n_t a_{t+L}`; the criterion is that deviance per unit weight.

    Parameters
    ----------
    panel, target : numpy.ndarray, shape (week,) or (replicate, week)
        Weekly shares, one series or one per row (NaN weeks are left out; a week without a trend
        post has share 0 and counts).
    max_lead : int
        Shifts from ``-max_lead`` to ``max_lead`` weeks are compared.
    weights : numpy.ndarray, shape (week,), optional
        The panel's posts per week (default 1 per week).

    Returns
    -------
    lead : numpy.ndarray of float, shape () or (replicate,)
        Weeks by which `panel` is ahead of `target` (NaN where no shift leaves 3 common weeks or
        the target has no mass); of shifts that fit equally well, the one nearest zero.
    n_weeks : numpy.ndarray of int, shape () or (replicate,)
        Weeks compared at that shift.
    """
    lead_out, n_out = _best(*_shift_fits(panel, target, max_lead, weights))
    return (lead_out[0], n_out[0]) if np.asarray(panel).ndim == 1 else (lead_out, n_out)


def rising_trends(series: xr.Dataset, min_rise: float = 1.5, target: str = "all") -> list[str]:
    """The trends whose `target` series rises over the window: the last quarter's mean share over the first's.

    Parameters
    ----------
    series : xarray.Dataset
        As :func:`panel_lead`'s (``weighted_share``, dims trend, panel, week).
    min_rise : float, default 1.5
        A trend rises when the last quarter's mean weekly share (the weeks split in four) is at
        least this many times the first quarter's.
    target : str, default "all"
        The panel whose series is read.

    Returns
    -------
    list of str
        The rising trends, in the order of `series`.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `min_rise` is not above 1, `target` is not a panel, or there are fewer than 4 weeks.
    """
    if not min_rise > 1:
        raise InputError(f"min_rise must be above 1, got {min_rise!r}")
    if target not in series[PANEL].values:
        raise InputError(f"target panel {target!r} is not among the panels {list(series[PANEL].values)}")
    quarter = series.sizes[WEEK] // 4
    if quarter < 1:
        raise InputError(f"a rise needs at least 4 weeks, got {series.sizes[WEEK]}")
    share = series["weighted_share"].sel(panel=target).transpose(TREND, WEEK).values
    with warnings.catch_warnings():  # a quarter without posts (NaN weeks only) has no mean: not rising
        warnings.simplefilter("ignore", RuntimeWarning)
        early, late = np.nanmean(share[:, :quarter], axis=1), np.nanmean(share[:, -quarter:], axis=1)
    return [str(t) for t, e, lt in zip(series[TREND].values, early, late, strict=True) if lt >= min_rise * e and lt > 0]


def _pair(
    series: xr.Dataset, trend: str, panel: str, target: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A panel's series, the one it is read against, both per replicate, and the panel's posts per week."""
    posts = series["n_posts"].sel(panel=panel).values if "n_posts" in series else None
    if panel == COMPARED and "comparison_share" in series:  # the panel against its comparison group
        pair = series["lead_pair_share"].sel(trend=trend).transpose(REPLICATE, "pair", WEEK).values
        mine = series["raw_share"].sel(trend=trend, panel=panel).values
        return mine, series["comparison_share"].sel(trend=trend).values, pair[:, 0], pair[:, 1], posts
    share = series["share"].sel(trend=trend).transpose(PANEL, REPLICATE, WEEK)
    weighted = series["weighted_share"].sel(trend=trend)
    return (
        weighted.sel(panel=panel).values, weighted.sel(panel=target).values,
        share.sel(panel=panel).values, share.sel(panel=target).values, posts,
    )  # fmt: skip


Fits = tuple[np.ndarray, np.ndarray, np.ndarray]


def _lead_row(point: Fits, replicated: Fits, max_lead: int, probs: tuple[float, float], status: str) -> tuple:
    """LEAD_WEEKS, LOW, HIGH, N_WEEKS and STATUS from the criterion of the point series and of the replicates."""
    lead_0, n_0 = _best(*point)
    lead, n = float(lead_0[0]), int(n_0[0])
    draws = _best(*replicated)[0]
    draws = draws[np.isfinite(draws)]
    low, high = (float(q) for q in np.quantile(draws, probs)) if draws.size else (np.nan, np.nan)
    if status == "identified":  # unless the caller knows better (a flat trend)
        if not draws.size or not np.isfinite(lead) or min(low, lead) <= -max_lead or max(high, lead) >= max_lead:
            status = "not identified: interval reaches the search window"
        elif not low <= lead <= high:
            status = "not identified: estimate outside its interval"
    if status != "identified":
        lead, low, high = np.nan, np.nan, np.nan
    return lead, low, high, n, status


def _summed(fits: list[Fits]) -> Fits:
    """The criterion of several trends read with one shift: their deviances add (each trend's own factor c)."""
    shifts = fits[0][0]
    return shifts, np.sum([f[1] for f in fits], axis=0), np.min([f[2] for f in fits], axis=0)


def panel_lead(
    series: xr.Dataset,
    *,
    max_lead: int = 8,
    ci_prob: float = 0.9,
    min_variation: float = 0.1,
    target: str = "all",
    min_rise: float = 1.5,
) -> pd.DataFrame:
    """The lead of each panel's weekly series, per trend and over the rising trends, with a bootstrap interval.

    The fashion-forward panel's raw series is read against its comparison group's
    (``comparison_share`` and the replicates' ``lead_pair_share``, when `series` has them); every
    other panel's weighted series against the target's. Each panel's *pooled* lead (``TREND`` =
    :data:`bayesseg.survey.panel.POOLED`) is one shift for every trend the target's series shows rising
    (:func:`bayesseg.survey.panel.rising_trends`): the trends' deviances are added, each keeping its own factor
    :math:`c`, so a trend weighs by what the panel saw of it. It is the panel's lead on rising
    trends, which a trend whose rise is carried by few of the panel's authors cannot time alone.

    Parameters
    ----------
    series : xarray.Dataset
        The ``series`` of a :class:`bayesseg.survey.trends.TrendResult`: ``weighted_share`` and ``raw_share``
        (trend, panel, week), ``share`` (replicate, trend, panel, week); optionally ``n_posts`` (panel, week),
        ``comparison_share`` (trend, week) and ``lead_pair_share`` (replicate, trend, pair, week).
    max_lead : int, default 8
        Largest shift compared, in weeks, either way.
    ci_prob : float, default 0.9
        Probability of the percentile interval over the replicates.
    min_variation : float, default 0.1
        A target series whose coefficient of variation over the weeks is below this is flat: its
        lead is not identified.
    target : str, default "all"
        The panel the others are compared with.
    min_rise : float, default 1.5
        A trend is pooled when its target series' last quarter is at least this many times its first
        (:func:`bayesseg.survey.panel.rising_trends`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`bayesseg.survey.panel.LEAD_COLUMNS`, a row per trend and panel other than `target`,
        then a row per panel with ``TREND`` = :data:`bayesseg.survey.panel.POOLED`:
        ``LEAD_WEEKS`` (positive: the panel moves first), ``LOW``, ``HIGH``, ``N_WEEKS`` (weeks compared),
        ``STATUS`` (``identified``, ``not identified: flat trend``, ``not identified: interval
        reaches the search window``, ``not identified: estimate outside its interval``, when the
        fit's criterion has several minima the replicates share out, or, pooled, ``not identified:
        no rising trend``; LEAD_WEEKS, LOW and HIGH are then NaN).

    Raises
    ------
    bayesseg.exceptions.InputError
        If `max_lead` is not positive or leaves fewer than 3 weeks, `target` is not a panel, or
        `min_rise` is not above 1.
    """
    n_weeks = series.sizes[WEEK]
    if max_lead < 1 or n_weeks - max_lead < 3:
        raise InputError(f"max_lead must be between 1 and {n_weeks - 3} weeks for {n_weeks} weeks, got {max_lead}")
    rising = rising_trends(series, min_rise, target)
    probs = ((1 - ci_prob) / 2, (1 + ci_prob) / 2)
    panels = [str(p) for p in series[PANEL].values if p != target]
    rows = []
    pooled: dict[str, list[tuple[Fits, Fits]]] = {panel: [] for panel in panels}
    for trend in map(str, series[TREND].values):
        ref = series["weighted_share"].sel(trend=trend, panel=target).values
        with np.errstate(invalid="ignore", divide="ignore"):
            variation = float(np.nanstd(ref) / np.nanmean(ref)) if np.isfinite(ref).any() else 0.0
        status = "identified" if variation >= min_variation else "not identified: flat trend"
        for panel in panels:
            mine, other, reps, other_reps, posts = _pair(series, trend, panel, target)
            fits = (_shift_fits(mine, other, max_lead, posts), _shift_fits(reps, other_reps, max_lead, posts))
            rows.append((trend, panel, *_lead_row(*fits, max_lead, probs, status)))
            if trend in rising:
                pooled[panel].append(fits)
    for panel, both in pooled.items():
        if both:
            point, replicated = _summed([b[0] for b in both]), _summed([b[1] for b in both])
            rows.append((POOLED, panel, *_lead_row(point, replicated, max_lead, probs, "identified")))
        else:
            rows.append((POOLED, panel, np.nan, np.nan, np.nan, 0, "not identified: no rising trend"))
    return pd.DataFrame(rows, columns=list(LEAD_COLUMNS))
