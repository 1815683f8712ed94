"""Cost of one log-density + gradient of the shipped model, and of a fused likelihood kernel (issue 25).

The sampler's cost is leapfrog steps × this cost. Measured in CPU time of the calling process
(``time.process_time``, single-threaded Numba as nutpie runs it; the minimum over ``--rounds`` rounds
of ``--repeats`` calls), so that other jobs on the machine perturb it less than wall time would.

- ``model``: the shipped model's joint log-density and gradient (``build_graph``, PyTensor's Numba
  backend, as nutpie compiles it), at its initial point.
- ``likelihood generic`` / ``likelihood fused``: the mixture log-likelihood term alone, weighted
  sum over authors, and its gradient in ``log α`` and ``log π``: the generic graph the model uses
  (``dm_logpmf_tensor`` then a log-sum-exp) against a prototype Op below that walks each author's
  non-zeros once forward (log-likelihood and responsibilities) and once backward (scattering the
  responsibilities onto pairs and totals), with the log-gamma terms left in the graph.

    .venv/bin/python benchmarks/gradient_cost.py --authors 20000 --categories 60 --segments 6

``--table dmn`` measures the model alone on the 278 × 130 table of ``benchmarks/dmn_speed.py`` (its
``simulate_table``, seed 1) for each K of ``--segments-range``: the cost a K range pays per gradient.

    .venv/bin/python benchmarks/gradient_cost.py --table dmn --segments-range 1 7

The prototype is kept here, not in the library: it did not beat the generic graph (RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from typing import Any

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from bayesseg.model import SegmentModel
from bayesseg.model.checks import prepare_data
from bayesseg.model.graph import build_graph
from bayesseg.model.likelihood import SparseCounts, dm_logpmf_tensor
from bayesseg.model.sampling import without_fastmath
from bayesseg.simulate import simulate_counts


@numba.njit(cache=True)
def _forward(g, h, log_pi, indptr, pair, total_index, coef):  # type: ignore[no-untyped-def]
    n, k = log_pi.shape
    ll = np.empty(n)
    r = np.empty((n, k))
    acc = np.empty(k)
    for i in range(n):
        t = total_index[i]
        for j in range(k):
            acc[j] = h[t, j] + log_pi[i, j]
        for e in range(indptr[i], indptr[i + 1]):
            u = pair[e]
            for j in range(k):
                acc[j] += g[u, j]
        top = acc.max()
        s = 0.0
        for j in range(k):
            acc[j] = np.exp(acc[j] - top)
            s += acc[j]
        ll[i] = top + np.log(s) + coef[i]
        for j in range(k):
            r[i, j] = acc[j] / s
    return ll, r


@numba.njit(cache=True)
def _backward(w, indptr, pair, total_index, n_pairs, n_totals):  # type: ignore[no-untyped-def]
    n, k = w.shape
    dg = np.zeros((n_pairs, k))
    dh = np.zeros((n_totals, k))
    for i in range(n):
        t = total_index[i]
        for j in range(k):
            dh[t, j] += w[i, j]
        for e in range(indptr[i], indptr[i + 1]):
            u = pair[e]
            for j in range(k):
                dg[u, j] += w[i, j]
    return dg, dh


class MixtureLogLikelihood(Op):  # type: ignore[misc]
    """Each author's mixture log-likelihood and responsibilities from ``g``, ``h`` and ``log π``.

    Inputs: ``g`` (pair, segment), ``h`` (total, segment), ``log_pi`` (author, segment) as float64
    tensors; ``indptr`` (author + 1,), ``pair`` (non-zero,), ``total_index`` (author,) as int64 and
    ``coef`` (author,) as float64 constants. Outputs: the log-likelihood (author,) and the
    responsibilities (author, segment); only the first may be differentiated.
    """

    __props__ = ()

    def make_node(self, *inputs: Any) -> Apply:
        g, h, log_pi, indptr, pair, total_index, coef = map(pt.as_tensor_variable, inputs)
        return Apply(self, [g, h, log_pi, indptr, pair, total_index, coef], [pt.dvector(), pt.dmatrix()])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        ll, r = _forward(*inputs)
        outputs[0][0], outputs[1][0] = ll, r

    def infer_shape(self, fgraph: Any, node: Apply, shapes: list[Any]) -> list[Any]:
        return [(shapes[2][0],), shapes[2]]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[True, True]] * 3 + [[False, False]] * 4

    def grad(self, inputs: list[Any], output_grads: list[Any]) -> list[Any]:
        g, h, _, indptr, pair, total_index, _ = inputs
        if not isinstance(output_grads[1].type, DisconnectedType):
            raise NotImplementedError("the responsibilities output is not differentiable")
        _, r = self(*inputs)
        w = output_grads[0][:, None] * r
        dg, dh = MixtureLogLikelihoodGrad()(w, indptr, pair, total_index, g.shape[0], h.shape[0])
        return [dg, dh, w] + [disconnected_type() for _ in range(4)]


class MixtureLogLikelihoodGrad(Op):  # type: ignore[misc]
    """The scatter of :class:`MixtureLogLikelihood`'s gradient: ``w`` summed onto pairs and totals."""

    __props__ = ()

    def make_node(self, *inputs: Any) -> Apply:
        w, indptr, pair, total_index, n_pairs, n_totals = map(pt.as_tensor_variable, inputs)
        n_pairs, n_totals = pt.cast(n_pairs, "int64"), pt.cast(n_totals, "int64")
        return Apply(self, [w, indptr, pair, total_index, n_pairs, n_totals], [pt.dmatrix(), pt.dmatrix()])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        w, indptr, pair, total_index, n_pairs, n_totals = inputs
        dg, dh = _backward(w, indptr, pair, total_index, int(n_pairs), int(n_totals))
        outputs[0][0], outputs[1][0] = dg, dh

    def infer_shape(self, fgraph: Any, node: Apply, shapes: list[Any]) -> list[Any]:
        n_pairs, n_totals = node.inputs[4], node.inputs[5]
        return [(n_pairs, shapes[0][1]), (n_totals, shapes[0][1])]

    def grad(self, inputs: list[Any], output_grads: list[Any]) -> list[Any]:  # pragma: no cover - NUTS needs one
        raise NotImplementedError("second derivatives of the mixture log-likelihood are not implemented")


