"""`bayesseg run` end to end: tables written back, report, saved model, and the same run on Snowflake."""

import io
import json
import re
import shutil
import warnings
from html import escape as html_escape
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from bayesseg.cli import main
from bayesseg.config import RunSpec
from bayesseg.data.aggregate import author_covariates
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.model import SegmentModel
from bayesseg.model.diagnostics import POSTERIOR_VARIABLES
from bayesseg.survey.panel import LEAD_COLUMNS, POOLED
from bayesseg.survey.trends import TREND_SERIES_COLUMNS
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.report import SECTIONS, ppc_html
from bayesseg.workflow.tables import LEAD_TABLE, RESULT_TABLES, TREND_TABLE

TINY = Path(__file__).parent / "data" / "tiny_spec.toml"
KEYS = ["AUTHORID", "SEGMENT"]


def _read(path: Path, schema: str = "BAYESSEG") -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {schema}.{t}").df() for t in (*RESULT_TABLES, TREND_TABLE, LEAD_TABLE)}
    finally:
        con.close()


@pytest.fixture(scope="module")
def duckdb_run(small_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    warehouse = root / "w.duckdb"
    shutil.copy(small_warehouse, warehouse)
    out = root / "out"
    # --dask: the scoring stage runs on a local Dask cluster; test_saved_model_loads_and_scores_identically
    # then checks that it wrote exactly the in-memory memberships
    argv = ["run", "--source", f"duckdb:{warehouse}", "--config", str(TINY), "--out", str(out), "--dask"]
    assert main(argv) == 0
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


def test_report_and_run_json_carry_the_convergence_block(duckdb_run):
    out = duckdb_run[1]
    html = (out / "report.html").read_text()
    section = html.split('<section id="convergence">')[1].split("</section>")[0]
    rows = pd.read_html(io.StringIO(section))[0].set_index("variable")
    # against the saved model's own posterior summary, variable by variable
    model = SegmentModel.load(out / "model.nc")
    summary = model.summary(list(POSTERIOR_VARIABLES))
    variable = summary.index.str.split("[").str[0]
    assert set(rows.index) == set(variable)
    for name, entries in summary.groupby(variable):
        rhat = entries["r_hat"].astype(float)
        assert rows.loc[name, "entries"] == len(entries)
        assert rows.loc[name, "largest R-hat"] == pytest.approx(rhat.max(), abs=5e-4)
        assert rows.loc[name, "at"] == rhat.idxmax()
        assert rows.loc[name, "smallest bulk ESS"] == pytest.approx(entries["ess_bulk"].min(), abs=0.5)
    block = json.loads((out / "run.json").read_text())["convergence"]
    # the section opens with its verdict line
    status = "pass" if block["passed"] else "fail"
    assert re.search(rf'<p class="verdict verdict-{status}"><strong>{status}</strong>The fit', section)
    assert block["max_rhat"] == pytest.approx(summary["r_hat"].max(), abs=1e-9)
    assert block["max_rhat_at"] == summary["r_hat"].astype(float).idxmax()
    assert block["min_ess_tail"] == pytest.approx(summary["ess_tail"].min(), abs=1e-9)
    assert block["passed"] == (not block["failures"])
    # the EM restarts the chains started from are listed, best first
    best = max(model.em_log_likelihoods_)
    assert len(model.em_log_likelihoods_) == model.sampler_config["em_restarts"]
    assert f"log-likelihoods, best first: {best:,.1f}" in section


def test_report_and_data_quality_page_pass_the_browser_checks(duckdb_run, page_check):
    # no sideways scroll at 1280 and 800 px, every image decodes, no console error, anchors resolve
    out = duckdb_run[1]
    assert page_check(out / "report.html") + page_check(out / "data_quality.html") == []


def test_no_absolute_path_of_the_machine_in_run_json_or_the_pages(duckdb_run):
    warehouse, out = duckdb_run
    doc = json.loads((out / "run.json").read_text())
    # the spec under the working directory is relative, the shipped taxonomy is named as shipped
    assert doc["spec_path"] == str(TINY.resolve().relative_to(Path.cwd().resolve()))
    assert doc["spec"]["taxonomy"] is None  # the tiny spec uses the shipped taxonomy
    for name in ("run.json", "report.html", "data_quality.html"):
        text = (out / name).read_text()
        for root in (str(Path.cwd().resolve()), str(warehouse.parent), str(Path.home())):
            assert root not in text, f"{name} holds {root}"


def test_report_and_run_json_carry_the_predictive_checks_with_verdicts(duckdb_run):
    out = duckdb_run[1]
    block = json.loads((out / "run.json").read_text())["predictive_checks"]
    assert list(block) == ["zeros", "overdispersion", "cooccurrence", "max_share"]
    section = (out / "report.html").read_text().split('<section id="ppc">')[1].split("</section>")[0]
    verdicts = re.findall(r'<p class="verdict verdict-(\w+)"><strong>\w+</strong>([^<]*)</p>', section)
    # the largest-share verdict stands with its PIT plot, before the three others
    shown = [block["max_share"], block["zeros"], block["overdispersion"], block["cooccurrence"]]
    assert [v for v, _ in verdicts] == [b["verdict"] for b in shown]
    assert "p=" not in section  # arviz-plots' uniformity p-value, which rejects a correct model, is left off
    for (_, text), check in zip(verdicts, shown, strict=True):
        assert text == html_escape(check["message"])
        assert f"{check['n_extreme']} of {check['n_elements']}" in check["message"]
        assert check["verdict"] in ("pass", "look", "fail")


def test_trend_series_written_back_and_to_csv(duckdb_run):
    warehouse, out = duckdb_run
    tables = _read(warehouse)
    table = tables[TREND_TABLE]
    assert list(table.columns) == [*TREND_SERIES_COLUMNS, "MODEL_ID"]
    # every table written back names the fit it comes from
    assert (
        set(table["MODEL_ID"])
        == set(tables["AUTHOR_SEGMENTS"]["MODEL_ID"])
        == {json.loads((out / "run.json").read_text())["model_id"]}
    )
    csv = pd.read_csv(out / "trend_series.csv")
    assert list(csv.columns) == [*TREND_SERIES_COLUMNS, "MODEL_ID"] and len(csv) == len(table)
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
    # each panel's lead: the warehouse table is the CSV, one row per trend and panel, and one per panel pooled
    lead = tables[LEAD_TABLE]
    assert list(lead.columns) == [*LEAD_COLUMNS, "MODEL_ID"]
    assert len(lead) == (table["TREND"].nunique() + 1) * (table["PANEL"].nunique() - 1)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "panel_lead.csv"), lead.astype({"N_WEEKS": "int64"}), check_dtype=False
    )
    ok = lead["STATUS"] == "identified"
    assert (lead.loc[ok, "LOW"] <= lead.loc[ok, "LEAD_WEEKS"]).all() and (
        lead.loc[ok, "LEAD_WEEKS"] <= lead.loc[ok, "HIGH"]
    ).all()
    assert lead.loc[~ok, "LEAD_WEEKS"].isna().all() and lead.loc[ok, "LEAD_WEEKS"].abs().max() < 8
    # the gap decomposition: composition + behaviour = gap, in the CSV, run.json and the report
    decomposition = pd.read_csv(out / "panel_decomposition.csv", index_col="trend")
    np.testing.assert_allclose(decomposition["gap"], decomposition["composition"] + decomposition["behaviour"])
    run = json.loads((out / "run.json").read_text())["trends"]
    assert [r["trend"] for r in run["decomposition"]] == list(decomposition.index)
    # run.json: the fashion-forward panel's lead per trend, then on the rising trends together
    assert [r["TREND"] for r in run["fashion_forward_lead"]] == [*decomposition.index, POOLED]
    assert "Why the panel differs: composition and behaviour" in html and "Does a panel move first?" in html


