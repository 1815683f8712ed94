"""Simulated author-level aggregates for millions of authors (the scale benchmarks), with their truth."""

from __future__ import annotations

import os
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd

from bayesseg.data.aggregate import SCHEMAS
from bayesseg.exceptions import InputError
from bayesseg.simulate.calibration import SEGMENT_NAMES, Calibration
from bayesseg.simulate.generative import label_profiles, membership_flags, population
from bayesseg.simulate.warehouse import setup_simulation
from bayesseg.taxonomy import Taxonomy

__all__ = ["simulate_aggregates"]

_COLUMN = {"author": "AUTHORID"}


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
    covariates (:data:`bayesseg.data.aggregate.AGGREGATE_TABLES`); a real warehouse computes them with
    the shipped SQL. Simulating every post and label of millions of authors would take hours and
    tens of GB, so this writes the aggregates directly, chunk by chunk (memory bounded by
    `chunk_authors`): the same population as :func:`bayesseg.simulate.simulate_warehouse` (followers, engagement,
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
    bayesseg.exceptions.InputError
        If `n_authors` < 50.
    """
    if n_authors < 50:
        raise InputError(f"n_authors must be at least 50, got {n_authors}")
    path, taxonomy, cal, say = setup_simulation(path, overwrite, taxonomy, calibration, progress)
    categories = taxonomy.category_names
    vocab, theta_labels = label_profiles(taxonomy)
    cat_index = pd.Categorical(vocab["CATEGORY"], categories=categories).codes
    theta = np.zeros((len(SEGMENT_NAMES), len(categories)))
    for j, c in enumerate(cat_index):
        if c >= 0:
            theta[:, c] += theta_labels[:, j]
    theta /= theta.sum(axis=1, keepdims=True)
    kappa = np.array([cal.concentrations[s] for s in SEGMENT_NAMES])
    root = np.random.SeedSequence(seed)
    rng_pop, rng_chunks = (np.random.default_rng(s) for s in root.spawn(2))
    authors, _ = population(rng_pop, n_authors, cal)
    has_posts, in_mart = membership_flags(rng_pop, n_authors, cal)
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
            values = {
                "author": a["AUTHORID"].to_numpy(),
                "followers": followers,
                "followers_source": "MART_AUTHORS_SEGMENTATIONS",
                "follows": np.nan,
                "n_posts": n_posts,
                "n_images": n_posts,
                "n_zero_like_posts": np.where(hidden, n_posts, 0),
                "likes_hidden": hidden,
                "likes_per_post": likes,
                "comments_per_post": comments,
                "engagement_rate": np.where(followers > 0, (likes + comments) / np.maximum(followers, 1), np.nan),
                "fashion_interest_segment": a["FASHION_INTEREST_SEGMENT"].to_numpy(),
                "current_tier": a["TIER"].to_numpy(),
                "tier_followers": followers,
                "geo_zone": "us",
                "mart_authors_rows": in_mart[start : start + chunk_authors].astype(np.int64),
                "segmentations_rows": 1,
                "first_post": pd.Timestamp(cal.start),
                "last_post": pd.Timestamp(cal.start),
            }
            # the columns of author_covariates.sql, as the aggregate's schema declares them
            covariates = pd.DataFrame(
                {_COLUMN.get(name, name.upper()): values[name] for name in SCHEMAS["author_covariates"]}
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
