"""Writing a simulated TECHTEST warehouse, with its truth, into a DuckDB file.

:func:`simulate_warehouse` draws the truth (:mod:`bayesseg.simulate.generative`), writes the four
MART tables of the data contract (schema ``TECHTEST``) and the truth beside them (schema
``TRUTH``); :func:`warehouse_checksum` hashes the contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from bayesseg.exceptions import InputError
from bayesseg.simulate.calibration import COVARIATES, SEGMENT_NAMES, SIZES, TRENDS, Calibration, Size
from bayesseg.simulate.generative import (
    BIO_PARTS,
    CAPTION_PARTS,
    N_CAPTIONS,
    TYPE_BLOCKS,
    label_profiles,
    membership_flags,
    population,
    simulate_chunk,
    text_pool,
    trend_curves,
    week_starts,
)
from bayesseg.simulate.items import ItemPlan, item_trend_series
from bayesseg.simulate.scenario import Scenario, apply_scenario, platform_margins, platform_series
from bayesseg.taxonomy import Taxonomy

__all__ = ["SimulationResult", "setup_simulation", "simulate_warehouse", "truth_tables", "warehouse_checksum"]


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


def _author_tables(
    rng: np.random.Generator, authors: pd.DataFrame, in_mart: np.ndarray, cal: Calibration
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(authors)
    f = authors["FOLLOWERS"].to_numpy(dtype=float)
    bios = text_pool(rng, BIO_PARTS, 300)
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


def setup_simulation(
    path: str | os.PathLike[str],
    overwrite: bool,
    taxonomy: Taxonomy | None,
    calibration: Calibration | None,
    progress: Callable[[str, float], None] | None,
) -> tuple[Path, Taxonomy, Calibration, Callable[[str, float], None]]:
    """The arguments shared by the simulators, checked and with their defaults filled in.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    overwrite : bool
        Replace it when it exists.
    taxonomy, calibration : optional
        Defaults: the shipped taxonomy and the contract's figures.
    progress : callable, optional
        ``progress(message, fraction)``.

    Returns
    -------
    path, taxonomy, calibration, progress

    Raises
    ------
    FileExistsError
        If `path` exists and `overwrite` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    return path, taxonomy or Taxonomy.from_toml(), calibration or Calibration(), progress or (lambda msg, frac: None)


@dataclass(frozen=True)
class _Plan:
    """The truth drawn before any post: the authors and what their posts are drawn from."""

    authors: pd.DataFrame
    params: dict[str, Any]
    vocab: pd.DataFrame
    theta: np.ndarray
    codebook: pd.DataFrame
    trend_codes: np.ndarray
    curves: np.ndarray
    weeks: pd.DatetimeIndex
    type_index: np.ndarray
    type_mass: np.ndarray
    scenario_truth: dict[str, pd.DataFrame]
    items: ItemPlan


def _plan(
    rng: np.random.Generator,
    n_authors: int,
    taxonomy: Taxonomy,
    cal: Calibration,
    scenario: Scenario,
    rng_scenario: np.random.Generator,
) -> _Plan:
    scenario_truth: dict[str, pd.DataFrame] = {}
    curves = trend_curves(cal, scenario.rising_shape)
    if scenario.active:
        # the platform behind the warehouse, about n_authors / crawl_rate authors, crawled
        platform_authors, params = population(rng, round(n_authors / scenario.crawl_rate), cal)
        authors, platform = apply_scenario(rng_scenario, platform_authors, cal, scenario)
        scenario_truth = {
            "PLATFORM_SERIES": platform_series(platform, curves, week_starts(cal), cal),
            "PLATFORM_MARGINS": platform_margins(platform),
            "LEAD": pd.DataFrame(
                {
                    "TREND": [t.name for t in TRENDS],
                    "PANEL": "fashion_forward",
                    "LEAD_WEEKS": [scenario.lead_weeks if t.shape == "rising" else 0 for t in TRENDS],
                }
            ),
        }
        params = {**params, "scenario": asdict(scenario), "platform_authors": len(platform)}
        n_authors = len(authors)
    else:
        authors, params = population(rng, n_authors, cal)
    has_posts, in_mart = membership_flags(rng, n_authors, cal)
    authors["HAS_POSTS"] = has_posts
    authors["IN_MART_AUTHORS"] = in_mart
    vocab, theta = label_profiles(taxonomy)
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
    type_index = vocab["TYPE"].map({t: i for i, t in enumerate(TYPE_BLOCKS)}).to_numpy()
    # population mass of each TYPE block, the reference for an author's block presence
    seg_share = np.bincount(authors["SEGMENT"], minlength=len(SEGMENT_NAMES)) / len(authors)
    theta_pop = seg_share @ theta
    type_mass = np.array([theta_pop[type_index == t].sum() for t in range(len(TYPE_BLOCKS))])
    return _Plan(
        authors, params, vocab, theta, codebook, np.arange(len(vocab) + 2, len(codebook)),
        curves, week_starts(cal), type_index, type_mass, scenario_truth, ItemPlan.from_codebook(codebook),
    )  # fmt: skip


