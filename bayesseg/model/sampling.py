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

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import xarray as xr

from bayesseg._interrupts import raise_if_interrupted
from bayesseg.model.checks import PreparedData
from bayesseg.model.graph import in_sampling_order
from bayesseg.model.kernel import register_jax
from bayesseg.model.start import StartingPoint, em_start

__all__ = [
    "COMPILED_KEPT",
    "NUMBA_FLAGS",
    "SAMPLERS",
    "STEP_SIZE_ADAPTATIONS",
    "clear_compiled",
    "compile_nutpie",
    "em_starting_point",
    "keeping_compiled",
    "nutpie_settings",
    "sample_posterior",
    "sample_until",
    "without_fastmath",
]

SAMPLERS = ("nutpie", "pymc", "numpyro", "advi")
"""Samplers ``sampler_config["sampler"]`` accepts."""

STEP_SIZE_ADAPTATIONS = {"dual_average": "DualAverage", "adam": "Adam"}
"""``sampler_config["nutpie_step_size_adaptation"]``'s values and nutpie's (nuts-rs's) names for them."""

NUMBA_FLAGS = {"numba__fastmath": False}
"""PyTensor settings under which bayesseg compiles Numba code (:func:`without_fastmath`).

PyTensor compiles with LLVM's fast-math flags by default, which let LLVM reorder floating-point
sums and products. How it reorders them depends on what it can inline, and that depends on which
of the graph's functions PyTensor's Numba cache already held: the first run on a machine and
the runs after it then differ in the last bits of the log density. The chains amplify those bits
into other draws (the README's run stopped at 1,200 draws a chain with an empty cache and at 1,400
with a full one, benchmarks/RESULTS.md). Without fast-math the arithmetic is IEEE 754's, in the
order the code gives, cached or not.
"""

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


COMPILED_KEPT = 2
"""Compiled models :func:`compile_nutpie` keeps for reuse in this process, the most recently used.

Two: :func:`bayesseg.model.selection.compare_k` compiles the next K while this one samples. The
K-fold refits of one K, one fold after another, keep theirs besides (:func:`keeping_compiled`)."""

_COMPILED: list[tuple[tuple[list[Any], list[Any]], Any]] = []  # (what was compiled, nutpie's model), newest last
_KEEPING = threading.Lock()  # held while _COMPILED is read or changed
_THIS_THREAD = threading.local()  # .kept: [(signature, compiled)] of this thread's keeping_compiled block
_COMPILING = threading.RLock()  # held while PyTensor's settings are bayesseg's (without_fastmath)


