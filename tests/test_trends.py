"""Trend series: counts against the simulator's truth, estimators against independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesseg.config import RunSpec, Trend, TrendConfig
from bayesseg.data.aggregate import author_covariates, trend_data, trend_post_counts
from bayesseg.data.sources import DuckDBSource
from bayesseg.exceptions import InputError, SpecError, WeightsError
from bayesseg.simulate import TRENDS
from bayesseg.survey.reweight import kish_ess
from bayesseg.survey.trends import TREND_SERIES_COLUMNS, trend_series
from bayesseg.survey.weekly import cluster_design_effect


# ------------------------------------------------------------------------------ definitions
def test_trend_parse() -> None:
    t = Trend.parse("pattern:stripes + object_detection:top")
    assert t.labels == (("pattern", "stripes"), ("object_detection", "top"))
    assert Trend.parse("bag_brand:chanel").labels == (("bag_brand", "chanel"),)
    for bad in ("stripes", "pattern:", ":stripes", "pattern:stripes+pattern:stripes"):
        with pytest.raises(ValueError, match="trend"):
            Trend.parse(bad)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"series": ["stripes"]}, "trends.series: trend 'stripes'"),
        ({"weighting": "magic"}, "trends.weighting: must be one of"),
        ({"trim_ratio": 1.0}, "trends.trim_ratio"),
        ({"replicates": 5}, r"trends.replicates: must be an integer >= 20"),
        ({"smooth_weeks": -1}, "trends.smooth_weeks"),
        ({"platform_smooth_weeks": "1"}, "trends.platform_smooth_weeks: must be a number >= 0"),
        ({"band": "bca"}, "trends.band: must be one of"),
        ({"lead_min_rise": 1}, r"trends.lead_min_rise: must be a number above 1 \(a rise\), got 1"),
        ({"lead_min_rise": True}, "trends.lead_min_rise: must be a number above 1"),
        (
            {"series": ["pattern:stripes"], "propensity_covariates": ["log_height"]},
            r"\['log_height'\] are not covariates of the model",
        ),
    ],
)
def test_trend_config_errors_name_the_key(doc: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        RunSpec.from_dict({"segments": {"k": 3}, "trends": doc})


def test_shipped_spec_declares_the_simulated_trends() -> None:
    spec = RunSpec.from_toml()
    names = [t.name for t in spec.trends.trends]
    assert {t.name for t in TRENDS} <= set(names)
    assert any(len(t.labels) == 2 for t in spec.trends.trends)
    # trends do not change the fitted model: the spec hash ignores them
    assert spec.replace(trends=TrendConfig()).spec_hash == spec.spec_hash


# ------------------------------------------------------------------------------ counts
@pytest.fixture(scope="module")
def demo_trends(demo_warehouse: Path) -> tuple[xr.Dataset, pd.DataFrame, pd.DataFrame]:
    trends = (*tuple(Trend.parse(t.name) for t in TRENDS), Trend.parse("pattern:stripes+object_detection:top"))
    with DuckDBSource(demo_warehouse) as src:
        data = trend_data(src, trends)
        truth = src.query("SELECT * FROM TRUTH.TREND_SERIES")
        authors = src.query("SELECT * FROM TRUTH.AUTHORS")
        cov = author_covariates(src)
    truth["WEEK"] = pd.to_datetime(truth["WEEK"])
    info = cov.set_index("author")
    info["log_followers"] = np.log1p(info["followers"])
    info["log_engagement"] = np.log(info["engagement_rate"])
    return data, truth, authors.set_index("AUTHORID").join(info)


def test_population_series_equals_the_simulator_truth(demo_trends: tuple) -> None:
    data, truth, _ = demo_trends
    weeks = pd.to_datetime(data["week"].values)
    for t in TRENDS:
        ours = data["hits"].sel(trend=t.name).sum("author") / data["posts"].sum("author")
        ref = truth[(truth["TREND"] == t.name) & (truth["POPULATION"] == "all")].set_index("WEEK")
        np.testing.assert_allclose(ours.values, ref["SHARE"].reindex(weeks).to_numpy(), rtol=1e-12)
        np.testing.assert_array_equal(data["posts"].sum("author").values, ref["N_POSTS"].reindex(weeks).to_numpy())


def test_a_combination_is_rarer_than_its_parts(demo_trends: tuple) -> None:
    data, _, _ = demo_trends
    both = data["hits"].sel(trend="pattern:stripes+object_detection:top")
    assert 0 < both.sum() < data["hits"].sel(trend="pattern:stripes").sum()
    assert bool((both <= data["hits"].sel(trend="pattern:stripes")).all())
    assert bool((data["hits"] <= data["posts"]).all())


def test_a_trend_matching_nothing_is_named(demo_warehouse: Path) -> None:
    with DuckDBSource(demo_warehouse) as src:
        with pytest.raises(ValueError, match=r"\['pattern:tartan'\] match no post"):
            trend_data(src, (Trend.parse("pattern:stripes"), Trend.parse("pattern:tartan")))
        with pytest.raises(ValueError, match="repeat"):
            trend_post_counts(src, [Trend("a", (("pattern", "stripes"),)), Trend("a", (("pattern", "leopard"),))])


# ------------------------------------------------------------------------------ series
def oracle_memberships(authors: pd.DataFrame, ids: np.ndarray, draws: int = 1) -> xr.DataArray:
    seg = authors.loc[ids, "SEGMENT"].to_numpy()
    r = np.repeat(np.eye(6)[seg][None], draws, axis=0)
    return xr.DataArray(r, dims=("draw", "author", "segment"), coords={"author": ids, "segment": list("abcdef")})


def test_series_invariants_and_independent_computations(demo_trends: tuple) -> None:
    data, truth, authors = demo_trends
    ids = data["author"].values
    cfg = TrendConfig(trends=(), replicates=40, smooth_weeks=0.0, trim_ratio=0.0)
    res = trend_series(data, authors, oracle_memberships(authors, ids), cfg)
    s = res.series
    # the target panel is the population: its series is the truth, exactly
    ref = truth[(truth["TREND"] == "pattern:stripes") & (truth["POPULATION"] == "all")].set_index("WEEK")["SHARE"]
    np.testing.assert_allclose(
        s["weighted_share"].sel(trend="pattern:stripes", panel="all").values,
        ref.reindex(pd.to_datetime(s["week"].values)).to_numpy(),
        rtol=1e-12,
    )
    # segment panels with one-hot memberships are the true segments' series (simulator truth)
    seg_ref = truth[(truth["TREND"] == "pattern:leopard") & (truth["POPULATION"] == "luxury")].set_index("WEEK")
    from bayesseg.simulate import SEGMENT_NAMES

    k = list(SEGMENT_NAMES).index("luxury")
    np.testing.assert_allclose(
        s["weighted_share"].sel(trend="pattern:leopard", panel=f"segment:{'abcdef'[k]}").values,
        seg_ref["SHARE"].reindex(pd.to_datetime(s["week"].values)).to_numpy(),
        rtol=1e-12,
    )
    # raw fashion-forward series: the unweighted share of the panel's posts
    panel = authors.loc[ids, "FASHION_INTEREST_SEGMENT"].to_numpy(bool)
    h = data["hits"].sel(trend="bag_brand:chanel").values[panel].sum(0)
    n = data["posts"].values[panel].sum(0)
    np.testing.assert_allclose(
        s["raw_share"].sel(trend="bag_brand:chanel", panel="fashion_forward").values,
        np.where(n > 0, h / np.where(n > 0, n, 1), np.nan),
        rtol=1e-12,
    )
    # weights: positive, finite, sum to the target size; the weighted series uses them
    w = res.weights["weight"].to_numpy()
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    assert w.sum() == pytest.approx(len(ids))
    assert res.weights.index.isin(ids[panel]).all() and len(w) == panel.sum()
    hw = w @ data["hits"].sel(trend="bag_brand:chanel").values[panel]
    nw = w @ data["posts"].values[panel]
    np.testing.assert_allclose(
        s["weighted_share"].sel(trend="bag_brand:chanel", panel="fashion_forward").values,
        np.where(nw > 0, hw / np.where(nw > 0, nw, 1), np.nan),
        rtol=1e-10,
    )
    # ESS per week: Kish over the authors' contributions w_i n_it
    np.testing.assert_allclose(
        s["ess"].sel(panel="fashion_forward").values, kish_ess((w[:, None] * data["posts"].values[panel]).T, axis=1)
    )
    # bands ordered; the table has the documented columns and one row per trend x panel x week
    lo, hi = s["low"].values, s["high"].values
    ok = np.isfinite(lo) & np.isfinite(hi)
    assert np.all(lo[ok] <= hi[ok] + 1e-15)
    table = res.table()
    assert list(table.columns) == list(TREND_SERIES_COLUMNS)
    assert len(table) == s.sizes["trend"] * s.sizes["panel"] * s.sizes["week"]
    # balance improves: the panel's ASMD on log followers falls at least four-fold (a panel of
    # ~40 authors: inverse propensities balance in expectation, not exactly)
    before, after = res.balance.loc["log_followers", ["asmd_before", "asmd_after"]]
    assert before > 0.5 and after < before / 4


def test_monthly_series_pool_the_posts_of_each_calendar_month(demo_trends: tuple) -> None:
    data, truth, authors = demo_trends
    ids = data["author"].values
    calls: list[tuple[str, float]] = []
    cfg = TrendConfig(trends=(), replicates=20, smooth_weeks=2.0, trim_ratio=0.0)
    res = trend_series(data, authors, oracle_memberships(authors, ids), cfg, progress=lambda n, f: calls.append((n, f)))
    m = res.monthly
    assert m is not None
    # independently: the truth's weekly posts and shares, grouped by the month of each Monday in pandas
    ref = truth[(truth["TREND"] == "pattern:stripes") & (truth["POPULATION"] == "all")].copy()
    ref["hits"] = ref["SHARE"] * ref["N_POSTS"]
    by_month = ref.groupby(ref["WEEK"].dt.to_period("M"))[["hits", "N_POSTS"]].sum()
    months = pd.to_datetime(m["month"].values).to_period("M")
    expected = (by_month["hits"] / by_month["N_POSTS"]).reindex(months).to_numpy()
    np.testing.assert_allclose(m["weighted_share"].sel(trend="pattern:stripes", panel="all").values, expected)
    assert int(m["weeks"].sum()) == data.sizes["week"] and set(m["weeks"].values) <= {4, 5} | {
        int(m["weeks"][0]),
        int(m["weeks"][-1]),
    }
    # the weighted panel pooled under the point weights
    panel = authors.loc[ids, "FASHION_INTEREST_SEGMENT"].to_numpy(bool)
    w = res.weights["weight"].to_numpy()
    frame = (
        pd.DataFrame(
            {
                "hits": w @ data["hits"].sel(trend="bag_brand:chanel").values[panel],
                "posts": w @ data["posts"].values[panel],
            },
            index=pd.to_datetime(data["week"].values).to_period("M"),
        )
        .groupby(level=0)
        .sum()
    )
    np.testing.assert_allclose(
        m["weighted_share"].sel(trend="bag_brand:chanel", panel="fashion_forward").values,
        (frame["hits"] / frame["posts"]).reindex(months).to_numpy(),
        rtol=1e-10,
    )
    # ESS per month: Kish over the authors' monthly contributions w_i n_i,month
    monthly_posts = (
        pd.DataFrame(data["posts"].values[panel].T, index=pd.to_datetime(data["week"].values).to_period("M"))
        .groupby(level=0)
        .sum()
        .reindex(months)
        .to_numpy()
    )
    np.testing.assert_allclose(
        m["ess"].sel(panel="fashion_forward").values, kish_ess(monthly_posts * w[None, :], axis=1), rtol=1e-10
    )
    lo, hi, mid = m["low"].values, m["high"].values, m["weighted_share"].values
    ok = np.isfinite(lo)
    # (the logit band clips a share of 0 to 1e-6)
    assert np.all(lo[ok] <= mid[ok] + 1e-6) and np.all(mid[ok] <= hi[ok] + 1e-12)
    # the replicates report their progress, ending at 1
    assert len(calls) == cfg.replicates and calls[-1] == (f"replicate {cfg.replicates} of {cfg.replicates}", 1.0)
    # the demo's 43-author panel: most weeks are under the ESS floor, so it is read by month
    assert res.summary["weeks_below_ess_floor"] > res.summary["weeks"] / 2
    assert res.weekly_readable is False and res.summary["weekly_readable"] is False
    loose = trend_series(data, authors, None, TrendConfig(replicates=20, ess_floor=1.0, weighting="none"))
    assert loose.weekly_readable is True


def test_gap_decomposition_pools_the_window_and_the_lead_covers_every_panel(demo_trends: tuple) -> None:
    from bayesseg.survey.panel import LEAD_COLUMNS, POOLED

    data, _, authors = demo_trends
    ids = data["author"].values
    res = trend_series(data, authors, oracle_memberships(authors, ids), TrendConfig(replicates=20, trim_ratio=0.0))
    d = res.decomposition
    assert d is not None and list(d.index) == list(data["trend"].values)
    panel = authors.loc[ids, "FASHION_INTEREST_SEGMENT"].to_numpy(bool)
    w = res.weights["weight"].to_numpy()
    for trend in ("bag_brand:chanel", "pattern:leopard"):
        hits, posts = data["hits"].sel(trend=trend).values.sum(axis=1), data["posts"].values.sum(axis=1)
        raw = hits[panel].sum() / posts[panel].sum()
        weighted = (w @ hits[panel]) / (w @ posts[panel])
        target = hits.sum() / posts.sum()
        assert d.loc[trend, "panel_raw_share"] == pytest.approx(raw, rel=1e-10)
        assert d.loc[trend, "panel_weighted_share"] == pytest.approx(weighted, rel=1e-10)
        assert d.loc[trend, "composition"] == pytest.approx(raw - weighted, rel=1e-8)
        assert d.loc[trend, "behaviour"] == pytest.approx(weighted - target, rel=1e-8)
        assert d.loc[trend, "gap_low"] <= d.loc[trend, "gap_high"]
    # the simulator's panel posts a luxury bag because it is luxury-heavy: composition, not behaviour
    assert d.loc["bag_brand:chanel", "composition_low"] > 0
    # hidden selection: at gamma 1 the bounds are the untrimmed inverse-propensity shares of the two periods
    sens = res.sensitivity
    assert sens is not None and set(sens.index.get_level_values("gamma")) == {1.0, 1.25, 1.5, 2.0, 3.0}
    e = res.weights["propensity"].to_numpy()
    hits = data["hits"].sel(trend="pattern:leopard").values[panel]
    posts = data["posts"].values[panel]
    early = (hits[:, :13].sum(1) / e).sum() / (posts[:, :13].sum(1) / e).sum()
    late = (hits[:, -13:].sum(1) / e).sum() / (posts[:, -13:].sum(1) / e).sum()
    row = sens.loc[("pattern:leopard", 1.0)]
    assert row["early_low"] == pytest.approx(early) and row["late_high"] == pytest.approx(late)
    assert row["direction"] == ("rising" if late > early else "falling") and row["flip_gamma"] >= 1.0
    wide = sens.loc[("pattern:leopard", 3.0)]
    assert wide["late_low"] <= late <= wide["late_high"]
    lead = res.lead
    assert lead is not None and list(lead.columns) == list(LEAD_COLUMNS)
    # a row per trend and panel, then each panel's lead on the rising trends together
    assert len(lead) == (data.sizes["trend"] + 1) * (res.series.sizes["panel"] - 1)
    assert set(lead["PANEL"]) == set(res.series["panel"].values) - {"all"}
    assert (lead["TREND"] == POOLED).sum() == res.series.sizes["panel"] - 1


def test_platform_panel_is_the_warehouse_calibrated_to_the_margins(demo_trends: tuple, tmp_path: Path) -> None:
    from bayesseg.survey.margins import read_margins

    data, _, authors = demo_trends
    ids = data["author"].values
    # the crawl over-samples large accounts: the platform has more small ones than the warehouse
    path = tmp_path / "margins.csv"
    path.write_text("variable,level,share\nfollowers,0-2000,0.8\nfollowers,2000-,0.2\n")
    cfg = TrendConfig(replicates=20, smooth_weeks=0.0, platform_smooth_weeks=0.0, weighting="none")
    res = trend_series(data, authors, None, cfg, margins=read_margins(path))
    s = res.series
    assert s["panel"].values[-1] == "platform"
    # independently: one margin is post-stratification, each range's authors sharing its population total
    f = authors.loc[ids, "followers"].to_numpy(dtype=float)
    known, small = np.isfinite(f), f < 2000
    n = known.sum()
    w = np.where(~known, 0.0, np.where(small, 0.8 * n / (small & known).sum(), 0.2 * n / (~small & known).sum()))
    hits = data["hits"].sel(trend="pattern:leopard").values
    expected = (w @ hits) / (w @ data["posts"].values)
    np.testing.assert_allclose(s["weighted_share"].sel(trend="pattern:leopard", panel="platform").values, expected)
    b = res.margin_balance
    assert b is not None and b["calibrated"].to_numpy() == pytest.approx([0.8, 0.2], abs=1e-8)
    assert b.loc[("followers", "0-2000"), "warehouse"] == pytest.approx(small[known].mean())
    platform = res.summary["platform"]
    assert platform["authors_without_followers"] == int((~known).sum()) and platform["source"] == "margins.csv"
    assert platform["design_effect"] == pytest.approx(float(n * (w[known] ** 2).sum() / w[known].sum() ** 2))
    # the platform's bands come from re-calibrated replicates, around its series
    lo, hi = s["low"].sel(panel="platform").values, s["high"].sel(panel="platform").values
    ok = np.isfinite(lo)
    assert ok.mean() > 0.9 and np.all(lo[ok] <= hi[ok])
    with pytest.raises(InputError, match="lacks column 'followers'"):
        trend_series(data, authors.drop(columns="followers"), None, cfg, margins=read_margins(path))


def test_the_platform_series_is_pooled_with_its_own_kernel(demo_trends: tuple, tmp_path: Path) -> None:
    """``platform_smooth_weeks`` pools the platform panel alone: its series is the calibrated
    weights' kernel-pooled ratio at that width, and every other panel is as with one width for all."""
    from scipy.ndimage import gaussian_filter1d

    from bayesseg.survey.margins import read_margins

    data, _, authors = demo_trends
    path = tmp_path / "margins.csv"
    path.write_text("variable,level,share\nfollowers,0-2000,0.8\nfollowers,2000-,0.2\n")
    base = dict(replicates=20, smooth_weeks=2.0, weighting="none")
    own = trend_series(data, authors, None, TrendConfig(**base, platform_smooth_weeks=0.7), margins=read_margins(path))
    same = trend_series(data, authors, None, TrendConfig(**base, platform_smooth_weeks=2.0), margins=read_margins(path))
    assert own.series.attrs["platform_smooth_weeks"] == 0.7
    others = [p for p in own.series["panel"].values if p != "platform"]
    for name in ("weighted_share", "raw_share", "low", "high", "share", "ess"):
        got, expected = (r.series[name].sel(panel=others).values for r in (own, same))
        np.testing.assert_array_equal(got, expected)
    # independently: the calibrated weights (post-stratification), numerator and denominator each
    # pooled by a Gaussian kernel of 0.7 weeks, zero outside the window
    f = authors.loc[data["author"].values, "followers"].to_numpy(dtype=float)
    known, small = np.isfinite(f), f < 2000
    n = known.sum()
    w = np.where(~known, 0.0, np.where(small, 0.8 * n / (small & known).sum(), 0.2 * n / (~small & known).sum()))
    smooth = lambda a: gaussian_filter1d(a, 0.7, mode="constant", cval=0.0, truncate=3.0)  # noqa: E731
    hits = data["hits"].sel(trend="pattern:leopard").values
    expected = smooth(w @ hits) / smooth(w @ data["posts"].values)
    got = own.series["weighted_share"].sel(trend="pattern:leopard", panel="platform").values
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert not np.allclose(got, same.series["weighted_share"].sel(trend="pattern:leopard", panel="platform").values)
    # the report says so where the kernels differ, and only there
    from bayesseg.workflow.trends_section import trends_html

    assert "a Gaussian kernel of 0.7 weeks (the panels: 2 weeks)" in trends_html(own)
    assert "Drawn from every author" not in trends_html(same)


