"""Weights that correct a panel toward a target population, and their diagnostics.

Pure functions in the manner of Meta's ``balance``: each takes arrays (or DataFrames) and returns
weights, and the diagnostics sit beside them. bayesseg computes its own weights because its
cells are *soft*: an author belongs to segment k with probability r_ik (one posterior draw), so
post-stratification and raking take a membership matrix ``(author, level)`` whose rows sum to one
rather than a hard cell label; with one-hot matrices they reduce to the textbook methods, and the
tests check them against ``balance`` (to 1e-6) in that case. They are also vectorised NumPy,
cheap enough to repeat for every bootstrap replicate and posterior draw of
:func:`bayesseg.survey.trends.trend_series`.

Conventions: every weighting function returns one shape, :class:`WeightResult` (the weights and a
dict describing the fit, as ``balance``'s ``{"weight", "model"}``), and :func:`panel_weights`
dispatches on the method's name. Panel weights are returned for the panel's authors and sum to the
size (or total weight) of the target population, so a weighted panel total estimates a
population total; every function raises :class:`bayesseg.exceptions.WeightsError` with the cell,
column or value at fault instead of returning a weight that is zero, negative, infinite or
undefined without saying so.

References
----------
Kish, L. (1965). *Survey Sampling*. Wiley. (Design effect, effective sample size.)

Rosenbaum, P. R., & Rubin, D. B. (1983). The central role of the propensity score in
observational studies for causal effects. *Biometrika* 70(1), 41-55.
https://doi.org/10.1093/biomet/70.1.41

Holt, D., & Smith, T. M. F. (1979). Post stratification. *Journal of the Royal
Statistical Society A* 142(1), 33-46. https://doi.org/10.2307/2344652

Deming, W. E., & Stephan, F. F. (1940). On a least squares adjustment of a sampled
frequency table when the expected marginal totals are known. *Annals of Mathematical
Statistics* 11(4), 427-444. https://doi.org/10.1214/aoms/1177731829

Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline
covariates between treatment groups in propensity-score matched samples. *Statistics in
Medicine* 28(25), 3083-3107. https://doi.org/10.1002/sim.3697

Potter, F. J. (1990). A study of procedures to identify and trim extreme sampling
weights. *Proceedings of the Survey Research Methods Section, ASA*, 225-230.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesseg.config import WEIGHTINGS
from bayesseg.exceptions import WeightsError

__all__ = [
    "WEIGHTINGS",
    "WeightResult",
    "asmd",
    "comparison_weights",
    "design_effect",
    "kish_ess",
    "panel_weights",
    "poststratify_weights",
    "propensity_weights",
    "rake_weights",
    "trim_weights",
]


def _check_weights(w: Any, name: str = "weights") -> np.ndarray:
    arr = np.asarray(w, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise WeightsError(f"{name} must be finite and >= 0; {name}[{', '.join(map(str, idx))}] = {arr[tuple(idx)]}")
    return arr


# ------------------------------------------------------------------------------ diagnostics
def kish_ess(weights: Any, axis: int = -1) -> np.ndarray:
    r"""Kish's effective sample size :math:`(\sum_i w_i)^2 / \sum_i w_i^2`.

    Parameters
    ----------
    weights : array_like
        Non-negative weights; units with weight 0 do not count.
    axis : int, default -1
        Axis of the units (the others are kept, e.g. ``(week, author)`` gives one ESS per week).

    Returns
    -------
    numpy.ndarray or float
        The effective sample size; 0 where every weight is 0.

    Raises
    ------
    WeightsError
        If a weight is negative or not finite.

    References
    ----------
    Kish (1965), *Survey Sampling*, section 11.7.
    """
    w = _check_weights(weights)
    s1 = w.sum(axis=axis)
    s2 = (w**2).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s2 > 0, s1**2 / np.where(s2 > 0, s2, 1.0), 0.0)


def design_effect(weights: Any, axis: int = -1) -> np.ndarray:
    r"""Kish's design effect of unequal weights, :math:`n \sum_i w_i^2 / (\sum_i w_i)^2`.

    The variance inflation of a weighted mean relative to an unweighted one of the same `n`
    units; ``n / design_effect`` is :func:`kish_ess`. Here `n` counts the units with a positive
    weight (a zero weight is a unit that is not in the sample).

    Parameters
    ----------
    weights : array_like
        Non-negative weights.
    axis : int, default -1
        Axis of the units.

    Returns
    -------
    numpy.ndarray or float
        >= 1; NaN where every weight is 0.

    Raises
    ------
    WeightsError
        If a weight is negative or not finite.

    References
    ----------
    Kish, L. (1992). Weighting for unequal P_i. *Journal of Official Statistics* 8(2), 183-200.
    """
    w = _check_weights(weights)
    n = (w > 0).sum(axis=axis)
    ess = kish_ess(w, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ess > 0, n / np.where(ess > 0, ess, 1.0), np.nan)


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.asarray((w[:, None] * x).sum(axis=0) / w.sum())


def _weighted_var(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Unbiased weighted variance for reliability weights (as ``balance``); NaN for one unit."""
    v1 = w.sum()
    v2 = (w**2).sum()
    if not v1**2 - v2 > 0:
        return np.full(x.shape[1], np.nan)
    return np.asarray(v1 / (v1**2 - v2) * (w[:, None] * (x - _weighted_mean(x, w)) ** 2).sum(axis=0))