def _stage_posts(
    con: duckdb.DuckDBPyConnection,
    plan: _Plan,
    rng_chunks: np.random.Generator,
    chunk_authors: int,
    cal: Calibration,
    say: Callable[[str, float], None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Simulate every poster's posts chunk by chunk into staging tables; count posts per (trend, segment, week).

    Also counts the posts showing each crossing of :data:`bayesseg.simulate.items.ITEM_TRENDS`, shape
    (crossing, scope, week) with scope 0 one image and 1 one item.
    """
    con.execute(
        "CREATE TEMP TABLE stage_posts (post_key BIGINT, AUTHORID BIGINT, COMMENT_COUNT BIGINT, "
        "caption_idx BIGINT, caption_null BOOLEAN, NB_LIKES BIGINT, t BIGINT, image_key BIGINT)"
    )
    con.execute(
        "CREATE TEMP TABLE stage_labels (image_key BIGINT, code INTEGER, x DOUBLE, y DOUBLE, w DOUBLE, h DOUBLE)"
    )
    posters = plan.authors[plan.authors["HAS_POSTS"]].reset_index(drop=True)
    n_chunks = max(1, int(np.ceil(len(posters) / chunk_authors)))
    chunk_seeds = rng_chunks.integers(0, 2**63 - 1, size=n_chunks)
    post_key0 = image_key0 = 0
    trend_posts = np.zeros((len(TRENDS), len(SEGMENT_NAMES), len(plan.weeks)))
    crossing_posts = np.zeros((len(plan.items.crossings), 2, len(plan.weeks)))
    all_posts = np.zeros((len(SEGMENT_NAMES), len(plan.weeks)))
    for c in range(n_chunks):
        sl = slice(c * chunk_authors, (c + 1) * chunk_authors)
        chunk = simulate_chunk(
            np.random.default_rng(chunk_seeds[c]),
            posters.iloc[sl],
            plan.theta,
            plan.type_index,
            plan.type_mass,
            plan.trend_codes,
            plan.curves,
            cal,
            post_key0,
            image_key0,
            plan.items,
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
        for j in range(len(TRENDS)):
            sel = chunk.post_trends[:, j]
            np.add.at(trend_posts[j], (chunk.post_segment[sel], chunk.post_week[sel]), 1)
        for c in range(len(plan.items.crossings)):
            for scope in (0, 1):
                np.add.at(crossing_posts[c, scope], chunk.post_week[chunk.post_crossings[:, c, scope]], 1)
        say(f"simulated posts of authors {sl.start:,}-{min(sl.stop, len(posters)):,}", (c + 1) / (n_chunks + 2))
    return trend_posts, all_posts, crossing_posts, n_chunks


def _write_mart(
    con: duckdb.DuckDBPyConnection,
    mart: pd.DataFrame,
    seg: pd.DataFrame,
    captions: list[str],
    codebook: pd.DataFrame,
    seed: int,
    cal: Calibration,
) -> None:
    """The two author tables and MART_IMAGES_OF_POSTS, from the staged posts."""
    con.register("captions_df", pd.DataFrame({"idx": np.arange(len(captions)), "caption": captions}))
    con.register("codebook_df", codebook)
    con.register("mart_df", mart)
    con.register("seg_df", seg)
    for table, ddl in _DDL.items():
        con.execute(f"CREATE TABLE TECHTEST.{table} ({ddl})")
    con.execute(
        "INSERT INTO TECHTEST.MART_AUTHORS SELECT AUTHORID, BIO, NB_FOLLOWERS::BIGINT, NB_FOLLOWS::BIGINT FROM mart_df"
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


def _write_labels(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    """MART_IMAGES_LABELS, from the staged labels and the codebook."""
    salt = f"bayesseg-sim:{seed}:"
    con.execute(
        f"""
        INSERT INTO TECHTEST.MART_IMAGES_LABELS
        SELECT md5('{salt}image:' || l.image_key), cb.TYPE, [l.x, l.y, l.w, l.h], cb.LABEL_NAME
        FROM stage_labels l JOIN codebook_df cb ON cb.code = l.code
        ORDER BY l.image_key, l.code, l.x, l.y
        """
    )


def _write_truth(con: duckdb.DuckDBPyConnection, authors: pd.DataFrame, truth: dict[str, pd.DataFrame]) -> None:
    """Schema TRUTH: the authors (with their realised posts) and the other truth tables; drop the staging."""
    n_posts_author_df = con.execute(
        "SELECT AUTHORID, COUNT(DISTINCT post_key) AS N_POSTS FROM stage_posts GROUP BY 1"
    ).df()
    truth_authors = authors.merge(n_posts_author_df, on="AUTHORID", how="left")
    truth_authors["N_POSTS"] = truth_authors["N_POSTS"].fillna(0).astype(np.int64)
    truth["AUTHORS"] = truth_authors
    for name, frame in truth.items():
        con.register("truth_df", frame)
        con.execute(f"CREATE TABLE TRUTH.{name} AS SELECT * FROM truth_df")
        con.unregister("truth_df")
    con.execute("DROP TABLE stage_posts")
    con.execute("DROP TABLE stage_labels")


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        f"{schema}.{t}": int(con.execute(f"SELECT COUNT(*) FROM {schema}.{t}").fetchone()[0])  # type: ignore[index]
        for schema, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('TECHTEST', 'TRUTH') ORDER BY 1, 2"
        ).fetchall()
    }


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
    scenario: Scenario | None = None,
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
    scenario : bayesseg.simulate.scenario.Scenario, optional
        Conditions the trend estimators do not assume (a platform behind a crawl, adopters, a
        panel chosen on adoption or leading); the default changes nothing. With a crawl, `size`
        is the warehouse's expected number of authors.

    Returns
    -------
    SimulationResult

    Raises
    ------
    FileExistsError
        If `path` exists and `overwrite` is false.
    bayesseg.exceptions.InputError
        If `size` is unknown or smaller than 50 authors.

    Notes
    -----
    The tables are those of the data contract, in schema ``TECHTEST``. The truth is in schema
    ``TRUTH``: ``AUTHORS`` (true segment, covariates, membership and panel probabilities),
    ``SEGMENTS`` (intercepts, concentrations, panel effects), ``GATING`` (coefficients),
    ``PROFILES`` (label profile of each segment), ``TRENDS`` and ``TREND_SERIES`` (weekly
    population and per-segment truth), ``ITEM_TREND_SERIES`` (the weekly share of all posts
    showing each crossing of :data:`bayesseg.simulate.items.ITEM_TRENDS`, in one image and on one
    item) and ``PARAMETERS`` (everything else, as JSON). With an
    active `scenario`: ``PLATFORM_SERIES`` (the platform's expected weekly shares),
    ``PLATFORM_MARGINS`` (its follower margins, in the margins-file format) and ``LEAD`` (the
    panel's true lead per trend); ``AUTHORS`` gains ``ADOPTION``, ``TREND_MULTIPLIER``,
    ``TREND_SHIFT`` and ``CRAWL_PROBABILITY``.
    """
    n_authors = SIZES.get(size, 0) if isinstance(size, str) else int(size)
    if isinstance(size, str) and size not in SIZES:
        raise InputError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or an integer")
    if n_authors < 50:
        raise InputError(f"size must be at least 50 authors, got {n_authors}")
    path, taxonomy, cal, say = setup_simulation(path, overwrite, taxonomy, calibration, progress)
    root = np.random.SeedSequence(seed)
    rng_pop, rng_tables, rng_text, rng_chunks = (np.random.default_rng(s) for s in root.spawn(4))
    rng_scenario = np.random.default_rng(root.spawn(1)[0])  # a fifth stream: the plain draws are untouched
    plan = _plan(rng_pop, n_authors, taxonomy, cal, scenario or Scenario(), rng_scenario)

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
        trend_posts, all_posts, crossing_posts, n_chunks = _stage_posts(con, plan, rng_chunks, chunk_authors, cal, say)
        mart, seg = _author_tables(rng_tables, plan.authors, plan.authors["IN_MART_AUTHORS"].to_numpy(), cal)
        captions = text_pool(rng_text, CAPTION_PARTS, N_CAPTIONS)
        _write_mart(con, mart, seg, captions, plan.codebook, seed, cal)
        say("wrote MART_IMAGES_OF_POSTS", (n_chunks + 1) / (n_chunks + 2))
        _write_labels(con, seed)
        truth = truth_tables(
            plan.theta, plan.vocab, cal, plan.params, plan.curves, plan.weeks, trend_posts, all_posts, seed, n_authors
        )
        truth["ITEM_TREND_SERIES"] = item_trend_series(crossing_posts, all_posts.sum(axis=0), plan.weeks)
        truth.update(plan.scenario_truth)
        _write_truth(con, plan.authors, truth)
        counts = _row_counts(con)
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
