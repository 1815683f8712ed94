"""SQL aggregates equal an independent pandas computation on small warehouses."""

import numpy as np
import pandas as pd
import pytest

from bayesseg.data.aggregate import (
    SCHEMAS,
    author_category_counts,
    author_covariates,
    author_week_activity,
    counts_to_xarray,
    label_inventory,
    weekly_label_counts,
)
from bayesseg.data.sources import DuckDBSource


@pytest.fixture(scope="module")
def source(small_warehouse):
    with DuckDBSource(small_warehouse) as src:
        yield src


def _week(ts: pd.Series) -> pd.Series:
    return ts.dt.to_period("W-SUN").dt.start_time.astype("datetime64[us]")


def test_author_category_counts(source, small_frames, taxonomy):
    posts, labels = small_frames["MART_IMAGES_OF_POSTS"], small_frames["MART_IMAGES_LABELS"]
    author_images = posts[["AUTHORID", "IMAGE_ID"]].drop_duplicates()
    image_labels = labels[["IMAGE_ID", "TYPE", "LABEL_NAME"]].drop_duplicates()
    x = taxonomy.lookup(author_images.merge(image_labels, on="IMAGE_ID")).dropna(subset=["CATEGORY"])
    expected = (
        x.groupby(["AUTHORID", "CATEGORY"])
        .size()
        .rename("count")
        .reset_index()
        .rename(columns={"AUTHORID": "author", "CATEGORY": "category"})
        .sort_values(["author", "category"])
        .reset_index(drop=True)
    )
    got = author_category_counts(source, taxonomy)
    assert list(got.columns) == list(SCHEMAS["author_category_counts"])
    assert (got["count"] > 0).all()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_counts_ignore_repeated_boxes_and_shared_images(source, small_frames, taxonomy):
    """Doubling every label row and re-posting every image changes no count."""
    posts, labels = small_frames["MART_IMAGES_OF_POSTS"], small_frames["MART_IMAGES_LABELS"]
    assert len(labels) > len(labels.drop_duplicates(["IMAGE_ID", "TYPE", "LABEL_NAME"]))
    n_distinct = (
        taxonomy.lookup(
            posts[["AUTHORID", "IMAGE_ID"]]
            .drop_duplicates()
            .merge(labels[["IMAGE_ID", "TYPE", "LABEL_NAME"]].drop_duplicates(), on="IMAGE_ID")
        )["CATEGORY"]
        .notna()
        .sum()
    )
    assert author_category_counts(source, taxonomy)["count"].sum() == n_distinct


def test_author_covariates(source, small_frames):
    ma, seg, posts = (small_frames[t] for t in ("MART_AUTHORS", "MART_AUTHORS_SEGMENTATIONS", "MART_IMAGES_OF_POSTS"))
    ma_f = ma.groupby("AUTHORID").agg(
        ma_rows=("AUTHORID", "size"), ma_f=("NB_FOLLOWERS", "median"), follows=("NB_FOLLOWS", "median")
    )
    seg_f = seg.groupby("AUTHORID").agg(
        seg_rows=("AUTHORID", "size"),
        seg_f=("NB_FOLLOWERS", "median"),
        fi=("FASHION_INTEREST_SEGMENT", "max"),
        geo=("GEO_ZONE", "min"),
    )
    per_post = (
        posts.groupby(["AUTHORID", "POST_ID"])
        .agg(likes=("NB_LIKES", "max"), comments=("COMMENT_COUNT", "max"), date=("POST_PUBLICATION_DATE", "min"))
        .reset_index()
    )
    per_post["visible"] = per_post["likes"].where(per_post["likes"] > 0)
    act = per_post.groupby("AUTHORID").agg(
        n_posts=("POST_ID", "size"),
        n_zero=("likes", lambda s: int((s == 0).sum())),
        likes_per_post=("visible", "mean"),
        comments_per_post=("comments", "mean"),
        first_post=("date", "min"),
        last_post=("date", "max"),
    )
    act["n_images"] = posts.groupby("AUTHORID")["IMAGE_ID"].nunique()
    ids = sorted(set(ma["AUTHORID"]) | set(seg["AUTHORID"]) | set(posts["AUTHORID"]))
    e = pd.DataFrame(index=pd.Index(ids, name="AUTHORID")).join([ma_f, seg_f, act])
    followers = e["ma_f"].fillna(e["seg_f"])
    got = author_covariates(source).set_index("author")
    assert got.index.tolist() == ids
    np.testing.assert_allclose(got["followers"], followers, equal_nan=True)
    assert (
        got["followers_source"].fillna("-")
        == np.where(e["ma_f"].notna(), "MART_AUTHORS", np.where(e["seg_f"].notna(), "MART_AUTHORS_SEGMENTATIONS", "-"))
    ).all()
    np.testing.assert_allclose(got["follows"], e["follows"], equal_nan=True)
    assert (got["n_posts"] == e["n_posts"].fillna(0)).all()
    assert (got["n_images"] == e["n_images"].fillna(0)).all()
    np.testing.assert_allclose(got["likes_per_post"], e["likes_per_post"], equal_nan=True)
    np.testing.assert_allclose(got["comments_per_post"], e["comments_per_post"], equal_nan=True)
    hidden = (e["n_posts"] > 0) & (e["n_zero"] == e["n_posts"])
    assert (got["likes_hidden"] == hidden).all()
    rate = (e["likes_per_post"] + e["comments_per_post"]) / followers.where(followers > 0)
    np.testing.assert_allclose(got["engagement_rate"], rate, equal_nan=True)
    assert got.loc[hidden[hidden].index, "engagement_rate"].isna().all()
    tier = pd.cut(e["seg_f"], [-np.inf, 12_000, 40_000, np.inf], labels=["mainstream", "trendy", "edgy"])
    assert (got["current_tier"].fillna("-") == tier.astype(object).fillna("-")).all()
    assert (got["fashion_interest_segment"].fillna(False) == e["fi"].fillna(False).astype(bool)).all()
    assert (got["mart_authors_rows"] == e["ma_rows"].fillna(0)).all()
    assert got["mart_authors_rows"].max() == 12  # the duplicated id is resolved to one row
    assert (got["segmentations_rows"] == e["seg_rows"].fillna(0)).all()
    pd.testing.assert_series_equal(
        got["first_post"], e["first_post"].astype("datetime64[us]"), check_names=False, check_index=False
    )


