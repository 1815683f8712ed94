r"""PSIS-LOO with moment matching: the authors whose Pareto k̂ is high, without refitting.

PSIS-LOO (:meth:`bayesseg.model.SegmentModel.loo`) weights the posterior draws by
:math:`1 / p(y_i \mid \theta)` to approximate each author's leave-one-out posterior. For an author
whose counts pull the posterior far (many labels, a rare profile), the weights have a heavy tail:
Pareto k̂ above arviz-stats' ``good_k``, the estimate unreliable. Moment matching (Paananen et al.
2021) moves the draws by affine maps on the unconstrained scale until their mean and variances
match the importance-weighted ones, reweights them by the ratio of the posterior's density at the
moved draws to the proposal's, and keeps the result for an author where it lowers k̂. It needs the
log density of the posterior and the author's log-likelihood at any unconstrained point, which
:func:`moment_matched_loo` builds from the model's PyMC graph (:func:`bayesseg.model.graph.build_graph`)
and the stored draws, and hands to ``arviz_stats.loo_moment_match``.

The stored posterior is relabelled (Stephens 2000) and its gating re-referenced to segment 0:
:func:`free_values` maps it back onto the graph's free variables (zero-sum gating and
departures, the population log-profile in the graph's category order, the concentrations in the
graph's parametrisation). The segments are exchangeable a priori without anchors, so a relabelled
draw is a draw of the same posterior; with anchors the relabelling is the identity in practice
(the anchors' prior lifts tell the segments apart), and a permuted draw would be scored under the
lifts of its new position.

References
----------
Paananen, T., Piironen, J., Bürkner, P.-C., & Vehtari, A. (2021). Implicitly adaptive importance
sampling. *Statistics and Computing* 31, 16. https://doi.org/10.1007/s11222-020-09982-2

Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432. https://doi.org/10.1007/s11222-016-9696-4

Stephens, M. (2000). Dealing with label switching in mixture models. *JRSS B* 62(4), 795-809.
https://doi.org/10.1111/1467-9868.00265
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from bayesseg.dims import CATEGORY, COVARIATE, SEGMENT
from bayesseg.model.sampling import without_fastmath

__all__ = ["AUTHOR_LOG_LIKELIHOOD", "free_values", "high_pareto_k", "moment_matched_loo", "unconstrained_draws"]

AUTHOR_LOG_LIKELIHOOD = "author_log_likelihood"
"""Name of the graph's per-author log-likelihood tensor (segment marginalised, unweighted)."""


def _centred(a: np.ndarray, axis: int) -> np.ndarray:
    return a - a.mean(axis=axis, keepdims=True)


def free_values(posterior: xr.Dataset, model: Any, offsets: np.ndarray) -> dict[str, np.ndarray]:
    r"""The graph's free variables at every stored draw (constrained scale, the graph's shapes and order).

    Parameters
    ----------
    posterior : xarray.Dataset
        The fitted model's ``posterior`` (relabelled; ``profile``, ``population_profile``,
        ``concentration``, ``intercept``, ``slope`` and the hyperparameters), dims ``chain``, ``draw``.
    model : pymc.Model
        The graph of the same data and segments (:func:`bayesseg.model.graph.build_graph`).
    offsets : numpy.ndarray, shape (segment, category)
        The anchors' prior log-lifts (:func:`bayesseg.model.graph.anchor_offsets`).

    Returns
    -------
    dict of str to numpy.ndarray
        For each free variable of `model`, its value at every draw, shape (chain × draw, ...),
        chain-major: ``population_logit`` (zero-sum, over ``category_sampling``), ``deviation``
        (zero-sum over segment and category, :math:`\log \theta_{kc} - o_{kc} - \eta_{0c}`
        double-centred), ``intercept`` and ``slope`` (centred over segment), ``log_concentration`` or
        ``log_concentration_raw`` and the hyperparameters.

    Raises
    ------
    KeyError
        If `model` has a free variable this mapping does not know.
    """
    post = posterior.transpose("chain", "draw", ...)
    n = post.sizes["chain"] * post.sizes["draw"]

    def flat(name: str, *dims: str) -> np.ndarray:
        da = post[name].transpose("chain", "draw", *dims)
        return np.asarray(da.values, dtype=float).reshape(n, *da.shape[2:])

    sampling = [str(c) for c in model.coords["category_sampling"]]
    position = {str(c): j for j, c in enumerate(post[CATEGORY].values)}
    order = [position[c] for c in sampling]
    eta0 = _centred(np.log(flat("population_profile", CATEGORY)), axis=-1)  # zero-sum, the counts' order
    log_kappa = np.log(flat("concentration", SEGMENT))
    values: dict[str, np.ndarray] = {}
    for rv in model.free_RVs:
        name = rv.name
        if name == "population_logit":
            values[name] = eta0[:, order]
        elif name == "deviation":
            a = np.log(flat("profile", SEGMENT, CATEGORY)) - offsets[None] - eta0[:, None, :]
            values[name] = _centred(_centred(a, axis=-1), axis=-2)[:, :, order]
        elif name == "intercept":
            values[name] = _centred(flat("intercept", SEGMENT), axis=-1)
        elif name == "slope":
            values[name] = _centred(flat("slope", COVARIATE, SEGMENT), axis=-1)
        elif name == "log_concentration":
            values[name] = log_kappa
        elif name == "log_concentration_raw":
            mu, sd = flat("log_concentration_mu"), flat("log_concentration_sd")
            values[name] = (log_kappa - mu[:, None]) / sd[:, None]
        elif name in ("deviation_sd", "log_concentration_mu", "log_concentration_sd"):
            values[name] = flat(name)
        else:
            raise KeyError(f"no stored draws for the free variable {name!r}")
    return values


