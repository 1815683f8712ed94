"""Weights and their diagnostics: independent computations, invariants, and parity with Meta's balance."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

# balance is a required test dependency (the reference implementation): its absence fails the suite
from balance.stats_and_plots.weighted_comparisons_stats import asmd as balance_asmd
from balance.stats_and_plots.weights_stats import design_effect as balance_design_effect
from balance.stats_and_plots.weights_stats import kish_ess as balance_kish_ess
from balance.weighting_methods.poststratify import poststratify as balance_poststratify
from balance.weighting_methods.rake import rake as balance_rake

from bayesseg.exceptions import WeightsError
from bayesseg.survey.reweight import (
    asmd,
    comparison_weights,
    design_effect,
    kish_ess,
    poststratify_weights,
    propensity_weights,
    rake_weights,
    trim_weights,
)

logging.getLogger("balance").setLevel(logging.WARNING)


@pytest.fixture
def survey() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A biased sample of a target population with two categorical and one numeric variable."""
    rng = np.random.default_rng(3)
    n_target = 4000
    target = pd.DataFrame(
        {
            "segment": rng.choice(["a", "b", "c"], size=n_target, p=[0.5, 0.3, 0.2]),
            "tier": rng.choice(["mainstream", "trendy", "edgy"], size=n_target, p=[0.6, 0.3, 0.1]),
        }
    )
    target["x"] = rng.normal(size=n_target) + (target["tier"] == "edgy") * 1.5
    p = 0.05 + 0.25 * (target["tier"] == "edgy") + 0.1 * (target["segment"] == "c")
    sample = target[rng.random(n_target) < p].reset_index(drop=True)
    return sample, target


def onehot(values: pd.Series, levels: list[str]) -> np.ndarray:
    return (values.to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)


def test_kish_ess_and_design_effect_match_formulas_and_balance() -> None:
    w = np.array([1.0, 2.0, 3.0, 0.5, 4.0])
    assert kish_ess(w) == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert design_effect(w) == pytest.approx(len(w) * (w**2).sum() / w.sum() ** 2)
    assert design_effect(w) == pytest.approx(balance_design_effect(pd.Series(w)), abs=1e-12)
    assert kish_ess(w) == pytest.approx(balance_kish_ess(pd.Series(w)), abs=1e-12)
    # equal weights: no loss; zero weights are units outside the sample
    assert kish_ess(np.ones(7)) == pytest.approx(7.0)
    assert design_effect(np.r_[np.ones(7), 0.0, 0.0]) == pytest.approx(1.0)
    # per row of a matrix, and an all-zero row
    m = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(kish_ess(m, axis=1), [2.0, 0.0])
    assert np.isnan(design_effect(m, axis=1)[1])


def test_weights_must_be_finite_and_non_negative() -> None:
    with pytest.raises(WeightsError, match=r"weights\[1\] = -1"):
        kish_ess([1.0, -1.0])
    with pytest.raises(WeightsError, match="finite"):
        design_effect([1.0, np.inf])


def test_asmd_matches_balance(survey: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sample, target = survey
    cols = ["x", "is_edgy"]
    s = sample.assign(is_edgy=(sample["tier"] == "edgy").astype(float))[cols]
    t = target.assign(is_edgy=(target["tier"] == "edgy").astype(float))[cols]
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(s))
    ours = asmd(s, t, w)
    ref = balance_asmd(s, t, pd.Series(w))
    np.testing.assert_allclose(ours.to_numpy(), ref[cols].to_numpy(), atol=1e-10)
    # an independent computation: unweighted, |mean difference| / target sd (ddof 1)
    plain = asmd(s, t)
    np.testing.assert_allclose(plain.to_numpy(), np.abs(s.mean() - t.mean()) / t.std(ddof=1), rtol=1e-12)