def test_weekly_shares_pool_each_panel_with_its_own_kernel() -> None:
    from bayesseg.survey.weekly import weekly_shares

    rng = np.random.default_rng(3)
    posts = rng.poisson(3.0, size=(50, 30)).astype(float)
    hits = rng.binomial(posts.astype(int), 0.2).astype(float)
    weights = rng.uniform(0.0, 2.0, size=(3, 50))
    sds = np.array([0.0, 1.5, 3.0])
    together = weekly_shares(weights, hits, posts, 1, sds)
    for p, sd in enumerate(sds):
        alone = weekly_shares(weights[[p]], hits, posts, 1, float(sd))
        np.testing.assert_allclose(together[:, p], alone[:, 0], rtol=1e-12)


def test_month_pool_puts_every_week_in_the_month_of_its_monday() -> None:
    from bayesseg.survey.weekly import month_pool

    weeks = pd.date_range("2024-01-29", periods=6, freq="W-MON").to_numpy()
    pool, months = month_pool(weeks)
    np.testing.assert_array_equal(pool.sum(axis=1), 1.0)
    assert [str(x)[:7] for x in months] == ["2024-01", "2024-02", "2024-03"]
    np.testing.assert_array_equal(pool.sum(axis=0), [1, 4, 1])


def test_every_weighting_gives_positive_weights_summing_to_the_target(demo_trends: tuple) -> None:
    data, _, authors = demo_trends
    ids = data["author"].values
    # soft memberships (as a posterior gives): no empty post-stratification cell
    r = oracle_memberships(authors, ids, draws=2) * 0.9 + 0.1 / 6
    for weighting in ("poststratify", "rake", "none"):
        res = trend_series(data, authors, r, TrendConfig(weighting=weighting, replicates=20))
        w = res.weights["weight"].to_numpy()
        assert np.all(w >= 0) and np.all(np.isfinite(w)), weighting
        if weighting != "none":
            known_tier = authors.loc[ids, "current_tier"].notna().to_numpy()
            assert w.sum() == pytest.approx(known_tier.sum(), rel=1e-6), weighting


