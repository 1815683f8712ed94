r"""Weekly trend series of panels, corrected toward a target population, with credible bands.

A *trend* is a label, or labels shown together in one image (``pattern:stripes``,
``pattern:stripes+object_detection:top``). Its weekly visibility in a panel is the share of the
panel's posts that show it: :math:`s_t = \sum_i w_i h_{it} / \sum_i w_i n_{it}`, with
:math:`h_{it}` the posts of author *i* in week *t* showing the trend, :math:`n_{it}` all of the
author's posts that week, and :math:`w_i` the author's weight in the panel. The counts come from
SQL run in the warehouse (:func:`bayesseg.aggregate.trend_post_counts`,
:func:`bayesseg.aggregate.author_week_activity`).

Panels (the ``panel`` dimension):

* ``all``: the target population, every author with posts (weight 1);
* ``fashion_forward``: the hand-picked panel (FASHION_INTEREST_SEGMENT). Its *raw* series weights
  its authors equally; its *weighted* series reweights them toward the target with
  :mod:`bayesseg.reweight` (inverse propensity, post-stratification on segment × tier, or raking to
  the segment and tier margins);
* ``tier:<name>``: the current follower tiers;
* ``segment:<name>``: bayesseg's segments with soft membership, author *i* counting with weight
  :math:`r_{ik}` (its posterior membership probability under one posterior draw).

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

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats
from scipy.ndimage import gaussian_filter1d

from bayesseg.reweight import (
    WeightsError,
    asmd,
    design_effect,
    kish_ess,
    poststratify_weights,
    propensity_weights,
    rake_weights,
    trim_weights,
)

__all__ = [
    "BANDS",
    "TREND_SERIES_COLUMNS",
    "WEIGHTINGS",
    "Trend",
    "TrendConfig",
    "TrendResult",
    "trend_data",
    "trend_series",
]

WEIGHTINGS = ("propensity", "poststratify", "rake", "none")
BANDS = ("logit", "logit_bias", "percentile")
"""How the bands are made from the replicates (:class:`TrendConfig` ``band``)."""
TREND_SERIES_COLUMNS = ("TREND", "PANEL", "WEEK", "RAW_SHARE", "WEIGHTED_SHARE", "LOW", "HIGH", "ESS")
"""Columns of the TREND_SERIES table and of ``trend_series.csv``."""


@dataclass(frozen=True)
class Trend:
    """A trend: labels that must appear together in one image.

    Parameters
    ----------
    name : str
        Name of the trend (by default its text, e.g. ``"pattern:stripes+object_detection:top"``).
    labels : tuple of (str, str)
        ``(TYPE, LABEL_NAME)`` pairs.
    """

    name: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Trend:
        """Parse ``TYPE:LABEL_NAME`` terms joined by ``+`` (labels shown in one image).

        Parameters
        ----------
        text : str
            E.g. ``"pattern:stripes"`` or ``"pattern:stripes+object_detection:top"``.

        Returns
        -------
        Trend

        Raises
        ------
        ValueError
            If a term is not ``TYPE:LABEL_NAME`` with both parts non-empty, or repeats.
        """
        labels = []
        for term in text.split("+"):
            typ, sep, name = term.strip().partition(":")
            if not sep or not typ.strip() or not name.strip():
                raise ValueError(f"trend {text!r}: term {term!r} is not TYPE:LABEL_NAME")
            labels.append((typ.strip(), name.strip()))
        if len(set(labels)) != len(labels):
            raise ValueError(f"trend {text!r}: a label repeats")
        return cls(text.strip(), tuple(labels))


@dataclass(frozen=True)
class TrendConfig:
    r"""How trend series are built (the ``[trends]`` table of ``models/fashion.toml``).

    Parameters
    ----------
    trends : tuple of Trend
        The trends.
    weighting : {"propensity", "poststratify", "rake", "none"}
        Correction of the fashion-forward panel toward the target.
    propensity_covariates : tuple of str
        Author covariates of the propensity model (columns of the authors table given to
        :func:`trend_series`, transformed as in the model, e.g. ``log_followers``).
    propensity_quadratic : bool
        Add the square of each propensity covariate.
    propensity_segments : bool
        Add the segment membership probabilities (all but the first segment) to the propensity
        model.
    normalise_authors : bool
        Give every author posting in a week the same weight whatever their number of posts
        (the series is then the mean over authors of their share of posts, not the share of
        all posts).
    trim_ratio : float
        Weights are capped at this multiple of their mean (0: no trimming).
    ess_floor : float
        Weeks whose effective sample size (authors) is below this are reported.
    replicates : int
        Bootstrap replicates (each with one posterior draw of the memberships) behind the bands.
    seed : int
        Seed of the bootstrap.
    smooth_weeks : float
        Standard deviation, in weeks, of a Gaussian kernel pooling neighbouring weeks: the share
        of week t is :math:`\sum_s K(t-s)\sum_i w_i h_{is} / \sum_s K(t-s)\sum_i w_i n_{is}`
        (the kernel is truncated at the ends of the window and the ratio renormalises it).
        0 gives plain weekly shares. A panel of a few hundred authors posts a few hundred times
        a week, so weekly shares of a 1 % trend carry a sampling error as large as the
        selection bias; pooling ±2 weeks cuts that error about 2.5-fold at the cost of
        flattening peaks narrower than the kernel.
    band : {"logit", "percentile"}
        ``"logit"``: a normal interval on the logit scale around the point estimate, with the
        replicates' standard deviation of the logit share; for the fashion-forward panel it also
        carries the binomial variance of the target's realised weekly share,
        :math:`1/(N_t \hat p_t (1-\hat p_t))` on the logit scale with :math:`N_t` the target's
        posts of week t (the band is for the week's share of all authors' posts, which the panel
        estimates but does not see). ``"logit_bias"``: the same, plus the square of an estimate of
        the pooling's smoothing bias: a Gaussian kernel of standard deviation σ biases a share by
        about :math:`\tfrac{\sigma^2}{2} p''(t)`, and pooling with σ√2 doubles that bias, so the
        difference between the series pooled with σ√2 and with σ estimates it (on the logit
        scale) without any tuning constant; the band widens where a trend peaks or turns within
        a few weeks, and not elsewhere. ``"percentile"``: the replicates' equal-tailed quantiles.
    """

    trends: tuple[Trend, ...] = ()
    weighting: str = "propensity"
    propensity_covariates: tuple[str, ...] = ("log_followers", "log_engagement")
    propensity_quadratic: bool = True
    propensity_segments: bool = True
    normalise_authors: bool = False
    trim_ratio: float = 20.0
    ess_floor: float = 30.0
    replicates: int = 200
    seed: int = 0
    smooth_weeks: float = 2.0
    band: str = "logit_bias"

    KEYS = (
        "series",
        "weighting",
        "propensity_covariates",
        "propensity_quadratic",
        "propensity_segments",
        "normalise_authors",
        "trim_ratio",
        "ess_floor",
        "replicates",
        "seed",
        "smooth_weeks",
        "band",
    )

    @classmethod
    def from_dict(cls, doc: dict[str, Any], fail: Callable[[str, str], Exception]) -> TrendConfig:
        """Validate the ``[trends]`` table.

        Parameters
        ----------
        doc : dict
            The parsed table (keys of ``TrendConfig.KEYS``; ``series`` is a list of trend texts).
        fail : callable
            ``fail(key, message)`` returns the exception to raise (names the file and key).

        Returns
        -------
        TrendConfig

        Raises
        ------
        Exception
            What `fail` returns, for an unknown key or a bad value.
        """
        unknown = set(doc) - set(cls.KEYS)
        if unknown:
            raise fail("trends", f"unknown key(s) {sorted(unknown)}; known: {sorted(cls.KEYS)}")
        default = cls()
        series = doc.get("series", [])
        if not isinstance(series, list) or not all(isinstance(s, str) for s in series):
            raise fail("trends.series", f"must be a list of trend texts, got {series!r}")
        try:
            trends = tuple(Trend.parse(s) for s in series)
        except ValueError as exc:
            raise fail("trends.series", str(exc)) from None
        if len({t.name for t in trends}) != len(trends):
            raise fail("trends.series", f"trends repeat: {series}")
        weighting = doc.get("weighting", default.weighting)
        if weighting not in WEIGHTINGS:
            raise fail("trends.weighting", f"must be one of {WEIGHTINGS}, got {weighting!r}")
        band = doc.get("band", default.band)
        if band not in BANDS:
            raise fail("trends.band", f"must be one of {BANDS}, got {band!r}")
        covs = doc.get("propensity_covariates", list(default.propensity_covariates))
        if not isinstance(covs, list) or not all(isinstance(c, str) for c in covs):
            raise fail("trends.propensity_covariates", f"must be a list of covariate names, got {covs!r}")
        flags: dict[str, Any] = {}
        for key in ("propensity_quadratic", "propensity_segments", "normalise_authors"):
            v = doc.get(key, getattr(default, key))
            if not isinstance(v, bool):
                raise fail(f"trends.{key}", f"must be true or false, got {v!r}")
            flags[key] = v
        nums: dict[str, Any] = {}
        for key, low in (("trim_ratio", 0.0), ("ess_floor", 0.0), ("smooth_weeks", 0.0)):
            v = doc.get(key, getattr(default, key))
            if isinstance(v, bool) or not isinstance(v, int | float) or v < low:
                raise fail(f"trends.{key}", f"must be a number >= {low}, got {v!r}")
            nums[key] = float(v)
        if 0 < nums["trim_ratio"] <= 1:
            raise fail("trends.trim_ratio", "must be 0 (no trimming) or > 1 (a cap at the mean trims every weight)")
        ints: dict[str, Any] = {}
        for key, low in (("replicates", 20), ("seed", 0)):
            v = doc.get(key, getattr(default, key))
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise fail(f"trends.{key}", f"must be an integer >= {low}, got {v!r}")
            ints[key] = int(v)
        return cls(
            trends=trends,
            weighting=weighting,
            propensity_covariates=tuple(covs),
            band=band,
            **flags,
            **nums,
            **ints,
        )

    def to_dict(self) -> dict[str, Any]:
        """The table as parsed (trend texts, plain values)."""
        return {
            "series": [t.name for t in self.trends],
            "weighting": self.weighting,
            "propensity_covariates": list(self.propensity_covariates),
            "propensity_quadratic": self.propensity_quadratic,
            "propensity_segments": self.propensity_segments,
            "normalise_authors": self.normalise_authors,
            "trim_ratio": self.trim_ratio,
            "ess_floor": self.ess_floor,
            "replicates": self.replicates,
            "seed": self.seed,
            "smooth_weeks": self.smooth_weeks,
            "band": self.band,
        }


def trend_data(source: Any, trends: Sequence[Trend]) -> xr.Dataset:
    """Weekly posts and trend posts of every author with posts, from SQL run in the warehouse.

    Parameters
    ----------
    source : bayesseg.sources.Source
        The warehouse.
    trends : sequence of Trend
        The trends.

    Returns
    -------
    xarray.Dataset
        ``posts`` (author, week): posts of the author in the week; ``hits`` (trend, author,
        week): those showing the trend. Weeks run from the first to the last week with a post,
        without gaps (a week without posts has 0 posts, and is reported by :func:`trend_series`).

    Raises
    ------
    ValueError
        If the warehouse has no post, or a trend matches no post at all (its labels are probably
        misspelt; the trend is named).
    """
    from bayesseg.aggregate import author_week_activity, trend_post_counts

    if not trends:
        raise ValueError("no trend to count: declare some in [trends] series")
    activity = author_week_activity(source)
    if activity.empty:
        raise ValueError("the warehouse has no post: no trend series can be built")
    hits = trend_post_counts(source, [(t.name, t.labels) for t in trends])
    names = [t.name for t in trends]
    unseen = sorted(set(names) - set(hits["trend"]))
    if unseen:
        raise ValueError(f"trend(s) {unseen} match no post of the warehouse; check TYPE:LABEL_NAME")
    weeks = pd.date_range(activity["week"].min(), activity["week"].max(), freq="7D")
    authors = np.sort(activity["author"].unique())
    a_idx = pd.Index(authors)
    w_idx = pd.Index(weeks)
    posts = np.zeros((len(authors), len(weeks)))
    np.add.at(posts, (a_idx.get_indexer(activity["author"]), w_idx.get_indexer(activity["week"])), activity["n_posts"])
    h = np.zeros((len(trends), len(authors), len(weeks)))
    ai = a_idx.get_indexer(hits["author"])
    wi = w_idx.get_indexer(hits["week"])
    if (ai < 0).any() or (wi < 0).any():
        raise ValueError("trend counts name an author or week without posts; the warehouse changed during the run")
    np.add.at(h, (pd.Index(names).get_indexer(hits["trend"]), ai, wi), hits["n_posts"])
    return xr.Dataset(
        {"posts": (("author", "week"), posts), "hits": (("trend", "author", "week"), h)},
        coords={"trend": names, "author": authors, "week": weeks},
    )


@dataclass
class TrendResult:
    """Trend series with their bands, the fashion-forward panel's weights and diagnostics.

    Attributes
    ----------
    series : xarray.Dataset
        ``raw_share`` (unweighted panel, pooled over weeks as the weighted one) and
        ``weighted_share`` (trend, panel, week); ``raw_weekly_share``, the unweighted share of
        each single week (the series as panels report it today); ``share`` (draw, trend, panel,
        week), the replicates; ``low`` and ``high`` (trend, panel, week), the equal-tailed band
        of probability ``attrs["ci_prob"]``; ``ess``, ``design_effect``, ``n_authors`` and
        ``n_posts`` (panel, week).
    weights : pandas.DataFrame
        Index ``author`` (the panel's): ``weight`` (final, after trimming), ``propensity`` (when
        the weighting is by propensity).
    balance : pandas.DataFrame
        Index ``covariate``: ``asmd_before`` and ``asmd_after``, the panel against the target.
    summary : dict
        Counts (target, panel, authors without a segmentation and how they were handled), the
        weighting, trimming and its design effects, replicates.
    warnings : list of str
        What the reader must know: weeks under the ESS floor, weeks without posts, trimming.
    """

    series: xr.Dataset
    weights: pd.DataFrame
    balance: pd.DataFrame
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The TREND_SERIES table: one row per trend, panel and week.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`TREND_SERIES_COLUMNS`; ``ESS`` is the panel's effective number of
            authors that week.
        """
        s = self.series
        frame = (
            s[["raw_share", "weighted_share", "low", "high"]]
            .to_dataframe()
            .reset_index()
            .merge(s["ess"].to_dataframe().reset_index(), on=["panel", "week"])
        )
        frame = frame.rename(
            columns={
                "trend": "TREND",
                "panel": "PANEL",
                "week": "WEEK",
                "raw_share": "RAW_SHARE",
                "weighted_share": "WEIGHTED_SHARE",
                "low": "LOW",
                "high": "HIGH",
                "ess": "ESS",
            }
        )
        frame["WEEK"] = pd.to_datetime(frame["WEEK"]).dt.date
        return frame[list(TREND_SERIES_COLUMNS)].sort_values(["TREND", "PANEL", "WEEK"]).reset_index(drop=True)


