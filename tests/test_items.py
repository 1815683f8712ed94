"""Trends of one fashion item: labels crossed on one detected box, against the simulator's item truth."""

import duckdb
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesseg.config import Trend, TrendConfig
from bayesseg.data.aggregate import trend_data, trend_post_counts
from bayesseg.data.boxes import BoxFormat, box_corners, resolve_box_format, same_item_sql
from bayesseg.data.quality import data_quality
from bayesseg.data.sources import DuckDBSource
from bayesseg.data.sql import DUCKDB
from bayesseg.exceptions import InputError
from bayesseg.simulate import simulate_warehouse
from bayesseg.simulate.items import ITEM_TRENDS, crossing_names
from bayesseg.workflow.trends_section import item_scope_html, item_scope_pairs

from .conftest import read_tables, write_tables

CROSSINGS = [name for item, label in ITEM_TRENDS for name in crossing_names(item, label)]


# ------------------------------------------------------------------------------ syntax
def test_ampersand_means_one_item_plus_one_image_and_mixing_is_refused():
    item = Trend.parse("object_detection:top & pattern:stripes")
    assert item.scope == "item" and item.labels == (("object_detection", "top"), ("pattern", "stripes"))
    assert Trend.parse("pattern:stripes+object_detection:top").scope == "image"
    assert Trend.parse("pattern:stripes").scope == "image"  # one label is its own item
    with pytest.raises(InputError, match="mixes"):
        Trend.parse("object_detection:top & pattern:stripes + shoe:boots")
    with pytest.raises(InputError, match="repeats"):
        Trend.parse("pattern:stripes & pattern:stripes")
    cfg = TrendConfig().with_series(["object_detection:top & pattern:stripes", "pattern:leopard"])
    assert [t.scope for t in cfg.trends] == ["item", "image"]
    with pytest.raises(InputError, match="repeat"):
        TrendConfig().with_series(["pattern:leopard", "pattern:leopard"])


@pytest.mark.parametrize(
    ("key", "value"), [("box_format", "xyxz"), ("item_iou", 0.0), ("item_iou", 1.5), ("item_iou", True)]
)
def test_box_settings_are_validated(key, value):
    with pytest.raises(ValueError, match=key):
        TrendConfig.from_dict({key: value}, lambda k, m: ValueError(f"{k}: {m}"))


# ------------------------------------------------------------------------------ geometry
def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of corner boxes, rows of a against rows of b (numpy, independent of the SQL)."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.mark.parametrize("fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("iou", [0.3, 0.5, 0.9])
def test_the_same_item_predicate_is_intersection_over_union(fmt, iou):
    rng = np.random.default_rng(7)
    n = 4_000
    corners = np.sort(rng.random((2, n, 2, 2)), axis=2)  # (box, row, x|y, low|high)
    a, b = (np.column_stack([c[:, 0, 0], c[:, 1, 0], c[:, 0, 1], c[:, 1, 1]]) for c in corners)
    b[::3] = a[::3] + rng.normal(0, 0.01, (len(a[::3]), 4))  # many near-equal pairs
    b[::3, 2:] = np.maximum(b[::3, 2:], b[::3, :2] + 1e-3)

    def encode(c: np.ndarray) -> np.ndarray:
        w, h = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
        if fmt == "xyxy":
            return c
        if fmt == "xywh":
            return np.column_stack([c[:, 0], c[:, 1], w, h])
        return np.column_stack([c[:, 0] + w / 2, c[:, 1] + h / 2, w, h])

    con = duckdb.connect()
    con.register("pairs", pd.DataFrame({"i": np.arange(n), "pa": list(encode(a)), "pb": list(encode(b))}))
    ca, cb = box_corners(DUCKDB, fmt, "pa"), box_corners(DUCKDB, fmt, "pb")
    got = con.execute(
        f"""WITH boxes AS (
            SELECT i, {ca["x1"]} AS AX1, {ca["y1"]} AS AY1, {ca["x2"]} AS AX2, {ca["y2"]} AS AY2,
                   {cb["x1"]} AS BX1, {cb["y1"]} AS BY1, {cb["x2"]} AS BX2, {cb["y2"]} AS BY2 FROM pairs)
        SELECT i FROM (SELECT i, AX1 AS X1, AY1 AS Y1, AX2 AS X2, AY2 AS Y2 FROM boxes) a
        JOIN (SELECT i, BX1 AS X1, BY1 AS Y1, BX2 AS X2, BY2 AS Y2 FROM boxes) b USING (i)
        WHERE {same_item_sql("a", "b", iou)} ORDER BY i"""
    ).fetchnumpy()["i"]
    ratio = _iou(a, b)
    clear = np.abs(ratio - iou) > 1e-9  # rounding at the threshold itself is neither's to decide
    expected = np.flatnonzero(ratio >= iou)
    np.testing.assert_array_equal(np.isin(np.arange(n), got)[clear], np.isin(np.arange(n), expected)[clear])
    assert 50 < len(expected) < n  # both outcomes are exercised
    with pytest.raises(InputError, match="item_iou"):
        same_item_sql("a", "b", 0.0)


