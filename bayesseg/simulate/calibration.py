"""The figures the simulator reproduces and the segments, trends and label frequencies it draws from.

Everything here is data: :class:`Calibration` (the real sample's figures, ``CONTRACT.md``), the six
true segments, the trends whose weekly visibility differs between them
(:data:`bayesseg.simulate.calibration.TRENDS`), and the
approximate image frequency of each label with the segments' boosts of it. The draws themselves are
in :mod:`bayesseg.simulate.generative`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BOOSTS",
    "COVARIATES",
    "DEFAULT_FREQUENCY",
    "KNOWN_FREQUENCIES",
    "NON_FASHION_FREQUENCY",
    "SEGMENT_NAMES",
    "SIZES",
    "TRENDS",
    "Calibration",
    "Size",
    "TrendSpec",
]

Size = Literal["demo", "techtest"]

SIZES: dict[str, int] = {"demo": 3_000, "techtest": 32_841}
"""Number of authors in ``MART_AUTHORS_SEGMENTATIONS`` (the author universe) for each size."""

SEGMENT_NAMES: tuple[str, ...] = (
    "casual_denim",
    "sportswear",
    "dressy",
    "luxury",
    "enthusiasts",
    "lifestyle",
)
COVARIATES: tuple[str, ...] = ("log_followers", "log_engagement")


@dataclass(frozen=True)
class TrendSpec:
    """A simulated trend: one label whose weekly visibility differs between segments.

    Parameters
    ----------
    name : str
        Trend name, as in ``TYPE:LABEL_NAME``.
    type : str
        TYPE of the label.
    label_name : str
        LABEL_NAME of the label.
    base : dict of str to float
        Per segment, the mean probability that an image shows the label.
    shape : {"seasonal", "rising", "holiday"}
        Shape of the weekly curve multiplying `base`.
    strength : dict of str to float
        Per segment, the amplitude of the shape (0 = flat).
    """

    name: str
    type: str
    label_name: str
    base: dict[str, float]
    shape: Literal["seasonal", "rising", "holiday"]
    strength: dict[str, float]


def _per_segment(default: float, **values: float) -> dict[str, float]:
    return {s: values.get(s, default) for s in SEGMENT_NAMES}


TRENDS: tuple[TrendSpec, ...] = (
    TrendSpec(
        "pattern:stripes",
        "pattern",
        "stripes",
        _per_segment(0.02, casual_denim=0.035, dressy=0.03, enthusiasts=0.03, lifestyle=0.008),
        "seasonal",
        _per_segment(0.6, luxury=0.2, lifestyle=0.3),
    ),
    TrendSpec(
        "pattern:leopard",
        "pattern",
        "leopard",
        _per_segment(0.004, luxury=0.02, enthusiasts=0.025, dressy=0.008),
        "rising",
        _per_segment(0.2, luxury=2.5, enthusiasts=3.0, dressy=1.0),
    ),
    TrendSpec(
        "shoe:sneakersrunning",
        "shoe",
        "sneakersrunning",
        _per_segment(0.008, sportswear=0.06, casual_denim=0.012, lifestyle=0.01),
        "rising",
        _per_segment(0.1, sportswear=1.2, casual_denim=0.6),
    ),
    TrendSpec(
        "bag_brand:chanel",
        "bag_brand",
        "chanel",
        _per_segment(0.0003, luxury=0.02, enthusiasts=0.003),
        "holiday",
        _per_segment(0.0, luxury=1.5, enthusiasts=1.0),
    ),
)
"""The simulated trends: each a label whose weekly visibility differs between segments."""


@dataclass(frozen=True)
class Calibration:
    """Figures of the real sample (``CONTRACT.md``) that the simulator reproduces.

    Rates are per author or per row and do not depend on the size; counts are those of the real
    sample of 32,841 authors and are scaled for smaller sizes.

    Parameters
    ----------
    n_segmentations : int
        Rows of ``MART_AUTHORS_SEGMENTATIONS`` (the author universe), real sample.
    n_mart_authors : int
        Distinct AUTHORIDs of ``MART_AUTHORS``.
    n_with_posts : int
        Authors with at least one post.
    n_mart_without_posts : int
        Authors of ``MART_AUTHORS`` with no post.
    duplicate_copies : int
        Rows of the one duplicated AUTHORID of ``MART_AUTHORS``.
    followers_null_mart, followers_null_segmentations, follows_null : float
        NULL rates of NB_FOLLOWERS in the two author tables and of NB_FOLLOWS.
    fractional_segmentations : float
        Share of fractional NB_FOLLOWERS in ``MART_AUTHORS_SEGMENTATIONS``.
    zero_followers : float
        Share of accounts with 0 followers.
    posts_per_author : float
        Mean posts of an author who posts (2,495,320 rows / 29,075 authors).
    multi_image_posts, shared_images : float
        Share of posts with several images and of posts reusing an image of another post.
    unlabelled_images : float
        Share of images with no detection (1.96M labelled images out of ~2.5M).
    human, humanface : float
        Share of labelled images with a person / face detection.
    repeated_rows : float
        Share of label rows that repeat a (image, label) pair (42 %).
    hidden_like_authors, hidden_like_posts : float
        Authors hiding every like count, and posts with a hidden count otherwise.
    fashion_interest : tuple of float
        Panel rate by tier (mainstream, trendy, edgy).
    volume_decline : float
        Posting volume at the end of the window relative to the start.
    start, end : str
        Publication dates of the window.
    """

    n_segmentations: int = 32_841
    n_mart_authors: int = 22_428
    n_with_posts: int = 29_075
    n_mart_without_posts: int = 2_900
    duplicate_copies: int = 12
    followers_null_mart: float = 0.015
    followers_null_segmentations: float = 0.037
    follows_null: float = 0.048
    fractional_segmentations: float = 2_699 / 32_841
    zero_followers: float = 20 / 32_841
    posts_per_author: float = 2_495_320 / 29_075
    multi_image_posts: float = 0.02
    shared_images: float = 0.01
    unlabelled_images: float = 0.215
    human: float = 1.47 / 1.96
    humanface: float = 1.31 / 1.96
    repeated_rows: float = 0.42
    hidden_like_authors: float = 0.08
    hidden_like_posts: float = 0.02
    fashion_interest: tuple[float, float, float] = (0.0068, 0.022, 0.083)
    volume_decline: float = 0.7
    start: str = "2023-01-01"
    end: str = "2025-01-19"
    segment_intercepts: dict[str, float] = field(
        default_factory=lambda: {
            "casual_denim": 0.0,
            "sportswear": -0.2,
            "dressy": -0.1,
            "luxury": -1.2,
            "enthusiasts": -0.5,
            "lifestyle": 0.1,
        }
    )
    segment_slopes: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "casual_denim": (0.0, 0.0),
            "sportswear": (0.3, 0.4),
            "dressy": (0.4, -0.3),
            "luxury": (1.5, -0.5),
            "enthusiasts": (0.8, 0.7),
            "lifestyle": (-0.8, 0.3),
        }
    )
    concentrations: dict[str, float] = field(
        default_factory=lambda: {
            "casual_denim": 120.0,
            "sportswear": 100.0,
            "dressy": 110.0,
            "luxury": 80.0,
            "enthusiasts": 90.0,
            "lifestyle": 60.0,
        }
    )
    panel_segment_effects: dict[str, float] = field(
        default_factory=lambda: {
            "casual_denim": 0.0,
            "sportswear": -0.3,
            "dressy": 0.3,
            "luxury": 1.2,
            "enthusiasts": 1.0,
            "lifestyle": -1.2,
        }
    )


# Approximate image frequencies from CONTRACT.md ("most frequent"), by (TYPE, LABEL_NAME);
# other labels get a default by TYPE.
KNOWN_FREQUENCIES: dict[tuple[str, str], float] = {
    ("object_detection", "top"): 700_000,
    ("object_detection", "shoes"): 400_000,
    ("object_detection", "pants"): 300_000,
    ("object_detection", "coat"): 160_000,
    ("object_detection", "dress"): 120_000,
    ("object_detection", "bag"): 150_000,
    ("object_detection", "eyewear"): 90_000,
    ("object_detection", "skirt"): 60_000,
    ("object_detection", "shorts"): 60_000,
    ("object_detection", "hat"): 70_000,
    ("pattern", "plain"): 507_000,
    ("pattern", "basicdenim"): 40_000,
    ("shoe", "heelflat"): 120_000,
    ("shoe", "noheel"): 108_000,
    ("shoe", "sneakers"): 191_000,
    ("shoe_brand", "nike"): 22_000,
    ("shoe_brand", "adidas"): 9_000,
    ("bag_brand", "dior"): 1_000,
}
DEFAULT_FREQUENCY = {
    "object_detection": 20_000,
    "pattern": 6_000,
    "shoe": 5_000,
    "shoe_brand": 700,
    "bag_brand": 400,
}
NON_FASHION_FREQUENCY = 6_000

# Segment profiles: multiplicative boosts of the population profile, by taxonomy category
# (or by exclusion reason for a label the taxonomy excludes). The generic COCO objects are keyed
# `non_fashion_object` both ways: their category since taxonomy 2026.11.2, their exclusion reason before.
BOOSTS: dict[str, dict[str, float]] = {
    "casual_denim": {"denim": 6, "sneakers_lifestyle": 2.5, "pants": 1.8, "top": 1.3, "plain": 1.3},
    "sportswear": {
        "brand_sport_shoe": 8,
        "sneakers_running": 6,
        "sneakers_court": 6,
        "sport_equipment": 8,
        "shorts": 3,
        "mesh": 3,
        "sneakers_lifestyle": 2,
        "socks": 2,
    },
    "dressy": {
        "dress": 3,
        "skirt": 2.5,
        "heels_high": 3,
        "heels_block": 3,
        "pumps": 3,
        "sandals": 2.5,
        "floral": 2.5,
        "satin_velvet": 2,
    },
    "luxury": {
        "brand_luxury_bag": 40,
        "brand_luxury_shoe": 30,
        "tweed": 5,
        "tulle_taffeta": 5,
        "satin_velvet": 3,
        "fur_mohair": 4,
        "heels_high": 2.5,
        "bag": 2,
        "leather": 2,
    },
    "enthusiasts": {
        "bag": 2.5,
        "eyewear": 3,
        "earring": 3.5,
        "neckwear": 3.5,
        "wristlet": 3.5,
        "hat": 3,
        "belt": 3,
        "checks": 2.5,
        "graphic_print": 2,
        "boots": 1.8,
    },
    "lifestyle": {
        "non_fashion_object": 5,
        "sport_equipment": 2,
        "shorts": 1.5,
        "plain": 1.5,
        "top": 0.6,
        "pants": 0.6,
        "brand_luxury_bag": 0.2,
        "brand_luxury_shoe": 0.2,
        "heels_high": 0.3,
    },
}
