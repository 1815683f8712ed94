"""Aggregations pushed to the warehouse.

The warehouse does the heavy lifting (millions of label rows); bayesseg reads compact aggregates:

* :func:`author_category_counts`: author × category label counts in long sparse form;
* :func:`author_period_category_counts`: the same per week, month or quarter (segments over time);
* :func:`author_covariates`: one row per author with followers, follows, posting activity,
  engagement, the fashion-forward flag and the current tier;
* :func:`weekly_label_counts` and :func:`author_week_activity`: weekly counts per (author, week,
  label) and their denominators;
* :func:`label_inventory`: every label of the data with its taxonomy status, so that excluded
  and unknown labels are counted, never dropped silently.

Each result is normalised to a fixed schema (:data:`SCHEMAS`) so that DuckDB and Snowflake
return identical frames, and uses the dimension names of the design (``author``, ``category``,
``week``).

Counting rules
--------------
* a label counts once per image, whatever the number of detection boxes;
* an image counts once per author, even when it sits in several posts;
* a post is one ``POST_ID``; its rows (one per image) collapse;
* duplicated author rows resolve to the median of their non-NULL values; followers come from
  ``MART_AUTHORS`` (the current snapshot) and else from ``MART_AUTHORS_SEGMENTATIONS``; the
  current tier uses ``MART_AUTHORS_SEGMENTATIONS.NB_FOLLOWERS``, the input of the current rule;
* a post with 0 likes is taken as a hidden like count (the platform records hidden counts as 0):
  likes per post average the posts with likes; an author whose every post shows 0 likes has
  ``likes_hidden`` set and no engagement rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.sources import Source
from bayesseg.sql import sql_literal, taxonomy_values
from bayesseg.taxonomy import Taxonomy

__all__ = [
    "PERIODS",
    "SCHEMAS",
    "TIER_THRESHOLDS",
    "Aggregates",
    "aggregate",
    "author_category_counts",
    "author_covariates",
    "author_period_category_counts",
    "author_week_activity",
    "counts_to_xarray",
    "label_inventory",
    "trend_post_counts",
    "weekly_label_counts",
]

TIER_THRESHOLDS: tuple[float, float] = (12_000.0, 40_000.0)
"""The current rule: mainstream <= 12,000 followers < trendy <= 40,000 < edgy."""

SCHEMAS: dict[str, dict[str, str]] = {
    "author_category_counts": {"author": "int64", "category": "str", "count": "int64"},
    "author_period_category_counts": {
        "author": "int64",
        "period": "datetime64[us]",
        "category": "str",
        "count": "int64",
    },
    "label_inventory": {
        "type": "str",
        "label_name": "str",
        "label": "str",
        "category": "str",
        "excluded_reason": "str",
        "status": "str",
        "n_rows": "int64",
        "n_images": "int64",
    },
    "author_covariates": {
        "author": "int64",
        "followers": "float64",
        "followers_source": "str",
        "follows": "float64",
        "n_posts": "int64",
        "n_images": "int64",
        "n_zero_like_posts": "int64",
        "likes_hidden": "bool",
        "likes_per_post": "float64",
        "comments_per_post": "float64",
        "engagement_rate": "float64",
        "fashion_interest_segment": "boolean",
        "current_tier": "str",
        "tier_followers": "float64",
        "geo_zone": "str",
        "mart_authors_rows": "int64",
        "segmentations_rows": "int64",
        "first_post": "datetime64[us]",
        "last_post": "datetime64[us]",
    },
    "weekly_label_counts": {
        "author": "int64",
        "week": "datetime64[us]",
        "type": "str",
        "label_name": "str",
        "n_images": "int64",
        "n_posts": "int64",
    },
    "author_week_activity": {"author": "int64", "week": "datetime64[us]", "n_posts": "int64", "n_images": "int64"},
    "trend_post_counts": {"trend": "str", "author": "int64", "week": "datetime64[us]", "n_posts": "int64"},
}
"""Column names and dtypes of each aggregate, as returned."""

_RENAME = {"AUTHORID": "author", "N": "count", "WEEK": "week", "PERIOD": "period"}


def _normalise(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rename to the design's names and cast to the declared schema (identical across sources)."""
    schema = SCHEMAS[name]
    frame = frame.rename(columns=lambda c: _RENAME.get(c, c.lower()))
    missing = set(schema) - set(frame.columns)
    if missing:
        raise RuntimeError(f"{name}: the warehouse returned no column(s) {sorted(missing)}")
    out = {}
    for col, dtype in schema.items():
        s = frame[col]
        if dtype == "str":
            s = s.astype(pd.StringDtype(na_value=np.nan))
        elif dtype.startswith("datetime64"):
            s = pd.to_datetime(s).astype(dtype)
        elif dtype == "boolean":
            s = s.astype("boolean")
        elif dtype == "bool":
            s = s.astype(bool)
        else:
            s = pd.to_numeric(s).astype(dtype)
        out[col] = s.reset_index(drop=True)
    return pd.DataFrame(out)


