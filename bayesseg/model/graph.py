r"""The PyMC graph of the segmentation model (see :mod:`bayesseg.model.segment_model` for the model).

:func:`build_graph` builds it from validated data (:class:`bayesseg.model.checks.PreparedData`):
logistic-normal segment profiles around a population profile, anchored segments' prior
log-lifts (:func:`anchor_offsets`), partially pooled concentrations, multinomial-logit gating,
and the sparse Dirichlet-multinomial likelihood with the segment marginalised.

References
----------
Holmes, I., Harris, K., & Quince, C. (2012). Dirichlet multinomial mixtures: generative models for
microbial metagenomics. *PLoS ONE* 7(2), e30126. https://doi.org/10.1371/journal.pone.0030126

Betancourt, M., & Girolami, M. (2015). Hamiltonian Monte Carlo for hierarchical models. In *Current
Trends in Bayesian Methodology with Applications*, 79-101. CRC Press. https://doi.org/10.1201/b18502-5
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from bayesseg.exceptions import InputError
from bayesseg.model.checks import PreparedData
from bayesseg.model.kernel import mixture_log_likelihood
from bayesseg.model.likelihood import by_reference, data_tensor

__all__ = [
    "CENTRED_AUTHORS_PER_SEGMENT",
    "SPREAD_OVER_ERROR",
    "anchor_offsets",
    "build_graph",
    "centred_concentration",
    "in_sampling_order",
    "sampling_order",
]

CENTRED_AUTHORS_PER_SEGMENT = 250
"""Without an EM start, ``auto`` centres the concentrations from this many authors per segment."""

SPREAD_OVER_ERROR = 3.0
"""With ``auto``, concentrations are centred only if the EM start's spread of them is this many times their error.

