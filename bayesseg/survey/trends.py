r"""Weekly trend series of panels, corrected toward a target population, with bootstrap bands.

A *trend* is a label, or labels shown together in one image (``pattern:stripes``,
``pattern:stripes+object_detection:top``). Its weekly visibility in a panel is the share of the
panel's posts that show it: :math:`s_t = \sum_i w_i h_{it} / \sum_i w_i n_{it}`, with
:math:`h_{it}` the posts of author *i* in week *t* showing the trend, :math:`n_{it}` all of the
author's posts that week, and :math:`w_i` the author's weight in the panel. The counts come from
SQL run in the warehouse (:func:`bayesseg.data.aggregate.trend_data`).

Panels (the ``panel`` dimension):

* ``all``: the target population, every author with posts (weight 1);
* ``fashion_forward``: the hand-picked panel (FASHION_INTEREST_SEGMENT). Its *raw* series weights
  its authors equally; its *weighted* series reweights them toward the target with
  :mod:`bayesseg.survey.reweight` (inverse propensity, post-stratification on segment × tier, or raking to
  the segment and tier margins);
* ``tier:<name>``: the current follower tiers;
* ``segment:<name>``: bayesseg's segments with soft membership, author *i* counting with weight
  :math:`r_{ik}` (its posterior membership probability under one posterior draw);
* ``platform``, with margins: every author calibrated to the platform population's known margins
  (:mod:`bayesseg.survey.margins`).

Uncertainty. Bands come from :math:`B` replicates, each pairing one posterior draw of the
memberships with one bootstrap resample of the authors (panel and non-panel authors resampled
separately, the propensity model refitted on the resample). The author bootstrap carries the
sampling variance of a panel of a few hundred accounts, with every post of an author kept
together (posts of one author are not independent), and the uncertainty of the estimated
propensities; the posterior draws carry the segmentation's uncertainty into the propensity
covariates, the post-stratification cells and the segment series, as in multiple imputation.
A Bayesian propensity model would add little here: the propensity's own estimation error is
small next to the panel's sampling variance, which a model of the propensity alone would not
capture.

:func:`trend_series` composes small functions, each usable alone:
:func:`bayesseg.survey.weekly.weekly_shares` (pooled weighted shares),
:class:`bayesseg.survey.weighting.PanelWeighting` (the fashion-forward panel's weights for one replicate),
:func:`replicate_shares` (the bootstrap × posterior replicates), :func:`bayesseg.survey.weekly.bands` and
:func:`bayesseg.survey.weekly.panel_diagnostics` (effective sample size, design effect).

References
----------
Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
https://doi.org/10.1201/9780429246593

Rao, J. N. K., & Wu, C. F. J. (1988). Resampling inference with complex survey data.
*JASA* 83(401), 231-241. https://doi.org/10.1080/01621459.1988.10478591

Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
https://doi.org/10.1002/9780470316696

Hájek, J. (1971). Comment on "An essay on the logical foundations of survey sampling" by
D. Basu. In *Foundations of Statistical Inference*, Holt, Rinehart and Winston, p. 236.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import TIER_NAMES, TrendConfig
from bayesseg.dims import AUTHOR, MONTH, PANEL, REPLICATE, TREND, WEEK
from bayesseg.exceptions import InputError, WeightsError
from bayesseg.survey.margins import Margins, PlatformTarget
from bayesseg.survey.panel import gap_decomposition, panel_lead
from bayesseg.survey.sensitivity import lead_sensitivity_table, sensitivity_table
from bayesseg.survey.weekly import (
    bands,
    bootstrap_counts,
    cluster_design_effect,
    month_pool,
    monthly_series,
    panel_diagnostics,
    smooth_weeks,
    weekly_shares,
)
from bayesseg.survey.weighting import (
    PanelWeighting,
    TrendInputs,
    balance_table,
    pre_period_design,
    pre_period_test,
    prepare_trend_inputs,
)

__all__ = [
    "TREND_SERIES_COLUMNS",
    "Replicates",
    "TrendResult",
    "comparison_pair",
    "replicate_shares",
    "trend_series",
]

PAIR = ["panel", "comparison"]
"""The ``pair`` dim of ``lead_pair_share``: the fashion-forward panel unweighted, and its comparison group."""

TREND_SERIES_COLUMNS = ("TREND", "PANEL", "WEEK", "RAW_SHARE", "WEIGHTED_SHARE", "LOW", "HIGH", "ESS")
"""Columns of the TREND_SERIES table and of ``trend_series.csv``."""


@dataclass
class TrendResult:
    """Trend series with their bands, the fashion-forward panel's weights and diagnostics.

    Attributes
    ----------
    series : xarray.Dataset
        ``raw_share`` (unweighted panel, pooled over weeks as the weighted one) and
        ``weighted_share`` (trend, panel, week); ``raw_weekly_share``, the unweighted share of
        each single week (the series as panels report it today); ``share`` (replicate, trend, panel,
        week), the replicates; ``low`` and ``high`` (trend, panel, week), the equal-tailed band
        of probability ``attrs["ci_prob"]``; ``ess``, ``design_effect``, ``n_authors`` and
        ``n_posts`` (panel, week); ``comparison_share`` (trend, week), the fashion-forward panel's
        comparison group (the other authors weighted to its composition, pooled as the panel), and
        ``lead_pair_share`` (replicate, trend, pair, week), the panel unweighted and that group
        per replicate: the lead's two series (:func:`bayesseg.survey.panel.panel_lead`).
    weights : pandas.DataFrame
        Index ``author`` (the panel's): ``weight`` (final, after trimming), ``propensity`` (when
        the weighting is by propensity).
    balance : pandas.DataFrame
        Index ``covariate``: ``asmd_before`` and ``asmd_after``, the panel against the target.
    summary : dict
        Counts (target, panel, authors without a segmentation and how they were handled), the
        weighting, trimming and its design effects, replicates, weeks and months below the ESS
        floor, and ``weekly_readable`` (:attr:`weekly_readable`).
    warnings : list of str
        What the reader must know: weeks under the ESS floor, weeks without posts, trimming.
    monthly : xarray.Dataset, optional
        The same series pooled by calendar month (dim ``month``, the first day): a month's share is
        its weeks' trend posts over their posts, under the same weights and replicates (no
        smoothing; percentile bands of the pooled replicates, which a month without a trend post in
        some replicates does not break). ``raw_share``, ``weighted_share``, ``low``, ``high`` (trend, panel, month);
        ``ess``, ``design_effect``, ``n_authors``, ``n_posts`` (panel, month); ``weeks``
        (month), the weeks pooled.
    decomposition : pandas.DataFrame, optional
        Per trend, the fashion-forward panel's gap to the target over the whole window, split into
        composition and behaviour, with bands (:func:`bayesseg.survey.panel.gap_decomposition`).
    lead : pandas.DataFrame, optional
        Per trend and panel, the lead in weeks over the target's series, with its interval
        (:func:`bayesseg.survey.panel.panel_lead`, columns :data:`bayesseg.survey.panel.LEAD_COLUMNS`).
    margin_balance : pandas.DataFrame, optional
        With margins, the warehouse's shares of their levels before and after calibration
        (:func:`bayesseg.survey.margins.margin_balance`).
    sensitivity : pandas.DataFrame, optional
        With propensity weights, the corrected early and late shares' bounds under hidden
        selection, and the sensitivity that flips "rising" (:func:`bayesseg.survey.sensitivity.sensitivity_table`).
    """

    series: xr.Dataset
    weights: pd.DataFrame
    balance: pd.DataFrame
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    monthly: xr.Dataset | None = None
    decomposition: pd.DataFrame | None = None
    lead: pd.DataFrame | None = None
    margin_balance: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None

    @property
    def weekly_readable(self) -> bool:
        """Whether the fashion-forward panel can be read week by week (most weeks at or above the ESS floor).

        Else the report shows its monthly series first (``summary["weeks_below_ess_floor"]``).
        """
        return bool(self.summary["weeks_below_ess_floor"] <= self.summary["weeks"] / 2)

    def table(self) -> pd.DataFrame:
        """The TREND_SERIES table: one row per trend, panel and week.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`bayesseg.survey.trends.TREND_SERIES_COLUMNS`; ``ESS`` is the panel's effective number of
            authors that week.
        """
        s = self.series
        frame = (
            s[["raw_share", "weighted_share", "low", "high"]]
            .to_dataframe()
            .reset_index()
            .merge(s["ess"].to_dataframe().reset_index(), on=["panel", "week"])
        )
        frame = frame.rename(columns=str.upper)  # trend -> TREND, raw_share -> RAW_SHARE, ...
        frame["WEEK"] = pd.to_datetime(frame["WEEK"]).dt.date
        return frame[list(TREND_SERIES_COLUMNS)].sort_values(["TREND", "PANEL", "WEEK"]).reset_index(drop=True)


class Replicates(NamedTuple):
    """The bootstrap × posterior replicates of :func:`replicate_shares`."""

    weekly: np.ndarray
    """(replicate, trend, panel, week); NaN for a replicate whose panel could not be weighted."""
    pooled: np.ndarray | None
    """(replicate, trend, panel + 1, period) with a ``pool``, else ``None``: the last panel is the
    fashion-forward panel unweighted (what the weighting changes, per replicate)."""
    failed: int
    """Replicates whose panel could not be weighted."""
    comparison: np.ndarray
    """(replicate, trend, 2, week): the fashion-forward panel unweighted and its comparison group (the other
    authors weighted to its composition), pooled as the panel: the lead's two series."""