def author_category_counts(source: Source, taxonomy: Taxonomy) -> pd.DataFrame:
    """Author × category label counts in long sparse form.

    Parameters
    ----------
    source : Source
        The warehouse.
    taxonomy : Taxonomy
        Maps labels to categories.

    Returns
    -------
    pandas.DataFrame
        Columns ``author`` (AUTHORID), ``category``, ``count`` (> 0): the number of distinct
        (image, label) detections of the author's images whose label maps to the category.
        Sorted by author and category.
    """
    raw = source.run("author_category_counts", taxonomy=taxonomy_values(taxonomy))
    return _normalise(raw, "author_category_counts")


PERIODS = ("week", "month", "quarter")
"""Periods :func:`author_period_category_counts` accepts."""


def author_period_category_counts(source: Source, taxonomy: Taxonomy, period: str = "month") -> pd.DataFrame:
    """Author × period × category label counts, long and sparse, counted in the warehouse.

    The counting rules of :func:`author_category_counts`, with each image dated by the author's
    first post showing it, so that an author's counts summed over periods equal their counts.

    Parameters
    ----------
    source : Source
        The warehouse.
    taxonomy : Taxonomy
        Maps labels to categories.
    period : {"week", "month", "quarter"}, default "month"
        Length of a period.

    Returns
    -------
    pandas.DataFrame
        Columns ``author``, ``period`` (first day of the period: a Monday for weeks),
        ``category`` and ``count`` (> 0); one row per (author, period, category) with labels.

    Raises
    ------
    ValueError
        If `period` is not one of :data:`PERIODS`.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    raw = source.run("author_period_category_counts", taxonomy=taxonomy_values(taxonomy), period=period.upper())
    return _normalise(raw, "author_period_category_counts")


def label_inventory(source: Source, taxonomy: Taxonomy) -> pd.DataFrame:
    """Every ``(TYPE, LABEL_NAME)`` pair of the data with its taxonomy status.

    Parameters
    ----------
    source : Source
        The warehouse.
    taxonomy : Taxonomy
        The taxonomy in force.

    Returns
    -------
    pandas.DataFrame
        Columns ``type``, ``label_name``, ``label`` (normalised), ``category``,
        ``excluded_reason``, ``status`` (``category``, ``excluded`` or ``unknown``), ``n_rows``
        and ``n_images``.
    """
    raw = source.run("label_inventory", taxonomy=taxonomy_values(taxonomy))
    return _normalise(raw, "label_inventory")


def author_covariates(source: Source, tiers: tuple[float, float] = TIER_THRESHOLDS) -> pd.DataFrame:
    """One row per author found in any MART table, with covariates and flags.

    Parameters
    ----------
    source : Source
        The warehouse.
    tiers : tuple of float, default (12000, 40000)
        Upper follower bounds of the mainstream and trendy tiers.

    Returns
    -------
    pandas.DataFrame
        Columns ``author``, ``followers`` (resolved), ``followers_source``, ``follows``,
        ``n_posts``, ``n_images``, ``n_zero_like_posts``, ``likes_hidden``,
        ``likes_per_post``, ``comments_per_post``, ``engagement_rate`` (interactions per post
        per follower), ``fashion_interest_segment``, ``current_tier``, ``tier_followers``,
        ``geo_zone``, ``mart_authors_rows``, ``segmentations_rows`` (0 when the author is absent
        from the table, > 1 for duplicates), ``first_post`` and ``last_post``. Sorted by author.

    Raises
    ------
    ValueError
        If the tier thresholds are not increasing positive numbers.
    """
    lo, hi = (float(t) for t in tiers)
    if not 0 < lo < hi:
        raise ValueError(f"tier thresholds must satisfy 0 < mainstream_max < trendy_max, got {tiers}")
    raw = source.run("author_covariates", mainstream_max=sql_literal(lo), trendy_max=sql_literal(hi))
    return _normalise(raw, "author_covariates")


def weekly_label_counts(
    source: Source, taxonomy: Taxonomy, labels: Iterable[tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Weekly counts per (author, week, label) for the labels that map to a category.

    Parameters
    ----------
    source : Source
        The warehouse.
    taxonomy : Taxonomy
        Decides which labels count (those with a category).
    labels : iterable of (str, str), optional
        Restrict to these ``(TYPE, LABEL_NAME)`` pairs (e.g. the labels of declared trends).

    Returns
    -------
    pandas.DataFrame
        Columns ``author``, ``week`` (Monday of the ISO week of the image's first post),
        ``type``, ``label_name``, ``n_images`` (distinct images) and ``n_posts`` (distinct
        posts showing the label).

    Raises
    ------
    ValueError
        If `labels` names a pair the taxonomy does not map to a category.
    """
    label_filter = ""
    if labels is not None:
        pairs = sorted(set(labels))
        known = set(
            map(
                tuple,
                taxonomy.labels.loc[taxonomy.labels["CATEGORY"].notna(), ["TYPE", "LABEL_NAME"]].itertuples(
                    index=False
                ),
            )
        )
        bad = [p for p in pairs if p not in known]
        if bad:
            raise ValueError(f"labels without a category in the taxonomy: {bad}")
        if not pairs:
            raise ValueError("labels is empty")
        cond = " OR ".join(f"(t.TYPE = {sql_literal(t)} AND t.LABEL_NAME = {sql_literal(n)})" for t, n in pairs)
        label_filter = f"AND ({cond})"
    raw = source.run("weekly_label_counts", taxonomy=taxonomy_values(taxonomy), label_filter=label_filter)
    return _normalise(raw, "weekly_label_counts")


