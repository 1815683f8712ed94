"""Schema validation and the data-quality report.

:func:`check_schema` compares a warehouse with the data contract and raises
:class:`bayesseg.exceptions.SchemaError` naming every table and column at fault. :func:`data_quality` measures each
known defect of the real data (``CONTRACT.md``) in SQL and returns a :class:`DataQualityReport`:
for each defect, where it is, how many rows or authors it touches, and what bayesseg does about
it. Nothing is dropped silently: each exclusion appears there with its count and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from bayesseg.data.aggregate import label_inventory
from bayesseg.data.boxes import BoxFormat, box_checks, check_item_iou, resolve_box_format
from bayesseg.data.contract import TABLES, kind_of_type
from bayesseg.data.sources import Source
from bayesseg.data.sql import taxonomy_values
from bayesseg.exceptions import InputError, SchemaError
from bayesseg.taxonomy import Taxonomy

__all__ = ["CHECKS", "Check", "DataQualityReport", "Finding", "check_schema", "data_quality"]

Action = Literal["fixed", "excluded", "kept", "bias", "info", "invalid"]


def check_schema(source: Source) -> None:
    """Check that the four MART tables exist with the contract's columns and types, and are not empty.

    Parameters
    ----------
    source : Source
        The warehouse.

    Raises
    ------
    SchemaError
        Listing every missing table, missing column, column of the wrong type, and empty table.
        Extra columns are allowed.
    """
    problems: list[str] = []
    for table, columns in TABLES.items():
        found = source.columns(table)
        if found.empty:
            problems.append(f"table {source.schema}.{table} is missing")
            continue
        types = dict(zip(found["COLUMN_NAME"], found["DATA_TYPE"], strict=True))
        for col in columns:
            if col.name not in types:
                problems.append(f"{table}.{col.name} is missing (expected {col.kind})")
            elif col.kind not in kind_of_type(types[col.name]):
                problems.append(f"{table}.{col.name} has type {types[col.name]}, expected {col.kind}")
        n = int(source.query(f"SELECT COUNT(*) AS N FROM {source.schema}.{table}")["N"].iloc[0])
        if n == 0:
            problems.append(f"table {source.schema}.{table} is empty")
    if problems:
        raise SchemaError(problems)


@dataclass(frozen=True)
class Check:
    """A data-quality check: where it looks and what bayesseg does with what it finds.

    Parameters
    ----------
    name : str
        Check name (``CHECK_NAME`` in ``quality_checks.sql``).
    table : str
        Table looked at.
    column : str
        Column looked at (or ``"*"``).
    what : str
        What is counted, in words; `n` of `total`.
    action : str
        What bayesseg does with those rows.
    kind : {"fixed", "excluded", "kept", "bias", "info", "invalid"}
        ``fixed``: resolved by a documented rule; ``excluded``: left out of the counts, with
        this reason; ``kept``: used as is; ``bias``: a property of the sample that biases
        estimates; ``info``: context; ``invalid``: values that break the contract.
    """

    name: str
    table: str
    column: str
    what: str
    action: str
    kind: Action


CHECKS: tuple[Check, ...] = (
    Check(
        "duplicate_author_ids",
        "MART_AUTHORS",
        "AUTHORID",
        "AUTHORIDs with several rows, of distinct AUTHORIDs",
        "rows of an id resolve to the median of their non-NULL NB_FOLLOWERS and NB_FOLLOWS",
        "fixed",
    ),
    Check(
        "duplicate_author_rows",
        "MART_AUTHORS",
        "AUTHORID",
        "surplus rows of duplicated ids, of rows",
        "collapsed into one author (see duplicate_author_ids)",
        "fixed",
    ),
    Check(
        "mart_followers_null",
        "MART_AUTHORS",
        "NB_FOLLOWERS",
        "NULL rows, of rows",
        "followers taken from MART_AUTHORS_SEGMENTATIONS",
        "fixed",
    ),
    Check(
        "mart_followers_fractional",
        "MART_AUTHORS",
        "NB_FOLLOWERS",
        "fractional values, of rows",
        "kept as they are",
        "kept",
    ),
    Check(
        "negative_followers",
        "MART_AUTHORS, MART_AUTHORS_SEGMENTATIONS",
        "NB_FOLLOWERS",
        "negative values, of rows of both tables",
        "invalid: such authors get no engagement rate",
        "invalid",
    ),
    Check(
        "follows_null",
        "MART_AUTHORS",
        "NB_FOLLOWS",
        "NULL rows, of rows",
        "kept as NULL (not a model covariate)",
        "kept",
    ),
    Check(
        "follows_at_cap",
        "MART_AUTHORS",
        "NB_FOLLOWS",
        "values >= 7,400 (the platform's cap), of non-NULL rows",
        "kept: a cap, not an error",
        "info",
    ),
    Check(
        "segmentation_duplicate_ids",
        "MART_AUTHORS_SEGMENTATIONS",
        "AUTHORID",
        "AUTHORIDs with several rows, of distinct AUTHORIDs",
        "resolved to the median of NB_FOLLOWERS",
        "fixed",
    ),
    Check(
        "segmentation_followers_null",
        "MART_AUTHORS_SEGMENTATIONS",
        "NB_FOLLOWERS",
        "NULL rows, of rows",
        "current tier unknown (NULL); followers from MART_AUTHORS where it has them",
        "fixed",
    ),
    Check(
        "segmentation_followers_fractional",
        "MART_AUTHORS_SEGMENTATIONS",
        "NB_FOLLOWERS",
        "fractional values, of rows",
        "kept: read as averages over snapshots; the tier rule applies to them as is",
        "kept",
    ),
    Check(
        "followers_disagree",
        "MART_AUTHORS, MART_AUTHORS_SEGMENTATIONS",
        "NB_FOLLOWERS",
        "authors whose two follower counts differ, of authors with both",
        "MART_AUTHORS (current snapshot) is used for covariates; MART_AUTHORS_SEGMENTATIONS for the current tier",
        "fixed",
    ),
    Check(
        "followers_unknown",
        "MART_AUTHORS, MART_AUTHORS_SEGMENTATIONS",
        "NB_FOLLOWERS",
        "posting authors without any follower count, of posting authors",
        "no follower covariate: excluded from model fits that need it, with this reason",
        "excluded",
    ),
    Check(
        "followers_zero",
        "MART_AUTHORS, MART_AUTHORS_SEGMENTATIONS",
        "NB_FOLLOWERS",
        "posting authors with 0 followers, of posting authors",
        "kept; their engagement rate is undefined (NULL)",
        "kept",
    ),
    Check(
        "geo_zone_us",
        "MART_AUTHORS_SEGMENTATIONS",
        "GEO_ZONE",
        "rows with GEO_ZONE 'us', of rows",
        "the panel is US accounts: estimates describe US accounts only",
        "bias",
    ),
    Check(
        "fashion_interest_null",
        "MART_AUTHORS_SEGMENTATIONS",
        "FASHION_INTEREST_SEGMENT",
        "NULL rows, of rows",
        "panel membership unknown (NULL)",
        "kept",
    ),
    Check(
        "fashion_interest_true",
        "MART_AUTHORS_SEGMENTATIONS",
        "FASHION_INTEREST_SEGMENT",
        "accounts in the fashion-forward panel, of rows",
        "the panel is selected mostly on followers: its series need reweighting",
        "bias",
    ),
    Check(
        "segmentation_authors_without_posts",
        "MART_AUTHORS_SEGMENTATIONS",
        "AUTHORID",
        "authors without any post, of authors",
        "no label counts: not segmented, listed as excluded",
        "excluded",
    ),
    Check(
        "mart_authors_without_posts",
        "MART_AUTHORS",
        "AUTHORID",
        "authors without any post, of authors",
        "no label counts: not segmented, listed as excluded",
        "excluded",
    ),
    Check(
        "post_authors_missing_from_mart_authors",
        "MART_IMAGES_OF_POSTS",
        "AUTHORID",
        "posting authors absent from MART_AUTHORS, of posting authors",
        "followers taken from MART_AUTHORS_SEGMENTATIONS",
        "fixed",
    ),
    Check(
        "post_authors_missing_from_segmentations",
        "MART_IMAGES_OF_POSTS",
        "AUTHORID",
        "posting authors absent from MART_AUTHORS_SEGMENTATIONS, of posting authors",
        "current tier and panel membership unknown",
        "kept",
    ),
    Check(
        "zero_like_posts",
        "MART_IMAGES_OF_POSTS",
        "NB_LIKES",
        "posts with 0 likes, of posts",
        "taken as hidden like counts: left out of likes per post",
        "fixed",
    ),
    Check(
        "authors_all_likes_hidden",
        "MART_IMAGES_OF_POSTS",
        "NB_LIKES",
        "authors whose every post shows 0 likes, of posting authors",
        "likes hidden: no engagement rate (NULL)",
        "fixed",
    ),
    Check(
        "likes_or_comments_null",
        "MART_IMAGES_OF_POSTS",
        "NB_LIKES, COMMENT_COUNT",
        "rows with a NULL count, of rows",
        "left out of the averages",
        "kept",
    ),
    Check(
        "negative_likes_or_comments",
        "MART_IMAGES_OF_POSTS",
        "NB_LIKES, COMMENT_COUNT",
        "rows with a negative count, of rows",
        "invalid: left out of likes and comments per post",
        "invalid",
    ),
    Check(
        "post_rows_conflicting",
        "MART_IMAGES_OF_POSTS",
        "POST_ID",
        "posts whose rows disagree on author, likes, comments or date, of posts",
        "resolved: largest like and comment counts, earliest date",
        "fixed",
    ),
    Check(
        "post_authors_conflicting",
        "MART_IMAGES_OF_POSTS",
        "AUTHORID",
        "posts attributed to several authors, of posts",
        "the post counts for each of its authors",
        "kept",
    ),
    Check(
        "duplicate_post_image_rows",
        "MART_IMAGES_OF_POSTS",
        "POST_ID, IMAGE_ID",
        "repeated (post, image) rows, of rows",
        "collapsed: counted once",
        "fixed",
    ),
    Check(
        "multi_image_posts",
        "MART_IMAGES_OF_POSTS",
        "POST_ID",
        "posts with several images, of posts",
        "each image counts once",
        "info",
    ),
    Check(
        "shared_images",
        "MART_IMAGES_OF_POSTS",
        "IMAGE_ID",
        "images in several posts, of images",
        "an image counts once per author, at its first post",
        "fixed",
    ),
    Check(
        "images_without_labels",
        "MART_IMAGES_OF_POSTS",
        "IMAGE_ID",
        "images without any label row, of images",
        "they add no label count (posts still count in activity)",
        "info",
    ),
    Check(
        "label_rows_of_unposted_images",
        "MART_IMAGES_LABELS",
        "IMAGE_ID",
        "label rows whose image is in no post, of label rows",
        "excluded: no author to attribute them to",
        "excluded",
    ),
    Check(
        "repeated_detections",
        "MART_IMAGES_LABELS",
        "IMAGE_ID, TYPE, LABEL_NAME",
        "rows repeating an (image, label) pair (several boxes), of label rows",
        "collapsed: a label counts once per image",
        "fixed",
    ),
    Check(
        "unknown_label_rows",
        "MART_IMAGES_LABELS",
        "TYPE, LABEL_NAME",
        "rows whose (TYPE, LABEL_NAME) the taxonomy does not know, of label rows",
        "excluded from category counts; listed in the label inventory",
        "excluded",
    ),
    Check(
        "unknown_label_pairs",
        "MART_IMAGES_LABELS",
        "TYPE, LABEL_NAME",
        "distinct unknown (TYPE, LABEL_NAME) pairs, of pairs",
        "listed in the label inventory",
        "excluded",
    ),
    Check(
        "excluded_label_rows_person",
        "MART_IMAGES_LABELS",
        "LABEL_NAME",
        "person and face detections, of label rows",
        "excluded: taxonomy reason `person`",
        "excluded",
    ),
    Check(
        "excluded_label_rows_other",
        "MART_IMAGES_LABELS",
        "LABEL_NAME",
        "labels the taxonomy excludes for another reason, of label rows",
        "excluded: a taxonomy reason other than `person` (none in the shipped taxonomy)",
        "excluded",
    ),
    Check(
        "position_malformed",
        "MART_IMAGES_LABELS",
        "POSITION_IN_IMAGE",
        "NULL positions or arrays not of length 4, of label rows",
        "kept for image-level counts; such a box carries no item in item-level trends",
        "kept",
    ),
    Check(
        "position_inverted",
        "MART_IMAGES_LABELS",
        "POSITION_IN_IMAGE",
        "boxes whose corners are not numbers or out of order (x2 <= x1 or y2 <= y1 once read), of arrays of 4",
        "kept for image-level counts; such a box carries no item in item-level trends",
        "kept",
    ),
    Check(
        "labels_without_item",
        "MART_IMAGES_LABELS",
        "POSITION_IN_IMAGE",
        "pattern, shoe and brand rows whose box is no detected item's box (IoU below item_iou), of those rows",
        "kept for image-level counts; not on any item in item-level trends",
        "info",
    ),
    Check(
        "publication_date_null",
        "MART_IMAGES_OF_POSTS",
        "POST_PUBLICATION_DATE",
        "rows without a date, of rows",
        "invalid: left out of weekly series",
        "invalid",
    ),
    Check(
        "prolific_posters",
        "MART_IMAGES_OF_POSTS",
        "AUTHORID",
        "posts of the 1 % most prolific authors, of posts",
        "prolific posters dominate raw counts: per-author normalisation available in trend series",
        "bias",
    ),
    Check(
        "posts_first_13_weeks",
        "MART_IMAGES_OF_POSTS",
        "POST_PUBLICATION_DATE",
        "posts in the first 13 weeks, of posts",
        "compare with posts_last_13_weeks: posting volume drift",
        "info",
    ),
    Check(
        "posts_last_13_weeks",
        "MART_IMAGES_OF_POSTS",
        "POST_PUBLICATION_DATE",
        "posts in the last 13 weeks, of posts",
        "posting volume drift: weekly series are shares, not counts",
        "bias",
    ),
)
"""Every check of the report, in report order."""


@dataclass(frozen=True)
class Finding:
    """The result of one check.

    Parameters
    ----------
    check : Check
        The check.
    n : int
        Rows or authors concerned.
    total : int
        Denominator (see ``check.what``).
    """

    check: Check
    n: int
    total: int

    @property
    def share(self) -> float:
        """`n` / `total` (NaN when `total` is 0)."""
        return self.n / self.total if self.total else float("nan")


@dataclass(frozen=True)
class DataQualityReport:
    """Every data-quality finding of a warehouse.

    Parameters
    ----------
    source : str
        Description of the warehouse.
    findings : list of Finding
        One per check of :data:`bayesseg.data.quality.CHECKS`.
    unknown_labels : pandas.DataFrame
        The unknown ``(type, label_name)`` pairs with their rows and images.
    box_format : bayesseg.data.boxes.BoxFormat, optional
        The reading of the boxes the box checks used.
    """

    source: str
    findings: list[Finding]
    unknown_labels: pd.DataFrame = field(default_factory=pd.DataFrame)
    box_format: BoxFormat | None = None

    def __getitem__(self, name: str) -> Finding:
        """Return the finding of the check called `name`.

        Raises
        ------
        KeyError
            If there is no such check.
        """
        for f in self.findings:
            if f.check.name == name:
                return f
        raise KeyError(f"no check {name!r}")

    def to_frame(self) -> pd.DataFrame:
        """The findings as a table: check, table, column, n, total, share, kind, what, action."""
        return pd.DataFrame(
            [
                {
                    "check": f.check.name,
                    "table": f.check.table,
                    "column": f.check.column,
                    "n": f.n,
                    "total": f.total,
                    "share": f.share,
                    "kind": f.check.kind,
                    "what": f.check.what,
                    "action": f.check.action,
                }
                for f in self.findings
            ]
        )

    def __str__(self) -> str:
        frame = self.to_frame()
        frame = frame[frame["n"] > 0]
        lines = [f"Data quality of {self.source}"]
        if self.box_format is not None:
            lines.append(f"  {self.box_format.describe()}")
        for r in frame.itertuples():
            lines.append(f"  [{r.kind:8s}] {r.check}: {r.n:,} of {r.total:,} ({r.share:.2%}) -> {r.action}")
        return "\n".join(lines)


def data_quality(
    source: Source,
    taxonomy: Taxonomy,
    inventory: pd.DataFrame | None = None,
    *,
    box_format: str = "auto",
    item_iou: float = 0.5,
) -> DataQualityReport:
    """Measure every known defect of the warehouse.

    Parameters
    ----------
    source : Source
        The warehouse; its schema should pass :func:`check_schema` first.
    taxonomy : Taxonomy
        Decides which labels are unknown or excluded.
    inventory : pandas.DataFrame, optional
        A :func:`bayesseg.data.aggregate.label_inventory` of this warehouse already computed, reused
        instead of scanning the label table again.
    box_format : {"auto", "xyxy", "xywh", "cxcywh"}, default "auto"
        Reading of the boxes (:func:`bayesseg.data.boxes.resolve_box_format`).
    item_iou : float, default 0.5
        Boxes are one item at an intersection over union at least this, in (0, 1].

    Returns
    -------
    DataQualityReport

    Raises
    ------
    bayesseg.exceptions.InputError
        If `box_format` or `item_iou` is not allowed.
    """
    check_item_iou(item_iou)  # a bad threshold fails before any scan
    raw = source.run("quality_checks", taxonomy=taxonomy_values(taxonomy))
    values = {r.CHECK_NAME: (int(r.N), int(r.TOTAL)) for r in raw.itertuples()}
    try:
        boxes: BoxFormat | None = resolve_box_format(source, box_format)
    except InputError:  # no box of four numbers at all: position_malformed counts every row
        boxes = None
    if boxes is None:
        values.update({"position_inverted": (0, 0), "labels_without_item": (0, 0)})
    else:
        values.update(box_checks(source, boxes, item_iou))
    missing = [c.name for c in CHECKS if c.name not in values]
    if missing:  # pragma: no cover - the SQL and CHECKS are maintained together
        raise RuntimeError(f"quality_checks.sql returned no row for {missing}")
    findings = [Finding(c, *values[c.name]) for c in CHECKS]
    if inventory is None:
        inventory = label_inventory(source, taxonomy)
    unknown = inventory.loc[inventory["status"] == "unknown", ["type", "label_name", "n_rows", "n_images"]]
    return DataQualityReport(source.describe(), findings, unknown.reset_index(drop=True), boxes)