def asmd(
    sample: pd.DataFrame,
    target: pd.DataFrame,
    sample_weights: Any = None,
    target_weights: Any = None,
) -> pd.Series:
    r"""Absolute standardised mean differences between a (weighted) sample and a target.

    :math:`|\bar x_w^{sample} - \bar x^{target}| / s^{target}` per column, where :math:`s` is the
    target's weighted standard deviation (unbiased for reliability weights,
    :math:`\frac{V_1}{V_1^2 - V_2}\sum w (x - \bar x)^2`); the same definition as
    ``balance.stats_and_plots.weighted_comparisons_stats.asmd`` with ``std_type="target"``.
    Values below 0.1 are conventionally read as balance.

    Parameters
    ----------
    sample, target : pandas.DataFrame
        Numeric columns; the same columns in both.
    sample_weights, target_weights : array_like, optional
        One weight per row (default: 1).

    Returns
    -------
    pandas.Series
        One ASMD per column, indexed by column name.

    Raises
    ------
    WeightsError
        If the columns differ, a value is not finite, a weight is negative or not finite, or a
        column of the target has no variance (the ASMD is undefined; the column is named).

    References
    ----------
    Austin (2009), https://doi.org/10.1002/sim.3697.
    """
    if list(sample.columns) != list(target.columns):
        raise WeightsError(f"sample and target columns differ: {list(sample.columns)} vs {list(target.columns)}")
    xs = sample.to_numpy(dtype=float)
    xt = target.to_numpy(dtype=float)
    for frame, x, what in ((sample, xs, "sample"), (target, xt, "target")):
        bad = ~np.isfinite(x)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise WeightsError(f"{what} column {frame.columns[j]!r} row {frame.index[i]!r} is not finite ({x[i, j]})")
    ws = np.ones(len(xs)) if sample_weights is None else _check_weights(sample_weights, "sample_weights")
    wt = np.ones(len(xt)) if target_weights is None else _check_weights(target_weights, "target_weights")
    if not ws.sum() > 0 or not wt.sum() > 0:
        raise WeightsError("the sample's or the target's weights are all 0")
    ms = _weighted_mean(xs, ws)
    mt, vt = _weighted_mean(xt, wt), _weighted_var(xt, wt)
    flat = ~(vt > 0)
    if flat.any():
        cols = [str(c) for c in sample.columns[flat]]
        raise WeightsError(f"target column(s) {cols} have no variance: the ASMD is undefined")
    return pd.Series(np.abs(ms - mt) / np.sqrt(vt), index=sample.columns, name="asmd")


# ------------------------------------------------------------------------------ trimming
@dataclass(frozen=True)
class WeightResult:
    """Weights and what the weighting that made them did: the one result shape of this module.

    Attributes
    ----------
    weights : numpy.ndarray, shape (n_panel,)
        The weights of the panel's units.
    model : dict
        What the method did, by key. :func:`propensity_weights`: ``propensity`` (fitted P(panel)
        of every target unit), ``params`` (the logit's coefficients) and ``result`` (the
        statsmodels fit); :func:`poststratify_weights`: ``cell_totals`` (the panel's weighted
        cell totals before weighting); :func:`rake_weights`: ``iterations``, ``converged`` and
        ``max_error`` (largest relative margin gap); :func:`trim_weights`: ``n_trimmed``, ``cap``,
        ``design_effect_before`` and ``design_effect_after``.
    """

    weights: np.ndarray
    model: dict[str, Any]


