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
from bayesseg.model.likelihood import dm_logpmf_tensor

__all__ = ["CENTRED_AUTHORS_PER_SEGMENT", "anchor_offsets", "build_graph", "centred_concentration"]

CENTRED_AUTHORS_PER_SEGMENT = 250
"""With ``concentration_parametrization = "auto"``, concentrations are centred from this many authors per segment."""


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


def centred_concentration(choice: str, n_authors: int, n_segments: int) -> bool:
    """Whether the log concentrations are centred (``concentration_parametrization``, ``auto`` by authors per segment).

    Parameters
    ----------
    choice : {"auto", "centred", "non_centred"}
        The configured parametrisation.
    n_authors, n_segments : int
        Authors fitted and K.

    Returns
    -------
    bool
    """
    if choice == "auto":
        return n_authors / n_segments >= CENTRED_AUTHORS_PER_SEGMENT
    return bool(choice == "centred")


def build_graph(
    data: PreparedData,
    segment_names: Sequence[str],
    model_config: Mapping[str, Any],
    likelihood: Callable[[np.ndarray, Any], Any] | None = None,
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
        ``likelihood(counts, log_alpha) -> (author, segment)`` log-pmf tensor replacing the sparse
        Dirichlet-multinomial (benchmarks only).

    Returns
    -------
    pymc.Model
        Free variables ``population_logit``, ``deviation_sd``, ``deviation``,
        ``log_concentration_mu``, ``log_concentration_sd``, ``log_concentration`` (or
        ``log_concentration_raw``), ``intercept_free``, ``slope_free``; deterministics
        ``profile``, ``concentration``, ``intercept``, ``slope``; the log-likelihood as a Potential.
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
    coords = {
        "author": counts["author"].values,
        "category": categories,
        "segment": segment_names,
        "segment_free": segment_names[1:],
        "covariate": cov_names,
    }
    offsets = anchor_offsets(cfg["anchors"], cfg["anchor_lift"], categories, k)
    with pm.Model(coords=coords) as model:
        eta0 = pm.ZeroSumNormal("population_logit", sigma=cfg["population_sigma"], dims="category")
        dev_sd = pm.HalfNormal("deviation_sd", sigma=cfg["deviation_sigma"])
        # centred: each segment's profile is identified by thousands of counts, where a
        # centred hierarchy samples with far shorter trajectories than a non-centred one.
        # Zero-sum over segments too: the population profile is the centre of the segment
        # profiles, so (η0 + c, δ_k - c) is no longer a ridge the likelihood cannot see
        delta = pm.ZeroSumNormal("deviation", sigma=dev_sd, dims=("segment", "category"), n_zerosum_axes=2)
        log_theta = log_softmax(eta0[None, :] + delta + offsets, axis=1)
        pm.Deterministic("profile", pt.exp(log_theta), dims=("segment", "category"))
        mu_k = pm.Normal("log_concentration_mu", *cfg["log_concentration_mu"])
        sd_k = pm.HalfNormal("log_concentration_sd", sigma=cfg["log_concentration_sigma"])
        if centred_concentration(cfg["concentration_parametrization"], x.shape[0], k):
            # each concentration is identified by the many authors of its segment; the
            # non-centred form would make a banana with s_κ (demo: bulk ESS of s_κ 38 of 800)
            log_kappa = pm.Normal("log_concentration", mu_k, sd_k, dims="segment")
        else:
            # few authors per segment: the centred form would make a funnel (divergences)
            w = pm.Normal("log_concentration_raw", 0.0, 1.0, dims="segment")
            log_kappa = mu_k + sd_k * w
        pm.Deterministic("concentration", pt.exp(log_kappa), dims="segment")
        gamma_free = pm.Normal("intercept_free", 0.0, cfg["intercept_sigma"], dims="segment_free")
        gamma = pm.Deterministic("intercept", pt.concatenate([pt.zeros(1), gamma_free]), dims="segment")
        eta = pt.broadcast_to(gamma[None, :], (x.shape[0], k))
        if cov_names:
            # a fixed weakly informative scale on standardised covariates: with P (K - 1)
            # slopes, a learnt common scale is barely identified and either form of that
            # hierarchy slows NUTS (non-centred: a banana; centred: a funnel)
            b = pm.Normal("slope_free", 0.0, cfg["slope_sigma"], dims=("covariate", "segment_free"))
            beta = pm.Deterministic(
                "slope",
                pt.concatenate([pt.zeros((len(cov_names), 1)), b], axis=1),
                dims=("covariate", "segment"),
            )
            eta = eta + pt.as_tensor_variable(x) @ beta
        log_pi = log_softmax(eta, axis=1)
        log_alpha = log_kappa[:, None] + log_theta
        if likelihood is None:
            log_dm = dm_logpmf_tensor(data.sparse, log_alpha)
        else:
            log_dm = likelihood(counts.values, log_alpha)
        per_author = pt.logsumexp(log_pi + log_dm, axis=1)
        if data.weights is not None:  # pseudo-likelihood of a weighted sample
            per_author = pt.as_tensor_variable(data.weights) * per_author
        pm.Potential("log_likelihood", per_author.sum())
    return model
