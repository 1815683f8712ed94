"""The generative model of the simulator (the truth): authors, their segments and profiles, posts, images and labels.

See :mod:`bayesseg.simulate` for the model in words. Functions here draw from seeded generators and
return arrays and Arrow tables; writing them into a warehouse is :mod:`bayesseg.simulate.warehouse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import optimize, special

from bayesseg.config import TIER_NAMES, TIER_THRESHOLDS
from bayesseg.simulate.calibration import (
    BOOSTS,
    COVARIATES,
    DEFAULT_FREQUENCY,
    KNOWN_FREQUENCIES,
    NON_FASHION_FREQUENCY,
    SEGMENT_NAMES,
    TRENDS,
    Calibration,
)
from bayesseg.simulate.items import ItemPlan, item_positions, item_trend_flags
from bayesseg.taxonomy import Taxonomy

__all__ = [
    "BIO_PARTS",
    "CAPTION_PARTS",
    "N_CAPTIONS",
    "TYPE_BLOCKS",
    "Chunk",
    "author_curves",
    "label_profiles",
    "membership_flags",
    "panel_parameters",
    "population",
    "simulate_chunk",
    "text_pool",
    "trend_curves",
    "week_starts",
]


def label_profiles(taxonomy: Taxonomy) -> tuple[pd.DataFrame, np.ndarray]:
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
            KNOWN_FREQUENCIES.get(
                (r.TYPE, r.LABEL_NAME),
                NON_FASHION_FREQUENCY if g == "non_fashion_object" else DEFAULT_FREQUENCY[r.TYPE],
            )
            for r, g in zip(vocab.itertuples(), group, strict=True)
        ],
        dtype=float,
    )
    theta = np.empty((len(SEGMENT_NAMES), len(vocab)))
    for k, name in enumerate(SEGMENT_NAMES):
        boost = np.array([BOOSTS[name].get(g, 1.0) for g in group])
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
    lo, hi = TIER_THRESHOLDS
    return np.where(followers <= lo, 0, np.where(followers <= hi, 1, 2))


def panel_parameters(cal: Calibration, log_f: np.ndarray, tier: np.ndarray, seg_effect: np.ndarray) -> np.ndarray:
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


def population(rng: np.random.Generator, n: int, cal: Calibration) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Draw the author population: followers, engagement, true segment (gated), panel membership.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Authors.
    cal : Calibration
        Figures to reproduce.

    Returns
    -------
    authors : pandas.DataFrame
        One row per author: ``AUTHORID``, ``SEGMENT``, ``SEGMENT_NAME``, ``FOLLOWERS``,
        ``LOG1P_FOLLOWERS``, ``ENGAGEMENT_RATE``, the standardised covariates, ``TIER``,
        ``PANEL_PROBABILITY``, ``FASHION_INTEREST_SEGMENT`` and ``P_<SEGMENT>`` probabilities.
    params : dict
        Covariate means and sds and the panel-selection coefficients.
    """
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
    a, b, c = panel_parameters(cal, log_f, tier, seg_effect)
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
            "TIER": np.array(TIER_NAMES)[tier],
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