def author_week_activity(source: Source) -> pd.DataFrame:
    """Posts and images per (author, week): the denominators of weekly shares.

    Parameters
    ----------
    source : Source
        The warehouse.

    Returns
    -------
    pandas.DataFrame
        Columns ``author``, ``week``, ``n_posts``, ``n_images``; weeks without posts are absent.
    """
    return _normalise(source.run("author_week_activity"), "author_week_activity")


def trend_post_counts(source: Source, trends: Iterable[tuple[str, Iterable[tuple[str, str]]]]) -> pd.DataFrame:
    """Posts showing each trend per (trend, author, week), counted in the warehouse.

    Parameters
    ----------
    source : Source
        The warehouse.
    trends : iterable of (str, iterable of (str, str))
        Each trend's name and the ``(TYPE, LABEL_NAME)`` pairs that must appear together in one
        image (one pair for a single-label trend).

    Returns
    -------
    pandas.DataFrame
        Columns ``trend``, ``author``, ``week`` (Monday of the post's ISO week) and ``n_posts``
        (distinct posts with at least one image showing every label of the trend); rows with 0
        posts are absent.

    Raises
    ------
    ValueError
        If no trend is given, a name repeats, or a trend has no label.
    """
    rows = []
    names = []
    for name, labels in trends:
        pairs = sorted(set(labels))
        if not pairs:
            raise ValueError(f"trend {name!r} has no label")
        names.append(name)
        rows += [(name, t, n, len(pairs)) for t, n in pairs]
    if not names:
        raise ValueError("no trend given")
    if len(set(names)) != len(names):
        raise ValueError(f"trend names repeat: {names}")
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in r) + ")" for r in rows)
    relation = f"SELECT * FROM (VALUES {values}) AS tr (TREND, TYPE, LABEL_NAME, N_LABELS)"
    return _normalise(source.run("trend_post_counts", trends=relation), "trend_post_counts")


