"""The model's inputs: every author of the warehouse eligible (counts, covariates) or excluded with a reason.

* :func:`model_inputs` builds them from the two aggregates (:func:`bayesseg.data.aggregate.author_category_counts`,
  :func:`bayesseg.data.aggregate.author_covariates`): eligibility, covariate transforms, regression imputation,
  and the dense ``(author, category)`` counts;
* :func:`load_inputs` runs the aggregations of a run specification on a warehouse and builds them;
* :func:`fold_rare_categories` folds the categories too few authors use into ``<group>_other``;
* :func:`stream_inputs` streams them batch by batch (for scoring millions of authors), each batch processed exactly
  as it would be inside the whole; :func:`fit_imputation` fits the imputation in one pass over the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import Covariate, RunSpec
from bayesseg.data.aggregate import author_category_counts, author_covariates, counts_to_xarray, stream_aggregates
from bayesseg.data.sources import Source
from bayesseg.dims import AUTHOR, COVARIATE
from bayesseg.exceptions import InputError
from bayesseg.taxonomy import Taxonomy

__all__ = [
    "ModelInputs",
    "fit_imputation",
    "fold_counts",
    "fold_rare_categories",
    "load_inputs",
    "model_inputs",
    "stream_inputs",
]


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
    covariate_table: pd.DataFrame,
    covariates: Sequence[Covariate],
    categories: Sequence[str],
    *,
    min_labels: int = 1,
    imputation: dict[str, np.ndarray] | None = None,
    require_eligible: bool = True,
) -> ModelInputs:
    """Build the model's counts and covariates; exclude, with a reason, authors it cannot use.

    Parameters
    ----------
    counts_long : pandas.DataFrame
        :func:`bayesseg.data.aggregate.author_category_counts`: columns ``author``, ``category``,
        ``count``.
    covariate_table : pandas.DataFrame
        :func:`bayesseg.data.aggregate.author_covariates`: one row per author of the warehouse.
    covariates : sequence of bayesseg.config.Covariate
        The model's covariates (transforms, missing-value policies), in order (``RunSpec.covariates``).
    categories : sequence of str
        The taxonomy's categories (the ``category`` coordinate, in order).
    min_labels : int, default 1
        Authors with fewer category labels are excluded (``RunSpec.min_labels``).
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
    bayesseg.exceptions.InputError
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
    cov = covariate_table.set_index(AUTHOR, drop=False)
    if cov.index.has_duplicates:
        dup = cov.index[cov.index.duplicated()][0]
        raise InputError(f"author covariates list author {dup!r} more than once")
    # vectorised (no Python sets of every row): this runs on every batch of a streamed scoring job
    unknown_authors = set(pd.unique(counts_long["author"][~counts_long["author"].isin(cov.index)]))
    if unknown_authors:
        raise InputError(
            f"{len(unknown_authors)} author(s) of the counts are not in the author covariates, "
            f"e.g. {sorted(map(str, unknown_authors))[:3]}"
        )
    unknown_cats = set(pd.unique(counts_long["category"])) - set(categories)
    if unknown_cats:
        raise InputError(f"counts name categories outside the taxonomy: {sorted(unknown_cats)}")
    for c in covariates:
        if c.name in cov.columns:
            raise InputError(f"covariate name {c.name!r} is also a column of the author covariates; rename it")
        if c.column not in cov.columns:
            raise InputError(
                f"covariate {c.name}: column {c.column!r} is not an author covariate ({list(cov.columns)})"
            )

    authors = cov.copy()
    n_labels = counts_long.groupby("author")["count"].sum()
    authors["n_labels"] = n_labels.reindex(authors.index).fillna(0).astype(np.int64)
    reason = pd.Series(pd.NA, index=authors.index, dtype="object")
    reason[authors["n_posts"] == 0] = "no posts"
    too_few = "no category labels" if min_labels == 1 else f"fewer than {min_labels} category labels"
    reason[reason.isna() & (authors["n_labels"] < min_labels)] = too_few
    values = {}
    for c in covariates:
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
    predictors = [c.name for c in covariates if c.missing == "exclude"]
    for c in covariates:
        if c.missing != "impute":
            continue
        v = values[c.name]
        gap = eligible & np.isnan(v)
        imputed[c.name] = int(gap.sum())
        authors[f"imputed_{c.name}"] = gap
        design = np.column_stack([np.ones(len(v))] + [values[p] for p in predictors])
        if imputation is not None:
            if c.name not in imputation or len(imputation[c.name]) != design.shape[1]:
                raise InputError(
                    f"imputation: covariate {c.name} needs {design.shape[1]} coefficients (intercept, {predictors}), "
                    f"got {imputation.get(c.name)}"
                )
            coefficients[c.name] = np.asarray(imputation[c.name], dtype=float)
        elif gap.any():
            have = eligible & ~np.isnan(v)
            if have.sum() < len(predictors) + 2:
                raise InputError(f"covariate {c.name}: too few authors have it ({have.sum()}) to impute the others")
            coefficients[c.name], *_ = np.linalg.lstsq(design[have], v[have], rcond=None)
        if gap.any():
            v = v.copy()
            # an elementwise product summed per row, not a matrix product: an author's value is the same
            # bits whatever batch it is in (BLAS takes other paths for other sizes)
            v[gap] = (design[gap] * coefficients[c.name]).sum(axis=1)
            values[c.name] = v
    for c in covariates:
        authors[c.name] = values[c.name]  # transformed (imputed where eligible), NaN where unknown
    authors["eligible"] = eligible
    authors["reason"] = reason
    if require_eligible and not eligible.any():
        raise InputError(f"no author is eligible for the model: {reason.value_counts().to_dict()}")

    ids = authors.index[eligible]
    kept = counts_long[AUTHOR].isin(ids)
    counts = counts_to_xarray(counts_long[kept], list(categories), ids.to_numpy())
    cov_array = None
    if covariates:
        cov_array = xr.DataArray(
            np.column_stack([values[c.name][eligible] for c in covariates]),
            dims=(AUTHOR, COVARIATE),
            coords={AUTHOR: ids.to_numpy(), COVARIATE: [c.name for c in covariates]},
            name="covariates",
        )
    excluded = pd.DataFrame({"author": authors.index[~eligible], "reason": reason[~eligible].astype(str).to_numpy()})
    return ModelInputs(counts, cov_array, authors, excluded.reset_index(drop=True), imputed, coefficients)


