r"""The Dirichlet-multinomial mixture's log-likelihood as one fused PyTensor Op (Numba, JAX and Python).

Each author's mixture log-likelihood is

.. math::

    \ell_i = \log \sum_k \exp\Big(\log\pi_{ik} + h_{t(i)k} + \sum_{e \in i} g_{u(e)k}\Big) + c_i,

where ``g`` holds :math:`\log\Gamma(n + \alpha_{kc}) - \log\Gamma(\alpha_{kc})` for each distinct
(category, count) pair ``u`` of the non-zero counts ``e`` (:class:`bayesseg.model.likelihood.SparseCounts`),
``h`` holds :math:`\log\Gamma(A_k) - \log\Gamma(N + A_k)` for each distinct total ``t`` and
:math:`c_i` is the multinomial coefficient. :class:`MixtureLogLikelihood` computes it in one sweep of
each author's non-zeros, with the responsibilities :math:`r_{ik}` (the posterior of the segment given
the parameters); its gradient, :class:`MixtureLogLikelihoodGrad`, scatters the weighted
responsibilities back onto pairs and totals in a second sweep. The generic graph
(:func:`bayesseg.model.likelihood.dm_logpmf_tensor` then a log-sum-exp) computes the same numbers with
a sparse product, a dense (author, segment) intermediate and a separate log-sum-exp, each a pass over
memory; the fused kernel, generated with the K segments unrolled so that each author's sums stay in
registers, makes the model's log-density and gradient about a fifth cheaper at 20,000 × 60 × K = 6
(``benchmarks/gradient_cost.py``; ``benchmarks/RESULTS.md``).

The log-gamma terms ``g`` and ``h`` come from :class:`bayesseg.model.log_gamma.PairLogGamma`, which
computes their derivative in the same pass; PyTensor chains it through :math:`\alpha = e^{\log\alpha}`. Only
first derivatives are implemented (NUTS and ADVI need no more).

References
----------
Holmes, I., Harris, K., & Quince, C. (2012). Dirichlet multinomial mixtures: generative models for
microbial metagenomics. *PLoS ONE* 7(2), e30126. https://doi.org/10.1371/journal.pone.0030126

Griewank, A., & Walther, A. (2008). *Evaluating Derivatives: Principles and Techniques of
Algorithmic Differentiation* (2nd ed.). SIAM. https://doi.org/10.1137/1.9780898717761
"""

from __future__ import annotations

import functools
import hashlib
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
from pytensor.link.numba.cache import compile_numba_function_src
from pytensor.link.numba.dispatch import basic as numba_basic

from bayesseg.model.likelihood import SparseCounts, by_reference, data_tensor, dm_logpmf_parts
from bayesseg.model.log_gamma import dm_terms_tensor
from bayesseg.model.log_gamma import register_jax as register_log_gamma_jax

__all__ = [
    "KERNEL_VERSION",
    "MixtureLogLikelihood",
    "MixtureLogLikelihoodGrad",
    "author_layout",
    "backward_source",
    "forward_source",
    "gating_log_softmax",
    "mixture_kernels",
    "mixture_log_likelihood",
    "mixture_log_likelihood_values",
    "register_jax",
]

KERNEL_VERSION = 1
"""Part of the compiled kernels' cache key: raise it when the generated code changes."""


def forward_source(k: int) -> str:
    """Python source of the forward sweep for ``k`` segments, the segments unrolled.

    Parameters
    ----------
    k : int
        Number of segments, at least 1.

    Returns
    -------
    str
        The source of ``forward(g, h, log_pi, indptr, pair, total_index, coef) -> (ll, resp)``:
        ``ll`` (author,) the mixture log-likelihood, ``resp`` (author, segment) the responsibilities.
    """
    seg = range(k)
    lines = [
        "def forward(g, h, log_pi, indptr, pair, total_index, coef):",
        "    n = log_pi.shape[0]",
        "    ll = np.empty(n)",
        f"    resp = np.empty((n, {k}))",
        "    for i in range(n):",
        "        t = total_index[i]",
        *(f"        a{j} = h[t, {j}] + log_pi[i, {j}]" for j in seg),
        "        for e in range(indptr[i], indptr[i + 1]):",
        "            u = pair[e]",
        *(f"            a{j} += g[u, {j}]" for j in seg),
        "        top = a0",
        *(f"        if a{j} > top:\n            top = a{j}" for j in seg if j),
        *(f"        a{j} = math.exp(a{j} - top)" for j in seg),
        "        total = " + " + ".join(f"a{j}" for j in seg),
        "        ll[i] = top + math.log(total) + coef[i]",
        *(f"        resp[i, {j}] = a{j} / total" for j in seg),
        "    return ll, resp",
    ]
    return "\n".join(lines) + "\n"


