"""PSIS-LOO with moment matching: the stored draws mapped back onto the graph, high k̂ lowered, exact LOO matched."""

import numpy as np
import pytest
import xarray as xr

from bayesseg.model import SegmentModel, compare_k, selection
from bayesseg.model import moment_match as mm
from bayesseg.simulate import simulate_counts

TINY = {"draws": 200, "tune": 200, "chains": 2, "progressbar": False, "random_seed": 2, "em_restarts": 2}


def _outlier_counts(extra: int = 100):
    """80 authors, two segments; author 0 given `extra` labels of the rarest category: a high k̂."""
    counts, cov, _ = simulate_counts(80, 8, 2, separation=2.0, seed=5)
    c = counts.values.copy()
    c[0, int(np.argmin(c.sum(axis=0)))] += extra
    return counts.copy(data=c), cov


def _graph_at_stored_draws(model: SegmentModel, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tree = model.idata_
    log_lik = tree["log_likelihood"].to_dataset()
    posterior = tree["posterior"].to_dataset().sel(draw=log_lik["draw"])
    counts, cov = model._fitted_data()
    graph = model.build_model(counts, cov, weights=weights)
    offsets = model.anchor_offsets([str(c) for c in counts["category"].values])
    upars, layout = mm.unconstrained_draws(graph, mm.free_values(posterior, graph, offsets))
    out = mm._point_function(graph, layout)(upars[::25])
    stored = log_lik["y"].transpose("chain", "draw", "author").values.reshape(upars.shape[0], -1)[::25]
    return out[:, 1:], stored, out[:, 0]


@pytest.mark.parametrize(
    ("k", "with_covariates", "weighted", "anchors"),
    [(1, False, False, {}), (2, True, True, {"first": ["c0", "c1"]})],
)
def test_the_stored_draws_mapped_onto_the_graph_give_the_stored_log_likelihood(k, with_covariates, weighted, anchors):
    # the relabelled, re-referenced posterior goes back onto the graph's free variables (zero-sum
    # gating and departures, the graph's category order, its concentration parametrisation): the
    # graph's per-author log-likelihood there equals the one computed from the draws in NumPy
    counts, cov, _ = simulate_counts(90, 8, k, separation=2.0, seed=11)
    cov = cov if with_covariates else None
    weights = np.linspace(0.5, 1.5, 90) if weighted else None
    model = SegmentModel(k, {"anchors": anchors}, TINY).fit(counts, cov, weights=weights)
    graph_loglik, stored, logp = _graph_at_stored_draws(model, weights)
    np.testing.assert_allclose(graph_loglik, stored, rtol=1e-9, atol=1e-9)
    assert np.isfinite(logp).all()


@pytest.fixture(scope="module")
def outlier():
    counts, cov = _outlier_counts()
    return counts, cov, compare_k(counts, cov, [2], sampler_config=TINY)


def test_moment_matching_lowers_a_high_k_hat_and_leaves_the_other_authors(outlier):
    model = outlier[2].models[2]
    plain, matched = model.loo(), model.loo(moment_match=True)
    k0, k1 = np.asarray(plain.pareto_k), np.asarray(matched.pareto_k)
    assert k0[0] > plain.good_k  # the outlier's importance weights are heavy-tailed
    assert k1[0] < k0[0]
    np.testing.assert_array_equal(np.asarray(matched.influence_pareto_k), k0)
    others = k0 <= plain.good_k
    np.testing.assert_array_equal(np.asarray(matched.elpd_i)[others], np.asarray(plain.elpd_i)[others])


def test_moment_matching_compiles_without_fast_math(outlier, fastmath_at_compile):
    # the log density it evaluates at moved draws is the sampler's arithmetic: cache-independent bits
    outlier[2].models[2].loo(moment_match=True)
    assert fastmath_at_compile and not any(fastmath_at_compile), fastmath_at_compile


def test_compare_k_moment_matches_before_falling_back_to_k_fold(outlier):
    counts, cov, comparison = outlier
    table = comparison.table
    # one author of 80 is over the 1 % of authors PSIS-LOO tolerates: matched first, and K-fold
    # only if too many stay high
    assert table.loc["K=2", "n_moment_matched"] >= 1
    after = mm.high_pareto_k(comparison.models[2].loo(moment_match=True))
    assert table.loc["K=2", "n_high_pareto_k"] == after
    assert comparison.criterion == ("psis-loo-mm" if after <= 0.01 * 80 else "kfold")
    if comparison.criterion == "psis-loo-mm":
        assert "moment matched" in comparison.rule
    off = compare_k(counts, cov, [2], sampler_config=TINY, moment_match=False, n_folds=2)
    assert off.criterion == "kfold" and (off.table["n_moment_matched"] == 0).all()


def test_high_k_hat_authors_are_matched_only_between_the_two_shares():
    # over 1 % of 1,000 authors (PSIS-LOO unreliable) and at most 5 % (fewer than refitting costs)
    assert [selection.worth_matching(n, 1000) for n in (0, 10, 11, 50, 51)] == [False, False, True, True, False]


@pytest.mark.slow
def test_moment_matching_moves_the_outliers_elpd_toward_exact_leave_one_out():
    # exact: the model refitted without author 0, its predictive density of author 0. One seed's
    # gap is mostly Monte Carlo noise of a density dominated by a few draws (0.7-2.6 nats over
    # seeds 2-12, where this was designed; the refit's own log of a heavy-tailed mean is biased
    # low); the claims are about ten other seeds: matching lowers every seed's k̂, and on average
    # leaves the outlier's elpd within 2 nats of the refit and no further from it than PSIS
    # alone (nearer by 0.2-0.4 nats on average where measured, too little to assert per seed)
    counts, cov = _outlier_counts()
    gaps = {"plain": [], "matched": []}
    for seed in range(13, 23):
        long = {**TINY, "draws": 1500, "tune": 400, "random_seed": seed}
        full = SegmentModel(2, None, long).fit(counts, cov)
        plain, matched = full.loo(), full.loo(moment_match=True)
        assert isinstance(matched.elpd_i, xr.DataArray)
        assert float(np.asarray(matched.pareto_k)[0]) < float(np.asarray(plain.pareto_k)[0]), seed
        rest = SegmentModel(2, None, long).fit(counts.isel(author=slice(1, None)), cov.isel(author=slice(1, None)))
        exact = float(rest.log_predictive_density(counts.isel(author=[0]), cov.isel(author=[0])).values[0])
        gaps["plain"].append(abs(float(plain.elpd_i[0]) - exact))
        gaps["matched"].append(abs(float(matched.elpd_i[0]) - exact))
    assert np.mean(gaps["matched"]) < np.mean(gaps["plain"]) + 0.25, gaps
    assert np.mean(gaps["matched"]) < 2.0, gaps