def load_inputs(source: Source, spec: RunSpec, taxonomy: Taxonomy) -> ModelInputs:
    """Run a specification's aggregations on a warehouse and build the model's inputs from them.

    Parameters
    ----------
    source : bayesseg.data.sources.Source
        The warehouse.
    spec : bayesseg.config.RunSpec
        Covariates, tier thresholds and ``min_labels``.
    taxonomy : bayesseg.taxonomy.Taxonomy
        Maps labels to categories.

    Returns
    -------
    ModelInputs
        Every author of the warehouse, eligible or excluded with its reason.

    Raises
    ------
    bayesseg.exceptions.InputError
        As :func:`model_inputs`.
    bayesseg.exceptions.SourceError
        If a query fails.
    """
    return model_inputs(
        author_category_counts(source, taxonomy),
        author_covariates(source, spec.tier_thresholds),
        spec.covariates,
        taxonomy.category_names,
        min_labels=spec.min_labels,
    )


def fold_rare_categories(
    inputs: ModelInputs, taxonomy: Taxonomy, min_authors: int
) -> tuple[ModelInputs, Taxonomy, pd.DataFrame]:
    """Fold the categories that fewer than `min_authors` eligible authors use into ``<group>_other``.

    Parameters
    ----------
    inputs : ModelInputs
        Counts with every category of `taxonomy`.
    taxonomy : bayesseg.taxonomy.Taxonomy
        The taxonomy the counts were built with.
    min_authors : int
        Smallest number of eligible authors (with at least one label of the category) a category
        needs to stay on its own; 0 folds nothing.

    Returns
    -------
    inputs : ModelInputs
        The counts of folded categories summed into their ``<group>_other``. When a group's rare
        categories, pooled, still have fewer than `min_authors` authors, their labels are
        excluded (reason ``too_rare`` in the taxonomy) and an author left without any label is
        excluded with its reason, never dropped silently.
    taxonomy : bayesseg.taxonomy.Taxonomy
        :meth:`bayesseg.taxonomy.Taxonomy.fold` of the rare categories.
    folded : pandas.DataFrame
        One row per folded category: ``category``, ``authors`` (eligible authors using it),
        ``labels`` and ``into`` (its ``<group>_other``, or ``excluded (N authors pooled)``);
        empty when nothing was folded.
    """
    columns = ["category", "authors", "labels", "into"]
    if min_authors <= 0:
        return inputs, taxonomy, pd.DataFrame(columns=columns)
    counts = inputs.counts
    support = (counts > 0).sum(AUTHOR).to_pandas()
    rare = [str(c) for c in counts["category"].values if support[c] < min_authors]
    if not rare:
        return inputs, taxonomy, pd.DataFrame(columns=columns)
    into = {c: taxonomy.other_category(c) for c in rare}
    # a group whose rare categories, pooled, are still too rare: their labels are excluded instead
    pooled = {
        g: int(((counts.sel(category=[c for c in rare if into[c] == g]) > 0).sum("category") > 0).sum())
        for g in set(into.values())
    }
    dropped = [c for c in rare if pooled[into[c]] < min_authors]
    folded_taxonomy = taxonomy.fold([c for c in rare if c not in dropped], exclude=dropped)
    folded_counts = fold_counts(counts, taxonomy, folded_taxonomy.category_names)
    table = pd.DataFrame(
        {
            "category": rare,
            "authors": [int(support[c]) for c in rare],
            "labels": [int(counts.sel(category=c).sum()) for c in rare],
            "into": [f"excluded ({pooled[into[c]]} authors pooled)" if c in dropped else into[c] for c in rare],
        }
    )
    empty = folded_counts[AUTHOR].values[(folded_counts.sum("category") == 0).values]
    if not empty.size:
        return replace(inputs, counts=folded_counts), folded_taxonomy, table
    # authors whose only labels were excluded ones: excluded, with the reason
    reason = "only labels of categories too rare to model (data.min_category_authors)"
    authors = inputs.authors.copy()
    authors.loc[empty, "eligible"] = False
    authors.loc[empty, "reason"] = reason
    excluded = pd.concat([inputs.excluded, pd.DataFrame({"author": empty, "reason": reason})], ignore_index=True)
    keep = ~np.isin(folded_counts[AUTHOR].values, empty)
    covariates = None if inputs.covariates is None else inputs.covariates.isel({AUTHOR: keep})
    folded_inputs = replace(
        inputs, counts=folded_counts.isel({AUTHOR: keep}), covariates=covariates, authors=authors, excluded=excluded
    )
    return folded_inputs, folded_taxonomy, table