def unconstrained_draws(
    model: Any, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, list[tuple[Any, slice, tuple[int, ...]]]]:
    """The draws of :func:`free_values` on the sampler's (unconstrained) scale, one row per draw.

    Parameters
    ----------
    model : pymc.Model
        The graph.
    values : dict of str to numpy.ndarray
        Free variables' values, shape (draw, ...) each.

    Returns
    -------
    upars : numpy.ndarray, shape (draw, parameter)
        The value variables (PyMC's transforms applied: log, zero-sum), concatenated in
        ``model.value_vars`` order.
    layout : list of (value variable, slice, shape)
        Where each value variable sits in a row, and its shape.
    """
    import pytensor

    blocks, layout, start = [], [], 0
    for value in model.value_vars:
        rv = model.values_to_rvs[value]
        x = np.asarray(values[rv.name], dtype=float)
        transform = model.rvs_to_transforms[rv]
        if transform is not None:
            constrained = rv.type()
            with without_fastmath():
                forward = pytensor.function([constrained], transform.forward(constrained, *rv.owner.inputs))
            x = np.stack([forward(v) for v in x])
        width = int(np.prod(x.shape[1:], dtype=int))
        blocks.append(x.reshape(x.shape[0], width))
        layout.append((value, slice(start, start + width), x.shape[1:]))
        start += width
    return np.concatenate(blocks, axis=1), layout


def _point_function(model: Any, layout: list[tuple[Any, slice, tuple[int, ...]]]) -> Callable[[np.ndarray], np.ndarray]:
    """``f(upars) -> (draw, 1 + author)``: the log posterior density (Jacobian in) and each author's log-likelihood."""
    import pytensor
    from pytensor.graph.traversal import ancestors

    potential = model.potentials[0]
    per_author = next(v for v in ancestors([potential]) if v.name == AUTHOR_LOG_LIKELIHOOD)
    (per_author,) = model.replace_rvs_by_values([per_author])  # a function of the value variables
    inputs = [value for value, _, _ in layout]
    with without_fastmath():  # as the sampler's: the same bits whatever PyTensor's cache holds
        compiled = pytensor.function(
            inputs, [model.logp(jacobian=True, sum=True), per_author], on_unused_input="ignore"
        )

    def f(upars: np.ndarray) -> np.ndarray:
        rows = []
        for u in upars:
            args = [u[s].reshape(shape) for _, s, shape in layout]
            logp, lik = compiled(*args)
            rows.append(np.concatenate([[logp], lik]))
        return np.asarray(rows)

    return f