def test_normalised_authors_average_the_authors_shares(demo_trends: tuple) -> None:
    data, _, authors = demo_trends
    cfg = TrendConfig(replicates=20, smooth_weeks=0.0, normalise_authors=True, weighting="none")
    s = trend_series(data, authors, None, cfg).series
    posts = data["posts"].values
    h = data["hits"].sel(trend="pattern:stripes").values
    with np.errstate(invalid="ignore", divide="ignore"):
        per_author = np.where(posts > 0, h / posts, np.nan)
    np.testing.assert_allclose(
        s["weighted_share"].sel(trend="pattern:stripes", panel="all").values, np.nanmean(per_author, axis=0), rtol=1e-12
    )
    # every posting author weighs the same: a prolific poster no longer dominates its week
    plain = trend_series(data, authors, None, TrendConfig(replicates=20, smooth_weeks=0.0, weighting="none")).series
    assert not np.allclose(
        plain["weighted_share"].sel(panel="all").values, s["weighted_share"].sel(panel="all").values, equal_nan=True
    )


def test_bad_inputs_get_clear_errors_or_reports(demo_trends: tuple) -> None:
    data, _, authors = demo_trends
    ids = data["author"].values
    cfg = TrendConfig(replicates=20)
    nobody = authors.assign(FASHION_INTEREST_SEGMENT=False, fashion_interest_segment=False)
    with pytest.raises(WeightsError, match="the panel is empty"):
        trend_series(data, nobody, None, cfg)
    flat = authors.assign(log_engagement=1.0)
    with pytest.raises(WeightsError, match="log_engagement"):
        trend_series(data, flat, None, cfg)
    with pytest.raises(ValueError, match="not in the authors table"):
        trend_series(data, authors.drop(index=ids[:3]), None, cfg)
    # a week without any post: the weekly share is NaN and the week is reported
    gap = data.copy(deep=True)
    gap["posts"][:, 5] = 0
    gap["hits"][:, :, 5] = 0
    res = trend_series(gap, authors, None, TrendConfig(replicates=20, smooth_weeks=0.0))
    assert np.isnan(res.series["weighted_share"].isel(week=5)).all()
    assert any("weeks without posts" in w for w in res.warnings)
    # pooled over weeks, the empty week borrows its neighbours
    pooled = trend_series(gap, authors, None, TrendConfig(replicates=20, smooth_weeks=2.0))
    assert np.isfinite(pooled.series["weighted_share"].sel(panel="all").isel(week=5)).all()
    # ESS floor: every week of a small panel is flagged
    assert res.summary["weeks_below_ess_floor"] > 0
    assert any("effective sample size below 30" in w for w in res.warnings)


