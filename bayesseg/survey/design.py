"""The fit sample's survey design: a stratified random sample of authors with its sampling weights.

The model's population parameters are fitted on a sample of the eligible authors (tens of
thousands), stratified by current tier × activity quartile; every author is then scored from the
posterior. :func:`sample_design` draws the sample and its weights; :func:`fit_sample_summary`
reports what the sample estimates of the population's segment shares, weighted and not.

References
----------
Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5 (stratified random sampling,
allocation). Wiley. ISBN 978-0-471-16240-7.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import ALLOCATIONS
from bayesseg.exceptions import InputError
from bayesseg.survey.reweight import design_effect

__all__ = ["fit_sample_summary", "sample_design", "stratified_sample"]


def sample_design(authors: pd.DataFrame, n: int, seed: int = 0, allocation: str = "proportional") -> pd.DataFrame:
    """Stratified random sample of eligible authors for the fit, with its sampling weights.

    Strata are the current follower tier (``unknown`` when NULL) × the quartile of category
    labels per author. ``proportional`` allocation gives every stratum the same fraction
    ``n / N`` (rounded, at least one author per non-empty stratum): the sample is self-weighting
    up to rounding. ``equal`` allocation gives every stratum the same number of authors (capped
    at its size, the rest spread over larger strata), so small strata (edgy and trendy authors,
    8 % each) are fitted on many more authors than their share; their weights then differ and
    must be carried into population estimates (:meth:`bayesseg.model.SegmentModel.fit` takes them).

    Parameters
    ----------
    authors : pandas.DataFrame
        ``ModelInputs.authors`` (index ``author``; columns ``eligible``, ``current_tier``,
        ``n_labels``).
    n : int
        Target sample size; ``0`` or ``>= N`` takes every eligible author (weights 1).
    seed : int, default 0
        Seed of the draw.
    allocation : {"proportional", "equal"}, default "proportional"
        How the sample is spread over the strata.

    Returns
    -------
    pandas.DataFrame
        Indexed by sampled ``author`` (sorted): ``stratum`` (``tier/quartile``),
        ``stratum_size`` (N_h), ``stratum_sample`` (n_h) and ``weight`` (N_h / n_h, the inverse
        inclusion probability; the weights sum to N).

    Raises
    ------
    bayesseg.exceptions.InputError
        If `allocation` is unknown.

    References
    ----------
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5 (stratified random sampling,
    allocation). Wiley. ISBN 978-0-471-16240-7.
    """
    if allocation not in ALLOCATIONS:
        raise InputError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    pool = authors[authors["eligible"]]
    tier = pool["current_tier"].astype("object").fillna("unknown").astype(str)
    activity = pd.qcut(pool["n_labels"].rank(method="first"), 4, labels=False) if len(pool) >= 4 else 0
    stratum = tier + "/q" + pd.Series(activity, index=pool.index).astype(int).add(1).astype(str)
    sizes = stratum.value_counts().sort_index()
    if n <= 0 or n >= len(pool):
        take = sizes.copy()
    elif allocation == "proportional":
        take = np.maximum(1, (n / len(pool) * sizes).round()).astype(int).clip(upper=sizes)
    else:  # equal, capped at the stratum's size; what small strata cannot take goes to the others
        take = pd.Series(0, index=sizes.index)
        left = n
        open_ = sizes.index.tolist()
        while left > 0 and open_:
            share = max(1, left // len(open_))
            for h in list(open_):
                add = min(share, int(sizes[h] - take[h]), left)
                take[h] += add
                left -= add
                if take[h] >= sizes[h]:
                    open_.remove(h)
                if left == 0:
                    break
    rng = np.random.default_rng(seed)
    picked = []
    for h in sizes.index:  # sorted strata: the same seed gives the same sample
        ids = np.sort(stratum.index[stratum.to_numpy() == h].to_numpy())
        picked.append(rng.choice(ids, size=int(take[h]), replace=False))
    ids = np.sort(np.concatenate(picked))
    h = stratum.loc[ids].to_numpy()
    out = pd.DataFrame(
        {
            "stratum": h,
            "stratum_size": sizes.loc[h].to_numpy(),
            "stratum_sample": take.loc[h].to_numpy().astype(int),
        },
        index=pd.Index(ids, name="author"),
    )
    out["weight"] = out["stratum_size"] / out["stratum_sample"]
    return out


def stratified_sample(authors: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    """Self-weighting (proportional) stratified random sample of eligible authors for the fit.

    The authors of :func:`sample_design` with proportional allocation.

    Parameters
    ----------
    authors : pandas.DataFrame
        ``ModelInputs.authors``.
    n : int
        Target sample size; ``0`` or ``>= N`` returns every eligible author.
    seed : int, default 0
        Seed of the draw.

    Returns
    -------
    numpy.ndarray
        Sampled author ids, sorted.

    References
    ----------
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5 (proportional allocation).
    Wiley. ISBN 978-0-471-16240-7.
    """
    return sample_design(authors, n, seed).index.to_numpy()


def fit_sample_summary(design: pd.DataFrame, memberships: xr.Dataset, allocation: str) -> dict[str, Any]:
    """The fit sample's design and the population segment shares it estimates.

    Population shares of the segments (mean posterior membership probability over authors) are
    estimated three ways: over every scored author (the target), over the fit sample weighted by
    its sampling weights (Hajek estimator: what the weights are for) and over the fit sample
    unweighted (biased under unequal allocation).

    Parameters
    ----------
    design : pandas.DataFrame
        :func:`sample_design`.
    memberships : xarray.Dataset
        Memberships of every eligible author.
    allocation : str
        The allocation used.

    Returns
    -------
    dict
        ``allocation``, ``authors``, ``design_effect`` (Kish, of the weights), ``strata``
        (stratum to ``[N_h, n_h]``) and ``segment_shares`` (``all_authors``,
        ``fit_sample_weighted``, ``fit_sample_unweighted``: segment to share).

    References
    ----------
    Hájek, J. (1971). Comment on a paper by D. Basu. In *Foundations of Statistical Inference*,
    p. 236. Holt, Rinehart and Winston. Kish, L. (1965). *Survey Sampling*. Wiley.
    ISBN 978-0-471-10949-5.
    """
    w = design["weight"].to_numpy()
    prob = memberships["prob_mean"].transpose("author", "segment")
    sample = prob.sel(author=design.index.to_numpy()).values
    segs = [str(s) for s in memberships["segment"].values]

    def shares(values: np.ndarray) -> dict[str, float]:
        return {k: round(float(v), 5) for k, v in zip(segs, values, strict=True)}

    strata = design.groupby("stratum")[["stratum_size", "stratum_sample"]].first()
    return {
        "allocation": allocation,
        "authors": len(design),
        "design_effect": round(float(design_effect(w)), 4),
        "strata": {str(h): [int(r.stratum_size), int(r.stratum_sample)] for h, r in strata.iterrows()},
        "segment_shares": {
            "all_authors": shares(prob.values.mean(axis=0)),
            "fit_sample_weighted": shares(w @ sample / w.sum()),
            "fit_sample_unweighted": shares(sample.mean(axis=0)),
        },
    }