def test_trends_section_reads_a_small_panel_by_month_with_verdicts(duckdb_run):
    out = duckdb_run[1]
    summary = json.loads((out / "run.json").read_text())["trends"]
    section = (out / "report.html").read_text().split('<section id="trends">')[1].split("</section>")[0]
    verdicts = re.findall(r'<p class="verdict verdict-(\w+)"><strong>\w+</strong>([^<]*)</p>', section)
    assert [text.split(":")[0] for _, text in verdicts[:2]] == ["Effective sample size", "Balance"]
    assert len(verdicts) == 3 and verdicts[2][1].startswith("The fashion-forward panel is ")  # its lead
    ess_status, ess_text = verdicts[0]
    below, weeks = summary["weeks_below_ess_floor"], summary["weeks"]
    assert ess_status == ("pass" if below == 0 else "look" if below <= weeks / 2 else "fail")
    if below:
        assert f"{below} of {weeks} weeks" in ess_text
    # the tiny run's panel is too small for weekly reading: monthly charts, the weekly view behind a toggle
    assert summary["weekly_readable"] is False and below > weeks / 2
    assert "Shown by month" in section and section.count("<details>") == 1
    assert "(months)</h3>" in section and section.index("<details>") < section.index("(months)</h3>")
    # balance: failing rows first, highlighted, as many as the verdict counts
    balance = section.split("Balance of the panel")[1]
    rows = balance.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    flags = [r.startswith(' class="flag"') for r in rows]
    assert flags == sorted(flags, reverse=True)
    if any(flags):
        assert verdicts[1][0] in ("look", "fail") and f"{sum(flags)} weighting variable(s)" in verdicts[1][1]
    else:
        assert verdicts[1][0] == "pass"


