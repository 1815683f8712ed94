"""The uncertainty a user reads: memberships against a brute-force computation, the misassignment
probability, segment sizes with the assignments drawn, and lift over the population mixture."""

import numpy as np
import pytest
from scipy import special, stats

from bayesseg.model import SegmentModel
from bayesseg.simulate import simulate_counts

FAST = {"draws": 150, "tune": 200, "chains": 2, "progressbar": False, "random_seed": 3}


@pytest.fixture(scope="module")
def data():
    return simulate_counts(240, 10, 3, separation=1.2, seed=11)


@pytest.fixture(scope="module")
def fitted(data):
    counts, cov, _ = data
    return SegmentModel(3, sampler_config=FAST).fit(counts, cov)


def _standardised(model, cov):
    return (cov.values - model.covariate_mean_) / model.covariate_sd_


def test_memberships_equal_a_brute_force_computation(fitted, data):
    # scipy's Dirichlet-multinomial pmf, log-sum-exp over segments, averaged over the thinned draws
    counts, cov, _ = data
    draws = fitted.posterior_draws(60)
    x = _standardised(fitted, cov)
    rows = [0, 7, 101, 239]
    expected = np.zeros((len(rows), 3))
    for s in range(draws["profile"].shape[0]):
        log_pi = special.log_softmax(draws["intercept"][s] + x @ draws["slope"][s], axis=1)
        alpha = draws["concentration"][s][:, None] * draws["profile"][s]
        for j, i in enumerate(rows):
            y = counts.values[i]
            joint = [log_pi[i, k] + stats.dirichlet_multinomial.logpmf(y, alpha[k], y.sum()) for k in range(3)]
            expected[j] += np.exp(np.asarray(joint) - special.logsumexp(joint))
    expected /= draws["profile"].shape[0]
    got = fitted.predict_memberships(counts.isel(author=rows), cov, max_draws=60)["prob_mean"].values
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_misassignment_is_one_minus_the_largest_mean(fitted):
    mem = fitted.memberships()
    np.testing.assert_allclose(mem["p_misassigned"].values, 1 - mem["prob_mean"].max("segment").values, atol=1e-12)
    assert mem["p_misassigned"].dims == ("author",)
    assert float(mem["p_misassigned"].min()) >= -1e-12 and float(mem["p_misassigned"].max()) <= 2 / 3 + 1e-12


def test_assignment_counts_carry_the_assignment_uncertainty(fitted, data):
    counts, cov, _ = data
    groups = cov.to_pandas()["x1"].gt(0).map({True: "high", False: "low"})
    n = fitted.assignment_counts(counts, cov, groups, max_draws=200, seed=4)
    assert n.dims == ("chain", "draw", "group", "segment") and list(n["group"].values) == ["high", "low"]
    # every draw assigns every author once, within its group
    sizes = groups.value_counts()
    np.testing.assert_array_equal(n.sum("segment").isel(chain=0, draw=0).values, sizes[["high", "low"]].values)
    # the mean count of a segment is the sum of the authors' memberships (within Monte Carlo error)
    probs = fitted.membership_draws(counts, cov, max_draws=200)
    in_high = (groups == "high").to_numpy()
    expected = probs.isel(author=in_high).sum("author").mean(("chain", "draw")).values
    var = (probs * (1 - probs)).isel(author=in_high).sum("author").mean(("chain", "draw")).values
    mc_sd = np.sqrt(var / (n.sizes["chain"] * n.sizes["draw"]))
    got = n.sel(group="high").mean(("chain", "draw")).values
    assert np.all(np.abs(got - expected) < 5 * mc_sd + 1e-9)
    # drawn assignments are far wider than the parameter uncertainty of the mean memberships
    parameter_sd = probs.isel(author=in_high).sum("author").std(("chain", "draw")).max()
    assert float(n.sel(group="high").std(("chain", "draw")).max()) > float(parameter_sd)


def test_lift_is_the_profile_over_the_population_mixture(fitted, data):
    _, cov, _ = data
    post = fitted.idata_["posterior"]
    lift = fitted.lift()
    shares = fitted.segment_shares()
    np.testing.assert_allclose(shares.sum("segment"), 1.0, atol=1e-12)
    # an independent computation on one draw
    c, d = 1, 17
    x = _standardised(fitted, cov)
    pi = special.softmax(post["intercept"].values[c, d] + x @ post["slope"].values[c, d], axis=1).mean(axis=0)
    theta = post["profile"].values[c, d]
    np.testing.assert_allclose(lift.values[c, d], theta / (pi @ theta)[None, :], rtol=1e-10)
    # the segments' lifts, weighted by their shares, average to one in every category and draw
    np.testing.assert_allclose((shares * lift).sum("segment"), 1.0, atol=1e-10)


def test_one_segment_is_the_population_dirichlet_multinomial(data):
    counts, cov, _ = data
    one = SegmentModel(1, sampler_config=FAST).fit(counts, cov)
    post = one.idata_["posterior"]
    assert post["profile"].sizes["segment"] == 1 and float(abs(post["slope"]).max()) == 0.0
    np.testing.assert_allclose(one.memberships()["prob_mean"].values, 1.0)
    # the pointwise log-likelihood is the DM pmf itself
    s = dict(chain=0, draw=0)
    alpha = post["concentration"].isel(**s).item() * post["profile"].isel(**s).values[0]
    y = counts.values[3]
    expected = stats.dirichlet_multinomial.logpmf(y, alpha, y.sum())
    assert one.idata_["log_likelihood"]["y"].isel(author=3, **s).item() == pytest.approx(expected, abs=1e-9)
    assert one.convergence().entries > 0