def trim_weights(weights: Any, max_ratio: float | None) -> WeightResult:
    """Cap weights at a multiple of their mean, then rescale them to their original sum.

    The same rule as ``balance.adjustment.trim_weights(weight_trimming_mean_ratio=...,
    keep_sum_of_weights=True)``: one pass, so after the rescaling a weight can exceed the cap
    slightly. Trimming trades bias for variance; the design effects before and after are
    returned so the trade is reported, never silent.

    Parameters
    ----------
    weights : array_like, shape (n,)
        Non-negative weights with a positive sum.
    max_ratio : float or None
        Cap = `max_ratio` × mean weight; ``None`` or ``0`` leaves the weights as they are.

    Returns
    -------
    WeightResult
        The trimmed weights, rescaled to the sum of the input; ``model``: ``n_trimmed`` (weights
        capped), ``cap`` (in the units of the input), ``design_effect_before`` and
        ``design_effect_after`` (Kish).

    Raises
    ------
    WeightsError
        If a weight is negative or not finite, every weight is 0, or ``0 < max_ratio <= 1`` (the
        cap would reach every weight above the mean, i.e. trim everything that weighting did).

    References
    ----------
    Potter (1990), Proceedings of the Survey Research Methods Section, ASA, 225-230.
    """
    w = _check_weights(weights)
    total = w.sum()
    if not total > 0:
        raise WeightsError("every weight is 0: nothing to trim")
    before = float(design_effect(w))
    if not max_ratio:
        return _trimmed(w.copy(), 0, float("inf"), before, before)
    if max_ratio <= 1:
        raise WeightsError(f"max_ratio must be > 1 (a cap at or below the mean trims every weight), got {max_ratio}")
    cap = float(max_ratio) * w.mean()
    over = w > cap
    out = np.minimum(w, cap)
    out *= total / out.sum()
    return _trimmed(out, int(over.sum()), cap, before, float(design_effect(out)))


def _trimmed(w: np.ndarray, n: int, cap: float, before: float, after: float) -> WeightResult:
    return WeightResult(w, {"n_trimmed": n, "cap": cap, "design_effect_before": before, "design_effect_after": after})


