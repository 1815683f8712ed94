"""Detection boxes: how ``POSITION_IN_IMAGE`` is read, when two boxes are one item, and their defects.

The data contract gives each row of ``MART_IMAGES_LABELS`` a box of four numbers without publishing
their meaning. The object detector's rows put a box around each item (a top, the shoes, a bag); the
downstream models (pattern, shoe type, brands) were run on an item's crop, so their rows carry the
box of that item. Labels crossed on one item (a striped top, rather than stripes anywhere in an
image with a top) are found by matching boxes: two boxes are one item when their intersection over
union (IoU) is at least a threshold, which keeps the slightly shifted boxes of a repeated detection
together; a threshold of 1 asks for equal positions.

The reading of the four numbers is declared (``[trends] box_format``) or inferred from the data:
corners ``[x1, y1, x2, y2]`` always have x2 > x1 and y2 > y1, while corner and size
``[x, y, width, height]`` has a width below x whenever a box starts right of its own width. A
centre-and-size reading cannot be told from a corner-and-size one by the numbers alone (both put
the same boxes in the same places up to a shift of half their size, which changes IoU only between
boxes of different sizes) and must be declared.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from bayesseg.config.defaults import BOX_FORMATS
from bayesseg.data.sources import Source
from bayesseg.data.sql import Dialect, sql_literal
from bayesseg.exceptions import InputError

__all__ = [
    "CORNERS_ORDERED_SHARE",
    "BoxFormat",
    "box_checks",
    "box_corners",
    "box_values",
    "check_item_iou",
    "resolve_box_format",
    "same_item_sql",
]

CORNERS_ORDERED_SHARE = 0.99
"""``auto`` reads boxes as corners when at least this share of them has x2 > x1 and y2 > y1."""


@dataclass(frozen=True)
class BoxFormat:
    """The reading of ``POSITION_IN_IMAGE`` in force, and the evidence behind it.

    Parameters
    ----------
    name : {"xyxy", "xywh", "cxcywh"}
        The reading (:data:`bayesseg.config.defaults.BOX_FORMATS` less ``auto``).
    declared : str
        What the specification said (``auto`` when the data decided).
    n_boxes : int
        Boxes of four numbers looked at (0 when the reading was declared).
    n_ordered : int
        Of those, boxes whose third number exceeds the first and fourth the second.
    """

    name: str
    declared: str = "auto"
    n_boxes: int = 0
    n_ordered: int = 0

    @property
    def ordered_share(self) -> float:
        """`n_ordered` / `n_boxes` (NaN when no box was looked at)."""
        return self.n_ordered / self.n_boxes if self.n_boxes else float("nan")

    def describe(self) -> str:
        """One line for a report: the reading and why."""
        meaning = {
            "xyxy": "corners [x1, y1, x2, y2]",
            "xywh": "corner and size [x, y, width, height]",
            "cxcywh": "centre and size [cx, cy, width, height]",
        }[self.name]
        if self.declared != "auto":
            return f"boxes read as {meaning} (declared in the specification)"
        return (
            f"boxes read as {meaning}: {self.ordered_share:.1%} of {self.n_boxes:,} boxes have x2 > x1 and y2 > y1 "
            f"(corners need at least {CORNERS_ORDERED_SHARE:.0%}; box_format in [trends] overrides)"
        )


def box_corners(dialect: Dialect, box_format: str, column: str = "l.POSITION_IN_IMAGE") -> dict[str, str]:
    """SQL expressions of a box's corners under a reading.

    Parameters
    ----------
    dialect : bayesseg.data.sql.Dialect
        The warehouse's dialect (arrays are indexed from 1 in DuckDB, from 0 in Snowflake).
    box_format : {"xyxy", "xywh", "cxcywh"}
        The reading.
    column : str, default "l.POSITION_IN_IMAGE"
        The array column, qualified as the query needs.

    Returns
    -------
    dict of str to str
        ``x1``, ``y1``, ``x2``, ``y2`` (DOUBLE expressions; x1 < x2 and y1 < y2 for a well-formed box).

    Raises
    ------
    bayesseg.exceptions.InputError
        If `box_format` is not a reading (``auto`` must be resolved first).
    """
    b = [dialect.element(column, i) for i in range(4)]
    if box_format == "xyxy":
        return {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]}
    if box_format == "xywh":
        return {"x1": b[0], "y1": b[1], "x2": f"({b[0]} + {b[2]})", "y2": f"({b[1]} + {b[3]})"}
    if box_format == "cxcywh":
        return {
            "x1": f"({b[0]} - {b[2]} / 2)",
            "y1": f"({b[1]} - {b[3]} / 2)",
            "x2": f"({b[0]} + {b[2]} / 2)",
            "y2": f"({b[1]} + {b[3]} / 2)",
        }
    raise InputError(f"box_format must be one of {BOX_FORMATS[1:]} here, got {box_format!r}")


def check_item_iou(iou: float) -> float:
    """`iou` as a float, when it is an intersection-over-union threshold in (0, 1].

    Raises
    ------
    bayesseg.exceptions.InputError
        If `iou` is not a number in (0, 1].
    """
    if isinstance(iou, bool) or not isinstance(iou, numbers.Real) or not 0 < iou <= 1:
        raise InputError(f"item_iou must be in (0, 1], got {iou!r}")
    return float(iou)


def same_item_sql(a: str, b: str, iou: float) -> str:
    """A SQL predicate: boxes ``a`` and ``b`` (columns X1, Y1, X2, Y2) overlap with IoU at least `iou`.

    Written without a division (intersection ≥ iou × union), so that equal boxes pass at ``iou = 1``
    exactly and empty boxes never divide by zero.

    Parameters
    ----------
    a, b : str
        Table aliases.
    iou : float
        Threshold in (0, 1].

    Returns
    -------
    str

    Raises
    ------
    bayesseg.exceptions.InputError
        If `iou` is not in (0, 1].

    References
    ----------
    Everingham, M., Van Gool, L., Williams, C. K. I., Winn, J. and Zisserman, A. (2010). The PASCAL
    Visual Object Classes (VOC) challenge. International Journal of Computer Vision 88, 303-338.
    https://doi.org/10.1007/s11263-009-0275-4 (intersection over union as the match of two boxes).
    """
    check_item_iou(iou)
    inter = (
        f"(GREATEST(LEAST({a}.X2, {b}.X2) - GREATEST({a}.X1, {b}.X1), 0) * "
        f"GREATEST(LEAST({a}.Y2, {b}.Y2) - GREATEST({a}.Y1, {b}.Y1), 0))"
    )
    area = f"(({a}.X2 - {a}.X1) * ({a}.Y2 - {a}.Y1) + ({b}.X2 - {b}.X1) * ({b}.Y2 - {b}.Y1))"
    return f"{inter} > 0 AND {inter} >= {sql_literal(float(iou))} * ({area} - {inter})"


def resolve_box_format(source: Source, declared: str = "auto") -> BoxFormat:
    """The reading of ``POSITION_IN_IMAGE``: the declared one, or inferred from the warehouse's boxes.

    Parameters
    ----------
    source : Source
        The warehouse (one aggregate query over the label table when `declared` is ``auto``).
    declared : {"auto", "xyxy", "xywh", "cxcywh"}, default "auto"
        The specification's ``[trends] box_format``.

    Returns
    -------
    BoxFormat
        ``xyxy`` when at least :data:`CORNERS_ORDERED_SHARE` of the boxes have x2 > x1 and
        y2 > y1, else ``xywh``; a declared reading is returned as is.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `declared` is not one of :data:`bayesseg.config.defaults.BOX_FORMATS`, or it is ``auto``
        and the warehouse has no box of four numbers to look at.
    """
    if declared not in BOX_FORMATS:
        raise InputError(f"box_format must be one of {BOX_FORMATS}, got {declared!r}")
    if declared != "auto":
        return BoxFormat(declared, declared)
    b = {f"b{i}": source.dialect.element("l.POSITION_IN_IMAGE", i) for i in range(4)}
    row = source.run("box_format", **b).iloc[0]
    n, ordered = int(row["N_BOXES"]), int(row["N_ORDERED"])
    if not n:
        raise InputError(
            "MART_IMAGES_LABELS has no POSITION_IN_IMAGE of four numbers: the box format cannot be inferred "
            "and no item-level trend can be counted (declare [trends] box_format, or use image-level trends)"
        )
    name = "xyxy" if ordered >= CORNERS_ORDERED_SHARE * n else "xywh"
    return BoxFormat(name, "auto", n, ordered)


def box_values(source: Source, box_format: BoxFormat, iou: float, a: str = "a", b: str = "d") -> dict[str, str]:
    """The placeholders a box query needs: the corners of ``l.POSITION_IN_IMAGE`` and the same-item test.

    Parameters
    ----------
    source : Source
        The warehouse (its dialect).
    box_format : BoxFormat
        The reading in force.
    iou : float
        Threshold of :func:`same_item_sql`.
    a, b : str, default "a", "d"
        Aliases of the item's box and of the other label's box in the query.

    Returns
    -------
    dict of str to str
        ``x1``, ``y1``, ``x2``, ``y2``, ``same_item`` and ``box_format``.
    """
    return {
        **box_corners(source.dialect, box_format.name),
        "same_item": same_item_sql(a, b, iou),
        "box_format": box_format.name,
    }


def box_checks(source: Source, box_format: BoxFormat, iou: float) -> dict[str, tuple[int, int]]:
    """Count the boxes with corners out of order and the labels on no detected item.

    Parameters
    ----------
    source : Source
        The warehouse.
    box_format : BoxFormat
        The reading in force (:func:`resolve_box_format`).
    iou : float
        Two boxes are one item at an intersection over union at least this, in (0, 1].

    Returns
    -------
    dict of str to (int, int)
        ``position_inverted``: arrays of four elements with an element that is not a number, or with
        x2 ≤ x1 or y2 ≤ y1 once read, of arrays of four elements; ``labels_without_item``: rows of
        every TYPE but ``object_detection`` whose well-formed box is the box of no
        ``object_detection`` row of their image, of those rows.
    """
    raw = source.run("box_checks", **box_values(source, box_format, iou))
    return {r.CHECK_NAME: (int(r.N), int(r.TOTAL)) for r in raw.itertuples()}
