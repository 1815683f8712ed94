"""Posterior predictive checks of the model's assumptions: statistics against direct computations, verdicts, power."""

import numpy as np
import pytest
from scipy import stats

from bayesseg.model import SegmentModel
from bayesseg.model.ppc import (
    EXTREME,
    FAIL_TAIL,
    cooccurrence,
    far_threshold,
    predictive_checks,
    predictive_p_values,
    standardised_discrepancy,
    verdict,
    within_segment_dispersion,
    zero_shares,
)
from bayesseg.model.scoring import ppc_tree
from bayesseg.simulate import simulate_counts

FIT = {"sampler": "pymc", "draws": 150, "tune": 150, "chains": 2, "progressbar": False, "em_restarts": 2}


def test_zero_shares_and_cooccurrence_match_direct_computations():
    rng = np.random.default_rng(0)
    y = rng.poisson(rng.gamma(0.5, 2.0, (200, 6)))
    y[:, 5] = 1  # used by every author: no correlation defined
    np.testing.assert_allclose(zero_shares(y), [(y[:, c] == 0).mean() for c in range(6)])
    phi = cooccurrence(y)
    reference = np.corrcoef((y[:, :5] > 0).T)
    np.testing.assert_allclose(phi[:5, :5], reference, atol=1e-12)
    assert np.isnan(phi[5]).all() and np.isnan(phi[:, 5]).all()
    # a leading draw axis computes each draw alike
    stacked = np.stack([y, y[::-1], np.roll(y, 1, axis=1)])
    for s in range(3):
        np.testing.assert_allclose(cooccurrence(stacked)[s], cooccurrence(stacked[s]), equal_nan=True)


def _pearson_loop(y, z, k):
    out = np.zeros(y.shape[1])
    for c in range(y.shape[1]):
        total = 0.0
        for seg in range(k):
            members = z == seg
            if not members.any():
                continue
            p = y[members, c].sum() / y[members].sum()
            if 0 < p < 1:
                n = y[members].sum(axis=1)
                total += (((y[members, c] - n * p) ** 2) / (n * p * (1 - p))).sum()
        out[c] = total / y.shape[0]
    return out


def test_within_segment_dispersion_matches_a_loop_and_the_dirichlet_multinomial_variance():
    rng = np.random.default_rng(1)
    n, c, k, total = 3000, 5, 2, 40
    z = rng.integers(0, k, n)
    profile = rng.dirichlet(np.ones(c) * 3, size=k)
    multinomial = np.stack([rng.multinomial(total, profile[s]) for s in z])
    kappa = 9.0
    dm = np.stack([rng.multinomial(total, rng.dirichlet(kappa * profile[s])) for s in z])
    for y in (multinomial, dm):
        np.testing.assert_allclose(within_segment_dispersion(y, z[None], k)[0], _pearson_loop(y, z, k), rtol=1e-10)
    # Mosimann (1962): the DM variance is the multinomial's times 1 + (n - 1) / (kappa + 1)
    np.testing.assert_allclose(within_segment_dispersion(multinomial, z[None], k)[0], 1.0, atol=0.1)
    np.testing.assert_allclose(within_segment_dispersion(dm, z[None], k)[0], 1 + (total - 1) / (kappa + 1), rtol=0.1)


def test_p_values_count_ties_as_one_half_and_discrepancies_are_standardised():
    replicated = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, np.nan]])
    p = predictive_p_values(np.array([2.0, 0.0]), replicated)
    np.testing.assert_allclose(p, [(2 + 0.5) / 4, 0.5])
    d = standardised_discrepancy(np.array([2.0, 0.0]), replicated)
    np.testing.assert_allclose(d[0], np.mean(2 - replicated[:, 0]) / np.std(2 - replicated[:, 0], ddof=1))
    assert np.isnan(d[1])  # no spread: undefined, not infinite


def test_verdicts_follow_the_binomial_count_of_extreme_elements_and_the_far_ones():
    uniform = (np.arange(200) + 0.5) / 200
    status, n_extreme, n, tail, far = verdict(uniform)
    assert (status, n_extreme, n, far) == ("pass", 10, 200, 0)
    assert tail == pytest.approx(stats.binom.sf(9, 200, 2 * EXTREME))
    many = np.r_[np.zeros(40), np.full(160, 0.5)]
    assert verdict(many)[0] == "fail" and verdict(many)[3] < FAIL_TAIL
    some = np.r_[np.zeros(17), np.full(183, 0.5)]  # tail between 0.001 and 0.05
    assert FAIL_TAIL < stats.binom.sf(16, 200, 0.05) < 0.05 and verdict(some)[0] == "look"
    # one element far beyond the replicates fails the check, whatever the count
    z = np.zeros(200)
    z[3] = far_threshold(200) + 0.1
    assert verdict(np.full(200, 0.5), z)[0] == "fail" and verdict(np.full(200, 0.5), z)[4] == 1
    assert far_threshold(200) == pytest.approx(stats.norm.isf(FAIL_TAIL / 400))