def backward_source(k: int) -> str:
    """Python source of the backward sweep for ``k`` segments, the segments unrolled.

    Parameters
    ----------
    k : int
        Number of segments, at least 1.

    Returns
    -------
    str
        The source of ``backward(gz, resp, g, h, indptr, pair, total_index) -> (dg, dh, w)``: with
        ``w = gz[:, None] * resp`` (author, segment) the gradient in ``log_pi``, ``dg`` (pair,
        segment) and ``dh`` (total, segment) its sums over each pair's and total's authors (``g`` and
        ``h`` give only their shapes).
    """
    seg = range(k)
    lines = [
        "def backward(gz, resp, g, h, indptr, pair, total_index):",
        "    n = resp.shape[0]",
        "    dg = np.zeros_like(g)",
        "    dh = np.zeros_like(h)",
        f"    w = np.empty((n, {k}))",
        "    for i in range(n):",
        "        t = total_index[i]",
        "        z = gz[i]",
        *(f"        w{j} = z * resp[i, {j}]\n        w[i, {j}] = w{j}\n        dh[t, {j}] += w{j}" for j in seg),
        "        for e in range(indptr[i], indptr[i + 1]):",
        "            u = pair[e]",
        *(f"            dg[u, {j}] += w{j}" for j in seg),
        "    return dg, dh, w",
    ]
    return "\n".join(lines) + "\n"


def _compiled(source: str, name: str, jit: Callable[[Callable[..., Any]], Any]) -> Any:
    """``jit`` of the function ``name`` defined by ``source``."""
    return jit(compile_numba_function_src(source, name, {"np": np, "math": math}))


@functools.cache
def mixture_kernels(k: int) -> tuple[Any, Any]:
    """The forward and backward sweeps for ``k`` segments, compiled with Numba, callable from Python.

    Parameters
    ----------
    k : int
        Number of segments, at least 1.

    Returns
    -------
    forward, backward : numba dispatchers
        See :func:`forward_source` and :func:`backward_source`; compiled without fast-math, so that
        the bits do not depend on what LLVM inlines.

    Raises
    ------
    ValueError
        If ``k`` is not a positive integer.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"the number of segments must be a positive integer, got {k!r}")
    jit = numba.njit(fastmath=False)
    return _compiled(forward_source(k), "forward", jit), _compiled(backward_source(k), "backward", jit)


class MixtureLogLikelihood(Op):
    """Each author's mixture log-likelihood and responsibilities from ``g``, ``h`` and ``log π``.

    Inputs: ``g`` (pair, segment), ``h`` (total, segment), ``log_pi`` (author, segment) as float64;
    ``indptr`` (author + 1,) the offsets of each author's non-zeros, ``pair`` (non-zero,) each
    non-zero's pair, ``total_index`` (author,) each author's total, as int64; ``coef`` (author,) the
    log multinomial coefficients, float64. Outputs: the log-likelihood (author,) and the
    responsibilities (author, segment); only the first may be differentiated.

    Parameters
    ----------
    k : int
        Number of segments; the kernels are generated for it.
    """

    __props__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = int(k)

    def make_node(self, *inputs: Any) -> Apply:
        """Check and cast the inputs: float64 arrays, int64 indices."""
        g, h, log_pi, indptr, pair, total_index, coef = (pt.as_tensor_variable(v) for v in inputs)
        ints = [pt.cast(v, "int64") for v in (indptr, pair, total_index)]
        floats = [pt.cast(v, "float64") for v in (g, h, log_pi)]
        return Apply(self, [*floats, *ints, pt.cast(coef, "float64")], [pt.dvector(), pt.dmatrix()])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray], output_storage: list[list[Any]]) -> None:
        """Run the forward sweep (Python backend)."""
        ll, resp = mixture_kernels(self.k)[0](*inputs)
        output_storage[0][0], output_storage[1][0] = ll, resp

    def infer_shape(self, node: Apply, input_shapes: Sequence[Any]) -> list[Any]:
        """(author,) and (author, segment)."""
        return [(input_shapes[2][0],), input_shapes[2]]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        """Both outputs depend on ``g``, ``h`` and ``log_pi`` only."""
        return [[True, True]] * 3 + [[False, False]] * 4

    def pullback(
        self, inputs: Sequence[Variable], outputs: Sequence[Variable], cotangents: Sequence[Variable]
    ) -> list[Variable]:
        """The gradients in ``g``, ``h`` and ``log_pi`` from the log-likelihood's cotangent."""
        g, h, _, indptr, pair, total_index, _ = inputs
        if not isinstance(cotangents[1].type, DisconnectedType):
            raise NotImplementedError("the responsibilities output of MixtureLogLikelihood is not differentiable")
        grads = MixtureLogLikelihoodGrad(self.k).make_node(cotangents[0], outputs[1], g, h, indptr, pair, total_index)
        return [*grads.outputs] + [disconnected_type() for _ in range(4)]


