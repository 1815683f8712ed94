"""A calibrated simulator of the TECHTEST warehouse, with its ground truth.

:func:`simulate_warehouse` writes the four MART tables of the data contract
(:mod:`bayesseg.contract`) into a DuckDB file, schema ``TECHTEST``, using the real label
vocabulary (the pairs of the taxonomy) and reproducing the real sample's defects
(``../shared/techtest/CONTRACT.md``): a duplicated AUTHORID with conflicting values, NULL and
fractional NB_FOLLOWERS, followers that disagree between the two author tables, authors without
posts, repeated detections of a label in one image, hidden likes recorded as 0, images shared by
several posts and posts with several images, a posting volume that declines over time, GEO_ZONE
``us``. The truth behind the data is written beside it, in schema ``TRUTH`` of the same file.

The generative model (the truth)
--------------------------------
For author *i*:

* log(1 + followers) is drawn from a three-component normal mixture calibrated to the follower
  distribution of the contract (mode near 7, bump near 9.2, tail to ~3e8); engagement rate
  (likes + comments per post per follower) falls with followers;
* covariates ``x = (log_followers, log_engagement)`` are standardised with the population's mean
  and standard deviation; the segment is drawn from a multinomial logit
  ``P(z = k) = softmax_k(γ_k + x·β_k)`` with segment 0 (``casual_denim``) as reference;
* the author's label profile is ``p_i ~ Dirichlet(κ_k θ_k)``; each labelled image draws labels
  from ``p_i`` (distinct labels kept, each repeated over one or more detection boxes), so author
  label counts are Dirichlet-multinomial given the segment (up to the within-image de-duplication);
* trend labels (``TRUTH.TRENDS``) are added to each image with a weekly, segment-specific
  probability; the realised population share of posts showing each trend per week is the
  population truth (``TRUTH.TREND_SERIES``);
* the fashion-forward panel (FASHION_INTEREST_SEGMENT) is drawn with
  ``P = logistic(a + b·u + c·u² + e_k)``, ``u = log_followers - 9``, with segment effects
  ``e_k`` and (a, b, c) solved so that the rates by follower tier match the contract
  (mainstream 0.68 %, trendy 2.2 %, edgy 8.3 %).

Same seed, same tables: every random draw comes from a generator seeded by ``(seed, chunk)``,
rows are written in a fixed order, and :func:`warehouse_checksum` hashes the contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import xarray as xr
from scipy import optimize, special

from bayesseg.taxonomy import Taxonomy

__all__ = [
    "SIZES",
    "Calibration",
    "SimulationResult",
    "TrendSpec",
    "simulate_aggregates",
    "simulate_counts",
    "simulate_warehouse",
    "truth_tables",
    "warehouse_checksum",
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
TIERS: tuple[str, ...] = ("mainstream", "trendy", "edgy")


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


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate_warehouse` wrote.

    Parameters
    ----------
    path : pathlib.Path
        The DuckDB file.
    size : str
        Size name, or ``"custom"``.
    seed : int
        Seed.
    row_counts : dict of str to int
        Rows written per table (``TECHTEST.*`` and ``TRUTH.*``).
    checksum : str
        :func:`warehouse_checksum` of the file.
    """

    path: Path
    size: str
    seed: int
    row_counts: dict[str, int]
    checksum: str


# --------------------------------------------------------------------------------------------
# Truth: profiles over labels
# --------------------------------------------------------------------------------------------