@register_funcify_default_op_cache_key(MixtureLogLikelihood)
def _numba_forward(op: MixtureLogLikelihood, node: Any = None, **kwargs: Any) -> Any:
    return _forward


@register_funcify_default_op_cache_key(MixtureLogLikelihoodGrad)
def _numba_backward(op: MixtureLogLikelihoodGrad, node: Any = None, **kwargs: Any) -> Any:
    @numba.njit
    def backward(w, indptr, pair, total_index, n_pairs, n_totals):  # type: ignore[no-untyped-def]
        return _backward(w, indptr, pair, total_index, n_pairs.item(), n_totals.item())

    return backward


def fused_log_likelihood(counts: SparseCounts, log_alpha: Any, log_pi: Any) -> Any:
    r"""Each author's Dirichlet-multinomial mixture log-likelihood, as a PyTensor graph with the fused Op.

    Parameters
    ----------
    counts : SparseCounts
        The counts (constants of the graph).
    log_alpha : pytensor.tensor.TensorVariable, shape (segment, category)
        Log concentrations :math:`\log(\kappa_k\theta_{kc})`.
    log_pi : pytensor.tensor.TensorVariable, shape (author, segment)
        Log mixture weights (the gating's log-softmax).

    Returns
    -------
    pytensor.tensor.TensorVariable, shape (author,)
        :math:`\log\sum_k \pi_{ik}\,\mathrm{DM}(y_i \mid \alpha_k)`, multinomial coefficient included;
        equal to ``logsumexp(log_pi + dm_logpmf_tensor(counts, log_alpha), axis=1)``.
    """
    alpha = pt.exp(log_alpha).T  # (C, K)
    a_pairs = alpha[counts.pair_category]  # (U, K)
    g = pt.gammaln(counts.pair_count[:, None] + a_pairs) - pt.gammaln(a_pairs)
    big_a = alpha.sum(axis=0)  # (K,)
    h = pt.gammaln(big_a)[None, :] - pt.gammaln(counts.totals[:, None] + big_a[None, :])  # (T, K)
    indptr = np.zeros(counts.n_authors + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(counts.entry_author, minlength=counts.n_authors))
    ll, _ = MixtureLogLikelihood()(
        g, h, log_pi, indptr, counts.entry_pair.astype(np.int64), counts.total_index, counts.log_coefficient
    )
    return ll