def test_equal_boxes_are_one_item_at_iou_one():
    con = duckdb.connect()
    predicate = same_item_sql("a", "b", 1.0)
    row = "SELECT 0.1234 AS X1, 0.2 AS Y1, 0.3337 AS X2, 0.71 AS Y2"
    assert con.execute(f"SELECT COUNT(*) FROM ({row}) a, ({row}) b WHERE {predicate}").fetchone() == (1,)
    shifted = "SELECT 0.1235 AS X1, 0.2 AS Y1, 0.3337 AS X2, 0.71 AS Y2"
    assert con.execute(f"SELECT COUNT(*) FROM ({row}) a, ({shifted}) b WHERE {predicate}").fetchone() == (0,)


# ------------------------------------------------------------------------------ a hand-made warehouse
def _label_frames(small_frames, rows):
    """The small warehouse with its label table replaced by `rows` on its first three images."""
    frames = dict(small_frames)
    images = frames["MART_IMAGES_OF_POSTS"]["IMAGE_ID"].drop_duplicates().iloc[:3].tolist()
    labels = pd.DataFrame(rows, columns=["img", "TYPE", "POSITION_IN_IMAGE", "LABEL_NAME"])
    labels["IMAGE_ID"] = [images[i] for i in labels.pop("img")]
    frames["MART_IMAGES_LABELS"] = labels[["IMAGE_ID", "TYPE", "POSITION_IN_IMAGE", "LABEL_NAME"]]
    return frames, images


# image 0: a striped top (same box), plain pants; image 1: stripes on the pants beside a top;
# image 2: a top, stripes with a malformed box, a shoe type whose box is no item, an inverted box
HAND = [
    (0, "object_detection", [0.10, 0.10, 0.20, 0.30], "top"),
    (0, "object_detection", [0.11, 0.10, 0.20, 0.30], "top"),  # a repeated detection, shifted
    (0, "pattern", [0.10, 0.10, 0.20, 0.30], "stripes"),
    (0, "object_detection", [0.50, 0.50, 0.20, 0.30], "pants"),
    (0, "pattern", [0.50, 0.50, 0.20, 0.30], "plain"),
    (1, "object_detection", [0.10, 0.10, 0.20, 0.30], "top"),
    (1, "object_detection", [0.50, 0.50, 0.20, 0.30], "pants"),
    (1, "pattern", [0.50, 0.50, 0.20, 0.30], "stripes"),
    (2, "object_detection", [0.10, 0.10, 0.20, 0.30], "top"),
    (2, "pattern", [0.10, 0.10, 0.20], "stripes"),  # wrong length
    (2, "pattern", None, "stripes"),  # NULL
    (2, "shoe", [0.70, 0.10, 0.10, 0.10], "sneakersrunning"),  # no shoes detected
    (2, "object_detection", [0.60, 0.60, -0.10, 0.20], "bag"),  # negative width: corners out of order
]


@pytest.fixture(scope="module")
def hand_warehouse(small_frames, tmp_path_factory):
    frames, images = _label_frames(small_frames, HAND)
    return write_tables(tmp_path_factory.mktemp("hand") / "w.duckdb", frames), images, frames


def test_item_counts_defects_and_format_on_a_hand_made_warehouse(hand_warehouse, taxonomy):
    path, images, frames = hand_warehouse
    posts = frames["MART_IMAGES_OF_POSTS"]
    trends = [
        Trend.parse("object_detection:top & pattern:stripes"),
        Trend.parse("pattern:stripes+object_detection:top"),
    ]
    with DuckDBSource(path) as src:
        fmt = resolve_box_format(src)
        hits = trend_post_counts(src, trends, item_iou=0.5)
        exact = trend_post_counts(src, trends[:1], item_iou=1.0)
        report = data_quality(src, taxonomy)
    assert fmt.name == "xywh" and fmt.n_boxes == 11  # widths below x on most boxes
    posts_of = lambda imgs: posts.loc[posts["IMAGE_ID"].isin(imgs), "POST_ID"].nunique()  # noqa: E731
    by_trend = hits.groupby("trend")["n_posts"].sum()
    assert by_trend["object_detection:top & pattern:stripes"] == posts_of(images[:1])  # only the striped top
    assert by_trend["pattern:stripes+object_detection:top"] == posts_of(images)  # stripes and a top anywhere
    assert exact["n_posts"].sum() == posts_of(images[:1])  # the pattern's box equals the top's first box
    assert report["position_malformed"].n == 2
    assert report["position_inverted"].n == 1 and report["position_inverted"].total == 11
    # downstream rows with a valid box: stripes x2 (images 0, 1), plain, sneakersrunning; the last is on no item
    assert (report["labels_without_item"].n, report["labels_without_item"].total) == (1, 4)
    assert report.box_format is not None and "corner and size" in report.box_format.describe()


