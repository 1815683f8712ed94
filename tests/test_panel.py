"""A panel's gap to the target (composition and behaviour) and its lead, against constructions with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesseg.exceptions import InputError
from bayesseg.survey.panel import LEAD_COLUMNS, best_shift, gap_decomposition, panel_lead


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
    assert list(lead.columns) == list(LEAD_COLUMNS) and len(lead) == 1
    row = lead.iloc[0]
    assert row["STATUS"] == "identified" and row["LEAD_WEEKS"] == 4 and row["LOW"] <= 4 <= row["HIGH"]
    assert row["HIGH"] - row["LOW"] <= 4 and row["N_WEEKS"] == 76


def test_a_flat_trend_has_no_lead():
    row = panel_lead(series_with_replicates(0, flat=True), max_lead=8).iloc[0]
    assert row["STATUS"] == "not identified: flat trend" and np.isnan(row["LEAD_WEEKS"]) and np.isnan(row["LOW"])


def test_panel_lead_refuses_a_window_it_cannot_search():
    s = series_with_replicates(2)
    with pytest.raises(InputError, match="max_lead must be between 1 and 77 weeks"):
        panel_lead(s, max_lead=0)
    with pytest.raises(InputError, match="target panel 'platform'"):
        panel_lead(s, target="platform")


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