def test_asmd_names_a_constant_column_and_a_bad_value(survey: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sample, target = survey
    with pytest.raises(WeightsError, match=r"\['const'\] have no variance"):
        asmd(sample[["x"]].assign(const=1.0), target[["x"]].assign(const=1.0))
    bad = sample[["x"]].copy()
    bad.iloc[2, 0] = np.nan
    with pytest.raises(WeightsError, match="column 'x' row 2 is not finite"):
        asmd(bad, target[["x"]])


def test_poststratify_matches_balance_on_hard_cells(survey: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sample, target = survey
    cells = sorted(set(target["segment"] + "|" + target["tier"]))
    m_s = onehot(sample["segment"] + "|" + sample["tier"], cells)
    totals = onehot(target["segment"] + "|" + target["tier"], cells).sum(axis=0)
    ours = poststratify_weights(m_s, totals, cell_names=cells).weights
    ref = balance_poststratify(
        sample[["segment", "tier"]],
        pd.Series(np.ones(len(sample))),
        target[["segment", "tier"]],
        pd.Series(np.ones(len(target))),
        transformations=None,
    )["weight"]
    np.testing.assert_allclose(ours, ref.to_numpy(), atol=1e-6)
    # invariants: positive, sum to the target size, reproduce every cell total
    assert np.all(ours > 0)
    assert ours.sum() == pytest.approx(len(target))
    np.testing.assert_allclose(ours @ m_s, totals, rtol=1e-12)


def test_poststratify_soft_cells_reproduce_target_totals() -> None:
    # a unit in several cells is split into fractional units d_i M_ic, each weighted by T_c / S_c:
    # those fractional units reproduce every cell total, and the unit's weight is their sum
    rng = np.random.default_rng(1)
    m = rng.dirichlet(np.ones(4), size=200)
    totals = np.array([500.0, 300.0, 150.0, 50.0])
    base = rng.uniform(0.5, 2, size=200)
    w = poststratify_weights(m, totals, base).weights
    pair = base[:, None] * m * (totals / (base @ m))[None, :]
    np.testing.assert_allclose(pair.sum(axis=0), totals, rtol=1e-12)
    np.testing.assert_allclose(w, pair.sum(axis=1), rtol=1e-12)
    assert w.sum() == pytest.approx(totals.sum()) and np.all(w > 0)
    # an outcome's weighted total is the total over the fractional units
    y = rng.normal(size=200)
    assert w @ y == pytest.approx((pair * y[:, None]).sum())


def test_poststratify_names_an_empty_cell() -> None:
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(WeightsError, match=r"\['luxury\|edgy'\] hold 20.00% of the target"):
        poststratify_weights(m, np.array([40.0, 40.0, 20.0]), cell_names=["a", "b", "luxury|edgy"])
    with pytest.raises(WeightsError, match=r"row 0 sums to 0\.5"):
        poststratify_weights(np.array([[0.5, 0.0]]), np.array([1.0, 1.0]))


def test_rake_matches_balance_on_hard_margins(survey: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sample, target = survey
    seg_levels, tier_levels = ["a", "b", "c"], ["edgy", "mainstream", "trendy"]
    res = rake_weights(
        {"segment": onehot(sample["segment"], seg_levels), "tier": onehot(sample["tier"], tier_levels)},
        {
            "segment": onehot(target["segment"], seg_levels).sum(0),
            "tier": onehot(target["tier"], tier_levels).sum(0),
        },
        tol=1e-13,
    )
    assert res.model["converged"]
    ref = balance_rake(
        sample[["segment", "tier"]],
        pd.Series(np.ones(len(sample))),
        target[["segment", "tier"]],
        pd.Series(np.ones(len(target))),
        transformations=None,
        convergence_rate=1e-14,
        rate_tolerance=0.0,
        max_iteration=5000,
    )["weight"]
    np.testing.assert_allclose(res.weights, ref.to_numpy(), atol=1e-6)
    assert res.weights.sum() == pytest.approx(len(target))
    np.testing.assert_allclose(
        res.weights @ onehot(sample["tier"], tier_levels), onehot(target["tier"], tier_levels).sum(0)
    )


def test_rake_soft_margins_match_and_errors() -> None:
    rng = np.random.default_rng(2)
    seg = rng.dirichlet(np.ones(3) * 0.5, size=300)
    tier = np.eye(2)[rng.integers(0, 2, size=300)]
    t_seg, t_tier = np.array([50.0, 30.0, 20.0]), np.array([70.0, 30.0])
    res = rake_weights({"segment": seg, "tier": tier}, {"segment": t_seg, "tier": t_tier})
    assert res.model["converged"] and np.all(res.weights > 0)
    np.testing.assert_allclose(res.weights @ seg, t_seg, rtol=1e-8)
    np.testing.assert_allclose(res.weights @ tier, t_tier, rtol=1e-8)
    with pytest.raises(WeightsError, match="margin totals differ"):
        rake_weights({"segment": seg, "tier": tier}, {"segment": t_seg, "tier": t_tier * 2})
    with pytest.raises(WeightsError, match=r"margin 'tier': level\(s\) \[1\] have target units but no panel unit"):
        rake_weights({"tier": np.eye(2)[np.zeros(10, int)]}, {"tier": t_tier})


def test_propensity_weights_recover_the_selection_model() -> None:
    # independent computation: the true inclusion probabilities are logistic in x; with a large
    # target the fitted coefficients recover them, and 1/p weights balance the covariate
    rng = np.random.default_rng(4)
    n = 40_000
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(-3.0 + 1.2 * x - 0.5 * z)))
    panel = rng.random(n) < p
    cov = pd.DataFrame({"x": x, "z": z})
    fit = propensity_weights(cov, panel)
    np.testing.assert_allclose(fit.model["params"].to_numpy(), [-3.0, 1.2, -0.5], atol=0.15)
    assert np.all(np.isfinite(fit.weights)) and np.all(fit.weights > 0)
    assert fit.weights.sum() == pytest.approx(n)
    before = asmd(cov[panel], cov)
    after = asmd(cov[panel], cov, fit.weights)
    assert before["x"] > 0.8 and after["x"] < 0.05
    # frequency weights are bootstrap multiplicities: the same as repeating the rows
    freq = rng.integers(0, 3, size=2000).astype(float)
    small = cov.iloc[:2000]
    f1 = propensity_weights(small, panel[:2000] | (np.arange(2000) < 20), freq)
    rep = np.repeat(np.arange(2000), freq.astype(int))
    f2 = propensity_weights(small.iloc[rep], (panel[:2000] | (np.arange(2000) < 20))[rep])
    np.testing.assert_allclose(f1.model["params"].to_numpy(), f2.model["params"].to_numpy(), rtol=1e-6)


def test_propensity_bad_inputs_are_named() -> None:
    cov = pd.DataFrame({"x": np.arange(10.0), "flat": np.ones(10)})
    some = np.arange(10) < 3
    with pytest.raises(WeightsError, match="the panel is empty"):
        propensity_weights(cov[["x"]], np.zeros(10, bool))
    with pytest.raises(WeightsError, match="the whole target"):
        propensity_weights(cov[["x"]], np.ones(10, bool))
    with pytest.raises(WeightsError, match=r"\['flat'\] have no variance"):
        propensity_weights(cov, some)
    bad = cov[["x"]].copy()
    bad.iloc[4, 0] = np.nan
    with pytest.raises(WeightsError, match="'x' is not finite for author 4"):
        propensity_weights(bad, some)
    with pytest.raises(WeightsError, match="cannot be fitted"):
        propensity_weights(cov[["x"]], cov["x"].to_numpy() < 3)  # perfectly separated


def test_trim_weights_matches_balance_and_reports_the_trade() -> None:
    from balance.adjustment import trim_weights as balance_trim

    rng = np.random.default_rng(5)
    w = rng.lognormal(0, 1.5, size=500)
    res = trim_weights(w, 5.0)
    ref = balance_trim(pd.Series(w), weight_trimming_mean_ratio=5.0, keep_sum_of_weights=True)
    np.testing.assert_allclose(res.weights, ref.to_numpy(), atol=1e-6)
    assert res.model["n_trimmed"] == int((w > 5 * w.mean()).sum()) > 0
    assert res.weights.sum() == pytest.approx(w.sum())
    assert res.model["design_effect_after"] < res.model["design_effect_before"]
    assert trim_weights(w, None).model["n_trimmed"] == 0
    with pytest.raises(WeightsError, match="trims every weight"):
        trim_weights(w, 1.0)
    with pytest.raises(WeightsError, match="every weight is 0"):
        trim_weights(np.zeros(4), 5.0)


def test_comparison_weights_make_the_rest_look_like_the_panel() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=n)
    panel = rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 1.2 * x)))
    design = sm.add_constant(x)
    p = sm.GLM(panel.astype(float), design, family=sm.families.Binomial()).fit().predict(design)
    res = comparison_weights("propensity", panel, propensity=p)
    odds = p[~panel] / (1 - p[~panel])
    np.testing.assert_allclose(res.weights, odds * panel.sum() / odds.sum(), rtol=1e-12)
    # the weighted rest has the panel's mean follower covariate, not its own
    gap = x[panel].mean() - x[~panel].mean()
    assert abs(np.average(x[~panel], weights=res.weights) - x[panel].mean()) < 0.1 * abs(gap)
    # cells: the rest reproduces the panel's (bootstrap-weighted) cell totals exactly
    m = rng.integers(0, 3, size=n).astype(float)
    cells = np.eye(3)[rng.integers(0, 3, size=n)]
    post = comparison_weights("poststratify", panel, frequency=m, margins={"cell": cells})
    np.testing.assert_allclose(post.weights @ cells[~panel], m[panel] @ cells[panel], rtol=1e-10)
    halves = np.eye(2)[(x > 0).astype(int)]
    raked = comparison_weights("rake", panel, margins={"cell": cells, "half": halves})
    for mat in (cells, halves):
        np.testing.assert_allclose(raked.weights @ mat[~panel], mat[panel].sum(axis=0), rtol=1e-4)
    np.testing.assert_array_equal(comparison_weights("none", panel, frequency=m).weights, m[~panel])
    # errors name what is wrong
    bad = np.where(panel, 0.5, 1.0)
    with pytest.raises(WeightsError, match=rf"propensity of unit {np.flatnonzero(~panel)[0]} is 1.0"):
        comparison_weights("propensity", panel, propensity=bad)
    with pytest.raises(WeightsError, match="need the fitted propensities"):
        comparison_weights("propensity", panel)
    with pytest.raises(WeightsError, match="complement must both hold units"):
        comparison_weights("none", np.ones(5, dtype=bool))
    with pytest.raises(WeightsError, match="unknown weighting"):
        comparison_weights("magic", panel, margins={"cell": cells})
