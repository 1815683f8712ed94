"""The main job: from warehouse aggregates to segments, result tables, a report and a saved model.

:func:`run_job` runs the data flow of the design (``../shared/DESIGN.md``) on an open
:class:`bayesseg.sources.Source`: schema check and data-quality report, aggregation in the
warehouse, the model's inputs (:func:`model_inputs`: every author either eligible or excluded
with a reason), the fit (:func:`fit_segmentation`), memberships for every eligible author, the
result tables (:func:`result_tables`) written back to the warehouse, the HTML report
(:mod:`bayesseg.report`) and the saved model. Each step is also a function of its own, so
analyses and tests can run part of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.model import SegmentModel, compare_k
from bayesseg.spec import RunSpec

__all__ = [
    "FitResult",
    "ModelInputs",
    "RunResult",
    "author_segment_rows",
    "compute_trends",
    "fit_sample_summary",
    "fit_segmentation",
    "model_inputs",
    "result_tables",
    "run_job",
    "sample_design",
    "segment_profile_rows",
    "simulator_truth",
    "stratified_sample",
    "truth_validation",
]

RESULT_TABLES = ("AUTHOR_SEGMENTS", "SEGMENT_PROFILES", "EXCLUDED_AUTHORS")
TREND_TABLE = "TREND_SERIES"


@dataclass
class ModelInputs:
    """What the model sees, and what it does not (with reasons).

    Attributes
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts of the eligible authors (int64), every category of the taxonomy.
    covariates : xarray.DataArray or None, dims (author, covariate)
        Transformed covariates of the eligible authors (imputed where the spec says so).
    authors : pandas.DataFrame
        One row per author of the warehouse (index ``author``): the author covariates plus
        ``n_labels`` (category labels), one column per model covariate (its name; transformed,
        imputed for eligible authors, NaN where unknown), ``eligible`` (bool), ``reason``
        (exclusion reason or ``None``) and one ``imputed_<name>`` flag per imputed covariate.
    excluded : pandas.DataFrame
        Columns ``author`` and ``reason``: every author not segmented.
    imputed : dict of str to int
        Authors whose covariate was imputed, per covariate.
    imputation : dict of str to numpy.ndarray
        Per imputed covariate, the least-squares coefficients used (intercept first, then one per
        ``exclude``-policy covariate in the specification's order); pass them to
        :func:`model_inputs` to impute another batch of authors the same way.
    """

    counts: xr.DataArray
    covariates: xr.DataArray | None
    authors: pd.DataFrame
    excluded: pd.DataFrame
    imputed: dict[str, int]
    imputation: dict[str, np.ndarray] = field(default_factory=dict)


_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log1p": np.log1p,
    "log": np.log,
    "identity": lambda v: v,
}


def model_inputs(
    counts_long: pd.DataFrame,
    author_covariates: pd.DataFrame,
    spec: RunSpec,
    categories: list[str],
    *,
    imputation: dict[str, np.ndarray] | None = None,
    require_eligible: bool = True,
) -> ModelInputs:
    """Build the model's counts and covariates; exclude, with a reason, authors it cannot use.

    Parameters
    ----------
    counts_long : pandas.DataFrame
        :func:`bayesseg.aggregate.author_category_counts`: columns ``author``, ``category``,
        ``count``.
    author_covariates : pandas.DataFrame
        :func:`bayesseg.aggregate.author_covariates`: one row per author of the warehouse.
    spec : RunSpec
        Covariates (transforms, missing-value policies) and ``min_labels``.
    categories : list of str
        The taxonomy's categories (the ``category`` coordinate, in order).
    imputation : dict of str to numpy.ndarray, optional
        Imputation coefficients to use (``ModelInputs.imputation`` of an earlier call, e.g. on
        all authors when this call sees one batch of them); by default fitted here.
    require_eligible : bool, default True
        Raise when no author is eligible (a batch of a stream may legitimately have none).

    Returns
    -------
    ModelInputs

    Raises
    ------
    ValueError
        If a covariate's column is absent, counts name an author absent from the covariates or a
        category outside `categories`, no author is eligible (with `require_eligible`), or
        `imputation` lacks an imputed covariate or has the wrong number of coefficients.

    Notes
    -----
    Exclusion reasons, the first that applies: ``no posts``; ``fewer than m category labels``
    (``no category labels`` when m = 1); ``missing <covariate> (<column> is NULL or not
    finite)`` for a covariate whose policy is ``exclude``. A covariate whose policy is
    ``impute`` is replaced, where missing, by its least-squares prediction from the
    ``exclude``-policy covariates fitted on the eligible authors that have it.
    """
    cov = author_covariates.set_index("author", drop=False)
    if cov.index.has_duplicates:
        dup = cov.index[cov.index.duplicated()][0]
        raise ValueError(f"author covariates list author {dup!r} more than once")
    # vectorised (no Python sets of every row): this runs on every batch of a streamed scoring job
    unknown_authors = set(pd.unique(counts_long["author"][~counts_long["author"].isin(cov.index)]))
    if unknown_authors:
        raise ValueError(
            f"{len(unknown_authors)} author(s) of the counts are not in the author covariates, "
            f"e.g. {sorted(map(str, unknown_authors))[:3]}"
        )
    unknown_cats = set(pd.unique(counts_long["category"])) - set(categories)
    if unknown_cats:
        raise ValueError(f"counts name categories outside the taxonomy: {sorted(unknown_cats)}")
    for c in spec.covariates:
        if c.name in cov.columns:
            raise ValueError(f"covariate name {c.name!r} is also a column of the author covariates; rename it")
        if c.column not in cov.columns:
            raise ValueError(
                f"covariate {c.name}: column {c.column!r} is not an author covariate ({list(cov.columns)})"
            )

    authors = cov.copy()
    n_labels = counts_long.groupby("author")["count"].sum()
    authors["n_labels"] = n_labels.reindex(authors.index).fillna(0).astype(np.int64)
    reason = pd.Series(pd.NA, index=authors.index, dtype="object")
    reason[authors["n_posts"] == 0] = "no posts"
    too_few = "no category labels" if spec.min_labels == 1 else f"fewer than {spec.min_labels} category labels"
    reason[reason.isna() & (authors["n_labels"] < spec.min_labels)] = too_few
    values = {}
    for c in spec.covariates:
        raw = pd.to_numeric(authors[c.column], errors="coerce").to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = _TRANSFORMS[c.transform](raw)
        v[~np.isfinite(v)] = np.nan
        values[c.name] = v
        if c.missing == "exclude":
            reason[reason.isna() & np.isnan(v)] = f"missing {c.name} ({c.column} is NULL or not finite)"
    eligible = reason.isna().to_numpy()
    imputed: dict[str, int] = {}
    coefficients: dict[str, np.ndarray] = {}
    predictors = [c.name for c in spec.covariates if c.missing == "exclude"]
    for c in spec.covariates:
        if c.missing != "impute":
            continue
        v = values[c.name]
        gap = eligible & np.isnan(v)
        imputed[c.name] = int(gap.sum())
        authors[f"imputed_{c.name}"] = gap
        design = np.column_stack([np.ones(len(v))] + [values[p] for p in predictors])
        if imputation is not None:
            if c.name not in imputation or len(imputation[c.name]) != design.shape[1]:
                raise ValueError(
                    f"imputation: covariate {c.name} needs {design.shape[1]} coefficients (intercept, {predictors}), "
                    f"got {imputation.get(c.name)}"
                )
            coefficients[c.name] = np.asarray(imputation[c.name], dtype=float)
        elif gap.any():
            have = eligible & ~np.isnan(v)
            if have.sum() < len(predictors) + 2:
                raise ValueError(f"covariate {c.name}: too few authors have it ({have.sum()}) to impute the others")
            coefficients[c.name], *_ = np.linalg.lstsq(design[have], v[have], rcond=None)
        if gap.any():
            v = v.copy()
            v[gap] = design[gap] @ coefficients[c.name]
            values[c.name] = v
    for c in spec.covariates:
        authors[c.name] = values[c.name]  # transformed (imputed where eligible), NaN where unknown
    authors["eligible"] = eligible
    authors["reason"] = reason
    if require_eligible and not eligible.any():
        raise ValueError(f"no author is eligible for the model: {reason.value_counts().to_dict()}")

    ids = authors.index[eligible]
    row = ids.get_indexer(counts_long["author"])
    kept = row >= 0
    col = pd.Categorical(counts_long["category"], categories=categories).codes
    dense = np.zeros((len(ids), len(categories)), dtype=np.int64)
    np.add.at(dense, (row[kept], col[kept]), counts_long["count"].to_numpy()[kept])
    counts = xr.DataArray(
        dense, dims=("author", "category"), coords={"author": ids.to_numpy(), "category": categories}, name="counts"
    )
    covariates = None
    if spec.covariates:
        covariates = xr.DataArray(
            np.column_stack([values[c.name][eligible] for c in spec.covariates]),
            dims=("author", "covariate"),
            coords={"author": ids.to_numpy(), "covariate": [c.name for c in spec.covariates]},
            name="covariates",
        )
    excluded = pd.DataFrame({"author": authors.index[~eligible], "reason": reason[~eligible].astype(str).to_numpy()})
    return ModelInputs(counts, covariates, authors, excluded.reset_index(drop=True), imputed, coefficients)


ALLOCATIONS = ("proportional", "equal")
"""Allocations of the fit sample to strata (:func:`sample_design`)."""


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
    ValueError
        If `allocation` is unknown.

    References
    ----------
    Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5 (stratified random sampling,
    allocation). Wiley. ISBN 978-0-471-16240-7.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
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


@dataclass
class FitResult:
    """The fitted model and, when a range of K was fitted, the PSIS-LOO comparison."""

    model: SegmentModel
    comparison: pd.DataFrame | None = None
    fit_authors: np.ndarray = field(default_factory=lambda: np.empty(0))
    design: pd.DataFrame | None = None


def fit_segmentation(inputs: ModelInputs, spec: RunSpec, taxonomy: Any, progressbar: bool = False) -> FitResult:
    """Fit the model of the specification on its fit sample of the eligible authors.

    Parameters
    ----------
    inputs : ModelInputs
        From :func:`model_inputs`.
    spec : RunSpec
        K or K range, anchors, priors, sampler settings, fit sample size.
    taxonomy : bayesseg.taxonomy.Taxonomy
        Resolves the anchors' rules to categories.
    progressbar : bool, default False
        Show the sampler's progress.

    Returns
    -------
    FitResult

    Raises
    ------
    KeyError
        If an anchor names a rule the taxonomy lacks.
    """
    model_config = {**spec.priors, "anchors": taxonomy.anchors(list(spec.anchors))}
    sampler_config = {**spec.sampler, "progressbar": progressbar}
    design = sample_design(inputs.authors, spec.fit_authors, spec.sample_seed, spec.fit_allocation)
    ids = design.index.to_numpy()
    counts = inputs.counts.sel(author=ids)
    covariates = None if inputs.covariates is None else inputs.covariates.sel(author=ids)
    # sampling weights normalised to the sample size (a pseudo-posterior with the sample's
    # information); with every author, or a sample whose weights are all equal, none are needed
    w = design["weight"].to_numpy()
    weights = None if np.ptp(w) == 0 else w * len(w) / w.sum()
    ks = spec.k_values
    if len(ks) == 1:
        model = SegmentModel(ks[0], model_config, sampler_config).fit(counts, covariates, weights=weights)
        return FitResult(model, None, ids, design)
    table, models = compare_k(
        counts, covariates, ks, model_config=model_config, sampler_config=sampler_config, weights=weights
    )
    best = int(str(table.index[0]).split("=")[1])
    return FitResult(models[best], table, ids, design)


def result_tables(
    model: SegmentModel,
    memberships: xr.Dataset,
    inputs: ModelInputs,
    model_id: str,
    fitted_at: dt.datetime,
    ci_prob: float = 0.9,
) -> dict[str, pd.DataFrame]:
    """The tables written back to the warehouse.

    Parameters
    ----------
    model : SegmentModel
        The fitted model.
    memberships : xarray.Dataset
        :meth:`bayesseg.model.SegmentModel.predict_proba` summaries of every eligible author.
    inputs : ModelInputs
        Authors, their current tier and the excluded authors.
    model_id : str
        Identifies the fit in every row.
    fitted_at : datetime.datetime
        When the fit finished (UTC).
    ci_prob : float, default 0.9
        Probability of the profile intervals.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``AUTHOR_SEGMENTS`` (AUTHORID, SEGMENT, SEGMENT_NAME, PROB_MEAN, PROB_LOW, PROB_HIGH,
        IS_MODAL, ENTROPY, CURRENT_TIER, MODEL_ID, FITTED_AT: one row per author and segment),
        ``SEGMENT_PROFILES`` (SEGMENT, SEGMENT_NAME, CATEGORY, PROFILE_MEAN, PROFILE_LOW,
        PROFILE_HIGH, LIFT (posterior mean of profile / population profile), MODEL_ID) and
        ``EXCLUDED_AUTHORS`` (AUTHORID, REASON, MODEL_ID).

    Raises
    ------
    ValueError
        If an author is both segmented and excluded, or an author of the warehouse is neither.
    """
    authors = memberships["author"].values
    excluded = pd.DataFrame(
        {
            "AUTHORID": inputs.excluded["author"].to_numpy(),
            "REASON": inputs.excluded["reason"].to_numpy(),
            "MODEL_ID": model_id,
        }
    )
    both = set(authors) & set(excluded["AUTHORID"])
    if both:
        raise ValueError(f"{len(both)} author(s) are both segmented and excluded, e.g. {sorted(map(str, both))[:3]}")
    missing = set(inputs.authors.index) - set(authors) - set(excluded["AUTHORID"])
    if missing:
        raise ValueError(
            f"{len(missing)} author(s) are neither segmented nor excluded, e.g. {sorted(map(str, missing))[:3]}"
        )
    return {
        "AUTHOR_SEGMENTS": author_segment_rows(memberships, inputs, model_id, fitted_at),
        "SEGMENT_PROFILES": segment_profile_rows(model, model_id, ci_prob),
        "EXCLUDED_AUTHORS": excluded,
    }


def author_segment_rows(
    memberships: xr.Dataset, inputs: ModelInputs, model_id: str, fitted_at: dt.datetime
) -> pd.DataFrame:
    """AUTHOR_SEGMENTS rows of scored authors: one per author and segment.

    Parameters
    ----------
    memberships : xarray.Dataset
        :meth:`bayesseg.model.SegmentModel.predict_proba` summaries.
    inputs : ModelInputs
        Gives each author's current tier.
    model_id : str
        Identifies the fit.
    fitted_at : datetime.datetime
        When the fit finished (UTC).

    Returns
    -------
    pandas.DataFrame
        Columns AUTHORID, SEGMENT, SEGMENT_NAME, PROB_MEAN, PROB_LOW, PROB_HIGH, IS_MODAL,
        ENTROPY, CURRENT_TIER, MODEL_ID, FITTED_AT (see :func:`result_tables`).
    """
    segs = list(memberships["segment"].values)
    authors = memberships["author"].values
    n, k = len(authors), len(segs)
    mean = memberships["prob_mean"].transpose("author", "segment").values
    modal = mean.argmax(axis=1)
    tier = inputs.authors["current_tier"].reindex(authors).astype("object").to_numpy()
    stamp = pd.Timestamp(fitted_at).tz_convert("UTC") if pd.Timestamp(fitted_at).tzinfo else pd.Timestamp(fitted_at)
    return pd.DataFrame(
        {
            "AUTHORID": np.repeat(authors, k),
            "SEGMENT": np.tile(np.arange(k, dtype=np.int64), n),
            "SEGMENT_NAME": np.tile(np.asarray(segs, dtype=object), n),
            "PROB_MEAN": mean.ravel(),
            "PROB_LOW": memberships["prob_low"].transpose("author", "segment").values.ravel(),
            "PROB_HIGH": memberships["prob_high"].transpose("author", "segment").values.ravel(),
            "IS_MODAL": (np.arange(k)[None, :] == modal[:, None]).ravel(),
            "ENTROPY": np.repeat(memberships["entropy"].values, k),
            "CURRENT_TIER": np.repeat(tier, k),
            "MODEL_ID": model_id,
            "FITTED_AT": stamp,
        }
    )


def segment_profile_rows(model: SegmentModel, model_id: str, ci_prob: float = 0.9) -> pd.DataFrame:
    """SEGMENT_PROFILES rows: each segment's label profile with its interval and lift.

    Parameters
    ----------
    model : SegmentModel
        The fitted model.
    model_id : str
        Identifies the fit.
    ci_prob : float, default 0.9
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Columns SEGMENT, SEGMENT_NAME, CATEGORY, PROFILE_MEAN, PROFILE_LOW, PROFILE_HIGH, LIFT,
        MODEL_ID (see :func:`result_tables`).
    """
    segs = model.segment_names
    post = model._require_fit()["posterior"].to_dataset()
    prof = post["profile"]
    lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    q = prof.quantile([lo, hi], dim=("chain", "draw"))
    pm = prof.mean(("chain", "draw"))
    pop = post["population_profile"].mean(("chain", "draw"))
    profiles = (
        xr.Dataset(
            {
                "PROFILE_MEAN": pm,
                "PROFILE_LOW": q.sel(quantile=lo, drop=True),
                "PROFILE_HIGH": q.sel(quantile=hi, drop=True),
                "LIFT": pm / pop,
            }
        )
        .to_dataframe()
        .reset_index()
        .rename(columns={"segment": "SEGMENT_NAME", "category": "CATEGORY"})
    )
    profiles.insert(0, "SEGMENT", profiles["SEGMENT_NAME"].map({s: i for i, s in enumerate(segs)}).astype(np.int64))
    profiles["MODEL_ID"] = model_id
    return profiles


# ------------------------------------------------------------------------------ truth (simulator)
def simulator_truth(source: Any) -> dict[str, pd.DataFrame] | None:
    """The simulator's truth stored beside the MART tables, or ``None`` for a real warehouse.

    Parameters
    ----------
    source : bayesseg.sources.Source
        The warehouse; the truth lives in schema ``TRUTH`` of the same database.

    Returns
    -------
    dict of str to pandas.DataFrame or None
        ``AUTHORS``, ``SEGMENTS`` and ``GATING`` when the schema exists.
    """
    qualifier, _, _ = source.schema.rpartition(".")
    truth = f"{qualifier}.TRUTH" if qualifier else "TRUTH"
    found = source.query(
        "SELECT COUNT(*) AS N FROM information_schema.tables "
        "WHERE UPPER(table_schema) = 'TRUTH' AND UPPER(table_name) IN ('AUTHORS', 'SEGMENTS', 'GATING')"
    )
    if int(found["N"].iloc[0]) < 3:
        return None
    return {name: source.query(f"SELECT * FROM {truth}.{name}") for name in ("AUTHORS", "SEGMENTS", "GATING")}


def truth_validation(
    model: SegmentModel,
    memberships: xr.Dataset,
    inputs: ModelInputs,
    truth: dict[str, pd.DataFrame],
    ci_prob: float = 0.9,
) -> dict[str, Any]:
    """Compare a fit with the simulator's truth.

    Segments are matched to true segments by the assignment that maximises agreement of modal
    segments (Hungarian algorithm); gating contrasts are compared on the model's covariate
    scale: a true coefficient per standard deviation of the simulator's covariate is
    multiplied by (sd of the model's covariate / sd of the simulator's) over the same authors.
    The engagement covariate the warehouse reveals is a noisy measure of the simulator's latent
    engagement rate, so its coefficients are expected to be attenuated.

    Parameters
    ----------
    model : SegmentModel
        The fit.
    memberships : xarray.Dataset
        Memberships of the eligible authors.
    inputs : ModelInputs
        The model's covariates.
    truth : dict of str to pandas.DataFrame
        From :func:`simulator_truth`.
    ci_prob : float, default 0.9
        Probability of the coefficient intervals.

    Returns
    -------
    dict
        ``ari`` (adjusted Rand index of modal against true segments), ``nmi`` (normalised mutual
        information), ``accuracy`` (share of authors whose most likely segment is matched to their
        true one), ``mean_top_probability`` (mean of the largest membership probability: equal to
        the accuracy when memberships are calibrated), ``calibration`` (DataFrame: accuracy and
        mean largest probability by bin of the largest probability), ``n_authors``,
        ``matching`` (DataFrame segment → true segment with
        agreement), ``confusion`` (DataFrame) and ``coefficients`` (DataFrame covariate,
        segment, true, mean, low, high, covered).

    References
    ----------
    Hubert, L., & Arabie, P. (1985). Comparing partitions. *Journal of Classification* 2,
    193-218. https://doi.org/10.1007/BF01908075

    Kuhn, H. W. (1955). The Hungarian method for the assignment problem. *Naval Research
    Logistics Quarterly* 2, 83-97. https://doi.org/10.1002/nav.3800020109
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t_auth = truth["AUTHORS"].set_index("AUTHORID")
    authors = memberships["author"].values
    keep = np.isin(authors, t_auth.index.to_numpy())
    authors = authors[keep]
    segs = list(memberships["segment"].values)
    modal = memberships["prob_mean"].transpose("author", "segment").values[keep].argmax(axis=1)
    true_names = truth["SEGMENTS"].sort_values("SEGMENT")["SEGMENT_NAME"].tolist()
    true_seg = t_auth.loc[authors, "SEGMENT"].to_numpy().astype(int)
    confusion = pd.crosstab(
        pd.Categorical(np.asarray(segs)[modal], categories=segs),
        pd.Categorical(np.asarray(true_names)[true_seg], categories=true_names),
        dropna=False,
    )
    rows, cols = linear_sum_assignment(-confusion.to_numpy())
    match = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    matching = pd.DataFrame(
        {
            "segment": [segs[r] for r in rows],
            "true_segment": [true_names[c] for c in cols],
            "agreement": [
                confusion.iloc[r, c] / max(confusion.iloc[r].sum(), 1) for r, c in zip(rows, cols, strict=True)
            ],
        }
    )
    coefficients = pd.DataFrame()
    gating = truth["GATING"].pivot(index="SEGMENT", columns="COVARIATE", values="COEFFICIENT")
    # the simulator's covariate on its own scale: (raw value, standardised value) columns
    truth_scale = {}
    if {"LOG1P_FOLLOWERS", "X_LOG_FOLLOWERS", "ENGAGEMENT_RATE", "X_LOG_ENGAGEMENT"} <= set(t_auth.columns):
        truth_scale = {
            "log_followers": (t_auth["LOG1P_FOLLOWERS"], t_auth["X_LOG_FOLLOWERS"]),
            "log_engagement": (np.log(t_auth["ENGAGEMENT_RATE"]), t_auth["X_LOG_ENGAGEMENT"]),
        }
    if inputs.covariates is not None and len(model.covariate_names) and set(model.covariate_names) <= set(truth_scale):
        post = model._require_fit()["posterior"].to_dataset()
        rows_out = []
        ref = match.get(0)
        lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
        for cname in model.covariate_names:
            raw, standardised = truth_scale[cname]
            truth_sd = float(raw.std() / standardised.std())  # the simulator's unit, in raw units
            # a coefficient per simulator sd, expressed per sd of the model's (fit-sample) covariate
            scale = float(model.covariate_scale.loc[cname, "sd"]) / truth_sd
            for k in range(1, len(segs)):
                if k not in match or ref is None:
                    continue
                true_value = (gating.loc[match[k], cname] - gating.loc[ref, cname]) * scale
                draws = post["slope"].sel(covariate=cname, segment=segs[k]).values.ravel()
                low, high = np.quantile(draws, [lo, hi])
                rows_out.append(
                    {
                        "covariate": cname,
                        "segment": segs[k],
                        "true_segment": true_names[match[k]],
                        "true": true_value,
                        "mean": float(draws.mean()),
                        "low": float(low),
                        "high": float(high),
                        "covered": bool(low <= true_value <= high),
                    }
                )
        coefficients = pd.DataFrame(rows_out)
    # calibration: is P(most likely segment) the chance of being right (under the matching)?
    mapped = np.array([match.get(int(m), -1) for m in modal])
    right = mapped == true_seg
    top = memberships["prob_mean"].transpose("author", "segment").values[keep].max(axis=1)
    bins = pd.cut(top, [0, 0.5, 0.7, 0.9, 0.99, 1.0], include_lowest=True)
    calibration = (
        pd.DataFrame({"bin": bins, "right": right, "top": top})
        .groupby("bin", observed=True)
        .agg(authors=("right", "size"), accuracy=("right", "mean"), mean_probability=("top", "mean"))
    )
    calibration.index = calibration.index.astype(str)
    return {
        "accuracy": float(right.mean()),
        "mean_top_probability": float(top.mean()),
        "calibration": calibration,
        "ari": float(adjusted_rand_score(true_seg, modal)),
        "nmi": float(normalized_mutual_info_score(true_seg, modal)),
        "n_authors": len(authors),
        "matching": matching,
        "confusion": confusion,
        "coefficients": coefficients,
    }


def compute_trends(source: Any, spec: RunSpec, inputs: ModelInputs, model: SegmentModel) -> Any:
    """Trend series of every panel (:func:`bayesseg.trends.trend_series`) for a fitted model.

    Parameters
    ----------
    source : bayesseg.sources.Source
        The warehouse (trend counts are computed there).
    spec : RunSpec
        ``spec.trends`` (trends, weighting, replicates...), ``spec.tiers`` and
        ``spec.output["ci_prob"]``.
    inputs : ModelInputs
        The model's inputs: the authors table (panel flag, tier, covariates) and the counts and
        covariates of the segmented authors.
    model : bayesseg.model.SegmentModel
        Fitted; ``spec.trends.replicates`` thinned posterior draws give the memberships.

    Returns
    -------
    bayesseg.trends.TrendResult or None
        ``None`` when the specification declares no trend.

    Raises
    ------
    ValueError, bayesseg.reweight.WeightsError
        As :func:`bayesseg.trends.trend_data` and :func:`bayesseg.trends.trend_series`.
    """
    from bayesseg.trends import trend_data, trend_series

    cfg = spec.trends
    if not cfg.trends:
        return None
    data = trend_data(source, cfg.trends)
    r = model.predict_proba(inputs.counts, inputs.covariates, summary=False, max_draws=cfg.replicates)
    assert isinstance(r, xr.DataArray)
    return trend_series(data, inputs.authors, r.rename(sample="draw"), cfg, ci_prob=float(spec.output["ci_prob"]))


# ------------------------------------------------------------------------------ the job
@dataclass
class RunResult:
    """Everything a run produced (what the report shows).

    Attributes
    ----------
    spec : RunSpec
    out : pathlib.Path
        Output folder.
    source : str
        Description of the source.
    quality : bayesseg.quality.DataQualityReport
    inputs : ModelInputs
    fit : FitResult
    memberships : xarray.Dataset
        Every eligible author.
    tables : dict of str to pandas.DataFrame
        The result tables.
    written : dict of str to int
        Rows written back per table (empty when write-back is off).
    ppc : xarray.DataTree
        Posterior predictive replicates (:meth:`bayesseg.model.SegmentModel.posterior_predictive`).
    validation : dict or None
        :func:`truth_validation`, when the warehouse comes from the simulator.
    model_id : str
    fitted_at : datetime.datetime
    timings : dict of str to float
        Seconds per stage.
    paths : dict of str to pathlib.Path
        Files written.
    trends : bayesseg.trends.TrendResult or None
        Trend series (``None`` when the specification declares none or they failed).
    trends_error : str or None
        Why the trend series could not be built (e.g. a panel too small to weight); the run
        goes on without them and says so on the terminal, in the report and in ``run.json``.
    """

    spec: RunSpec
    out: Path
    source: str
    quality: Any
    inputs: ModelInputs
    fit: FitResult
    memberships: xr.Dataset
    tables: dict[str, pd.DataFrame]
    written: dict[str, int]
    ppc: xr.DataTree
    validation: dict[str, Any] | None
    model_id: str
    fitted_at: dt.datetime
    timings: dict[str, float]
    paths: dict[str, Path]
    trends: Any = None
    trends_error: str | None = None


RUN_STAGES: tuple[tuple[str, str], ...] = (
    ("schema", "check the four MART tables against the data contract"),
    ("quality", "measure every data defect (data_quality.html)"),
    ("aggregate", "aggregate in the warehouse: author × category counts, author covariates (Parquet)"),
    ("inputs", "build the model's counts and covariates; list excluded authors with reasons"),
    ("fit", "fit the segmentation model with NUTS (K, or K by PSIS-LOO, from the specification)"),
    ("score", "memberships with intervals for every eligible author"),
    ("check", "convergence diagnostics and posterior predictive checks"),
    ("trends", "trend series of every panel, raw and corrected toward all authors, with credible bands"),
    ("write", "write AUTHOR_SEGMENTS, SEGMENT_PROFILES, EXCLUDED_AUTHORS (and TREND_SERIES) back to the warehouse"),
    ("report", "write the HTML report (report.html) and save the model (model.nc)"),
)
"""The stages of :func:`run_job`, with what each does."""


def run_job(
    source: Any,
    spec: RunSpec,
    out: str | Path,
    *,
    stage: Callable[[str], AbstractContextManager[Any]] = contextlib.nullcontext,
    progressbar: bool = False,
    write_back: bool | None = None,
    dask: bool = False,
    scheduler: str | None = None,
) -> RunResult:
    """Run the main job on an open source.

    Parameters
    ----------
    source : bayesseg.sources.Source
        The warehouse (opened writable when results are written back).
    spec : RunSpec
        The run specification (``models/fashion.toml``).
    out : str or pathlib.Path
        Output folder: ``data_quality.html``, ``counts.parquet`` and ``covariates.parquet`` (the
        aggregates), ``report.html``, ``model.nc``, ``memberships.csv``, ``excluded.csv``,
        ``loo.csv`` (with a K range), ``trend_series.csv`` (with trends), ``run.json`` (a summary
        with timings).
    stage : callable, optional
        ``stage(description)`` returns a context manager wrapped around each stage (the CLI
        prints progress with it).
    progressbar : bool, default False
        Show the sampler's progress bar.
    write_back : bool, optional
        Write the result tables to the warehouse; defaults to ``spec.output["write_back"]``.
    dask : bool, default False
        Score the authors on Dask (:func:`bayesseg.scale.score_dask`) on a local cluster (the
        same memberships as in memory, bit for bit).
    scheduler : str, optional
        Address of an existing Dask scheduler to score on (implies `dask`).

    Returns
    -------
    RunResult

    Raises
    ------
    bayesseg.quality.SchemaError
        If the MART tables do not follow the data contract.
    bayesseg.sources.SourceError
        If a query or the write-back fails.
    ValueError
        If no author is eligible, or the inputs are inconsistent.
    """
    from bayesseg.aggregate import author_category_counts, author_covariates
    from bayesseg.io import membership_table
    from bayesseg.quality import check_schema, data_quality
    from bayesseg.report import write_report
    from bayesseg.taxonomy import Taxonomy

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    paths: dict[str, Path] = {}
    write_back = bool(spec.output["write_back"]) if write_back is None else write_back
    taxonomy = Taxonomy.from_toml(spec.taxonomy)

    @contextlib.contextmanager
    def timed(key: str) -> Iterator[None]:
        start = time.perf_counter()
        with stage(dict(RUN_STAGES)[key]):
            yield
        timings[key] = time.perf_counter() - start

    with timed("schema"):
        check_schema(source)
    with timed("quality"):
        quality = data_quality(source, taxonomy)
        paths["data_quality"] = quality.write_html(out / "data_quality.html")
    with timed("aggregate"):
        counts_long = author_category_counts(source, taxonomy)
        covariates = author_covariates(source, spec.tiers)
        paths["counts"] = out / "counts.parquet"
        counts_long.to_parquet(paths["counts"], index=False)
        paths["covariates"] = out / "covariates.parquet"
        covariates.to_parquet(paths["covariates"], index=False)
    with timed("inputs"):
        inputs = model_inputs(counts_long, covariates, spec, taxonomy.category_names)
    with timed("fit"):
        fit = fit_segmentation(inputs, spec, taxonomy, progressbar=progressbar)
    model = fit.model
    fitted_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    model_id = f"{spec.version}-K{model.n_segments}-{model.config_hash[:10]}-{fitted_at:%Y%m%dT%H%M%SZ}"
    ci_prob = float(spec.output["ci_prob"])
    with timed("score"):
        if dask or scheduler:
            from bayesseg.scale import dask_client, score_dask

            scored: xr.Dataset | xr.DataArray
            with dask_client(scheduler):
                scored = score_dask(model, inputs.counts, inputs.covariates, ci_prob=ci_prob).compute()
        else:
            scored = model.predict_proba(inputs.counts, inputs.covariates, ci_prob=ci_prob)
        assert isinstance(scored, xr.Dataset)
        memberships = scored
        tables = result_tables(model, memberships, inputs, model_id, fitted_at, ci_prob)
    with timed("check"):
        ppc = model.posterior_predictive(
            int(spec.output["ppc_authors"]), int(spec.output["ppc_draws"]), seed=int(spec.sampler.get("random_seed", 0))
        )
        truth = simulator_truth(source)
        validation = truth_validation(model, memberships, inputs, truth, ci_prob) if truth is not None else None
    trends = trends_error = None
    if spec.trends.trends:
        from bayesseg.reweight import WeightsError

        with timed("trends"):
            try:
                trends = compute_trends(source, spec, inputs, model)
            except (WeightsError, ValueError) as exc:
                trends_error = str(exc)
        if trends is not None:
            tables[TREND_TABLE] = trends.table()
            paths["trend_series"] = out / "trend_series.csv"
            tables[TREND_TABLE].to_csv(paths["trend_series"], index=False)
    written: dict[str, int] = {}
    if write_back:
        with timed("write"):
            written = source.write_tables(tables, spec.output["schema"])
    with timed("report"):
        paths["model"] = model.save(out / "model.nc")
        paths["memberships"] = out / "memberships.csv"
        membership_table(memberships).to_csv(paths["memberships"], index=False)
        paths["excluded"] = out / "excluded.csv"
        inputs.excluded.to_csv(paths["excluded"], index=False)
        if fit.comparison is not None:
            paths["loo"] = out / "loo.csv"
            fit.comparison.to_csv(paths["loo"], index_label="model")
        result = RunResult(
            spec=spec,
            out=out,
            source=source.describe(),
            quality=quality,
            inputs=inputs,
            fit=fit,
            memberships=memberships,
            tables=tables,
            written=written,
            ppc=ppc,
            validation=validation,
            model_id=model_id,
            fitted_at=fitted_at,
            timings=timings,
            paths=paths,
            trends=trends,
            trends_error=trends_error,
        )
        paths["report"] = write_report(result, out / "report.html")
        paths["run"] = out / "run.json"
        paths["run"].write_text(json.dumps(_run_summary(result), indent=2, default=str), encoding="utf-8")
    return result


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
    from bayesseg.reweight import design_effect

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


def _run_summary(result: RunResult) -> dict[str, Any]:
    excluded = result.inputs.excluded["reason"].value_counts().to_dict()
    summary = {
        "model_id": result.model_id,
        "fitted_at": result.fitted_at.isoformat(),
        "source": result.source,
        "spec": result.spec.to_dict(),
        "spec_hash": result.spec.spec_hash,
        "authors": len(result.inputs.authors),
        "segmented": int(result.memberships.sizes["author"]),
        "fit_authors": len(result.fit.fit_authors),
        "excluded": {str(k): int(v) for k, v in excluded.items()},
        "imputed": result.inputs.imputed,
        # the coefficients that imputed them: `bayesseg score --source` reuses them
        "imputation": {k: [float(c) for c in v] for k, v in result.inputs.imputation.items()},
        "written": result.written,
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "files": {k: str(v) for k, v in result.paths.items()},
    }
    if result.fit.design is not None:
        summary["fit_sample"] = fit_sample_summary(result.fit.design, result.memberships, result.spec.fit_allocation)
    if result.validation is not None:
        summary["validation"] = {"ari": result.validation["ari"], "nmi": result.validation["nmi"]}
    if result.trends is not None:
        trend_summary: dict[str, Any] = {k: v for k, v in result.trends.summary.items() if k != "cov_columns"}
        trend_summary["warnings"] = result.trends.warnings
        summary["trends"] = trend_summary
    if result.trends_error is not None:
        summary["trends_error"] = result.trends_error
    return summary
