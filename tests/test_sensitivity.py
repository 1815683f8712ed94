"""Selection the data cannot see: marginal-sensitivity bounds against brute force over the weights' vertices."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from bayesseg.exceptions import InputError
from bayesseg.survey.panel import best_shift
from bayesseg.survey.sensitivity import (
    flip_gamma,
    lead_bounds,
    lead_sensitivity_table,
    odds_bounds,
    ratio_bounds,
    sensitivity_table,
    share_bounds,
    weight_bounds,
)


def brute_force(y, n, low, high):
    # a linear-fractional objective over a box is extreme at a vertex: try them all
    values = []
    for corner in itertools.product(*zip(low, high, strict=True)):
        w = np.array(corner)
        values.append((w * n * y).sum() / (w * n).sum())
    return min(values), max(values)


@pytest.mark.parametrize("seed", range(4))
def test_bounds_match_every_vertex_of_the_weights_box(seed):
    rng = np.random.default_rng(seed)
    k = 9
    y, n = rng.random(k), rng.integers(0, 6, size=k).astype(float)
    n[0] = max(n[0], 1.0)
    low = rng.uniform(0.5, 2.0, size=k)
    high = low * rng.uniform(1.0, 4.0, size=k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a column without mass is NaN, quietly
        lower, upper = ratio_bounds(np.c_[y, y], np.c_[n, np.zeros(k)], low, high)
    assert np.isnan(lower[1]) and np.isnan(upper[1])
    ref = brute_force(y, n, low, high)
    assert lower[0] == pytest.approx(ref[0], rel=1e-12) and upper[0] == pytest.approx(ref[1], rel=1e-12)


def test_gamma_one_gives_the_weighted_share_and_bounds_widen_with_gamma():
    rng = np.random.default_rng(7)
    e = rng.uniform(0.05, 0.9, size=40)
    posts = rng.integers(0, 8, size=(40, 5)).astype(float)
    hits = rng.binomial(posts.astype(int), 0.2).astype(float)
    lo, hi = share_bounds(e, hits, posts, 1.0)
    w = 1 / e
    np.testing.assert_allclose(lo, (w @ hits) / (w @ posts))
    np.testing.assert_allclose(hi, lo)
    previous = (lo, hi)
    for g in (1.5, 2.0, 4.0):
        lo, hi = share_bounds(e, hits, posts, g)
        assert np.all(lo <= previous[0] + 1e-15) and np.all(hi >= previous[1] - 1e-15)
        previous = (lo, hi)
    a, b = weight_bounds(np.array([0.2]), 2.0)
    assert a[0] == pytest.approx(1 + 4 / 2) and b[0] == pytest.approx(1 + 4 * 2)
    with pytest.raises(InputError, match="gamma must be >= 1"):
        weight_bounds(e, 0.5)


def test_a_rising_trend_flips_where_its_bounds_meet_and_a_strong_rise_never():
    rng = np.random.default_rng(3)
    m = 200
    e = rng.uniform(0.1, 0.9, size=m)
    posts = np.full(m, 50.0)
    early = (rng.binomial(50, 0.02, size=m).astype(float), posts)
    late = (rng.binomial(50, 0.03, size=m).astype(float), posts)
    strong = flip_gamma(e, early, late)
    assert 1.0 < strong < np.inf
    # at the flip, the late share's lower bound meets the early share's upper bound
    below = share_bounds(e, late[0][:, None], late[1][:, None], strong)[0][0]
    above = share_bounds(e, early[0][:, None], early[1][:, None], strong)[1][0]
    assert below == pytest.approx(above, rel=0.05)
    assert flip_gamma(e, late, early) == 1.0  # "falling" does not hold with the fitted weights
    # every author five times as likely to post the trend late: it survives every gamma searched (up to 10)
    fivefold = (rng.binomial(50, 0.10, size=m).astype(float), posts)
    assert flip_gamma(e, early, fivefold) == np.inf


def test_sensitivity_table_per_trend_and_gamma():
    rng = np.random.default_rng(5)
    m, weeks = 120, 30
    e = rng.uniform(0.1, 0.9, size=m)
    posts = rng.integers(1, 5, size=(m, weeks)).astype(float)
    rate = np.r_[np.full(15, 0.02), np.full(15, 0.2)]
    hits = np.stack([rng.binomial(posts.astype(int), rate), rng.binomial(posts.astype(int), rate[::-1])], axis=1)
    t = sensitivity_table(e, hits.astype(float), posts, ["up", "down"], period_weeks=13)
    assert t.loc[("up", 1.0), "direction"] == "rising" and t.loc[("down", 1.0), "direction"] == "falling"
    assert t.loc[("up", 1.0), "flip_gamma"] > 1.5 and t.loc[("down", 1.0), "flip_gamma"] > 1.5
    assert (t["early_low"] <= t["early_high"]).all() and (t["late_low"] <= t["late_high"]).all()
    with pytest.raises(InputError, match="fewer than two periods"):
        sensitivity_table(e, hits.astype(float), posts, ["up", "down"], period_weeks=20)


def pulses(n_authors: int, weeks: int, rng: np.random.Generator, early: int) -> tuple[np.ndarray, np.ndarray]:
    """Each author shows the trend in a pulse around its own week; the first `early` authors pulse 4 weeks early."""
    centre = rng.uniform(20, 30, size=n_authors)
    centre[:early] -= 4.0
    t = np.arange(weeks)
    posts = np.full((n_authors, weeks), 10.0)
    rate = 0.02 + 0.3 * np.exp(-0.5 * ((t[None, :] - centre[:, None]) / 3.0) ** 2)
    return posts * rate, posts


def test_lead_bounds_at_gamma_one_are_the_weighted_panel_lead_and_widen_with_gamma():
    rng = np.random.default_rng(3)
    hits, posts = pulses(40, 52, rng, early=20)
    e = rng.uniform(0.05, 0.6, size=40)
    target = (hits[20:] / e[20:, None]).sum(0) / (posts[20:] / e[20:, None]).sum(0)  # the late authors only
    w = 1 / e
    panel = (w @ hits) / (w @ posts)
    point = best_shift(panel, target, 8, posts.sum(0))[0]
    assert point > 0
    assert lead_bounds(e, hits, posts, target, 1.0, 8) == (point, point)
    ranges = [lead_bounds(e, hits, posts, target, g, 8) for g in (1.0, 1.5, 3.0, 10.0)]
    lows, highs = zip(*ranges, strict=True)
    assert list(lows) == sorted(lows, reverse=True) and list(highs) == sorted(highs)
    assert lows[1] < point < highs[1] and lows[-1] < 0  # hidden selection of 10-fold odds can undo the lead


def test_lead_bounds_lie_inside_the_range_over_every_vertex():
    # the search visits threshold vertices only: its range is inside the exact one over all 2^n vertices
    rng = np.random.default_rng(5)
    hits, posts = pulses(9, 40, rng, early=4)
    e = rng.uniform(0.1, 0.6, size=9)
    target = hits[4:].sum(0) / posts[4:].sum(0)
    low_w, high_w = weight_bounds(e, 2.0)
    leads = []
    for corner in itertools.product(*zip(low_w, high_w, strict=True)):
        w = np.array(corner)
        leads.append(best_shift((w @ hits) / (w @ posts), target, 6, posts.sum(0))[0])
    low, high = lead_bounds(e, hits, posts, target, 2.0, 6)
    assert min(leads) <= low <= high <= max(leads)
    assert low == min(leads) and high == max(leads)  # here the timing order finds the extremes


def test_lead_flip_gamma_is_where_the_range_first_reaches_zero():
    rng = np.random.default_rng(7)
    hits, posts = pulses(60, 52, rng, early=30)
    e = rng.uniform(0.05, 0.6, size=60)
    target = hits[30:].sum(0) / posts[30:].sum(0)
    table = lead_sensitivity_table(e, hits[:, None, :], posts, target[None, :], ["t"], 8)
    flip = float(table["lead_flip_gamma"].iloc[0])
    assert 1 < flip < np.inf
    assert lead_bounds(e, hits, posts, target, flip, 8)[0] <= 0 < lead_bounds(e, hits, posts, target, flip - 0.02, 8)[0]
    # a trend without a lead under the fitted weights has no flip
    flat = lead_sensitivity_table(e, hits[30:, None, :], posts[30:], target[None, :], ["t"], 8)
    assert np.isnan(flat["lead_flip_gamma"]).all()


def test_lead_bounds_of_a_comparison_group_move_its_odds_weights():
    # the comparison group's authors, weighted by selection odds in [odds / gamma, odds * gamma], against a fixed
    # panel series that pulses 2 weeks before the late half of the group
    rng = np.random.default_rng(9)
    hits, posts = pulses(9, 40, rng, early=4)
    e = rng.uniform(0.1, 0.6, size=9)
    odds = e / (1 - e)
    panel_hits, panel_posts = pulses(30, 40, np.random.default_rng(10), early=0)
    panel = np.roll(panel_hits.sum(0), -2) / panel_posts.sum(0)
    point = best_shift(panel, (odds @ hits) / (odds @ posts), 6, panel_posts.sum(0))[0]
    assert lead_bounds(e, hits, posts, panel, 1.0, 6, panel_posts=panel_posts.sum(0)) == (point, point)
    low_w, high_w = odds_bounds(e, 2.0)
    np.testing.assert_allclose(high_w / low_w, 4.0)
    leads = []
    for corner in itertools.product(*zip(low_w, high_w, strict=True)):
        w = np.array(corner)
        leads.append(best_shift(panel, (w @ hits) / (w @ posts), 6, panel_posts.sum(0))[0])
    low, high = lead_bounds(e, hits, posts, panel, 2.0, 6, panel_posts=panel_posts.sum(0))
    assert min(leads) <= low <= point <= high <= max(leads) and low < high
    # a coarser search visits a subset of the thresholds: its range lies inside
    coarse = lead_bounds(e, hits, posts, panel, 2.0, 6, panel_posts=panel_posts.sum(0), max_thresholds=3)
    assert low <= coarse[0] <= coarse[1] <= high
    with pytest.raises(InputError, match="propensities must lie in"):
        odds_bounds(np.array([0.5, 1.0]), 2.0)