def compile_nutpie(model: Any, **kwargs: Any) -> Any:
    """The model compiled by nutpie's Numba backend under :data:`NUMBA_FLAGS`: the same bits whatever the cache holds.

    A model whose graph equals one compiled before in this process, its shared variables' values
    aside, is not compiled again: the compiled code is reused with the model's own data (nutpie's
    ``with_data``), starting point and coordinates. Data held by reference
    (:func:`bayesseg.model.likelihood.by_reference`, :func:`bayesseg.model.likelihood.data_by_reference`)
    make the refits of one structure on other data (K-fold folds, simulation replicates) such
    models; data held as constants match only the same data.

    Parameters
    ----------
    model : pymc.Model
        The built model.
    **kwargs
        Passed to ``nutpie.compile_pymc_model`` (e.g. ``initial_points``, ``jitter_rvs``); with any
        other keyword the model is compiled afresh.

    Returns
    -------
    nutpie.CompiledModel
        What ``nutpie.compile_pymc_model(model, backend="numba", **kwargs)`` returns, compiled
        without fast-math; the same draws for the same seed whether it was compiled or reused
        (``tests/test_sampling.py``).

    Notes
    -----
    Floating-point addition is not associative, so a compiler free to reorder it (fast-math) gives
    results that depend on how it compiled the code, here on the state of PyTensor's Numba cache
    (Goldberg 1991). Sampling is chaotic in those bits; to give the same draws for the same seed and
    data, the code must compute the same bits. Two graphs are the same when PyTensor's
    ``equal_computations`` says so with the value variables and the shared variables (by name)
    as their inputs; :data:`COMPILED_KEPT` compiled models are kept (:func:`clear_compiled`
    releases them), and in a :func:`keeping_compiled` block those of the calling thread too.

    Threads may call it together: one compiles at a time (:func:`without_fastmath`'s lock), and
    looking up a kept model does not wait for a compilation in progress. Two threads compiling
    equal graphs at once both compile; :func:`bayesseg.model.selection.compare_k` waits for the
    next K's compilation before its fit looks for it.

    References
    ----------
    Goldberg, D. (1991). What every computer scientist should know about floating-point
    arithmetic. *ACM Computing Surveys* 23(1), 5-48. https://doi.org/10.1145/103162.103163
    """
    import nutpie

    signature = _signature(model) if set(kwargs) <= {"initial_points", "jitter_rvs"} else None
    if signature is not None and (known := _kept(signature)) is not None:
        _keep_here(signature, known)
        return _with_model(known, model, signature[1], kwargs)
    with without_fastmath():  # one compilation at a time, on any thread
        compiled = nutpie.compile_pymc_model(model, backend="numba", **kwargs)
    if signature is not None:
        _keep_here(signature, compiled)
        with _KEEPING:
            _COMPILED.append((signature, compiled))
            del _COMPILED[: max(len(_COMPILED) - COMPILED_KEPT, 0)]
    return compiled


@contextmanager
def keeping_compiled() -> Iterator[None]:
    """Models :func:`compile_nutpie` compiles or reuses on this thread in the block stay kept for it until the end.

    The process keeps :data:`COMPILED_KEPT` compiled models, the most recently used; threads that
    each refit their own structure at the same time (the K-fold refits of several K side by side,
    :func:`bayesseg.model.selection.compare_k`) would push each other's out, and compile again. In
    the block, the calling thread also looks among its own, which nothing else drops; they are
    released when the block ends (the outermost, where blocks nest).

    Yields
    ------
    None
    """
    outermost = getattr(_THIS_THREAD, "kept", None) is None
    if outermost:
        _THIS_THREAD.kept = []
    try:
        yield
    finally:
        if outermost:
            del _THIS_THREAD.kept


def _keep_here(signature: tuple[list[Any], list[Any]], compiled: Any) -> None:
    """Keep `compiled` for this thread while it is in a :func:`keeping_compiled` block."""
    kept = getattr(_THIS_THREAD, "kept", None)
    if kept is not None and not any(other is compiled for _, other in kept):
        kept.append((signature, compiled))


def _kept(signature: tuple[list[Any], list[Any]]) -> Any:
    """The compiled model kept for a graph equal to `signature`'s (now the most recently used), or ``None``."""
    with _KEEPING:
        for i, (known, compiled) in enumerate(_COMPILED):
            if _same_graph(signature, known):
                _COMPILED.append(_COMPILED.pop(i))
                return compiled
    for known, compiled in getattr(_THIS_THREAD, "kept", []):
        if _same_graph(signature, known):
            return compiled
    return None


def clear_compiled() -> None:
    """Forget the compiled models :func:`compile_nutpie` keeps, releasing their memory and data."""
    with _KEEPING:
        _COMPILED.clear()


def _signature(model: Any) -> tuple[list[Any], list[Any]] | None:
    """What nutpie compiles of `model` (its log density and the values it stores) and the inputs of those graphs.

    The inputs: the value variables, then the shared variables sorted by name. ``None`` when a
    shared variable is not a named tensor or two share a name (``with_data`` finds them by name).
    """
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.sharedvar import TensorSharedVariable

    outputs = [model.logp(), *model.unobserved_value_vars]
    shared = [v for v in graph_inputs(outputs) if isinstance(v, SharedVariable)]
    names = [v.name for v in shared]
    if any(not isinstance(v, TensorSharedVariable) or not v.name for v in shared) or len(set(names)) < len(names):
        return None
    return outputs, [*model.value_vars, *sorted(shared, key=lambda v: str(v.name))]