def fold_counts(counts: xr.DataArray, taxonomy: Taxonomy, categories: Sequence[str]) -> xr.DataArray:
    """Counts with the taxonomy's categories, folded as a fitted model's `categories` show.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts; categories of `taxonomy` (or already folded ones, left as they are).
    taxonomy : bayesseg.taxonomy.Taxonomy
        The taxonomy before folding.
    categories : sequence of str
        The categories wanted (e.g. ``SegmentModel.categories_``), with ``<group>_other`` entries
        where categories were folded (:meth:`bayesseg.taxonomy.Taxonomy.fold_like`).

    Returns
    -------
    xarray.DataArray
        `counts` unchanged when nothing is to be folded; else the folded categories' counts
        summed into their group's ``_other`` and the excluded ones (too rare even pooled) left
        out, in the order of `categories`. Categories of `counts` outside the taxonomy are kept,
        for the model's own check to name them.
    """
    folded = taxonomy.fold_like(categories)
    if folded is taxonomy:
        return counts
    kept = set(folded.category_names)

    def target_of(c: str) -> str | None:
        if c in kept or c not in taxonomy.categories.index:
            return c  # kept, or outside the taxonomy: left for the model's own check to name
        other = taxonomy.other_category(c)
        return other if other in kept else None  # folded, or excluded as too rare

    targets = [target_of(str(c)) for c in counts["category"].values]
    present = np.array([t is not None for t in targets])
    target = [t for t in targets if t is not None]
    summed = counts.isel(category=present).assign_coords(category=target).groupby("category").sum()
    names = np.asarray([c for c in categories if c in set(target)] + sorted(set(target) - set(categories)), dtype=str)
    return summed.sel(category=names).astype(counts.dtype).assign_coords(category=names)


