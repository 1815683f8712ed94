"""EM starting values: they find the true mode, respect anchors and are a valid point of the model."""

import numpy as np
import pytest
from scipy import special
from sklearn.metrics import adjusted_rand_score

from bayesseg.model import SegmentModel
from bayesseg.model.checks import prepare_data
from bayesseg.model.graph import in_sampling_order, sampling_order
from bayesseg.model.start import em_start
from bayesseg.simulate import simulate_counts


@pytest.fixture(scope="module")
def data():
    return simulate_counts(600, 20, 3, separation=1.2, mean_total=80, seed=4)


def test_em_recovers_the_simulated_segments(data):
    counts, cov, truth = data
    x = (cov.values - cov.values.mean(0)) / cov.values.std(0)
    start = em_start(counts.values, x, 3, np.zeros((3, 20)), n_restarts=3, seed=0)
    assert adjusted_rand_score(truth["segment"], start.responsibilities.argmax(1)) > 0.95
    np.testing.assert_allclose(start.responsibilities.sum(axis=1), 1.0)
    assert start.log_likelihood == max(start.restarts)
    v = start.initvals
    assert v["deviation"].shape == (3, 20) and v["population_logit"].shape == (20,)
    np.testing.assert_allclose(v["deviation"].sum(axis=1), 0.0, atol=1e-10)  # zero-sum on both axes, as the model's
    np.testing.assert_allclose(v["deviation"].sum(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(v["population_logit"].sum(), 0.0, atol=1e-10)
    assert v["slope"].shape == (2, 3) and v["intercept"].shape == (3,)
    np.testing.assert_allclose(v["slope"].sum(axis=1), 0.0, atol=1e-10)  # zero-sum over segments, as the model's
    np.testing.assert_allclose(v["intercept"].sum(), 0.0, atol=1e-10)
    # concentrations near the truth (the grid search is coarse: within a factor of 2)
    kappa = np.exp(v["log_concentration"])
    order = [
        np.bincount(start.responsibilities.argmax(1)[truth["segment"] == k], minlength=3).argmax() for k in range(3)
    ]
    ratio = kappa[order] / truth["concentration"]
    assert np.all((ratio > 0.5) & (ratio < 2.0))


def test_anchored_segment_gets_the_cluster_that_matches_its_rule(data):
    counts, _cov, truth = data
    profile = truth["profile"]  # (K, C)
    # a rule made of the categories where true segment 2 stands out most
    lift = np.log(profile[2] / profile.mean(axis=0))
    rule = np.argsort(-lift)[:3]
    offsets = np.zeros((3, 20))
    offsets[0, rule] = 1.4
    offsets[0] -= offsets[0].mean()
    x = np.zeros((counts.sizes["author"], 0))
    start = em_start(counts.values, x, 3, offsets, n_restarts=2, seed=1)
    modal = start.responsibilities.argmax(1)
    assert np.mean(modal[truth["segment"] == 2] == 0) > 0.9  # true segment 2 sits on anchored segment 0
    assert "slope" not in start.initvals


def test_the_start_is_a_finite_point_of_the_model(data):
    from pymc.initial_point import make_initial_point_fn

    counts, cov, _ = data
    model_spec = SegmentModel(3, sampler_config={"em_restarts": 2})
    model = model_spec.build_model(counts, cov)
    data_ = prepare_data(counts, cov)
    start = em_start(counts.values, data_.x, 3, np.zeros((3, 20)), n_restarts=2)
    free = {rv.name for rv in model.free_RVs}
    assert {"population_logit", "deviation", "log_concentration_raw", "slope", "intercept"} <= free
    categories = [str(c) for c in counts["category"].values]
    overrides = in_sampling_order(
        {k: v for k, v in start.initvals.items() if k in free}, model.coords["category_sampling"], categories
    )
    point = make_initial_point_fn(model=model, overrides=overrides, jitter_rvs=set())(0)
    logp = model.compile_logp()(point)
    assert np.isfinite(logp)
    # the sampling order is undone inside the graph: the profiles are the EM start's, category by category
    v = start.initvals
    expected = special.softmax(v["population_logit"][None, :] + v["deviation"], axis=1)
    (profile_of_values,) = model.replace_rvs_by_values([model["profile"]])
    profile = model.compile_fn(profile_of_values, inputs=model.value_vars, on_unused_input="ignore")(point)
    np.testing.assert_allclose(profile, expected, rtol=1e-6)
    default = model.compile_logp()(model.initial_point())
    assert logp > default  # far better than PyMC's default starting point


def test_bad_init_option_and_too_few_authors():
    with pytest.raises(ValueError, match="unknown init"):
        SegmentModel(2, sampler_config={"init": "map"})
    with pytest.raises(ValueError, match="cannot make 4 segments"):
        em_start(np.ones((3, 5), dtype=int), np.zeros((3, 0)), 4, np.zeros((4, 5)))


def test_the_commonest_category_is_sampled_last():
    # PyMC's zero-sum transform makes the last entry a dense direction: it must be the best-identified one
    cats = ["a", "b", "rare", "common", "c"]
    assert sampling_order(cats, np.array([5, 9, 1, 40, 7])) == ["a", "b", "rare", "c", "common"]
    values = {"population_logit": np.arange(5.0), "deviation": np.arange(10.0).reshape(2, 5), "other": np.ones(2)}
    moved = in_sampling_order(values, ["a", "b", "rare", "c", "common"], cats)
    np.testing.assert_array_equal(moved["population_logit"], [0, 1, 2, 4, 3])
    np.testing.assert_array_equal(moved["deviation"][1], [5, 6, 7, 9, 8])
    assert moved["other"] is values["other"]