def synthetic_panel(seed: int) -> tuple[xr.Dataset, pd.DataFrame, xr.DataArray, np.ndarray]:
    """Two kinds of authors; the panel over-samples kind 1, which shows the trend 4x as often."""
    rng = np.random.default_rng(seed)
    n, weeks = 6000, 30
    kind = rng.random(n) < 0.3
    x = rng.normal(size=n) + 1.5 * kind
    panel = rng.random(n) < 1 / (1 + np.exp(-(-3.0 + 1.0 * x)))
    posts = rng.poisson(3.0, size=(n, weeks)).astype(float)
    hits = rng.binomial(posts.astype(int), np.where(kind, 0.2, 0.05)[:, None]).astype(float)
    return (*panel_inputs(rng, posts, hits, panel, x, kind), hits.sum(0) / posts.sum(0))


def panel_inputs(
    rng: np.random.Generator, posts: np.ndarray, hits: np.ndarray, panel: np.ndarray, x: np.ndarray, kind: np.ndarray
) -> tuple[xr.Dataset, pd.DataFrame, xr.DataArray]:
    """One trend's counts, the authors table (followers `x`, the panel) and two-segment memberships (`kind`)."""
    n, weeks = posts.shape
    data = xr.Dataset(
        {"posts": (("author", "week"), posts), "hits": (("trend", "author", "week"), hits[None])},
        coords={"trend": ["t"], "author": np.arange(n), "week": pd.date_range("2024-01-01", periods=weeks, freq="7D")},
    )
    authors = pd.DataFrame(
        {
            "fashion_interest_segment": panel,
            "current_tier": "mainstream",
            "log_followers": x,
            "log_engagement": rng.normal(size=n),
        },
        index=np.arange(n),
    )
    r = xr.DataArray(
        np.stack([~kind, kind], axis=1).astype(float)[None],
        dims=("draw", "author", "segment"),
        coords={"author": np.arange(n), "segment": ["a", "b"]},
    )
    return data, authors, r


