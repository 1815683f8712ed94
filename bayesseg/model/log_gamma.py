r"""The Dirichlet-multinomial's log-gamma differences and their derivative in one pass (a PyTensor Op).

The likelihood's special functions are, for each distinct (category, count) pair ``u`` and segment
``k`` (:mod:`bayesseg.model.likelihood`),

.. math::

    g_{uk} = \log\Gamma(n_u + \alpha_{c(u)k}) - \log\Gamma(\alpha_{c(u)k}), \qquad
    \frac{\partial g_{uk}}{\partial \alpha_{c(u)k}} = \psi(n_u + \alpha_{c(u)k}) - \psi(\alpha_{c(u)k}),

and the same with each distinct total and the segment's summed concentration. PyTensor's graph
takes :math:`\log\Gamma` (glibc's ``lgamma``) in the log-density and the digamma :math:`\psi`
(SciPy's, through a function pointer) in the gradient: two special functions of the same argument,
each starting from its own logarithm. :class:`PairLogGamma` computes both at once with
:func:`log_gamma_digamma`, which shares the logarithm and the reciprocal between Stirling's series
for :math:`\log\Gamma` and the asymptotic series for :math:`\psi` (after the upward recurrence to
an argument of at least 8), and returns the derivative as a second output that its gradient
reuses. On a table of counts in the thousands (``benchmarks/dmn_speed.py``'s) these functions are
nearly all of a gradient's cost (benchmarks/RESULTS.md, "Fit speed: cost of one gradient").

Both series are truncated after six terms; the first omitted term bounds the error, under 2e-14
at 8 and falling as :math:`x^{-13}` (:math:`\log\Gamma`) and :math:`x^{-14}` (:math:`\psi`). The
tests hold both to SciPy.

References
----------
Olver, F. W. J., Lozier, D. W., Boisvert, R. F., & Clark, C. W. (Eds.) (2010). *NIST Handbook of
Mathematical Functions*, §5.5 (recurrence), §5.11 (asymptotic expansions). Cambridge University
Press. https://dlmf.nist.gov/5.11

Minka, T. P. (2000). *Estimating a Dirichlet distribution*. Technical report, Microsoft Research
(the Dirichlet's gradient in digamma differences). https://tminka.github.io/papers/dirichlet/
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic
from scipy import special

from bayesseg.model.likelihood import SparseCounts, by_reference, data_tensor

__all__ = [
    "PairLogGamma",
    "dm_terms_tensor",
    "log_gamma_differences",
    "log_gamma_digamma",
    "register_jax",
]

_HALF_LOG_2PI = 0.91893853320467274178
_C11 = 691.0 / 360360.0
r"""Stirling's series' sixth coefficient, :math:`B_{12} / (12 \cdot 11)` in magnitude."""
_C12 = 691.0 / 32760.0
r"""The digamma series' sixth coefficient, :math:`B_{12} / 12` in magnitude."""


@numba.njit(fastmath=False, cache=True)
def log_gamma_digamma(x: float) -> tuple[float, float]:  # pragma: no cover - compiled; tested against SciPy
    r""":math:`\log\Gamma(x)` and :math:`\psi(x)` together.

    Parameters
    ----------
    x : float
        The argument; a concentration, or one plus a count.

    Returns
    -------
    tuple of float
        ``(lgamma(x), digamma(x))``. For positive finite `x`: the upward recurrence
        :math:`\Gamma(x + 1) = x\Gamma(x)` to an argument of at least 8, then Stirling's series for
        :math:`\log\Gamma` and the asymptotic series for :math:`\psi`, each to six terms (truncation
        error under 2e-14, then rounding). Otherwise
        ``math.lgamma(x)`` and: :math:`-\infty` at 0, :math:`+\infty` at :math:`+\infty`, NaN for
        negative or NaN `x` (the likelihood's concentrations are positive).
    """
    if not (0.0 < x < math.inf):
        if x == 0.0:
            return math.inf, -math.inf
        if x == math.inf:
            return math.inf, math.inf
        return math.lgamma(x), math.nan
    shift_log = 0.0  # log of x (x + 1) ... (x + m - 1), a product of at most 8 factors below 8 each
    product = 1.0
    shift_digamma = 0.0
    while x < 8.0:
        product *= x
        shift_digamma += 1.0 / x
        x += 1.0
    if product != 1.0:
        shift_log = math.log(product)
    log_x = math.log(x)
    r = 1.0 / x
    r2 = r * r
    lgamma = (x - 0.5) * log_x - x + _HALF_LOG_2PI
    lgamma += r * (
        1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 * (1.0 / 1188.0 - r2 * _C11))))
    )
    digamma = log_x - 0.5 * r
    digamma -= r2 * (
        1.0 / 12.0 - r2 * (1.0 / 120.0 - r2 * (1.0 / 252.0 - r2 * (1.0 / 240.0 - r2 * (1.0 / 132.0 - r2 * _C12))))
    )
    return lgamma - shift_log, digamma - shift_digamma