def test_free_segments_carry_their_reading_in_every_section(duckdb_run):
    out = duckdb_run[1]
    html = (out / "report.html").read_text().replace("<wbr>", "")  # the text, names whole
    profiles = pd.read_html(io.StringIO(html.split('<section id="profiles">')[1].split("</section>")[0]))[0]
    free = {r.segment: f"{r.segment} ({r._2})" for r in profiles.itertuples() if str(r.segment).startswith("segment_")}
    assert free, "the tiny spec leaves a free segment"
    for key in ("effects", "tiers", "trends"):
        section = html.split(f'<section id="{key}">')[1].split("</section>")[0]
        for name, label in free.items():
            assert html_escape(label) in section, (key, label)
            assert re.search(rf"{name}(?! \()\b", section) is None, (key, name)  # never the bare id


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
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "panel_lead.csv").drop(columns="MODEL_ID"),
        pd.read_csv(out / "panel_lead.csv").drop(columns="MODEL_ID"),
    )
    captured = capsys.readouterr()
    assert "trend_series.csv" in captured.out
    # stderr is not a terminal here: the replicates report their progress as lines, the last at 100 %
    progress = [line for line in captured.err.splitlines() if "replicate" in line]
    assert len(progress) == 10 and progress[-1].startswith("  ... 100 % (")
    # a specification without trends is a clear error
    no_trends = tmp_path / "no_trends.toml"
    no_trends.write_text(TINY.read_text().split("[trends]")[0])
    assert main(["trends", "--source", f"duckdb:{copy}", "--config", str(no_trends), "--out", str(tmp_path)]) == 2
    assert "declares no trend" in capsys.readouterr().err


def test_trends_command_takes_trends_from_the_command_line(duckdb_run, tmp_path):
    warehouse, out = duckdb_run
    item = "object_detection:top & pattern:stripes"
    args = ["trends", "--source", f"duckdb:{warehouse}", "--config", str(TINY), "--model", str(out), "--no-write-back"]
    assert main([*args, "--out", str(tmp_path), "--series", item, "pattern:stripes+object_detection:top"]) == 0
    series = pd.read_csv(tmp_path / "trend_series.csv")
    assert set(series["TREND"]) == {item, "pattern:stripes+object_detection:top"}
    raw = series[series["PANEL"] == "all"].pivot_table(index="WEEK", columns="TREND", values="RAW_SHARE")
    assert (raw[item] <= raw["pattern:stripes+object_detection:top"] + 1e-12).all()  # one item is in one image