@pytest.fixture(scope="module")
def simulated():
    counts, cov, _ = simulate_counts(300, 10, 2, separation=1.5, seed=11)
    return counts, cov


def test_the_model_passes_its_own_data(simulated):
    counts, cov = simulated
    model = SegmentModel(2, sampler_config={**FIT, "random_seed": 3}).fit(counts, cov)
    tree = model.posterior_predictive(300, 100, seed=1)
    assert tree["posterior"]["segment"].shape == (1, 100, 300)
    assert tree["posterior_predictive"]["counts_given_segment"].shape == (1, 100, 300, 10)
    checks = predictive_checks(tree)
    assert [c.name for c in checks] == ["zeros", "overdispersion", "cooccurrence", "max_share"]
    # pairs with a category every author uses have no correlation, and are left out
    defined = int(np.isfinite(cooccurrence(counts.values)[np.triu_indices(10, k=1)]).sum())
    assert [c.n_elements for c in checks] == [10, 10, defined, 300] and defined >= 28
    # the largest-share check: p-values are one minus each author's PIT, from a direct count
    obs = counts.values.max(axis=1) / counts.values.sum(axis=1)
    rep = tree["posterior_predictive"]["max_share"].values[0]
    pit = ((rep < obs) + 0.5 * (rep == obs)).mean(axis=0)
    share = checks[3]
    assert share.n_extreme == int(((1 - pit < EXTREME) | (1 - pit > 1 - EXTREME)).sum())
    assert share.n_far == 0  # the far rule is for statistics averaged over authors, not one author's share
    assert all(c.verdict != "fail" for c in checks), [c.message for c in checks]
    assert all(c.to_dict()["verdict"] == c.verdict for c in checks)


def test_bundled_labels_fail_the_cooccurrence_check(simulated):
    # two bundles: every label of c1 comes with one of c2, every label of c3 with one of c4
    counts, cov = simulated
    y = counts.values.copy()
    y[:, 2], y[:, 4] = y[:, 1], y[:, 3]
    model = SegmentModel(2, sampler_config={**FIT, "random_seed": 3}).fit(counts.copy(data=y), cov)
    check = predictive_checks(model.posterior_predictive(300, 100, seed=1))[2]
    assert check.verdict == "fail" and check.n_far >= 2
    assert set(check.table.index[:2]) == {"c1 & c2", "c3 & c4"}
    assert check.outside().iloc[:2].all()  # the rows the report highlights, by the verdict's own rule
    assert (check.table["observed"].iloc[:2] == 1.0).all() and (check.table["discrepancy"].iloc[:2] > 0).all()
    assert "bundles" in check.message


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_a_zero_inflated_category_fails_a_check(seed):
    # half of the authors never post the commonest category, the others as the model says
    counts, cov, _ = simulate_counts(300, 10, 2, separation=1.5, seed=100 + seed)
    y = counts.values.copy()
    rng = np.random.default_rng(seed)
    y[rng.random(300) < 0.5, int(np.argmax(y.sum(axis=0)))] = 0
    keep = y.sum(axis=1) > 0
    model = SegmentModel(2, sampler_config={**FIT, "random_seed": seed}).fit(counts.copy(data=y)[keep], cov[keep])
    checks = {c.name: c for c in predictive_checks(model.posterior_predictive(300, 100, seed=1))}
    assert "fail" in (checks["zeros"].verdict, checks["overdispersion"].verdict), [c.message for c in checks.values()]


def test_categories_dispersed_unlike_one_concentration_read_as_mixed():
    # within one segment, three categories multinomial and three far more dispersed than the
    # replicates' common concentration: the check fails, and says the dispersion differs by category
    rng = np.random.default_rng(4)
    n, s, total = 600, 60, 60
    profile = np.full(6, 1 / 6)

    def observed_author():
        # c0..c2 at fixed shares, c3..c5 sharing the other half very unevenly
        return rng.multinomial(total, np.r_[np.full(3, 1 / 6), 0.5 * rng.dirichlet(np.full(3, 1 / 3))])

    y = np.stack([observed_author() for _ in range(n)])
    y_given = rng.multinomial(total, rng.dirichlet(12.0 * profile, size=(s, n)))
    z = np.zeros((s, n), dtype=np.int64)
    tree = ppc_tree(y, y_given, np.arange(n), np.array([f"c{i}" for i in range(6)]), z, y_rep_given=y_given)
    check = predictive_checks(tree)[1]
    assert check.verdict == "fail" and check.above == 3 and check.below == 3
    assert "one concentration" in check.message and "a dispersion per category" in check.message
    assert set(check.table.index[check.table["discrepancy"] > 0]) == {"c3", "c4", "c5"}