def test_bands_equal_their_definitions() -> None:
    from scipy import special, stats

    data, authors, r, _ = synthetic_panel(0)
    base = dict(replicates=60, smooth_weeks=0.0, propensity_quadratic=False)
    logit_res = trend_series(data, authors, r, TrendConfig(**base, band="logit"), ci_prob=0.8)
    logit = logit_res.series.sel(trend="t")
    pct = trend_series(data, authors, r, TrendConfig(**base, band="percentile"), ci_prob=0.8).series.sel(trend="t")
    # the same replicates: the band is the only difference
    np.testing.assert_array_equal(logit["share"].values, pct["share"].values)
    reps = pct["share"].values  # (draw, panel, week)
    np.testing.assert_allclose(pct["low"].values, np.quantile(reps, 0.1, axis=0))
    np.testing.assert_allclose(pct["high"].values, np.quantile(reps, 0.9, axis=0))
    z = stats.norm.ppf(0.9)
    point = logit["weighted_share"].values
    sd = special.logit(reps).std(axis=0, ddof=1)
    for j, p in enumerate(logit["panel"].values):
        extra = 0.0
        if p == "fashion_forward":  # plus the target's weekly share's variance, posts clustered in authors
            n_t = data["posts"].values.sum(axis=0)
            h, n = data["hits"].values[0], data["posts"].values
            share = h.sum(0) / n_t
            deff = (((h - share * n) ** 2).sum(0) / n_t**2).sum() / (share * (1 - share) / n_t).sum()
            assert logit_res.summary["target_design_effect"]["t"] == pytest.approx(deff, abs=1e-3)
            extra = deff / (n_t * point[j] * (1 - point[j]))
        half = z * np.sqrt(sd[j] ** 2 + extra)
        np.testing.assert_allclose(logit["low"].values[j], special.expit(special.logit(point[j]) - half), rtol=1e-9)
        np.testing.assert_allclose(logit["high"].values[j], special.expit(special.logit(point[j]) + half), rtol=1e-9)
    ok = np.isfinite(point)  # panels without authors (empty tiers here) have no series
    assert ok[:2].all()
    assert (logit["low"].values[ok] < point[ok]).all() and (point[ok] < logit["high"].values[ok]).all()


