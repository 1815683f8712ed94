"""Detection boxes coherent with fashion items, and the item-level truth of crossed labels.

Each ``object_detection`` label of an image is an item with its own box; the labels of the
downstream models (pattern, shoe type, brands) sit on the box of the item they were run on: a
pattern on a garment, a shoe type or shoe brand on the shoes, a bag brand on the bag
(:data:`ITEM_HOSTS`), the item picked at random among the image's candidates. A downstream label
whose image has no candidate item (the detector missed the garment) keeps a box of its own, which
matches no item: the data-quality check ``labels_without_item`` counts such rows. Repeated
detections of one label are slightly shifted copies of its box. Items of one image occupy disjoint
vertical slots, so boxes of different items never overlap and a box-matching query recovers the
simulated items exactly at any intersection-over-union threshold in (0, 1].

Boxes are written as corner and size, ``[x, y, width, height]``, in image fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ITEM_HOSTS",
    "ITEM_TRENDS",
    "ItemPlan",
    "crossing_names",
    "item_positions",
    "item_trend_flags",
    "item_trend_series",
]

_GARMENTS = frozenset(
    {
        "top", "pants", "coat", "dress", "skirt", "shorts", "combi", "body", "bag", "hat",
        "neckwear", "socks", "underpants", "bra",
    }
)  # fmt: skip
ITEM_HOSTS: dict[str, frozenset[str]] = {
    "pattern": _GARMENTS,
    "shoe": frozenset({"shoes"}),
    "shoe_brand": frozenset({"shoes"}),
    "bag_brand": frozenset({"bag"}),
}
"""Per downstream TYPE, the ``object_detection`` labels whose boxes it is run on."""

ITEM_TRENDS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    (("object_detection", "top"), ("pattern", "stripes")),
    (("object_detection", "shoes"), ("shoe", "sneakersrunning")),
    (("object_detection", "bag"), ("bag_brand", "chanel")),
)
"""Crossings whose weekly series the truth carries at both scopes: ``(item, label on it)``."""


def crossing_names(item: tuple[str, str], label: tuple[str, str]) -> tuple[str, str]:
    """The image-level and item-level trend texts of a crossing (as :class:`bayesseg.config.Trend` parses them)."""
    a, b = f"{item[0]}:{item[1]}", f"{label[0]}:{label[1]}"
    return f"{a}+{b}", f"{a} & {b}"


@dataclass(frozen=True)
class ItemPlan:
    """What the box geometry needs to know of the label codes.

    Parameters
    ----------
    host_of : numpy.ndarray of bool, shape (code, downstream type)
        Whether a code's box can carry labels of each downstream TYPE of :data:`ITEM_HOSTS`.
    wants : numpy.ndarray of int, shape (code,)
        For a downstream label, the index of its TYPE in :data:`ITEM_HOSTS`; -1 for an item.
    crossings : numpy.ndarray of int, shape (crossing, 2)
        Codes of the item and of the label of each :data:`ITEM_TRENDS` entry.
    """

    host_of: np.ndarray
    wants: np.ndarray
    crossings: np.ndarray

    @classmethod
    def from_codebook(cls, codebook: pd.DataFrame) -> ItemPlan:
        """Build the plan from a codebook (columns ``TYPE``, ``LABEL_NAME``, ``code`` = row order).

        Raises
        ------
        KeyError
            If a label of :data:`ITEM_TRENDS` is not in the codebook.
        """
        types = list(ITEM_HOSTS)
        is_item = (codebook["TYPE"] == "object_detection").to_numpy()
        host_of = np.column_stack([is_item & codebook["LABEL_NAME"].isin(ITEM_HOSTS[t]).to_numpy() for t in types])
        wants = codebook["TYPE"].map({t: i for i, t in enumerate(types)}).fillna(-1).to_numpy(dtype=np.int64)
        code = {(r.TYPE, r.LABEL_NAME): int(r.code) for r in codebook.itertuples()}
        crossings = np.array([[code[a], code[b]] for a, b in ITEM_TRENDS], dtype=np.int64).reshape(-1, 2)
        return cls(host_of, wants, crossings)


def _hosts(lab_img: np.ndarray, lab_code: np.ndarray, plan: ItemPlan, u: np.ndarray) -> np.ndarray:
    """For each label (image, code) sorted by image, the index of the label whose box it sits on (-1: none)."""
    host = np.full(lab_img.size, -1, dtype=np.int64)
    n_types = plan.host_of.shape[1]
    cand_key, cand_type = np.nonzero(plan.host_of[lab_code])
    # candidates grouped by (type, image); their keys ascend within a group
    group = cand_type * (lab_img.max(initial=0) + 1) + lab_img[cand_key]
    order = np.argsort(group, kind="stable")
    group, cand_key = group[order], cand_key[order]
    wants = plan.wants[lab_code]
    down = np.flatnonzero(wants >= 0)
    if n_types and down.size:
        g = wants[down] * (lab_img.max(initial=0) + 1) + lab_img[down]
        lo = np.searchsorted(group, g, side="left")
        n = np.searchsorted(group, g, side="right") - lo
        pick = lo + np.minimum((u[down] * n).astype(np.int64), np.maximum(n - 1, 0))
        host[down] = np.where(n > 0, cand_key[np.minimum(pick, max(cand_key.size - 1, 0))], -1)
    return host


def item_positions(
    lab_img: np.ndarray, lab_code: np.ndarray, boxes: np.ndarray, u: np.ndarray, plan: ItemPlan
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of every detection row, coherent with items.

    Parameters
    ----------
    lab_img, lab_code : numpy.ndarray of int, shape (label,)
        Image and code of each distinct (image, label), sorted by image.
    boxes : numpy.ndarray of int, shape (label,)
        Rows (detection boxes) of each label, at least 1.
    u : numpy.ndarray, shape (row, 4)
        Uniform draws, one row per detection row (``np.repeat`` of the labels by `boxes`).
    plan : ItemPlan
        Which codes are items and which sit on them.

    Returns
    -------
    positions : numpy.ndarray, shape (row, 4)
        ``[x, y, width, height]``, rounded to 4 decimals.
    host : numpy.ndarray of int, shape (label,)
        Index of the label each label sits on (-1 for items and for labels on no item).
    """
    first = np.r_[0, np.cumsum(boxes)[:-1]]
    host = _hosts(lab_img, lab_code, plan, u[first, 0])
    own = host < 0  # items, and downstream labels whose image has no candidate item
    # each own box takes a vertical slot of its image: rank among the image's own boxes
    own_idx = np.flatnonzero(own)
    img_own = lab_img[own_idx]
    start = np.r_[0, np.flatnonzero(np.diff(img_own)) + 1]
    counts = np.diff(np.r_[start, img_own.size])
    rank = np.arange(own_idx.size) - np.repeat(start, counts)
    m = np.repeat(counts, counts).astype(float)
    uf = u[first[own_idx]]
    base = np.empty((lab_img.size, 4))
    base[own_idx] = np.column_stack(
        [(rank + 0.05 + 0.25 * uf[:, 0]) / m, 0.6 * uf[:, 1], (0.4 + 0.25 * uf[:, 2]) / m, 0.1 + 0.3 * uf[:, 3]]
    )
    base[~own] = base[host[~own]]
    base = np.round(base, 4)
    row_label = np.repeat(np.arange(lab_img.size), boxes)
    pos = base[row_label].copy()
    repeat = np.ones(row_label.size, dtype=bool)
    repeat[first] = False
    # repeated detections: shifted by up to 3 % of the box's size, sized up to ±3 %
    j = (u[repeat] - 0.5) * 0.06
    pos[repeat, 0] += j[:, 0] * pos[repeat, 2]
    pos[repeat, 1] += j[:, 1] * pos[repeat, 3]
    pos[repeat, 2] *= 1 + j[:, 2]
    pos[repeat, 3] *= 1 + j[:, 3]
    return np.round(pos, 4), host