def moment_matched_loo(
    model: Any,
    posterior: xr.Dataset,
    log_likelihood: xr.Dataset,
    loo: Any,
    offsets: np.ndarray,
    *,
    max_iters: int = 30,
) -> Any:
    """PSIS-LOO with the high-k̂ authors' estimates moment matched (``arviz_stats.loo_moment_match``).

    Parameters
    ----------
    model : pymc.Model
        The graph of the fitted data (:func:`bayesseg.model.graph.build_graph`); its Potential
        has the per-author log-likelihood named ``AUTHOR_LOG_LIKELIHOOD`` among its inputs.
    posterior : xarray.Dataset
        The stored posterior at the draws of `log_likelihood` (dims ``chain``, ``draw``).
    log_likelihood : xarray.Dataset
        ``y`` (chain, draw, author): the pointwise log-likelihood.
    loo : arviz_stats.ELPDData
        PSIS-LOO of the same draws, pointwise.
    offsets : numpy.ndarray, shape (segment, category)
        The anchors' prior log-lifts.
    max_iters : int, default 30
        Moment-matching iterations per author at most.

    Returns
    -------
    arviz_stats.ELPDData
        `loo` with the elpd, k̂ and weights of each author whose k̂ the matching lowered; the
        original k̂ in ``influence_pareto_k``. Authors whose k̂ stays high keep it.

    Raises
    ------
    ValueError
        If the draws' pointwise log-likelihood from the graph departs from `log_likelihood` (the
        graph and the stored draws disagree), by more than 1e-6 relative.

    References
    ----------
    Paananen, Piironen, Bürkner & Vehtari (2021), https://doi.org/10.1007/s11222-020-09982-2
    """
    import arviz_stats  # about a second to import: loaded when K is compared, not with bayesseg

    post = posterior.transpose("chain", "draw", ...)
    shape = (post.sizes["chain"], post.sizes["draw"])
    upars, layout = unconstrained_draws(model, free_values(post, model, offsets))
    point = _point_function(model, layout)
    stored = log_likelihood["y"].transpose("chain", "draw", ...).values.reshape(upars.shape[0], -1)
    every = max(1, upars.shape[0] // 20)  # about 20 draws checked
    if not np.allclose(point(upars[::every])[:, 1:], stored[::every], rtol=1e-6, atol=1e-6):
        raise ValueError("the graph's log-likelihood at the stored draws departs from the stored one")
    names = [f"{value.name}[{j}]" for value, s, _ in layout for j in range(s.stop - s.start)]
    coords = {"chain": post["chain"].values, "draw": post["draw"].values, "unconstrained_parameter": names}
    upars_da = xr.DataArray(upars.reshape(*shape, -1), dims=(*coords,), coords=coords)
    cache: dict[str, Any] = {"key": None, "value": None}

    def evaluate(u: xr.DataArray) -> tuple[np.ndarray, tuple[int, ...]]:
        u = u.transpose("chain", "draw", ...)
        flat = np.asarray(u.values).reshape(-1, upars.shape[1])
        key = flat.tobytes()
        if cache["key"] != key:  # the two functions are called on the same draws in turn
            cache["key"], cache["value"] = key, point(flat)
        return cache["value"], (u.sizes["chain"], u.sizes["draw"])

    def as_da(v: np.ndarray, u: xr.DataArray, size: tuple[int, ...]) -> xr.DataArray:
        return xr.DataArray(v.reshape(size), dims=("chain", "draw"), coords={"chain": u["chain"], "draw": u["draw"]})

    def log_prob(u: xr.DataArray) -> xr.DataArray:
        out, size = evaluate(u)
        return as_da(out[:, 0], u, size)

    def log_lik_i(u: xr.DataArray, i: int) -> xr.DataArray:
        out, size = evaluate(u)
        return as_da(out[:, 1 + int(i)], u, size)

    tree = xr.DataTree.from_dict({"posterior": post, "log_likelihood": log_likelihood})
    with warnings.catch_warnings():
        # per-author "did not improve" notes: the result keeps their k̂, which the caller reads
        warnings.simplefilter("ignore", UserWarning)
        return arviz_stats.loo_moment_match(
            tree,
            loo,
            log_prob_upars_fn=log_prob,
            log_lik_i_upars_fn=log_lik_i,
            upars=upars_da,
            var_name="y",
            max_iters=max_iters,
            split=True,
            # matching the covariance of ~K × C parameters from ~1,000 draws is noise: the means and
            # variances only (the R package loo's default)
            cov=False,
        )


def high_pareto_k(loo: Any) -> int:
    """Authors whose Pareto k̂ is above ``good_k``, or could not be estimated (NaN).

    Parameters
    ----------
    loo : arviz_stats.ELPDData
        Pointwise PSIS-LOO (``pareto_k`` over ``author``).

    Returns
    -------
    int
    """
    return int((~(np.asarray(loo.pareto_k) <= loo.good_k)).sum())