def _bootstrap_counts(rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
    """Multiplicities of a bootstrap resample drawn separately within each group."""
    m = np.zeros(len(groups))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        m[idx] = np.bincount(rng.integers(0, len(idx), size=len(idx)), minlength=len(idx))
    return m


def trend_series(
    data: xr.Dataset,
    authors: pd.DataFrame,
    memberships: xr.DataArray | None,
    config: TrendConfig,
    *,
    ci_prob: float = 0.9,
    tiers: Sequence[str] = ("mainstream", "trendy", "edgy"),
) -> TrendResult:
    """Raw and corrected weekly trend series of every panel, with bootstrap-posterior bands.

    Parameters
    ----------
    data : xarray.Dataset
        From :func:`trend_data`: ``posts`` (author, week) and ``hits`` (trend, author, week).
        Its authors are the target population.
    authors : pandas.DataFrame
        Index ``author``, a row for every author of `data` (more are ignored): boolean
        ``fashion_interest_segment``, ``current_tier``, and the propensity covariates named in
        `config` (transformed; NaN where unknown: imputed by the mean and counted).
    memberships : xarray.DataArray, dims (draw, author, segment), optional
        Posterior draws of r_ik for the segmented authors (a subset of the target; the others
        get the mean membership of the segmented authors, and are counted). ``None``: no segment
        panels and no segments in the propensity model or cells.
    config : TrendConfig
        Weighting, trimming, ESS floor, replicates, seed.
    ci_prob : float, default 0.9
        Probability of the equal-tailed bands.
    tiers : sequence of str
        Names of the current tiers, in order.

    Returns
    -------
    TrendResult

    Raises
    ------
    ValueError
        If an author of `data` is missing from `authors`, a required column is missing, the
        target has a single author, or `memberships` has no draw.
    bayesseg.reweight.WeightsError
        If the weights cannot be computed: an empty panel, a propensity covariate with no
        variance, a post-stratification cell with target authors but no panel author...
    """
    target = data["author"].to_numpy()
    missing_cols = {"fashion_interest_segment", "current_tier"} - set(authors.columns)
    if config.weighting == "propensity":
        missing_cols |= set(config.propensity_covariates) - set(authors.columns)
    if missing_cols:
        raise ValueError(f"authors table lacks column(s) {sorted(missing_cols)}")
    absent = np.setdiff1d(target, authors.index.to_numpy())
    if absent.size:
        raise ValueError(f"{absent.size} author(s) with posts are not in the authors table, e.g. {absent[:5].tolist()}")
    if len(target) < 2:
        raise ValueError("the target population needs at least 2 authors")
    info = authors.loc[target]
    n_a = len(target)
    panel = info["fashion_interest_segment"].fillna(False).to_numpy(dtype=bool)
    n_panel_unknown = int(info["fashion_interest_segment"].isna().sum())
    tier_codes = pd.Categorical(info["current_tier"], categories=list(tiers))
    tier_1h = np.eye(len(tiers))[np.where(tier_codes.codes < 0, 0, tier_codes.codes)]
    n_tier_unknown = int((tier_codes.codes < 0).sum())
    tier_1h[tier_codes.codes < 0] = 0.0
    warnings_: list[str] = []
    summary: dict[str, Any] = {
        "target_authors": n_a,
        "panel_authors": int(panel.sum()),
        "panel_unknown": n_panel_unknown,
        "tier_unknown": n_tier_unknown,
        "weighting": config.weighting,
        "normalise_authors": config.normalise_authors,
        "replicates": config.replicates,
    }
    if n_panel_unknown:
        warnings_.append(
            f"{n_panel_unknown} author(s) have no FASHION_INTEREST_SEGMENT value: counted outside the panel"
        )

    # memberships of the target, per draw; unsegmented authors get the mean of the segmented ones
    segs: list[str] = []
    r_draws: np.ndarray | None = None
    if memberships is not None:
        if memberships.sizes.get("draw", 0) == 0:
            raise ValueError("memberships has no draw")
        segs = [str(s) for s in memberships["segment"].values]
        known = np.isin(target, memberships["author"].values)
        r_known = memberships.transpose("draw", "author", "segment").sel(author=target[known]).values
        r_draws = np.empty((r_known.shape[0], n_a, len(segs)))
        r_draws[:, known] = r_known
        r_draws[:, ~known] = r_known.mean(axis=1, keepdims=True)
        summary["unsegmented_authors"] = int((~known).sum())
        summary["unsegmented_panel_authors"] = int((~known & panel).sum())
        if (~known).any():
            warnings_.append(
                f"{int((~known).sum())} author(s) with posts have no segmentation (excluded from the model): "
                "they count in the target with the average membership, and in no segment series"
            )
    seg_weight_mask = np.ones(n_a)
    if memberships is not None:
        seg_weight_mask = np.isin(target, memberships["author"].values).astype(float)

    # the propensity design: covariates (standardised), squares, segment probabilities
    cov_cols: list[str] = []
    base_design = pd.DataFrame(index=pd.Index(target, name="author"))
    if config.weighting == "propensity":
        imputed = {}
        for c in config.propensity_covariates:
            v = info[c].to_numpy(dtype=float)
            bad = ~np.isfinite(v)
            imputed[c] = int(bad.sum())
            v = np.where(bad, np.nanmean(np.where(bad, np.nan, v)), v)
            sd = v.std()
            z = (v - v.mean()) / (sd if sd > 0 else 1.0)
            base_design[c] = z
            if config.propensity_quadratic:
                base_design[f"{c}^2"] = z**2
        summary["propensity_imputed"] = imputed
        cov_cols = list(base_design.columns)
        if any(imputed.values()):
            warnings_.append(f"propensity covariates imputed by their mean: {imputed}")

    def design(r: np.ndarray | None) -> pd.DataFrame:
        if not (config.propensity_segments and r is not None):
            return base_design
        return base_design.assign(**{f"p_{s}": r[:, k] for k, s in enumerate(segs) if k > 0})

    def ff_weights(m: np.ndarray, r: np.ndarray | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Weights (full length, 0 outside the panel) of the fashion-forward panel."""
        d = m[panel]
        extra: dict[str, Any] = {}
        if config.weighting == "propensity":
            fit = propensity_weights(design(r), panel, m)
            w = d * fit.weights
            extra["propensity"] = fit.propensity[panel]
        elif config.weighting in ("poststratify", "rake"):
            if r is None:
                seg_m = np.ones((n_a, 1))
                seg_names = ["all"]
            else:
                seg_m, seg_names = r, segs
            keep = tier_1h.sum(axis=1) > 0
            if config.weighting == "poststratify":
                cells = (seg_m[:, :, None] * tier_1h[:, None, :]).reshape(n_a, -1)
                names = [f"{s}|{t}" for s in seg_names for t in tiers]
                cp = cells[panel & keep] / cells[panel & keep].sum(axis=1, keepdims=True)
                w_keep = poststratify_weights(cp, m[keep] @ cells[keep], d[keep[panel]], names)
            else:
                res = rake_weights(
                    {"segment": seg_m[panel & keep], "tier": tier_1h[panel & keep]},
                    {"segment": m[keep] @ seg_m[keep], "tier": m[keep] @ tier_1h[keep]},
                    d[keep[panel]],
                )
                w_keep = res.weights
                extra["rake_converged"] = res.converged
            w = np.zeros(int(panel.sum()))
            w[keep[panel]] = w_keep
        else:
            w = d.astype(float)
        if not w.sum() > 0:
            raise WeightsError("every weight of the panel is 0")
        trimmed = trim_weights(w, config.trim_ratio or None)
        extra["trim"] = trimmed
        full = np.zeros(n_a)
        full[panel] = trimmed.weights
        return full, extra

    panels = ["all", "fashion_forward"] + [f"tier:{t}" for t in tiers] + [f"segment:{s}" for s in segs]
    posts = data["posts"].transpose("author", "week").values
    hits = data["hits"].transpose("author", "trend", "week").values
    n_t, n_w = hits.shape[1], hits.shape[2]
    if config.normalise_authors:
        active = (posts > 0).astype(float)
        num = np.divide(hits, posts[:, None, :], out=np.zeros_like(hits), where=posts[:, None, :] > 0)
        den = active
    else:
        num, den = hits, posts
    num2 = num.reshape(n_a, n_t * n_w)

    def smooth(a: np.ndarray, sd: float) -> np.ndarray:
        if sd <= 0:
            return a
        return gaussian_filter1d(a, sd, axis=-1, mode="constant", cval=0.0, truncate=3.0)

    def shares(wmat: np.ndarray, pool: bool = True, sd: float = config.smooth_weeks) -> np.ndarray:
        """(panel, author) weights -> (trend, panel, week) shares; NaN without posts."""
        top = (wmat @ num2).reshape(len(wmat), n_t, n_w)
        bottom = wmat @ den
        if pool:
            top, bottom = smooth(top, sd), smooth(bottom, sd)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(bottom[:, None, :] > 0, top / np.where(bottom > 0, bottom, 1.0)[:, None, :], np.nan)
        return out.transpose(1, 0, 2)

    def weight_matrix(m: np.ndarray, ff: np.ndarray, r: np.ndarray | None) -> np.ndarray:
        rows = [m, ff] + [m * tier_1h[:, j] for j in range(len(tiers))]
        if r is not None:
            rows += [m * seg_weight_mask * r[:, k] for k in range(len(segs))]
        return np.vstack(rows)

    # point estimates: every author once, posterior-mean memberships
    ones = np.ones(n_a)
    r_mean = None if r_draws is None else r_draws.mean(axis=0)
    ff0, extra0 = ff_weights(ones, r_mean)
    w0 = weight_matrix(ones, ff0, r_mean)
    point = shares(w0)
    raw_w = w0.copy()
    raw_w[1] = panel.astype(float)
    raw = shares(raw_w)
    raw_weekly = shares(raw_w, pool=False)

    # replicates: bootstrap resample (panel and non-panel apart) x one posterior draw
    rng = np.random.default_rng(config.seed)
    reps = np.empty((config.replicates, n_t, len(panels), n_w))
    failed = 0
    for b in range(config.replicates):
        m = _bootstrap_counts(rng, panel)
        r = None if r_draws is None else r_draws[b % r_draws.shape[0]]
        try:
            ff, _ = ff_weights(m, r)
        except WeightsError:
            failed += 1
            reps[b] = np.nan
            continue
        reps[b] = shares(weight_matrix(m, ff, r))
    if failed:
        warnings_.append(
            f"{failed} of {config.replicates} bootstrap replicates could not be weighted and were left out"
        )
    summary["failed_replicates"] = failed
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # a week without posts in any replicate has no band (NaN), reported below
        warnings.simplefilter("ignore", RuntimeWarning)
        if config.band == "percentile":
            low = np.nanquantile(reps, lo_q, axis=0)
            high = np.nanquantile(reps, hi_q, axis=0)
        else:
            eps = 1e-6
            logit_point = special.logit(np.clip(point, eps, 1 - eps))
            var = np.nanvar(special.logit(np.clip(reps, eps, 1 - eps)), axis=0, ddof=1)
            # the fashion-forward band covers the target's realised weekly share: add its binomial variance
            n_target = ones @ den  # (week,) posts (or active authors) of the target
            p_ff = np.clip(point[:, 1, :], eps, 1 - eps)
            var[:, 1, :] += 1.0 / (np.where(n_target > 0, n_target, np.nan)[None, :] * p_ff * (1 - p_ff))
            if config.band == "logit_bias" and config.smooth_weeks > 0:
                wide = shares(w0, sd=config.smooth_weeks * np.sqrt(2.0))
                var += (special.logit(np.clip(wide, eps, 1 - eps)) - logit_point) ** 2
            half = stats.norm.ppf(hi_q) * np.sqrt(var)
            low = special.expit(logit_point - half)
            high = special.expit(logit_point + half)

    # diagnostics per panel and week: an author's contribution to a week is w_i n_it (pooled
    # over neighbouring weeks with the kernel when the series are smoothed)
    contrib = w0[:, :, None] * smooth(den, config.smooth_weeks)[None, :, :]  # (panel, author, week)
    ess = kish_ess(contrib, axis=1)
    deff = design_effect(contrib, axis=1)
    n_auth = ((w0[:, :, None] > 0) & (posts[None] > 0)).sum(axis=1)
    n_posts = raw_w @ posts  # posts of the panel's authors (segments: soft counts)
    weeks = data["week"].values
    ff_ess = ess[1]
    low_weeks = np.flatnonzero(ff_ess < config.ess_floor)
    if low_weeks.size:
        shown = ", ".join(str(pd.Timestamp(weeks[i]).date()) for i in low_weeks[:6])
        warnings_.append(
            f"fashion_forward: {low_weeks.size} of {n_w} week(s) have an effective sample size below "
            f"{config.ess_floor:g} authors ({shown}{', ...' if low_weeks.size > 6 else ''}); read their "
            "corrected shares with care"
        )
    empty = [p for j, p in enumerate(panels) if (w0[j] @ posts == 0).any()]
    if empty:
        warnings_.append(f"weeks without posts (share undefined, NaN) in panel(s) {empty}")
    trim = extra0["trim"]
    summary.update(
        {
            "trimmed": trim.n_trimmed,
            "trim_cap": trim.cap,
            "design_effect_before_trim": trim.design_effect_before,
            "design_effect_after_trim": trim.design_effect_after,
            "weeks_below_ess_floor": int(low_weeks.size),
            "weeks": n_w,
        }
    )
    if trim.n_trimmed:
        warnings_.append(
            f"fashion_forward: {trim.n_trimmed} weight(s) capped at {config.trim_ratio:g} x the mean; design effect "
            f"{trim.design_effect_before:.2f} -> {trim.design_effect_after:.2f}"
        )

    # balance of the panel on the propensity design, before and after weighting
    bal_design = design(r_mean) if config.weighting == "propensity" else pd.DataFrame(index=target)
    if r_mean is not None:
        for k, s in enumerate(segs):
            bal_design[f"p_{s}"] = r_mean[:, k]
    for j, t in enumerate(tiers):
        bal_design[f"tier_{t}"] = tier_1h[:, j]
    varying = [c for c in bal_design.columns if bal_design[c].std() > 0]
    bal_design = bal_design[varying]
    balance_tab = pd.DataFrame(
        {
            "asmd_before": asmd(bal_design[panel], bal_design),
            "asmd_after": asmd(bal_design[panel], bal_design, ff0[panel]),
        }
    )
    balance_tab.index.name = "covariate"
    weights = pd.DataFrame({"weight": ff0[panel]}, index=pd.Index(target[panel], name="author"))
    if "propensity" in extra0:
        weights["propensity"] = extra0["propensity"]
    summary["cov_columns"] = cov_cols

    dims3 = ("trend", "panel", "week")
    series = xr.Dataset(
        {
            "raw_share": (dims3, raw),
            "raw_weekly_share": (dims3, raw_weekly),
            "weighted_share": (dims3, point),
            "share": (("draw", *dims3), reps),
            "low": (dims3, low),
            "high": (dims3, high),
            "ess": (("panel", "week"), ess),
            "design_effect": (("panel", "week"), deff),
            "n_authors": (("panel", "week"), n_auth),
            "n_posts": (("panel", "week"), n_posts),
        },
        coords={"trend": data["trend"].values, "panel": panels, "week": weeks, "draw": np.arange(config.replicates)},
        attrs={
            "ci_prob": ci_prob,
            "weighting": config.weighting,
            "normalise_authors": int(config.normalise_authors),
            "smooth_weeks": config.smooth_weeks,
            "band": config.band,
        },
    )
    return TrendResult(series, weights, balance_tab, summary, warnings_)