def item_trend_flags(lab_img: np.ndarray, lab_code: np.ndarray, host: np.ndarray, plan: ItemPlan) -> pd.DataFrame:
    """Which images show each :data:`ITEM_TRENDS` crossing, in one image and on one item.

    Parameters
    ----------
    lab_img, lab_code, host : numpy.ndarray of int, shape (label,)
        As :func:`item_positions` takes and returns them.
    plan : ItemPlan
        The crossings' codes.

    Returns
    -------
    pandas.DataFrame
        Columns ``image`` (index into the images), ``crossing`` (index into :data:`ITEM_TRENDS`)
        and ``item`` (bool: the label sits on the item's box; false: both in the image only).
    """
    rows = []
    for c, (a, b) in enumerate(plan.crossings):
        has_a = np.unique(lab_img[lab_code == a])
        sel_b = np.flatnonzero(lab_code == b)
        both = np.intersect1d(has_a, lab_img[sel_b])
        on_item = lab_img[sel_b][(host[sel_b] >= 0) & (lab_code[np.maximum(host[sel_b], 0)] == a)]
        rows.append(pd.DataFrame({"image": both, "crossing": c, "item": np.isin(both, on_item)}))
    return pd.concat(rows, ignore_index=True)


def item_trend_series(crossing_posts: np.ndarray, all_posts: np.ndarray, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """The truth table ``ITEM_TREND_SERIES``: weekly shares of all posts showing each crossing.

    Parameters
    ----------
    crossing_posts : numpy.ndarray, shape (crossing, 2, week)
        Posts showing each crossing of :data:`ITEM_TRENDS` in one image (``[:, 0]``) and on one
        item (``[:, 1]``).
    all_posts : numpy.ndarray, shape (week,)
        All posts of the week.
    weeks : pandas.DatetimeIndex
        Monday of each week.

    Returns
    -------
    pandas.DataFrame
        ``TREND`` (the trend's text, ``+`` or ``&``), ``SCOPE`` (``image``/``item``), ``WEEK``,
        ``SHARE`` (NaN in a week without posts), ``N_HITS`` and ``N_POSTS``.
    """
    rows = []
    for c, (item, label) in enumerate(ITEM_TRENDS):
        for s, (scope, name) in enumerate(zip(("image", "item"), crossing_names(item, label), strict=True)):
            hits = crossing_posts[c, s]
            share = np.divide(hits, all_posts, out=np.full(len(weeks), np.nan), where=all_posts > 0)
            rows.append(
                pd.DataFrame(
                    {
                        "TREND": name,
                        "SCOPE": scope,
                        "WEEK": weeks,
                        "SHARE": share,
                        "N_HITS": hits.astype(np.int64),
                        "N_POSTS": all_posts.astype(np.int64),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)
