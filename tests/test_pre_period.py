"""The pre-period: a test that curators picked on what authors posted, and weights that condition on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesseg.config import RunSpec, TrendConfig
from bayesseg.exceptions import InputError, SpecError
from bayesseg.survey.trends import trend_series
from bayesseg.survey.weighting import (
    PRE_PERIOD_PSEUDO_POSTS,
    pre_period_design,
    pre_period_test,
    prepare_trend_inputs,
)
from bayesseg.workflow.trends_section import trends_html

from .test_trends import panel_inputs

WEEKS, CUT = 40, 16


def adopters_panel(
    seed: int, adoption_selection: float, n: int = 6000
) -> tuple[xr.Dataset, pd.DataFrame, xr.DataArray, np.ndarray]:
    """Two kinds of authors and a hidden adopter trait raising the trend rate; the panel is picked
    on followers and, with `adoption_selection`, on the trait (which weights on followers and kind
    cannot see)."""
    rng = np.random.default_rng(seed)
    kind = rng.random(n) < 0.3
    x = rng.normal(size=n) + 1.5 * kind
    adopt = rng.normal(size=n)
    panel = rng.random(n) < 1 / (1 + np.exp(-(-3.0 + 1.0 * x + adoption_selection * adopt)))
    posts = rng.poisson(3.0, size=(n, WEEKS)).astype(float)
    rate = np.where(kind, 0.2, 0.05) * np.exp(0.6 * adopt - 0.18)
    hits = rng.binomial(posts.astype(int), np.minimum(rate, 0.9)[:, None]).astype(float)
    return (*panel_inputs(rng, posts, hits, panel, x, kind), hits.sum(0) / posts.sum(0))


def test_design_is_the_shrunk_empirical_logit_standardised() -> None:
    data, authors, r, _ = adopters_panel(0, 0.0, n=500)
    data["posts"][:3, :CUT] = 0  # three authors silent before the cut
    data["hits"][:, :3, :CUT] = 0
    inp = prepare_trend_inputs(data, authors, r, TrendConfig())
    got = pre_period_design(inp, CUT)["pre:t"].to_numpy()
    h = data["hits"].values[0, :, :CUT].sum(1)
    n = data["posts"].values[:, :CUT].sum(1)
    a, pooled = PRE_PERIOD_PSEUDO_POSTS, h.sum() / n.sum()
    p = (h + a * pooled) / (n + a)
    z = np.log(p / (1 - p))
    np.testing.assert_allclose(got, (z - z.mean()) / z.std())
    # silent authors sit at the target's pooled share
    np.testing.assert_allclose(got[:3], (np.log(pooled / (1 - pooled)) - z.mean()) / z.std())
    with pytest.raises(InputError, match="pre_period_weeks must be between 1 and 39"):
        pre_period_design(inp, WEEKS)


def test_the_test_holds_its_level_under_the_null_and_has_power() -> None:
    # null: the panel is picked on followers and kind only; the test rejects at about its level
    p_null, p_alt = [], []
    for seed in range(60):
        data, authors, r, _ = adopters_panel(seed, 0.0, n=1500)
        inp = prepare_trend_inputs(data, authors, r, TrendConfig())
        base = pd.DataFrame(
            {"x": authors["log_followers"], "x2": authors["log_followers"] ** 2, "b": r.values[0, :, 1]},
            index=authors.index,
        )
        p_null.append(pre_period_test(inp.panel, base, pre_period_design(inp, CUT))["p_value"])
        if seed < 10:
            data, authors, r, _ = adopters_panel(seed, 1.0, n=1500)
            inp = prepare_trend_inputs(data, authors, r, TrendConfig())
            p_alt.append(pre_period_test(inp.panel, base, pre_period_design(inp, CUT))["p_value"])
    # 60 null draws at level 0.05: 3 rejections expected; 10 or more has probability < 0.001
    assert sum(p < 0.05 for p in p_null) < 10
    assert np.mean(p_null) == pytest.approx(0.5, abs=0.12)  # p-values uniform under the null
    assert max(p_alt) < 1e-3


def test_conditioning_on_the_pre_period_removes_most_of_the_selection_after_the_cut() -> None:
    biases = {False: [], True: []}
    tests = []
    for seed in range(3):
        data, authors, r, truth = adopters_panel(seed, 1.0)
        for conditioned in (False, True):
            cfg = TrendConfig(
                replicates=20,
                smooth_weeks=0.0,
                propensity_quadratic=False,
                pre_period_weeks=CUT,
                condition_on_pre_period=conditioned,
            )
            res = trend_series(data, authors, r, cfg)
            s = res.series.sel(trend="t", panel="fashion_forward")["weighted_share"].values
            biases[conditioned].append(np.mean(s[CUT:] - truth[CUT:]))
            tests.append(res.summary["pre_period_test"])
            if conditioned:
                assert any("match the target by construction" in w for w in res.warnings)
                assert "pre:t" in res.balance.index
            else:
                assert any("predict panel membership" in w for w in res.warnings)
    # the panel over-states the trend when weighted on followers and kind only
    assert min(biases[False]) > 0.01
    assert abs(np.mean(biases[True])) < 0.35 * np.mean(biases[False])
    assert all(t["verdict"] == "fail" and t["df"] == 1 for t in tests)
    assert tests[0]["first_week_after"] == "2024-04-22"  # week 16 of a window starting 2024-01-01


def test_config_checks_and_defaults() -> None:
    assert TrendConfig().pre_period_weeks == 26 and not TrendConfig().condition_on_pre_period
    with pytest.raises(SpecError, match="condition_on_pre_period: needs pre_period_weeks > 0"):
        RunSpec.from_dict({"segments": {"k": 3}, "trends": {"pre_period_weeks": 0, "condition_on_pre_period": True}})
    with pytest.raises(SpecError, match="pre_period_weeks: must be an integer >= 0"):
        RunSpec.from_dict({"segments": {"k": 3}, "trends": {"pre_period_weeks": -1}})


def test_report_says_whether_the_panel_was_picked_on_what_it_posted() -> None:
    data, authors, r, _ = adopters_panel(0, 1.0, n=3000)
    for conditioned, status, words in ((False, "fail", "keeps that selection"), (True, "look", "by construction")):
        cfg = TrendConfig(replicates=20, pre_period_weeks=CUT, condition_on_pre_period=conditioned)
        html = trends_html(trend_series(data, authors, r, cfg))
        assert f'verdict-{status}"' in html and words in html and "Was the panel picked on what it posted?" in html
    data, authors, r, _ = adopters_panel(0, 0.0, n=3000)
    res = trend_series(data, authors, r, TrendConfig(replicates=20, pre_period_weeks=CUT))
    # the trend is flat, so the panel's lead is not identified and has no sensitivity range
    assert res.sensitivity is not None and res.sensitivity[["lead_low", "lead_flip_gamma"]].isna().all().all()
    html = trends_html(res)
    assert "lead flips at Γ" in html and "not identified" in html.split("lead flips at Γ")[1]
    section = html.split("Was the panel picked on what it posted?")[1]
    assert section.split("<h3>")[0].count('verdict-pass"') == 1
    raked = trends_html(trend_series(data, authors, r, TrendConfig(replicates=20, weighting="rake")))
    assert "Was the panel picked" not in raked
