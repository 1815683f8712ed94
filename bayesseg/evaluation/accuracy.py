"""A segmentation or a trend series against a reference: the simulator's truth, or another fit.

* :func:`match_segments`: estimated segments matched to reference segments (Hungarian assignment);
* :func:`calibration_table` and :func:`expected_calibration_error`: is the largest membership
  probability the chance of being right?
* :func:`trend_accuracy`: a trend series against a reference series (RMSE, bias, band coverage).

References
----------
Kuhn, H. W. (1955). The Hungarian method for the assignment problem. *Naval Research Logistics
Quarterly* 2, 83-97. https://doi.org/10.1002/nav.3800020109

Guo, C., Pleiss, G., Sun, Y., & Weinberger, K. Q. (2017). On calibration of modern neural networks.
*ICML*, PMLR 70, 1321-1330. https://proceedings.mlr.press/v70/guo17a.html
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesseg.exceptions import InputError

__all__ = ["calibration_table", "expected_calibration_error", "match_segments", "trend_accuracy"]


def match_segments(
    estimated: Any,
    reference: Any,
    *,
    by: str = "labels",
    n_estimated: int | None = None,
    n_reference: int | None = None,
) -> dict[int, int]:
    """Match estimated segments to reference segments (e.g. the simulator's) by the Hungarian assignment.

    Parameters
    ----------
    estimated, reference : array_like
        ``by="labels"``: segment indices of the same authors, shape (n,) each (0..K-1 and
        0..K'-1); the assignment maximises the authors on which the two agree.
        ``by="profiles"``: category profiles, shapes (K, C) and (K', C); the assignment minimises
        the L1 distance of the log profiles.
    by : {"labels", "profiles"}, default "labels"
        What is compared.
    n_estimated, n_reference : int, optional
        With ``by="labels"``, the numbers of segments K and K' (default: the largest index + 1).

    Returns
    -------
    dict of int to int
        Estimated segment to its reference segment; with K ≠ K' the surplus segments are absent.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `by` is unknown or the arrays' shapes do not fit it.

    References
    ----------
    Kuhn (1955), https://doi.org/10.1002/nav.3800020109
    """
    est, ref = np.asarray(estimated), np.asarray(reference)
    if by == "labels":
        if est.shape != ref.shape or est.ndim != 1:
            raise InputError(f"labels must be two arrays of one index per author, got shapes {est.shape}, {ref.shape}")
        k_est = int(est.max()) + 1 if n_estimated is None else n_estimated
        k_ref = int(ref.max()) + 1 if n_reference is None else n_reference
        agree = np.zeros((k_est, k_ref))
        np.add.at(agree, (est.astype(int), ref.astype(int)), 1)
        rows, cols = linear_sum_assignment(-agree)
    elif by == "profiles":
        if est.ndim != 2 or ref.ndim != 2 or est.shape[1] != ref.shape[1]:
            raise InputError(f"profiles must be (segment, category) arrays, got shapes {est.shape}, {ref.shape}")
        cost = np.abs(np.log(est)[:, None, :] - np.log(ref)[None, :, :]).sum(-1)
        rows, cols = linear_sum_assignment(cost)
    else:
        raise InputError(f"by must be 'labels' or 'profiles', got {by!r}")
    return dict(zip(rows.tolist(), cols.tolist(), strict=True))


def calibration_table(top_probability: Any, correct: Any, bins: Any = (0, 0.5, 0.7, 0.9, 0.99, 1.0)) -> pd.DataFrame:
    """Accuracy against mean largest membership probability, by bin of that probability.

    Calibrated memberships put the two columns level in every bin: the remaining errors are
    authors whose labels do not tell their segment apart.

    Parameters
    ----------
    top_probability : array_like, shape (n,)
        Each author's largest membership probability.
    correct : array_like of bool, shape (n,)
        Whether that author's most likely segment is right.
    bins : sequence of float or int, default (0, 0.5, 0.7, 0.9, 0.99, 1)
        Bin edges, or a number of quantile bins (each holding about the same number of authors).

    Returns
    -------
    pandas.DataFrame
        Index ``bin`` (its interval as text); columns ``authors``, ``accuracy`` and
        ``mean_probability``. Empty bins are left out.
    """
    top = np.asarray(top_probability, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if isinstance(bins, int):
        edges = np.quantile(top, np.linspace(0, 1, bins + 1))
        which = np.clip(np.digitize(top, edges[1:-1]), 0, bins - 1)
        labels = np.array([f"quantile {b + 1} of {bins}" for b in range(bins)])[which]
        cut = pd.Categorical(labels, categories=[f"quantile {b + 1} of {bins}" for b in range(bins)])
    else:
        cut = pd.cut(top, list(bins), include_lowest=True)
    table = (
        pd.DataFrame({"bin": cut, "right": right, "top": top})
        .groupby("bin", observed=True)
        .agg(authors=("right", "size"), accuracy=("right", "mean"), mean_probability=("top", "mean"))
    )
    table.index = table.index.astype(str)
    return table


def expected_calibration_error(top_probability: Any, correct: Any, bins: int = 10) -> float:
    """Mean absolute gap between accuracy and confidence over equal-width bins of the largest probability.

    Parameters
    ----------
    top_probability : array_like, shape (n,)
        Each author's largest membership probability.
    correct : array_like of bool, shape (n,)
        Whether the most likely segment is right.
    bins : int, default 10
        Equal-width bins over [0, 1].

    Returns
    -------
    float

    References
    ----------
    Guo, Pleiss, Sun & Weinberger (2017), https://proceedings.mlr.press/v70/guo17a.html
    """
    top = np.asarray(top_probability, dtype=float)
    right = np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1]), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.mean() * abs(right[sel].mean() - top[sel].mean())
    return float(err)


def trend_accuracy(series: xr.DataArray, reference: xr.DataArray, low: Any = None, high: Any = None) -> pd.DataFrame:
    """A trend series against a reference series of the same trends and weeks (e.g. the population truth).

    Parameters
    ----------
    series, reference : xarray.DataArray, dims (trend, week)
        Weekly shares; weeks where either is NaN are left out, and trends or weeks of `series` that
        `reference` lacks are compared on no week.
    low, high : xarray.DataArray, dims (trend, week), optional
        A band around `series`.

    Returns
    -------
    pandas.DataFrame
        Index ``trend``: ``weeks`` (compared), ``reference_mean``, ``rmse``, ``bias`` (mean of
        series − reference) and, with a band, ``coverage`` (share of those weeks whose reference
        lies in the band) and ``band_width`` (mean).
    """
    # a trend or week the reference lacks is compared on no week (NaN figures), not an error
    reference = reference.reindex(trend=series["trend"].values, week=series["week"].values)
    rows = []
    for trend in series["trend"].values:
        s = np.asarray(series.sel(trend=trend).values, dtype=float)
        r = np.asarray(reference.sel(trend=trend).values, dtype=float)
        ok = np.isfinite(s) & np.isfinite(r)
        row = {
            "trend": str(trend),
            "weeks": int(ok.sum()),
            "reference_mean": float(np.mean(r[ok])) if ok.any() else float("nan"),
            "rmse": float(np.sqrt(np.mean((s[ok] - r[ok]) ** 2))) if ok.any() else float("nan"),
            "bias": float(np.mean(s[ok] - r[ok])) if ok.any() else float("nan"),
        }
        if low is not None and high is not None:
            lo = np.asarray(low.sel(trend=trend).values, dtype=float)[ok]
            hi = np.asarray(high.sel(trend=trend).values, dtype=float)[ok]
            row["coverage"] = float(np.mean((r[ok] >= lo) & (r[ok] <= hi))) if ok.any() else float("nan")
            row["band_width"] = float(np.nanmean(hi - lo)) if ok.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("trend")
