r"""The fashion-forward panel's weights toward the target, from the aligned arrays of every panel.

:func:`prepare_trend_inputs` checks and aligns the warehouse's counts, the authors table and the
memberships (:class:`TrendInputs`); :class:`PanelWeighting` weights the fashion-forward panel toward
the target for one bootstrap replicate and posterior draw at a time; :func:`balance_table` says how
far the panel was from the target before and after weighting. :func:`bayesseg.survey.trends.trend_series`
composes them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import TIER_NAMES, TrendConfig
from bayesseg.dims import AUTHOR, SEGMENT, TREND, WEEK, stack_sample_dims
from bayesseg.exceptions import InputError, WeightsError
from bayesseg.survey.reweight import asmd, comparison_weights, panel_weights, trim_weights

__all__ = [
    "PRE_PERIOD_PSEUDO_POSTS",
    "PanelWeighting",
    "TrendInputs",
    "balance_table",
    "pre_period_design",
    "pre_period_test",
    "prepare_trend_inputs",
]

PRE_PERIOD_PSEUDO_POSTS = 2.0
"""An author's pre-period trend share is shrunk toward the target's by this many pseudo-posts."""


@dataclass
class TrendInputs:
    """The arrays behind every panel's series, aligned on the target's authors.

    Attributes
    ----------
    target : numpy.ndarray
        Author ids of the target (every author with posts).
    info : pandas.DataFrame
        Their rows of the authors table.
    panel : numpy.ndarray of bool
        Fashion-forward membership.
    tiers : list of str
        Tier names.
    tier_onehot : numpy.ndarray, shape (author, tier)
        Current tier, one-hot (a row of zeros when unknown).
    segments : list of str
        Segment names (empty without memberships).
    memberships : numpy.ndarray or None, shape (draw, author, segment)
        Posterior draws of the memberships (unsegmented authors: the segmented authors' mean).
    segmented : numpy.ndarray, shape (author,)
        1 for authors with a segmentation, else 0 (they count in no segment series).
    numerator : numpy.ndarray, shape (author, trend × week)
        Posts showing each trend (or each author's share of them, with ``normalise_authors``).
    denominator : numpy.ndarray, shape (author, week)
        Posts (or 1 per active author with ``normalise_authors``).
    posts : numpy.ndarray, shape (author, week)
        Posts.
    n_trends, n_weeks : int
    summary : dict
        Counts (target, panel, unknown flags, unsegmented authors).
    warnings : list of str
    hits : numpy.ndarray, shape (author, trend, week)
        Posts showing each trend.
    trend_names : list of str
        The trends, in the order of `hits`.
    platform : callable, optional
        ``platform(m, r)``: weights of the ``platform`` panel (:class:`bayesseg.survey.margins.PlatformTarget`).
    """

    target: np.ndarray
    info: pd.DataFrame
    panel: np.ndarray
    tiers: list[str]
    tier_onehot: np.ndarray
    segments: list[str]
    memberships: np.ndarray | None
    segmented: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    posts: np.ndarray
    n_trends: int
    n_weeks: int
    summary: dict[str, Any]
    warnings: list[str]
    hits: np.ndarray
    trend_names: list[str]
    platform: Callable[[np.ndarray, np.ndarray | None], np.ndarray] | None = None

    @property
    def panels(self) -> list[str]:
        """Names of the panels, in the order of the series' ``panel`` dim."""
        tiers, segments = [f"tier:{t}" for t in self.tiers], [f"segment:{s}" for s in self.segments]
        return ["all", "fashion_forward", *tiers, *segments] + (["platform"] if self.platform is not None else [])

    def weight_matrix(self, m: np.ndarray, ff: np.ndarray, r: np.ndarray | None) -> np.ndarray:
        """(panel, author) weights of every panel for bootstrap multiplicities `m` and memberships `r`."""
        rows = [m, ff] + [m * self.tier_onehot[:, j] for j in range(len(self.tiers))]
        if r is not None:
            rows += [m * self.segmented * r[:, k] for k in range(len(self.segments))]
        if self.platform is not None:
            rows.append(self.platform(m, r))
        return np.vstack(rows)


def prepare_trend_inputs(
    data: xr.Dataset,
    authors: pd.DataFrame,
    memberships: xr.DataArray | None,
    config: TrendConfig,
    tiers: Sequence[str] = TIER_NAMES,
) -> TrendInputs:
    """Check and align the warehouse's counts, the authors table and the memberships.

    Parameters
    ----------
    data, authors, memberships, config, tiers
        As :func:`bayesseg.survey.trends.trend_series`.

    Returns
    -------
    TrendInputs

    Raises
    ------
    bayesseg.exceptions.InputError
        If an author of `data` is missing from `authors`, a required column is missing, the
        target has a single author, or `memberships` has no draw.
    """
    target = data[AUTHOR].to_numpy()
    missing_cols = {"fashion_interest_segment", "current_tier"} - set(authors.columns)
    if config.weighting == "propensity":
        missing_cols |= set(config.propensity_covariates) - set(authors.columns)
    if missing_cols:
        raise InputError(f"authors table lacks column(s) {sorted(missing_cols)}")
    absent = np.setdiff1d(target, authors.index.to_numpy())
    if absent.size:
        raise InputError(f"{absent.size} author(s) with posts are not in the authors table, e.g. {absent[:5].tolist()}")
    if len(target) < 2:
        raise InputError("the target population needs at least 2 authors")
    info = authors.loc[target]
    n_a = len(target)
    panel = info["fashion_interest_segment"].fillna(False).to_numpy(dtype=bool)
    n_panel_unknown = int(info["fashion_interest_segment"].isna().sum())
    tier_codes = pd.Categorical(info["current_tier"], categories=list(tiers))
    tier_1h = np.eye(len(tiers))[np.where(tier_codes.codes < 0, 0, tier_codes.codes)]
    tier_1h[tier_codes.codes < 0] = 0.0
    notes: list[str] = []
    summary: dict[str, Any] = {
        "target_authors": n_a,
        "panel_authors": int(panel.sum()),
        "panel_unknown": n_panel_unknown,
        "tier_unknown": int((tier_codes.codes < 0).sum()),
        "weighting": config.weighting,
        "normalise_authors": config.normalise_authors,
        "replicates": config.replicates,
    }
    if n_panel_unknown:
        notes.append(f"{n_panel_unknown} author(s) have no FASHION_INTEREST_SEGMENT value: counted outside the panel")

    # memberships of the target, per draw; unsegmented authors get the mean of the segmented ones
    segs: list[str] = []
    r_draws: np.ndarray | None = None
    segmented = np.ones(n_a)
    if memberships is not None:
        memberships = stack_sample_dims(memberships) if "chain" in memberships.dims else memberships
        if memberships.sizes.get("draw", 0) == 0:
            raise InputError("memberships has no draw")
        segs = [str(s) for s in memberships[SEGMENT].values]
        known = np.isin(target, memberships[AUTHOR].values)
        r_known = memberships.transpose("draw", AUTHOR, SEGMENT).sel(author=target[known]).values
        r_draws = np.empty((r_known.shape[0], n_a, len(segs)))
        r_draws[:, known] = r_known
        r_draws[:, ~known] = r_known.mean(axis=1, keepdims=True)
        summary["unsegmented_authors"] = int((~known).sum())
        summary["unsegmented_panel_authors"] = int((~known & panel).sum())
        if (~known).any():
            notes.append(
                f"{int((~known).sum())} author(s) with posts have no segmentation (excluded from the model): "
                "they count in the target with the average membership, and in no segment series"
            )
        segmented = known.astype(float)

    posts = data["posts"].transpose(AUTHOR, WEEK).values
    hits = data["hits"].transpose(AUTHOR, TREND, WEEK).values
    n_t, n_w = hits.shape[1], hits.shape[2]
    if config.normalise_authors:
        num = np.divide(hits, posts[:, None, :], out=np.zeros_like(hits), where=posts[:, None, :] > 0)
        den = (posts > 0).astype(float)
    else:
        num, den = hits, posts
    return TrendInputs(
        target, info, panel, list(tiers), tier_1h, segs, r_draws, segmented,
        num.reshape(n_a, n_t * n_w), den, posts, n_t, n_w, summary, notes,
        hits, [str(t) for t in data[TREND].values],
    )  # fmt: skip


@dataclass
class PanelWeighting:
    """The fashion-forward panel's weights toward the target, for one replicate at a time.

    Parameters
    ----------
    inputs : TrendInputs
        The aligned arrays.
    config : TrendConfig
        ``weighting``, the propensity design options and ``trim_ratio``.
    """

    inputs: TrendInputs
    config: TrendConfig
    base_design: pd.DataFrame = field(init=False)
    imputed: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # the propensity design: covariates (standardised), squares; segment probabilities per draw
        self.base_design = pd.DataFrame(index=pd.Index(self.inputs.target, name=AUTHOR))
        if self.config.weighting != "propensity":
            return
        for c in self.config.propensity_covariates:
            v = self.inputs.info[c].to_numpy(dtype=float)
            bad = ~np.isfinite(v)
            self.imputed[c] = int(bad.sum())
            v = np.where(bad, np.nanmean(np.where(bad, np.nan, v)), v)
            sd = v.std()
            z = (v - v.mean()) / (sd if sd > 0 else 1.0)
            self.base_design[c] = z
            if self.config.propensity_quadratic:
                self.base_design[f"{c}^2"] = z**2
        if self.config.condition_on_pre_period:
            pre = pre_period_design(self.inputs, self.config.pre_period_weeks)
            self.base_design = self.base_design.join(pre)

    def design(self, r: np.ndarray | None) -> pd.DataFrame:
        """The propensity design for memberships `r` (author, segment) of one draw."""
        if not (self.config.propensity_segments and r is not None):
            return self.base_design
        return self.base_design.assign(**{f"p_{s}": r[:, k] for k, s in enumerate(self.inputs.segments) if k > 0})

    def weights(self, m: np.ndarray, r: np.ndarray | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Trimmed weights of the panel (full length, 0 outside it) for multiplicities `m` and memberships `r`.

        Parameters
        ----------
        m : numpy.ndarray, shape (author,)
            Bootstrap multiplicities (1 for the point estimate).
        r : numpy.ndarray or None, shape (author, segment)
            Memberships of one draw (their mean for the point estimate).

        Returns
        -------
        weights : numpy.ndarray, shape (author,)
        extra : dict
            ``trim`` (the trimming's :class:`bayesseg.survey.reweight.WeightResult`),
            ``comparison`` (full length, 0 in the panel: the other authors weighted to the panel's
            composition, :func:`bayesseg.survey.reweight.comparison_weights`, trimmed as the panel)
            and, by method, ``propensity`` (of the panel's authors) and ``comparison_propensity``
            (of the others), or ``rake_converged``.

        Raises
        ------
        bayesseg.exceptions.WeightsError
            If the panel cannot be weighted.
        """
        inp, method = self.inputs, self.config.weighting
        extra: dict[str, Any] = {}
        margins: dict[str, np.ndarray] = {}
        names: dict[str, list[str]] = {}
        if method in ("poststratify", "rake"):
            seg_m, seg_names = (np.ones((len(m), 1)), ["all"]) if r is None else (r, inp.segments)
            if method == "poststratify":
                margins["cell"] = (seg_m[:, :, None] * inp.tier_onehot[:, None, :]).reshape(len(m), -1)
                names["cell"] = [f"{s}|{t}" for s in seg_names for t in inp.tiers]
            else:
                margins = {"segment": seg_m, "tier": inp.tier_onehot}
        res = panel_weights(
            method,
            inp.panel,
            frequency=m,
            covariates=self.design(r) if method == "propensity" else None,
            margins=margins or None,
            level_names=names,
        )
        if method == "propensity":
            extra["propensity"] = res.model["propensity"][inp.panel]
            extra["comparison_propensity"] = res.model["propensity"][~inp.panel]
        elif method == "rake":
            extra["rake_converged"] = res.model["converged"]
        if not res.weights.sum() > 0:
            raise WeightsError("every weight of the panel is 0")
        trimmed = trim_weights(res.weights, self.config.trim_ratio or None)
        extra["trim"] = trimmed
        full = np.zeros(len(m))
        full[inp.panel] = trimmed.weights
        # the comparison group: the other authors weighted to the panel's composition (the lead)
        comparison = comparison_weights(
            method, inp.panel, frequency=m, propensity=res.model.get("propensity"), margins=margins or None,
            level_names=names,
        )  # fmt: skip
        extra["comparison"] = np.zeros(len(m))
        kept = m[~inp.panel] > 0
        if kept.any():
            w = np.zeros(int((~inp.panel).sum()))
            w[kept] = trim_weights(comparison.weights[kept], self.config.trim_ratio or None).weights
            extra["comparison"][~inp.panel] = w
        return full, extra


def balance_table(weighting: PanelWeighting, r_mean: np.ndarray | None, ff0: np.ndarray) -> pd.DataFrame:
    """ASMD of the panel against the target on the weighting variables, before and after weighting."""
    inp = weighting.inputs
    design = (
        weighting.design(r_mean).copy()
        if weighting.config.weighting == "propensity"
        else pd.DataFrame(index=inp.target)
    )
    if r_mean is not None:
        for k, s in enumerate(inp.segments):
            design[f"p_{s}"] = r_mean[:, k]
    for j, t in enumerate(inp.tiers):
        design[f"tier_{t}"] = inp.tier_onehot[:, j]
    design = design[[c for c in design.columns if design[c].std() > 0]]
    table = pd.DataFrame(
        {
            "asmd_before": asmd(design[inp.panel], design),
            "asmd_after": asmd(design[inp.panel], design, ff0[inp.panel]),
        }
    )
    table.index.name = "covariate"
    return table


def pre_period_design(inputs: TrendInputs, weeks: int) -> pd.DataFrame:
    r"""Each author's trend shares over the first `weeks` weeks, as standardised empirical logits.

    The share of author *i* for trend *j* is shrunk toward the target's pooled pre-period share
    :math:`\bar p_j` by :data:`PRE_PERIOD_PSEUDO_POSTS` pseudo-posts,
    :math:`\tilde p_{ij} = (h_{ij} + a \bar p_j) / (n_i + a)`, so that an author without a
    pre-period post sits at the target's share and a handful of posts does not give a share of 0
    or 1; the column is :math:`\mathrm{logit}\,\tilde p_{ij}`, standardised over the target. A
    trend without any pre-period post carries no information and has no column.

    Parameters
    ----------
    inputs : TrendInputs
        The aligned arrays (``hits`` and ``posts``).
    weeks : int
        Weeks of the pre-period, from the window's start.

    Returns
    -------
    pandas.DataFrame
        Index the target's authors; a column ``pre:<trend>`` per trend seen in the pre-period.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `weeks` leaves no week after the cut.
    """
    if not 0 < weeks < inputs.n_weeks:
        raise InputError(f"pre_period_weeks must be between 1 and {inputs.n_weeks - 1}, got {weeks}")
    h = inputs.hits[:, :, :weeks].sum(axis=2)
    n = inputs.posts[:, :weeks].sum(axis=1)
    a = PRE_PERIOD_PSEUDO_POSTS
    pooled = h.sum(axis=0) / max(n.sum(), 1.0)
    frame = pd.DataFrame(index=pd.Index(inputs.target, name=AUTHOR))
    for j, name in enumerate(inputs.trend_names):
        if not 0 < pooled[j] < 1:
            continue
        p = (h[:, j] + a * pooled[j]) / (n + a)
        z = np.log(p) - np.log1p(-p)
        sd = z.std()
        if sd > 0:
            frame[f"pre:{name}"] = (z - z.mean()) / sd
    return frame


def pre_period_test(panel: np.ndarray, base: pd.DataFrame, pre: pd.DataFrame, alpha: float = 0.05) -> dict[str, Any]:
    r"""Does pre-period behaviour predict panel membership beyond the weighting covariates? A likelihood-ratio test.

    Two logistic models of panel membership are fitted on the whole target: on `base` (the
    propensity model's design), and on `base` and `pre` (:func:`pre_period_design`). Under the
    hypothesis that curators picked on the weighting covariates alone, twice the gain in
    log-likelihood is :math:`\chi^2` with as many degrees of freedom as `pre` has columns (Wilks
    1938). A small p-value says the panel was picked on what its authors posted: weights on
    followers and segment leave that selection in the series.

    Parameters
    ----------
    panel : numpy.ndarray of bool, shape (author,)
        Panel membership in the target.
    base : pandas.DataFrame, shape (author, covariate)
        The propensity design (no constant).
    pre : pandas.DataFrame, shape (author, trend)
        The pre-period design.
    alpha : float, default 0.05
        Level of the verdict.

    Returns
    -------
    dict
        ``lr_statistic``, ``df``, ``p_value``, ``odds_ratio_per_sd`` (per trend, from the larger
        model), ``verdict`` (``pass``: no evidence at `alpha`; ``fail``: pre-period behaviour
        predicts membership), or ``verdict = "not computed"`` and ``reason`` when a model cannot be
        fitted (separation, no pre-period column).

    References
    ----------
    Wilks, S. S. (1938). The large-sample distribution of the likelihood ratio for testing
    composite hypotheses. *Annals of Mathematical Statistics* 9(1), 60-62.
    https://doi.org/10.1214/aoms/1177732360

    Imbens, G. W., & Wooldridge, J. M. (2009). Recent developments in the econometrics of program
    evaluation. *Journal of Economic Literature* 47(1), 5-86 (lagged outcomes as covariates).
    https://doi.org/10.1257/jel.47.1.5
    """
    import statsmodels.api as sm
    from scipy import stats
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    if pre.shape[1] == 0:
        return {"verdict": "not computed", "reason": "no trend has a post in the pre-period"}
    y = np.asarray(panel, dtype=float)
    fits = []
    with warnings.catch_warnings(), np.errstate(over="ignore", under="ignore"):
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        for x in (base, base.join(pre)):
            design = sm.add_constant(x.astype(float), has_constant="add")
            try:
                fits.append(sm.GLM(y, design, family=sm.families.Binomial()).fit())
            except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as exc:
                return {"verdict": "not computed", "reason": f"a logistic model cannot be fitted: {exc}"}
    lr = max(2.0 * (fits[1].llf - fits[0].llf), 0.0)
    df = int(pre.shape[1])
    p_value = float(stats.chi2.sf(lr, df))
    return {
        "lr_statistic": float(lr),
        "df": df,
        "p_value": p_value,
        "odds_ratio_per_sd": {str(c).removeprefix("pre:"): float(np.exp(fits[1].params[c])) for c in pre.columns},
        "verdict": "fail" if p_value < alpha else "pass",
    }
