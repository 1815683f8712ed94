"""The log-gamma differences and their derivative in one pass (bayesseg.model.log_gamma) against SciPy."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad
from scipy import special

from bayesseg.model.likelihood import SparseCounts, dm_parts_tensor
from bayesseg.model.log_gamma import PairLogGamma, dm_terms_tensor, log_gamma_differences, log_gamma_digamma
from bayesseg.model.sampling import without_fastmath


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """The largest error, relative where |b| > 1, absolute below (log Γ crosses zero at 1 and 2)."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def test_log_gamma_and_digamma_equal_scipys_from_tiny_to_huge_arguments() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            np.exp(rng.uniform(np.log(1e-10), np.log(1e12), 20_000)),  # concentrations and counts of every size
            np.arange(1.0, 60.0),  # the integers, where log Γ is exactly log((x - 1)!)
            np.nextafter(8.0, [0.0, 16.0]),  # either side of where the recurrence stops
            [1.0, 2.0, 1e-300, 0.5],
        ]
    )
    values = np.array([log_gamma_digamma(v) for v in x])
    assert _relative(values[:, 0], special.gammaln(x)) < 5e-14
    assert _relative(values[:, 1], special.psi(x)) < 5e-14
    assert values[np.flatnonzero(x == 1.0)[0], 0] == pytest.approx(0.0, abs=5e-14)


def test_arguments_outside_the_positive_reals_give_the_limits() -> None:
    assert log_gamma_digamma(0.0) == (np.inf, -np.inf)
    assert log_gamma_digamma(np.inf) == (np.inf, np.inf)
    assert all(np.isnan(v) for v in log_gamma_digamma(np.nan))
    lgamma, digamma = log_gamma_digamma(-1.5)
    assert lgamma == pytest.approx(special.gammaln(-1.5)) and np.isnan(digamma)


def test_the_differences_equal_scipys_per_pair_and_segment() -> None:
    rng = np.random.default_rng(1)
    alpha = np.exp(rng.normal(-1.0, 2.0, (9, 4)))  # rare categories' α far below 1, common ones above
    index = rng.integers(0, 9, 300)
    count = np.floor(np.exp(rng.uniform(0.0, 9.0, 300)))  # counts from 1 to thousands
    g, dg = log_gamma_differences(alpha, index, count)
    at_pairs = count[:, None] + alpha[index]
    np.testing.assert_allclose(g, special.gammaln(at_pairs) - special.gammaln(alpha[index]), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dg, special.psi(at_pairs) - special.psi(alpha[index]), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_the_gradient_is_the_finite_differences_in_both_backends(mode: str) -> None:
    rng = np.random.default_rng(2)
    index = rng.integers(0, 5, 40)
    count = rng.integers(1, 400, 40).astype(float)
    weights = rng.normal(size=(40, 3))

    def cost(log_alpha: pt.TensorVariable) -> pt.TensorVariable:
        return (PairLogGamma()(pt.exp(log_alpha), index, count)[0] * weights).sum()

    with without_fastmath():
        verify_grad(cost, [rng.normal(0.0, 1.0, (5, 3))], rng=rng, mode=mode, abs_tol=1e-4, rel_tol=1e-4)


def test_the_model_terms_equal_the_generic_graphs_with_their_gradient() -> None:
    """dm_terms_tensor (the fused pass) against dm_parts_tensor (PyTensor's gammaln, digamma in the gradient)."""
    rng = np.random.default_rng(3)
    y = rng.negative_binomial(0.3, 0.002, size=(60, 12)) * (rng.random((60, 12)) < 0.4)
    y[:, 0] += 1  # every author has a count
    sparse = SparseCounts.from_dense(y)
    log_alpha = pt.dmatrix("log_alpha")
    point = rng.normal(0.0, 1.5, (3, 12))
    outputs = []
    for terms in (dm_terms_tensor, dm_parts_tensor):
        g, h = terms(sparse, log_alpha)
        total = (g * np.linspace(-1.0, 2.0, 3)).sum() + (h * np.linspace(0.5, 1.5, 3)).sum()
        with without_fastmath():
            f = pytensor.function([log_alpha], [g, h, pt.grad(total, log_alpha)], mode="NUMBA")
        outputs.append(f(point))
    for fused, generic in zip(*outputs, strict=True):
        assert _relative(fused, generic) < 1e-10


def test_the_derivative_output_cannot_be_differentiated() -> None:
    alpha = pt.dmatrix("alpha")
    g, dg = PairLogGamma()(alpha, np.array([0, 1]), np.array([3.0, 5.0]))
    assert pt.grad(g.sum(), alpha) is not None
    with pytest.raises(NotImplementedError, match="not differentiable"):
        pt.grad(dg.sum(), alpha)


def test_malformed_inputs_are_refused_by_shape() -> None:
    with pytest.raises(TypeError, match="PairLogGamma needs alpha"):
        PairLogGamma()(pt.dvector("alpha"), np.array([0]), np.array([1.0]))
