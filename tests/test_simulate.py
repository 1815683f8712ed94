"""The simulated warehouse matches the data contract, reproduces its defects, and keeps its truth."""

import tomllib

import duckdb
import numpy as np
import pandas as pd
import pytest

from bayesseg.data.contract import TABLES, kind_of_type
from bayesseg.simulate import SEGMENT_NAMES, TRENDS, simulate_warehouse, warehouse_checksum
from bayesseg.taxonomy import Taxonomy, default_taxonomy_path

from .conftest import read_tables


@pytest.fixture(scope="module")
def demo(demo_warehouse):
    return read_tables(demo_warehouse)


@pytest.fixture(scope="module")
def truth(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT * FROM TRUTH.{t}").df()
            for t in ["AUTHORS", "SEGMENTS", "GATING", "PROFILES", "TRENDS", "TREND_SERIES", "PARAMETERS"]
        }
    finally:
        con.close()


def test_tables_have_the_contract_columns_in_order_with_their_kinds(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    for table, columns in TABLES.items():
        found = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'TECHTEST' "
            "AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        assert [c for c, _ in found] == [c.name for c in columns]
        for (name, sql_type), col in zip(found, columns, strict=True):
            assert col.kind in kind_of_type(sql_type), (table, name, sql_type)
    con.close()


def test_vocabulary_is_the_real_one(demo, taxonomy):
    pairs = set(
        map(tuple, demo["MART_IMAGES_LABELS"][["TYPE", "LABEL_NAME"]].drop_duplicates().itertuples(index=False))
    )
    known = set(map(tuple, taxonomy.labels[["TYPE", "LABEL_NAME"]].itertuples(index=False)))
    assert pairs <= known
    assert len(pairs) > 0.9 * len(known)  # nearly every real label shows up at demo size


def test_author_tables_reproduce_the_contract_defects(demo):
    ma, seg = demo["MART_AUTHORS"], demo["MART_AUTHORS_SEGMENTATIONS"]
    counts = ma["AUTHORID"].value_counts()
    # one id repeated 12 times, with conflicting values
    assert (counts > 1).sum() == 1 and counts.max() == 12
    dup = ma[ma["AUTHORID"] == counts.idxmax()]
    assert dup["NB_FOLLOWERS"].isna().sum() >= 4 and dup["NB_FOLLOWERS"].dropna().nunique() > 1
    assert ma["NB_FOLLOWERS"].isna().mean() == pytest.approx(0.015, abs=0.008)
    assert ma["NB_FOLLOWS"].isna().mean() == pytest.approx(0.048, abs=0.015)
    follows = ma["NB_FOLLOWS"].dropna()
    assert follows.max() <= 7_900 and ((follows >= 7_400) & (follows <= 7_700)).mean() > 0.005  # cap spike
    # segmentations: unique ids, US only, NULL and fractional followers, panel rate
    assert seg["AUTHORID"].is_unique
    assert (seg["GEO_ZONE"] == "us").all()
    assert seg["NB_FOLLOWERS"].isna().mean() == pytest.approx(0.037, abs=0.012)
    f = seg["NB_FOLLOWERS"].dropna()
    assert (f != np.round(f)).mean() == pytest.approx(2_699 / 32_841, abs=0.02)
    # followers disagree between the two tables for many authors
    both = ma.drop_duplicates("AUTHORID", keep=False).merge(seg, on="AUTHORID", suffixes=("_ma", "_seg")).dropna()
    assert (both["NB_FOLLOWERS_ma"] != both["NB_FOLLOWERS_seg"]).mean() > 0.3
    # MART_AUTHORS has fewer authors than the segmentation table (contract: 22,428 vs 32,841)
    assert ma["AUTHORID"].nunique() / len(seg) == pytest.approx(22_428 / 32_841, abs=0.05)


def test_follower_tiers_and_panel_selection_match_the_contract(demo):
    seg = demo["MART_AUTHORS_SEGMENTATIONS"].dropna(subset=["NB_FOLLOWERS"])
    tier = pd.cut(seg["NB_FOLLOWERS"], [-1, 12_000, 40_000, np.inf], labels=["mainstream", "trendy", "edgy"])
    shares = tier.value_counts(normalize=True)
    assert shares["mainstream"] == pytest.approx(0.84, abs=0.03)
    assert shares["trendy"] == pytest.approx(0.08, abs=0.025)
    assert shares["edgy"] == pytest.approx(0.08, abs=0.025)
    q = seg.groupby(tier, observed=True)["NB_FOLLOWERS"].quantile(0.5)
    assert 700 < q["mainstream"] < 1_700 and 16_000 < q["trendy"] < 24_000 and 80_000 < q["edgy"] < 200_000
    rate = seg.groupby(tier, observed=True)["FASHION_INTEREST_SEGMENT"].mean()
    # strongly selected on followers (contract: 0.68 %, 2.2 %, 8.3 %)
    assert rate["mainstream"] < rate["trendy"] < rate["edgy"]
    assert rate["edgy"] > 5 * rate["mainstream"]


def test_truth_panel_probabilities_match_the_contract_rates_by_tier(truth):
    a = truth["AUTHORS"]
    rate = a.groupby("TIER")["PANEL_PROBABILITY"].mean()
    assert rate["mainstream"] == pytest.approx(0.0068, rel=0.05)
    assert rate["trendy"] == pytest.approx(0.022, rel=0.05)
    assert rate["edgy"] == pytest.approx(0.083, rel=0.05)


def test_posts_reproduce_the_contract_defects(demo):
    posts = demo["MART_IMAGES_OF_POSTS"]
    assert (
        posts["POST_ID"].str.fullmatch(r"[0-9a-f]{32}").all() and posts["IMAGE_ID"].str.fullmatch(r"[0-9a-f]{32}").all()
    )
    per_post = posts.groupby("POST_ID").agg(
        n_img=("IMAGE_ID", "nunique"),
        likes=("NB_LIKES", "first"),
        comments=("COMMENT_COUNT", "first"),
        date=("POST_PUBLICATION_DATE", "min"),
        author=("AUTHORID", "first"),
    )
    assert (per_post["n_img"] > 1).mean() == pytest.approx(0.02, abs=0.01)  # posts with several images
    assert (posts.groupby("IMAGE_ID")["POST_ID"].nunique() > 1).sum() > 0  # images shared by posts
    assert (per_post["likes"] == 0).mean() == pytest.approx(0.16, abs=0.05)  # hidden likes recorded as 0
    assert (per_post["comments"] == 0).mean() == pytest.approx(0.49, abs=0.07)
    assert per_post.groupby("author").size().mean() == pytest.approx(2_495_320 / 29_075, rel=0.15)
    # authors whose every post shows 0 likes (hidden)
    assert (per_post.groupby("author")["likes"].max() == 0).mean() > 0.04
    # window and declining volume
    assert per_post["date"].min() >= pd.Timestamp("2023-01-01")
    assert per_post["date"].max() < pd.Timestamp("2025-01-20")
    quarter = per_post["date"].dt.to_period("Q").value_counts().sort_index()
    assert quarter.iloc[-2] < 0.85 * quarter.iloc[0]


def test_posting_authors_and_authors_without_posts(demo):
    seg = demo["MART_AUTHORS_SEGMENTATIONS"]
    posters = set(demo["MART_IMAGES_OF_POSTS"]["AUTHORID"])
    assert posters <= set(seg["AUTHORID"])
    assert 1 - len(posters) / len(seg) == pytest.approx(1 - 29_075 / 32_841, abs=0.03)
    ma_ids = set(demo["MART_AUTHORS"]["AUTHORID"])
    assert len(ma_ids - posters) > 0 and len(posters - ma_ids) > 0


def test_labels_reproduce_the_contract_figures(demo):
    labels = demo["MART_IMAGES_LABELS"]
    distinct = labels.drop_duplicates(["IMAGE_ID", "TYPE", "LABEL_NAME"])
    assert 1 - len(distinct) / len(labels) == pytest.approx(0.42, abs=0.03)  # repeated detections
    per_image = distinct.groupby("IMAGE_ID").size()
    assert per_image.mean() == pytest.approx(5.3, abs=0.4)
    n_images = labels["IMAGE_ID"].nunique()
    share = distinct.groupby("TYPE")["IMAGE_ID"].nunique() / n_images
    assert share["object_detection"] > 0.99
    assert share["pattern"] == pytest.approx(0.295, abs=0.05)
    assert share["shoe"] == pytest.approx(0.19, abs=0.04)
    assert share["shoe_brand"] == pytest.approx(0.037, abs=0.015)
    assert share["bag_brand"] < 0.02
    top = distinct.groupby("LABEL_NAME")["IMAGE_ID"].nunique().sort_values(ascending=False)
    assert list(top.index[:2]) == ["human", "humanface"]
    assert (labels["POSITION_IN_IMAGE"].map(len) == 4).all()
    # about a fifth of posted images carry no label
    posted = demo["MART_IMAGES_OF_POSTS"]["IMAGE_ID"].nunique()
    assert 1 - n_images / posted == pytest.approx(0.215, abs=0.03)


def test_truth_is_complete_and_consistent(demo, truth):
    a = truth["AUTHORS"]
    assert set(a["AUTHORID"]) == set(demo["MART_AUTHORS_SEGMENTATIONS"]["AUTHORID"])
    assert set(a["SEGMENT_NAME"]) == set(SEGMENT_NAMES)
    probs = a[[f"P_{s.upper()}" for s in SEGMENT_NAMES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    # panel flag in the warehouse is the one of the truth
    merged = a.merge(demo["MART_AUTHORS_SEGMENTATIONS"], on="AUTHORID")
    assert (merged["FASHION_INTEREST_SEGMENT_x"] == merged["FASHION_INTEREST_SEGMENT_y"]).all()
    # gating: reference segment has zero coefficients
    g = truth["GATING"]
    assert (g.loc[g["SEGMENT"] == 0, "COEFFICIENT"] == 0).all() and len(g) == 2 * len(SEGMENT_NAMES)
    prof = truth["PROFILES"].groupby("SEGMENT")["PROBABILITY"].sum()
    np.testing.assert_allclose(prof, 1.0)
    # posts per author in the truth equals the warehouse
    n_posts = demo["MART_IMAGES_OF_POSTS"].groupby("AUTHORID")["POST_ID"].nunique()
    t = a.set_index("AUTHORID")["N_POSTS"]
    assert (t[t > 0] == n_posts.reindex(t[t > 0].index)).all()


def test_population_trend_series_equals_the_share_recomputed_from_the_tables(small_frames, small_warehouse):
    con = duckdb.connect(str(small_warehouse), read_only=True)
    series = con.execute("SELECT * FROM TRUTH.TREND_SERIES WHERE POPULATION = 'all'").df()
    con.close()
    posts, labels = small_frames["MART_IMAGES_OF_POSTS"], small_frames["MART_IMAGES_LABELS"]
    week = posts["POST_PUBLICATION_DATE"].dt.to_period("W-SUN").dt.start_time
    posts = posts.assign(WEEK=week)
    total = posts.groupby("WEEK")["POST_ID"].nunique()
    for trend in TRENDS:
        images = set(
            labels.loc[(labels["TYPE"] == trend.type) & (labels["LABEL_NAME"] == trend.label_name), "IMAGE_ID"]
        )
        hit = posts[posts["IMAGE_ID"].isin(images)].groupby("WEEK")["POST_ID"].nunique()
        expected = (hit.reindex(total.index, fill_value=0) / total).rename("expected")
        got = series[series["TREND"] == trend.name].set_index("WEEK")["SHARE"].dropna()
        joined = pd.concat([expected, got], axis=1, join="inner")
        assert len(joined) == len(expected)
        np.testing.assert_allclose(joined["SHARE"], joined["expected"], rtol=0, atol=1e-12)


def test_trends_differ_between_segments(truth):
    s = truth["TREND_SERIES"]
    seg = s[s["POPULATION"] != "all"].groupby(["TREND", "POPULATION"])["IMAGE_PROBABILITY"].mean().unstack()
    assert seg.loc["bag_brand:chanel", "luxury"] > 10 * seg.loc["bag_brand:chanel", "casual_denim"]
    assert seg.loc["shoe:sneakersrunning", "sportswear"] > 3 * seg.loc["shoe:sneakersrunning", "dressy"]


def test_segment_profiles_show_in_the_data(demo, truth, taxonomy):
    """Category shares of each true segment's authors track the true profile (aggregated by category)."""
    posts, labels = demo["MART_IMAGES_OF_POSTS"], demo["MART_IMAGES_LABELS"]
    pairs = labels.drop_duplicates(["IMAGE_ID", "TYPE", "LABEL_NAME"])
    author_images = posts[["AUTHORID", "IMAGE_ID"]].drop_duplicates()
    x = taxonomy.lookup(author_images.merge(pairs, on="IMAGE_ID")).dropna(subset=["CATEGORY"])
    x = x.merge(truth["AUTHORS"][["AUTHORID", "SEGMENT_NAME"]], on="AUTHORID")
    observed = pd.crosstab(x["SEGMENT_NAME"], x["CATEGORY"], normalize="index")
    prof = taxonomy.lookup(truth["PROFILES"]).dropna(subset=["CATEGORY"])
    expected = prof.pivot_table(index="SEGMENT_NAME", columns="CATEGORY", values="PROBABILITY", aggfunc="sum")
    for segment in SEGMENT_NAMES:
        o = observed.loc[segment]
        e = expected.loc[segment].reindex(o.index).fillna(0)
        # ratios to the population reveal each segment's signature
        lift_o = np.log((o + 1e-4) / (observed.mean() + 1e-4))
        lift_e = np.log(
            (e / e.sum() + 1e-4) / (expected.div(expected.sum(axis=1), axis=0).mean().reindex(o.index) + 1e-4)
        )
        assert np.corrcoef(lift_o, lift_e)[0, 1] > 0.8, segment


def test_same_seed_same_tables_other_seed_other_tables(tmp_path):
    a = simulate_warehouse(tmp_path / "a.duckdb", 120, seed=5)
    b = simulate_warehouse(tmp_path / "b.duckdb", 120, seed=5)
    c = simulate_warehouse(tmp_path / "c.duckdb", 120, seed=6)
    assert a.checksum == b.checksum == warehouse_checksum(tmp_path / "a.duckdb")
    assert a.checksum != c.checksum
    ta, tb = read_tables(tmp_path / "a.duckdb"), read_tables(tmp_path / "b.duckdb")
    for t in TABLES:  # same rows in the same order
        pd.testing.assert_frame_equal(ta[t], tb[t])


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        simulate_warehouse(tmp_path / "x.duckdb", "huge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 50"):
        simulate_warehouse(tmp_path / "x.duckdb", 10)
    (tmp_path / "exists.duckdb").write_text("")
    with pytest.raises(FileExistsError, match="overwrite"):
        simulate_warehouse(tmp_path / "exists.duckdb", 60)
    assert not list(tmp_path.glob("tmp*.duckdb"))  # nothing half-written left behind


def test_profiles_without_mass_on_a_label_block_are_handled(tmp_path):
    # tiny concentrations make Dirichlet profiles with no mass at all on small label blocks
    # (bag brands, shoe brands); such an author must simply never draw from the block. The
    # stacked CDF used to get NaN rows there, and the label search then read other authors' rows.
    import dataclasses
    import warnings

    from bayesseg.simulate import Calibration

    cal = Calibration()
    cal = dataclasses.replace(cal, concentrations={k: 0.05 for k in cal.concentrations})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = simulate_warehouse(tmp_path / "w.duckdb", 300, seed=9, calibration=cal)
    assert result.row_counts["TECHTEST.MART_IMAGES_LABELS"] > 0


def test_generic_objects_simulated_alike_as_a_category_or_an_exclusion(tmp_path):
    # taxonomy 2026.11.2 made the generic COCO objects a category; the simulator's truth keys
    # them by name either way, so a taxonomy that still excludes them simulates the same warehouse
    doc = tomllib.loads(default_taxonomy_path().read_text())
    del doc["categories"]["non_fashion_object"]
    doc["exclusions"]["non_fashion_object"] = "generic COCO object"
    labels = doc["labels"]["object_detection"]
    generic = [k for k, v in labels.items() if v == "non_fashion_object"]
    assert len(generic) == 63
    for k in generic:
        labels[k] = {"exclude": "non_fashion_object"}
    old = Taxonomy.from_dict(doc)
    assert "non_fashion_object" not in old.category_names
    a = simulate_warehouse(tmp_path / "a.duckdb", 150, seed=7)
    b = simulate_warehouse(tmp_path / "b.duckdb", 150, seed=7, taxonomy=old)
    assert a.checksum == b.checksum