def _same_graph(a: tuple[list[Any], list[Any]], b: tuple[list[Any], list[Any]]) -> bool:
    """Whether two :func:`_signature` s are the same computation of inputs of the same names and types."""
    from pytensor.graph.basic import equal_computations

    (outputs_a, inputs_a), (outputs_b, inputs_b) = a, b
    if len(outputs_a) != len(outputs_b) or len(inputs_a) != len(inputs_b):
        return False
    if any(x.name != y.name or x.type != y.type for x, y in zip(inputs_a, inputs_b, strict=True)):
        return False
    return bool(equal_computations(outputs_a, outputs_b, inputs_a, inputs_b))


def _with_model(compiled: Any, model: Any, inputs: list[Any], kwargs: Mapping[str, Any]) -> Any:
    """The compiled model `compiled` with `model`'s data, start and coordinates, as compiling `model` gives them."""
    # private helpers of nutpie.compile_pymc_model, so that the start is the one it would make: nutpie pinned below 0.17
    from nutpie.compile_pymc import _prepare_dims_and_coords, _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn
    from pytensor.compile.sharedvalue import SharedVariable

    jitter = kwargs.get("jitter_rvs")
    point = make_initial_point_fn(
        model=model,
        overrides=kwargs.get("initial_points"),
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs) if jitter is None else jitter,
        return_transformed=True,
    )
    names, _, shapes = compiled.shape_info
    free = len(model.free_RVs)  # the free variables come first, in the model's order
    point = _rv_dict_to_flat_array_wrapper(_wrap_with_lock(point), names=list(names[:free]), shapes=list(shapes[:free]))
    dims, coords = _prepare_dims_and_coords(model, compiled.shape_info, compiled.reparameterized_names)
    # the shared variables the compiled functions read (PyMC's dimension lengths may have been rewritten away)
    read = {v.name for v in compiled.shared_var_keys}
    data = {str(v.name): v.get_value(borrow=True) for v in inputs if isinstance(v, SharedVariable) and v.name in read}
    return dataclasses.replace(
        compiled.with_data(**data) if data else compiled, initial_point_func=point, dims=dims, _coords=coords
    )


@contextmanager
def without_fastmath() -> Iterator[None]:
    """PyTensor compiles Numba code under :data:`NUMBA_FLAGS` in the block, IEEE 754 arithmetic in the code's order.

    Every function PyTensor compiles in the block (PyMC's samplers and ADVI, prior draws, the log
    density of moment matching) computes the same bits whether PyTensor's Numba cache held its
    parts or not; the settings before the block are restored after it. The fast-math choice is
    made when a function is compiled, not when it is called: functions compiled in the block keep
    it, and so do PyMC's worker processes where they are forked (Linux). Where PyMC starts them
    otherwise (``spawn``, ``forkserver``) they recompile with PyTensor's own settings.

    PyTensor's settings are the process's, not a thread's: one thread at a time holds the block
    (a lock), so that a compilation on another thread (:func:`bayesseg.model.selection.compare_k`
    compiles the next K while this one samples) cannot restore the settings under one in
    progress.

    Yields
    ------
    None

    References
    ----------
    Goldberg, D. (1991). What every computer scientist should know about floating-point
    arithmetic. *ACM Computing Surveys* 23(1), 5-48. https://doi.org/10.1145/103162.103163

    Examples
    --------
    >>> import pytensor
    >>> with without_fastmath():
    ...     pytensor.config.numba__fastmath
    False
    """
    import pytensor

    with _COMPILING, pytensor.config.change_flags(**NUMBA_FLAGS):
        yield