def test_correction_recovers_a_known_population_share() -> None:
    # the corrected series is unbiased and its 90 % bands cover the weekly truth about 90 % of
    # the time; one panel's weeks share its selection error, so coverage is averaged over panels
    cfg = TrendConfig(replicates=100, smooth_weeks=0.0, propensity_quadratic=False)
    coverage, bias, raw_bias = [], [], []
    for seed in range(4):
        data, authors, r, truth = synthetic_panel(seed)
        s = trend_series(data, authors, r, cfg).series.sel(trend="t", panel="fashion_forward")
        raw_bias.append(np.mean(s["raw_share"].values - truth))
        bias.append(np.mean(s["weighted_share"].values - truth))
        coverage.append(np.mean((truth >= s["low"].values) & (truth <= s["high"].values)))
    assert min(raw_bias) > 0.03  # the panel over-states the trend (population share ~0.1)
    assert abs(np.mean(bias)) < 0.004
    assert 0.8 <= np.mean(coverage) <= 0.99


def test_logit_bias_band_adds_the_pooling_bias_estimate() -> None:
    """The logit_bias band is the logit band widened by (logit of the series pooled with σ√2 minus
    logit of the series pooled with σ)², that difference estimating the kernel's smoothing bias."""
    from scipy import special, stats

    data, authors, r, _ = synthetic_panel(0)
    base = dict(replicates=40, smooth_weeks=2.0, propensity_quadratic=False)
    plain = trend_series(data, authors, r, TrendConfig(**base, band="logit"), ci_prob=0.8).series.sel(trend="t")
    biased = trend_series(data, authors, r, TrendConfig(**base, band="logit_bias"), ci_prob=0.8).series.sel(trend="t")
    wide = trend_series(data, authors, r, TrendConfig(**{**base, "smooth_weeks": 2.0 * np.sqrt(2)}), ci_prob=0.8)
    point = plain["weighted_share"].values
    np.testing.assert_array_equal(point, biased["weighted_share"].values)
    z = stats.norm.ppf(0.9)
    half_plain = special.logit(plain["high"].values) - special.logit(point)
    bias = special.logit(wide.series.sel(trend="t")["weighted_share"].values) - special.logit(point)
    expected = z * np.sqrt((half_plain / z) ** 2 + bias**2)
    ok = np.isfinite(point)
    np.testing.assert_allclose(
        (special.logit(biased["high"].values) - special.logit(point))[ok], expected[ok], rtol=1e-6
    )
    assert (biased["high"].values[ok] >= plain["high"].values[ok]).all()