class MixtureLogLikelihoodGrad(Op):
    """The pullback of :class:`MixtureLogLikelihood`: ``gz ⊙ r`` and its sums onto pairs and totals.

    Inputs: ``gz`` (author,) the cotangent of the log-likelihood, ``resp`` (author, segment), then
    ``g``, ``h`` (for their shapes), ``indptr``, ``pair``, ``total_index`` as in
    :class:`MixtureLogLikelihood`. Outputs: the gradients in ``g`` (pair, segment), ``h`` (total, segment) and
    ``log_pi`` (author, segment).

    Parameters
    ----------
    k : int
        Number of segments.
    """

    __props__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = int(k)

    def make_node(self, *inputs: Any) -> Apply:
        """Check and cast the inputs: float64 arrays, int64 indices."""
        gz, resp, g, h, indptr, pair, total_index = (pt.as_tensor_variable(v) for v in inputs)
        ints = [pt.cast(v, "int64") for v in (indptr, pair, total_index)]
        floats = [pt.cast(v, "float64") for v in (gz, resp, g, h)]
        return Apply(self, [*floats, *ints], [pt.dmatrix(), pt.dmatrix(), pt.dmatrix()])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray], output_storage: list[list[Any]]) -> None:
        """Run the backward sweep (Python backend)."""
        results = mixture_kernels(self.k)[1](*inputs)
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = value

    def infer_shape(self, node: Apply, input_shapes: Sequence[Any]) -> list[Any]:
        """The shapes of ``g``, ``h`` and ``resp``."""
        return [input_shapes[2], input_shapes[3], input_shapes[1]]

    def pullback(
        self, inputs: Sequence[Variable], outputs: Sequence[Variable], cotangents: Sequence[Variable]
    ) -> list[Variable]:  # NUTS and ADVI need first derivatives only
        """Refused: second derivatives are not implemented."""
        raise NotImplementedError("second derivatives of the mixture log-likelihood are not implemented")


def _cache_key(name: str, k: int) -> str:
    """The Numba cache key of a generated kernel: its name, K, :data:`KERNEL_VERSION` and the fast-math flag."""
    key = f"bayesseg.model.kernel.{name}:{k}:{KERNEL_VERSION}:{pytensor.config.numba__fastmath}"
    return hashlib.sha256(key.encode()).hexdigest()


@numba_basic.register_funcify_and_cache_key(MixtureLogLikelihood)
def _numba_forward(op: MixtureLogLikelihood, node: Any = None, **kwargs: Any) -> tuple[Any, str]:
    """The forward sweep inside a PyTensor Numba function (fast-math as PyTensor's flag says)."""
    return _compiled(forward_source(op.k), "forward", numba_basic.numba_njit), _cache_key("forward", op.k)


@numba_basic.register_funcify_and_cache_key(MixtureLogLikelihoodGrad)
def _numba_backward(op: MixtureLogLikelihoodGrad, node: Any = None, **kwargs: Any) -> tuple[Any, str]:
    """The backward sweep inside a PyTensor Numba function (fast-math as PyTensor's flag says)."""
    return _compiled(backward_source(op.k), "backward", numba_basic.numba_njit), _cache_key("backward", op.k)