@numba.njit(fastmath=False, cache=True)
def log_gamma_differences(
    alpha: np.ndarray, index: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested against SciPy
    r""":math:`\log\Gamma(n_u + \alpha_{i(u)k}) - \log\Gamma(\alpha_{i(u)k})` and its derivative in :math:`\alpha`.

    Parameters
    ----------
    alpha : numpy.ndarray of float64, shape (row, segment)
        Concentrations (positive); e.g. (category, segment).
    index : numpy.ndarray of int64, shape (pair,)
        Each pair's row of `alpha` (e.g. its category).
    count : numpy.ndarray of float64, shape (pair,)
        Each pair's count :math:`n_u \ge 0`.

    Returns
    -------
    g, dg : numpy.ndarray of float64, shape (pair, segment)
        The differences and :math:`\psi(n_u + \alpha) - \psi(\alpha)`; the terms of :math:`\alpha` alone
        are computed once per (row, segment).
    """
    rows, k = alpha.shape
    base_lgamma = np.empty((rows, k))
    base_digamma = np.empty((rows, k))
    for i in range(rows):
        for j in range(k):
            base_lgamma[i, j], base_digamma[i, j] = log_gamma_digamma(alpha[i, j])
    g = np.empty((index.size, k))
    dg = np.empty((index.size, k))
    for u in range(index.size):
        i = index[u]
        n = count[u]
        for j in range(k):
            lgamma, digamma = log_gamma_digamma(n + alpha[i, j])
            g[u, j] = lgamma - base_lgamma[i, j]
            dg[u, j] = digamma - base_digamma[i, j]
    return g, dg


class PairLogGamma(Op):
    r""":math:`\log\Gamma(n + \alpha) - \log\Gamma(\alpha)` per pair and segment, and its derivative, in one pass.

    Inputs: ``alpha`` (row, segment) float64, ``index`` (pair,) int64 each pair's row, ``count``
    (pair,) float64. Outputs: ``g`` and ``dg`` (pair, segment), as :func:`log_gamma_differences`;
    ``g`` is differentiable in ``alpha`` (its pullback scatters ``cotangent ⊙ dg`` onto the rows),
    ``dg`` is not (NUTS and ADVI need first derivatives only), and ``index`` and ``count`` are data.
    """

    __props__ = ()

    def make_node(self, *inputs: Any) -> Apply:
        """Check and cast the inputs: a float64 matrix, an int64 and a float64 vector."""
        alpha, index, count = (pt.as_tensor_variable(v) for v in inputs)
        if alpha.ndim != 2 or index.ndim != 1 or count.ndim != 1:
            raise TypeError(
                f"PairLogGamma needs alpha (row, segment), index and count vectors; got ndim "
                f"{alpha.ndim}, {index.ndim}, {count.ndim}"
            )
        cast = [pt.cast(alpha, "float64"), pt.cast(index, "int64"), pt.cast(count, "float64")]
        return Apply(self, cast, [pt.dmatrix(), pt.dmatrix()])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray], output_storage: list[list[Any]]) -> None:
        """SciPy's ``gammaln`` and ``psi`` (PyTensor's Python backend)."""
        alpha, index, count = inputs
        at_pairs = count[:, None] + alpha[index]
        output_storage[0][0] = special.gammaln(at_pairs) - special.gammaln(alpha)[index]
        output_storage[1][0] = special.psi(at_pairs) - special.psi(alpha)[index]

    def infer_shape(self, node: Apply, input_shapes: Sequence[Any]) -> list[Any]:
        """(pair, segment) twice."""
        shape = (input_shapes[1][0], input_shapes[0][1])
        return [shape, shape]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        """Both outputs depend on ``alpha``; ``index`` and ``count`` are data."""
        return [[True, True], [False, False], [False, False]]

    def pullback(
        self, inputs: Sequence[Variable], outputs: Sequence[Variable], cotangents: Sequence[Variable]
    ) -> list[Variable]:
        """The gradient in ``alpha``: ``cotangent ⊙ dg`` summed onto each pair's row."""
        alpha, index, _ = inputs
        if not isinstance(cotangents[1].type, DisconnectedType):
            raise NotImplementedError("the derivative output of PairLogGamma is not differentiable")
        weighted = pt.as_tensor_variable(cotangents[0]) * pt.as_tensor_variable(outputs[1])
        grad = pt.inc_subtensor(pt.zeros_like(alpha)[index], weighted)
        return [grad, disconnected_type(), disconnected_type()]


