"""Segmentation metrics against known cases, and the field's baselines on data with a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from bayesseg.evaluation.baselines import (
    gmm_shares,
    hdbscan_shares,
    kmeans_shares,
    rule_segments,
    seeded_classifier,
    topic_model,
)
from bayesseg.evaluation.metrics import (
    added_predictive_value,
    agreement,
    coassignment,
    membership_entropy,
    minimum_detectable_effect,
    panel_composition,
    predictive_auc,
    threshold_jump,
)
from bayesseg.simulate import simulate_counts


def probs(values: np.ndarray) -> xr.DataArray:
    dims = ("draw", "author", "segment") if values.ndim == 3 else ("author", "segment")
    return xr.DataArray(values, dims=dims, coords={"author": np.arange(values.shape[-2])})


def test_coassignment_of_sure_and_uncertain_authors() -> None:
    hard = np.eye(3)[[0, 0, 1, 2]]
    co = coassignment(probs(hard)).values
    np.testing.assert_array_equal(co, (np.array([0, 0, 1, 2])[:, None] == np.array([0, 0, 1, 2])[None]).astype(float))
    # an author split 50/50 between two segments, and two draws that disagree
    soft = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(coassignment(probs(soft)).values, [[0.5, 0.5], [0.5, 1.0]])
    draws = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
    np.testing.assert_allclose(coassignment(probs(draws)).values[0, 1], 0.5)
    with pytest.raises(ValueError, match="sum to one"):
        coassignment(probs(np.array([[0.5, 0.2]])))


def test_membership_entropy_bounds() -> None:
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(membership_entropy(probs(p)).values, [0.0, np.log(3), np.log(2)])


def test_agreement_perfect_permuted_and_random() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 2000)
    permuted = np.array([2, 3, 0, 1])[truth]
    noise = rng.integers(0, 4, 2000)
    table = agreement({"truth": truth, "permuted": permuted, "random": noise})
    assert table.loc["truth", "permuted"] == pytest.approx(1.0)
    assert abs(table.loc["truth", "random"]) < 0.01
    np.testing.assert_allclose(table.to_numpy(), table.to_numpy().T)
    with pytest.raises(ValueError, match="different numbers"):
        agreement({"a": truth, "b": truth[:10]})


def test_predictive_auc_perfect_and_uninformative() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(3000) < 0.3
    informative = pd.DataFrame({"p": np.where(y, 0.9, 0.1) + rng.normal(0, 0.01, 3000)})
    assert predictive_auc(informative, y) > 0.99
    assert abs(predictive_auc(pd.DataFrame({"p": rng.random(3000)}), y) - 0.5) < 0.05
    with pytest.raises(ValueError, match="single class"):
        predictive_auc(informative, np.zeros(3000, bool))


def test_threshold_jump_finds_a_known_jump_and_no_jump() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(3, 5, 20_000)  # log10 followers
    cut = np.log10(12_000)
    smooth = 0.3 * x + rng.normal(0, 0.1, x.size)
    jumped = smooth + 0.05 * (x > cut)
    est = threshold_jump(x, jumped, cut, bandwidth=0.3)
    assert est["jump"] == pytest.approx(0.05, abs=3 * est["se"]) and est["z"] > 4
    none = threshold_jump(x, smooth, cut, bandwidth=0.3)
    assert abs(none["z"]) < 3.5
    with pytest.raises(ValueError, match="too few authors"):
        threshold_jump(x, smooth, 10.0, bandwidth=0.1)


def test_a_jump_of_the_minimum_detectable_size_is_found_four_times_in_five() -> None:
    # Monte Carlo power: jumps equal to the design's MDE are significant at 1 % in ~80 % of samples
    rng = np.random.default_rng(11)
    cut = np.log10(12_000)
    pilot = threshold_jump(rng.uniform(3, 5, 4_000), rng.normal(0, 0.2, 4_000), cut, 0.3)
    assert pilot["mde"] == pytest.approx((2.5758 + 0.8416) * pilot["se"], rel=1e-3)
    found = []
    for _ in range(300):
        x = rng.uniform(3, 5, 4_000)
        y = 0.3 * x + rng.normal(0, 0.2, x.size) + pilot["mde"] * (x > cut)
        found.append(abs(threshold_jump(x, y, cut, 0.3)["z"]) > 2.5758)
    # binomial sd of the share over 300 draws is 0.023; the estimated se varies a little by sample
    assert np.mean(found) == pytest.approx(0.8, abs=0.08)
    assert pilot["level"] == pytest.approx(0.0, abs=4 * pilot["se"])
    assert minimum_detectable_effect(1.0, alpha=0.05, power=0.5) == pytest.approx(1.95996, rel=1e-5)
    with pytest.raises(ValueError, match="se must be"):
        minimum_detectable_effect(-1.0)


def test_added_predictive_value_sees_what_a_cut_adds_over_its_running_variable() -> None:
    rng = np.random.default_rng(5)
    n = 3_000
    logf = rng.normal(8, 1.5, n)
    tiers = pd.DataFrame({"trendy": (logf > 9.4) & (logf <= 10.6), "edgy": logf > 10.6}).astype(float)
    base = pd.DataFrame({"logf": logf, "logf2": logf**2})
    smooth = rng.random(n) < 1 / (1 + np.exp(-(logf - 9)))  # a smooth effect: tiers add nothing
    out = added_predictive_value(base, tiers, smooth, seed=1)
    assert out.loc["base + extra", "log_loss"] > out.loc["base", "log_loss"] - 0.003
    assert out.loc["base", "auc"] > out.loc["extra", "auc"]
    stepped = rng.random(n) < np.where(logf > 9.4, 0.5, 0.1)  # a real step at the cut: tiers add
    out = added_predictive_value(base, tiers, stepped, seed=1)
    assert out.loc["base + extra", "log_loss"] < out.loc["base", "log_loss"] - 0.01
    classes = np.digitize(logf + rng.normal(0, 1, n), [7.5, 9.0])  # three classes: a multinomial fit
    assert list(added_predictive_value(base, tiers, classes).columns) == ["log_loss"]
    with pytest.raises(ValueError, match="single class"):
        added_predictive_value(base, tiers, np.zeros(n, bool))
    with pytest.raises(ValueError, match="'logf' is not finite"):
        added_predictive_value(base.assign(logf=np.nan), tiers, smooth)


def test_panel_composition_against_counts() -> None:
    tier = pd.Series(["mainstream"] * 90 + ["edgy"] * 10)
    panel = np.r_[np.zeros(85, bool), np.ones(5, bool), np.zeros(5, bool), np.ones(5, bool)]
    out = panel_composition(panel, pd.get_dummies(tier).astype(float))
    assert out.loc["edgy", "population_share"] == pytest.approx(0.1)
    assert out.loc["edgy", "panel_share"] == pytest.approx(0.5)
    assert out.loc["edgy", "representation"] == pytest.approx(5.0)
    assert out.loc["mainstream", "panel_rate"] == pytest.approx(5 / 90)


@pytest.fixture(scope="module")
def separated() -> tuple[xr.DataArray, np.ndarray]:
    counts, _, truth = simulate_counts(800, 30, 3, separation=1.5, mean_total=150, seed=4)
    return counts, truth["segment"]


def test_baselines_recover_well_separated_segments(separated: tuple[xr.DataArray, np.ndarray]) -> None:
    counts, truth = separated
    results = {
        "kmeans": kmeans_shares(counts, 3),
        "gmm": gmm_shares(counts, 3),
        "lda": topic_model(counts, 3, method="lda", max_iter=10),
        "nmf": topic_model(counts, 3, method="nmf"),
    }
    for key, result in results.items():
        labels = result.labels.values
        assert labels.shape == (800,)
        assert adjusted_rand_score(truth, labels) > 0.6, key
        if result.probability is not None:
            np.testing.assert_allclose(result.probability.sum("segment"), 1.0, atol=1e-8)
            assert (result.probability >= 0).all()
    assert results["gmm"].heldout_score is not None
    assert results["lda"].heldout_score is not None and results["lda"].heldout_score < 0  # log-likelihood of counts


def test_hdbscan_labels_noise_and_clusters(separated: tuple[xr.DataArray, np.ndarray]) -> None:
    counts, truth = separated
    res = hdbscan_shares(counts, min_cluster_size=40)
    labels = res.labels.values
    clustered = labels >= 0
    assert clustered.mean() > 0.3
    assert adjusted_rand_score(truth[clustered], labels[clustered]) > 0.5


def test_baselines_refuse_authors_without_counts(separated: tuple[xr.DataArray, np.ndarray]) -> None:
    counts, _ = separated
    bad = counts.copy()
    bad[3] = 0
    with pytest.raises(ValueError, match="have no count"):
        kmeans_shares(bad, 3)
    with pytest.raises(ValueError, match="'lda' or 'nmf'"):
        topic_model(counts, 3, method="pca")


def test_rules_alone_assign_authors_to_the_rule_they_over_use():
    counts, _, truth = simulate_counts(900, 24, 3, separation=1.5, mean_total=120, seed=6)
    profile = np.asarray(truth["profile"])  # (segment, category)
    cats = counts["category"].values
    lift = profile / profile.mean(axis=0)
    rules = {f"rule{k}": [str(cats[j]) for j in np.argsort(lift[k])[::-1][:3]] for k in range(3)}
    res = rule_segments(counts, rules)
    labels = res.labels.values
    # an independent computation of one author's lifts
    y = counts.values.astype(float)
    i = 7
    own = [y[i, [list(cats).index(c) for c in m]].sum() / y[i].sum() for m in rules.values()]
    pop = [y[:, [list(cats).index(c) for c in m]].sum() / y.sum() for m in rules.values()]
    mine = np.array(own) / np.array(pop)
    assert labels[i] == (int(mine.argmax()) if mine.max() > 1 else 3)
    # rules built from the true profiles recover the segments, without learning anything
    ruled = labels < 3
    assert ruled.mean() > 0.8 and adjusted_rand_score(np.asarray(truth["segment"])[ruled], labels[ruled]) > 0.5
    with pytest.raises(ValueError, match="names no category"):
        rule_segments(counts, {"ghost": ["no_such_category"]})


def test_a_classifier_learns_segments_from_a_few_labelled_seeds():
    counts, _, truth = simulate_counts(900, 24, 3, separation=1.5, mean_total=120, seed=6)
    seg = np.asarray(truth["segment"])
    seeds = xr.DataArray(seg[:120], dims=("author",), coords={"author": counts["author"].values[:120]})
    res = seeded_classifier(counts, seeds)
    assert adjusted_rand_score(seg[120:], res.labels.values[120:]) > 0.6  # authors it never saw
    assert np.allclose(res.probability.sum("segment"), 1.0)
    with pytest.raises(ValueError, match="fewer than two segments"):
        seeded_classifier(counts, seeds.where(seeds < 0, 0))
    with pytest.raises(ValueError, match="not authors"):
        seeded_classifier(counts, seeds.assign_coords(author=seeds["author"].values + 10**9))
