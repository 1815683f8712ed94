"""Selection the data cannot see: marginal-sensitivity bounds against brute force over the weights' vertices."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from bayesseg.exceptions import InputError
from bayesseg.survey.sensitivity import flip_gamma, ratio_bounds, sensitivity_table, share_bounds, weight_bounds


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