@numba_basic.register_funcify_and_cache_key(PairLogGamma)
def _numba_pair_log_gamma(op: PairLogGamma, node: Any = None, **kwargs: Any) -> tuple[Any, str]:
    """:func:`log_gamma_differences` inside a PyTensor Numba function, cached under a hash of its source."""

    @numba_basic.numba_njit
    def pair_log_gamma(alpha: np.ndarray, index: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return log_gamma_differences(alpha, index, count)  # pragma: no cover - compiled

    return pair_log_gamma, _cache_key(bool(pytensor.config.numba__fastmath))


@functools.cache
def _cache_key(fastmath: bool) -> str:
    """The compiled pass's cache key: a hash of its functions' source and constants, read once per process."""
    source = "".join(inspect.getsource(f.py_func) for f in (log_gamma_digamma, log_gamma_differences))
    key = f"bayesseg.model.log_gamma:{source}:{_C11}:{_C12}:{fastmath}"
    return hashlib.sha256(key.encode()).hexdigest()


def register_jax() -> None:
    """Register a JAX implementation of :class:`PairLogGamma` (``jax.scipy.special``), for ``sampler = "numpyro"``.

    Idempotent; imports JAX.

    Raises
    ------
    ImportError
        If JAX is not installed (``pip install bayesseg[jax]``).
    """
    from jax.scipy import special as jax_special
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(PairLogGamma)
    def _jax_pair_log_gamma(op: PairLogGamma, node: Any = None, **kwargs: Any) -> Callable[..., Any]:
        def pair_log_gamma(alpha, index, count):  # type: ignore[no-untyped-def]
            at_pairs = count[:, None] + alpha[index]
            g = jax_special.gammaln(at_pairs) - jax_special.gammaln(alpha)[index]
            return g, jax_special.digamma(at_pairs) - jax_special.digamma(alpha)[index]

        return pair_log_gamma


def dm_terms_tensor(counts: SparseCounts, log_alpha: Any) -> tuple[Any, Any]:
    r"""The terms shared by all authors (``dm_parts_tensor``'s ``g`` and ``h``) by :class:`PairLogGamma`.

    Parameters
    ----------
    counts : SparseCounts
        The counts (data of the graph, by reference or constants: :func:`bayesseg.model.likelihood.by_reference`).
    log_alpha : pytensor.tensor.TensorVariable, shape (segment, category)
        Log concentrations.

    Returns
    -------
    g, h : pytensor.tensor.TensorVariable, shapes (pair, segment) and (total, segment)
        The values of :func:`bayesseg.model.likelihood.dm_parts_tensor` to within 1e-13, the log-gamma
        differences of the distinct pairs and of the distinct totals (``h`` with its sign); the
        gradient reuses the digamma differences computed with them.
    """
    shared = by_reference(counts)
    alpha = pt.exp(pt.as_tensor_variable(log_alpha)).T  # (C, K)
    pair_category = data_tensor(counts.pair_category, "pair_category", shared)
    pair_count = data_tensor(counts.pair_count, "pair_count", shared)
    g = PairLogGamma().make_node(alpha, pair_category, pair_count).outputs[0]
    totals = data_tensor(counts.totals, "totals", shared)
    # the totals against the summed concentrations: one row, every total pointing at it
    big_a = alpha.sum(axis=0)[None, :]  # (1, K)
    h = -pt.as_tensor_variable(
        PairLogGamma().make_node(big_a, pt.zeros(totals.shape[0], dtype="int64"), totals).outputs[0]
    )
    return g, h