def test_cluster_design_effect_is_one_for_independent_posts_and_matches_the_sampling_variance() -> None:
    rng = np.random.default_rng(0)
    n_a, weeks = 3000, 20
    posts = rng.poisson(4.0, size=(n_a, weeks)).astype(float)
    independent = rng.binomial(posts.astype(int), 0.05).astype(float)
    assert cluster_design_effect(independent, posts, 1)[0] == pytest.approx(1.0, abs=0.05)
    # authors with their own rate (lognormal frailty): the share of a week varies more than binomially;
    # the linearisation variance must match the variance over repeated draws of the authors
    shares, estimates = [], []
    for _ in range(300):
        rate = np.minimum(0.05 * rng.lognormal(-0.5, 1.0, size=n_a), 0.9)
        n = rng.poisson(4.0, size=(n_a, 1)).astype(float)
        h = rng.binomial(n.astype(int), rate[:, None]).astype(float)
        shares.append(h.sum() / n.sum())
        p = h.sum() / n.sum()
        estimates.append(cluster_design_effect(h, n, 1)[0] * p * (1 - p) / n.sum())
    assert np.var(shares, ddof=1) == pytest.approx(np.mean(estimates), rel=0.2)
    assert cluster_design_effect(h, n, 1)[0] > 1.2


def test_the_panel_lead_is_read_against_its_comparison_group(seed: int = 11) -> None:
    """Panel authors show a rising trend 3 weeks early; the panel over-samples followers and the kind of
    author that shows the trend 4x as often. The lead is the panel's raw series against the other
    authors weighted by their selection odds (an independent logistic fit), pooled as the panel."""
    import statsmodels.api as sm
    from scipy.ndimage import gaussian_filter1d

    from bayesseg.survey.panel import POOLED, best_shift

    rng = np.random.default_rng(seed)
    n, weeks, lead = 6000, 60, 3
    kind = rng.random(n) < 0.3
    x = rng.normal(size=n) + 1.5 * kind
    panel = rng.random(n) < 1 / (1 + np.exp(-(-3.0 + 1.0 * x)))
    t = np.arange(weeks)[None, :] + np.where(panel, lead, 0)[:, None]
    rate = (0.02 + 0.1 / (1 + np.exp(-(t - 30) / 3))) * np.where(kind, 2.0, 0.5)[:, None]
    posts = rng.poisson(3.0, size=(n, weeks)).astype(float)
    hits = rng.binomial(posts.astype(int), rate).astype(float)
    data, authors, r = panel_inputs(rng, posts, hits, panel, x, kind)
    cfg = TrendConfig(replicates=60, seed=1, trim_ratio=0.0, propensity_covariates=["log_followers"])
    res = trend_series(data, authors, r, cfg)
    assert res.lead is not None
    row = res.lead.set_index(["TREND", "PANEL"]).loc[("t", "fashion_forward")]
    # the one trend rises (2 % to 12 %): the panel's lead on the rising trends together is its lead
    pooled = res.lead.set_index(["TREND", "PANEL"]).loc[(POOLED, "fashion_forward")]
    assert (
        pooled[["LEAD_WEEKS", "LOW", "HIGH", "N_WEEKS", "STATUS"]].tolist()
        == row[["LEAD_WEEKS", "LOW", "HIGH", "N_WEEKS", "STATUS"]].tolist()
    )
    assert row["STATUS"] == "identified" and abs(row["LEAD_WEEKS"] - lead) <= 1 and row["LOW"] <= lead <= row["HIGH"]
    # the comparison series, independently: odds of a statsmodels fit on the same design
    z = (x - x.mean()) / x.std()
    design = sm.add_constant(np.column_stack([z, z**2, kind.astype(float)]))
    p = sm.GLM(panel.astype(float), design, family=sm.families.Binomial()).fit().predict(design)
    w = np.where(panel, 0.0, p / (1 - p))
    smooth = lambda a: gaussian_filter1d(a, 2.0, mode="constant", cval=0.0, truncate=3.0)  # noqa: E731
    comparison = smooth(w @ hits) / smooth(w @ posts)
    np.testing.assert_allclose(res.series["comparison_share"].sel(trend="t").values, comparison, rtol=1e-6)
    mine = smooth(hits[panel].sum(0)) / smooth(posts[panel].sum(0))
    assert best_shift(mine, comparison, cfg.max_lead, posts[panel].sum(0))[0] == row["LEAD_WEEKS"]
    # the replicates' pair: the panel unweighted and its comparison group, one row per replicate
    pair = res.series["lead_pair_share"]
    assert pair.sizes == {"replicate": 60, "trend": 1, "pair": 2, "week": weeks}
    assert np.isfinite(pair.values).all()
    # reading the panel's composition-corrected series against all authors instead, the panel's
    # authors of the frequent kind weigh up to 1/p: the lead it gives is noisier (wider interval)
    weighted = best_shift(
        res.series["share"].sel(trend="t", panel="fashion_forward").values,
        res.series["share"].sel(trend="t", panel="all").values,
        cfg.max_lead,
    )[0]
    matched = best_shift(pair.sel(trend="t", pair="panel").values, pair.sel(trend="t", pair="comparison").values, 8)[0]
    assert np.ptp(np.quantile(matched, [0.05, 0.95])) <= np.ptp(np.quantile(weighted, [0.05, 0.95]))
    # hidden selection: at gamma 1 the lead's range is the untrimmed odds weights' lead
    assert res.sensitivity is not None
    sens = res.sensitivity.loc[("t", 1.0)]
    assert sens["lead_low"] == sens["lead_high"] == row["LEAD_WEEKS"]
    assert res.sensitivity.loc[("t", 3.0), "lead_low"] <= lead <= res.sensitivity.loc[("t", 3.0), "lead_high"]