def test_corners_are_recognised_and_a_declared_reading_wins(small_frames, taxonomy, tmp_path):
    rows = [(0, "object_detection", [0.1, 0.1, 0.3, 0.4], "top"), (0, "pattern", [0.1, 0.1, 0.3, 0.4], "stripes")]
    frames, _ = _label_frames(small_frames, rows)
    with DuckDBSource(write_tables(tmp_path / "w.duckdb", frames)) as src:
        assert resolve_box_format(src).name == "xyxy"
        assert resolve_box_format(src, "cxcywh") == BoxFormat("cxcywh", "cxcywh")
        with pytest.raises(InputError, match="box_format"):
            resolve_box_format(src, "yolo")
    frames, images = _label_frames(small_frames, [(0, "pattern", None, "stripes")])
    posts = frames["MART_IMAGES_OF_POSTS"]
    with DuckDBSource(write_tables(tmp_path / "n.duckdb", frames)) as src:
        with pytest.raises(InputError, match="cannot be inferred"):
            resolve_box_format(src)
        # an image-level trend reads no box
        n = trend_post_counts(src, [Trend.parse("pattern:stripes")])["n_posts"].sum()
        assert n == posts.loc[posts["IMAGE_ID"] == images[0], "POST_ID"].nunique()
        report = data_quality(src, taxonomy)
    assert report["position_malformed"].n == 1 and report.box_format is None
    assert report["labels_without_item"].total == 0


def test_snowflake_dialect_gives_the_same_item_counts(hand_warehouse):
    import fakesnow  # a required test dependency: its absence fails the suite

    from bayesseg.data.snowflake import SnowflakeSource

    path, _, _ = hand_warehouse
    frames = read_tables(path)
    trends = [
        Trend.parse("object_detection:top & pattern:stripes"),
        Trend.parse("pattern:stripes+object_detection:top"),
    ]
    with DuckDBSource(path) as src:
        expected = trend_post_counts(src, trends)
    with fakesnow.patch():
        src = SnowflakeSource(account="fakesnow", user="test")
        src.load_contract_tables(frames)
        got = trend_post_counts(src, trends)
        assert resolve_box_format(src).name == "xywh"
        src.close()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


# ------------------------------------------------------------------------------ the simulator's items
@pytest.mark.parametrize("iou", [0.5, 1.0])
def test_item_series_equal_the_simulators_item_truth(small_warehouse, iou):
    with DuckDBSource(small_warehouse) as src:
        data = trend_data(src, [Trend.parse(n) for n in CROSSINGS], item_iou=iou)
    truth = duckdb.connect(str(small_warehouse), read_only=True).execute("SELECT * FROM TRUTH.ITEM_TREND_SERIES").df()
    share = (data["hits"].sum("author") / data["posts"].sum("author")).to_pandas()
    for name in CROSSINGS:
        t = truth[truth["TREND"] == name].set_index("WEEK")
        np.testing.assert_allclose(share.loc[name].reindex(t.index), t["SHARE"], atol=1e-12, err_msg=name)
    hits = data["hits"].sum(["author", "week"]).to_series()
    image, item = crossing_names(*ITEM_TRENDS[0])
    assert 0 < hits[item] < hits[image]  # a striped anything beside a top is not always a striped top