# Approximate image frequencies from CONTRACT.md ("most frequent"), by (TYPE, LABEL_NAME);
# other labels get a default by TYPE.
_KNOWN_FREQUENCIES: dict[tuple[str, str], float] = {
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
_DEFAULT_FREQUENCY = {
    "object_detection": 20_000,
    "pattern": 6_000,
    "shoe": 5_000,
    "shoe_brand": 700,
    "bag_brand": 400,
}
_NON_FASHION_FREQUENCY = 6_000

# Segment profiles: multiplicative boosts of the population profile, by taxonomy category
# (or by exclusion reason for a label the taxonomy excludes). The generic COCO objects are keyed
# `non_fashion_object` both ways: their category since taxonomy 2026.11.2, their exclusion reason before.
_BOOSTS: dict[str, dict[str, float]] = {
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


def _profiles(taxonomy: Taxonomy) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the simulated vocabulary and the (K, V) matrix of segment label profiles.

    The vocabulary is every pair of the taxonomy except the person detectors (drawn per image
    on their own) and the trend labels (drawn per image with their weekly probability).
    """
    vocab = taxonomy.labels[["TYPE", "LABEL_NAME", "CATEGORY", "EXCLUDED_REASON"]].copy()
    trend_pairs = {(t.type, t.label_name) for t in TRENDS}
    keep = (vocab["EXCLUDED_REASON"] != "person") & ~vocab.apply(
        lambda r: (r["TYPE"], r["LABEL_NAME"]) in trend_pairs, axis=1
    )
    vocab = vocab[keep].reset_index(drop=True)
    group = vocab["CATEGORY"].fillna(vocab["EXCLUDED_REASON"]).to_numpy()
    base = np.array(
        [
            _KNOWN_FREQUENCIES.get(
                (r.TYPE, r.LABEL_NAME),
                _NON_FASHION_FREQUENCY if g == "non_fashion_object" else _DEFAULT_FREQUENCY[r.TYPE],
            )
            for r, g in zip(vocab.itertuples(), group, strict=True)
        ],
        dtype=float,
    )
    theta = np.empty((len(SEGMENT_NAMES), len(vocab)))
    for k, name in enumerate(SEGMENT_NAMES):
        boost = np.array([_BOOSTS[name].get(g, 1.0) for g in group])
        theta[k] = base * boost / np.sum(base * boost)
    return vocab, theta


# --------------------------------------------------------------------------------------------
# Author population
# --------------------------------------------------------------------------------------------


def _author_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique 4..11-digit ids, log-uniformly spread."""
    ids: np.ndarray = np.empty(0, dtype=np.int64)
    while ids.size < n:
        draw = np.floor(10 ** rng.uniform(3.0, 11.0, size=2 * n)).astype(np.int64)
        draw = draw[(draw >= 1_000) & (draw <= 99_999_999_999)]
        ids = np.concatenate([ids, draw])
        _, first = np.unique(ids, return_index=True)
        ids = ids[np.sort(first)]
    return ids[:n]


def _log_followers(rng: np.random.Generator, n: int) -> np.ndarray:
    """log(1 + followers): three-component mixture calibrated to CONTRACT.md's quartiles."""
    # fitted by least squares to the tier shares (84/8/8 %) and the tier quartiles of followers
    comp = rng.choice(3, size=n, p=[0.64, 0.25, 0.11])
    mu = np.array([6.66, 8.63, 11.15])[comp]
    sd = np.array([0.95, 1.09, 1.52])[comp]
    return np.clip(rng.normal(mu, sd), 0.7, np.log1p(2.95e8))


def _tier(followers: np.ndarray) -> np.ndarray:
    """Current rule: mainstream <= 12,000 < trendy <= 40,000 < edgy (0, 1, 2)."""
    return np.where(followers <= 12_000, 0, np.where(followers <= 40_000, 1, 2))


def _panel_parameters(cal: Calibration, log_f: np.ndarray, tier: np.ndarray, seg_effect: np.ndarray) -> np.ndarray:
    """Solve the panel-selection coefficients so that tier rates match the contract.

    ``logit P = a + b u + c u² + segment effect`` with ``u = log_followers - 9``; three tier
    rates, three unknowns: an exact fit on the simulated population.
    """
    target = np.log(np.array(cal.fashion_interest))
    u = log_f - 9.0

    def resid(abc: np.ndarray) -> np.ndarray:
        p = special.expit(abc[0] + abc[1] * u + abc[2] * u**2 + seg_effect)
        rates = np.array([p[tier == t].mean() if np.any(tier == t) else np.exp(target[t]) for t in range(3)])
        return np.log(rates) - target

    sol = optimize.least_squares(resid, x0=np.array([-4.0, 0.5, 0.0]), method="lm")
    return np.asarray(sol.x)


def _population(rng: np.random.Generator, n: int, cal: Calibration) -> tuple[pd.DataFrame, dict[str, Any]]:
    log_f = _log_followers(rng, n)
    followers = np.floor(np.expm1(log_f)).astype(np.int64)
    zero = rng.random(n) < cal.zero_followers
    followers[zero] = 0
    log_f = np.log1p(followers)
    tier = _tier(followers.astype(float))
    # engagement rate (interactions per post per follower) falls with followers; level, slope and
    # spread fitted to the contract's likes per post (mean, median) and likes per follower by tier
    # (0.037, 0.021, 0.013 for mainstream, trendy, edgy)
    log_eng = -3.5 - 0.15 * (log_f - 7.0) + rng.normal(0.0, 0.67, size=n)
    mu = np.array([log_f.mean(), log_eng.mean()])
    sd = np.array([log_f.std(), log_eng.std()])
    x = (np.column_stack([log_f, log_eng]) - mu) / sd
    gamma = np.array([cal.segment_intercepts[s] for s in SEGMENT_NAMES])
    beta = np.array([cal.segment_slopes[s] for s in SEGMENT_NAMES])  # (K, P)
    eta = gamma[None, :] + x @ beta.T
    prob = special.softmax(eta, axis=1)
    u = rng.random(n)
    segment = np.minimum((np.cumsum(prob, axis=1) < u[:, None]).sum(axis=1), len(SEGMENT_NAMES) - 1)
    seg_effect = np.array([cal.panel_segment_effects[s] for s in SEGMENT_NAMES])[segment]
    a, b, c = _panel_parameters(cal, log_f, tier, seg_effect)
    u = log_f - 9.0
    p_panel = special.expit(a + b * u + c * u**2 + seg_effect)
    panel = rng.random(n) < p_panel
    authors = pd.DataFrame(
        {
            "AUTHORID": _author_ids(rng, n),
            "SEGMENT": segment.astype(np.int64),
            "SEGMENT_NAME": np.array(SEGMENT_NAMES)[segment],
            "FOLLOWERS": followers,
            "LOG1P_FOLLOWERS": log_f,
            "ENGAGEMENT_RATE": np.exp(log_eng),
            "X_LOG_FOLLOWERS": x[:, 0],
            "X_LOG_ENGAGEMENT": x[:, 1],
            "TIER": np.array(TIERS)[tier],
            "PANEL_PROBABILITY": p_panel,
            "FASHION_INTEREST_SEGMENT": panel,
        }
    )
    for k, name in enumerate(SEGMENT_NAMES):
        authors[f"P_{name.upper()}"] = prob[:, k]
    params = {
        "covariate_mean": dict(zip(COVARIATES, mu.tolist(), strict=True)),
        "covariate_sd": dict(zip(COVARIATES, sd.tolist(), strict=True)),
        "panel_intercept": float(a),
        "panel_slope_log_followers": float(b),
        "panel_curvature_log_followers": float(c),
        "panel_centre_log_followers": 9.0,
    }
    return authors, params


def _membership_flags(rng: np.random.Generator, n: int, cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Which authors post, and which appear in MART_AUTHORS (rates of the real sample)."""
    has_posts = rng.random(n) < cal.n_with_posts / cal.n_segmentations
    n_posters = cal.n_with_posts
    p_mart_poster = (cal.n_mart_authors - cal.n_mart_without_posts) / n_posters
    p_mart_silent = cal.n_mart_without_posts / (cal.n_segmentations - n_posters)
    in_mart = np.where(has_posts, rng.random(n) < p_mart_poster, rng.random(n) < p_mart_silent)
    return has_posts, in_mart


# --------------------------------------------------------------------------------------------
# Text pools
# --------------------------------------------------------------------------------------------

_BIO_PARTS = (
    "Fashion lover",
    "Mode & style ✨",
    "Moda, viajes y café ☕",
    "NYC 🗽 | stylist",
    "Outfit inspo daily",
    "Maman de 2 👶👶",
    "Vintage hunter\nthrift queen",
    "Sneakerhead 👟",
    "Luxe lover 💎",
    "Runner 🏃‍♀️ | coffee",
    "ファッション好き",
    "Blogueira de moda 🇧🇷",
    "Designer. Dreamer. Doer.",
    "LA based 🌴",
    "Collabs: DM 📩",
    "",
)
_CAPTION_PARTS = (
    "OOTD",
    "Sunday vibes ☀️",
    "New in!",
    "Tenue du jour",
    "Look del día 💃",
    "#fashion #style",
    "#ootd #streetstyle",
    "Can't stop wearing this 🖤",
    "Weekend mood\n\n#weekend",
    "Obsessed with these shoes 👠",
    "Coffee run ☕ #casual",
    "Gym time 💪 #sport",
    "Date night ✨",
    "Thrifted this gem 🛍️",
    "Travel diaries ✈️ #travel",
    "Nouvelle collection 🇫🇷",
)


_N_CAPTIONS = 400


def _text_pool(rng: np.random.Generator, parts: tuple[str, ...], size: int) -> list[str]:
    pool = []
    for _ in range(size):
        k = int(rng.integers(1, 4))
        picks = rng.choice(len(parts), size=k, replace=False)
        pool.append(" ".join(parts[i] for i in picks).strip())
    return pool


# --------------------------------------------------------------------------------------------
# Posts, images and labels, one chunk of authors at a time
# --------------------------------------------------------------------------------------------


def _weeks(cal: Calibration) -> pd.DatetimeIndex:
    start = pd.Timestamp(cal.start)
    first_monday = start - pd.Timedelta(days=start.weekday())
    return pd.date_range(first_monday, pd.Timestamp(cal.end), freq="7D")


def _trend_curves(cal: Calibration) -> np.ndarray:
    """Per-image trend probability, shape (trend, segment, week)."""
    weeks = _weeks(cal)
    t = np.asarray((weeks - weeks[0]).days, dtype=float) / max((weeks[-1] - weeks[0]).days, 1)
    doy = weeks.day_of_year.to_numpy()
    out = np.empty((len(TRENDS), len(SEGMENT_NAMES), len(weeks)))
    for j, tr in enumerate(TRENDS):
        for k, s in enumerate(SEGMENT_NAMES):
            a = tr.strength[s]
            if tr.shape == "seasonal":
                shape = 1 + a * np.cos(2 * np.pi * (doy - 196) / 365.25)
            elif tr.shape == "rising":
                shape = np.exp(a * (t - 0.5))
            else:  # holiday: peak in December
                shape = 1 + a * np.exp(-0.5 * ((np.minimum(np.abs(doy - 350), 365 - np.abs(doy - 350))) / 12) ** 2)
            out[j, k] = np.clip(tr.base[s] * shape, 0.0, 0.5)
    return out


def _post_times(rng: np.random.Generator, n: int, cal: Calibration) -> np.ndarray:
    """Publication times (seconds since start) with a linearly declining intensity."""
    start, end = pd.Timestamp(cal.start), pd.Timestamp(cal.end) + pd.Timedelta(days=1)
    span = (end - start).total_seconds()
    r = cal.volume_decline
    # density ∝ 1 - (1 - r) s on s in [0, 1]; inverse CDF of the linear density
    c = 1 - r
    u = rng.random(n)
    s = (1 - np.sqrt(1 - u * (2 - c) * c)) / c if c > 0 else u
    return np.floor(s * span)


# TYPE blocks: (share of labelled images carrying the TYPE for an average author, mean extra
# distinct labels beyond the first). Shares from CONTRACT.md; person detections are drawn apart.
# The extra-label means were tuned so that a labelled image carries 5.3 distinct labels on average
# (CONTRACT.md); tests/test_simulate.py checks that figure.
_TYPE_BLOCKS: dict[str, tuple[float, float]] = {
    "object_detection": (1.0, 2.6),
    "pattern": (0.29, 0.25),
    "shoe": (0.19, 2.2),
    "shoe_brand": (0.037, 0.05),
    "bag_brand": (0.003, 0.0),
}


@dataclass
class _Chunk:
    posts: pa.Table
    labels: pa.Table
    post_trends: np.ndarray  # (n_posts_in_chunk, n_trends) bool
    post_week: np.ndarray
    post_segment: np.ndarray


def _simulate_chunk(
    rng: np.random.Generator,
    authors: pd.DataFrame,
    theta: np.ndarray,
    type_index: np.ndarray,
    type_mass: np.ndarray,
    trend_codes: np.ndarray,
    curves: np.ndarray,
    cal: Calibration,
    post_key0: int,
    image_key0: int,
) -> _Chunk:
    n = len(authors)
    seg = authors["SEGMENT"].to_numpy()
    kappa = np.array([cal.concentrations[s] for s in SEGMENT_NAMES])[seg]
    v = theta.shape[1]
    # author profiles p_i ~ Dirichlet(kappa_k theta_k) via normalised gammas
    g = rng.gamma(shape=kappa[:, None] * theta[seg] + 1e-12)
    p = g / g.sum(axis=1, keepdims=True)

    # posts per author: negative binomial, heavy tailed, mean from the contract
    activity = rng.lognormal(-0.5 * 1.1**2, 1.1, size=n)
    n_posts = rng.poisson(cal.posts_per_author * activity)
    n_posts = np.maximum(n_posts, 1)
    post_author = np.repeat(np.arange(n), n_posts)
    n_post = post_author.size
    post_key = post_key0 + np.arange(n_post, dtype=np.int64)
    t_post = _post_times(rng, n_post, cal)
    # engagement
    followers = authors["FOLLOWERS"].to_numpy(dtype=float)
    eng = authors["ENGAGEMENT_RATE"].to_numpy()
    sd_post = 1.42
    mean_likes = (
        0.95 * np.maximum(followers * eng, 0.05)[post_author] * rng.lognormal(-(sd_post**2) / 2, sd_post, n_post)
    )
    likes = rng.negative_binomial(1.5, 1.5 / (1.5 + mean_likes))
    mean_comments = 0.15 * mean_likes**0.75  # comments per like fall with reach (contract: 5 %, 3.6 %, 1 %)
    comments = rng.negative_binomial(0.6, 0.6 / (0.6 + mean_comments))
    hides = rng.random(n) < cal.hidden_like_authors
    hidden = hides[post_author] | (rng.random(n_post) < cal.hidden_like_posts)
    likes = np.where(hidden, 0, likes)

    # images: most posts one image, some several; some posts reuse an image of the same author
    n_img = np.where(rng.random(n_post) < cal.multi_image_posts, rng.integers(2, 5, n_post), 1)
    row_post = np.repeat(np.arange(n_post), n_img)
    n_rows = row_post.size
    image_key = image_key0 + np.arange(n_rows, dtype=np.int64)
    reuse = (rng.random(n_rows) < cal.shared_images) & (np.arange(n_rows) > 0)
    # a reused image is the image of the previous row when that row belongs to the same author
    prev_same_author = np.r_[False, post_author[row_post][1:] == post_author[row_post][:-1]]
    reuse &= prev_same_author & np.r_[False, row_post[1:] != row_post[:-1]]
    image_key = np.where(reuse, np.r_[image_key[:1], image_key[:-1]], image_key)
    new_image = ~reuse
    img_key = image_key[new_image]
    img_post = row_post[new_image]
    img_author = post_author[img_post]
    n_images = img_key.size

    # labels of each image, one block per TYPE: a labelled image always carries object
    # detections; it carries pattern, shoe and brand labels with a probability that depends on
    # the author's profile (a luxury author shows brands more often); within a block, labels are
    # drawn from the author's profile restricted to that TYPE
    labelled = rng.random(n_images) > cal.unlabelled_images
    li = np.flatnonzero(labelled)
    n_vocab_total = v + 2 + len(trend_codes)
    keys = []
    for t, (presence, extra) in enumerate(_TYPE_BLOCKS.values()):
        cols = np.flatnonzero(type_index == t)
        mass = p[:, cols].sum(axis=1)
        share = np.clip(presence * mass / type_mass[t], 0.0, 0.95)
        with_block = li[rng.random(li.size) < share[img_author[li]]]
        m = 1 + rng.poisson(extra, size=with_block.size)
        draw_img = np.repeat(with_block, m)
        draw_auth = img_author[draw_img]
        # an author whose profile puts no mass on the block (the Dirichlet draw underflowed to 0
        # for every label of a small block) never draws from it (share 0); a uniform row keeps
        # the stacked CDF increasing (NaN rows made searchsorted return indices of other authors)
        within = np.divide(
            p[:, cols], mass[:, None], out=np.full((n, cols.size), 1.0 / cols.size), where=mass[:, None] > 0
        )
        cum = np.cumsum(within, axis=1)
        cum[:, -1] = 1.0
        flat = (cum + np.arange(n)[:, None]).ravel()
        u = rng.random(draw_img.size) * (1 - 1e-12)
        idx = np.searchsorted(flat, draw_auth + u, side="right") - draw_auth * cols.size
        keys.append(draw_img * n_vocab_total + cols[np.minimum(idx, cols.size - 1)])
    person_face = [v, v + 1]  # codes of human / humanface
    for code, rate in zip(person_face, (cal.human, cal.humanface), strict=True):
        has = li[rng.random(li.size) < rate]
        keys.append(has * n_vocab_total + code)
    # trend labels with their weekly segment-specific probability
    weeks = _weeks(cal)
    start_monday = weeks[0]
    offset = (pd.Timestamp(cal.start) - start_monday).total_seconds()
    post_week = np.minimum(((t_post + offset) // (7 * 86400)).astype(np.int64), len(weeks) - 1)
    img_week = post_week[img_post]
    img_seg = seg[img_author]
    for j, code in enumerate(trend_codes):
        q = curves[j, img_seg[li], img_week[li]]
        has = li[rng.random(li.size) < q]
        keys.append(has * n_vocab_total + code)
    key = np.unique(np.concatenate(keys))
    lab_img = key // n_vocab_total
    lab_code = key % n_vocab_total
    # repeated detections: several boxes for one (image, label)
    boxes = 1 + rng.poisson(cal.repeated_rows / (1 - cal.repeated_rows), size=key.size)
    row_img = np.repeat(lab_img, boxes)
    row_code = np.repeat(lab_code, boxes)
    nl = row_img.size
    xy = rng.random((nl, 2)) * 0.8
    wh = rng.random((nl, 2)) * (1 - xy) * 0.9 + 0.02
    pos = np.round(np.column_stack([xy, wh]), 4)

    # which trends each post shows (for the population truth): an image counts for every post
    # that carries it
    trend_flags = np.zeros((n_post, len(trend_codes)), dtype=bool)
    is_trend = np.isin(lab_code, trend_codes)
    hits = pd.DataFrame({"k": img_key[lab_img[is_trend]], "j": np.searchsorted(trend_codes, lab_code[is_trend])})
    carried = pd.DataFrame({"k": image_key, "post": row_post}).merge(hits, on="k")
    trend_flags[carried["post"].to_numpy(), carried["j"].to_numpy()] = True

    posts = pa.table(
        {
            "post_key": post_key[row_post],
            "AUTHORID": authors["AUTHORID"].to_numpy()[post_author[row_post]],
            "COMMENT_COUNT": comments[row_post],
            "caption_idx": rng.integers(0, _N_CAPTIONS, size=n_post)[row_post],
            "caption_null": (rng.random(n_post) < 0.08)[row_post],
            "NB_LIKES": likes[row_post],
            "t": t_post[row_post].astype(np.int64),
            "image_key": image_key,
        }
    )
    labels = pa.table(
        {
            "image_key": img_key[row_img],
            "code": row_code.astype(np.int32),
            "x": pos[:, 0],
            "y": pos[:, 1],
            "w": pos[:, 2],
            "h": pos[:, 3],
        }
    )
    return _Chunk(posts, labels, trend_flags, post_week, seg[post_author])


# --------------------------------------------------------------------------------------------
# Writing the warehouse
# --------------------------------------------------------------------------------------------


def _author_tables(
    rng: np.random.Generator, authors: pd.DataFrame, in_mart: np.ndarray, cal: Calibration
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(authors)
    f = authors["FOLLOWERS"].to_numpy(dtype=float)
    bios = _text_pool(rng, _BIO_PARTS, 300)
    # MART_AUTHORS: current snapshot, integer-valued
    mart = authors.loc[in_mart, ["AUTHORID"]].copy()
    m = len(mart)
    fm = f[in_mart].copy()
    follows = np.round(rng.lognormal(6.0, 1.3, size=m))
    capped = follows > 7_500
    follows[capped] = 7_500 + np.round(rng.exponential(60, size=int(capped.sum())))
    follows = np.minimum(follows, 7_900)
    bio_idx = rng.integers(0, len(bios), size=m)
    bio = np.array(bios, dtype=object)[bio_idx]
    bio[rng.random(m) < 0.12] = None
    mart["BIO"] = bio
    mart["NB_FOLLOWERS"] = np.where(rng.random(m) < cal.followers_null_mart, np.nan, fm)
    mart["NB_FOLLOWS"] = np.where(rng.random(m) < cal.follows_null, np.nan, follows)
    # one AUTHORID repeated: copies mostly with NULL counts and conflicting values
    if m > 0 and cal.duplicate_copies > 1:
        j = int(rng.integers(0, m))
        base = mart.iloc[[j] * (cal.duplicate_copies - 1)].copy()
        k = len(base)
        conflict = (
            np.round(mart["NB_FOLLOWERS"].iloc[j] * rng.uniform(0.5, 1.5, size=k))
            if np.isfinite(mart["NB_FOLLOWERS"].iloc[j])
            else np.round(rng.uniform(100, 5000, size=k))
        )
        base["NB_FOLLOWERS"] = np.where(rng.random(k) < 0.7, np.nan, conflict)
        base["NB_FOLLOWS"] = np.where(rng.random(k) < 0.7, np.nan, np.round(rng.uniform(10, 3000, size=k)))
        base["BIO"] = pd.Series(["duplicate profile snapshot"] * k, index=base.index).where(rng.random(k) >= 0.5)
        mart = pd.concat([mart, base], ignore_index=True)
        order = rng.permutation(len(mart))
        mart = mart.iloc[order].reset_index(drop=True)
    # MART_AUTHORS_SEGMENTATIONS: averaged snapshots, some fractional, disagreeing
    drift = np.exp(rng.normal(0.0, 0.06, size=n))
    frac = rng.random(n) < cal.fractional_segmentations
    fseg = np.where(frac & (f > 0), np.round(f * drift, 3), np.round(f * np.where(rng.random(n) < 0.5, drift, 1.0)))
    # make sure fractional ones really are fractional
    fseg = np.where(frac & (f > 0) & (fseg == np.round(fseg)), fseg + 0.5, fseg)
    fseg = np.where(rng.random(n) < cal.followers_null_segmentations, np.nan, fseg)
    seg = pd.DataFrame(
        {
            "AUTHORID": authors["AUTHORID"].to_numpy(),
            "GEO_ZONE": "us",
            "NB_FOLLOWERS": fseg,
            "FASHION_INTEREST_SEGMENT": authors["FASHION_INTEREST_SEGMENT"].to_numpy(),
        }
    )
    seg = seg.iloc[rng.permutation(n)].reset_index(drop=True)
    return mart, seg


_DDL = {
    "MART_AUTHORS": "AUTHORID BIGINT NOT NULL, BIO VARCHAR, NB_FOLLOWERS BIGINT, NB_FOLLOWS BIGINT",
    "MART_AUTHORS_SEGMENTATIONS": (
        "AUTHORID BIGINT NOT NULL, GEO_ZONE VARCHAR, NB_FOLLOWERS DOUBLE, FASHION_INTEREST_SEGMENT BOOLEAN"
    ),
    "MART_IMAGES_OF_POSTS": (
        "POST_ID VARCHAR NOT NULL, AUTHORID BIGINT NOT NULL, COMMENT_COUNT BIGINT, POST_CAPTION VARCHAR, "
        "NB_LIKES BIGINT, POST_PUBLICATION_DATE TIMESTAMP NOT NULL, IMAGE_ID VARCHAR NOT NULL"
    ),
    "MART_IMAGES_LABELS": (
        "IMAGE_ID VARCHAR NOT NULL, TYPE VARCHAR NOT NULL, POSITION_IN_IMAGE DOUBLE[], LABEL_NAME VARCHAR NOT NULL"
    ),
}


def _setup(
    path: str | os.PathLike[str],
    overwrite: bool,
    taxonomy: Taxonomy | None,
    calibration: Calibration | None,
    progress: Callable[[str, float], None] | None,
) -> tuple[Path, Taxonomy, Calibration, Callable[[str, float], None]]:
    """The arguments shared by the simulators, checked and with their defaults filled in."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    return path, taxonomy or Taxonomy.from_toml(), calibration or Calibration(), progress or (lambda msg, frac: None)


def simulate_warehouse(
    path: str | os.PathLike[str],
    size: Size | int = "demo",
    seed: int = 0,
    *,
    taxonomy: Taxonomy | None = None,
    calibration: Calibration | None = None,
    chunk_authors: int = 2_000,
    overwrite: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> SimulationResult:
    """Write a simulated TECHTEST warehouse and its truth into a DuckDB file.

    Parameters
    ----------
    path : str or os.PathLike
        Target ``.duckdb`` file. Written to a temporary file first and moved into place, so a
        failed build never leaves a half-written warehouse.
    size : {"demo", "techtest"} or int, default "demo"
        ``demo``: 3,000 authors (about 230k post rows, 1.6M label rows; seconds).
        ``techtest``: the real sample's 32,841 authors (about 2.5M post rows, 18M label rows;
        minutes). An integer gives that many authors.
    seed : int, default 0
        Random seed; the same seed gives the same tables (see :func:`warehouse_checksum`).
    taxonomy : Taxonomy, optional
        Source of the label vocabulary (its 245 pairs); defaults to the shipped taxonomy.
    calibration : Calibration, optional
        Figures to reproduce; defaults to those of CONTRACT.md.
    chunk_authors : int, default 2000
        Authors simulated per chunk; bounds memory (about 1 GB at the default).
    overwrite : bool, default False
        Replace an existing file.
    progress : callable, optional
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    SimulationResult

    Raises
    ------
    FileExistsError
        If `path` exists and `overwrite` is false.
    ValueError
        If `size` is unknown or smaller than 50 authors.

    Notes
    -----
    The tables are those of the data contract, in schema ``TECHTEST``. The truth is in schema
    ``TRUTH``: ``AUTHORS`` (true segment, covariates, membership and panel probabilities),
    ``SEGMENTS`` (intercepts, concentrations, panel effects), ``GATING`` (coefficients),
    ``PROFILES`` (label profile of each segment), ``TRENDS`` and ``TREND_SERIES`` (weekly
    population and per-segment truth) and ``PARAMETERS`` (everything else, as JSON).
    """
    n_authors = SIZES.get(size, 0) if isinstance(size, str) else int(size)
    if isinstance(size, str) and size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or an integer")
    if n_authors < 50:
        raise ValueError(f"size must be at least 50 authors, got {n_authors}")
    path, taxonomy, cal, say = _setup(path, overwrite, taxonomy, calibration, progress)

    root = np.random.SeedSequence(seed)
    rng_pop, rng_tables, rng_text, rng_chunks = (np.random.default_rng(s) for s in root.spawn(4))
    authors, params = _population(rng_pop, n_authors, cal)
    has_posts, in_mart = _membership_flags(rng_pop, n_authors, cal)
    authors["HAS_POSTS"] = has_posts
    authors["IN_MART_AUTHORS"] = in_mart
    vocab, theta = _profiles(taxonomy)
    trend_pairs = pd.DataFrame([(t.type, t.label_name) for t in TRENDS], columns=["TYPE", "LABEL_NAME"])
    codebook = pd.concat(
        [
            vocab[["TYPE", "LABEL_NAME"]],
            pd.DataFrame({"TYPE": ["object_detection"] * 2, "LABEL_NAME": ["human", "humanface"]}),
            trend_pairs,
        ],
        ignore_index=True,
    )
    codebook["code"] = np.arange(len(codebook), dtype=np.int32)
    trend_codes = np.arange(len(vocab) + 2, len(codebook))
    curves = _trend_curves(cal)
    weeks = _weeks(cal)
    type_index = vocab["TYPE"].map({t: i for i, t in enumerate(_TYPE_BLOCKS)}).to_numpy()
    # population mass of each TYPE block, the reference for an author's block presence
    seg_share = np.bincount(authors["SEGMENT"], minlength=len(SEGMENT_NAMES)) / len(authors)
    theta_pop = seg_share @ theta
    type_mass = np.array([theta_pop[type_index == t].sum() for t in range(len(_TYPE_BLOCKS))])

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".duckdb", dir=path.parent)
    os.close(fd)
    os.unlink(tmp_name)
    tmp = Path(tmp_name)
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET threads TO 2")
        # the final ORDER BY over ~18M label rows spills to disk instead of holding GBs in memory
        con.execute("SET memory_limit = '1GB'")
        con.execute(f"SET temp_directory = '{tmp.parent / (tmp.name + '.spill')}'")
        con.execute("CREATE SCHEMA TECHTEST")
        con.execute("CREATE SCHEMA TRUTH")
        con.execute(
            "CREATE TEMP TABLE stage_posts (post_key BIGINT, AUTHORID BIGINT, COMMENT_COUNT BIGINT, "
            "caption_idx BIGINT, caption_null BOOLEAN, NB_LIKES BIGINT, t BIGINT, image_key BIGINT)"
        )
        con.execute(
            "CREATE TEMP TABLE stage_labels (image_key BIGINT, code INTEGER, x DOUBLE, y DOUBLE, w DOUBLE, h DOUBLE)"
        )
        posters = authors[has_posts].reset_index(drop=True)
        n_chunks = max(1, int(np.ceil(len(posters) / chunk_authors)))
        chunk_seeds = rng_chunks.integers(0, 2**63 - 1, size=n_chunks)
        post_key0 = image_key0 = 0
        n_weeks = len(weeks)
        n_tr = len(TRENDS)
        trend_posts = np.zeros((n_tr, len(SEGMENT_NAMES), n_weeks))
        all_posts = np.zeros((len(SEGMENT_NAMES), n_weeks))
        for c in range(n_chunks):
            sl = slice(c * chunk_authors, (c + 1) * chunk_authors)
            chunk = _simulate_chunk(
                np.random.default_rng(chunk_seeds[c]),
                posters.iloc[sl],
                theta,
                type_index,
                type_mass,
                trend_codes,
                curves,
                cal,
                post_key0,
                image_key0,
            )
            post_key0 += 10_000_000
            image_key0 += 20_000_000
            con.register("chunk_posts", chunk.posts)
            con.register("chunk_labels", chunk.labels)
            con.execute("INSERT INTO stage_posts SELECT * FROM chunk_posts")
            con.execute("INSERT INTO stage_labels SELECT * FROM chunk_labels")
            con.unregister("chunk_posts")
            con.unregister("chunk_labels")
            np.add.at(all_posts, (chunk.post_segment, chunk.post_week), 1)
            for j in range(n_tr):
                sel = chunk.post_trends[:, j]
                np.add.at(trend_posts[j], (chunk.post_segment[sel], chunk.post_week[sel]), 1)
            say(f"simulated posts of authors {sl.start:,}-{min(sl.stop, len(posters)):,}", (c + 1) / (n_chunks + 2))

        mart, seg = _author_tables(rng_tables, authors, in_mart, cal)
        captions = _text_pool(rng_text, _CAPTION_PARTS, _N_CAPTIONS)
        con.register("captions_df", pd.DataFrame({"idx": np.arange(len(captions)), "caption": captions}))
        con.register("codebook_df", codebook)
        con.register("mart_df", mart)
        con.register("seg_df", seg)
        for table, ddl in _DDL.items():
            con.execute(f"CREATE TABLE TECHTEST.{table} ({ddl})")
        con.execute(
            "INSERT INTO TECHTEST.MART_AUTHORS SELECT AUTHORID, BIO, NB_FOLLOWERS::BIGINT, "
            "NB_FOLLOWS::BIGINT FROM mart_df"
        )
        con.execute("INSERT INTO TECHTEST.MART_AUTHORS_SEGMENTATIONS SELECT * FROM seg_df")
        salt = f"bayesseg-sim:{seed}:"
        con.execute(
            f"""
            INSERT INTO TECHTEST.MART_IMAGES_OF_POSTS
            SELECT md5('{salt}post:' || p.post_key), p.AUTHORID, p.COMMENT_COUNT,
                   CASE WHEN p.caption_null THEN NULL ELSE c.caption END, p.NB_LIKES,
                   TIMESTAMP '{cal.start}' + to_seconds(p.t), md5('{salt}image:' || p.image_key)
            FROM stage_posts p JOIN captions_df c ON c.idx = p.caption_idx
            ORDER BY p.post_key, p.image_key
            """
        )
        say("wrote MART_IMAGES_OF_POSTS", (n_chunks + 1) / (n_chunks + 2))
        con.execute(
            f"""
            INSERT INTO TECHTEST.MART_IMAGES_LABELS
            SELECT md5('{salt}image:' || l.image_key), cb.TYPE, [l.x, l.y, l.w, l.h], cb.LABEL_NAME
            FROM stage_labels l JOIN codebook_df cb ON cb.code = l.code
            ORDER BY l.image_key, l.code, l.x, l.y
            """
        )
        # ---- truth
        n_posts_author_df = con.execute(
            "SELECT AUTHORID, COUNT(DISTINCT post_key) AS N_POSTS FROM stage_posts GROUP BY 1"
        ).df()
        truth_authors = authors.merge(n_posts_author_df, on="AUTHORID", how="left")
        truth_authors["N_POSTS"] = truth_authors["N_POSTS"].fillna(0).astype(np.int64)
        truth = truth_tables(theta, vocab, cal, params, curves, weeks, trend_posts, all_posts, seed, n_authors)
        truth["AUTHORS"] = truth_authors
        for name, frame in truth.items():
            con.register("truth_df", frame)
            con.execute(f"CREATE TABLE TRUTH.{name} AS SELECT * FROM truth_df")
            con.unregister("truth_df")
        con.execute("DROP TABLE stage_posts")
        con.execute("DROP TABLE stage_labels")
        counts = {
            f"{schema}.{t}": int(con.execute(f"SELECT COUNT(*) FROM {schema}.{t}").fetchone()[0])  # type: ignore[index]
            for schema, t in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('TECHTEST', 'TRUTH') ORDER BY 1, 2"
            ).fetchall()
        }
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    if path.exists():
        path.unlink()
    tmp.replace(path)
    say("done", 1.0)
    size_name = size if isinstance(size, str) else "custom"
    return SimulationResult(path, size_name, seed, counts, warehouse_checksum(path))


def truth_tables(
    theta: np.ndarray,
    vocab: pd.DataFrame,
    cal: Calibration,
    params: dict[str, Any],
    curves: np.ndarray,
    weeks: pd.DatetimeIndex,
    trend_posts: np.ndarray,
    all_posts: np.ndarray,
    seed: int,
    n_authors: int,
) -> dict[str, pd.DataFrame]:
    """Assemble the truth tables (everything but ``AUTHORS``) written into schema ``TRUTH``.

    Parameters
    ----------
    theta : numpy.ndarray, shape (segment, label)
        Segment label profiles.
    vocab : pandas.DataFrame
        ``TYPE`` and ``LABEL_NAME`` of the profile's labels.
    cal : Calibration
        Calibration in force.
    params : dict
        Population parameters (covariate means and sds, panel intercept and slope).
    curves : numpy.ndarray, shape (trend, segment, week)
        Per-image trend probabilities.
    weeks : pandas.DatetimeIndex
        Monday of each week.
    trend_posts, all_posts : numpy.ndarray
        Posts showing each trend, shape (trend, segment, week), and all posts, (segment, week).
    seed, n_authors : int
        Seed and size of the simulation.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``SEGMENTS``, ``GATING``, ``PROFILES``, ``TRENDS``, ``TREND_SERIES``, ``PARAMETERS``.
    """
    k_all = range(len(SEGMENT_NAMES))
    segments = pd.DataFrame(
        {
            "SEGMENT": list(k_all),
            "SEGMENT_NAME": list(SEGMENT_NAMES),
            "INTERCEPT": [cal.segment_intercepts[s] for s in SEGMENT_NAMES],
            "CONCENTRATION": [cal.concentrations[s] for s in SEGMENT_NAMES],
            "PANEL_EFFECT": [cal.panel_segment_effects[s] for s in SEGMENT_NAMES],
        }
    )
    gating = pd.DataFrame(
        [
            (k, s, cov, cal.segment_slopes[s][p])
            for k, s in enumerate(SEGMENT_NAMES)
            for p, cov in enumerate(COVARIATES)
        ],
        columns=["SEGMENT", "SEGMENT_NAME", "COVARIATE", "COEFFICIENT"],
    )
    profiles = pd.concat(
        [
            vocab[["TYPE", "LABEL_NAME"]].assign(SEGMENT=k, SEGMENT_NAME=s, PROBABILITY=theta[k])
            for k, s in enumerate(SEGMENT_NAMES)
        ],
        ignore_index=True,
    )[["SEGMENT", "SEGMENT_NAME", "TYPE", "LABEL_NAME", "PROBABILITY"]]
    trends = pd.DataFrame(
        [(t.name, t.type, t.label_name, t.shape) for t in TRENDS], columns=["TREND", "TYPE", "LABEL_NAME", "SHAPE"]
    )
    rows = []
    week_dates = weeks.date
    for j, t in enumerate(TRENDS):
        tot = all_posts.sum(axis=0)
        hit = trend_posts[j].sum(axis=0)
        share = np.divide(hit, tot, out=np.full(len(weeks), np.nan), where=tot > 0)
        rows.append(
            pd.DataFrame(
                {
                    "TREND": t.name,
                    "WEEK": week_dates,
                    "POPULATION": "all",
                    "SHARE": share,
                    "N_POSTS": tot.astype(np.int64),
                    "IMAGE_PROBABILITY": np.nan,
                }
            )
        )
        for k, s in enumerate(SEGMENT_NAMES):
            tk = all_posts[k]
            sk = np.divide(trend_posts[j, k], tk, out=np.full(len(weeks), np.nan), where=tk > 0)
            rows.append(
                pd.DataFrame(
                    {
                        "TREND": t.name,
                        "WEEK": week_dates,
                        "POPULATION": s,
                        "SHARE": sk,
                        "N_POSTS": tk.astype(np.int64),
                        "IMAGE_PROBABILITY": curves[j, k],
                    }
                )
            )
    series = pd.concat(rows, ignore_index=True)
    series["WEEK"] = pd.to_datetime(series["WEEK"])
    meta = {
        "seed": seed,
        "n_authors": n_authors,
        "calibration": asdict(cal),
        **params,
        "segments": list(SEGMENT_NAMES),
        "covariates": list(COVARIATES),
    }
    parameters = pd.DataFrame({"KEY": list(meta), "VALUE": [json.dumps(v, sort_keys=True) for v in meta.values()]})
    return {
        "SEGMENTS": segments,
        "GATING": gating,
        "PROFILES": profiles,
        "TRENDS": trends,
        "TREND_SERIES": series,
        "PARAMETERS": parameters,
    }


def warehouse_checksum(path: str | os.PathLike[str], schemas: tuple[str, ...] = ("TECHTEST", "TRUTH")) -> str:
    """Hash the contents of every table of a warehouse file, independent of storage layout.

    Parameters
    ----------
    path : str or os.PathLike
        A DuckDB file.
    schemas : tuple of str, default ("TECHTEST", "TRUTH")
        Schemas whose tables are hashed.

    Returns
    -------
    str
        SHA-256 hex digest over, for each table in name order, its name, its column names and
        types, and an order-independent hash of its rows.
    """
    h = hashlib.sha256()
    con = duckdb.connect(str(path), read_only=True)
    try:
        catalog = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
            f"({', '.join('?' for _ in schemas)}) ORDER BY 1, 2",
            list(schemas),
        ).fetchall()
        for schema, table in tables:
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            n, digest = con.execute(
                f'SELECT COUNT(*), COALESCE(SUM(hash(t)::HUGEINT), 0)::VARCHAR FROM "{catalog}"."{schema}"."{table}" t'
            ).fetchone()  # type: ignore[misc]
            h.update(f"{schema}.{table}|{cols}|{n}|{digest}\n".encode())
    finally:
        con.close()
    return h.hexdigest()


def simulate_counts(
    n_authors: int,
    n_categories: int,
    n_segments: int,
    *,
    n_covariates: int = 2,
    separation: float = 1.5,
    concentration: float = 60.0,
    mean_total: float = 80.0,
    seed: int = 0,
) -> tuple[xr.DataArray, xr.DataArray, dict[str, Any]]:
    """Simulate label counts from the segmentation model itself, with its truth.

    Used by model tests and benchmarks: a count matrix drawn from a Dirichlet-multinomial
    mixture with multinomial-logit gating, independent of the warehouse simulator.

    Parameters
    ----------
    n_authors, n_categories, n_segments : int
        Sizes N, C and K.
    n_covariates : int, default 2
        Number of standard-normal covariates P.
    separation : float, default 1.5
        Standard deviation of segment log-profile departures from the population (larger is
        easier to separate).
    concentration : float, default 60
        Dirichlet-multinomial concentration κ of every segment.
    mean_total : float, default 80
        Mean count total per author (negative binomial, at least 5).
    seed : int, default 0
        Random seed.

    Returns
    -------
    counts : xarray.DataArray, dims (author, category)
    covariates : xarray.DataArray, dims (author, covariate)
    truth : dict
        ``segment`` (N,), ``profile`` (K, C), ``intercept`` (K,), ``slope`` (P, K) with
        segment 0 as reference, ``concentration``.
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, n_categories)
    logits = base + rng.normal(0, separation, (n_segments, n_categories))
    profile = special.softmax(logits, axis=1)
    x = rng.normal(0, 1, (n_authors, n_covariates))
    intercept = np.r_[0.0, rng.normal(0, 0.5, n_segments - 1)]
    slope = np.c_[np.zeros(n_covariates), rng.normal(0, 1.0, (n_covariates, n_segments - 1))]
    prob = special.softmax(intercept + x @ slope, axis=1)
    segment = (prob.cumsum(axis=1) < rng.random(n_authors)[:, None]).sum(axis=1)
    totals = np.maximum(rng.negative_binomial(2, 2 / (2 + mean_total), n_authors), 5)
    p = rng.dirichlet(np.ones(n_categories), size=n_authors)
    for i in range(n_authors):
        p[i] = rng.dirichlet(concentration * profile[segment[i]])
    y = np.array([rng.multinomial(totals[i], p[i] / p[i].sum()) for i in range(n_authors)])
    authors = np.arange(1, n_authors + 1)
    counts = xr.DataArray(
        y, dims=("author", "category"), coords={"author": authors, "category": [f"c{j}" for j in range(n_categories)]}
    )
    covariates = xr.DataArray(
        x, dims=("author", "covariate"), coords={"author": authors, "covariate": [f"x{j}" for j in range(n_covariates)]}
    )
    truth = {
        "segment": segment,
        "profile": profile,
        "intercept": intercept,
        "slope": slope,
        "concentration": concentration,
    }
    return counts, covariates, truth


def simulate_aggregates(
    path: str | os.PathLike[str],
    n_authors: int,
    seed: int = 0,
    *,
    schema: str = "AGGREGATES",
    taxonomy: Taxonomy | None = None,
    calibration: Calibration | None = None,
    chunk_authors: int = 250_000,
    overwrite: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, int]:
    """Write the warehouse's author-level aggregates for millions of authors, with their truth.

    Scoring at scale reads two aggregates, the author × category counts and the author
    covariates (:data:`bayesseg.scale.AGGREGATE_TABLES`); a real warehouse computes them with
    the shipped SQL. Simulating every post and label of millions of authors would take hours and
    tens of GB, so this writes the aggregates directly, chunk by chunk (memory bounded by
    `chunk_authors`): the same population as :func:`simulate_warehouse` (followers, engagement,
    gating into the six segments, panel membership, authors without posts), category counts
    drawn from the Dirichlet-multinomial of the author's segment (the label profiles collapsed
    to categories, the segment's concentration), and a log-normal number of labels per author
    (log-mean 4.74, log-sd 1.19: the demo warehouse's labels per author).

    Parameters
    ----------
    path : str or os.PathLike
        DuckDB file (created, or the schema replaced with `overwrite`).
    n_authors : int
        Authors (at least 50).
    seed : int, default 0
        Random seed.
    schema : str, default "AGGREGATES"
        Schema of ``AUTHOR_CATEGORY_COUNTS`` (AUTHORID, CATEGORY, N) and ``AUTHOR_COVARIATES``
        (the columns of ``author_covariates.sql``); the truth goes to ``TRUTH.AUTHORS``
        (AUTHORID, SEGMENT, SEGMENT_NAME).
    taxonomy : Taxonomy, optional
        Categories (default: the shipped taxonomy).
    calibration : Calibration, optional
        Figures to reproduce (default: CONTRACT.md's).
    chunk_authors : int, default 250000
        Authors generated and inserted at a time.
    overwrite : bool, default False
        Replace the tables when the file exists.
    progress : callable, optional
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    dict of str to int
        Rows written per table.

    Raises
    ------
    FileExistsError
        If `path` exists and `overwrite` is false.
    ValueError
        If `n_authors` < 50.
    """
    if n_authors < 50:
        raise ValueError(f"n_authors must be at least 50, got {n_authors}")
    path, taxonomy, cal, say = _setup(path, overwrite, taxonomy, calibration, progress)
    categories = taxonomy.category_names
    vocab, theta_labels = _profiles(taxonomy)
    cat_index = pd.Categorical(vocab["CATEGORY"], categories=categories).codes
    theta = np.zeros((len(SEGMENT_NAMES), len(categories)))
    for j, c in enumerate(cat_index):
        if c >= 0:
            theta[:, c] += theta_labels[:, j]
    theta /= theta.sum(axis=1, keepdims=True)
    kappa = np.array([cal.concentrations[s] for s in SEGMENT_NAMES])
    root = np.random.SeedSequence(seed)
    rng_pop, rng_chunks = (np.random.default_rng(s) for s in root.spawn(2))
    authors, _ = _population(rng_pop, n_authors, cal)
    has_posts, in_mart = _membership_flags(rng_pop, n_authors, cal)
    order = np.argsort(authors["AUTHORID"].to_numpy(), kind="stable")
    authors = authors.iloc[order].reset_index(drop=True)
    has_posts, in_mart = has_posts[order], in_mart[order]
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    written = {"counts": 0, "covariates": 0}
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute("CREATE SCHEMA IF NOT EXISTS TRUTH")
        con.execute(
            f"CREATE OR REPLACE TABLE {schema}.AUTHOR_CATEGORY_COUNTS (AUTHORID BIGINT, CATEGORY VARCHAR, N BIGINT)"
        )
        con.execute("DROP TABLE IF EXISTS TRUTH.AUTHORS")
        con.execute(f"DROP TABLE IF EXISTS {schema}.AUTHOR_COVARIATES")
        cat_names = np.array(categories, dtype=object)
        for start in range(0, n_authors, chunk_authors):
            rng = np.random.default_rng(rng_chunks.integers(0, 2**63 - 1))
            a = authors.iloc[start : start + chunk_authors]
            posts = has_posts[start : start + chunk_authors]
            n = len(a)
            seg = a["SEGMENT"].to_numpy()
            g = rng.gamma(shape=kappa[seg, None] * theta[seg] + 1e-12)
            p = g / g.sum(axis=1, keepdims=True)
            n_labels = np.where(posts, np.maximum(np.rint(rng.lognormal(4.74, 1.19, n)), 1), 0).astype(np.int64)
            y = rng.multinomial(n_labels, p)
            row, col = np.nonzero(y)
            counts = pd.DataFrame(
                {"AUTHORID": a["AUTHORID"].to_numpy()[row], "CATEGORY": cat_names[col], "N": y[row, col]}
            )
            n_posts = np.where(posts, np.maximum(rng.poisson(np.maximum(n_labels / 2.9, 1)), 1), 0)
            hidden = posts & (rng.random(n) < cal.hidden_like_authors)
            followers = a["FOLLOWERS"].to_numpy(dtype=float)
            eng = a["ENGAGEMENT_RATE"].to_numpy()
            likes = np.where(posts & ~hidden, np.maximum(followers * eng * 0.95, 0.05), np.nan)
            comments = np.where(posts, 0.15 * np.nan_to_num(likes, nan=1.0) ** 0.75, np.nan)
            covariates = pd.DataFrame(
                {
                    "AUTHORID": a["AUTHORID"].to_numpy(),
                    "FOLLOWERS": followers,
                    "FOLLOWERS_SOURCE": "MART_AUTHORS_SEGMENTATIONS",
                    "FOLLOWS": np.nan,
                    "N_POSTS": n_posts,
                    "N_IMAGES": n_posts,
                    "N_ZERO_LIKE_POSTS": np.where(hidden, n_posts, 0),
                    "LIKES_HIDDEN": hidden,
                    "LIKES_PER_POST": likes,
                    "COMMENTS_PER_POST": comments,
                    "ENGAGEMENT_RATE": np.where(followers > 0, (likes + comments) / np.maximum(followers, 1), np.nan),
                    "FASHION_INTEREST_SEGMENT": a["FASHION_INTEREST_SEGMENT"].to_numpy(),
                    "CURRENT_TIER": a["TIER"].to_numpy(),
                    "TIER_FOLLOWERS": followers,
                    "GEO_ZONE": "us",
                    "MART_AUTHORS_ROWS": in_mart[start : start + chunk_authors].astype(np.int64),
                    "SEGMENTATIONS_ROWS": 1,
                    "FIRST_POST": pd.Timestamp(cal.start),
                    "LAST_POST": pd.Timestamp(cal.start),
                }
            )
            truth = a[["AUTHORID", "SEGMENT", "SEGMENT_NAME"]]
            con.register("chunk_counts", counts)
            con.register("chunk_cov", covariates)
            con.register("chunk_truth", truth)
            con.execute(f"INSERT INTO {schema}.AUTHOR_CATEGORY_COUNTS SELECT * FROM chunk_counts")
            if start == 0:
                con.execute(f"CREATE TABLE {schema}.AUTHOR_COVARIATES AS SELECT * FROM chunk_cov")
                con.execute("CREATE TABLE TRUTH.AUTHORS AS SELECT * FROM chunk_truth")
            else:
                con.execute(f"INSERT INTO {schema}.AUTHOR_COVARIATES SELECT * FROM chunk_cov")
                con.execute("INSERT INTO TRUTH.AUTHORS SELECT * FROM chunk_truth")
            for name in ("chunk_counts", "chunk_cov", "chunk_truth"):
                con.unregister(name)
            written["counts"] += len(counts)
            written["covariates"] += n
            say(f"simulated aggregates of {start + n:,} authors", (start + n) / n_authors)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return {
        f"{schema}.AUTHOR_CATEGORY_COUNTS": written["counts"],
        f"{schema}.AUTHOR_COVARIATES": written["covariates"],
        "TRUTH.AUTHORS": n_authors,
    }
