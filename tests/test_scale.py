"""Scoring at scale: streamed inputs, batch writes, and the large-warehouse simulator.

The Dask path against the in-memory path, and `bayesseg score --source` against the tables of
`bayesseg run`, are tested in test_run.py (they reuse its fitted run)."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from bayesseg.config import RunSpec
from bayesseg.data.inputs import stream_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.exceptions import SourceError
from bayesseg.simulate import Calibration, simulate_aggregates


@pytest.fixture(scope="module")
def aggregates(tmp_path_factory):
    path = tmp_path_factory.mktemp("agg") / "agg.duckdb"
    rows = simulate_aggregates(path, 20_000, seed=4, chunk_authors=6_000)
    return path, rows


def test_simulated_aggregates_follow_the_model(aggregates, taxonomy):
    path, rows = aggregates
    con = duckdb.connect(str(path), read_only=True)
    counts = con.execute("SELECT * FROM AGGREGATES.AUTHOR_CATEGORY_COUNTS").df()
    cov = con.execute("SELECT * FROM AGGREGATES.AUTHOR_COVARIATES").df()
    truth = con.execute("SELECT * FROM TRUTH.AUTHORS").df()
    con.close()
    assert rows["AGGREGATES.AUTHOR_COVARIATES"] == len(cov) == len(truth) == 20_000
    assert rows["AGGREGATES.AUTHOR_CATEGORY_COUNTS"] == len(counts)
    assert cov["AUTHORID"].is_unique and cov["AUTHORID"].is_monotonic_increasing
    assert set(counts["CATEGORY"]) <= set(taxonomy.category_names) and (counts["N"] > 0).all()
    # authors without posts have no labels, at the contract's rate
    cal = Calibration()
    posters = set(counts["AUTHORID"])
    no_posts = cov.loc[cov["N_POSTS"] == 0, "AUTHORID"]
    assert not posters & set(no_posts)
    assert abs(len(no_posts) / len(cov) - (1 - cal.n_with_posts / cal.n_segmentations)) < 0.01
    # the pooled category shares of a segment estimate its profile (E y_c / E n = theta_kc)
    from bayesseg.simulate.generative import label_profiles

    vocab, theta_labels = label_profiles(taxonomy)
    theta = (
        pd.DataFrame(theta_labels.T, index=vocab["CATEGORY"])
        .groupby(level=0)
        .sum()
        .T.reindex(columns=taxonomy.category_names, fill_value=0.0)
    )
    theta = theta.div(theta.sum(axis=1), axis=0)
    merged = counts.merge(truth, on="AUTHORID")
    shares = merged.pivot_table(index="SEGMENT", columns="CATEGORY", values="N", aggfunc="sum", fill_value=0)
    shares = shares.reindex(columns=taxonomy.category_names, fill_value=0)
    shares = shares.div(shares.sum(axis=1), axis=0)
    assert np.abs(shares.to_numpy() - theta.loc[shares.index].to_numpy()).max() < 0.01


def _spec():
    return RunSpec.from_toml()


def test_stream_rejects_counts_of_unknown_authors(aggregates, tmp_path, taxonomy):
    path, _ = aggregates
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(path.read_bytes())
    con = duckdb.connect(str(bad))
    con.execute("INSERT INTO AGGREGATES.AUTHOR_CATEGORY_COUNTS VALUES (99999999999999, 'tops', 3)")
    con.close()
    spec = _spec()
    with DuckDBSource(bad) as src, pytest.raises(ValueError, match=r"not in the author covariates.*99999999999999"):
        for _ in stream_inputs(
            src,
            spec,
            taxonomy,
            batch_authors=5_000,
            imputation={"log_engagement": np.zeros(2)},
            aggregates="AGGREGATES",
        ):
            pass


def test_stream_needs_imputation_coefficients_and_positive_batches(aggregates, taxonomy):
    path, _ = aggregates
    with DuckDBSource(path) as src:
        with pytest.raises(ValueError, match="imputes a covariate"):
            next(stream_inputs(src, _spec(), taxonomy, aggregates="AGGREGATES"))
        with pytest.raises(ValueError, match="batch_authors must be positive"):
            next(stream_inputs(src, _spec(), taxonomy, batch_authors=0, aggregates="AGGREGATES"))


def test_stream_counts_every_author_once(aggregates, taxonomy):
    path, rows = aggregates
    seen, eligible, excluded = [], 0, 0
    with DuckDBSource(path) as src:
        for batch in stream_inputs(
            src,
            _spec(),
            taxonomy,
            batch_authors=3_000,
            imputation={"log_engagement": np.array([-3.0, -0.1])},
            aggregates="AGGREGATES",
        ):
            seen.append(batch.authors.index.to_numpy())
            eligible += batch.counts.sizes["author"]
            excluded += len(batch.excluded)
            assert len(batch.authors) <= 3_000
            assert (batch.counts.sum("category") > 0).all()
    ids = np.concatenate(seen)
    assert len(ids) == len(np.unique(ids)) == rows["AGGREGATES.AUTHOR_COVARIATES"] == eligible + excluded


def test_batch_writer_swaps_tables_in_whole(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA TECHTEST")
    con.execute("CREATE SCHEMA OUT")
    con.execute("CREATE TABLE OUT.T AS SELECT 1 AS A")
    con.execute("CREATE TABLE OUT.OTHER AS SELECT 7 AS B")
    con.close()
    with DuckDBSource(path, read_only=False) as src:
        with src.batch_writer("OUT") as w:
            w.append("T", pd.DataFrame({"A": [10, 11]}))
            w.append("T", pd.DataFrame({"A": [12]}))
            # before the writer closes, readers still see the previous table
            assert src.query("SELECT COUNT(*) AS N FROM OUT.T")["N"].iloc[0] == 1
        assert w.written == {"T": 3}
        assert sorted(src.query("SELECT A FROM OUT.T")["A"]) == [10, 11, 12]
        assert src.query("SELECT B FROM OUT.OTHER")["B"].tolist() == [7]
    with DuckDBSource(path) as src, pytest.raises(SourceError, match="read-only"):
        with src.batch_writer("OUT") as w:
            w.append("T", pd.DataFrame({"A": [1]}))
