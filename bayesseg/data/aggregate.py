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

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import TIER_THRESHOLDS, Trend
from bayesseg.data.boxes import BoxFormat, box_values, resolve_box_format
from bayesseg.data.sources import Source
from bayesseg.data.sql import sql_literal, taxonomy_values
from bayesseg.exceptions import InputError, SourceError
from bayesseg.taxonomy import Taxonomy

__all__ = [
    "AGGREGATE_TABLES",
    "PERIODS",
    "SCHEMAS",
    "Aggregates",
    "aggregate",
    "author_category_counts",
    "author_covariates",
    "author_log_interactions",
    "author_period_category_counts",
    "author_week_activity",
    "counts_to_xarray",
    "label_inventory",
    "normalise",
    "post_labels",
    "stream_aggregates",
    "trend_data",
    "trend_post_counts",
    "weekly_label_counts",
]

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
    "post_labels": {"post_id": "str", "type": "str", "label_name": "str"},
    "author_log_interactions": {"author": "int64", "log_interactions": "float64"},
}
"""Column names and dtypes of each aggregate, as returned."""

_RENAME = {"AUTHORID": "author", "N": "count", "WEEK": "week", "PERIOD": "period"}


def normalise(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rename an aggregate's columns to the design's names and cast them to :data:`SCHEMAS` (identical across sources).

    Parameters
    ----------
    frame : pandas.DataFrame
        The aggregate as the warehouse returned it (upper-case column names).
    name : str
        Its key in :data:`SCHEMAS`.

    Returns
    -------
    pandas.DataFrame
        The columns of ``SCHEMAS[name]``, in order, with their dtypes.

    Raises
    ------
    bayesseg.exceptions.SourceError
        If the warehouse returned no column the schema needs.
    """
    schema = SCHEMAS[name]
    frame = frame.rename(columns=lambda c: _RENAME.get(c, c.lower()))
    missing = set(schema) - set(frame.columns)
    if missing:
        raise SourceError(f"{name}: the warehouse returned no column(s) {sorted(missing)}")
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
    return normalise(raw, "author_category_counts")


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
    bayesseg.exceptions.InputError
        If `period` is not one of :data:`bayesseg.data.aggregate.PERIODS`.
    """
    if period not in PERIODS:
        raise InputError(f"period must be one of {PERIODS}, got {period!r}")
    raw = source.run("author_period_category_counts", taxonomy=taxonomy_values(taxonomy), period=period.upper())
    return normalise(raw, "author_period_category_counts")


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
    return normalise(raw, "label_inventory")


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
    bayesseg.exceptions.InputError
        If the tier thresholds are not increasing positive numbers.
    """
    lo, hi = (float(t) for t in tiers)
    if not 0 < lo < hi:
        raise InputError(f"tier thresholds must satisfy 0 < mainstream_max < trendy_max, got {tiers}")
    raw = source.run("author_covariates", mainstream_max=sql_literal(lo), trendy_max=sql_literal(hi))
    return normalise(raw, "author_covariates")


def author_log_interactions(source: Source) -> pd.DataFrame:
    """Per author, the mean log interactions (likes + comments) of the posts with visible likes.

    A geometric mean of interactions per post: with the follower count, a measure of engagement less
    sensitive to one viral post than :func:`author_covariates`' arithmetic mean.

    Parameters
    ----------
    source : Source
        The warehouse.

    Returns
    -------
    pandas.DataFrame
        Columns ``author`` and ``log_interactions``; authors whose every post shows 0 likes (hidden
        counts) are absent.
    """
    return normalise(source.run("author_log_interactions"), "author_log_interactions")


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
    bayesseg.exceptions.InputError
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
            raise InputError(f"labels without a category in the taxonomy: {bad}")
        if not pairs:
            raise InputError("labels is empty")
        cond = " OR ".join(f"(t.TYPE = {sql_literal(t)} AND t.LABEL_NAME = {sql_literal(n)})" for t, n in pairs)
        label_filter = f"AND ({cond})"
    raw = source.run("weekly_label_counts", taxonomy=taxonomy_values(taxonomy), label_filter=label_filter)
    return normalise(raw, "weekly_label_counts")


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
    return normalise(source.run("author_week_activity"), "author_week_activity")


def trend_post_counts(
    source: Source, trends: Sequence[Trend], *, box_format: BoxFormat | str = "auto", item_iou: float = 0.5
) -> pd.DataFrame:
    """Posts showing each trend per (trend, author, week), counted in the warehouse.

    Parameters
    ----------
    source : Source
        The warehouse.
    trends : sequence of Trend
        The trends: labels shown together in one image (scope ``image``), or on one detected item
        (scope ``item``: the first label's box carries every other label).
    box_format : BoxFormat or str, default "auto"
        Reading of the boxes for item-level trends (:func:`bayesseg.data.boxes.resolve_box_format`;
        ``auto`` looks at the warehouse's boxes only when an item-level trend is asked for).
    item_iou : float, default 0.5
        Boxes are one item at an intersection over union at least this, in (0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns ``trend``, ``author``, ``week`` (Monday of the post's ISO week) and ``n_posts``
        (distinct posts with at least one image showing the trend); rows with 0 posts are absent.

    Raises
    ------
    bayesseg.exceptions.InputError
        If no trend is given, a name repeats, a trend has no label or repeats one, or `item_iou` is
        not in (0, 1].
    """
    rows = []
    names = []
    for trend in trends:
        if not trend.labels:
            raise InputError(f"trend {trend.name!r} has no label")
        if len(set(trend.labels)) != len(trend.labels):
            raise InputError(f"trend {trend.name!r}: a label repeats")
        names.append(trend.name)
        n = len(trend.labels)
        rows += [(trend.name, t, label, n, i, trend.scope) for i, (t, label) in enumerate(trend.labels)]
    if not names:
        raise InputError("no trend given")
    if len(set(names)) != len(names):
        raise InputError(f"trend names repeat: {names}")
    if isinstance(box_format, str):
        has_items = any(t.scope == "item" for t in trends)
        # without an item-level trend the boxes are not read: any reading renders the query
        box_format = resolve_box_format(source, box_format) if has_items else BoxFormat("xyxy", box_format)
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in r) + ")" for r in rows)
    relation = f"SELECT * FROM (VALUES {values}) AS tr (TREND, TYPE, LABEL_NAME, N_LABELS, TERM, SCOPE)"
    raw = source.run("trend_post_counts", trends=relation, **box_values(source, box_format, item_iou))
    return normalise(raw, "trend_post_counts")


def post_labels(source: Source, limit: int = 3_000) -> pd.DataFrame:
    """The labels of the first `limit` posts of the warehouse (by POST_ID), as ``bayesseg rank`` reads them.

    Parameters
    ----------
    source : Source
        The warehouse.
    limit : int, default 3000
        Posts read (the first by POST_ID, a deterministic sample).

    Returns
    -------
    pandas.DataFrame
        Columns ``POST_ID``, ``TYPE``, ``LABEL_NAME``: one row per label detected in any image of the
        post (repeated detections collapsed), ready for :func:`bayesseg.evaluation.content.post_counts`.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `limit` is not a positive integer.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit must be a positive integer, got {limit!r}")
    frame = normalise(source.run("post_labels", limit=str(limit)), "post_labels")
    return frame.rename(columns=str.upper)


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
    bayesseg.exceptions.InputError
        If `counts` holds a category not in `categories` or an author not in `authors`.
    """
    extra = sorted(set(counts["category"]) - set(categories))
    if extra:
        raise InputError(f"counts hold categories not in the category list: {extra}")
    author_index = pd.Index(
        np.unique(counts["author"].to_numpy()) if authors is None else np.asarray(list(authors), dtype=np.int64),
        name="author",
    )
    rows = author_index.get_indexer(counts["author"])
    if (rows < 0).any():
        missing = counts.loc[rows < 0, "author"].unique()[:5].tolist()
        raise InputError(f"counts hold authors not in the author list, e.g. {missing}")
    cols = pd.Index(categories).get_indexer(counts["category"])
    data = np.zeros((len(author_index), len(categories)), dtype=np.int64)
    np.add.at(data, (rows, cols), counts["count"].to_numpy())
    return xr.DataArray(
        data,
        dims=("author", "category"),
        coords={"author": author_index.to_numpy(), "category": list(categories)},
        name="counts",
    )


def trend_data(
    source: Source, trends: Sequence[Trend], *, box_format: BoxFormat | str = "auto", item_iou: float = 0.5
) -> xr.Dataset:
    """Weekly posts and trend posts of every author with posts, from SQL run in the warehouse.

    Parameters
    ----------
    source : Source
        The warehouse.
    trends : sequence of Trend
        The trends, image- or item-level.
    box_format : BoxFormat or str, default "auto"
        Reading of the boxes for item-level trends (see :func:`trend_post_counts`).
    item_iou : float, default 0.5
        Boxes are one item at an intersection over union at least this.

    Returns
    -------
    xarray.Dataset
        ``posts`` (author, week): posts of the author in the week; ``hits`` (trend, author,
        week): those showing the trend. Weeks run from the first to the last week with a post,
        without gaps (a week without posts has 0 posts, and is reported by
        :func:`bayesseg.survey.trends.trend_series`). Posts without a publication date are left out
        (the data-quality report counts them).

    Raises
    ------
    bayesseg.exceptions.InputError
        If the warehouse has no post or no dated post, or a trend matches no post at all (its
        labels are probably misspelt; the trend is named).
    """
    if not trends:
        raise InputError("no trend to count: declare some in [trends] series")
    activity = author_week_activity(source)
    if activity.empty:
        raise InputError("the warehouse has no post: no trend series can be built")
    # posts without a date have no week (counted by the data-quality check publication_date_null)
    activity = activity[activity["week"].notna()]
    if activity.empty:
        raise InputError(
            "no post has a publication date (POST_PUBLICATION_DATE is NULL on every row; data-quality check "
            "publication_date_null): no trend series can be built"
        )
    hits = trend_post_counts(source, trends, box_format=box_format, item_iou=item_iou)
    hits = hits[hits["week"].notna()]
    names = [t.name for t in trends]
    unseen = sorted(set(names) - set(hits["trend"]))
    if unseen:
        raise InputError(
            f"trend(s) {unseen} match no post of the warehouse; check TYPE:LABEL_NAME (and, for a trend of "
            "one item, that its labels share boxes: data-quality check labels_without_item)"
        )
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
        raise InputError("trend counts name an author or week without posts; the warehouse changed during the run")
    np.add.at(h, (pd.Index(names).get_indexer(hits["trend"]), ai, wi), hits["n_posts"])
    return xr.Dataset(
        {"posts": (("author", "week"), posts), "hits": (("trend", "author", "week"), h)},
        coords={"trend": names, "author": authors, "week": weeks},
    )


AGGREGATE_TABLES = {"counts": "AUTHOR_CATEGORY_COUNTS", "covariates": "AUTHOR_COVARIATES"}
"""Names of materialised aggregates in a schema passed as ``aggregates`` to :func:`stream_aggregates`
(columns: those of ``author_category_counts.sql`` and ``author_covariates.sql``)."""


def stream_aggregates(
    source: Source,
    taxonomy: Taxonomy,
    tiers: tuple[float, float] = TIER_THRESHOLDS,
    *,
    rows: int = 100_000,
    aggregates: str | None = None,
) -> tuple[Iterator[pd.DataFrame], Iterator[pd.DataFrame]]:
    """The author × category counts and the author covariates, streamed in batches ordered by author.

    Parameters
    ----------
    source : Source
        The warehouse.
    taxonomy : Taxonomy
        Maps labels to categories (when the aggregation runs here).
    tiers : tuple of float, default (12000, 40000)
        Thresholds of the current rule.
    rows : int, default 100000
        Rows per batch of the covariates (the counts come in batches 16 times larger).
    aggregates : str, optional
        Schema (in the source's database) of materialised aggregates (:data:`bayesseg.data.aggregate.AGGREGATE_TABLES`);
        by default the shipped aggregation SQL runs on the MART tables.

    Returns
    -------
    counts, covariates : iterator of pandas.DataFrame
        Normalised batches (:func:`normalise`) of :func:`author_category_counts` and
        :func:`author_covariates`, both in increasing author order.
    """
    if aggregates is None:
        lo, hi = (float(t) for t in tiers)
        counts = source.run_batches("author_category_counts", rows * 16, taxonomy=taxonomy_values(taxonomy))
        cov = source.run_batches("author_covariates", rows, mainstream_max=sql_literal(lo), trendy_max=sql_literal(hi))
    else:
        schema = source.qualified_schema(aggregates)
        counts = source.run_batches("materialised_category_counts", rows * 16, aggregates=schema)
        cov = source.run_batches("materialised_covariates", rows, aggregates=schema)
    return (
        (normalise(b, "author_category_counts") for b in counts),
        (normalise(b, "author_covariates") for b in cov),
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