def test_simulated_boxes_are_coherent_with_items(small_frames):
    labels = small_frames["MART_IMAGES_LABELS"]
    box = np.stack(labels["POSITION_IN_IMAGE"].to_numpy())
    labels = labels.assign(x1=box[:, 0], y1=box[:, 1], x2=box[:, 0] + box[:, 2], y2=box[:, 1] + box[:, 3])
    assert (box[:, 2] > 0).all() and (box[:, 3] > 0).all() and (labels["x2"] <= 1).all()
    items = labels[labels["TYPE"] == "object_detection"]
    cols = ["x1", "y1", "x2", "y2"]
    # repeated detections are slightly shifted copies of one box (each within 3 % of it)
    pairs = items.merge(items, on=["IMAGE_ID", "LABEL_NAME"])
    ious = _iou(pairs[[c + "_x" for c in cols]].to_numpy(), pairs[[c + "_y" for c in cols]].to_numpy())
    assert len(pairs) > len(items) and ious.min() > 0.7
    # boxes of different items of one image never overlap
    pairs = items.merge(items, on="IMAGE_ID")
    pairs = pairs[pairs["LABEL_NAME_x"] < pairs["LABEL_NAME_y"]]
    ious = _iou(pairs[[c + "_x" for c in cols]].to_numpy(), pairs[[c + "_y" for c in cols]].to_numpy())
    assert len(pairs) and ious.max() == 0
    # a shoe type sits on the shoes' box whenever the image has shoes
    shoe = labels[labels["TYPE"] == "shoe"].merge(items[items["LABEL_NAME"] == "shoes"], on="IMAGE_ID")
    shoe["iou"] = _iou(shoe[[c + "_x" for c in cols]].to_numpy(), shoe[[c + "_y" for c in cols]].to_numpy())
    assert len(shoe) and shoe.groupby(["IMAGE_ID", "LABEL_NAME_x", "x1_x", "y1_x"])["iou"].max().min() > 0.7


# ------------------------------------------------------------------------------ the report
def test_the_report_pairs_item_and_image_trends():
    names = ["pattern:stripes", "pattern:stripes+object_detection:top", "object_detection:top & pattern:stripes"]
    assert item_scope_pairs(names) == [(names[1], names[2])]
    assert item_scope_pairs(names[:2]) == []
    assert item_scope_pairs(["t", *names]) == [(names[1], names[2])]  # a series not named by its text
    weeks = pd.date_range("2024-01-01", periods=4, freq="7D")
    share = np.array([[[0.02] * 4, [0.04] * 4], [[0.01] * 4, [0.01] * 4], [[0.005] * 4, [0.002] * 4]])
    s = xr.Dataset(
        {"weighted_share": (("trend", "panel", "week"), share), "raw_share": (("trend", "panel", "week"), share)},
        coords={"trend": names, "panel": ["all", "fashion_forward"], "week": weeks},
    )
    html = item_scope_html(s)
    assert "One item or one image" in html and "0.5000" in html and "0.2000" in html  # 0.005/0.01, 0.002/0.01
    assert "labels joined by &amp;)" in html  # escaped once
    assert item_scope_html(s.sel(trend=names[:2])) == ""


def test_elements_that_are_not_numbers_are_counted_not_fatal(small_frames, taxonomy, tmp_path):
    rows = [
        (0, "object_detection", ["0.1", "0.1", "0.2", "0.3"], "top"),
        (0, "pattern", ["0.1", "0.1", "0.2", "0.3"], "stripes"),
        (1, "object_detection", ["0.1", "abc", "0.2", "0.3"], "top"),
        (1, "pattern", ["0.1", "abc", "0.2", "0.3"], "stripes"),
    ]
    frames, images = _label_frames(small_frames, rows)
    types = {("MART_IMAGES_LABELS", "POSITION_IN_IMAGE"): "VARCHAR[]"}
    posts = frames["MART_IMAGES_OF_POSTS"]
    with DuckDBSource(write_tables(tmp_path / "w.duckdb", frames, types)) as src:
        hits = trend_post_counts(src, [Trend.parse("object_detection:top & pattern:stripes")], box_format="xywh")
        report = data_quality(src, taxonomy, box_format="xywh")
    assert hits["n_posts"].sum() == posts.loc[posts["IMAGE_ID"] == images[0], "POST_ID"].nunique()
    assert (report["position_inverted"].n, report["position_inverted"].total) == (2, 4)


@pytest.mark.slow
def test_item_series_equal_the_item_truth_on_the_techtest_size_warehouse(tmp_path):
    path = simulate_warehouse(tmp_path / "techtest.duckdb", "techtest", seed=5).path
    with DuckDBSource(path) as src:
        assert resolve_box_format(src).name == "xywh"
        data = trend_data(src, [Trend.parse(n) for n in CROSSINGS])
    truth = duckdb.connect(str(path), read_only=True).execute("SELECT * FROM TRUTH.ITEM_TREND_SERIES").df()
    share = (data["hits"].sum("author") / data["posts"].sum("author")).to_pandas()
    for name in CROSSINGS:
        t = truth[truth["TREND"] == name].set_index("WEEK")
        np.testing.assert_allclose(share.loc[name].reindex(t.index), t["SHARE"], atol=1e-12, err_msg=name)