The EM error holds the profiles and memberships fixed, so it understates the posterior's: three
times it leaves a margin. On the shipped spec's warehouses the ratio is 10 to 36 (demo and techtest
size); where the segments share one concentration it is below 1; on a 278-author table of counts
in the thousands (``benchmarks/dmn_speed.py``) 2.1 at K = 4, where the non-centred form mixed
better (benchmarks/RESULTS.md).
"""


def anchor_offsets(
    anchors: Mapping[str, Sequence[str]], lift: float, categories: Sequence[str], n_segments: int
) -> np.ndarray:
    """Prior log-lifts of the anchored segments' rule categories, centred per segment.

    Parameters
    ----------
    anchors : mapping of str to sequence of str
        Segment name to its rule's categories; the anchored segments come first, in this order.
    lift : float
        Log-lift of a rule's categories in its segment (``anchor_lift``).
    categories : sequence of str
        The counts' categories.
    n_segments : int
        K.

    Returns
    -------
    numpy.ndarray, shape (n_segments, n_categories)
        Each row sums to zero (a shift of a segment's logits changes nothing).

    Raises
    ------
    bayesseg.exceptions.InputError
        If an anchor names a category absent from `categories`.
    """
    offsets = np.zeros((n_segments, len(categories)))
    index = {c: j for j, c in enumerate(categories)}
    for k, (name, cats) in enumerate(anchors.items()):
        unknown = [c for c in cats if c not in index]
        if unknown:
            raise InputError(f"anchor {name!r} names categories absent from the counts: {unknown}")
        offsets[k, [index[c] for c in cats]] = lift
    return offsets - offsets.mean(axis=1, keepdims=True)


def sampling_order(categories: Sequence[str], totals: np.ndarray) -> list[str]:
    """The categories in the order their zero-sum variables are sampled: the commonest last.

    PyMC's zero-sum transform (a Householder reflection) makes the last entry of a zero-sum vector
    ``-sum(free) / sqrt(n)``: a direction shared by every free coordinate, which a diagonal mass
    matrix cannot scale alone. A rare category there (its log-odds known to ~1, the others' to ~0.01)
    is a wide dense direction: on the demo warehouse the last category of the taxonomy, seen in 10
    authors, had bulk ESS 4 of 800 and R-hat 1.5, and every profile entry mixed slowly with it. With
    the commonest category last, the dense direction is the best-identified one.

    Parameters
    ----------
    categories : sequence of str
        The counts' categories.
    totals : numpy.ndarray, shape (category,)
        Each category's total count.

    Returns
    -------
    list of str
        `categories` with the one of the largest total moved to the end (ties: the first).
    """
    commonest = int(np.argmax(totals))
    return [c for j, c in enumerate(categories) if j != commonest] + [categories[commonest]]


def in_sampling_order(
    initvals: Mapping[str, np.ndarray], sampling: Sequence[str], categories: Sequence[str]
) -> dict[str, np.ndarray]:
    """Starting values indexed by the counts' categories, permuted to the graph's sampling order.

    Parameters
    ----------
    initvals : mapping of str to numpy.ndarray
        Free variables' values (``StartingPoint.initvals`` of :mod:`bayesseg.model.start`);
        ``population_logit`` has dims (category,), ``deviation`` (segment, category).
    sampling : sequence of str
        The graph's ``category_sampling`` coordinate (:func:`sampling_order`).
    categories : sequence of str
        The counts' categories.

    Returns
    -------
    dict of str to numpy.ndarray
        The same values, category axes in the sampling order.
    """
    position = {c: j for j, c in enumerate(categories)}
    order = [position[c] for c in sampling]
    out = dict(initvals)
    if "population_logit" in out:
        out["population_logit"] = np.asarray(out["population_logit"])[order]
    if "deviation" in out:
        out["deviation"] = np.asarray(out["deviation"])[:, order]
    return out


def centred_concentration(
    choice: str, n_authors: int, n_segments: int, spread: tuple[float, float] | None = None
) -> bool:
    """Whether the log concentrations are centred (``concentration_parametrization``; ``auto`` from the data).

    A centred hierarchy is efficient where each group's parameter is better known than the groups
    differ, and funnels as the group scale goes to zero where they do not; the non-centred form is
    the reverse (Papaspiliopoulos, Roberts & Sköld 2007, https://doi.org/10.1214/088342307000000014).
    ``auto`` compares the two sides with the EM start (`spread`): each concentration's standard
    error against the between-segment spread, centring when the spread is more than
    ``SPREAD_OVER_ERROR`` times the error. Without a start, it centres from
    ``CENTRED_AUTHORS_PER_SEGMENT`` authors per segment. It decides for K ≥ 2: one segment's
    concentration is sampled in neither form, but with its hierarchy's mean a function of it
    (:func:`build_graph`; since 2026.12.8).

    On 20,000 simulated authors whose six segments share one concentration, the centred form gave
    646 divergences in 2,000 draws and R-hat 1.38, the non-centred none; on 278 authors with totals
    in the thousands (errors 0.01-0.03), the non-centred form gave 167 and 82 divergences and R-hat
    1.5 at K = 1 and 2, the centred 30 and 0 (benchmarks/RESULTS.md). Until 2026.12.7 ``auto`` also
    required 250 authors per segment, which made those small tables non-centred; in 2026.12.7 one
    segment was centred when its error was under a third of the prior scale of the segments' spread.

    Parameters
    ----------
    choice : {"auto", "centred", "non_centred"}
        The configured parametrisation.
    n_authors, n_segments : int
        Authors fitted and K (2 or more; :func:`build_graph` does not ask for one segment).
    spread : tuple of float, optional
        ``(spread, error)`` of the EM start's log concentrations
        (:meth:`bayesseg.model.start.StartingPoint.concentration_spread`); without it, ``auto``
        decides by authors per segment alone.

    Returns
    -------
    bool
    """
    if choice != "auto":
        return bool(choice == "centred")
    if spread is None:
        return n_authors / n_segments >= CENTRED_AUTHORS_PER_SEGMENT
    between, error = spread
    return between > SPREAD_OVER_ERROR * error


def build_graph(
    data: PreparedData,
    segment_names: Sequence[str],
    model_config: Mapping[str, Any],
    likelihood: Callable[[np.ndarray, Any], Any] | None = None,
    spread: tuple[float, float] | None = None,
) -> Any:
    """The PyMC model of the segmentation for validated data.

    Parameters
    ----------
    data : bayesseg.model.checks.PreparedData
        Checked counts, standardised covariates, sparse counts, sampling weights.
    segment_names : sequence of str
        The K segment names (anchored first).
    model_config : mapping
        The priors (:data:`bayesseg.config.defaults.DEFAULT_MODEL_CONFIG`'s keys) and ``anchors``.
    likelihood : callable, optional
        ``likelihood(counts, log_alpha) -> (author, segment)`` log-pmf tensor replacing the fused
        sparse Dirichlet-multinomial mixture (:func:`bayesseg.model.kernel.mixture_log_likelihood`),
        followed by a log-sum-exp over segments (benchmarks and tests only).
    spread : tuple of float, optional
        ``(spread, error)`` of the EM start's log concentrations, for ``auto``'s choice of their
        parametrisation (:func:`centred_concentration`).

    Returns
    -------
    pymc.Model
        Free variables ``population_logit`` and ``deviation`` (over ``category_sampling``, the
        categories in :func:`sampling_order`), ``deviation_sd``, ``log_concentration_mu``,
        ``log_concentration_sd``, ``log_concentration`` (or ``log_concentration_raw``),
        ``intercept`` and ``slope`` (zero-sum over ``segment``); deterministics ``profile`` and
        ``concentration``; the log-likelihood as a Potential. With one segment: no ``deviation``,
        ``deviation_sd``, ``intercept`` or ``slope``, and ``log_concentration_mu`` is a deterministic
        of the free ``log_concentration``, ``log_concentration_sd`` and ``log_concentration_raw``
        (``_one_concentration``: the same joint distribution).
    """
    # PyMC and PyTensor take about a second to import: loaded when a model is built, not with bayesseg
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

    counts, covariates, x = data.counts, data.covariates, data.x
    cfg = model_config
    categories = [str(c) for c in counts["category"].values]
    cov_names = [] if covariates is None else [str(c) for c in covariates["covariate"].values]
    k = len(segment_names)
    sampled = sampling_order(categories, counts.values.sum(axis=0))
    coords = {
        "author": counts["author"].values,
        "category": categories,
        "category_sampling": sampled,
        "segment": segment_names,
        "covariate": cov_names,
    }
    offsets = anchor_offsets(cfg["anchors"], cfg["anchor_lift"], categories, k)
    with pm.Model(coords=coords) as model:
        # free in the sampling order (the commonest category last: see sampling_order), used in the counts' order
        back = [sampled.index(c) for c in categories]
        eta0 = pm.ZeroSumNormal("population_logit", sigma=cfg["population_sigma"], dims="category_sampling")[back]
        # centred: each segment's profile is identified by thousands of counts, where a
        # centred hierarchy samples with far shorter trajectories than a non-centred one.
        # Zero-sum over segments too: the population profile is the centre of the segment
        # profiles, so (η0 + c, δ_k - c) is no longer a ridge the likelihood cannot see
        if k > 1:
            dev_sd = pm.HalfNormal("deviation_sd", sigma=cfg["deviation_sigma"])
            delta = pm.ZeroSumNormal(
                "deviation", sigma=dev_sd, dims=("segment", "category_sampling"), n_zerosum_axes=2
            )[:, back]
        else:  # one segment: its profile is the population's (the model every comparison of K includes)
            delta = pt.zeros((1, len(categories)))
        log_theta = log_softmax(eta0[None, :] + delta + offsets, axis=1)
        pm.Deterministic("profile", pt.exp(log_theta), dims=("segment", "category"))
        if k == 1:
            log_kappa = _one_concentration(cfg["log_concentration_mu"], cfg["log_concentration_sigma"])
        else:
            mu_k = pm.Normal("log_concentration_mu", *cfg["log_concentration_mu"])
            sd_k = pm.HalfNormal("log_concentration_sd", sigma=cfg["log_concentration_sigma"])
            if centred_concentration(cfg["concentration_parametrization"], x.shape[0], k, spread):
                # each concentration is measured more closely than the segments' differ; the
                # non-centred form would make a banana with s_κ (demo: bulk ESS of s_κ 38 of 800)
                log_kappa = pm.Normal("log_concentration", mu_k, sd_k, dims="segment")
            else:
                # the segments' concentrations not told apart: the centred form would make a funnel (divergences)
                w = pm.Normal("log_concentration_raw", 0.0, 1.0, dims="segment")
                log_kappa = mu_k + sd_k * w
        pm.Deterministic("concentration", pt.exp(log_kappa), dims="segment")
        # gating: exchangeable over segments, zero-sum (no reference segment in the prior). A
        # reference segment made every free intercept move with the reference's share (posterior
        # correlations 0.8 on the demo: bulk ESS 90 of 800); zero-sum coefficients mix ~8x better.
        # The sd is the configured sd of a difference between two segments' coefficients.
        if k > 1:
            gamma = pm.ZeroSumNormal("intercept", sigma=cfg["intercept_sigma"] / np.sqrt(2.0), dims="segment")
        else:
            gamma = pt.zeros(1)
        # the data by reference for large data, so that the compiled code does not depend on them
        shared = by_reference(data.sparse)
        x_data = data_tensor(x, "covariates", shared)
        eta = pt.broadcast_to(gamma[None, :], (x_data.shape[0], k))
        if cov_names and k > 1:
            # a fixed weakly informative scale on standardised covariates: with P (K - 1) slopes, a
            # learnt common scale is barely identified and either form of that hierarchy slows NUTS
            beta = pm.ZeroSumNormal("slope", sigma=cfg["slope_sigma"] / np.sqrt(2.0), dims=("covariate", "segment"))
            eta = eta + x_data @ beta
        log_pi = log_softmax(eta, axis=1)
        log_alpha = log_kappa[:, None] + log_theta
        if likelihood is None:  # one fused sweep of the non-zeros (bayesseg.model.kernel)
            per_author = mixture_log_likelihood(data.sparse, log_alpha, log_pi, n_segments=k)
        else:
            per_author = pt.logsumexp(log_pi + likelihood(counts.values, log_alpha), axis=1)
        per_author.name = "author_log_likelihood"  # found by name for moment matching (bayesseg.model.moment_match)
        if data.weights is not None:  # pseudo-likelihood of a weighted sample
            per_author = data_tensor(data.weights, "sample_weight", shared) * per_author
        pm.Potential("log_likelihood", per_author.sum())
    return model


def _one_concentration(mu_prior: Sequence[float], sd_sigma: float) -> Any:
    r"""The log concentration of a single segment, its hierarchy's mean a function of it (inside a PyMC model).

    The hierarchy of the other K, :math:`\mu \sim N(m, s)`, :math:`\sigma \sim N^+(0, \sigma_0)`,
    :math:`\log\kappa \sim N(\mu, \sigma)`, over one segment: the data identify
    :math:`\log\kappa` alone, and as :math:`\sigma \to 0` they pin :math:`\mu` to it, a funnel in
    either form (278 authors, totals in the thousands: 21-30 divergences in 600 draws, centred).
    The same joint distribution, sampled as :math:`\sigma`, :math:`w \sim N(0, 1)` and
    :math:`\log\kappa \sim N(m + \sigma w, s)`, with :math:`\mu = \log\kappa - \sigma w`: the
    map :math:`(\mu, \sigma, \log\kappa) \to (\log\kappa, \sigma, w)` has Jacobian
    :math:`\sigma`, which cancels the :math:`1/\sigma` of :math:`N(\log\kappa; \mu, \sigma)`, so
    that given :math:`\log\kappa` the pair :math:`(\sigma, w)` is its prior tilted by
    :math:`N(\log\kappa; m + \sigma w, s)`, with no funnel.

    Parameters
    ----------
    mu_prior : sequence of float
        ``(m, s)``, the mean and standard deviation of :math:`\mu` (``log_concentration_mu``).
    sd_sigma : float
        :math:`\sigma_0`, the scale of :math:`\sigma`'s half-normal prior (``log_concentration_sigma``).

    Returns
    -------
    pytensor.tensor.TensorVariable, shape (1,)
        :math:`\log\kappa`. The model gains free ``log_concentration_sd``, ``log_concentration_raw``
        (:math:`w`, dims ``segment``) and ``log_concentration`` (dims ``segment``), and the deterministic
        ``log_concentration_mu``, the names and meanings they have under K > 1.
    """
    import pymc as pm

    sd_k = pm.HalfNormal("log_concentration_sd", sigma=sd_sigma)
    w = pm.Normal("log_concentration_raw", 0.0, 1.0, dims="segment")
    log_kappa = pm.Normal("log_concentration", mu_prior[0] + sd_k * w, mu_prior[1], dims="segment")
    pm.Deterministic("log_concentration_mu", log_kappa[0] - sd_k * w[0])
    return log_kappa
