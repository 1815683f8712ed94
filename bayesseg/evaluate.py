"""Measures of a segmentation's quality, for any segmentation (tiers, bayesseg's posterior, a baseline).

* :func:`coassignment`: the posterior probability that two authors share a segment;
* :func:`membership_entropy`: how sharply each author is assigned;
* :func:`agreement`: adjusted Rand index between segmentations (seeds, resamples, methods);
* :func:`predictive_auc`: how well a segmentation predicts a label it was not fitted to (e.g.
  FASHION_INTEREST_SEGMENT), by cross-validated logistic regression;
* :func:`threshold_jump`: whether an author characteristic jumps at a follower cut (12k, 40k) or
  runs continuously through it (local linear regression discontinuity);
* :func:`panel_composition`: who is over- and under-represented in a panel.

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

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "agreement",
    "coassignment",
    "membership_entropy",
    "panel_composition",
    "predictive_auc",
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
    ValueError
        If the dims are not as documented or rows do not sum to one.
    """
    dims = set(probability.dims)
    if not ({"author", "segment"} <= dims <= {"draw", "author", "segment"}):
        raise ValueError(f"probability must have dims ([draw,] author, segment), got {probability.dims}")
    r = probability.transpose(*(["draw"] if "draw" in dims else []), "author", "segment").values
    if not np.allclose(r.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("membership probabilities must sum to one over segments")
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
    ValueError
        If a probability is negative or rows do not sum to one.
    """
    p = probability.transpose("author", "segment")
    if (p < 0).any() or not np.allclose(p.sum("segment"), 1.0, atol=1e-6):
        raise ValueError("membership probabilities must be non-negative and sum to one over segments")
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
    ValueError
        If the labelings have different lengths or fewer than two are given.

    References
    ----------
    Hubert & Arabie (1985), https://doi.org/10.1007/BF01908075.
    """
    from sklearn.metrics import adjusted_rand_score

    names = list(labelings)
    if len(names) < 2:
        raise ValueError("give at least two segmentations to compare")
    arrays = {k: np.asarray(v) for k, v in labelings.items()}
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"segmentations have different numbers of authors: {sizes}")
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
    ValueError
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
        raise ValueError(f"target has shape {y.shape}, expected ({len(features)},)")
    if y.all() or not y.any():
        raise ValueError("the target has a single class: no AUC")
    x = features.to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"feature {features.columns[np.argwhere(bad)[0][1]]!r} is not finite")
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
        ``jump``, ``se``, ``z`` (jump / se), ``n_below``, ``n_above`` (authors in the window).

    Raises
    ------
    ValueError
        If a value is not finite, or either side of the window holds fewer than 10 authors.

    References
    ----------
    Imbens & Lemieux (2008), https://doi.org/10.1016/j.jeconom.2007.05.001.
    """
    import statsmodels.api as sm

    x = np.asarray(running, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("running and outcome must be finite arrays of the same length")
    d = x - cut
    w = np.clip(1 - np.abs(d) / bandwidth, 0.0, None)
    keep = w > 0
    above = d > 0
    n_below, n_above = int((keep & ~above).sum()), int((keep & above).sum())
    if min(n_below, n_above) < 10:
        raise ValueError(f"too few authors near the cut {cut}: {n_below} below, {n_above} above (need 10 each)")
    design = np.column_stack([np.ones(keep.sum()), d[keep], above[keep], d[keep] * above[keep]])
    res = sm.WLS(y[keep], design, weights=w[keep]).fit(cov_type="HC1")
    jump, se = float(res.params[2]), float(res.bse[2])
    return {"jump": jump, "se": se, "z": jump / se if se > 0 else np.nan, "n_below": n_below, "n_above": n_above}


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
    ValueError
        If the panel is empty, the lengths differ, or rows do not sum to one.
    """
    y = np.asarray(in_panel, dtype=bool)
    m = groups.to_numpy(dtype=float)
    if y.shape != (len(m),):
        raise ValueError(f"in_panel has shape {y.shape}, expected ({len(m)},)")
    if not y.any():
        raise ValueError("the panel is empty")
    if not np.allclose(m.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("group memberships must sum to one per author")
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