def counts_to_xarray(counts: pd.DataFrame, categories: list[str], authors: Iterable[int] | None = None) -> xr.DataArray:
    """Pivot long counts into an ``(author, category)`` array.

    Parameters
    ----------
    counts : pandas.DataFrame
        Output of :func:`author_category_counts`.
    categories : list of str
        Order of the ``category`` dimension (e.g. :attr:`bayesseg.taxonomy.Taxonomy.category_names`).
    authors : iterable of int, optional
        Order of the ``author`` dimension; defaults to the authors of `counts`. Authors without
        any count get a row of zeros.

    Returns
    -------
    xarray.DataArray
        Integer counts, dims ``("author", "category")``, named ``counts``.

    Raises
    ------
    ValueError
        If `counts` holds a category not in `categories` or an author not in `authors`.
    """
    extra = sorted(set(counts["category"]) - set(categories))
    if extra:
        raise ValueError(f"counts hold categories not in the category list: {extra}")
    author_index = pd.Index(
        np.unique(counts["author"].to_numpy()) if authors is None else np.asarray(list(authors), dtype=np.int64),
        name="author",
    )
    rows = author_index.get_indexer(counts["author"])
    if (rows < 0).any():
        missing = counts.loc[rows < 0, "author"].unique()[:5].tolist()
        raise ValueError(f"counts hold authors not in the author list, e.g. {missing}")
    cols = pd.Index(categories).get_indexer(counts["category"])
    data = np.zeros((len(author_index), len(categories)), dtype=np.int64)
    np.add.at(data, (rows, cols), counts["count"].to_numpy())
    return xr.DataArray(
        data,
        dims=("author", "category"),
        coords={"author": author_index.to_numpy(), "category": list(categories)},
        name="counts",
    )


@dataclass(frozen=True)
class Aggregates:
    """All aggregates of a warehouse, as read by the rest of bayesseg.

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`author_category_counts`.
    covariates : pandas.DataFrame
        :func:`author_covariates`.
    weekly : pandas.DataFrame
        :func:`weekly_label_counts`.
    activity : pandas.DataFrame
        :func:`author_week_activity`.
    inventory : pandas.DataFrame
        :func:`label_inventory`.
    """

    counts: pd.DataFrame
    covariates: pd.DataFrame
    weekly: pd.DataFrame
    activity: pd.DataFrame
    inventory: pd.DataFrame


def aggregate(
    source: Source,
    taxonomy: Taxonomy,
    tiers: tuple[float, float] = TIER_THRESHOLDS,
    weekly_labels: Iterable[tuple[str, str]] | None = None,
    inventory: pd.DataFrame | None = None,
) -> Aggregates:
    """Run every aggregation on a warehouse.

    Parameters
    ----------
    source : Source
        The warehouse.
    taxonomy : Taxonomy
        Label mapping.
    tiers : tuple of float, default (12000, 40000)
        Thresholds of the current rule.
    weekly_labels : iterable of (str, str), optional
        Restrict the weekly counts to these labels.
    inventory : pandas.DataFrame, optional
        A :func:`label_inventory` of this warehouse already computed (e.g. for the data-quality
        report), reused instead of scanning the label table again.

    Returns
    -------
    Aggregates
    """
    return Aggregates(
        counts=author_category_counts(source, taxonomy),
        covariates=author_covariates(source, tiers),
        weekly=weekly_label_counts(source, taxonomy, weekly_labels),
        activity=author_week_activity(source),
        inventory=label_inventory(source, taxonomy) if inventory is None else inventory,
    )
