"""A population known by its margins: the margins file's checks, calibration against closed forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayesseg.exceptions import InputError, WeightsError
from bayesseg.survey.margins import calibrate, margin_balance, margin_memberships, read_margins

GOOD = """variable,level,share
followers,0-1000,0.5
followers,1000-10000,0.3
followers,10000-,0.2
segment,luxury,0.1
segment,casual,0.9
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "margins.csv"
    path.write_text(text)
    return path


def test_a_good_file_reads_with_its_ranges(tmp_path):
    m = read_margins(write(tmp_path, GOOD))
    assert list(m.shares) == ["followers", "segment"]
    assert m.shares["followers"].to_dict() == {"0-1000": 0.5, "1000-10000": 0.3, "10000-": 0.2}
    assert m.bounds.loc["10000-", "high"] == np.inf and m.bounds.loc["0-1000", "low"] == 0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("variable,level\nfollowers,0-\n", r"missing column\(s\) \['share'\]"),
        ("variable,level,share\ncountry,US,1\n", r"row 2: unknown variable 'country'"),
        ("variable,level,share\nfollowers,0-,1.5\n", r"row 2: share 1.5 of followers '0-' is not a number in \[0, 1\]"),
        ("variable,level,share\nfollowers,0-,x\n", r"row 2: share 'x'"),
        ("variable,level,share\nfollowers,0-10,0.5\nfollowers,0-10,0.5\n", r"row 3: level '0-10' of followers repeats"),
        ("variable,level,share\nfollowers,0-10,0.5\nfollowers,10-,0.4\n", "shares of followers sum to 0.9, not 1"),
        ("variable,level,share\nfollowers,ten-20,1\n", r"follower range 'ten-20' must read LOW-HIGH"),
        ("variable,level,share\nfollowers,20-10,1\n", r"follower range '20-10'"),
        ("variable,level,share\nfollowers,0-100,0.5\nfollowers,50-,0.5\n", r"'0-100' and '50-' overlap"),
        ("variable,level,share\n", "no margin"),
    ],
)
def test_bad_files_get_errors_naming_the_row_and_value(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        read_margins(write(tmp_path, text))


def test_memberships_place_authors_and_refuse_what_they_cannot_place(tmp_path):
    m = read_margins(write(tmp_path, GOOD))
    followers = np.array([10.0, 999.0, 1000.0, 5e6, np.nan])
    r = np.array([[0.2, 0.8]] * 5)
    levels, known = margin_memberships(m, followers, r, ["luxury", "casual"])
    assert known.tolist() == [True, True, True, True, False]
    np.testing.assert_array_equal(levels["followers"].argmax(axis=1)[:4], [0, 0, 1, 2])
    assert levels["followers"][4].sum() == 0 and levels["segment"][4].sum() == 0
    np.testing.assert_allclose(levels["segment"][:4], r[:4])
    with pytest.raises(InputError, match=r"segments \['casual', 'luxury'\] are not the model's"):
        margin_memberships(m, followers, r, ["luxury", "sporty"])
    with pytest.raises(InputError, match="need the model's memberships"):
        margin_memberships(m, followers, None, [])
    high_floor = read_margins(write(tmp_path, "variable,level,share\nfollowers,100-,1\n"))
    with pytest.raises(InputError, match=r"1 author\(s\) have follower counts in no range \(e.g. 10\)"):
        margin_memberships(high_floor, np.array([10.0, 200.0]), None, [])


def test_one_margin_calibrates_to_the_post_stratification_closed_form(tmp_path):
    rng = np.random.default_rng(1)
    m = read_margins(write(tmp_path, "variable,level,share\nfollowers,0-1000,0.7\nfollowers,1000-,0.3\n"))
    followers = np.exp(rng.normal(7.5, 1.5, size=500))  # about half above 1000: the crawl over-samples them
    levels, known = margin_memberships(m, followers, None, [])
    res = calibrate(m, levels, known)
    small = followers < 1000
    # post-stratification: each level's authors share the level's population total equally
    expected = np.where(small, 0.7 * 500 / small.sum(), 0.3 * 500 / (~small).sum())
    np.testing.assert_allclose(res.weights, expected, rtol=1e-9)
    balance = margin_balance(m, levels, res.weights)
    np.testing.assert_allclose(balance["calibrated"], [0.7, 0.3], atol=1e-9)
    assert balance.loc[("followers", "0-1000"), "warehouse"] == pytest.approx(small.mean())
    assert balance["asmd_after"].max() < 1e-6 < balance["asmd_before"].max()


def test_two_margins_are_matched_together_and_bootstrap_weights_start_the_raking(tmp_path):
    rng = np.random.default_rng(2)
    m = read_margins(write(tmp_path, GOOD))
    n = 800
    followers = np.exp(rng.normal(8.0, 2.0, size=n))
    followers[:7] = np.nan
    r = rng.dirichlet([1.0, 3.0], size=n)
    levels, known = margin_memberships(m, followers, r, ["luxury", "casual"])
    base = rng.poisson(1.0, size=n).astype(float)
    res = calibrate(m, levels, known, base)
    assert res.model["converged"]
    assert np.all(res.weights[~known] == 0) and np.all(res.weights[base == 0] == 0)
    assert res.weights.sum() == pytest.approx(base[known].sum())
    for v in ("followers", "segment"):
        np.testing.assert_allclose(res.weights @ levels[v] / res.weights.sum(), m.shares[v].to_numpy(), atol=1e-8)
    # a level the population holds but the warehouse does not is named
    empty = read_margins(write(tmp_path, "variable,level,share\nfollowers,0-10,0.5\nfollowers,10-,0.5\n"))
    lv, kn = margin_memberships(empty, np.array([50.0, 60.0]), None, [])
    with pytest.raises(WeightsError, match=r"followers level\(s\) \['0-10'\] have a population share but no author"):
        calibrate(empty, lv, kn)
