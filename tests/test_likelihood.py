"""The sparse Dirichlet-multinomial equals scipy, PyMC and the dense formula."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from bayesseg.model.likelihood import SparseCounts, dm_logpmf_dense, dm_logpmf_sparse, dm_logpmf_tensor


def random_case(seed, n=60, c=15, k=4):
    rng = np.random.default_rng(seed)
    y = rng.poisson(rng.gamma(0.4, 4, size=(n, c)))
    y[rng.random(n) < 0.1] = 0  # some all-zero rows
    y[0, 0] = 250  # a large count
    log_alpha = rng.normal(0, 1.5, size=(k, c))
    return y, log_alpha


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_scipy_and_pymc(seed):
    y, log_alpha = random_case(seed)
    got = dm_logpmf_sparse(SparseCounts.from_dense(y), log_alpha)
    alpha = np.exp(log_alpha)
    n = y.sum(axis=1)
    ref = np.array(
        [
            [stats.dirichlet_multinomial.logpmf(y[i], alpha[k], n[i]) for k in range(alpha.shape[0])]
            for i in range(len(y))
        ]
    )
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    pm_ref = np.stack(
        [
            pm.logp(pm.DirichletMultinomial.dist(n=n, a=np.tile(alpha[k], (len(y), 1))), y).eval()
            for k in range(len(alpha))
        ],
        axis=1,
    )
    np.testing.assert_allclose(got, pm_ref, rtol=0, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 30),
    c=st.integers(1, 12),
    k=st.integers(1, 5),
)
def test_sparse_equals_dense(seed, n, c, k):
    rng = np.random.default_rng(seed)
    y = rng.poisson(rng.gamma(0.5, 3, size=(n, c)))
    log_alpha = rng.normal(0, 2, size=(k, c))
    sc = SparseCounts.from_dense(y)
    np.testing.assert_allclose(dm_logpmf_sparse(sc, log_alpha), dm_logpmf_dense(y, log_alpha), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(sc.to_dense(), y)
    assert sc.n_pairs <= sc.nnz


def test_vectorised_over_draws_and_tensor_graph_agree():
    y, _ = random_case(5)
    rng = np.random.default_rng(9)
    log_alpha = rng.normal(0, 1, size=(7, 3, y.shape[1]))
    sc = SparseCounts.from_dense(y)
    batched = dm_logpmf_sparse(sc, log_alpha)
    assert batched.shape == (7, len(y), 3)
    x = pt.matrix("log_alpha")
    fn = pytensor.function([x], dm_logpmf_tensor(sc, x))
    for s in range(7):
        np.testing.assert_allclose(batched[s], dm_logpmf_dense(y, log_alpha[s]), atol=1e-9)
        np.testing.assert_allclose(fn(log_alpha[s]), batched[s], atol=1e-9)


def test_gradient_matches_finite_differences():
    y, log_alpha = random_case(3, n=20, c=6, k=2)
    sc = SparseCounts.from_dense(y)
    x = pt.matrix("log_alpha")
    total = dm_logpmf_tensor(sc, x).sum()
    grad = pytensor.function([x], pytensor.grad(total, x))(log_alpha)
    f = pytensor.function([x], total)
    eps = 1e-6
    num = np.zeros_like(log_alpha)
    for idx in np.ndindex(*log_alpha.shape):
        up, down = log_alpha.copy(), log_alpha.copy()
        up[idx] += eps
        down[idx] -= eps
        num[idx] = (f(up) - f(down)) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-5)


def test_malformed_counts_are_named():
    with pytest.raises(ValueError, match="row 1, column 2"):
        SparseCounts.from_dense(np.array([[1, 2, 3], [0, 1, -1]]))
    with pytest.raises(ValueError, match="row 0, column 0"):
        SparseCounts.from_dense(np.array([[1.5, 2]]))
    with pytest.raises(ValueError, match="2-D"):
        SparseCounts.from_dense(np.array([1, 2]))
