"""The fused mixture log-likelihood (bayesseg.model.kernel) against scipy, the generic graph and finite differences."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad
from scipy import special, stats

from bayesseg.model import likelihood
from bayesseg.model.kernel import (
    MixtureLogLikelihood,
    backward_source,
    forward_source,
    gating_log_softmax,
    mixture_log_likelihood,
    mixture_log_likelihood_values,
    register_jax,
)
from bayesseg.model.likelihood import SparseCounts, data_tensor, dm_logpmf_tensor
from bayesseg.model.sampling import without_fastmath
from bayesseg.model.scoring import log_gating


def _problem(k: int, seed: int, n: int = 40, c: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts (one author with no labels among them), log concentrations and log mixture weights."""
    rng = np.random.default_rng(seed)
    y = rng.negative_binomial(1, 0.4, size=(n, c)) * (rng.random((n, c)) < 0.6)
    y[3] = 0
    log_alpha = rng.normal(0.0, 0.8, (k, c))
    log_pi = np.log(rng.dirichlet(np.ones(k), n))
    return y, log_alpha, log_pi


def _scipy_mixture(y: np.ndarray, log_alpha: np.ndarray, log_pi: np.ndarray) -> np.ndarray:
    """Each author's log Σ_k π_ik DM(y_i | α_k) by scipy.stats.dirichlet_multinomial (no labels: log 1)."""
    alpha = np.exp(log_alpha)
    comp = np.array(
        [[stats.dirichlet_multinomial.logpmf(row, a, row.sum()) if row.sum() else 0.0 for a in alpha] for row in y]
    )
    return special.logsumexp(log_pi + comp, axis=1)