def register_jax() -> None:
    """Register JAX implementations of both Ops and of the log-gamma terms' (``sampler = "numpyro"``).

    Idempotent. Imports JAX, so it is called where JAX is about to be used, not on import.

    Raises
    ------
    ImportError
        If JAX is not installed (``pip install bayesseg[jax]``).
    """
    import jax
    import jax.numpy as jnp
    from pytensor.link.jax.dispatch import jax_funcify

    register_log_gamma_jax()

    def authors_of(indptr: Any, n_nonzero: int) -> Any:
        return jnp.searchsorted(indptr, jnp.arange(n_nonzero), side="right") - 1

    @jax_funcify.register(MixtureLogLikelihood)
    def _jax_forward(op: MixtureLogLikelihood, node: Any = None, **kwargs: Any) -> Callable[..., Any]:
        def forward(g, h, log_pi, indptr, pair, total_index, coef):  # type: ignore[no-untyped-def]
            author = authors_of(indptr, pair.shape[0])
            a = h[total_index] + log_pi + jax.ops.segment_sum(g[pair], author, num_segments=log_pi.shape[0])
            total = jax.nn.logsumexp(a, axis=1)
            return total + coef, jnp.exp(a - total[:, None])

        return forward

    @jax_funcify.register(MixtureLogLikelihoodGrad)
    def _jax_backward(op: MixtureLogLikelihoodGrad, node: Any = None, **kwargs: Any) -> Callable[..., Any]:
        def backward(gz, resp, g, h, indptr, pair, total_index):  # type: ignore[no-untyped-def]
            w = gz[:, None] * resp
            author = authors_of(indptr, pair.shape[0])
            return jnp.zeros_like(g).at[pair].add(w[author]), jnp.zeros_like(h).at[total_index].add(w), w

        return backward


def mixture_log_likelihood(counts: SparseCounts, log_alpha: Any, log_pi: Any, n_segments: int | None = None) -> Any:
    r"""Each author's Dirichlet-multinomial mixture log-likelihood, as a PyTensor graph.

    Parameters
    ----------
    counts : SparseCounts
        The counts (data of the graph, :func:`bayesseg.model.likelihood.by_reference`).
    log_alpha : pytensor.tensor.TensorVariable, shape (segment, category)
        Log concentrations :math:`\log(\kappa_k\theta_{kc})`.
    log_pi : pytensor.tensor.TensorVariable, shape (author, segment)
        Log mixture weights (the gating's log-softmax).
    n_segments : int, optional
        K; read from the static shapes of ``log_pi`` or ``log_alpha`` when not given.

    Returns
    -------
    pytensor.tensor.TensorVariable, shape (author,)
        :math:`\log\sum_k \pi_{ik}\,\mathrm{DM}(y_i \mid \alpha_k)`, multinomial coefficient included:
        ``logsumexp(log_pi + dm_logpmf_tensor(counts, log_alpha), axis=1)`` up to rounding.

    Raises
    ------
    ValueError
        If ``n_segments`` is not given and neither tensor's static shape says it.
    """
    log_alpha, log_pi = pt.as_tensor_variable(log_alpha), pt.as_tensor_variable(log_pi)
    k = n_segments if n_segments is not None else log_pi.type.shape[1] or log_alpha.type.shape[0]
    if k is None:
        raise ValueError("the number of segments is not a static shape of log_pi or log_alpha: give n_segments")
    g, h = dm_terms_tensor(counts, log_alpha)
    indptr, pair = author_layout(counts)
    shared = by_reference(counts)
    node = MixtureLogLikelihood(k).make_node(
        g,
        h,
        log_pi,
        data_tensor(indptr, "nonzero_indptr", shared),
        data_tensor(pair, "nonzero_pair", shared),
        data_tensor(counts.total_index, "total_index", shared),
        data_tensor(counts.log_coefficient, "log_coefficient", shared),
    )
    return node.outputs[0]


def author_layout(counts: SparseCounts) -> tuple[np.ndarray, np.ndarray]:
    """Each author's non-zeros together: the sweeps' ``indptr`` and ``pair``.

    Parameters
    ----------
    counts : SparseCounts
        The counts.

    Returns
    -------
    indptr : numpy.ndarray of int64, shape (author + 1,)
        Author ``i``'s non-zeros are ``indptr[i]:indptr[i + 1]``.
    pair : numpy.ndarray of int64, shape (nnz,)
        The distinct (category, count) pair of each non-zero, in that order.
    """
    order = np.argsort(counts.entry_author, kind="stable")
    indptr = np.zeros(counts.n_authors + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(counts.entry_author, minlength=counts.n_authors))
    return indptr, counts.entry_pair[order]