def test_trends_command_speaks_for_a_platform_known_by_its_margins(duckdb_run, tmp_path, capsys):
    warehouse, out = duckdb_run
    margins = tmp_path / "platform.csv"
    margins.write_text("variable,level,share\nfollowers,0-1000,0.7\nfollowers,1000-,0.3\n")
    args = ["trends", "--source", f"duckdb:{warehouse}", "--config", str(TINY), "--model", str(out), "--no-write-back"]
    assert main([*args, "--out", str(tmp_path), "--target", f"margins:{margins}"]) == 0
    series = pd.read_csv(tmp_path / "trend_series.csv")
    assert "platform" in set(series["PANEL"])
    # the other panels are those of the run without a target
    base = pd.read_csv(out / "trend_series.csv")
    kept = series[series["PANEL"] != "platform"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept.drop(columns="MODEL_ID"), base.drop(columns="MODEL_ID"))
    # bad targets are one clear line, before any work
    capsys.readouterr()
    for target, message in (
        ("platform", "--target must be 'all' or 'margins:FILE'"),
        (f"margins:{tmp_path / 'none.csv'}", "margins file"),
    ):
        assert main([*args, "--out", str(tmp_path), "--target", target]) == 2
        assert message in capsys.readouterr().err
    margins.write_text("variable,level,share\ncountry,US,1\n")
    assert main([*args, "--out", str(tmp_path), "--target", f"margins:{margins}"]) == 2
    assert "platform.csv, row 2: unknown variable 'country'" in capsys.readouterr().err


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
    from bayesseg.config import RunSpec
    from bayesseg.data.inputs import fold_counts, model_inputs

    spec = RunSpec.from_toml(TINY)
    taxonomy = Taxonomy.from_toml()
    inputs = model_inputs(counts, cov, spec.covariates, taxonomy.category_names, min_labels=spec.min_labels)
    # counts.parquet is the warehouse's aggregate: the categories the run folded are folded alike
    folded = fold_counts(inputs.counts, taxonomy, model.categories_)
    assert folded["category"].values.tolist() == model.categories_
    again = model.predict_memberships(folded, inputs.covariates)
    got = again[["prob_mean", "prob_low", "prob_high"]].to_dataframe().reset_index()
    merged = seg.merge(got, left_on=["AUTHORID", "SEGMENT_NAME"], right_on=["author", "segment"])
    assert len(merged) == len(seg)
    for col in ("prob_mean", "prob_low", "prob_high"):
        np.testing.assert_array_equal(merged[col.upper()], merged[col])
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
    from bayesseg.exceptions import SourceError

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
    import fakesnow  # a required test dependency: its absence fails the suite

    from bayesseg.data.snowflake import SnowflakeSource

    warehouse, _ = duckdb_run
    expected = _read(warehouse)
    with fakesnow.patch():
        src = SnowflakeSource(account="fakesnow", user="test")  # explicit: no connections.toml is read
        src.load_contract_tables(small_frames)
        # the CLI would open its own connection; fakesnow's databases live in this process
        monkeypatch.setattr("bayesseg.cli._open", lambda spec, read_only=True: src)
        assert main(["run", "--source", "snowflake", "--config", str(TINY), "--out", str(tmp_path / "out")]) == 0
        src = SnowflakeSource(account="fakesnow", user="test")  # explicit: no connections.toml is read
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
    monkeypatch.setattr("bayesseg.simulate.warehouse.SIZES", {"demo": 60, "techtest": 32_841})
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
    bad.write_text("[segments]\nk = 0\n")
    assert main(["run", "--config", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "segments.k" in err and "Traceback" not in err


# ------------------------------------------------------------------ scoring at scale (issue 8)
def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def test_score_source_on_dask_writes_exactly_the_run_tables(duckdb_run, tmp_path, capsys):
    """`bayesseg score --source` streams authors in small batches, scores them on a local Dask
    cluster and writes the same tables as `bayesseg run` did, bit for bit."""
    warehouse, out = duckdb_run
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    argv = ["score", "--model", str(out), "--source", f"duckdb:{copy}", "--config", str(TINY), "--schema", "SCALED"]
    argv += ["--batch-authors", "23", "--chunk-authors", "7", "--workers", "2", "--out", str(tmp_path / "m.csv")]
    assert main(argv) == 0
    assert "in 7 batches" in capsys.readouterr().out  # 150 authors, 23 per batch
    con = duckdb.connect(str(copy), read_only=True)
    scaled = {t: con.execute(f"SELECT * FROM SCALED.{t}").df() for t in RESULT_TABLES}
    staging = con.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%STAGING%'").df()
    con.close()
    run = _read(copy)
    assert staging.empty
    pd.testing.assert_frame_equal(_sorted(scaled["AUTHOR_SEGMENTS"], KEYS), _sorted(run["AUTHOR_SEGMENTS"], KEYS))
    pd.testing.assert_frame_equal(
        _sorted(scaled["EXCLUDED_AUTHORS"], ["AUTHORID"]), _sorted(run["EXCLUDED_AUTHORS"], ["AUTHORID"])
    )
    pd.testing.assert_frame_equal(
        _sorted(scaled["SEGMENT_PROFILES"], ["SEGMENT", "CATEGORY"]),
        _sorted(run["SEGMENT_PROFILES"], ["SEGMENT", "CATEGORY"]),
    )
    csv = pd.read_csv(tmp_path / "m.csv")
    assert (
        len(csv) == len(run["AUTHOR_SEGMENTS"]) and csv["id"].nunique() == run["AUTHOR_SEGMENTS"]["AUTHORID"].nunique()
    )


def test_stream_inputs_batches_are_the_whole_cut_in_pieces(duckdb_run):
    from bayesseg.config import RunSpec
    from bayesseg.data.inputs import fit_imputation, load_inputs, stream_inputs
    from bayesseg.taxonomy import Taxonomy

    warehouse, _ = duckdb_run
    spec = RunSpec.from_toml(TINY)
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    with DuckDBSource(warehouse) as src:
        whole = load_inputs(src, spec, taxonomy)
        batches = list(stream_inputs(src, spec, taxonomy, batch_authors=17, imputation=whole.imputation))
        streamed_fit = fit_imputation(src, spec, taxonomy, batch_authors=17)
    assert whole.imputed["log_engagement"] > 0  # the imputation is exercised
    assert len(batches) == int(np.ceil(len(whole.authors) / 17))
    counts = xr_concat([b.counts for b in batches])
    np.testing.assert_array_equal(counts.values, whole.counts.values)
    np.testing.assert_array_equal(counts["author"].values, whole.counts["author"].values)
    cov = xr_concat([b.covariates for b in batches])
    np.testing.assert_array_equal(cov.values, whole.covariates.values)
    excluded = pd.concat([b.excluded for b in batches], ignore_index=True)
    pd.testing.assert_frame_equal(excluded, whole.excluded, check_dtype=False)
    # the one-pass normal-equation fit agrees with the in-memory least squares to rounding
    np.testing.assert_allclose(streamed_fit["log_engagement"], whole.imputation["log_engagement"], rtol=1e-9)


def xr_concat(pieces):
    import xarray as xr

    return xr.concat([p for p in pieces if p.sizes["author"]], dim="author")


def test_score_source_failure_leaves_previous_tables(duckdb_run, tmp_path):
    from bayesseg.config import RunSpec
    from bayesseg.model import SegmentModel
    from bayesseg.taxonomy import Taxonomy
    from bayesseg.workflow.scale import score_source

    warehouse, out = duckdb_run
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    before = _read(copy)
    spec = RunSpec.from_toml(TINY)
    calls = []

    def fail_third(memberships, inputs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker lost")

    with DuckDBSource(copy, read_only=False) as src, pytest.raises(RuntimeError, match="worker lost"):
        score_source(
            SegmentModel.load(out),
            src,
            spec,
            Taxonomy.from_toml(spec.taxonomy),
            model_id="x",
            schema="BAYESSEG",
            batch_authors=20,
            on_batch=fail_third,
        )
    after = _read(copy)
    for t in RESULT_TABLES:
        pd.testing.assert_frame_equal(after[t], before[t])
    con = duckdb.connect(str(copy), read_only=True)
    assert (
        con.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE '%STAGING%'").fetchall()[0][0]
        == 0
    )
    con.close()


def test_score_source_through_fakesnow_gives_the_same_tables(duckdb_run, small_frames):
    import fakesnow  # a required test dependency: its absence fails the suite

    from bayesseg.config import RunSpec
    from bayesseg.data.snowflake import SnowflakeSource
    from bayesseg.model import SegmentModel
    from bayesseg.taxonomy import Taxonomy
    from bayesseg.workflow.scale import score_source

    warehouse, out = duckdb_run
    expected = _read(warehouse)
    spec = RunSpec.from_toml(TINY)
    imputation = {k: np.asarray(v) for k, v in json.loads((out / "run.json").read_text())["imputation"].items()}
    with fakesnow.patch():
        src = SnowflakeSource(account="fakesnow", user="test")  # explicit: no connections.toml is read
        src.load_contract_tables(small_frames)
        summary = score_source(
            SegmentModel.load(out),
            src,
            spec,
            Taxonomy.from_toml(spec.taxonomy),
            model_id="m",
            schema="SCALED",
            batch_authors=40,
            imputation=imputation,
        )
        got = src.query(f"SELECT * FROM {src.database}.SCALED.AUTHOR_SEGMENTS")
        src.close()
    assert summary.written["AUTHOR_SEGMENTS"] == len(expected["AUTHOR_SEGMENTS"])
    a = _sorted(expected["AUTHOR_SEGMENTS"], KEYS)[["AUTHORID", "SEGMENT", "PROB_MEAN", "PROB_LOW", "PROB_HIGH"]]
    b = _sorted(got, KEYS)[list(a.columns)]
    pd.testing.assert_frame_equal(b, a, check_dtype=False)


def test_rare_categories_are_folded_listed_and_kept_by_the_saved_model(duckdb_run):
    warehouse, out = duckdb_run
    folded = pd.DataFrame(json.loads((out / "run.json").read_text())["folded_categories"])
    assert len(folded) and (folded["authors"] < 10).all()
    model = SegmentModel.load(out / "model.nc")
    pooled = folded[~folded["into"].str.startswith("excluded")]
    assert set(pooled["into"]) <= set(model.categories_) and not set(folded["category"]) & set(model.categories_)
    # no label lost: the folded counts are the taxonomy's counts summed into their group's _other
    taxonomy = Taxonomy.from_toml()
    assert taxonomy.fold_like(model.categories_).category_names == model.categories_
    spec = RunSpec.from_toml(TINY)
    with DuckDBSource(warehouse) as src:
        raw = load_inputs(src, spec, taxonomy)
    fitted = model.check_fitted()["observed_data"]["counts"]
    gone = folded.loc[folded["into"].str.startswith("excluded"), "category"].tolist()
    raw_kept = raw.counts.drop_sel(category=gone).sel(author=fitted["author"].values)
    np.testing.assert_array_equal(fitted.sum("category").values, raw_kept.sum("category").values)
    report = (out / "report.html").read_text()
    assert "data.min_category_authors" in report and str(folded["category"].iloc[0]) in report


def test_run_json_reports_the_fit_sample_and_its_population_shares(duckdb_run):
    _, out = duckdb_run
    fs = json.loads((out / "run.json").read_text())["fit_sample"]
    shares = fs["segment_shares"]
    # the tiny spec fits every author: weights 1, so the three estimates coincide and sum to one
    assert fs["design_effect"] == 1.0 and sum(n for n, _ in fs["strata"].values()) == fs["authors"]
    for name in ("fit_sample_weighted", "fit_sample_unweighted"):
        for seg, v in shares["all_authors"].items():
            assert abs(shares[name][seg] - v) < 1e-4
    assert abs(sum(shares["all_authors"].values()) - 1) < 1e-3


def test_ppc_report_is_quiet_on_tied_tails(duckdb_run):
    # the share of an author's largest category is a ratio of small counts, so its replicates tie
    # (here k / 31, as for an author with 31 labels); arviz-stats' Pareto tail fit of the PIT then
    # meets a degenerate tail, returns NaN and falls back to the randomised PIT: numpy's warnings
    # about that NaN must not reach the terminal (the demo run printed two)
    tree = SegmentModel.load(duckdb_run[1]).posterior_predictive(n_authors=40, n_draws=100, seed=0)
    rep = tree["posterior_predictive"]["max_share"]
    tied = np.repeat(np.arange(4, 20) / 31, [6, 10, 9, 10, 8, 10, 9, 7, 6, 5, 4, 5, 5, 0, 2, 4])
    tied = np.resize(tied, rep.sizes["draw"])  # the thinned draws (at most 100)
    tree["posterior_predictive"]["max_share"] = rep.copy(data=np.broadcast_to(tied[None, :, None], rep.shape).copy())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        html = ppc_html(tree)
    assert html.count("<img") >= 2


def test_trend_axes_follow_the_series_and_mark_the_bands_they_cut():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from bayesseg.workflow.trends_section import axis_top as _axis_top
    from bayesseg.workflow.trends_section import clipped_band as _clipped_band

    weeks = pd.date_range("2024-01-01", periods=6, freq="W-MON")
    series = xr.DataArray([0.01, 0.02, 0.015, 0.02, 0.01, 0.012], dims="week")
    low = series * 0.5
    high = xr.DataArray([0.02, 0.8, 0.03, 0.6, 0.02, 0.02], dims="week")
    top = _axis_top([series, series * 1.2])
    assert top == pytest.approx(1.5 * 0.024)
    fig, ax = plt.subplots()
    assert _clipped_band(ax, weeks, low, high, top, "C0", 0.2) == 2  # the two weeks whose band runs above
    assert ax.get_ylim()[1] == pytest.approx(top * 1.04)
    markers = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert len(markers) == 1 and len(markers[0].get_xdata()) == 2
    plt.close(fig)
    assert _axis_top([xr.DataArray([np.nan, np.nan], dims="week")]) == 1.0


def test_free_segments_read_as_their_top_categories(duckdb_run):
    from bayesseg.workflow.report import reads_as

    assert reads_as("luxury", ["bag", "heels"]) == "luxury"
    assert reads_as("segment_5", ["non_fashion_object", "sport_equipment", "shorts", "socks"]) == (
        "non_fashion_object / sport_equipment / shorts"
    )
    # in the report: each segment's reading beside its id, from its highest-lift categories
    out = duckdb_run[1]
    section = (out / "report.html").read_text().split('<section id="profiles">')[1].split("</section>")[0]
    overview = pd.read_html(io.StringIO(section))[0]
    assert list(overview.columns[:2]) == ["segment", "reads as"]
    for row in overview.itertuples():
        if str(row.segment).startswith("segment_"):
            assert row._2.split(" / ")[0] == row._4.split(" ×")[0]  # the top category by lift
        else:
            assert row._2 == row.segment