def _function(y: np.ndarray, k: int, fused: bool, mode: str = "NUMBA") -> pytensor.compile.Function:
    """Weighted sum of the per-author log-likelihoods, with its gradient in log α and log π."""
    sparse = SparseCounts.from_dense(y)
    la, lp = pt.dmatrix("log_alpha"), pt.dmatrix("log_pi")
    if fused:
        per_author = mixture_log_likelihood(sparse, la, lp, n_segments=k)
    else:
        per_author = pt.logsumexp(lp + dm_logpmf_tensor(sparse, la), axis=1)
    weights = np.linspace(0.5, 1.5, y.shape[0])
    total = (weights * per_author).sum()
    with without_fastmath():
        return pytensor.function([la, lp], [per_author, total, *pt.grad(total, [la, lp])], mode=mode)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_the_fused_log_likelihood_equals_scipys_dirichlet_multinomial_mixture(k: int) -> None:
    y, log_alpha, log_pi = _problem(k, seed=k)
    per_author = _function(y, k, fused=True)(log_alpha, log_pi)[0]
    np.testing.assert_allclose(per_author, _scipy_mixture(y, log_alpha, log_pi), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_the_fused_gradient_equals_the_generic_graphs(k: int) -> None:
    y, log_alpha, log_pi = _problem(k, seed=10 + k)
    fused = _function(y, k, fused=True)(log_alpha, log_pi)
    generic = _function(y, k, fused=False)(log_alpha, log_pi)
    for a, b in zip(fused, generic, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert np.abs(fused[2]).max() > 1e-3 and np.abs(fused[3]).max() > 1e-3  # gradients that say something


def test_the_fused_gradient_matches_finite_differences() -> None:
    y, log_alpha, log_pi = _problem(3, seed=4, n=12, c=5)
    sparse = SparseCounts.from_dense(y)

    def loglik(la: pt.TensorVariable, lp: pt.TensorVariable) -> pt.TensorVariable:
        return mixture_log_likelihood(sparse, la, lp, n_segments=3)

    with without_fastmath():
        verify_grad(loglik, [log_alpha, log_pi], rng=np.random.default_rng(0), mode="NUMBA")


def test_python_and_numba_backends_give_the_same_numbers() -> None:
    y, log_alpha, log_pi = _problem(4, seed=7)
    numba_values = _function(y, 4, fused=True, mode="NUMBA")(log_alpha, log_pi)
    python_values = _function(y, 4, fused=True, mode="FAST_COMPILE")(log_alpha, log_pi)
    for a, b in zip(numba_values, python_values, strict=True):  # the log-gamma terms differ in the last bit
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12)


def test_non_zeros_in_any_order_give_the_same_log_likelihood() -> None:
    y, log_alpha, log_pi = _problem(3, seed=9)
    sparse = SparseCounts.from_dense(y)
    order = np.random.default_rng(1).permutation(sparse.nnz)
    shuffled = SparseCounts(
        **{**vars(sparse), "entry_author": sparse.entry_author[order], "entry_pair": sparse.entry_pair[order]}
    )
    la, lp = pt.dmatrix("log_alpha"), pt.dmatrix("log_pi")
    with without_fastmath():
        f = pytensor.function([la, lp], [mixture_log_likelihood(s, la, lp, 3) for s in (sparse, shuffled)])
    a, b = f(log_alpha, log_pi)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(a, _scipy_mixture(y, log_alpha, log_pi), rtol=1e-10)


def test_the_generated_kernels_unroll_every_segment() -> None:
    for k in (1, 4, 11):
        forward, backward = forward_source(k), backward_source(k)
        assert f"a{k - 1} += g[u, {k - 1}]" in forward and f"a{k}" not in forward
        assert f"dg[u, {k - 1}] += w{k - 1}" in backward and f"w{k} " not in backward
        compile(forward, "<forward>", "exec"), compile(backward, "<backward>", "exec")


def test_a_number_of_segments_that_is_not_known_is_refused() -> None:
    y, _, _ = _problem(2, seed=1)
    with pytest.raises(ValueError, match="n_segments"):
        mixture_log_likelihood(SparseCounts.from_dense(y), pt.dmatrix(), pt.dmatrix())
    with pytest.raises(ValueError, match="positive integer"):
        MixtureLogLikelihood(0).perform(None, [np.zeros((1, 0))] * 7, [[None], [None]])


def test_the_responsibilities_output_cannot_be_differentiated() -> None:
    g, h, log_pi = pt.dmatrix("g"), pt.dmatrix("h"), pt.dmatrix("log_pi")
    ints = [np.array([0, 1]), np.array([0]), np.array([0])]
    _, resp = MixtureLogLikelihood(2)(g, h, log_pi, *ints, np.zeros(1))
    assert pt.grad(MixtureLogLikelihood(2)(g, h, log_pi, *ints, np.zeros(1))[0].sum(), log_pi) is not None
    with pytest.raises(NotImplementedError, match="not differentiable"):
        pt.grad(resp.sum(), log_pi)


def test_the_jax_backend_gives_the_numba_backends_numbers() -> None:
    pytest.importorskip("jax", reason="JAX is optional (pip install bayesseg[jax]); it serves sampler = 'numpyro'")
    register_jax()
    y, log_alpha, log_pi = _problem(3, seed=5)
    numba_values = _function(y, 3, fused=True, mode="NUMBA")(log_alpha, log_pi)
    jax_values = _function(y, 3, fused=True, mode="JAX")(log_alpha, log_pi)
    for a, b in zip(numba_values, jax_values, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_the_values_draw_by_draw_equal_scipys_mixture() -> None:
    """The arrays' path (the stored pointwise log-likelihood) against scipy, with log π given or computed per draw."""
    y, _, _ = _problem(3, seed=21)
    rng = np.random.default_rng(21)
    log_alpha = rng.normal(0.0, 0.8, (4, 3, y.shape[1]))
    log_pi = np.log(rng.dirichlet(np.ones(3), (4, y.shape[0])))
    sparse = SparseCounts.from_dense(y)
    values = mixture_log_likelihood_values(sparse, log_alpha, log_pi)
    assert values.shape == (4, y.shape[0])
    for s in range(4):
        np.testing.assert_allclose(values[s], _scipy_mixture(y, log_alpha[s], log_pi[s]), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(mixture_log_likelihood_values(sparse, log_alpha, lambda s: log_pi[s]), values)
    with pytest.raises(ValueError, match="log_pi must be"):
        mixture_log_likelihood_values(sparse, log_alpha, log_pi[:, 1:])
    with pytest.raises(ValueError, match="log_alpha must be"):
        mixture_log_likelihood_values(sparse, log_alpha[..., 1:], log_pi)


def test_the_gating_log_softmax_equals_scipys() -> None:
    rng = np.random.default_rng(5)
    intercept, slope, x = rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=(50, 3))
    log_pi = gating_log_softmax(intercept, slope, x)
    np.testing.assert_allclose(log_pi, special.log_softmax(intercept + x @ slope, axis=1), rtol=1e-13, atol=1e-13)
    eta = log_gating({"intercept": intercept[None], "slope": slope[None]}, x)[0]  # the scoring's η, same order
    np.testing.assert_allclose(log_pi, eta - special.logsumexp(eta, axis=1, keepdims=True), rtol=0, atol=1e-14)
    no_covariates = gating_log_softmax(intercept, np.empty((0, 4)), np.empty((7, 0)))
    np.testing.assert_allclose(no_covariates, np.tile(special.log_softmax(intercept), (7, 1)), atol=1e-15)


def test_large_data_enter_the_graph_by_reference_with_the_same_bits(monkeypatch) -> None:
    """Shared variables (large data) and constants (small data) give the same log density and gradient, bit for bit."""
    assert isinstance(data_tensor(np.arange(5.0), "a", shared=False), pt.TensorConstant)
    values = np.arange(5.0)
    shared = data_tensor(values, "b", shared=True)
    assert isinstance(shared, pytensor.compile.SharedVariable) and shared.name == "b"
    values[0] = -1.0  # a copy is held
    assert shared.get_value()[0] == 0.0
    y, log_alpha, log_pi = _problem(4, seed=3, n=60)
    assert not likelihood.by_reference(SparseCounts.from_dense(y))
    constants = _function(y, 4, fused=True)
    assert not constants.get_shared()
    monkeypatch.setattr(likelihood, "BY_REFERENCE", 1)
    assert likelihood.by_reference(SparseCounts.from_dense(y))
    by_reference = _function(y, 4, fused=True)
    assert {v.name for v in by_reference.get_shared()} == {
        "pair_category",
        "pair_count",
        "totals",
        "nonzero_indptr",
        "nonzero_pair",
        "total_index",
        "log_coefficient",
    }
    for a, b in zip(constants(log_alpha, log_pi), by_reference(log_alpha, log_pi), strict=True):
        np.testing.assert_array_equal(a, b)


def test_second_derivatives_are_refused() -> None:
    """NUTS and ADVI take first derivatives only; a Hessian of the mixture's log-likelihood says so."""
    g, h, log_pi = pt.dmatrix("g"), pt.dmatrix("h"), pt.dmatrix("log_pi")
    ints = [np.array([0, 1]), np.array([0]), np.array([0])]
    first = pt.grad(MixtureLogLikelihood(2)(g, h, log_pi, *ints, np.zeros(1))[0].sum(), log_pi)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        pt.grad(first.sum(), log_pi)