@numba.njit(fastmath=False, cache=True)
def gating_log_softmax(intercept: np.ndarray, slope: np.ndarray, x: np.ndarray) -> np.ndarray:  # pragma: no cover
    r"""The gating's log mixture weights of one draw, :math:`\log\operatorname{softmax}_k(\gamma_k + x_i^\top\beta_k)`.

    Parameters
    ----------
    intercept : numpy.ndarray, shape (segment,)
        :math:`\gamma`.
    slope : numpy.ndarray, shape (covariate, segment)
        :math:`\beta`.
    x : numpy.ndarray, shape (author, covariate)
        Standardised covariates.

    Returns
    -------
    numpy.ndarray, shape (author, segment)
        :math:`\log\pi_{ik}`; η is summed covariate by covariate in order, as
        :func:`bayesseg.model.scoring.log_gating` does.
    """
    n, k = x.shape[0], intercept.size
    out = np.empty((n, k))
    for i in range(n):
        top = -np.inf
        for j in range(k):
            eta = intercept[j]
            for p in range(x.shape[1]):
                eta += x[i, p] * slope[p, j]
            out[i, j] = eta
            top = max(top, eta)
        total = 0.0
        for j in range(k):
            total += math.exp(out[i, j] - top)
        shift = top + math.log(total)
        for j in range(k):
            out[i, j] -= shift
    return out


def mixture_log_likelihood_values(counts: SparseCounts, log_alpha: np.ndarray, log_pi: Any) -> np.ndarray:
    r""":func:`mixture_log_likelihood` evaluated on arrays, draw by draw, with the compiled forward sweep.

    Parameters
    ----------
    counts : SparseCounts
        N authors' counts.
    log_alpha : numpy.ndarray, shape (draw, segment, category)
        Log concentrations :math:`\log(\kappa_k\theta_{kc})` of each draw.
    log_pi : numpy.ndarray, shape (draw, author, segment), or callable
        Log mixture weights of each draw (each row's exponentials sum to one), or ``log_pi(s)``
        giving draw ``s``'s (author, segment) array (e.g. :func:`gating_log_softmax`), which bounds
        memory to one draw's.

    Returns
    -------
    numpy.ndarray, shape (draw, author)
        Each author's log-likelihood under each draw, the segment marginalised, multinomial
        coefficient included; equal to :func:`bayesseg.model.likelihood.dm_logpmf_sparse` followed by a
        log-sum-exp with `log_pi`, up to rounding (the same numbers as the model's log density).

    Raises
    ------
    ValueError
        If the shapes disagree.
    """
    log_alpha = np.asarray(log_alpha, dtype=np.float64)
    if log_alpha.ndim != 3 or log_alpha.shape[2] != counts.n_categories:
        raise ValueError(f"log_alpha must be (draw, segment, {counts.n_categories} categories), got {log_alpha.shape}")
    n_draws, k = log_alpha.shape[:2]
    if not callable(log_pi):
        weights = np.asarray(log_pi, dtype=np.float64)
        if weights.shape != (n_draws, counts.n_authors, k):
            raise ValueError(
                f"log_pi must be (draw, author, segment) {(n_draws, counts.n_authors, k)}, got {weights.shape}"
            )
        log_pi = weights.__getitem__
    forward, _ = mixture_kernels(k)
    indptr, pair = author_layout(counts)
    out = np.empty((n_draws, counts.n_authors))
    for start in range(0, n_draws, 100):  # the log-gamma terms of 100 draws at a time bound memory
        g, h = dm_logpmf_parts(counts, log_alpha[start : start + 100])  # (draw * K, pair), (draw, total, K)
        g = g.reshape(h.shape[0], k, counts.n_pairs).transpose(0, 2, 1).copy()  # (draw, pair, K)
        for i in range(h.shape[0]):
            out[start + i] = forward(
                g[i],
                h[i],
                np.ascontiguousarray(log_pi(start + i), dtype=np.float64),
                indptr,
                pair,
                counts.total_index,
                counts.log_coefficient,
            )[0]
    return out