def _cost(f: Any, args: list[Any], repeats: int, rounds: int) -> float:
    f(*args)
    best = np.inf
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeats):
            f(*args)
        best = min(best, (time.process_time() - start) / repeats)
    return best * 1000


def table_costs(args: argparse.Namespace) -> None:
    """The model's log-density + gradient on dmn_speed.py's table, for each K of the range."""
    from dmn_speed import simulate_table  # benchmarks/ is this script's directory, first on sys.path

    counts = simulate_table(278, 130, 4, 1)
    sparse = SparseCounts.from_dense(counts.values)
    print(f"# dmn_speed.py's table, 278 × 130: {sparse.nnz} non-zeros, {sparse.n_pairs} distinct pairs")
    first, last = args.segments_range
    for k in range(first, last + 1):
        print(f"K = {k}: model (log-density + gradient) {_model_cost(counts, None, k, args):.2f} ms", flush=True)


def _model_cost(counts: Any, cov: Any, k: int, args: argparse.Namespace) -> float:
    """Milliseconds of the shipped model's joint log-density + gradient at its initial point (Numba, as nutpie)."""
    model = SegmentModel(k)
    graph = build_graph(prepare_data(counts, cov), model.segment_names, model.model_config)
    point, logp = graph.initial_point(), graph.logp()
    f = pytensor.function(graph.value_vars, [logp, *pt.grad(logp, graph.value_vars)], mode="NUMBA")
    return _cost(f, [point[v.name] for v in graph.value_vars], args.repeats, args.rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=int, default=20_000)
    ap.add_argument("--categories", type=int, default=60)
    ap.add_argument("--segments", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--table", choices=["simulated", "dmn"], default="simulated")
    ap.add_argument("--segments-range", type=int, nargs=2, default=(1, 7), metavar=("FIRST", "LAST"))
    args = ap.parse_args()
    with without_fastmath():  # the library's compilation flags
        _measure(args)


def _measure(args: argparse.Namespace) -> None:
    """Print the costs ``main``'s arguments ask for."""
    warnings.simplefilter("ignore", FutureWarning)  # PyTensor's notice that Op.grad becomes pullback
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# {machine}, PyTensor {pytensor.__version__}")
    if args.table == "dmn":
        table_costs(args)
        return
    counts, cov, _ = simulate_counts(
        args.authors, args.categories, args.segments, separation=1.2, mean_total=100, seed=1
    )
    sparse = SparseCounts.from_dense(counts.values)
    size = f"{args.authors} authors × {args.categories} categories × K = {args.segments}"
    print(f"# {size}: {sparse.nnz} non-zeros, {sparse.n_pairs} distinct pairs")
    print(f"model (log-density + gradient): {_model_cost(counts, cov, args.segments, args):.2f} ms")
    rng = np.random.default_rng(0)
    log_alpha, log_pi = pt.dmatrix("log_alpha"), pt.dmatrix("log_pi")
    w = rng.uniform(0.5, 1.5, args.authors)
    values = [
        rng.normal(1, 0.5, (args.segments, args.categories)),
        np.log(rng.dirichlet(np.ones(args.segments), args.authors)),
    ]
    terms = {
        "generic": (w * pt.logsumexp(log_pi + dm_logpmf_tensor(sparse, log_alpha), axis=1)).sum(),
        "fused": (w * fused_log_likelihood(sparse, log_alpha, log_pi)).sum(),
    }
    results = {}
    for name, term in terms.items():
        f = pytensor.function([log_alpha, log_pi], [term, *pt.grad(term, [log_alpha, log_pi])], mode="NUMBA")
        results[name] = f(*values)
        print(f"likelihood {name} (value + gradient): {_cost(f, values, args.repeats, args.rounds):.2f} ms")
    gap = max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(1.0, np.abs(np.asarray(b)).max()))
        for a, b in zip(results["fused"], results["generic"], strict=True)
    )
    print(f"largest relative difference fused - generic: {gap:.1e}")


if __name__ == "__main__":
    main()