def membership_flags(rng: np.random.Generator, n: int, cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
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

BIO_PARTS = (
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
CAPTION_PARTS = (
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


N_CAPTIONS = 400


def text_pool(rng: np.random.Generator, parts: tuple[str, ...], size: int) -> list[str]:
    """`size` texts, each one to three of `parts` joined (bios, captions)."""
    pool = []
    for _ in range(size):
        k = int(rng.integers(1, 4))
        picks = rng.choice(len(parts), size=k, replace=False)
        pool.append(" ".join(parts[i] for i in picks).strip())
    return pool


# --------------------------------------------------------------------------------------------
# Posts, images and labels, one chunk of authors at a time
# --------------------------------------------------------------------------------------------


def week_starts(cal: Calibration) -> pd.DatetimeIndex:
    """The Monday of every week of the calibration's window."""
    start = pd.Timestamp(cal.start)
    first_monday = start - pd.Timedelta(days=start.weekday())
    return pd.date_range(first_monday, pd.Timestamp(cal.end), freq="7D")


def trend_curves(cal: Calibration, rising_shape: str = "exponential") -> np.ndarray:
    """Per-image trend probability, shape (trend, segment, week).

    ``rising`` trends grow as ``exp(a (t - 1/2))`` over the window's fraction ``t``, or, with
    `rising_shape` ``"logistic"``, as ``exp(a (logistic(20 (t - 1/2)) - 1/2))``: the same range,
    S-shaped in the log, steepest mid-window (an exponential rise is the same curve at every
    shift up to a factor, so no lead can be read from it).
    """
    weeks = week_starts(cal)
    t = np.asarray((weeks - weeks[0]).days, dtype=float) / max((weeks[-1] - weeks[0]).days, 1)
    doy = weeks.day_of_year.to_numpy()
    out = np.empty((len(TRENDS), len(SEGMENT_NAMES), len(weeks)))
    for j, tr in enumerate(TRENDS):
        for k, s in enumerate(SEGMENT_NAMES):
            a = tr.strength[s]
            if tr.shape == "seasonal":
                shape = 1 + a * np.cos(2 * np.pi * (doy - 196) / 365.25)
            elif tr.shape == "rising" and rising_shape == "logistic":
                shape = np.exp(a * (special.expit(20.0 * (t - 0.5)) - 0.5))
            elif tr.shape == "rising":
                shape = np.exp(a * (t - 0.5))
            else:  # holiday: peak in December
                shape = 1 + a * np.exp(-0.5 * ((np.minimum(np.abs(doy - 350), 365 - np.abs(doy - 350))) / 12) ** 2)
            out[j, k] = np.clip(tr.base[s] * shape, 0.0, 0.5)
    return out


def author_curves(curves: np.ndarray, segment: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Per-image trend probabilities of each author, shape (trend, author, week).

    Parameters
    ----------
    curves : numpy.ndarray, shape (trend, segment, week)
        The segments' curves (:func:`trend_curves`).
    segment : numpy.ndarray of int, shape (author,)
        True segment.
    multiplier : numpy.ndarray, shape (author,)
        The author's multiplier of its segment's curve (the product is clipped at 0.5).
    shift : numpy.ndarray of int, shape (author,)
        Weeks by which the author shows ``rising`` trends ahead of its segment (the last week
        repeats past the window's end).
    """
    n_weeks = curves.shape[2]
    out = np.empty((curves.shape[0], segment.size, n_weeks))
    week = np.arange(n_weeks)
    for j, tr in enumerate(TRENDS):
        lag = shift if tr.shape == "rising" else np.zeros_like(shift)
        idx = np.minimum(week[None, :] + lag[:, None], n_weeks - 1)
        out[j] = np.clip(curves[j][segment[:, None], idx] * multiplier[:, None], 0.0, 0.5)
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
TYPE_BLOCKS: dict[str, tuple[float, float]] = {
    "object_detection": (1.0, 2.6),
    "pattern": (0.29, 0.25),
    "shoe": (0.19, 2.2),
    "shoe_brand": (0.037, 0.05),
    "bag_brand": (0.003, 0.0),
}
"""Per TYPE: share of labelled images carrying it (average author) and mean extra distinct labels."""


@dataclass
class Chunk:
    """One chunk of simulated authors' posts and labels, staged before the warehouse is written.

    Attributes
    ----------
    posts : pyarrow.Table
        One row per (post, image): keys, author, engagement, caption index, time.
    labels : pyarrow.Table
        One row per detection box: image key, label code, box.
    post_trends : numpy.ndarray of bool, shape (post, trend)
        Which trends each post shows (for the population truth).
    post_week, post_segment : numpy.ndarray
        Each post's week index and its author's true segment.
    post_crossings : numpy.ndarray of bool, shape (post, crossing, 2)
        Whether each post shows each :data:`bayesseg.simulate.items.ITEM_TRENDS` crossing in one
        image (``[..., 0]``) and on one item (``[..., 1]``).
    """

    posts: pa.Table
    labels: pa.Table
    post_trends: np.ndarray  # (n_posts_in_chunk, n_trends) bool
    post_week: np.ndarray
    post_segment: np.ndarray
    post_crossings: np.ndarray


def _block_labels(
    rng: np.random.Generator,
    p: np.ndarray,
    li: np.ndarray,
    img_author: np.ndarray,
    type_index: np.ndarray,
    type_mass: np.ndarray,
    n_vocab_total: int,
) -> list[np.ndarray]:
    """Label keys (image × vocabulary size + label code) of the labelled images `li`, one TYPE block at a time."""
    n = p.shape[0]
    keys = []
    for t, (presence, extra) in enumerate(TYPE_BLOCKS.values()):
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
    return keys


def _posts(
    rng: np.random.Generator, authors: pd.DataFrame, cal: Calibration
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each author's posts: their author index, time (seconds since the start), likes and comments."""
    n = len(authors)
    # posts per author: negative binomial, heavy tailed, mean from the contract
    activity = rng.lognormal(-0.5 * 1.1**2, 1.1, size=n)
    n_posts = rng.poisson(cal.posts_per_author * activity)
    n_posts = np.maximum(n_posts, 1)
    post_author = np.repeat(np.arange(n), n_posts)
    n_post = post_author.size
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

    return post_author, t_post, likes, comments


def simulate_chunk(
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
    items: ItemPlan,
) -> Chunk:
    """Simulate the posts, images and labels of a chunk of authors.

    Parameters
    ----------
    rng : numpy.random.Generator
        The chunk's generator.
    authors : pandas.DataFrame
        Rows of :func:`population` for authors who post.
    theta : numpy.ndarray, shape (segment, label)
        Segment label profiles (:func:`label_profiles`).
    type_index : numpy.ndarray, shape (label,)
        Each label's TYPE block (index into :data:`bayesseg.simulate.generative.TYPE_BLOCKS`).
    type_mass : numpy.ndarray, shape (block,)
        The population's profile mass of each block.
    trend_codes : numpy.ndarray
        Label codes of the trend labels.
    curves : numpy.ndarray, shape (trend, segment, week)
        Per-image trend probabilities (:func:`trend_curves`).
    cal : Calibration
        Figures to reproduce.
    post_key0, image_key0 : int
        First post and image keys of the chunk.
    items : bayesseg.simulate.items.ItemPlan
        Which label codes are items and which sit on them (boxes coherent with items).

    Returns
    -------
    Chunk
    """
    seg = authors["SEGMENT"].to_numpy()
    kappa = np.array([cal.concentrations[s] for s in SEGMENT_NAMES])[seg]
    v = theta.shape[1]
    # author profiles p_i ~ Dirichlet(kappa_k theta_k) via normalised gammas
    g = rng.gamma(shape=kappa[:, None] * theta[seg] + 1e-12)
    p = g / g.sum(axis=1, keepdims=True)

    post_author, t_post, likes, comments = _posts(rng, authors, cal)
    n_post = post_author.size
    post_key = post_key0 + np.arange(n_post, dtype=np.int64)

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
    keys = _block_labels(rng, p, li, img_author, type_index, type_mass, n_vocab_total)
    person_face = [v, v + 1]  # codes of human / humanface
    for code, rate in zip(person_face, (cal.human, cal.humanface), strict=True):
        has = li[rng.random(li.size) < rate]
        keys.append(has * n_vocab_total + code)
    # trend labels with their weekly segment-specific probability
    weeks = week_starts(cal)
    start_monday = weeks[0]
    offset = (pd.Timestamp(cal.start) - start_monday).total_seconds()
    post_week = np.minimum(((t_post + offset) // (7 * 86400)).astype(np.int64), len(weeks) - 1)
    img_week = post_week[img_post]
    # each author's curves: its segment's, times a Scenario's adoption multiplier, shifted for a
    # Scenario's leaders (bayesseg.simulate.scenario); without them, exactly the segment's
    n_auth = len(authors)
    multiplier = authors["TREND_MULTIPLIER"].to_numpy() if "TREND_MULTIPLIER" in authors else np.ones(n_auth)
    shift = authors["TREND_SHIFT"].to_numpy() if "TREND_SHIFT" in authors else np.zeros(n_auth, dtype=np.int64)
    own = author_curves(curves, seg, multiplier, shift)
    for j, code in enumerate(trend_codes):
        q = own[j, img_author[li], img_week[li]]
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
    # boxes coherent with items (bayesseg.simulate.items); as many uniforms as independent boxes
    # took before, so every later draw of the chunk is unchanged
    pos, host = item_positions(lab_img, lab_code, boxes, rng.random((nl, 4)), items)

    # which trends each post shows (for the population truth): an image counts for every post
    # that carries it
    trend_flags = np.zeros((n_post, len(trend_codes)), dtype=bool)
    is_trend = np.isin(lab_code, trend_codes)
    hits = pd.DataFrame({"k": img_key[lab_img[is_trend]], "j": np.searchsorted(trend_codes, lab_code[is_trend])})
    image_post = pd.DataFrame({"k": image_key, "post": row_post})  # each image's posts (a reused image has two)
    carried = image_post.merge(hits, on="k")
    trend_flags[carried["post"].to_numpy(), carried["j"].to_numpy()] = True
    # the crossings of ITEM_TRENDS, in one image (scope 0) and on one item (scope 1)
    crossing_flags = np.zeros((n_post, len(items.crossings), 2), dtype=bool)
    crossed = item_trend_flags(lab_img, lab_code, host, items)
    crossed["k"] = img_key[crossed["image"].to_numpy()]
    carried = image_post.merge(crossed, on="k")
    crossing_flags[carried["post"].to_numpy(), carried["crossing"].to_numpy(), 0] = True
    on_item = carried[carried["item"]]
    crossing_flags[on_item["post"].to_numpy(), on_item["crossing"].to_numpy(), 1] = True

    posts = pa.table(
        {
            "post_key": post_key[row_post],
            "AUTHORID": authors["AUTHORID"].to_numpy()[post_author[row_post]],
            "COMMENT_COUNT": comments[row_post],
            "caption_idx": rng.integers(0, N_CAPTIONS, size=n_post)[row_post],
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
    return Chunk(posts, labels, trend_flags, post_week, seg[post_author], crossing_flags)