def panel_smoothing(inputs: TrendInputs, config: TrendConfig) -> np.ndarray:
    """Kernel standard deviation, in weeks, of each panel's weekly series.

    Parameters
    ----------
    inputs : TrendInputs
        The aligned arrays (their ``panels``).
    config : TrendConfig
        ``smooth_weeks`` for every panel, ``platform_smooth_weeks`` for the ``platform`` one.

    Returns
    -------
    numpy.ndarray, shape (panel,)
    """
    sd = np.full(len(inputs.panels), config.smooth_weeks)
    if inputs.platform is not None:
        sd[inputs.panels.index("platform")] = config.platform_smooth_weeks
    return sd


def replicate_shares(
    inputs: TrendInputs,
    weighting: PanelWeighting,
    config: TrendConfig,
    *,
    pool: np.ndarray | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Replicates:
    """The bootstrap × posterior replicates of every panel's series.

    Replicate *b* resamples the authors (panel and non-panel apart), takes posterior draw
    ``b mod S`` of the memberships, re-weights the panel and recomputes every share.

    Parameters
    ----------
    inputs : TrendInputs
        The aligned arrays.
    weighting : PanelWeighting
        The panel's weighting.
    config : TrendConfig
        ``replicates``, ``seed``, ``smooth_weeks``, ``platform_smooth_weeks``.
    pool : numpy.ndarray, shape (week, period), optional
        Also pool each replicate's weeks into periods (:func:`bayesseg.survey.weekly.month_pool`),
        under the same resample and weights, with the unweighted fashion-forward panel as a last panel.
    progress : callable, optional
        Called as ``progress(note, fraction)`` after each replicate.

    Returns
    -------
    Replicates
    """
    rng = np.random.default_rng(config.seed)
    sd = panel_smoothing(inputs, config)
    r_draws = inputs.memberships
    n_b, n_p = config.replicates, len(inputs.panels)
    reps = np.empty((n_b, inputs.n_trends, n_p, inputs.n_weeks))
    pooled = None if pool is None else np.empty((n_b, inputs.n_trends, n_p + 1, pool.shape[1]))
    pair = np.empty((n_b, inputs.n_trends, 2, inputs.n_weeks))
    failed = 0
    for b in range(n_b):
        m = bootstrap_counts(rng, inputs.panel)
        r = None if r_draws is None else r_draws[b % r_draws.shape[0]]
        try:
            ff, extra = weighting.weights(m, r)
        except WeightsError:
            failed += 1
            reps[b], pair[b] = np.nan, np.nan
            if pooled is not None:
                pooled[b] = np.nan
        else:
            w = inputs.weight_matrix(m, ff, r)
            reps[b] = weekly_shares(w, inputs.numerator, inputs.denominator, inputs.n_trends, sd)
            pair[b] = comparison_pair(inputs, m, extra["comparison"], sd[1])
            if pooled is not None:
                w_raw = np.vstack([w, m * inputs.panel])
                pooled[b] = weekly_shares(w_raw, inputs.numerator, inputs.denominator, inputs.n_trends, 0.0, pool)
        if progress is not None:
            progress(f"replicate {b + 1} of {n_b}", (b + 1) / n_b)
    return Replicates(reps, pooled, failed, pair)


def comparison_pair(inputs: TrendInputs, m: np.ndarray, comparison: np.ndarray, sd: float) -> np.ndarray:
    """The fashion-forward panel's series unweighted and its comparison group's, shape (trend, 2, week).

    Parameters
    ----------
    inputs : TrendInputs
        The aligned arrays.
    m : numpy.ndarray, shape (author,)
        Bootstrap multiplicities (1 for the point estimate).
    comparison : numpy.ndarray, shape (author,)
        The comparison group's weights (``extra["comparison"]`` of
        :meth:`bayesseg.survey.weighting.PanelWeighting.weights`).
    sd : float
        Kernel standard deviation in weeks (the panel's).

    Returns
    -------
    numpy.ndarray, shape (trend, 2, week)
    """
    w = np.vstack([m * inputs.panel, comparison])
    return weekly_shares(w, inputs.numerator, inputs.denominator, inputs.n_trends, sd)


def _notes(
    inputs: TrendInputs, diag: dict[str, np.ndarray], w0: np.ndarray, config: TrendConfig, weeks: Any
) -> list[str]:
    """What the reader must know about the weeks: those below the ESS floor, those without posts."""
    notes = []
    low_weeks = np.flatnonzero(diag["ess"][1] < config.ess_floor)
    if low_weeks.size:
        shown = ", ".join(str(pd.Timestamp(weeks[i]).date()) for i in low_weeks[:6])
        notes.append(
            f"fashion_forward: {low_weeks.size} of {inputs.n_weeks} week(s) have an effective sample size below "
            f"{config.ess_floor:g} authors ({shown}{', ...' if low_weeks.size > 6 else ''}); read their "
            "corrected shares with care"
        )
    empty = [p for j, p in enumerate(inputs.panels) if (w0[j] @ inputs.posts == 0).any()]
    if empty:
        notes.append(f"weeks without posts (share undefined, NaN) in panel(s) {empty}")
    return notes


def _hidden_selection(
    inp: TrendInputs, extra: dict[str, Any], lead: pd.DataFrame | None, config: TrendConfig
) -> pd.DataFrame:
    """Bounds on the early and late shares and the lead under hidden selection (:mod:`bayesseg.survey.sensitivity`).

    The shares' bounds move the panel's inverse-propensity weights; the lead's, the comparison
    group's odds weights (the lead is the panel's over its comparison group).
    """
    assert lead is not None
    hits, posts, sd = inp.hits[inp.panel], inp.posts[inp.panel], config.smooth_weeks
    with np.errstate(invalid="ignore", divide="ignore"):
        panel_series = smooth_weeks(hits.sum(axis=0), sd) / smooth_weeks(posts.sum(axis=0), sd)
    other = ~inp.panel
    lead_sens = lead_sensitivity_table(
        extra["comparison_propensity"], inp.hits[other], inp.posts[other], panel_series, inp.trend_names,
        config.max_lead, sd, panel_posts=posts.sum(axis=0),
    )  # fmt: skip
    # a lead that is not identified (a flat trend, a lead at the search's edge) has no sensitivity
    ff = lead[lead["PANEL"] == "fashion_forward"].set_index("TREND")["STATUS"]
    unidentified = lead_sens.index.get_level_values("trend").map(ff) != "identified"
    lead_sens.loc[unidentified, :] = np.nan
    return sensitivity_table(extra["propensity"], hits, posts, inp.trend_names).join(lead_sens)


def _pre_period(weighting: PanelWeighting, r_mean: np.ndarray | None, weeks: Any) -> tuple[dict[str, Any], list[str]]:
    """The pre-period test (:func:`bayesseg.survey.weighting.pre_period_test`) and what the reader must know of it."""
    inp, config = weighting.inputs, weighting.config
    cut = config.pre_period_weeks
    if config.weighting != "propensity" or not 0 < cut < inp.n_weeks:
        return {"verdict": "not computed", "reason": "needs propensity weighting and 0 < pre_period_weeks < weeks"}, []
    design = weighting.design(r_mean)
    is_pre = design.columns.str.startswith("pre:")
    # conditioned weights carry the pre-period design already
    pre = design.loc[:, is_pre] if config.condition_on_pre_period else pre_period_design(inp, cut)
    test = pre_period_test(inp.panel, design.loc[:, ~is_pre], pre)
    first = str(pd.Timestamp(weeks[cut]).date())
    test.update({"pre_period_weeks": cut, "first_week_after": first, "conditioned": config.condition_on_pre_period})
    notes = []
    if config.condition_on_pre_period:
        notes.append(
            f"the weights condition on the authors' trend shares before {first}: the corrected shares of those "
            f"{cut} weeks match the target by construction; read the weeks from {first}"
        )
    elif test["verdict"] == "fail":
        notes.append(
            f"authors' trend shares in the first {cut} weeks predict panel membership beyond the weighting "
            f"covariates (likelihood ratio {test['lr_statistic']:.1f} on {test['df']} df, p = {test['p_value']:.2g}): "
            "the panel was picked on what it posted; set condition_on_pre_period = true and read the weeks "
            f"from {first}, and see the sensitivity bounds"
        )
    return test, notes


def trend_series(
    data: xr.Dataset,
    authors: pd.DataFrame,
    memberships: xr.DataArray | None,
    config: TrendConfig,
    *,
    ci_prob: float = 0.9,
    tiers: Sequence[str] = TIER_NAMES,
    progress: Callable[[str, float], None] | None = None,
    margins: Margins | None = None,
) -> TrendResult:
    """Raw and corrected weekly (and monthly) trend series of every panel, with bootstrap-posterior bands.

    Parameters
    ----------
    data : xarray.Dataset
        From :func:`bayesseg.data.aggregate.trend_data`: ``posts`` (author, week) and ``hits`` (trend, author, week).
        Its authors are the target population.
    authors : pandas.DataFrame
        Index ``author``, a row for every author of `data` (more are ignored): boolean
        ``fashion_interest_segment``, ``current_tier``, and the propensity covariates named in
        `config` (transformed; NaN where unknown: imputed by the mean and counted).
    memberships : xarray.DataArray, dims (chain, draw, author, segment) or (draw, author, segment), optional
        Posterior draws of r_ik for the segmented authors (a subset of the target; the others
        get the mean membership of the segmented authors, and are counted). ``None``: no segment
        panels and no segments in the propensity model or cells.
    config : TrendConfig
        Weighting, trimming, ESS floor, replicates, seed.
    ci_prob : float, default 0.9
        Probability of the equal-tailed bands.
    tiers : sequence of str
        Names of the current tiers, in order.
    progress : callable, optional
        ``progress(note, fraction)`` as the bootstrap replicates advance.
    margins : bayesseg.survey.margins.Margins, optional
        The platform population's margins: adds a ``platform`` panel, every author with posts
        calibrated to them (needs a ``followers`` column in `authors`).

    Returns
    -------
    TrendResult
        Weekly series, and the same pooled by calendar month (``monthly``), from the same
        replicates.

    Raises
    ------
    bayesseg.exceptions.InputError
        If an author of `data` is missing from `authors`, a required column is missing, the
        target has a single author, or `memberships` has no draw.
    bayesseg.exceptions.WeightsError
        If the weights cannot be computed: an empty panel, a propensity covariate with no
        variance, a post-stratification cell with target authors but no panel author...
    """
    inp = prepare_trend_inputs(data, authors, memberships, config, tiers)
    if margins is not None:
        if "followers" not in authors.columns:
            raise InputError("authors table lacks column 'followers', which the margins' calibration needs")
        inp.platform = PlatformTarget(margins, inp.info["followers"].to_numpy(dtype=float), inp.segments)
    weighting = PanelWeighting(inp, config)
    summary, notes = inp.summary, list(inp.warnings)
    if config.weighting == "propensity":
        summary["propensity_imputed"] = weighting.imputed
        if any(weighting.imputed.values()):
            notes.append(f"propensity covariates imputed by their mean: {weighting.imputed}")

    # point estimates: every author once, posterior-mean memberships
    ones = np.ones(len(inp.target))
    r_mean = None if inp.memberships is None else inp.memberships.mean(axis=0)
    ff0, extra0 = weighting.weights(ones, r_mean)
    w0 = inp.weight_matrix(ones, ff0, r_mean)
    raw_w = w0.copy()
    raw_w[1] = inp.panel.astype(float)

    sd = panel_smoothing(inp, config)

    def shares(w: np.ndarray, sd: float | np.ndarray = sd) -> np.ndarray:
        return weekly_shares(w, inp.numerator, inp.denominator, inp.n_trends, sd)

    point, raw, raw_weekly = shares(w0), shares(raw_w), shares(raw_w, 0.0)
    weeks = data[WEEK].values
    pool, months = month_pool(weeks)
    summary["pre_period_test"], pre_notes = _pre_period(weighting, r_mean, weeks)
    notes += pre_notes
    # months, and the whole window as a last period (the gap decomposition)
    pooled_all = np.hstack([pool, np.ones((inp.n_weeks, 1))])
    reps, reps_pooled, failed, reps_pair = replicate_shares(inp, weighting, config, pool=pooled_all, progress=progress)
    if failed:
        notes.append(f"{failed} of {config.replicates} bootstrap replicates could not be weighted and were left out")
    summary["failed_replicates"] = failed
    wide = shares(w0, sd * np.sqrt(2.0)) if config.band == "logit_bias" else None
    deff = cluster_design_effect(inp.numerator, inp.denominator, inp.n_trends)
    summary["target_design_effect"] = dict(zip(inp.trend_names, np.round(deff, 3).tolist(), strict=True))
    low, high = bands(point, reps, config, ci_prob, ones @ inp.denominator, wide, np.nan_to_num(deff, nan=1.0))
    diag = panel_diagnostics(w0, raw_w, inp.denominator, inp.posts, sd)
    notes += _notes(inp, diag, w0, config, weeks)
    assert reps_pooled is not None
    trends = data[TREND].values
    monthly = monthly_series(
        (w0, raw_w, reps_pooled[:, :, :-1, :-1]), (inp.numerator, inp.denominator, inp.posts), pool, config, ci_prob,
        coords={TREND: trends, PANEL: inp.panels, MONTH: months},
    )  # fmt: skip
    window = weekly_shares(np.vstack([w0, raw_w[1]]), inp.numerator, inp.denominator, inp.n_trends, 0.0, pooled_all)
    decomposition = gap_decomposition(
        window[:, [0, 1, -1], -1], reps_pooled[:, :, [0, 1, -1], -1], [str(t) for t in trends], ci_prob
    )
    trim = extra0["trim"].model
    summary.update(
        {
            "trimmed": trim["n_trimmed"],
            "trim_cap": trim["cap"],
            "design_effect_before_trim": trim["design_effect_before"],
            "design_effect_after_trim": trim["design_effect_after"],
            "ess_floor": config.ess_floor,
            "weeks_below_ess_floor": int((diag["ess"][1] < config.ess_floor).sum()),
            "weeks": inp.n_weeks,
            "months_below_ess_floor": int((monthly["ess"].sel(panel="fashion_forward") < config.ess_floor).sum()),
            "months": len(months),
        }
    )
    if trim["n_trimmed"]:
        notes.append(
            f"fashion_forward: {trim['n_trimmed']} weight(s) capped at {config.trim_ratio:g} x the mean; design "
            f"effect {trim['design_effect_before']:.2f} -> {trim['design_effect_after']:.2f}"
        )
    weights = pd.DataFrame({"weight": ff0[inp.panel]}, index=pd.Index(inp.target[inp.panel], name=AUTHOR))
    if "propensity" in extra0:
        weights["propensity"] = extra0["propensity"]
    summary["cov_columns"] = list(weighting.base_design.columns)
    dims3 = (TREND, PANEL, WEEK)
    series = xr.Dataset(
        {
            "raw_share": (dims3, raw),
            "raw_weekly_share": (dims3, raw_weekly),
            "weighted_share": (dims3, point),
            "share": ((REPLICATE, *dims3), reps),
            "comparison_share": ((TREND, WEEK), comparison_pair(inp, ones, extra0["comparison"], sd[1])[:, 1]),
            "lead_pair_share": ((REPLICATE, TREND, "pair", WEEK), reps_pair),
            "low": (dims3, low),
            "high": (dims3, high),
            **{name: ((PANEL, WEEK), v) for name, v in diag.items()},
        },
        coords={TREND: trends, PANEL: inp.panels, WEEK: weeks, REPLICATE: np.arange(config.replicates), "pair": PAIR},
        attrs={
            "ci_prob": ci_prob,
            "weighting": config.weighting,
            "normalise_authors": int(config.normalise_authors),
            "smooth_weeks": config.smooth_weeks,
            "platform_smooth_weeks": config.platform_smooth_weeks,
            "band": config.band,
            "lead_min_rise": config.lead_min_rise,
        },
    )
    result = TrendResult(
        series, weights, balance_table(weighting, r_mean, ff0), summary, notes, monthly, decomposition,
        panel_lead(series, max_lead=config.max_lead, ci_prob=ci_prob, min_rise=config.lead_min_rise),
    )  # fmt: skip
    if isinstance(inp.platform, PlatformTarget):
        result.margin_balance, summary["platform"] = inp.platform.summary(r_mean)
    if "propensity" in extra0 and inp.n_weeks >= 26:  # selection the weights cannot see
        result.sensitivity = _hidden_selection(inp, extra0, result.lead, config)
    summary["weekly_readable"] = result.weekly_readable
    return result