# ------------------------------------------------------------------------------ propensity
def propensity_weights(
    covariates: pd.DataFrame,
    in_panel: Any,
    frequency: Any = None,
    *,
    min_propensity: float = 1e-6,
) -> WeightResult:
    r"""Inverse-probability weights from a logistic model of panel membership.

    Fits :math:`\mathrm{logit}\,P(\text{panel}_i = 1 \mid x_i) = x_i^\top\beta` on the whole
    target population (panel and non-panel authors; statsmodels GLM, binomial family, IRLS) and
    weights each panel author by :math:`1/\hat p_i`: the Horvitz-Thompson weight of a Poisson
    sample with inclusion probability :math:`\hat p_i`. Weights are rescaled to sum to the
    target's total frequency (a Hájek normalisation; ratio estimators do not depend on it).

    Parameters
    ----------
    covariates : pandas.DataFrame, shape (n_target, n_covariate)
        The design, one row per author of the target, without a constant (one is added).
    in_panel : array_like of bool, shape (n_target,)
        Panel membership.
    frequency : array_like of int or float, shape (n_target,), optional
        Frequency weights (e.g. bootstrap multiplicities); default 1.
    min_propensity : float, default 1e-6
        Fitted propensities are floored here before inversion.

    Returns
    -------
    WeightResult
        ``1 / p_i`` for the panel's authors (in the order of ``in_panel``'s true entries),
        rescaled to sum to the target's total weight; ``model``: ``propensity`` (fitted
        P(panel | covariates) of every author of the target), ``params`` (the logit's
        coefficients, ``const`` first, a pandas.Series) and ``result`` (the statsmodels fit).

    Raises
    ------
    WeightsError
        If the panel is empty or is the whole target, a covariate is not finite (its column and
        row are named) or has no variance, or the fit does not converge or separates the panel
        perfectly (weights would be infinite).

    References
    ----------
    Rosenbaum & Rubin (1983), https://doi.org/10.1093/biomet/70.1.41;
    Horvitz, D. G., & Thompson, D. J. (1952). A generalization of sampling without replacement
    from a finite universe. *JASA* 47(260), 663-685. https://doi.org/10.1080/01621459.1952.10483446
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    y = np.asarray(in_panel, dtype=bool)
    if y.shape != (len(covariates),):
        raise WeightsError(f"in_panel has shape {y.shape}, expected ({len(covariates)},)")
    freq = np.ones(len(y)) if frequency is None else _check_weights(frequency, "frequency")
    n_panel = float(freq[y].sum())
    if n_panel == 0:
        raise WeightsError("the panel is empty: no author of the target is in it")
    if n_panel == freq.sum():
        raise WeightsError("the panel is the whole target: there is nothing to weight toward")
    x = covariates.to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise WeightsError(
            f"propensity covariate {covariates.columns[j]!r} is not finite for author {covariates.index[i]!r}"
        )
    used = freq > 0
    sd = x[used].std(axis=0)
    flat = [str(c) for c, s in zip(covariates.columns, sd, strict=True) if not s > 1e-12]
    if flat:
        raise WeightsError(f"propensity covariate(s) {flat} have no variance in the target")
    design = sm.add_constant(pd.DataFrame(x, columns=covariates.columns, index=covariates.index), has_constant="add")
    # exp overflows in the logit link for extreme linear predictors are harmless (p -> 0 or 1)
    with warnings.catch_warnings(), np.errstate(over="ignore", under="ignore"):
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            res = sm.GLM(y.astype(float), design, family=sm.families.Binomial(), freq_weights=freq).fit()
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as exc:
            raise WeightsError(f"the propensity model cannot be fitted: {exc}") from None
        p = np.asarray(res.predict(design), dtype=float)
    if not np.all(np.isfinite(p)):
        raise WeightsError("the propensity model gave non-finite probabilities")
    w = 1.0 / np.maximum(p[y], min_propensity)
    w *= freq.sum() / (w * freq[y]).sum()
    return WeightResult(w, {"propensity": p, "params": res.params, "result": res})


# ------------------------------------------------------------------------------ cells
def _memberships(m: Any, name: str) -> np.ndarray:
    arr = _check_weights(m, name)
    if arr.ndim != 2:
        raise WeightsError(f"{name} must be a (unit, level) matrix, got shape {arr.shape}")
    return arr


def poststratify_weights(
    panel_cells: Any,
    target_totals: Any,
    base_weights: Any = None,
    cell_names: Sequence[str] | None = None,
) -> WeightResult:
    r"""Post-stratification weights with (possibly soft) cell memberships.

    With :math:`M_{ic}` the share of panel unit *i* in cell *c* (one-hot for hard cells),
    :math:`S_c = \sum_i d_i M_{ic}` the panel's (base-weighted) total in the cell and
    :math:`T_c` the target's, the weight is :math:`w_i = d_i \sum_c M_{ic} T_c / S_c`: unit *i*
    is split into fractional units :math:`d_i M_{ic}`, one per cell, each weighted by
    :math:`T_c / S_c`, so the fractional units reproduce every cell total of the target exactly
    and the weights sum to :math:`\sum_c T_c`. For hard (one-hot) cells this is classical
    post-stratification (``balance``'s ``poststratify``) and ``w @ M`` equals the target totals.

    Parameters
    ----------
    panel_cells : array_like, shape (n_panel, n_cell)
        Cell memberships of the panel's units; rows sum to 1.
    target_totals : array_like, shape (n_cell,)
        Totals of the target per cell (e.g. soft counts of all authors).
    base_weights : array_like, shape (n_panel,), optional
        Design weights :math:`d_i` of the panel (default 1).
    cell_names : sequence of str, optional
        Names of the cells, for error messages.

    Returns
    -------
    WeightResult
        Weights of shape (n_panel,); ``model``: ``cell_totals`` (the panel's base-weighted cell
        totals :math:`S_c`).

    Raises
    ------
    WeightsError
        If a row does not sum to 1, or a cell holds target units but no panel unit (its share of
        the target cannot be represented; the cells are named).

    References
    ----------
    Holt & Smith (1979), https://doi.org/10.2307/2344652.
    """
    m = _memberships(panel_cells, "panel_cells")
    t = _check_weights(target_totals, "target_totals")
    if t.shape != (m.shape[1],):
        raise WeightsError(f"target_totals has shape {t.shape}, expected ({m.shape[1]},)")
    rows = m.sum(axis=1)
    if not np.allclose(rows, 1.0, atol=1e-8):
        i = int(np.argmax(np.abs(rows - 1)))
        raise WeightsError(f"panel_cells row {i} sums to {rows[i]}, not 1")
    d = np.ones(len(m)) if base_weights is None else _check_weights(base_weights, "base_weights")
    s = d @ m
    names = list(cell_names) if cell_names is not None else [str(c) for c in range(m.shape[1])]
    empty = (s <= 0) & (t > 0)
    if empty.any():
        lost = t[empty].sum() / t.sum()
        raise WeightsError(
            f"cell(s) {[names[c] for c in np.flatnonzero(empty)]} hold {lost:.2%} of the target but no panel unit; "
            "collapse them with a neighbouring cell or use raking"
        )
    ratio = np.divide(t, s, out=np.zeros_like(t), where=s > 0)
    return WeightResult(d * (m @ ratio), {"cell_totals": s})


def rake_weights(
    panel_margins: Mapping[str, Any],
    target_margins: Mapping[str, Any],
    base_weights: Any = None,
    *,
    max_iter: int = 1000,
    tol: float = 1e-10,
) -> WeightResult:
    r"""Raking (iterative proportional fitting) to known margins, with soft memberships.

    For each margin *m* in turn, with membership matrix :math:`M^{(m)}` (unit × level, rows sum to
    one) and target totals :math:`T^{(m)}`, every weight is multiplied by
    :math:`\sum_l M^{(m)}_{il}\, T^{(m)}_l / S^{(m)}_l` where :math:`S^{(m)}_l` is the current
    weighted panel total of level *l*; passes repeat until every margin matches. With one-hot
    memberships this is Deming & Stephan's algorithm (``balance``'s ``rake``). The weights sum to
    the common total of the margins.

    Parameters
    ----------
    panel_margins : mapping of str to array_like, shape (n_panel, n_level)
        Per margin, the panel's memberships.
    target_margins : mapping of str to array_like, shape (n_level,)
        Per margin, the target's totals; every margin must have the same total.
    base_weights : array_like, shape (n_panel,), optional
        Starting weights (default 1).
    max_iter : int, default 1000
        Maximum passes.
    tol : float, default 1e-10
        Convergence: largest relative margin gap.

    Returns
    -------
    WeightResult
        Weights of shape (n_panel,); ``model``: ``iterations`` (full passes), ``converged``
        (every margin matched to `tol`, relative) and ``max_error`` (largest relative gap
        between a weighted panel margin and the target's at the end).

    Raises
    ------
    WeightsError
        If the margins' names differ, their totals differ, a membership row does not sum to one,
        or a level holds target units but no panel unit (named).

    References
    ----------
    Deming & Stephan (1940), https://doi.org/10.1214/aoms/1177731829.
    """
    if set(panel_margins) != set(target_margins):
        raise WeightsError(f"margins differ: panel {sorted(panel_margins)} vs target {sorted(target_margins)}")
    names = list(target_margins)
    if not names:
        raise WeightsError("no margin to rake to")
    ms = {k: _memberships(panel_margins[k], f"panel_margins[{k!r}]") for k in names}
    ts = {k: _check_weights(target_margins[k], f"target_margins[{k!r}]") for k in names}
    n = {m.shape[0] for m in ms.values()}
    if len(n) != 1:
        raise WeightsError(f"panel margins have different numbers of units: {sorted(n)}")
    totals = {k: float(t.sum()) for k, t in ts.items()}
    ref = totals[names[0]]
    for k in names:
        if ms[k].shape[1] != ts[k].shape[0]:
            raise WeightsError(f"margin {k!r}: {ms[k].shape[1]} levels in the panel, {ts[k].shape[0]} in the target")
        if not np.isclose(totals[k], ref, rtol=1e-8):
            raise WeightsError(f"margin totals differ: {totals}")
        rows = ms[k].sum(axis=1)
        if not np.allclose(rows, 1.0, atol=1e-8):
            raise WeightsError(f"margin {k!r}: membership row {int(np.argmax(np.abs(rows - 1)))} does not sum to 1")
        empty = (ms[k].sum(axis=0) <= 0) & (ts[k] > 0)
        if empty.any():
            raise WeightsError(
                f"margin {k!r}: level(s) {np.flatnonzero(empty).tolist()} have target units but no panel unit"
            )
    w = np.ones(n.pop()) if base_weights is None else _check_weights(base_weights, "base_weights").copy()
    err = np.inf
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the last value is reported
        for k in names:
            s = w @ ms[k]
            ratio = np.divide(ts[k], s, out=np.zeros_like(s), where=s > 0)
            w = w * (ms[k] @ ratio)
        err = max(float(np.max(np.abs(w @ ms[k] - ts[k]) / ref)) for k in names)
        if err <= tol:
            break
    return WeightResult(w, {"iterations": it, "converged": bool(err <= tol), "max_error": err})


def panel_weights(
    method: str,
    in_panel: Any,
    *,
    frequency: Any = None,
    covariates: pd.DataFrame | None = None,
    margins: Mapping[str, Any] | None = None,
    level_names: Mapping[str, Sequence[str]] | None = None,
) -> WeightResult:
    """Weights of a panel toward its target population, by the method's name (as ``balance``'s ``adjust``).

    Parameters
    ----------
    method : {"propensity", "poststratify", "rake", "none"}
        ``propensity``: :func:`propensity_weights` on `covariates`; ``poststratify``:
        :func:`poststratify_weights` on the cells of the single margin of `margins`; ``rake``:
        :func:`rake_weights` to every margin of `margins`; ``none``: the frequencies.
    in_panel : array_like of bool, shape (n_target,)
        Panel membership of every unit of the target.
    frequency : array_like, shape (n_target,), optional
        Frequency weights of the target's units (e.g. bootstrap multiplicities); default 1.
    covariates : pandas.DataFrame, shape (n_target, n_covariate), optional
        The propensity design (``propensity``).
    margins : mapping of str to array_like, shape (n_target, n_level), optional
        Per margin, the (soft) memberships of every target unit (``poststratify``: one margin,
        its levels the cells; ``rake``: one or more). A unit whose row of some margin is all
        zero (its level is unknown) is left out of the weighting, and its panel weight is 0.
    level_names : mapping of str to sequence of str, optional
        Per margin, the names of its levels (for error messages).

    Returns
    -------
    WeightResult
        Weights of the panel's units (in the order of `in_panel`'s true entries) and the method's
        ``model`` dict.

    Raises
    ------
    WeightsError
        If `method` is unknown, its input is missing, or the method's own checks fail.
    """
    panel = np.asarray(in_panel, dtype=bool)
    m = np.ones(len(panel)) if frequency is None else _check_weights(frequency, "frequency")
    d = m[panel]
    if method == "propensity":
        if covariates is None:
            raise WeightsError("propensity weighting needs covariates")
        fit = propensity_weights(covariates, panel, m)
        return WeightResult(d * fit.weights, fit.model)
    if method == "none":
        return WeightResult(d.astype(float), {})
    return _cell_weights(method, panel, np.ones(len(panel), dtype=bool), m, margins, level_names)


def _cell_weights(
    method: str,
    units: np.ndarray,
    toward: np.ndarray,
    m: np.ndarray,
    margins: Mapping[str, Any] | None,
    level_names: Mapping[str, Sequence[str]] | None,
) -> WeightResult:
    """Post-stratification or raking weights of the `units` toward the margins' totals over `toward`."""
    if method not in WEIGHTINGS:
        raise WeightsError(f"unknown weighting {method!r}: choose one of {WEIGHTINGS}")
    if not margins:
        raise WeightsError(f"{method} weighting needs margins")
    mats = {k: _memberships(v, f"margins[{k!r}]") for k, v in margins.items()}
    keep = np.logical_and.reduce([mat.sum(axis=1) > 0 for mat in mats.values()])
    d, into = m[units], toward & keep
    if method == "poststratify":
        if len(mats) != 1:
            raise WeightsError(f"post-stratification takes one margin (its levels are the cells), got {list(mats)}")
        cells = next(iter(mats.values()))
        cp = cells[units & keep] / cells[units & keep].sum(axis=1, keepdims=True)
        name = next(iter(mats))
        names = (level_names or {}).get(name)
        res = poststratify_weights(cp, m[into] @ cells[into], d[keep[units]], names)
    else:
        res = rake_weights(
            {k: mat[units & keep] for k, mat in mats.items()},
            {k: m[into] @ mat[into] for k, mat in mats.items()},
            d[keep[units]],
        )
    w = np.zeros(int(units.sum()))
    w[keep[units]] = res.weights
    return WeightResult(w, res.model)


