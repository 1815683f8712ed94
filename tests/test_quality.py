"""Schema errors name the table and column; every defect is counted, none dropped silently."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesseg.data.aggregate import author_category_counts, author_covariates, label_inventory
from bayesseg.data.contract import TABLES
from bayesseg.data.quality import CHECKS, check_schema, data_quality
from bayesseg.data.sources import DuckDBSource
from bayesseg.exceptions import SchemaError
from bayesseg.workflow.html import quality_html

from .conftest import write_tables


@pytest.fixture(scope="module")
def report(small_warehouse, taxonomy):
    with DuckDBSource(small_warehouse) as src:
        check_schema(src)
        return data_quality(src, taxonomy)


def test_every_check_reports(report):
    assert [f.check.name for f in report.findings] == [c.name for c in CHECKS]
    assert all(0 <= f.n <= f.total or f.check.name.startswith("negative") for f in report.findings)


def test_findings_equal_independent_counts(report, small_frames):
    ma, seg, posts, labels = (small_frames[t] for t in TABLES)
    assert report["duplicate_author_ids"].n == (ma["AUTHORID"].value_counts() > 1).sum()
    assert report["duplicate_author_rows"].n == len(ma) - ma["AUTHORID"].nunique()
    assert report["mart_followers_null"].n == ma["NB_FOLLOWERS"].isna().sum()
    assert report["segmentation_followers_null"].n == seg["NB_FOLLOWERS"].isna().sum()
    f = seg["NB_FOLLOWERS"].dropna()
    assert report["segmentation_followers_fractional"].n == (f != np.round(f)).sum()
    assert report["geo_zone_us"].n == report["geo_zone_us"].total == len(seg)
    assert report["fashion_interest_true"].n == seg["FASHION_INTEREST_SEGMENT"].sum()
    per_post = posts.groupby("POST_ID")["NB_LIKES"].max()
    assert report["zero_like_posts"].n == (per_post == 0).sum()
    assert report["repeated_detections"].n == len(labels) - len(
        labels.drop_duplicates(["IMAGE_ID", "TYPE", "LABEL_NAME"])
    )
    assert report["shared_images"].n == (posts.groupby("IMAGE_ID")["POST_ID"].nunique() > 1).sum()
    assert report["segmentation_authors_without_posts"].n == len(set(seg["AUTHORID"]) - set(posts["AUTHORID"]))
    assert report["excluded_label_rows_person"].n == labels["LABEL_NAME"].isin(["human", "humanface"]).sum()
    assert report["unknown_label_rows"].n == 0
    assert report["excluded_label_rows_other"].n == 0  # generic objects are a category since 2026.11.2
    first, last = report["posts_first_13_weeks"].n, report["posts_last_13_weeks"].n
    assert last < first  # the simulated volume declines


def test_report_renders(report):
    text = str(report)
    assert "duplicate_author_ids" in text and "->" in text
    html = quality_html(report)
    # names may break after "_" (<wbr>, no character of their own): the text a reader sees has them whole
    assert html.startswith("<section><h2>Data quality</h2>") and "MART_AUTHORS" in html.replace("<wbr>", "")
    frame = report.to_frame()
    assert {"table", "column", "n", "total", "action", "kind"} <= set(frame.columns)


def test_unknown_labels_are_counted_reported_and_not_counted_as_categories(tmp_path, small_frames, taxonomy):
    frames = dict(small_frames)
    labels = frames["MART_IMAGES_LABELS"]
    extra = labels.iloc[:7].assign(TYPE="bag_brand", LABEL_NAME="loewe")
    frames["MART_IMAGES_LABELS"] = pd.concat([labels, extra], ignore_index=True)
    path = write_tables(tmp_path / "w.duckdb", frames)
    with DuckDBSource(path) as src:
        rep = data_quality(src, taxonomy)
        inv = label_inventory(src, taxonomy)
        counts = author_category_counts(src, taxonomy)
    assert rep["unknown_label_rows"].n == 7 and rep["unknown_label_pairs"].n == 1
    assert rep.unknown_labels.to_dict("records") == [
        {"type": "bag_brand", "label_name": "loewe", "n_rows": 7, "n_images": extra["IMAGE_ID"].nunique()}
    ]
    assert inv.loc[inv["label_name"] == "loewe", "status"].tolist() == ["unknown"]
    assert "bag_brand:loewe (7 rows)" in quality_html(rep)
    assert "loewe" not in set(counts["category"])


def test_negative_counts_are_reported_and_left_out(tmp_path, small_frames):
    frames = dict(small_frames)
    posts = frames["MART_IMAGES_OF_POSTS"].copy()
    victim = posts["AUTHORID"].iloc[0]
    rows = posts.index[posts["AUTHORID"] == victim]
    posts.loc[rows, "COMMENT_COUNT"] = -5
    frames["MART_IMAGES_OF_POSTS"] = posts
    path = write_tables(tmp_path / "neg.duckdb", frames)
    with DuckDBSource(path) as src:
        from bayesseg.taxonomy import Taxonomy

        rep = data_quality(src, Taxonomy.from_toml())
        cov = author_covariates(src).set_index("author")
    assert rep["negative_likes_or_comments"].n == len(rows)
    assert np.isnan(cov.loc[victim, "comments_per_post"])


# ---------------------------------------------------------------- schema errors, property-based


@pytest.fixture(scope="module")
def tiny_frames(small_frames):
    keep = small_frames["MART_AUTHORS_SEGMENTATIONS"]["AUTHORID"].iloc[:20]
    posts = small_frames["MART_IMAGES_OF_POSTS"]
    posts = posts[posts["AUTHORID"].isin(keep)]
    labels = small_frames["MART_IMAGES_LABELS"]
    return {
        "MART_AUTHORS": small_frames["MART_AUTHORS"][small_frames["MART_AUTHORS"]["AUTHORID"].isin(keep)],
        "MART_AUTHORS_SEGMENTATIONS": small_frames["MART_AUTHORS_SEGMENTATIONS"].iloc[:20],
        "MART_IMAGES_OF_POSTS": posts,
        "MART_IMAGES_LABELS": labels[labels["IMAGE_ID"].isin(posts["IMAGE_ID"])],
    }


COLUMNS = [(t, c.name, c.kind) for t, cols in TABLES.items() for c in cols]
WRONG_TYPE = {
    "integer": "VARCHAR",
    "number": "VARCHAR",
    "text": "BIGINT",
    "boolean": "VARCHAR",
    "timestamp": "VARCHAR",
    "array": "VARCHAR",
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    corruption=st.sampled_from(["drop_table", "drop_column", "wrong_type", "empty_table"]),
    target=st.sampled_from(COLUMNS),
)
def test_schema_problems_are_named(tmp_path_factory, tiny_frames, corruption, target):
    table, column, kind = target
    frames = {t: f.copy() for t, f in tiny_frames.items()}
    types = {}
    if corruption == "drop_table":
        del frames[table]
        expected = f"table .*{table} is missing"
    elif corruption == "drop_column":
        frames[table] = frames[table].drop(columns=column)
        expected = f"{table}.{column} is missing"
    elif corruption == "empty_table":
        frames[table] = frames[table].iloc[:0]
        expected = f"table .*{table} is empty"
    else:
        if kind == "text":
            frames[table][column] = np.arange(len(frames[table]))
        else:
            frames[table][column] = frames[table][column].astype(str)
        types[(table, column)] = WRONG_TYPE[kind]
        expected = f"{table}.{column} has type"
    path = write_tables(tmp_path_factory.mktemp("bad") / "w.duckdb", frames, types)
    with DuckDBSource(path) as src, pytest.raises(SchemaError, match=expected) as info:
        check_schema(src)
    assert len(info.value.problems) == 1


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.sampled_from(["MART_AUTHORS", "MART_AUTHORS_SEGMENTATIONS", "MART_IMAGES_OF_POSTS"]),
    copies=st.integers(min_value=1, max_value=4),
    row=st.integers(min_value=0, max_value=10),
)
def test_duplicate_keys_are_reported_and_resolved(tmp_path_factory, tiny_frames, taxonomy, table, copies, row):
    frames = {t: f.copy() for t, f in tiny_frames.items()}
    f = frames[table]
    dup = f.iloc[[row % len(f)] * copies]
    frames[table] = pd.concat([f, dup], ignore_index=True)
    path = write_tables(tmp_path_factory.mktemp("dup") / "w.duckdb", frames)
    with DuckDBSource(path) as src:
        rep = data_quality(src, taxonomy)
        cov = author_covariates(src)
        counts = author_category_counts(src, taxonomy)
    with DuckDBSource(write_tables(tmp_path_factory.mktemp("ref") / "w.duckdb", tiny_frames)) as ref:
        ref_rep = data_quality(ref, taxonomy)
        ref_counts = author_category_counts(ref, taxonomy)
    assert cov["author"].is_unique  # every author resolved to one row
    if table == "MART_AUTHORS":
        assert rep["duplicate_author_rows"].n == ref_rep["duplicate_author_rows"].n + copies
    elif table == "MART_AUTHORS_SEGMENTATIONS":
        assert rep["segmentation_duplicate_ids"].n == 1
    else:
        assert rep["duplicate_post_image_rows"].n == copies
        pd.testing.assert_frame_equal(counts, ref_counts)  # repeated rows change no count


def test_a_precomputed_inventory_gives_the_same_report(small_warehouse, taxonomy, report):
    with DuckDBSource(small_warehouse) as src:
        reused = data_quality(src, taxonomy, inventory=label_inventory(src, taxonomy))
    pd.testing.assert_frame_equal(reused.to_frame(), report.to_frame())
    pd.testing.assert_frame_equal(reused.unknown_labels, report.unknown_labels)
