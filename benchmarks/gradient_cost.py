"""Cost of one log-density + gradient of the shipped model, with the fused likelihood and without (issue 25).

The sampler's cost is leapfrog steps × this cost. Measured in CPU time of the calling process
(``time.process_time``, single-threaded Numba as nutpie runs it; the minimum over ``--rounds`` rounds
of ``--repeats`` calls), so that other jobs on the machine perturb it less than wall time would.

- ``model fused``: the shipped model's joint log-density and gradient (``build_graph``, PyTensor's
  Numba backend, as nutpie compiles it), at its initial point; its likelihood is
  :func:`bayesseg.model.kernel.mixture_log_likelihood`, one fused sweep of each author's non-zeros
  forward and one backward, the K segments unrolled.
- ``model generic``: the same model with the generic graph in its place (``dm_logpmf_tensor``, a
  sparse product, then a log-sum-exp), the model of specification 2026.12.3 and before.
- ``likelihood generic`` / ``likelihood fused``: the mixture log-likelihood term alone, weighted
  sum over authors, and its gradient in ``log α`` and ``log π``.

    .venv/bin/python benchmarks/gradient_cost.py --authors 20000 --categories 60 --segments 6

``--table dmn`` measures the model (fused) alone on the 278 × 130 table of ``benchmarks/dmn_speed.py`` (its
``simulate_table``, seed 1) for each K of ``--segments-range``: the cost a K range pays per gradient.

    .venv/bin/python benchmarks/gradient_cost.py --table dmn --segments-range 1 7

``--parts`` splits the shipped model's cost into its parts on the same data, each timed alone: the
fused kernel's forward and backward sweeps (at the model's initial point), the gating's log-softmax
with its gradient (the graph ``build_graph`` makes), one libm ``exp`` for each (author, segment) (the
forward sweep makes one such set, the gating's log-softmax another), and the whole model.

    .venv/bin/python benchmarks/gradient_cost.py --parts

``--backend jax`` times the same model compiled by PyTensor's JAX backend instead (as nutpie's
``backend="jax"`` and ``sampler = "numpyro"`` run it; the kernel's JAX implementation,
:func:`bayesseg.model.kernel.register_jax`), with the seconds from building the function to its first
value (its compilation), for ``--table dmn`` or the default table. JAX is an optional extra
(``pip install bayesseg[jax]``).

    .venv/bin/python benchmarks/gradient_cost.py --table dmn --segments-range 1 7 --backend jax
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
from pytensor.tensor.special import log_softmax

from bayesseg.model import SegmentModel
from bayesseg.model.checks import prepare_data
from bayesseg.model.graph import build_graph
from bayesseg.model.kernel import author_layout, mixture_kernels, mixture_log_likelihood
from bayesseg.model.likelihood import SparseCounts, dm_logpmf_tensor
from bayesseg.model.sampling import without_fastmath
from bayesseg.simulate import simulate_counts


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


@numba.njit(fastmath=False)
def _exps(values: np.ndarray) -> float:  # pragma: no cover - compiled
    """Sum of ``exp`` over every entry, one libm call each (the sweeps' own ``math.exp``)."""
    total = 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            total += np.exp(values[i, j])
    return total


def part_costs(counts: Any, cov: Any, k: int, args: argparse.Namespace) -> None:
    """The shipped model's log-density + gradient split into its parts, each timed alone."""
    data = prepare_data(counts, cov)
    sparse, n = data.sparse, data.x.shape[0]
    rng = np.random.default_rng(0)
    g, h = rng.normal(size=(sparse.n_pairs, k)), rng.normal(size=(sparse.totals.size, k))
    log_pi = np.log(rng.dirichlet(np.ones(k), n))
    indptr, pair = author_layout(sparse)
    forward, backward = mixture_kernels(k)
    inputs = [g, h, log_pi, indptr, pair, sparse.total_index, sparse.log_coefficient]
    _, resp = forward(*inputs)
    print(f"fused kernel, forward sweep: {_cost(forward, inputs, args.repeats, args.rounds):.2f} ms")
    grads = [np.ones(n), resp, g, h, indptr, pair, sparse.total_index]
    print(f"fused kernel, backward sweep: {_cost(backward, grads, args.repeats, args.rounds):.2f} ms")
    print(f"{n * k} exp calls (one per author and segment): {_cost(_exps, [log_pi], args.repeats, args.rounds):.2f} ms")
    intercept, slope = pt.dvector("intercept"), pt.dmatrix("slope")
    x = pytensor.shared(data.x, "covariates")
    gating = log_softmax(pt.broadcast_to(intercept[None, :], (x.shape[0], k)) + x @ slope, axis=1)
    term = (pt.constant(resp) * gating).sum()  # the cotangent the kernel hands the gating
    f = pytensor.function([intercept, slope], [term, *pt.grad(term, [intercept, slope])], mode="NUMBA")
    values = [rng.normal(size=k), rng.normal(size=(data.x.shape[1], k))]
    print(f"gating log-softmax + gradient: {_cost(f, values, args.repeats, args.rounds):.2f} ms")
    print(f"the model (log-density + gradient): {_model_cost(counts, cov, k, args):.2f} ms", flush=True)


def _model_cost(counts: Any, cov: Any, k: int, args: argparse.Namespace, generic: bool = False) -> float:
    """Milliseconds of the model's joint log-density + gradient at its initial point (``args.backend``).

    With the JAX backend, also prints the seconds from building the function to its first value.
    """
    model = SegmentModel(k)
    data = prepare_data(counts, cov)
    likelihood = (lambda _, log_alpha: dm_logpmf_tensor(data.sparse, log_alpha)) if generic else None
    graph = build_graph(data, model.segment_names, model.model_config, likelihood=likelihood)
    point, logp = graph.initial_point(), graph.logp()
    values = [point[v.name] for v in graph.value_vars]
    if args.backend == "numba":
        f = pytensor.function(graph.value_vars, [logp, *pt.grad(logp, graph.value_vars)], mode="NUMBA")
        return _cost(f, values, args.repeats, args.rounds)
    import jax
    from pymc.sampling.jax import get_jaxified_logp

    start = time.perf_counter()  # PyMC's JAX log density (shapes frozen), its gradient by JAX, as numpyro runs it
    value_and_grad = jax.jit(jax.value_and_grad(get_jaxified_logp(graph, negative_logp=False)))
    jax.block_until_ready(value_and_grad(values))
    print(f"K = {k}: JAX compilation (function built to its first value) {time.perf_counter() - start:.2f} s")
    return _cost(lambda *v: jax.block_until_ready(value_and_grad(list(v))), values, args.repeats, args.rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=int, default=20_000)
    ap.add_argument("--categories", type=int, default=60)
    ap.add_argument("--segments", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--table", choices=["simulated", "dmn"], default="simulated")
    ap.add_argument("--segments-range", type=int, nargs=2, default=(1, 7), metavar=("FIRST", "LAST"))
    ap.add_argument("--parts", action="store_true", help="split the model's cost into its parts")
    ap.add_argument("--backend", choices=["numba", "jax"], default="numba", help="PyTensor's backend for the model")
    args = ap.parse_args()
    if args.backend == "jax":
        import jax

        from bayesseg.model.kernel import register_jax

        jax.config.update("jax_enable_x64", True)
        register_jax()
    with without_fastmath():  # the library's compilation flags
        _measure(args)


def _measure(args: argparse.Namespace) -> None:
    """Print the costs ``main``'s arguments ask for."""
    warnings.simplefilter("ignore", FutureWarning)  # PyTensor's notice that Op.grad becomes pullback
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# {machine}, PyTensor {pytensor.__version__}, backend {args.backend}")
    if args.table == "dmn":
        table_costs(args)
        return
    counts, cov, _ = simulate_counts(
        args.authors, args.categories, args.segments, separation=1.2, mean_total=100, seed=1
    )
    sparse = SparseCounts.from_dense(counts.values)
    size = f"{args.authors} authors × {args.categories} categories × K = {args.segments}"
    print(f"# {size}: {sparse.nnz} non-zeros, {sparse.n_pairs} distinct pairs")
    if args.backend == "jax":  # the model alone: the parts and the generic graph are Numba's
        print(f"model fused (log-density + gradient): {_model_cost(counts, cov, args.segments, args):.2f} ms")
        return
    if args.parts:
        part_costs(counts, cov, args.segments, args)
        return
    for generic in (True, False, True, False):  # alternated, so that a change of the machine's load shows
        name = "generic" if generic else "fused"
        cost = _model_cost(counts, cov, args.segments, args, generic)
        print(f"model {name} (log-density + gradient): {cost:.2f} ms", flush=True)
    rng = np.random.default_rng(0)
    log_alpha, log_pi = pt.dmatrix("log_alpha"), pt.dmatrix("log_pi")
    w = rng.uniform(0.5, 1.5, args.authors)
    values = [
        rng.normal(1, 0.5, (args.segments, args.categories)),
        np.log(rng.dirichlet(np.ones(args.segments), args.authors)),
    ]
    terms = {
        "generic": (w * pt.logsumexp(log_pi + dm_logpmf_tensor(sparse, log_alpha), axis=1)).sum(),
        "fused": (w * mixture_log_likelihood(sparse, log_alpha, log_pi, args.segments)).sum(),
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
