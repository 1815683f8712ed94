"""A panel's gap to the target (composition and behaviour) and its lead, against constructions with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesseg.exceptions import InputError
from bayesseg.survey.panel import LEAD_COLUMNS, POOLED, best_shift, gap_decomposition, panel_lead, rising_trends


def bump(weeks: int, centre: float, width: float = 6.0, level: float = 0.01, height: float = 0.03) -> np.ndarray:
    t = np.arange(weeks)
    return level + height * np.exp(-0.5 * ((t - centre) / width) ** 2)


def test_the_gap_is_composition_plus_behaviour_with_percentile_bands():
    rng = np.random.default_rng(0)
    point = np.array([[0.02, 0.025, 0.04], [0.01, 0.01, 0.01]])  # target, weighted panel, raw panel
    reps = point[None] + rng.normal(0, 0.002, size=(400, 2, 3))
    reps[5] = np.nan  # a replicate that could not be weighted
    d = gap_decomposition(point, reps, ["a", "b"], 0.9)
    np.testing.assert_allclose(d["gap"], d["composition"] + d["behaviour"])
    assert d.loc["a", "gap"] == pytest.approx(0.02) and d.loc["a", "composition"] == pytest.approx(0.015)
    assert d.loc["a", "behaviour"] == pytest.approx(0.005) and d.loc["b", "gap"] == 0.0
    ok = ~np.isnan(reps[:, 0, 0])
    comp = reps[ok, 0, 2] - reps[ok, 0, 1]
    assert d.loc["a", "composition_low"] == pytest.approx(np.quantile(comp, 0.05))
    assert d.loc["a", "composition_high"] == pytest.approx(np.quantile(comp, 0.95))
    with pytest.raises(InputError, match="do not match 3 trends"):
        gap_decomposition(point, reps, ["a", "b", "c"], 0.9)


@pytest.mark.parametrize("lead", [-3, 0, 2, 5])
def test_best_shift_recovers_a_known_lead_up_to_a_level_factor(lead):
    target = bump(104, 50)
    panel = 1.7 * bump(104, 50 - lead)  # the panel's bump comes `lead` weeks earlier, 1.7 times higher
    got, n = best_shift(panel, target, 8)
    assert got == lead and n == 104 - abs(lead)
    # one row per replicate gives the same answers
    leads, counts = best_shift(np.vstack([panel, panel]), np.vstack([target, target]), 8)
    assert leads.tolist() == [lead, lead] and counts.tolist() == [n, n]


def test_best_shift_prefers_no_shift_among_equals_and_skips_missing_weeks():
    flat = np.full(30, 0.01)
    assert best_shift(flat, flat, 5)[0] == 0.0
    target = bump(60, 30)
    panel = bump(60, 27)
    panel[[3, 40]] = np.nan
    lead, n = best_shift(panel, target, 6)
    assert lead == 3 and n == 60 - 3 - 2
    assert np.isnan(best_shift(np.full(4, np.nan), np.full(4, 0.01), 1)[0])


def series_with_replicates(panel_lead_weeks: int, flat: bool = False, replicates: int = 60) -> xr.Dataset:
    rng = np.random.default_rng(panel_lead_weeks + 10 * flat)
    weeks = pd.date_range("2024-01-01", periods=80, freq="W-MON")
    target = np.full(80, 0.02) if flat else bump(80, 40)
    panel = 1.3 * (np.full(80, 0.02) if flat else bump(80, 40 - panel_lead_weeks))
    point = np.stack([target, panel])[None]  # (trend, panel, week)
    noise = rng.normal(0.0, 0.08, size=(replicates, 1, 2, 80))
    reps = point[None] * np.exp(noise)
    return xr.Dataset(
        {
            "weighted_share": (("trend", "panel", "week"), point),
            "share": (("replicate", "trend", "panel", "week"), reps),
        },
        coords={"trend": ["t"], "panel": ["all", "fashion_forward"], "week": weeks, "replicate": np.arange(replicates)},
    )


def test_panel_lead_has_an_interval_around_the_true_lead():
    lead = panel_lead(series_with_replicates(4), max_lead=8)
    assert list(lead.columns) == list(LEAD_COLUMNS) and lead["TREND"].tolist() == ["t", POOLED]
    row = lead.iloc[0]
    assert row["STATUS"] == "identified" and row["LEAD_WEEKS"] == 4 and row["LOW"] <= 4 <= row["HIGH"]
    assert row["HIGH"] - row["LOW"] <= 4 and row["N_WEEKS"] == 76
    # a bump that ends where it began does not rise: nothing to pool
    pooled = lead.iloc[1]
    assert pooled["STATUS"] == "not identified: no rising trend" and np.isnan(pooled["LEAD_WEEKS"])
    assert pooled["N_WEEKS"] == 0


def test_a_flat_trend_has_no_lead():
    row = panel_lead(series_with_replicates(0, flat=True), max_lead=8).set_index("TREND").loc["t"]
    assert row["STATUS"] == "not identified: flat trend" and np.isnan(row["LEAD_WEEKS"]) and np.isnan(row["LOW"])


def test_panel_lead_refuses_a_window_it_cannot_search():
    s = series_with_replicates(2)
    with pytest.raises(InputError, match="max_lead must be between 1 and 77 weeks"):
        panel_lead(s, max_lead=0)
    with pytest.raises(InputError, match="target panel 'platform'"):
        panel_lead(s, target="platform")
    with pytest.raises(InputError, match=r"min_rise must be above 1, got 1\.0"):
        panel_lead(s, min_rise=1.0)


def test_best_shift_recovers_a_lead_from_sparse_counts():
    # a rising trend seen through a panel's few posts: early weeks hold 0-3 trend posts; the lead is 3
    rng = np.random.default_rng(0)
    weeks = np.arange(108)
    rise = lambda t: 0.004 * np.exp(2.5 * (1 / (1 + np.exp(-20 * (t / 107 - 0.5))) - 0.5))  # noqa: E731
    target = rise(weeks)
    n_posts = np.full(108, 500.0)
    hits = rng.poisson(2.0 * rise(weeks + 3)[None, :] * n_posts, size=(200, 108))
    leads, _ = best_shift(hits / n_posts, np.broadcast_to(target, hits.shape), 8, n_posts)
    # unbiased, and within a week in about two panels of three at this signal (the benchmark's level)
    assert abs(leads.mean() - 3) < 0.3 and np.mean(np.abs(leads - 3) <= 1) >= 0.55
    assert (hits[:, :30] == 0).mean() > 0.1  # weeks without a trend post are common, and count


def rise(t: np.ndarray, level: float, height: float = 2.5) -> np.ndarray:
    """An S-shaped rise over 108 weeks (the simulator's logistic shape)."""
    return level * np.exp(height * (1 / (1 + np.exp(-20 * (t / 107 - 0.5))) - 0.5))


def rising_series(leads: dict[str, int], levels: dict[str, float], replicates: int = 100, seed: int = 0) -> xr.Dataset:
    """Target and fashion-forward series of several trends, the panel's counts Poisson with 500 posts a week."""
    rng = np.random.default_rng(seed)
    t = np.arange(108)
    posts = np.full(108, 500.0)
    target = np.stack([rise(t, levels[k]) if leads[k] >= 0 else np.full(108, levels[k]) for k in leads])
    panel_mean = np.stack([rise(t + max(leads[k], 0), 1.5 * levels[k]) if leads[k] >= 0 else 1.5 * target[j]
                           for j, k in enumerate(leads)])  # fmt: skip
    panel = rng.poisson(panel_mean[None] * posts, size=(replicates + 1, *panel_mean.shape)) / posts
    target_reps = target[None] * np.exp(rng.normal(0.0, 0.03, size=(replicates, *target.shape)))
    point = np.stack([target, panel[0]], axis=1)  # (trend, panel, week)
    reps = np.stack([target_reps, panel[1:]], axis=2)
    return xr.Dataset(
        {
            "weighted_share": (("trend", "panel", "week"), point),
            "share": (("replicate", "trend", "panel", "week"), reps),
            "n_posts": (("panel", "week"), np.stack([posts * 20, posts])),
        },
        coords={
            "trend": list(leads),
            "panel": ["all", "trendy"],
            "week": pd.date_range("2023-01-02", periods=108, freq="W-MON"),
            "replicate": np.arange(replicates),
        },
    )


def poisson_deviance(p: np.ndarray, a: np.ndarray, w: np.ndarray, lead: int) -> float:
    """The criterion of one shift written out: panel week t against target week t + lead, c profiled out."""
    n = p.size
    weeks = [t for t in range(n) if 0 <= t + lead < n]
    pp, aa, ww = p[weeks], a[[t + lead for t in weeks]], w[weeks]
    c = (ww * pp).sum() / (ww * aa).sum()
    terms = [
        wi * ((pi * np.log(pi / (c * ai)) if pi > 0 else 0.0) - pi + c * ai)
        for pi, ai, wi in zip(pp, aa, ww, strict=True)
    ]
    return float(np.sum(terms) / ww.sum())


def test_rising_trends_compare_the_last_quarter_with_the_first():
    levels = {"a:rising": 0.004, "b:flat": 0.01, "c:small": 0.002}
    s = rising_series({"a:rising": 0, "b:flat": -1, "c:small": 0}, levels)
    assert rising_trends(s) == ["a:rising", "c:small"]  # exp(2.5) from start to end; the flat one is left
    # the threshold is the ratio of the quarters' mean shares (27 weeks each of 108)
    share = s["weighted_share"].sel(panel="all", trend="a:rising").values
    ratio = share[-27:].mean() / share[:27].mean()
    assert rising_trends(s, min_rise=ratio * 0.99) == ["a:rising", "c:small"]
    assert rising_trends(s, min_rise=ratio * 1.01) == []
    # a quarter without posts (NaN weeks) has no mean: that trend is not called rising, quietly
    gap = s.copy(deep=True)
    gap["weighted_share"].loc[{"trend": "c:small", "panel": "all"}] = np.where(np.arange(108) < 27, np.nan, 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rising_trends(gap) == ["a:rising"]
    with pytest.raises(InputError, match="min_rise must be above 1"):
        rising_trends(s, min_rise=0.9)
    with pytest.raises(InputError, match="a rise needs at least 4 weeks, got 3"):
        rising_trends(s.isel(week=slice(0, 3)))


def test_the_pooled_lead_minimises_the_summed_deviance_of_the_rising_trends():
    leads = {"a:one": 3, "b:two": 3, "c:flat": -1}
    s = rising_series(leads, {"a:one": 0.02, "b:two": 0.01, "c:flat": 0.01})
    got = panel_lead(s, max_lead=6).set_index(["TREND", "PANEL"])
    w = s["n_posts"].sel(panel="trendy").values
    share = s["weighted_share"]
    total = {
        lead: sum(
            poisson_deviance(share.sel(trend=k, panel="trendy").values, share.sel(trend=k, panel="all").values, w, lead)
            for k in ("a:one", "b:two")  # the flat trend does not rise: not pooled
        )
        for lead in range(-6, 7)
    }
    pooled = got.loc[(POOLED, "trendy")]
    assert pooled["LEAD_WEEKS"] == min(total, key=total.get) and pooled["STATUS"] == "identified"
    assert pooled["LOW"] <= 3 <= pooled["HIGH"] and pooled["N_WEEKS"] == 108 - abs(pooled["LEAD_WEEKS"])
    # with one rising trend the pooled lead is that trend's
    one = panel_lead(s.sel(trend=["a:one", "c:flat"]), max_lead=6).set_index("TREND")
    assert (
        one.loc[POOLED, ["LEAD_WEEKS", "LOW", "HIGH", "N_WEEKS"]].tolist()
        == one.loc["a:one", ["LEAD_WEEKS", "LOW", "HIGH", "N_WEEKS"]].tolist()
    )


def test_a_pooled_lead_times_trends_too_sparse_to_time_alone():
    """Twelve trends with a lead of 2, each seen in one or two of the panel's posts a week at its start."""
    leads = {f"t:{j}": 2 for j in range(12)}
    alone_within, pooled_within, pooled_covers, narrower = [], [], [], []
    for seed in range(10):
        s = rising_series(leads, dict.fromkeys(leads, 0.0025), replicates=60, seed=seed)
        got = panel_lead(s, max_lead=8).set_index("TREND")
        alone, pooled = got.drop(index=POOLED), got.loc[POOLED]
        alone_within.extend(alone["LEAD_WEEKS"].sub(2).abs() <= 1)  # a lead not identified (NaN) is a miss
        pooled_within.append(abs(pooled["LEAD_WEEKS"] - 2) <= 1)
        pooled_covers.append(pooled["LOW"] <= 2 <= pooled["HIGH"])
        narrower.append(pooled["HIGH"] - pooled["LOW"] < (alone["HIGH"] - alone["LOW"]).median())
    # alone, about half the trend-seeds are timed within a week (0.50 on 40 seeds); pooled, all 40 were
    assert np.mean(alone_within) < 0.7
    assert all(pooled_within) and all(pooled_covers) and all(narrower)
