"""`bayesseg run` end to end: tables written back, report, saved model, and the same run on Snowflake."""

import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from bayesseg.aggregate import author_covariates
from bayesseg.cli import main
from bayesseg.model import SegmentModel
from bayesseg.pipeline import RESULT_TABLES, TREND_TABLE
from bayesseg.report import SECTIONS
from bayesseg.sources import DuckDBSource
from bayesseg.trends import TREND_SERIES_COLUMNS

TINY = Path(__file__).parent / "data" / "tiny_spec.toml"
KEYS = ["AUTHORID", "SEGMENT"]


def _read(path: Path, schema: str = "BAYESSEG") -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {schema}.{t}").df() for t in (*RESULT_TABLES, TREND_TABLE)}
    finally:
        con.close()


@pytest.fixture(scope="module")
def duckdb_run(small_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    warehouse = root / "w.duckdb"
    shutil.copy(small_warehouse, warehouse)
    out = root / "out"
    assert main(["run", "--source", f"duckdb:{warehouse}", "--config", str(TINY), "--out", str(out)]) == 0
    return warehouse, out


def test_every_author_is_segmented_or_excluded(duckdb_run):
    warehouse, _ = duckdb_run
    tables = _read(warehouse)
    with DuckDBSource(warehouse) as src:
        everyone = set(author_covariates(src)["author"])
    seg, exc = tables["AUTHOR_SEGMENTS"], tables["EXCLUDED_AUTHORS"]
    assert set(seg["AUTHORID"]) | set(exc["AUTHORID"]) == everyone
    assert not set(seg["AUTHORID"]) & set(exc["AUTHORID"])
    assert exc["REASON"].str.len().gt(0).all() and "no posts" in set(exc["REASON"])
    # one row per author and segment; probabilities sum to one; intervals ordered; one modal segment
    assert not seg.duplicated(KEYS).any()
    assert (seg.groupby("AUTHORID").size() == 2).all()
    np.testing.assert_allclose(seg.groupby("AUTHORID")["PROB_MEAN"].sum(), 1.0, atol=1e-9)
    # equal-tailed intervals: ordered, inside [0, 1] (they need not contain the mean of a skewed posterior)
    assert (seg["PROB_LOW"] <= seg["PROB_HIGH"]).all()
    assert ((seg["PROB_LOW"] >= 0) & (seg["PROB_HIGH"] <= 1)).all()
    assert (seg.groupby("AUTHORID")["IS_MODAL"].sum() == 1).all()
    top = seg.loc[seg.groupby("AUTHORID")["PROB_MEAN"].idxmax()]
    assert top["IS_MODAL"].all()
    assert set(seg["SEGMENT_NAME"]) == {"luxury", "segment_1"}
    assert seg["MODEL_ID"].nunique() == 1 and seg["FITTED_AT"].notna().all()
    assert set(seg["CURRENT_TIER"].dropna()) <= {"mainstream", "trendy", "edgy"}


def test_segment_profiles_are_distributions(duckdb_run):
    prof = _read(duckdb_run[0])["SEGMENT_PROFILES"]
    np.testing.assert_allclose(prof.groupby("SEGMENT")["PROFILE_MEAN"].sum(), 1.0, atol=1e-9)
    assert (prof["PROFILE_LOW"] <= prof["PROFILE_HIGH"]).all() and (prof["PROFILE_LOW"] > 0).all()
    assert prof.groupby("SEGMENT").size().nunique() == 1 and (prof["LIFT"] > 0).all()


def test_report_has_every_section_and_embedded_images(duckdb_run):
    html = (duckdb_run[1] / "report.html").read_text()
    expected = [k for k in SECTIONS if k != "loo"]  # a single K: no LOO comparison
    assert re.findall(r'<section id="(\w+)"', html) == expected
    images = re.findall(r'<img alt="figure" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 5 and all(len(i) > 5_000 for i in images)
    assert "http://" not in html and "https://" not in html.split("<body>")[0]  # nothing to fetch
    assert "adjusted Rand index" in html  # the simulator's truth is there, so is the validation


def test_trend_series_written_back_and_to_csv(duckdb_run):
    warehouse, out = duckdb_run
    table = _read(warehouse)[TREND_TABLE]
    assert list(table.columns) == list(TREND_SERIES_COLUMNS)
    csv = pd.read_csv(out / "trend_series.csv")
    assert list(csv.columns) == list(TREND_SERIES_COLUMNS) and len(csv) == len(table)
    assert set(table["TREND"]) == {"pattern:stripes", "pattern:stripes+object_detection:top"}
    panels = set(table["PANEL"])
    assert {"all", "fashion_forward", "tier:mainstream", "segment:luxury", "segment:segment_1"} <= panels
    # one row per trend x panel x week; shares in [0, 1]; bands ordered
    assert not table.duplicated(["TREND", "PANEL", "WEEK"]).any()
    for col in ("RAW_SHARE", "WEIGHTED_SHARE", "LOW", "HIGH"):
        v = table[col].dropna()
        assert ((v >= 0) & (v <= 1)).all(), col
    both = table.dropna(subset=["LOW", "HIGH"])
    assert (both["LOW"] <= both["HIGH"] + 1e-12).all()
    # the unweighted panels' corrected series is their raw series (weighting "none" in the tiny spec)
    ff = table[table["PANEL"] == "fashion_forward"].dropna(subset=["RAW_SHARE"])
    np.testing.assert_allclose(ff["WEIGHTED_SHARE"], ff["RAW_SHARE"], rtol=1e-12)
    html = (out / "report.html").read_text()
    assert 'id="trends"' in html and "Distance of the fashion-forward series" in html


def test_trends_command_reuses_a_saved_model(duckdb_run, tmp_path, capsys):
    warehouse, out = duckdb_run
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    args = ["trends", "--source", f"duckdb:{copy}", "--config", str(TINY), "--model", str(out), "--out", str(tmp_path)]
    assert main([*args, "--no-write-back"]) == 0
    got = pd.read_csv(tmp_path / "trend_series.csv")
    expected = pd.read_csv(out / "trend_series.csv")
    # the same model, data and seed: the same series
    pd.testing.assert_frame_equal(got, expected)
    assert "trend_series.csv" in capsys.readouterr().out
    # a specification without trends is a clear error
    no_trends = tmp_path / "no_trends.toml"
    no_trends.write_text(TINY.read_text().split("[trends]")[0])
    assert main(["trends", "--source", f"duckdb:{copy}", "--config", str(no_trends), "--out", str(tmp_path)]) == 2
    assert "declares no trend" in capsys.readouterr().err


def test_rank_command_ranks_posts_for_a_segment(duckdb_run, tmp_path):
    warehouse, out = duckdb_run
    con = duckdb.connect(str(warehouse), read_only=True)
    labels = con.execute(
        "SELECT IMAGE_ID AS POST_ID, TYPE, LABEL_NAME FROM TECHTEST.MART_IMAGES_LABELS "
        "WHERE IMAGE_ID IN (SELECT DISTINCT IMAGE_ID FROM TECHTEST.MART_IMAGES_LABELS LIMIT 30)"
    ).df()
    con.close()
    posts = tmp_path / "posts.csv"
    labels.to_csv(posts, index=False)
    ranked_csv = tmp_path / "ranked.csv"
    args = ["rank", "--model", str(out), "--posts", str(posts), "--segment", "luxury", "--out", str(ranked_csv)]
    assert main(args) == 0
    ranked = pd.read_csv(ranked_csv)
    assert set(ranked["post"]) == set(labels["POST_ID"])  # ranked or excluded with a reason
    scored = ranked.dropna(subset=["rank"])
    assert scored["prob_segment"].is_monotonic_decreasing and scored["prob_segment"].between(0, 1).all()
    assert ranked.loc[ranked["rank"].isna(), "reason"].eq("no label with a category").all()
    assert main([*args[:-2], "--segment", "goth", "--out", str(ranked_csv)]) == 2


def test_saved_model_loads_and_scores_identically(duckdb_run):
    warehouse, out = duckdb_run
    model = SegmentModel.load(out / "model.nc")
    seg = _read(warehouse)["AUTHOR_SEGMENTS"]
    mem = pd.read_csv(out / "memberships.csv")
    counts = pd.read_parquet(out / "counts.parquet")
    cov = pd.read_parquet(out / "covariates.parquet")
    from bayesseg.pipeline import model_inputs
    from bayesseg.spec import RunSpec
    from bayesseg.taxonomy import Taxonomy

    inputs = model_inputs(counts, cov, RunSpec.from_toml(TINY), Taxonomy.from_toml().category_names)
    again = model.predict_proba(inputs.counts, inputs.covariates)
    got = again["prob_mean"].to_series().rename("PROB_MEAN").reset_index()
    merged = seg.merge(got, left_on=["AUTHORID", "SEGMENT_NAME"], right_on=["author", "segment"])
    assert len(merged) == len(seg)
    np.testing.assert_array_equal(merged["PROB_MEAN_x"], merged["PROB_MEAN_y"])
    assert len(mem) == len(seg)


def test_rerun_replaces_result_tables_and_leaves_others(duckdb_run, tmp_path):
    warehouse, _ = duckdb_run
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy))
    con.execute("CREATE TABLE BAYESSEG.NOTES AS SELECT 1 AS X")
    mart_before = con.execute("SELECT COUNT(*) FROM TECHTEST.MART_IMAGES_LABELS").fetchone()
    con.close()
    before = _read(copy)
    with DuckDBSource(copy, read_only=False) as src:
        src.write_tables({"AUTHOR_SEGMENTS": before["AUTHOR_SEGMENTS"].head(10)}, "BAYESSEG")
    con = duckdb.connect(str(copy), read_only=True)
    assert con.execute("SELECT COUNT(*) FROM BAYESSEG.AUTHOR_SEGMENTS").fetchone() == (10,)
    assert con.execute("SELECT COUNT(*) FROM BAYESSEG.EXCLUDED_AUTHORS").fetchone() == (
        len(before["EXCLUDED_AUTHORS"]),
    )
    assert con.execute("SELECT X FROM BAYESSEG.NOTES").fetchone() == (1,)
    assert con.execute("SELECT COUNT(*) FROM TECHTEST.MART_IMAGES_LABELS").fetchone() == mart_before
    con.close()