def nutpie_settings(config: Mapping[str, Any], seed: int) -> Any:
    """The NUTS settings nutpie samples with for `config`: its mass matrix and the early window's switches.

    Parameters
    ----------
    config : mapping
        The sampler settings: ``tune``, ``draws``, ``chains``, ``target_accept``,
        ``nutpie_low_rank`` (nutpie's low-rank modified mass matrix, else its diagonal one),
        ``nutpie_early_switch_freq`` (draws behind each switch of the mass matrix in the warmup's
        early window, nutpie's ``early_mass_matrix_switch_freq``) and ``nutpie_mass_matrix_gamma``
        (the low-rank correction's regularisation, nutpie's ``mass_matrix_gamma``; ignored with the
        diagonal matrix) and ``nutpie_step_size_adaptation`` (``"dual_average"``, nutpie's own, or
        ``"adam"``: how the warmup adapts the step size, which nutpie's keywords do not reach either).
    seed : int
        nutpie's seed.

    Returns
    -------
    nutpie settings object
        What ``nutpie.sample`` builds from its keywords, with the early window's switch, which its
        keywords do not reach, set through the settings object's ``update_settings``.

    Notes
    -----
    A low-rank modified mass matrix absorbs the correlations between the population profile, the
    segment departures and the concentrations: on 400 authors × 20 categories × K = 3 it cut
    leapfrog steps per draw from 232 to 15. In the early window (the warmup's first 30 %) nutpie
    replaces the matrix every ``early_mass_matrix_switch_freq`` draws; at 20,000 authors × 60
    categories × K = 6, 5 instead of nutpie's 10 took fewer gradients in seven short runs of
    eight (``benchmarks/adaptation.py``) and less time in five full fits of six
    (``benchmarks/fit_speed.py``), but in one run of each a chain ended the warmup with a poor
    matrix and needed twice the steps per draw or more (benchmarks/RESULTS.md), so the default
    stays nutpie's.

    nutpie (its Rust core, nuts-rs) estimates the correction from the covariances of the window's
    standardised draws and gradients, each regularised as ``I + C / (n γ)`` (``n`` draws, ``γ`` its
    ``mass_matrix_gamma``, 1e-5 by default). At 20,000 authors × 60 categories × K = 6 on ten fresh
    seeds, with nutpie's 1e-5 a chain of nine fits in ten ended the warmup with a matrix that
    needed 31-43 steps per draw; with 1e-3 both chains of every fit drew at 15-18, the ten fits
    took 0.60 of the time in sum, and none had more divergences than the convergence rule allows
    (one 1e-5 fit had 327). The default is 1e-3.

    References
    ----------
    Hoffman, M. D., & Gelman, A. (2014). The No-U-Turn sampler: adaptively setting path lengths in
    Hamiltonian Monte Carlo. *JMLR* 15, 1593-1623. https://jmlr.org/papers/v15/hoffman14a.html
    """
    from nutpie import _lib

    if config["nutpie_low_rank"]:
        settings = _lib.PyNutsSettings.LowRank(seed)
    else:
        settings = _lib.PyNutsSettings.Diag(seed)
    spec = settings.as_dict()["settings"]
    spec |= {
        "num_tune": max(int(config["tune"]), 1),  # nutpie needs the early window to end within the warmup
        "num_draws": int(config["draws"]),
        "num_chains": int(config["chains"]),
    }
    spec["adapt_options"]["step_size_settings"]["target_accept"] = float(config["target_accept"])
    spec["adapt_options"]["early_mass_matrix_switch_freq"] = int(config["nutpie_early_switch_freq"])
    step_size = spec["adapt_options"]["step_size_settings"]["adapt_options"]
    step_size["method"] = STEP_SIZE_ADAPTATIONS[config["nutpie_step_size_adaptation"]]
    if config["nutpie_low_rank"]:
        spec["adapt_options"]["mass_matrix_options"]["gamma"] = float(config["nutpie_mass_matrix_gamma"])
    settings.update_settings(spec)
    return settings


