"""The Snowflake path (through fakesnow) returns exactly what the DuckDB path returns."""

import fakesnow  # a required test dependency: its absence fails the suite, it is not a skip
import pandas as pd
import pytest

from bayesseg.data.aggregate import aggregate, author_period_category_counts
from bayesseg.data.connect import open_source
from bayesseg.data.quality import check_schema, data_quality
from bayesseg.data.snowflake import SnowflakeSource
from bayesseg.data.sources import DuckDBSource
from bayesseg.exceptions import SourceError


@pytest.fixture(scope="module")
def snowflake_source(small_frames):
    with fakesnow.patch():
        src = SnowflakeSource(account="fakesnow", user="test")  # explicit: no connections.toml is read
        assert src.load_contract_tables(small_frames) == {t: len(f) for t, f in small_frames.items()}
        yield src
        src.close()


def test_schema_check_passes_on_snowflake(snowflake_source):
    check_schema(snowflake_source)


def test_aggregates_equal_duckdb(snowflake_source, small_warehouse, taxonomy):
    with DuckDBSource(small_warehouse) as duck:
        expected = aggregate(duck, taxonomy)
    got = aggregate(snowflake_source, taxonomy)
    for name in vars(expected):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), obj=name)


def test_period_counts_equal_duckdb(snowflake_source, small_warehouse, taxonomy):
    with DuckDBSource(small_warehouse) as duck:
        expected = author_period_category_counts(duck, taxonomy, period="month")
    got = author_period_category_counts(snowflake_source, taxonomy, period="month")
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, expected)


def test_quality_report_equals_duckdb(snowflake_source, small_warehouse, taxonomy):
    with DuckDBSource(small_warehouse) as duck:
        expected = data_quality(duck, taxonomy).to_frame()
    pd.testing.assert_frame_equal(data_quality(snowflake_source, taxonomy).to_frame(), expected)


def test_connection_failure_is_clear_and_holds_no_secret():
    def refuse(**kwargs):
        raise RuntimeError(f"login failed for {kwargs}")

    with pytest.raises(SourceError) as info:
        SnowflakeSource("prod", connect=refuse, password="hunter2", user="me")
    msg = str(info.value)
    assert "snowflake:prod" in msg and "connections.toml" in msg
    assert "hunter2" not in msg and info.value.__cause__ is None


def test_source_specifications(tmp_path):
    with pytest.raises(SourceError, match="needs a path"):
        open_source("duckdb:")
    with pytest.raises(SourceError, match="unknown source"):
        open_source("postgres:x")
    with pytest.raises(SourceError, match="does not exist"):
        open_source(f"duckdb:{tmp_path / 'none.duckdb'}")