def test_lead_table_reads_whole_weeks_and_lets_a_crossed_trend_wrap() -> None:
    from types import SimpleNamespace

    from bayesseg.workflow.trends_section import _lead

    crossed = "pattern:stripes+object_detection:top"
    lead = pd.DataFrame(
        {
            "TREND": ["pattern:leopard", crossed, "pattern:leopard", crossed],
            "PANEL": ["fashion_forward", "fashion_forward", "tier:edgy", "tier:edgy"],
            "LEAD_WEEKS": [3.0, -0.4, -1.6, 0.0],
            "LOW": [1.4, -2.0, -2.5, -0.3],
            "HIGH": [4.0, 0.49, -0.6, 0.2],
            "STATUS": ["identified", "identified", "identified", "not identified"],
        }
    )
    html = _lead(SimpleNamespace(lead=lead, series=xr.Dataset(attrs={"ci_prob": 0.9})), {})
    # a negative value that rounds to zero reads "+0", never "-0"; round half to even as Python rounds
    # a lead and its interval on one line (no-break spaces)
    assert "+3\u00a0[+1,\u00a0+4]" in html and "+0\u00a0[-2,\u00a0+0]" in html and "-2\u00a0[-2,\u00a0-1]" in html
    assert "-0" not in html.replace("-0.", "")
    assert "ahead of comparable authors on pattern:leopard" in html
    # the crossed trend's header may break after its "+", ":" and "_"; the row of a lead not identified shows "—"
    assert "pattern:<wbr>stripes+\u200bobject_<wbr>detection:<wbr>top" in html and "—" in html


def test_the_report_names_the_trends_of_the_pooled_lead() -> None:
    from types import SimpleNamespace

    from bayesseg.survey.panel import POOLED
    from bayesseg.workflow.trends_section import _lead

    weeks = pd.date_range("2024-01-01", periods=40, freq="W-MON")
    share = np.stack([np.linspace(0.01, 0.03, 40), np.full(40, 0.02)])[:, None, :]  # a rise of ~2x, a flat trend
    series = xr.Dataset(
        {"weighted_share": (("trend", "panel", "week"), share)},
        coords={"trend": ["pattern:leopard", "pattern:stripes"], "panel": ["all"], "week": weeks},
        attrs={"ci_prob": 0.9, "lead_min_rise": 1.5},
    )
    lead = pd.DataFrame(
        {
            "TREND": ["pattern:leopard", "pattern:stripes", POOLED],
            "PANEL": ["fashion_forward"] * 3,
            "LEAD_WEEKS": [np.nan, np.nan, 2.0],
            "LOW": [np.nan, np.nan, 1.0],
            "HIGH": [np.nan, np.nan, 3.0],
            "STATUS": [
                "not identified: interval reaches the search window",
                "not identified: flat trend",
                "identified",
            ],
        }
    )
    html = _lead(SimpleNamespace(lead=lead, series=series), {})
    assert "On the rising trends together (pattern:leopard) its lead is +2 weeks [+1, +3]." in html
    # the per-trend sentence counts the trends, not the pooled row
    assert "For 2 trend(s) its lead cannot be told" in html and f"ahead of comparable authors on {POOLED}" not in html
    series.attrs["lead_min_rise"] = 3.0
    lead.loc[2, ["LEAD_WEEKS", "LOW", "HIGH", "STATUS"]] = [np.nan, np.nan, np.nan, "not identified: no rising trend"]
    html = _lead(SimpleNamespace(lead=lead, series=series), {})
    assert "On the rising trends together (none) its lead is not identified: no rising trend." in html
