"""Measures of a segmentation's quality, for any segmentation (tiers, bayesseg's posterior, a baseline).

* :func:`coassignment`: the posterior probability that two authors share a segment;
* :func:`membership_entropy`: how sharply each author is assigned;
* :func:`agreement`: adjusted Rand index between segmentations (seeds, resamples, methods);
* :func:`predictive_auc`: how well a segmentation predicts a label it was not fitted to (e.g.
  FASHION_INTEREST_SEGMENT), by cross-validated logistic regression;
* :func:`threshold_jump`: whether an author characteristic jumps at a follower cut (12k, 40k) or
  runs continuously through it (local linear regression discontinuity);
* :func:`panel_composition`: who is over- and under-represented in a panel;
* :func:`mixture_log_density`: held-out log predictive density of any segmentation read as a
  multinomial mixture (bayesseg's own: :meth:`bayesseg.model.SegmentModel.log_predictive_density`);
* :func:`segments_over_time`: segment shares per period and a permutation test of profile drift;

Against a reference (the simulator's truth, another fit): :mod:`bayesseg.evaluation.accuracy`.

References
----------
Hubert, L., & Arabie, P. (1985). Comparing partitions. *Journal of Classification* 2, 193-218.
https://doi.org/10.1007/BF01908075

Hanley, J. A., & McNeil, B. J. (1982). The meaning and use of the area under a receiver operating
characteristic (ROC) curve. *Radiology* 143(1), 29-36. https://doi.org/10.1148/radiology.143.1.7063747

Imbens, G. W., & Lemieux, T. (2008). Regression discontinuity designs: a guide to practice.
*Journal of Econometrics* 142(2), 615-635. https://doi.org/10.1016/j.jeconom.2007.05.001
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.dims import stack_sample_dims
from bayesseg.exceptions import InputError

__all__ = [
    "added_predictive_value",
    "agreement",
    "coassignment",
    "membership_entropy",
    "minimum_detectable_effect",
    "mixture_log_density",
    "panel_composition",
    "predictive_auc",
    "segments_over_time",
    "threshold_jump",
]


def coassignment(probability: xr.DataArray) -> xr.DataArray:
    r"""Posterior probability that two authors are in the same segment.

    :math:`P(z_i = z_j) = \mathbb{E}_s[\sum_k r_{ik}^{(s)} r_{jk}^{(s)}]`, averaging over
    posterior draws when given (authors are independent given the parameters of a draw).

    Parameters
    ----------
    probability : xarray.DataArray, dims ([draw,] author, segment)
        Membership probabilities, per draw or summarised. Memory grows as author²: pass a subset.

    Returns
    -------
    xarray.DataArray, dims (author, author_other)
        Symmetric, in [0, 1]; the diagonal is :math:`E[\sum_k r_{ik}^2]` (1 for a sure author).

    Raises
    ------
    bayesseg.exceptions.InputError
        If the dims are not as documented or rows do not sum to one.
    """
    if "chain" in probability.dims:
        probability = stack_sample_dims(probability)
    dims = set(probability.dims)
    if not ({"author", "segment"} <= dims <= {"draw", "author", "segment"}):
        raise InputError(f"probability must have dims ([chain, draw,] author, segment), got {probability.dims}")
    r = probability.transpose(*(["draw"] if "draw" in dims else []), "author", "segment").values
    if not np.allclose(r.sum(axis=-1), 1.0, atol=1e-6):
        raise InputError("membership probabilities must sum to one over segments")
    r = r if r.ndim == 3 else r[None]
    co = np.einsum("sik,sjk->ij", r, r) / r.shape[0]
    authors = probability["author"].values
    return xr.DataArray(
        co, dims=("author", "author_other"), coords={"author": authors, "author_other": authors}, name="coassignment"
    )


def membership_entropy(probability: xr.DataArray) -> xr.DataArray:
    """Entropy (nats) of each author's membership probabilities.

    Parameters
    ----------
    probability : xarray.DataArray, dims (author, segment)
        Membership probabilities (e.g. posterior means).

    Returns
    -------
    xarray.DataArray, dims (author,)
        0 for a sure assignment, log K for a uniform one.

    Raises
    ------
    bayesseg.exceptions.InputError
        If a probability is negative or rows do not sum to one.
    """
    p = probability.transpose("author", "segment")
    if (p < 0).any() or not np.allclose(p.sum("segment"), 1.0, atol=1e-6):
        raise InputError("membership probabilities must be non-negative and sum to one over segments")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = xr.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum("segment").rename("entropy")


def agreement(labelings: Mapping[str, Any]) -> pd.DataFrame:
    """Adjusted Rand index between every pair of segmentations of the same authors.

    Parameters
    ----------
    labelings : mapping of str to array_like, shape (n_authors,)
        Hard labels, in the same author order.

    Returns
    -------
    pandas.DataFrame
        Symmetric, 1 on the diagonal; 0 is the agreement expected by chance.

    Raises
    ------
    bayesseg.exceptions.InputError
        If the labelings have different lengths or fewer than two are given.

    References
    ----------
    Hubert & Arabie (1985), https://doi.org/10.1007/BF01908075.
    """
    from sklearn.metrics import adjusted_rand_score

    names = list(labelings)
    if len(names) < 2:
        raise InputError("give at least two segmentations to compare")
    arrays = {k: np.asarray(v) for k, v in labelings.items()}
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise InputError(f"segmentations have different numbers of authors: {sizes}")
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            out.loc[a, b] = out.loc[b, a] = adjusted_rand_score(arrays[a], arrays[b])
    return out


def predictive_auc(features: pd.DataFrame, target: Any, *, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated area under the ROC curve of a logistic regression of a binary label.

    Parameters
    ----------
    features : pandas.DataFrame, shape (n_authors, n_features)
        The segmentation as features: membership probabilities (drop one column, they sum to
        one), or one-hot hard segments.
    target : array_like of bool, shape (n_authors,)
        The label to predict, e.g. FASHION_INTEREST_SEGMENT.
    folds : int, default 5
        Stratified folds; every author is predicted by a model that did not see it.
    seed : int, default 0
        Shuffling of the folds.

    Returns
    -------
    float
        0.5 for a segmentation unrelated to the label, 1 for a perfect ranking.

    Raises
    ------
    bayesseg.exceptions.InputError
        If the target has one class only, its length differs from the features', or a
        feature is not finite (the column is named).

    References
    ----------
    Hanley & McNeil (1982), https://doi.org/10.1148/radiology.143.1.7063747.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(target, dtype=bool)
    if y.shape != (len(features),):
        raise InputError(f"target has shape {y.shape}, expected ({len(features)},)")
    if y.all() or not y.any():
        raise InputError("the target has a single class: no AUC")
    x = features.to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        raise InputError(f"feature {features.columns[np.argwhere(bad)[0][1]]!r} is not finite")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p = cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def threshold_jump(running: Any, outcome: Any, cut: float, bandwidth: float) -> dict[str, float]:
    """Jump of an outcome at a cut of the running variable: local linear regression discontinuity.

    Fits, by weighted least squares with a triangular kernel of half-width `bandwidth`,
    ``outcome ~ a + b (x - cut) + jump·[x > cut] + c (x - cut)·[x > cut]`` and reports the jump
    with a heteroskedasticity-robust (HC1) standard error. A segmentation rule with a real cut
    (e.g. 12,000 followers) predicts a jump in label profiles and engagement there; a continuous
    population predicts none.

    Parameters
    ----------
    running : array_like, shape (n,)
        The running variable, e.g. log10 followers.
    outcome : array_like, shape (n,)
        The characteristic, e.g. an author's share of luxury labels.
    cut : float
        The cut, on the scale of `running` (e.g. log10(12000)).
    bandwidth : float
        Half-width of the window around the cut.

    Returns
    -------
    dict
        ``jump``, ``se``, ``z`` (jump / se), ``n_below``, ``n_above`` (authors in the window),
        ``level`` (the outcome's fitted value at the cut, from below) and ``mde`` (the smallest
        jump this design detects at 1 % with power 0.8,
        :func:`bayesseg.evaluation.metrics.minimum_detectable_effect`).

    Raises
    ------
    bayesseg.exceptions.InputError
        If a value is not finite, or either side of the window holds fewer than 10 authors.

    References
    ----------
    Imbens & Lemieux (2008), https://doi.org/10.1016/j.jeconom.2007.05.001.
    """
    import statsmodels.api as sm

    x = np.asarray(running, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("running and outcome must be finite arrays of the same length")
    d = x - cut
    w = np.clip(1 - np.abs(d) / bandwidth, 0.0, None)
    keep = w > 0
    above = d > 0
    n_below, n_above = int((keep & ~above).sum()), int((keep & above).sum())
    if min(n_below, n_above) < 10:
        raise InputError(f"too few authors near the cut {cut}: {n_below} below, {n_above} above (need 10 each)")
    design = np.column_stack([np.ones(keep.sum()), d[keep], above[keep], d[keep] * above[keep]])
    res = sm.WLS(y[keep], design, weights=w[keep]).fit(cov_type="HC1")
    jump, se = float(res.params[2]), float(res.bse[2])
    return {
        "jump": jump,
        "se": se,
        "z": jump / se if se > 0 else np.nan,
        "n_below": n_below,
        "n_above": n_above,
        "level": float(res.params[0]),
        "mde": minimum_detectable_effect(se),
    }


def minimum_detectable_effect(se: float, *, alpha: float = 0.01, power: float = 0.8) -> float:
    r"""The smallest true effect a two-sided z-test detects with the given power.

    :math:`(z_{1-\alpha/2} + z_{\text{power}})\,\mathrm{se}`: an effect this large is declared
    significant at level `alpha` in a share `power` of repeated samples (normal approximation, the
    standard error taken as known). A test whose minimum detectable effect exceeds the effects that
    matter cannot support "no effect" when it finds none.

    Parameters
    ----------
    se : float
        Standard error of the estimated effect (the outcome's units).
    alpha : float, default 0.01
        Two-sided level.
    power : float, default 0.8
        Probability of detection.

    Returns
    -------
    float
        The minimum detectable effect, in the outcome's units.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `se` is negative or not finite, or `alpha` or `power` is not in (0, 1).

    References
    ----------
    Bloom, H. S. (1995). Minimum detectable effects: a simple way to report the statistical power of
    experimental designs. Evaluation Review 19(5), 547-556. https://doi.org/10.1177/0193841X9501900504
    """
    from scipy import stats

    if not np.isfinite(se) or se < 0:
        raise InputError(f"se must be a finite non-negative number, got {se!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise InputError(f"alpha and power must be in (0, 1), got {alpha!r} and {power!r}")
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se)


def added_predictive_value(
    base: pd.DataFrame, extra: pd.DataFrame, target: Any, *, folds: int = 5, seed: int = 0
) -> pd.DataFrame:
    """What extra features add to base ones in predicting a label, out of sample.

    Fits a logistic regression (multinomial for more than two classes) on `base`, on `extra` and on
    both, each feature standardised, and scores every author with a model fitted without it
    (stratified folds): the cross-validated log loss (lower is better) and, for a binary label, the
    AUC. Built to ask what the follower tiers add over the follower count they are cut from.

    Parameters
    ----------
    base, extra : pandas.DataFrame, shape (n_authors, n_features)
        Feature sets (same index), e.g. a spline basis of log followers and the one-hot tiers.
    target : array_like, shape (n_authors,)
        The label: bool (the fashion-forward panel) or integer classes (the modal segment).
    folds : int, default 5
        Stratified folds.
    seed : int, default 0
        Shuffling of the folds.

    Returns
    -------
    pandas.DataFrame
        Index ``base``, ``extra``, ``base + extra``; columns ``log_loss`` and, for a binary label,
        ``auc``.

    Raises
    ------
    bayesseg.exceptions.InputError
        If the frames' lengths differ from the target's, a feature is not finite (named), or the
        target has a single class.

    References
    ----------
    Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
    estimation. Journal of the American Statistical Association 102, 359-378.
    https://doi.org/10.1198/016214506000001437
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(target)
    if len(base) != len(y) or len(extra) != len(y):
        raise InputError(f"features have {len(base)} and {len(extra)} rows, the target {len(y)}")
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError("the target has a single class: nothing to predict")
    sets = {"base": base, "extra": extra, "base + extra": pd.concat([base, extra], axis=1)}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = {}
    for name, frame in sets.items():
        x = frame.to_numpy(dtype=float)
        bad = ~np.isfinite(x)
        if bad.any():
            raise InputError(f"feature {frame.columns[np.argwhere(bad)[0][1]]!r} is not finite")
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        p = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        row = {"log_loss": float(log_loss(y, p, labels=classes))}
        if classes.size == 2:
            row["auc"] = float(roc_auc_score(y == classes[1], p[:, 1]))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def panel_composition(in_panel: Any, groups: pd.DataFrame) -> pd.DataFrame:
    """Share of each group in a panel against the population: who is over- or under-represented.

    Parameters
    ----------
    in_panel : array_like of bool, shape (n_authors,)
        Panel membership.
    groups : pandas.DataFrame, shape (n_authors, n_groups)
        Group memberships: one-hot (tiers) or soft (segment probabilities); rows sum to one.

    Returns
    -------
    pandas.DataFrame
        Index: the groups; ``population_share``, ``panel_share``, ``representation``
        (panel share / population share: 1 is proportional) and ``panel_rate`` (the group's
        share of authors in the panel).

    Raises
    ------
    bayesseg.exceptions.InputError
        If the panel is empty, the lengths differ, or rows do not sum to one.
    """
    y = np.asarray(in_panel, dtype=bool)
    m = groups.to_numpy(dtype=float)
    if y.shape != (len(m),):
        raise InputError(f"in_panel has shape {y.shape}, expected ({len(m)},)")
    if not y.any():
        raise InputError("the panel is empty")
    if not np.allclose(m.sum(axis=1), 1.0, atol=1e-6):
        raise InputError("group memberships must sum to one per author")
    pop = m.sum(axis=0)
    pan = m[y].sum(axis=0)
    out = pd.DataFrame(
        {
            "population_share": pop / pop.sum(),
            "panel_share": pan / pan.sum(),
        },
        index=groups.columns,
    )
    out["representation"] = out["panel_share"] / out["population_share"]
    out["panel_rate"] = pan / pop
    return out


def mixture_log_density(
    train: xr.DataArray, responsibility: Any, test: xr.DataArray, *, pseudocount: float = 0.5
) -> xr.DataArray:
    """Held-out log predictive density of a hard or soft segmentation read as a multinomial mixture.

    A segmentation of the training authors implies a predictive distribution for a new author:
    p(y) = sum_k w_k Multinomial(y | n, p_k), with w_k the segments' shares and p_k their pooled
    category shares (smoothed by `pseudocount`). This puts baselines without a likelihood of
    their own (k-means, HDBSCAN) on the scale of bayesseg's
    :meth:`bayesseg.model.SegmentModel.log_predictive_density` (nats per author, multinomial
    coefficient included).

    Parameters
    ----------
    train : xarray.DataArray, dims (author, category)
        Label counts of the authors the segmentation was made on.
    responsibility : array_like, shape (n_train,) of int or (n_train, K) of float
        Hard labels (a negative label, e.g. HDBSCAN's noise, joins no segment) or soft memberships
        (rows summing to one).
    test : xarray.DataArray, dims (author, category)
        Held-out counts with the same categories.
    pseudocount : float, default 0.5
        Added to every segment × category count before normalising (a Dirichlet(0.5) posterior
        mean; keeps categories a segment never used possible).

    Returns
    -------
    xarray.DataArray, dims (author,)
        log p(y_i) of every held-out author, in nats.

    Raises
    ------
    bayesseg.exceptions.InputError
        If categories differ, the responsibilities do not match the training authors or do not sum
        to one, or no training author belongs to a segment.

    References
    ----------
    Gelman, A., Hwang, J., & Vehtari, A. (2014). Understanding predictive information criteria for
    Bayesian models. *Statistics and Computing* 24, 997-1016. https://doi.org/10.1007/s11222-013-9416-2
    """
    from scipy import special

    if list(train["category"].values) != list(test["category"].values):
        raise InputError("train and test have different categories (or orders)")
    y = train.transpose("author", "category").values.astype(float)
    r = np.asarray(responsibility)
    if r.ndim == 1:
        if len(r) != len(y):
            raise InputError(f"{len(r)} labels for {len(y)} training authors")
        labels = np.unique(r[r >= 0])
        r = (r[:, None] == labels[None, :]).astype(float)
    elif r.shape[0] != len(y):
        raise InputError(f"responsibility has {r.shape[0]} rows for {len(y)} training authors")
    elif not np.allclose(r.sum(axis=1), 1.0, atol=1e-6):
        raise InputError("soft responsibilities must sum to one per author")
    if r.shape[1] == 0 or r.sum() == 0:
        raise InputError("no training author belongs to a segment")
    weight = r.sum(axis=0) / r.sum()
    prof = r.T @ y + pseudocount
    log_p = np.log(prof / prof.sum(axis=1, keepdims=True))  # (K, C)
    z = test.transpose("author", "category").values.astype(float)
    n = z.sum(axis=1)
    log_coef = special.gammaln(n + 1) - special.gammaln(z + 1).sum(axis=1)
    comp = z @ log_p.T + np.log(np.maximum(weight, 1e-300))[None, :]
    return xr.DataArray(
        log_coef + special.logsumexp(comp, axis=1),
        dims=("author",),
        coords={"author": test["author"].values},
        name="log_density",
    )


def _total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(p - q).sum(axis=-1)


def _period_stats(
    y: np.ndarray, n_ip: np.ndarray, active: np.ndarray, m: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Author multiplicities `m` and memberships `r` (author, segment) -> author_share, label_share, profile."""
    wr = m[:, None] * r  # (a, k)
    act = active.T @ wr  # (p, k)
    lab = n_ip.T @ wr  # (p, k)
    prof = np.einsum("apc,ak->pkc", y, wr)
    with np.errstate(invalid="ignore", divide="ignore"):
        a_share = act / act.sum(axis=1, keepdims=True)
        l_share = lab / lab.sum(axis=1, keepdims=True)
        prof = prof / prof.sum(axis=2, keepdims=True)
    return a_share, l_share, prof


def _drift(seg_period_cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, k, c) weighted label counts -> TV per (p, k) and the label-weighted mean per k."""
    tot_pk = seg_period_cat.sum(axis=2)
    pooled = seg_period_cat.sum(axis=0)
    pooled = pooled / pooled.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = seg_period_cat / tot_pk[..., None]
    tv = _total_variation(prof, pooled[None])
    stat = np.nansum(tv * tot_pk, axis=0) / tot_pk.sum(axis=0)
    return tv, stat


def _permuted_drift(
    y: np.ndarray, r_mean: np.ndarray, permutations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The drift statistics under the null: each author's labels shuffled across their periods."""
    _, n_p, n_c = y.shape
    n_k = r_mean.shape[1]
    ycount = y.astype(np.int64)
    # one token per label: (author, category); the periods of an author's tokens are permuted
    a_idx, p_idx, c_idx = np.nonzero(ycount)
    reps_n = ycount[a_idx, p_idx, c_idx]
    tok_author = np.repeat(a_idx, reps_n)
    tok_period = np.repeat(p_idx, reps_n)
    tok_cat = np.repeat(c_idx, reps_n)
    null_stat = np.empty((permutations, n_k))
    null_tv = np.empty((permutations, n_p, n_k))
    weights = r_mean[tok_author]  # (tokens, k)
    for b in range(permutations):
        order = np.lexsort((rng.random(tok_author.size), tok_author))  # random order within author
        shuffled_period = tok_period[order]  # tokens are sorted by author already: same blocks
        flat = shuffled_period * n_c + tok_cat
        spc = np.stack(
            [np.bincount(flat, weights=weights[:, k], minlength=n_p * n_c).reshape(n_p, n_c) for k in range(n_k)],
            axis=1,
        )
        null_tv[b], null_stat[b] = _drift(spc)
    return null_tv, null_stat


def segments_over_time(
    counts: xr.DataArray,
    memberships: xr.DataArray,
    *,
    replicates: int = 200,
    permutations: int = 200,
    ci_prob: float = 0.9,
    seed: int = 0,
) -> xr.Dataset:
    """Segment shares per period and a test of whether segment profiles drift, with bands.

    Per period p (from :func:`bayesseg.data.aggregate.author_period_category_counts`), with soft
    memberships r_ik:

    * ``author_share``: the segment's share of the authors active in p,
      sum_i r_ik a_ip / sum_i a_ip (a_ip = 1 when author i has labels in p);
    * ``label_share``: its share of the labels of p, sum_i r_ik n_ip / sum_i n_ip;
    * ``profile``: its category shares in p, sum_i r_ik y_ipc / sum_i r_ik n_ip.

    Bands combine the segmentation's uncertainty with the authors' sampling: replicate b draws
    authors with replacement and uses posterior draw b (cycling through the draws).

    Drift: the model holds each author's category mix fixed over time. The statistic of segment k
    is the label-weighted mean total-variation distance between its per-period profiles and its
    pooled profile; its null distribution comes from permuting every author's labels across
    their periods (each author keeps their category counts and their labels per period, only
    the timing is shuffled). The p-value is (1 + #{null >= observed}) / (1 + permutations). A
    small p-value says the segment's authors change what they post over time, beyond the
    changes of which authors are active.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, period, category)
        Label counts per period.
    memberships : xarray.DataArray, dims (draw, author, segment)
        Posterior draws of r_ik for (at least) the authors of `counts`.
    replicates : int, default 200
        Bootstrap × posterior replicates of the bands.
    permutations : int, default 200
        Permutations of the drift test.
    ci_prob : float, default 0.9
        Probability of the equal-tailed bands.
    seed : int, default 0
        Seed of the resampling and the permutations.

    Returns
    -------
    xarray.Dataset
        Dims ``period``, ``segment``, ``category``, ``draw`` (the replicates): ``author_share``,
        ``label_share`` (period, segment) with ``*_low`` / ``*_high``; ``profile`` (period,
        segment, category) with ``profile_low`` / ``profile_high``; ``active_authors`` and
        ``labels`` (period); ``drift`` (period, segment: total-variation distance to the pooled
        profile, posterior-mean memberships), ``drift_null_high`` (period, segment: its ``ci_prob``
        quantile under the permutation null); ``drift_statistic`` and ``drift_pvalue``
        (segment). Periods without labels are NaN.

    Raises
    ------
    bayesseg.exceptions.InputError
        If an author of `counts` has no membership, dims are missing, or counts are negative.

    References
    ----------
    Rubin, D. B. (1981). The Bayesian bootstrap. *The Annals of Statistics* 9(1), 130-134.
    https://doi.org/10.1214/aos/1176345338

    Good, P. (2005). *Permutation, Parametric, and Bootstrap Tests of Hypotheses*, 3rd ed.
    Springer. https://doi.org/10.1007/b138696
    """
    for dim in ("author", "period", "category"):
        if dim not in counts.dims:
            raise InputError(f"counts lacks dim {dim!r} (dims {counts.dims})")
    if "chain" in memberships.dims:
        memberships = stack_sample_dims(memberships)
    for dim in ("draw", "author", "segment"):
        if dim not in memberships.dims:
            raise InputError(f"memberships lacks dim {dim!r} (dims {memberships.dims})")
    authors = counts["author"].values
    missing = np.setdiff1d(authors, memberships["author"].values)
    if missing.size:
        raise InputError(f"{missing.size} author(s) of counts have no membership, e.g. {missing[:5].tolist()}")
    y = counts.transpose("author", "period", "category").values.astype(float)
    if (y < 0).any() or not np.isfinite(y).all():
        raise InputError("counts must be finite and non-negative")
    r_draws = memberships.transpose("draw", "author", "segment").sel(author=authors).values
    n_a, n_p, n_c = y.shape
    n_k = r_draws.shape[-1]
    n_ip = y.sum(axis=2)  # (author, period)
    active = (n_ip > 0).astype(float)

    ones = np.ones(n_a)
    r_mean = r_draws.mean(axis=0)
    a0, l0, p0 = _period_stats(y, n_ip, active, ones, r_mean)
    rng = np.random.default_rng(seed)
    reps = {"author_share": np.empty((replicates, n_p, n_k)), "label_share": np.empty((replicates, n_p, n_k))}
    reps["profile"] = np.empty((replicates, n_p, n_k, n_c))
    for b in range(replicates):
        m = np.bincount(rng.integers(0, n_a, n_a), minlength=n_a).astype(float)
        out = _period_stats(y, n_ip, active, m, r_draws[b % r_draws.shape[0]])
        for key, v in zip(("author_share", "label_share", "profile"), out, strict=True):
            reps[key][b] = v

    # drift: observed statistic, then the permutation null (labels shuffled across periods within author)
    obs_tv, obs_stat = _drift(np.einsum("apc,ak->pkc", y, r_mean))
    null_tv, null_stat = _permuted_drift(y, r_mean, permutations, rng)
    pvalue = (1 + (null_stat >= obs_stat[None]).sum(axis=0)) / (1 + permutations)

    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # periods without labels: NaN bands
        q = {k: np.nanquantile(v, [lo_q, hi_q], axis=0) for k, v in reps.items()}
        null_high = np.nanquantile(null_tv, ci_prob, axis=0)
    dims_pk = ("period", "segment")
    return xr.Dataset(
        {
            "author_share": (dims_pk, a0),
            "author_share_low": (dims_pk, q["author_share"][0]),
            "author_share_high": (dims_pk, q["author_share"][1]),
            "label_share": (dims_pk, l0),
            "label_share_low": (dims_pk, q["label_share"][0]),
            "label_share_high": (dims_pk, q["label_share"][1]),
            "profile": (("period", "segment", "category"), p0),
            "profile_low": (("period", "segment", "category"), q["profile"][0]),
            "profile_high": (("period", "segment", "category"), q["profile"][1]),
            "author_share_draws": (("draw", *dims_pk), reps["author_share"]),
            "active_authors": (("period",), active.sum(axis=0)),
            "labels": (("period",), n_ip.sum(axis=0)),
            "drift": (dims_pk, obs_tv),
            "drift_null_high": (dims_pk, null_high),
            "drift_statistic": (("segment",), obs_stat),
            "drift_pvalue": (("segment",), pvalue),
        },
        coords={
            "period": counts["period"].values,
            "segment": memberships["segment"].values,
            "category": counts["category"].values,
            "draw": np.arange(replicates),
        },
        attrs={"ci_prob": ci_prob, "permutations": permutations},
    )