def test_a_failed_write_changes_nothing(duckdb_run, tmp_path):
    warehouse, _ = duckdb_run
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    before = _read(copy)
    from bayesseg.sources import SourceError

    # the second table fails (not an identifier) after the first was replaced: both roll back
    frames = {"AUTHOR_SEGMENTS": before["AUTHOR_SEGMENTS"].head(3), "NOT AN IDENTIFIER": before["EXCLUDED_AUTHORS"]}
    with DuckDBSource(copy, read_only=False) as src, pytest.raises(SourceError, match="writing BAYESSEG tables failed"):
        src.write_tables(frames, "BAYESSEG")
    after = _read(copy)
    for t in RESULT_TABLES:
        pd.testing.assert_frame_equal(after[t], before[t])
    with DuckDBSource(copy) as src, pytest.raises(SourceError, match="read-only"):
        src.write_tables({"T": before["EXCLUDED_AUTHORS"]}, "BAYESSEG")


def test_same_run_through_fakesnow_gives_the_same_tables(duckdb_run, small_frames, tmp_path, monkeypatch):
    fakesnow = pytest.importorskip("fakesnow")
    from bayesseg.sources import SnowflakeSource

    warehouse, _ = duckdb_run
    expected = _read(warehouse)
    with fakesnow.patch():
        src = SnowflakeSource()
        src.load_contract_tables(small_frames)
        # the CLI would open its own connection; fakesnow's databases live in this process
        monkeypatch.setattr("bayesseg.cli._open", lambda spec, read_only=True: src)
        assert main(["run", "--source", "snowflake", "--config", str(TINY), "--out", str(tmp_path / "out")]) == 0
        src = SnowflakeSource()
        got = {t: src.query(f"SELECT * FROM {src.database}.BAYESSEG.{t}") for t in (*RESULT_TABLES, TREND_TABLE)}
        src.close()
    for t in (*RESULT_TABLES, TREND_TABLE):
        a = expected[t].drop(columns=["MODEL_ID", "FITTED_AT"], errors="ignore")
        b = got[t][list(a.columns)]
        keys = [c for c in ("AUTHORID", "SEGMENT", "CATEGORY", "TREND", "PANEL", "WEEK") if c in a.columns]
        if "WEEK" in a.columns:
            a["WEEK"], b["WEEK"] = pd.to_datetime(a["WEEK"]), pd.to_datetime(b["WEEK"])
        a = a.sort_values(keys).reset_index(drop=True)
        b = b.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(b, a, check_dtype=False, obj=t)
    assert "validation" not in (tmp_path / "out" / "report.html").read_text().split("<body>")[1][:2000]


def test_run_builds_the_embedded_default_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESSEG_WAREHOUSE", str(tmp_path / "data" / "default.duckdb"))
    monkeypatch.setattr("bayesseg.simulate.SIZES", {"demo": 60, "techtest": 32_841})
    out = tmp_path / "out"
    assert main(["run", "--config", str(TINY), "--out", str(out), "--no-write-back"]) == 0
    assert (tmp_path / "data" / "default.duckdb").exists() and (out / "report.html").exists()
    con = duckdb.connect(str(tmp_path / "data" / "default.duckdb"), read_only=True)
    schemas = set(con.execute("SELECT schema_name FROM information_schema.schemata").df()["schema_name"])
    con.close()
    assert "BAYESSEG" not in schemas  # --no-write-back


def test_dry_run_lists_every_stage(capsys):
    assert main(["run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for stage in ("schema", "quality", "aggregate", "fit", "score", "check", "write", "report"):
        assert f"{stage}:" in out
    assert "K: [6]" in out


def test_bad_config_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[segments]\nk = 1\n")
    assert main(["run", "--config", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "segments.k" in err and "Traceback" not in err