def comparison_weights(
    method: str,
    in_panel: Any,
    *,
    frequency: Any = None,
    propensity: Any = None,
    margins: Mapping[str, Any] | None = None,
    level_names: Mapping[str, Sequence[str]] | None = None,
) -> WeightResult:
    r"""Weights of the units outside a panel toward the *panel's* composition: its comparison group.

    :func:`panel_weights` makes the panel look like the whole target; this makes the rest of the
    target look like the panel (the weighting of an effect on the treated), so that a panel's
    series can be set against that of comparable units outside it. ``propensity``: the odds
    :math:`\hat p_i / (1 - \hat p_i)` of each unit's fitted propensity (Hirano, Imbens & Ridder
    2003), rescaled to sum to the panel's total frequency; ``poststratify``, ``rake``: the units
    post-stratified or raked to the panel's cell or margin totals; ``none``: their frequencies.

    Parameters
    ----------
    method : {"propensity", "poststratify", "rake", "none"}
        As :func:`panel_weights`.
    in_panel : array_like of bool, shape (n_target,)
        Panel membership of every unit of the target.
    frequency : array_like, shape (n_target,), optional
        Frequency weights (e.g. bootstrap multiplicities); default 1.
    propensity : array_like, shape (n_target,), optional
        Every unit's fitted panel propensity, in (0, 1) (``propensity``: :func:`propensity_weights`).
    margins, level_names : mapping, optional
        As :func:`panel_weights` (``poststratify`` and ``rake``).

    Returns
    -------
    WeightResult
        Weights of the units outside the panel (in the order of `in_panel`'s false entries) and
        the method's ``model`` dict.

    Raises
    ------
    WeightsError
        If the panel or its complement is empty, `method` is unknown, its input is missing or a
        propensity is outside (0, 1) (the unit is named), or the method's checks fail.

    References
    ----------
    Hirano, K., Imbens, G. W., & Ridder, G. (2003). Efficient estimation of average treatment
    effects using the estimated propensity score. *Econometrica* 71(4), 1161-1189.
    https://doi.org/10.1111/1468-0262.00442

    Imbens, G. W. (2004). Nonparametric estimation of average treatment effects under exogeneity: a
    review. *Rev. Econ. Stat.* 86(1), 4-29. https://doi.org/10.1162/003465304323023651
    """
    panel = np.asarray(in_panel, dtype=bool)
    m = np.ones(len(panel)) if frequency is None else _check_weights(frequency, "frequency")
    if m.shape != panel.shape or not m[panel].sum() > 0 or not m[~panel].sum() > 0:
        raise WeightsError(f"panel and complement must both hold units (frequency {m.shape}, panel {panel.shape})")
    d = m[~panel]
    if method == "propensity":
        if propensity is None:
            raise WeightsError("propensity comparison weights need the fitted propensities")
        p = np.asarray(propensity, dtype=float)
        if p.shape != panel.shape:
            raise WeightsError(f"propensity has shape {p.shape}, expected {panel.shape}")
        bad = ~((p[~panel] > 0) & (p[~panel] < 1))
        if bad.any():
            i = int(np.flatnonzero(~panel)[np.argmax(bad)])
            raise WeightsError(f"propensity of unit {i} is {float(p[i])!r}, not in (0, 1)")
        w = d * p[~panel] / (1 - p[~panel])
        return WeightResult(w * m[panel].sum() / w.sum(), {"propensity": p})
    if method == "none":
        return WeightResult(d.astype(float), {})
    return _cell_weights(method, ~panel, panel, m, margins, level_names)