def test_tier_thresholds_are_validated(source):
    with pytest.raises(ValueError, match="tier thresholds"):
        author_covariates(source, tiers=(40_000, 12_000))
    lowered = author_covariates(source, tiers=(1_000, 40_000))
    assert (lowered["current_tier"] == "trendy").sum() > (author_covariates(source)["current_tier"] == "trendy").sum()


def test_weekly_label_counts_and_activity(source, small_frames, taxonomy):
    posts, labels = small_frames["MART_IMAGES_OF_POSTS"], small_frames["MART_IMAGES_LABELS"]
    first = posts.groupby(["AUTHORID", "IMAGE_ID"])["POST_PUBLICATION_DATE"].min().rename("D").reset_index()
    first_post = first.merge(
        posts, left_on=["AUTHORID", "IMAGE_ID", "D"], right_on=["AUTHORID", "IMAGE_ID", "POST_PUBLICATION_DATE"]
    )
    x = taxonomy.lookup(first_post.merge(labels[["IMAGE_ID", "TYPE", "LABEL_NAME"]].drop_duplicates(), on="IMAGE_ID"))
    x = x.dropna(subset=["CATEGORY"]).assign(WEEK=lambda d: _week(d["D"]))
    expected = (
        x.groupby(["AUTHORID", "WEEK", "TYPE", "LABEL_NAME"])
        .agg(n_images=("IMAGE_ID", "nunique"), n_posts=("POST_ID", "nunique"))
        .reset_index()
        .rename(columns={"AUTHORID": "author", "WEEK": "week", "TYPE": "type", "LABEL_NAME": "label_name"})
    )
    got = weekly_label_counts(source, taxonomy)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert (got["week"].dt.day_of_week == 0).all()  # Mondays

    one = weekly_label_counts(source, taxonomy, labels=[("pattern", "stripes")])
    pd.testing.assert_frame_equal(
        one, got[(got["type"] == "pattern") & (got["label_name"] == "stripes")].reset_index(drop=True)
    )
    with pytest.raises(ValueError, match="without a category"):
        weekly_label_counts(source, taxonomy, labels=[("object_detection", "human")])

    per_post = posts.groupby(["AUTHORID", "POST_ID"])["POST_PUBLICATION_DATE"].min().reset_index()
    p = per_post.assign(WEEK=_week(per_post["POST_PUBLICATION_DATE"])).groupby(["AUTHORID", "WEEK"]).size()
    i = first.assign(WEEK=_week(first["D"])).groupby(["AUTHORID", "WEEK"]).size()
    exp = pd.concat([p.rename("n_posts"), i.rename("n_images")], axis=1).fillna(0).astype("int64").reset_index()
    exp.columns = ["author", "week", "n_posts", "n_images"]
    pd.testing.assert_frame_equal(author_week_activity(source), exp, check_dtype=False)


def test_label_inventory_accounts_for_every_label_row(source, small_frames, taxonomy):
    labels = small_frames["MART_IMAGES_LABELS"]
    inv = label_inventory(source, taxonomy)
    assert inv["n_rows"].sum() == len(labels)
    assert set(inv["status"]) <= {"category", "excluded", "unknown"}
    exp = labels.groupby(["TYPE", "LABEL_NAME"]).agg(n_rows=("IMAGE_ID", "size"), n_images=("IMAGE_ID", "nunique"))
    got = inv.set_index(["type", "label_name"])[["n_rows", "n_images"]]
    got.index.names = exp.index.names
    pd.testing.assert_frame_equal(got, exp, check_dtype=False)
    assert (inv.loc[inv["label_name"] == "human", "status"] == "excluded").all()


def test_counts_to_xarray(source, taxonomy):
    counts = author_category_counts(source, taxonomy)
    arr = counts_to_xarray(counts, taxonomy.category_names)
    assert arr.dims == ("author", "category")
    assert arr.sizes["category"] == len(taxonomy.category_names)
    assert int(arr.sum()) == counts["count"].sum()
    r = counts.iloc[5]
    assert int(arr.sel(author=r["author"], category=r["category"])) == r["count"]
    with_silent = counts_to_xarray(counts, taxonomy.category_names, authors=[*arr["author"].values.tolist(), 1])
    assert int(with_silent.sel(author=1).sum()) == 0
    with pytest.raises(ValueError, match="categories not in"):
        counts_to_xarray(counts, taxonomy.category_names[:3])
    with pytest.raises(ValueError, match="authors not in"):
        counts_to_xarray(counts, taxonomy.category_names, authors=[1])


def test_aggregate_reuses_a_given_inventory(source, taxonomy):
    from bayesseg.data.aggregate import aggregate

    inventory = label_inventory(source, taxonomy)
    fresh, reused = aggregate(source, taxonomy), aggregate(source, taxonomy, inventory=inventory)
    for name in vars(fresh):
        pd.testing.assert_frame_equal(getattr(reused, name), getattr(fresh, name))
    assert reused.inventory is inventory