def sample_posterior(
    model: Any,
    data: PreparedData,
    n_segments: int,
    offsets: np.ndarray,
    config: Mapping[str, Any],
    progressbar: bool,
    start: StartingPoint | None = None,
    until: Callable[[xr.DataTree], bool] | None = None,
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
    until : callable, optional
        With nutpie and ``0 < config["min_draws"] < config["draws"]``: called with the draws so far (a DataTree with
        ``posterior`` and ``sample_stats``, the same number of draws in every chain) after
        ``min_draws`` draws per chain and every ``check_every`` draws after that; sampling stops at
        the first call that returns ``True``, and at ``draws`` otherwise (:func:`sample_until`).

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
    if sampler == "nutpie":
        return sample_until(model, start_kwargs, config, progressbar, until), start
    if sampler == "numpyro":  # the fused likelihood's JAX implementation (bayesseg.model.kernel)
        register_jax()
    with model, without_fastmath():  # compiled as nutpie's model is: the same bits whatever the cache holds
        if sampler in ("pymc", "numpyro"):
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


def sample_until(
    model: Any,
    start_kwargs: Mapping[str, Any],
    config: Mapping[str, Any],
    progressbar: bool,
    until: Callable[[xr.DataTree], bool] | None,
) -> xr.DataTree:
    """NUTS (nutpie) that stops as soon as `until` accepts the draws so far, or at ``config["draws"]``.

    After warmup, at ``min_draws`` draws per chain and every ``check_every`` draws after that,
    `until` sees the first n draws of every chain (what a run of n draws would have given: same
    seed, same warmup); the chains go on drawing while it runs, and sampling stops at the first
    check that returns ``True`` (the draws after the n are discarded). Every check point runs,
    even one the sampler passed before it was checked, so the draws kept depend on the seed and the
    data, not on timing.

    Parameters
    ----------
    model : pymc.Model
        The built model.
    start_kwargs : mapping
        ``initvals`` (the EM start, in the graph's order) and ``compile_kwargs`` (``jitter_rvs``),
        as :func:`sample_posterior` makes them; empty for nutpie's own start.
    config : mapping
        The sampler settings: ``draws`` (the most per chain), ``min_draws``, ``check_every``,
        ``tune``, ``chains``, ``target_accept``, ``random_seed`` and :func:`nutpie_settings`'s.
    progressbar : bool
        Show the progress bars ``pymc.sample`` shows for nutpie.
    until : callable or None
        ``until(trace) -> bool``; e.g. whether the relabelled draws meet the convergence rule.
        ``None``, or ``min_draws`` 0 or at least ``draws``: no check, every draw.

    Returns
    -------
    xarray.DataTree
        ``posterior`` and ``sample_stats`` of the draws kept (n per chain, n one of the check
        points or ``draws``), and ``observed_data`` / ``constant_data`` as ``pymc.sample`` adds them.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C (the sampler is cancelled and no trace is returned).

    Notes
    -----
    Stopping when a rule on the draws so far holds is a sequential stopping rule; for rules on
    the Monte Carlo error of the estimates it is asymptotically valid (Glynn & Whitt 1992; Jones
    et al. 2006). The rule here (R-hat and ESS over every entry) is checked at most
    ``(draws - min_draws) / check_every + 1`` times.

    References
    ----------
    Glynn, P. W., & Whitt, W. (1992). The asymptotic validity of sequential stopping rules for
    stochastic simulations. *Annals of Applied Probability* 2(1), 180-198.
    https://doi.org/10.1214/aoap/1177005777

    Jones, G. L., Haran, M., Caffo, B. S., & Neath, R. (2006). Fixed-width output analysis for Markov
    chain Monte Carlo. *JASA* 101(476), 1537-1547. https://doi.org/10.1198/016214506000000492
    """
    from nutpie.sample import _BackgroundSampler  # private: nutpie pinned below 0.17, tests/test_sampling.py
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.progress_bar import NutpieProgressBarManager

    chains, tune, draws = config["chains"], max(int(config["tune"]), 1), int(config["draws"])
    compile_kwargs = dict(start_kwargs.get("compile_kwargs", {}))
    if "initvals" in start_kwargs:
        compile_kwargs["initial_points"] = start_kwargs["initvals"]
    compiled = compile_nutpie(model, **compile_kwargs)
    done = [0]  # the fewest iterations (warmup included) any chain has finished

    bars = NutpieProgressBarManager(chains=chains, draws=draws, progressbar=progressbar)  # pymc.sample's bars

    def on_progress(progress: Any) -> None:
        done[0] = min(chain.finished_draws for chain in progress)
        if all(chain.finished_draws >= chain.total_draws for chain in progress):
            done[0] = tune + draws
        bars.update(progress)

    started = time.time()
    with bars:
        # the seed pymc.sample would give nutpie
        seed = int(np.random.default_rng(config["random_seed"]).spawn(chains)[0].integers(2**30))
        # nutpie.sample(..., blocking=False) with a setting its keywords cannot reach (nutpie_settings)
        sampler = _BackgroundSampler(
            compiled,
            nutpie_settings(config, seed),
            np.zeros(compiled.n_dim),
            min(chains, os.cpu_count() or 1),
            progress_bar=False,
            progress_callback=on_progress,
            save_warmup=False,
        )
        first = int(config["min_draws"]) if until is not None and 0 < config["min_draws"] < draws else draws
        checks = range(first, draws, int(config["check_every"]))
        trace, kept = _checked(sampler, checks, lambda n: done[0] >= tune + n, until)
    patch_nutpie_idata(trace, model, sampling_time=time.time() - started)
    _check_complete(trace, {**config, "draws": kept if kept else draws})
    return trace


def _checked(
    sampler: Any, checks: range, reached: Callable[[int], bool], until: Callable[[xr.DataTree], bool] | None
) -> tuple[xr.DataTree, int]:
    """Run nutpie's background `sampler` to the first of `checks` that `until` accepts.

    ``reached(n)``: every chain has n draws after warmup. Returns the trace and the draws kept per
    chain at the accepting check, or 0 when none accepted (then every draw, ``checks.stop``).
    """
    full = None  # the whole trace, once the sampler has finished
    try:
        for n in checks:
            while not reached(n):
                time.sleep(0.2)
                raise_if_interrupted()
            if full is None and reached(checks.stop):  # finished before this check: every check still runs
                full = sampler.wait()
            if full is None:
                sampler.pause()
            so_far = _first_draws(sampler.inspect() if full is None else full, n)
            if full is None:  # the chains go on while their first n draws are checked
                sampler.resume()
            if until is not None and until(so_far):
                return so_far, n
        if full is None:
            full = sampler.wait()
        return _first_draws(full, checks.stop), 0
    finally:
        if full is None:  # stopped at a check, or an error or Ctrl-C: the chains are discarded
            sampler.cancel()


def _first_draws(trace: xr.DataTree, n: int) -> xr.DataTree:
    """The `posterior` and `sample_stats` of the first `n` draws of every chain."""
    return xr.DataTree.from_dict(
        {group: trace[group].to_dataset().isel(draw=slice(0, n)) for group in ("posterior", "sample_stats")}
    )


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
    # chains that stopped at different draws come back padded with NaN to the longest one
    padded = any(bool(np.isnan(v.values).any()) for v in trace.posterior.data_vars.values() if v.dtype.kind == "f")
    if sizes["chain"] < config["chains"] or sizes["draw"] < config["draws"] or padded:
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

    with without_fastmath():
        point_fn = make_initial_point_fn(
            model=model, overrides=dict(initvals), jitter_rvs=set(dispersed), return_transformed=False
        )
    names = {v.name for v in dispersed}
    out = []
    for chain in range(chains):
        point = point_fn(seed + chain)
        out.append({**initvals, **{name: point[name] for name in names if name in point}})
    return out
