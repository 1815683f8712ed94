"""Running the sampler on the segmentation model: the start at an EM mode, NUTS (or ADVI), the raw trace.

``nutpie`` (default), ``pymc`` and ``numpyro`` run NUTS; ``numpyro`` needs the optional ``jax`` extra.
``advi`` fits a mean-field Gaussian approximation and draws from it: it is fast on large N but an
approximation (correlations between parameters are lost; its intervals need not match NUTS'). Its
mean starts at the EM mode, as the NUTS chains do (from PyMC's default start it settled in poor
modes: adjusted Rand index 0.37-0.62 on 150 simulated authors × 6 categories × K=2, where NUTS
reaches > 0.9). On a techtest-size simulated warehouse (10,000 fit authors, 28,757 scored) its
modal segments agree with NUTS' for 99.8 % of authors (``benchmarks/variational.py``,
benchmarks/RESULTS.md). Check it against NUTS on a subsample of new data before relying on it.

References
----------
Hoffman, M. D., & Gelman, A. (2014). The No-U-Turn sampler: adaptively setting path lengths in
Hamiltonian Monte Carlo. *JMLR* 15, 1593-1623. https://jmlr.org/papers/v15/hoffman14a.html

Kucukelbir, A., Tran, D., Ranganath, R., Gelman, A., & Blei, D. M. (2017). Automatic differentiation
variational inference. *JMLR* 18(14), 1-45. https://jmlr.org/papers/v18/16-107.html
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from bayesseg._interrupts import raise_if_interrupted
from bayesseg.model.checks import PreparedData
from bayesseg.model.graph import in_sampling_order
from bayesseg.model.start import StartingPoint, em_start

__all__ = ["SAMPLERS", "em_starting_point", "sample_posterior"]

SAMPLERS = ("nutpie", "pymc", "numpyro", "advi")
"""Samplers ``sampler_config["sampler"]`` accepts."""

DISPERSED = (
    "intercept",
    "slope",
    "deviation_sd",
    "log_concentration_mu",
    "log_concentration_sd",
    "log_concentration",
    "log_concentration_raw",
)
"""Variables whose start differs between chains (uniform ±1 around the EM mode on the sampler's scale).

The chains share the EM mode of the profiles (a jump between modes of a mixture is not what
NUTS can make, and relabelling handles permutations), but the gating and the hyper-parameters
(the slowest directions) start apart, so that R-hat compares chains that came from different
places (Vehtari et al. 2021, https://doi.org/10.1214/20-BA1221).
"""


def _sampler_kwargs(sampler: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if sampler == "nutpie" and config["nutpie_low_rank"]:
        # a low-rank modified mass matrix absorbs the correlations between the population
        # profile, the segment departures and the concentrations: on 400 authors × 20
        # categories × K=3 it cut leapfrog steps per draw from 232 to 15
        return {"nuts": {"adaptation": "low_rank"}}
    return {}


def sample_posterior(
    model: Any,
    data: PreparedData,
    n_segments: int,
    offsets: np.ndarray,
    config: Mapping[str, Any],
    progressbar: bool,
    start: StartingPoint | None = None,
) -> tuple[xr.DataTree, StartingPoint | None]:
    """Sample a built model from its EM start (or PyMC's default one).

    Parameters
    ----------
    model : pymc.Model
        From :func:`bayesseg.model.graph.build_graph`.
    data : bayesseg.model.checks.PreparedData
        The data it was built from.
    n_segments : int
        K.
    offsets : numpy.ndarray, shape (segment, category)
        The anchors' prior log-lifts (:func:`bayesseg.model.graph.anchor_offsets`), for the EM start.
    config : mapping
        The sampler settings (:data:`bayesseg.config.defaults.DEFAULT_SAMPLER_CONFIG`'s keys).
    progressbar : bool
        Show the sampler's progress.
    start : bayesseg.model.start.StartingPoint, optional
        The EM start when already found (:func:`em_starting_point`); found here otherwise.

    Returns
    -------
    trace : xarray.DataTree
        The sampler's output (``posterior`` and, for NUTS, ``sample_stats``).
    start : bayesseg.model.start.StartingPoint or None
        The EM start (``None`` with ``init = "default"``).

    Raises
    ------
    KeyboardInterrupt
        When sampling was interrupted: nutpie and PyMC answer Ctrl-C by returning the draws they
        have, which would otherwise pass for a posterior.
    """
    import pymc as pm  # about a second to import: loaded when a model is fitted, not with bayesseg

    sampler = config["sampler"]
    start_kwargs: dict[str, Any] = {}
    if start is None:
        start = em_starting_point(data, n_segments, offsets, config)
    if start is not None:
        free = {rv.name for rv in model.free_RVs}
        start_kwargs["initvals"] = in_sampling_order(
            {name: v for name, v in start.initvals.items() if name in free},
            model.coords["category_sampling"],
            [str(c) for c in data.counts["category"].values],
        )
        dispersed = [model[name] for name in DISPERSED if name in model.named_vars]
        if sampler == "nutpie":
            start_kwargs["compile_kwargs"] = {"jitter_rvs": set(dispersed)}
        elif sampler == "pymc":
            start_kwargs["init"] = "adapt_diag"
            start_kwargs["initvals"] = dispersed_starts(
                start_kwargs["initvals"], model, dispersed, config["chains"], config["random_seed"]
            )
    with model:
        if sampler in ("nutpie", "pymc", "numpyro"):
            trace = pm.sample(
                **start_kwargs,
                draws=config["draws"],
                tune=config["tune"],
                chains=config["chains"],
                cores=min(config["chains"], os.cpu_count() or 1),
                target_accept=config["target_accept"],
                random_seed=config["random_seed"],
                nuts_sampler=sampler,
                progressbar=progressbar,
                compute_convergence_checks=False,
                **_sampler_kwargs(sampler, config),
            )
            _check_complete(trace, config)
        else:  # "advi", an approximation (see SegmentModel.fit)
            approx = pm.fit(
                n=config["advi_iterations"],
                method="advi",
                random_seed=config["random_seed"],
                progressbar=progressbar,
                # the mean starts at the EM mode (init="em"), as the NUTS chains do: without it
                # ADVI settles in whichever mode of the label-switched posterior it meets
                start=start_kwargs.get("initvals"),
            )
            trace = approx.sample(draws=config["draws"] * config["chains"], random_seed=config["random_seed"])
    return trace, start


def em_starting_point(
    data: PreparedData, n_segments: int, offsets: np.ndarray, config: Mapping[str, Any]
) -> StartingPoint | None:
    """The EM start of the chains (:func:`bayesseg.model.start.em_start`), or ``None`` with ``init = "default"``.

    Parameters
    ----------
    data : bayesseg.model.checks.PreparedData
        The data.
    n_segments : int
        K.
    offsets : numpy.ndarray, shape (segment, category)
        The anchors' prior log-lifts.
    config : mapping
        The sampler settings (``init``, ``em_restarts``, ``random_seed``).

    Returns
    -------
    bayesseg.model.start.StartingPoint or None
    """
    if config["init"] != "em":
        return None
    return em_start(
        data.counts.values, data.x, n_segments, offsets, n_restarts=config["em_restarts"], seed=config["random_seed"]
    )


def _check_complete(trace: Any, config: Mapping[str, Any]) -> None:
    """Refuse a trace cut short: nutpie answers Ctrl-C by returning the draws it has, mid-tuning or not."""
    raise_if_interrupted()
    sizes = trace.posterior.sizes
    if sizes["chain"] < config["chains"] or sizes["draw"] < config["draws"]:
        raise KeyboardInterrupt(
            f"sampling stopped after {sizes['draw']} of {config['draws']} draws in {sizes['chain']} of "
            f"{config['chains']} chains"
        )


def dispersed_starts(
    initvals: Mapping[str, Any], model: Any, dispersed: list[Any], chains: int, seed: int
) -> list[dict[str, Any]]:
    """One start per chain: `initvals` with the `dispersed` variables moved by uniform ±1 on the unconstrained scale.

    What nutpie's ``jitter_rvs`` does, for PyMC's own sampler (which takes one start per chain).

    Parameters
    ----------
    initvals : mapping of str to numpy.ndarray
        The EM start, in the graph's order.
    model : pymc.Model
        The model.
    dispersed : list of pymc random variables
        The variables to move.
    chains : int
        Number of chains.
    seed : int
        Seed of the moves.

    Returns
    -------
    list of dict
        Starting values (constrained scale) per chain.
    """
    from pymc.initial_point import make_initial_point_fn

    point_fn = make_initial_point_fn(
        model=model, overrides=dict(initvals), jitter_rvs=set(dispersed), return_transformed=False
    )
    names = {v.name for v in dispersed}
    out = []
    for chain in range(chains):
        point = point_fn(seed + chain)
        out.append({**initvals, **{name: point[name] for name in names if name in point}})
    return out