def _split(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def stream_inputs(
    source: Source,
    spec: RunSpec,
    taxonomy: Taxonomy,
    *,
    batch_authors: int = 100_000,
    imputation: dict[str, np.ndarray] | None = None,
    aggregates: str | None = None,
) -> Iterator[ModelInputs]:
    """Stream the model's inputs from the warehouse, one batch of authors at a time.

    Two result streams, both ordered by ``AUTHORID``, are merged: the author covariates (one row
    per author) and the author × category counts (one row per author and category with labels).
    Each batch holds every row of its authors, and goes through :func:`model_inputs`
    with fixed imputation coefficients, so a batch is processed exactly as it would be inside the
    whole.

    Parameters
    ----------
    source : bayesseg.data.sources.Source
        The warehouse.
    spec : bayesseg.config.RunSpec
        Covariates, tier thresholds and ``min_labels``.
    taxonomy : bayesseg.taxonomy.Taxonomy
        Categories (and the label mapping when the aggregation runs here).
    batch_authors : int, default 100000
        Authors per batch.
    imputation : dict of str to numpy.ndarray, optional
        Imputation coefficients (``ModelInputs.imputation``); required when the specification
        imputes a covariate (see :func:`fit_imputation`).
    aggregates : str, optional
        Schema (in the source's database) holding materialised aggregates
        (:data:`bayesseg.data.aggregate.AGGREGATE_TABLES`); by default the shipped aggregation SQL runs on
        the MART tables.

    Yields
    ------
    ModelInputs
        One per batch; ``authors`` covers every author of the batch, eligible or excluded.

    Raises
    ------
    bayesseg.exceptions.InputError
        If the counts name an author absent from the covariates, the author ids are not in
        increasing order, `batch_authors` is not positive, or imputation coefficients are needed
        and missing.
    bayesseg.exceptions.SourceError
        If a query fails.
    """
    if batch_authors < 1:
        raise InputError(f"batch_authors must be positive, got {batch_authors}")
    if imputation is None and any(c.missing == "impute" for c in spec.covariates):
        raise InputError("the specification imputes a covariate: pass imputation (see fit_imputation)")
    count_batches, cov_batches = stream_aggregates(
        source, taxonomy, spec.tier_thresholds, rows=batch_authors, aggregates=aggregates
    )
    categories = taxonomy.category_names
    pending = pd.DataFrame({"author": pd.Series(dtype="int64")})
    exhausted = False
    last_seen: int | None = None
    for raw in cov_batches:
        for cov in _split(raw, batch_authors):
            ids = cov["author"].to_numpy()
            if (last_seen is not None and ids[0] <= last_seen) or np.any(np.diff(ids) <= 0):
                raise InputError("author covariates are not in strictly increasing AUTHORID order")
            last = int(ids[-1])
            last_seen = last
            while not exhausted and (pending.empty or int(pending["author"].iloc[-1]) <= last):
                try:
                    nxt = next(count_batches)
                except StopIteration:
                    exhausted = True
                    break
                pending = nxt if pending.empty else pd.concat([pending, nxt], ignore_index=True)
            mine = pending["author"].to_numpy() <= last
            batch, pending = pending[mine], pending[~mine].reset_index(drop=True)
            if batch.empty:
                batch = pd.DataFrame({"author": [], "category": [], "count": []}).astype(
                    {"author": "int64", "category": "object", "count": "int64"}
                )
            yield model_inputs(
                batch,
                cov,
                spec.covariates,
                categories,
                min_labels=spec.min_labels,
                imputation=imputation,
                require_eligible=False,
            )
    leftover = pending if exhausted else pd.concat([pending, *count_batches])
    if len(leftover):
        raise InputError(
            f"{leftover['author'].nunique()} author(s) of the counts are not in the author covariates, "
            f"e.g. {sorted(map(str, leftover['author'].unique()))[:3]}"
        )


def fit_imputation(
    source: Source, spec: RunSpec, taxonomy: Taxonomy, *, batch_authors: int = 100_000, aggregates: str | None = None
) -> dict[str, np.ndarray]:
    """Imputation coefficients of the specification, fitted on every eligible author in one pass.

    The least-squares fit of :func:`model_inputs` (each imputed covariate on an
    intercept and the ``exclude``-policy covariates, over the eligible authors that have it),
    accumulated batch by batch through the normal equations, so memory does not grow with the
    number of authors. It agrees with the in-memory fit to rounding (about 1e-12).

    Parameters
    ----------
    source, spec, taxonomy, batch_authors, aggregates
        As :func:`stream_inputs`.

    Returns
    -------
    dict of str to numpy.ndarray
        Coefficients per imputed covariate (empty when none is imputed).

    Raises
    ------
    bayesseg.exceptions.InputError
        If fewer authors have an imputed covariate than coefficients to fit.

    References
    ----------
    Little, R. J. A., & Rubin, D. B. (2019). *Statistical Analysis with Missing Data*, 3rd ed.,
    ch. 4.2 (regression imputation). Wiley. https://doi.org/10.1002/9781119482260
    """
    imputed = [c.name for c in spec.covariates if c.missing == "impute"]
    if not imputed:
        return {}
    predictors = [c.name for c in spec.covariates if c.missing == "exclude"]
    p = len(predictors) + 1
    xtx = {name: np.zeros((p, p)) for name in imputed}
    xty = {name: np.zeros(p) for name in imputed}
    n_have = dict.fromkeys(imputed, 0)
    placeholder = {name: np.zeros(p) for name in imputed}
    for batch in stream_inputs(
        source, spec, taxonomy, batch_authors=batch_authors, imputation=placeholder, aggregates=aggregates
    ):
        a = batch.authors
        design = np.column_stack([np.ones(len(a))] + [a[q].to_numpy(dtype=float) for q in predictors])
        for name in imputed:
            have = a["eligible"].to_numpy(bool) & ~a[f"imputed_{name}"].to_numpy(bool) & a[name].notna().to_numpy()
            d = design[have]
            xtx[name] += d.T @ d
            xty[name] += d.T @ a[name].to_numpy(dtype=float)[have]
            n_have[name] += int(have.sum())
    out = {}
    for name in imputed:
        if n_have[name] < p + 1:
            raise InputError(f"covariate {name}: too few authors have it ({n_have[name]}) to impute the others")
        out[name] = np.linalg.solve(xtx[name], xty[name])
    return out
