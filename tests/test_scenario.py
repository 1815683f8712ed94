"""Simulator scenarios that break the trend estimators' assumptions: a crawl, adopters, a panel that leads."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from bayesseg.exceptions import InputError
from bayesseg.simulate import TRENDS, Calibration, simulate_warehouse
from bayesseg.simulate.generative import author_curves, trend_curves
from bayesseg.simulate.scenario import SCENARIOS, Scenario, platform_series, post_trend_probability
from bayesseg.survey.margins import read_margins

N = 2_500


def _truth(path, *tables):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM TRUTH.{t}").df() for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "lead.duckdb"
    simulate_warehouse(path, N, seed=11, scenario=SCENARIOS["early_adopters"])
    return path


def test_the_default_scenario_changes_nothing(tmp_path):
    a = simulate_warehouse(tmp_path / "a.duckdb", 300, seed=4)
    b = simulate_warehouse(tmp_path / "b.duckdb", 300, seed=4, scenario=Scenario())
    assert a.checksum == b.checksum
    assert not Scenario().active and SCENARIOS["lead_2"].active


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"crawl_rate": 0.0}, "crawl_rate"),
        ({"crawl_rate": 1.5}, "crawl_rate"),
        ({"adoption_sd": -1.0}, "adoption_sd"),
        ({"lead_weeks": -2}, "lead_weeks"),
        ({"rising_shape": "linear"}, "rising_shape"),
        ({"crawl_segments": {"goth": 1.0}}, "goth"),
    ],
)
def test_bad_scenarios_are_named(kwargs, word):
    with pytest.raises(InputError, match=word):
        Scenario(**kwargs)


def test_author_curves_shift_rising_trends_only_and_multiply():
    cal = Calibration()
    curves = trend_curves(cal, "logistic")
    seg = np.array([3, 3])
    out = author_curves(curves, seg, np.array([1.0, 2.0]), np.array([0, 5]))
    for j, tr in enumerate(TRENDS):
        np.testing.assert_allclose(out[j, 0], np.clip(curves[j, 3], 0, 0.5))
        week = np.minimum(np.arange(curves.shape[2]) + (5 if tr.shape == "rising" else 0), curves.shape[2] - 1)
        expected = curves[j, 3, week]
        np.testing.assert_allclose(out[j, 1], np.clip(2.0 * expected, 0, 0.5))


def test_logistic_rise_keeps_the_exponential_range_but_not_its_shift_invariance():
    cal = Calibration()
    exp_, log_ = trend_curves(cal, "exponential"), trend_curves(cal, "logistic")
    j = next(i for i, t in enumerate(TRENDS) if t.shape == "rising")
    ratio = lambda c: c[j, 3, -1] / c[j, 3, 0]  # noqa: E731
    assert ratio(log_) == pytest.approx(ratio(exp_), rel=0.01)
    # an exponential shifted by 4 weeks is the same curve times a constant; the logistic is not
    d_exp = np.log(exp_[j, 3, 4:]) - np.log(exp_[j, 3, :-4])
    d_log = np.log(log_[j, 3, 4:]) - np.log(log_[j, 3, :-4])
    assert np.std(d_exp) < 1e-9 < 0.05 < np.std(d_log)


def test_post_probability_matches_a_direct_simulation_of_images():
    cal = Calibration(multi_image_posts=0.3)
    rng = np.random.default_rng(0)
    q, n = 0.2, 400_000
    n_img = np.where(rng.random(n) < cal.multi_image_posts, rng.integers(2, 5, n), 1)
    shows = np.array([((rng.random(k) > cal.unlabelled_images) & (rng.random(k) < q)).any() for k in n_img[:40_000]])
    assert post_trend_probability(np.array(q), cal) == pytest.approx(shows.mean(), abs=4 * np.sqrt(0.2 / 40_000))


def test_crawl_panel_and_truth_tables(crawled):
    t = _truth(crawled, "AUTHORS", "LEAD", "PLATFORM_MARGINS", "PARAMETERS")
    authors = t["AUTHORS"]
    # about N authors kept, the crawl favouring large accounts
    assert abs(len(authors) - N) < 5 * np.sqrt(N)
    assert np.corrcoef(authors["CRAWL_PROBABILITY"], authors["LOG1P_FOLLOWERS"])[0, 1] > 0.5
    # the panel's rates by tier match the contract among the warehouse's authors (solved exactly)
    rates = authors.groupby("TIER")["PANEL_PROBABILITY"].mean()
    np.testing.assert_allclose(rates[["mainstream", "trendy", "edgy"]], Calibration().fashion_interest, rtol=1e-4)
    # selected on adoption: panel authors adopt more; only panel authors lead, by lead_weeks
    panel = authors["FASHION_INTEREST_SEGMENT"]
    assert authors.loc[panel, "ADOPTION"].mean() > authors.loc[~panel, "ADOPTION"].mean() + 0.5
    assert set(authors.loc[panel, "TREND_SHIFT"]) == {2} and set(authors.loc[~panel, "TREND_SHIFT"]) == {0}
    lead = t["LEAD"].set_index("TREND")["LEAD_WEEKS"]
    assert {tr.name: (2 if tr.shape == "rising" else 0) for tr in TRENDS} == lead.to_dict()
    # the margins are a valid margins file, and the warehouse over-represents large accounts
    margins = t["PLATFORM_MARGINS"]
    assert margins["share"].sum() == pytest.approx(1.0)
    assert margins["share"].iloc[0] > (authors["FOLLOWERS"] < 1000).mean()


def test_platform_margins_read_as_a_margins_file(crawled, tmp_path):
    frame = _truth(crawled, "PLATFORM_MARGINS")["PLATFORM_MARGINS"]
    frame.to_csv(tmp_path / "m.csv", index=False)
    m = read_margins(tmp_path / "m.csv")
    np.testing.assert_allclose(m.shares["followers"].to_numpy(), frame["share"].to_numpy())


def test_platform_series_is_the_expectation_of_the_realised_series(tmp_path):
    # no crawl: the platform is the warehouse, so its expected series must match the realised one;
    # half the authors in a panel that leads by 12 weeks, so that the shift shows
    cal = Calibration(fashion_interest=(0.5, 0.5, 0.5))
    sc = Scenario(adoption_sd=0.8, adoption_followers=0.3, lead_weeks=12, rising_shape="logistic")
    path = tmp_path / "w.duckdb"
    simulate_warehouse(path, 4_000, seed=5, scenario=sc, calibration=cal)
    t = _truth(path, "PLATFORM_SERIES", "TREND_SERIES", "AUTHORS")
    real = t["TREND_SERIES"].query("POPULATION == 'all'")
    both = real.merge(t["PLATFORM_SERIES"], on=["TREND", "WEEK"], suffixes=("", "_EXPECTED"))
    for trend, g in both.groupby("TREND"):
        hits = (g["SHARE"] * g["N_POSTS"]).sum()
        expected = (g["SHARE_EXPECTED"] * g["N_POSTS"]).sum()
        # posts cluster within authors: 5 binomial standard errors times a design-effect factor of 2
        assert abs(hits - expected) < 5 * 2 * np.sqrt(expected), trend
    # week by week, the expectation with the panel's shift fits the realised series better than
    # the same expectation without it (the simulator's posts carry the lead)
    authors = t["AUTHORS"]
    weeks = pd.DatetimeIndex(sorted(real["WEEK"].unique()))
    unshifted = platform_series(authors.assign(TREND_SHIFT=0), trend_curves(cal, "logistic"), weeks, cal)
    leopard = both[both["TREND"] == "pattern:leopard"].sort_values("WEEK")
    flat = unshifted[unshifted["TREND"] == "pattern:leopard"].sort_values("WEEK")["SHARE"].to_numpy()
    sse = lambda e: float(np.sum(leopard["N_POSTS"] * (leopard["SHARE"].to_numpy() - e) ** 2))  # noqa: E731
    assert sse(leopard["SHARE_EXPECTED"].to_numpy()) < 0.8 * sse(flat)
