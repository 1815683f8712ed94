r"""The segmentation model: a hierarchical Dirichlet-multinomial latent-class mixture with gating.

For author *i* with label counts :math:`y_i \in \mathbb{N}^C` and standardised covariates
:math:`x_i \in \mathbb{R}^P`, segments :math:`k = 1..K`:

.. math::

    \pi_{ik} &= \operatorname{softmax}_k(\gamma_k + x_i^\top \beta_k),
        \quad \gamma_1 = \beta_1 = 0 \\
    y_i \mid z_i = k &\sim \operatorname{DirichletMultinomial}(n_i, \kappa_k \theta_k) \\
    \log p(y_i \mid x_i) &= \operatorname{logsumexp}_k [\log \pi_{ik} + \log \mathrm{DM}(y_i \mid \kappa_k\theta_k)]

The segment indicator is marginalised, so NUTS samples continuous parameters only. The segment
profiles shrink toward a population profile through a logistic-normal hierarchy,

.. math::

    \theta_k = \operatorname{softmax}(\eta_0 + \delta_k + a_k), \quad
    \eta_0 \sim \text{ZeroSumNormal}(s_0), \;
    \delta \sim \text{ZeroSumNormal}(\sigma_\delta) \text{ (zero-sum over segments and categories)}, \;
    \sigma_\delta \sim \text{HalfNormal},

a form of the design's ``θ_k ~ Dirichlet(τ θ_0)`` with the same meaning (segments are departures
from the population profile, of a learnt size) but unconstrained, which NUTS prefers; the
double zero-sum makes :math:`\eta_0` the centre of the segment logits and removes a ridge the
likelihood cannot identify. ``a_k`` is zero except for *anchored* segments, where it adds a prior
log-lift to the categories of a taxonomy rule (e.g. luxury brands): rules act as priors, never
filters. Concentrations are partially pooled, ``log κ_k ~ Normal(μ_κ, s_κ)``; gating slopes
``β ~ Normal(0, σ_β)`` with a fixed scale on standardised covariates. The deviations are centred:
each profile is identified by thousands of counts, where a centred hierarchy samples with the
shortest trajectories. The concentrations are centred from 250 authors per segment on average
and non-centred below (``model_config["concentration_parametrization"]``), where a centred form
would make a funnel. Chains start at an EM mode (:mod:`bayesseg.start`).

After sampling, draws are relabelled (:func:`bayesseg.relabel.stephens`) and the gating
coefficients re-expressed against segment 0, so every summary and R-hat refers to one labelling.

References
----------
Dayton, C. M., & Macready, G. B. (1988). Concomitant-variable latent-class models. *Journal of the
American Statistical Association* 83(401), 173-178. https://doi.org/10.1080/01621459.1988.10478584

Holmes, I., Harris, K., & Quince, C. (2012). Dirichlet multinomial mixtures: generative models for
microbial metagenomics. *PLoS ONE* 7(2), e30126. https://doi.org/10.1371/journal.pone.0030126

Stephens, M. (2000). Dealing with label switching in mixture models. *JRSS B* 62(4), 795-809.
https://doi.org/10.1111/1467-9868.00265

Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432. https://doi.org/10.1007/s11222-016-9696-4
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from bayesseg import __version__
from bayesseg.likelihood import SparseCounts, dm_logpmf_parts, dm_logpmf_rows, dm_logpmf_sparse, dm_logpmf_tensor
from bayesseg.relabel import apply_permutation, stephens

__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_SAMPLER_CONFIG",
    "ModelFileError",
    "SegmentModel",
    "compare_k",
]

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "population_sigma": 3.0,  # η0 ~ ZeroSumNormal(σ): population log-profile, weakly informative
    "deviation_sigma": 1.0,  # σ_δ ~ HalfNormal(·): size of segment departures from the population
    "log_concentration_mu": [3.9, 1.5],  # μ_κ ~ Normal(log 50, 1.5)
    "log_concentration_sigma": 0.5,  # s_κ ~ HalfNormal(·): pooling of concentrations
    "intercept_sigma": 2.0,  # γ_k ~ Normal(0, ·), k > 0
    "slope_sigma": 1.0,  # β_k ~ Normal(0, ·) per standardised covariate, k > 0
    "anchor_lift": 1.4,  # prior log-lift (≈ ×4) of an anchored segment's rule categories
    # "centred", "non_centred" or "auto" (centred from 250 authors per segment on average)
    "concentration_parametrization": "auto",
    "anchors": {},  # segment name -> list of categories (from taxonomy rules)
}
"""Priors of :class:`SegmentModel` (plain, JSON-serialisable)."""

DEFAULT_SAMPLER_CONFIG: dict[str, Any] = {
    "sampler": "nutpie",  # "nutpie" (default), "pymc", "numpyro" (needs jax) or "advi" (approximate, see fit)
    "chains": 2,
    "tune": 500,
    "draws": 500,
    "target_accept": 0.9,
    "nutpie_low_rank": True,  # nutpie's low-rank modified mass matrix (see SegmentModel.fit)
    "random_seed": 0,
    "progressbar": True,
    "advi_iterations": 20_000,  # for sampler="advi"
    "init": "em",  # "em": every chain starts at an EM mode (bayesseg.start); "default": PyMC's jittered default
    # k-means + EM restarts for init="em"; 4 missed the best mode on one of three bootstrap
    # resamples of the demo (EM log-likelihood 628 lower, ARI vs truth 0.72 instead of 0.79)
    "em_restarts": 16,
    "relabel_authors": 1_000,  # authors used to find the relabelling (a random subset)
    "membership_draws": 400,  # posterior draws (thinned) used for memberships
}
"""Sampler settings of :class:`SegmentModel` (plain, JSON-serialisable)."""

_CENTRED_AUTHORS_PER_SEGMENT = 250
_SEGMENT_VARS = ("profile", "concentration", "intercept", "slope")
_SAMPLERS = ("nutpie", "pymc", "numpyro", "advi")
_FILE_FORMAT = 2  # 2: anchors stored in order (format 1 sorted them by name)


@dataclass(frozen=True)
class _Prepared:
    """Validated data of one fit: counts, raw covariates, standardised covariates, sparse counts."""

    counts: xr.DataArray
    covariates: xr.DataArray | None
    x: np.ndarray
    sparse: SparseCounts
    weights: np.ndarray | None = None


class ModelFileError(ValueError):
    """A saved model cannot be used: other config, incompatible version, or a damaged file."""


def _check_counts(counts: xr.DataArray) -> xr.DataArray:
    if not isinstance(counts, xr.DataArray) or set(counts.dims) != {"author", "category"}:
        raise ValueError("counts must be an xarray.DataArray with dims ('author', 'category')")
    counts = counts.transpose("author", "category")
    values = counts.values
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(
            f"counts must be non-negative integers: author {counts['author'].values[r].item()!r}, "
            f"category {counts['category'].values[c].item()!r} holds {values[r, c].item()!r}"
        )
    empty = values.sum(axis=1) == 0
    if empty.any():
        ids = counts["author"].values[empty][:5].tolist()
        raise ValueError(f"{int(empty.sum())} author(s) have no counts at all (e.g. {ids}); exclude them first")
    ids = pd.Index(counts["author"].values)
    if not ids.is_unique:
        raise ValueError(f"author ids in counts must be unique; repeated: {ids[ids.duplicated()][:5].tolist()}")
    return counts


def _check_covariates(covariates: xr.DataArray | None, authors: np.ndarray) -> xr.DataArray | None:
    if covariates is None:
        return None
    if not isinstance(covariates, xr.DataArray) or set(covariates.dims) != {"author", "covariate"}:
        raise ValueError("covariates must be an xarray.DataArray with dims ('author', 'covariate')")
    covariates = covariates.transpose("author", "covariate")
    missing = np.setdiff1d(authors, covariates["author"].values)
    if missing.size:
        raise ValueError(f"{missing.size} author(s) of counts have no covariates, e.g. {missing[:5].tolist()}")
    covariates = covariates.sel(author=authors)
    values = covariates.values.astype(float)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(
            f"covariates must be finite: author {authors[r].item()!r}, covariate "
            f"{covariates['covariate'].values[c].item()!r} holds {values[r, c].item()!r}"
        )
    return covariates


_MEMBERSHIP_STATS = ("prob_mean", "prob_low", "prob_high", "p_modal")


def _membership_dataset(stats: np.ndarray, authors: np.ndarray, segments: list[str], ci_prob: float) -> xr.Dataset:
    """The membership Dataset of :meth:`SegmentModel.predict_proba` from (author, segment, 4) stats."""
    mean = stats[..., 0]
    entropy = -(mean * np.log(np.maximum(mean, 1e-300))).sum(axis=-1)
    dims = ("author", "segment")
    data: dict[str, Any] = {name: (dims, stats[..., j]) for j, name in enumerate(_MEMBERSHIP_STATS)}
    data["entropy"] = ("author", entropy)
    return xr.Dataset(data, coords={"author": authors, "segment": segments}, attrs={"ci_prob": ci_prob})


def _check_weights(weights: Any, authors: np.ndarray) -> np.ndarray | None:
    """Sampling weights aligned with the authors: positive and finite, or ``None``."""
    if weights is None:
        return None
    if isinstance(weights, xr.DataArray):
        if weights.dims != ("author",):
            raise ValueError(f"weights must have dims ('author',), got {weights.dims}")
        missing = np.setdiff1d(authors, weights["author"].values)
        if missing.size:
            raise ValueError(f"weights lack {missing.size} author(s) of the counts, e.g. {missing[:3].tolist()}")
        weights = weights.sel(author=authors).values
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(authors),):
        raise ValueError(f"weights must have one value per author ({len(authors)}), got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w <= 0))
    if bad.size:
        raise ValueError(f"weights must be positive and finite; author {authors[bad[0]].item()!r} has {w[bad[0]]}")
    return w


def _log_softmax(a: np.ndarray, axis: int = -1) -> np.ndarray:
    return a - special.logsumexp(a, axis=axis, keepdims=True)


def _logsumexp_last(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=-1)) for finite `a`: scipy's logsumexp without its generality (3x faster)."""
    top = a.max(axis=-1, keepdims=True)
    return top[..., 0] + np.log(np.exp(a - top).sum(axis=-1))


class SegmentModel:
    """Hierarchical Dirichlet-multinomial latent-class mixture with multinomial-logit gating.

    Parameters
    ----------
    n_segments : int
        Number of segments K (>= 2).
    model_config : dict, optional
        Priors; missing keys take :data:`DEFAULT_MODEL_CONFIG`'s values. ``anchors`` maps a
        segment name to the categories of the rule that anchors it; anchored segments come
        first, in the order given, and carry their names into every output.
    sampler_config : dict, optional
        Sampler settings; missing keys take :data:`DEFAULT_SAMPLER_CONFIG`'s values.

    Attributes
    ----------
    idata : xarray.DataTree or None
        After :meth:`fit`: groups ``posterior`` (relabelled), ``sample_stats``,
        ``log_likelihood`` (pointwise, variable ``y``, dim ``author``, multinomial coefficient
        included), ``observed_data`` (``counts``) and ``constant_data`` (``covariates``).

    Raises
    ------
    ValueError
        If `n_segments` < 2, more segments are anchored than exist, or a config key is unknown.

    Examples
    --------
    >>> model = SegmentModel(4).fit(counts, covariates)  # doctest: +SKIP
    >>> model.memberships()  # doctest: +SKIP
    """

    def __init__(
        self,
        n_segments: int,
        model_config: dict[str, Any] | None = None,
        sampler_config: dict[str, Any] | None = None,
    ) -> None:
        if int(n_segments) < 2:
            raise ValueError(f"n_segments must be at least 2, got {n_segments}")
        self.n_segments = int(n_segments)
        for given, default, name in (
            (model_config, DEFAULT_MODEL_CONFIG, "model_config"),
            (sampler_config, DEFAULT_SAMPLER_CONFIG, "sampler_config"),
        ):
            unknown = set(given or {}) - set(default)
            if unknown:
                raise ValueError(f"unknown {name} key(s) {sorted(unknown)}; known: {sorted(default)}")
        self.model_config = {**copy.deepcopy(DEFAULT_MODEL_CONFIG), **copy.deepcopy(model_config or {})}
        self.sampler_config = {**DEFAULT_SAMPLER_CONFIG, **(sampler_config or {})}
        if self.model_config["concentration_parametrization"] not in ("auto", "centred", "non_centred"):
            raise ValueError(
                "concentration_parametrization must be 'auto', 'centred' or 'non_centred', "
                f"got {self.model_config['concentration_parametrization']!r}"
            )
        if self.sampler_config["init"] not in ("em", "default"):
            raise ValueError(f"unknown init {self.sampler_config['init']!r}: choose 'em' or 'default'")
        if self.sampler_config["sampler"] not in _SAMPLERS:
            raise ValueError(
                f"unknown sampler {self.sampler_config['sampler']!r}: choose one of {', '.join(_SAMPLERS)}"
            )
        anchors = self.model_config["anchors"]
        if len(anchors) > self.n_segments:
            raise ValueError(f"{len(anchors)} anchored segments but only {self.n_segments} segments")
        self.idata: xr.DataTree | None = None

    # ------------------------------------------------------------------ identity
    @property
    def segment_names(self) -> list[str]:
        """Segment names: anchored segments by name, then ``segment_k``."""
        named = list(self.model_config["anchors"])
        return named + [f"segment_{k}" for k in range(len(named), self.n_segments)]

    @property
    def covariate_scale(self) -> pd.DataFrame:
        """Means and standard deviations that standardise the covariates (from the fitted authors).

        Returns
        -------
        pandas.DataFrame
            Index ``covariate``; columns ``mean`` and ``sd`` in the covariates' raw units. A slope
            is a change in log-odds per ``sd`` of its covariate.

        Raises
        ------
        RuntimeError
            If the model is not fitted.
        """
        self._require_fit()
        return pd.DataFrame(
            {"mean": getattr(self, "_x_mean", []), "sd": getattr(self, "_x_sd", [])},
            index=pd.Index(self.covariate_names, name="covariate"),
        )

    def config_dict(self) -> dict[str, Any]:
        """Everything that defines the model (not the sampler): K and the priors.

        The anchors are a list of ``[name, categories]`` pairs: their order is the segments'
        order, which a JSON object with sorted keys would lose.
        """
        config = dict(self.model_config)
        config["anchors"] = [[name, list(cats)] for name, cats in self.model_config["anchors"].items()]
        return {"n_segments": self.n_segments, "model_config": config}

    @property
    def config_hash(self) -> str:
        """SHA-256 of :meth:`config_dict` (JSON, sorted keys): identifies the model specification."""
        return hashlib.sha256(json.dumps(self.config_dict(), sort_keys=True).encode()).hexdigest()

    # ------------------------------------------------------------------ model
    def _prepare(self, counts: xr.DataArray, covariates: xr.DataArray | None, weights: Any = None) -> _Prepared:
        """Validate the data once; standardise covariates (storing their mean and sd)."""
        counts = _check_counts(counts)
        authors = counts["author"].values
        covariates = _check_covariates(covariates, authors)
        sparse_counts = SparseCounts.from_dense(counts.values)
        w = _check_weights(weights, authors)
        if covariates is None:
            return _Prepared(counts, None, np.zeros((len(authors), 0)), sparse_counts, w)
        values = covariates.values.astype(float)
        sd = values.std(axis=0)
        flat = np.flatnonzero(sd == 0)
        if flat.size:
            raise ValueError(
                f"covariate {covariates['covariate'].values[flat[0]].item()!r} has no variance; "
                "it cannot drive membership"
            )
        self._x_mean, self._x_sd = values.mean(axis=0), sd
        return _Prepared(counts, covariates, (values - self._x_mean) / self._x_sd, sparse_counts, w)

    def _anchor_offsets(self, categories: Sequence[str]) -> np.ndarray:
        offsets = np.zeros((self.n_segments, len(categories)))
        index = {c: j for j, c in enumerate(categories)}
        for k, (name, cats) in enumerate(self.model_config["anchors"].items()):
            unknown = [c for c in cats if c not in index]
            if unknown:
                raise ValueError(f"anchor {name!r} names categories absent from the counts: {unknown}")
            offsets[k, [index[c] for c in cats]] = self.model_config["anchor_lift"]
        return offsets - offsets.mean(axis=1, keepdims=True)

    def _centred_concentration(self, n_authors: int) -> bool:
        choice = self.model_config["concentration_parametrization"]
        if choice == "auto":
            return n_authors / self.n_segments >= _CENTRED_AUTHORS_PER_SEGMENT
        return bool(choice == "centred")

    def build_model(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        likelihood: Any = None,
        weights: Any = None,
    ) -> Any:
        """Build the PyMC model for these data.

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts (non-negative integers; every author at least one count).
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates (e.g. log followers, log engagement rate); standardised here.
        weights : array_like or xarray.DataArray, dims (author,), optional
            Sampling weights multiplying each author's log-likelihood (see :meth:`fit`).
        likelihood : callable, optional
            ``likelihood(counts, log_alpha) -> (author, segment)`` log-pmf tensor, replacing the
            sparse Dirichlet-multinomial; only for benchmarks against other formulations
            (``benchmarks/fit_speed.py`` passes the naive dense one).

        Returns
        -------
        pymc.Model

        Raises
        ------
        ValueError
            For malformed input; the message names the author, category or covariate.
        """
        return self._build(self._prepare(counts, covariates, weights), likelihood)

    def _build(self, data: _Prepared, likelihood: Any = None) -> Any:
        import pymc as pm
        import pytensor.tensor as pt
        from pytensor.tensor.special import log_softmax

        counts, covariates, x = data.counts, data.covariates, data.x
        cfg = self.model_config
        categories = [str(c) for c in counts["category"].values]
        cov_names = [] if covariates is None else [str(c) for c in covariates["covariate"].values]
        k = self.n_segments
        coords = {
            "author": counts["author"].values,
            "category": categories,
            "segment": self.segment_names,
            "segment_free": self.segment_names[1:],
            "covariate": cov_names,
        }
        offsets = self._anchor_offsets(categories)
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
            if self._centred_concentration(x.shape[0]):
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

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        progressbar: bool | None = None,
        likelihood: Any = None,
        weights: Any = None,
    ) -> SegmentModel:
        """Sample the posterior, relabel it, and compute the pointwise log-likelihood.

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates.
        weights : array_like or xarray.DataArray, dims (author,), optional
            Sampling weights of a sample drawn with unequal probabilities (e.g.
            :func:`bayesseg.pipeline.sample_design`): each author's log-likelihood is multiplied
            by its weight, a pseudo-posterior whose population-level parameters (gating,
            profiles, concentrations) target the population rather than the sample. Pass them
            normalised to sum to the number of authors, so the posterior keeps the sample's
            amount of information. Stored in ``constant_data`` as ``sample_weight``; the
            pointwise log-likelihood (for LOO) stays unweighted.
        progressbar : bool, optional
            Overrides ``sampler_config["progressbar"]``.
        likelihood : callable, optional
            See :meth:`build_model` (benchmarks only).

        Returns
        -------
        SegmentModel
            `self`, fitted (``idata`` set).

        Raises
        ------
        ValueError
            For malformed input.

        Notes
        -----
        ``nutpie`` (default), ``pymc`` and ``numpyro`` run NUTS (Hoffman & Gelman 2014,
        https://jmlr.org/papers/v15/hoffman14a.html); ``numpyro`` needs the optional ``jax``
        extra. ``advi`` fits a mean-field Gaussian approximation (Kucukelbir et al. 2017,
        https://jmlr.org/papers/v18/16-107.html) and draws from it: it is fast on large N but an
        approximation (correlations between parameters are lost; its intervals need not match
        NUTS'). Its mean starts at the EM mode, as the NUTS chains do (from PyMC's default start
        it settled in poor modes: adjusted Rand index 0.37-0.62 on 150 simulated authors × 6
        categories × K=2, where NUTS reaches > 0.9). On a techtest-size simulated warehouse
        (10,000 fit authors, 28,757 scored) its modal segments agree with NUTS' for 99.8 % of
        authors (``benchmarks/variational.py``, benchmarks/RESULTS.md). Check it against NUTS
        on a subsample of new data before relying on it.

        With `weights` the posterior is the pseudo-posterior of Savitsky & Toth (2016,
        https://doi.org/10.1214/16-EJS1153): consistent for the population's parameters under
        informative sampling when the weights sum to the sample size.
        """
        import pymc as pm

        cfg = self.sampler_config
        data = self._prepare(counts, covariates, weights)
        model = self._build(data, likelihood)
        show = cfg["progressbar"] if progressbar is None else progressbar
        sampler = cfg["sampler"]
        started = time.perf_counter()
        start_kwargs: dict[str, Any] = {}
        self.start_ = None
        if cfg["init"] == "em":
            from bayesseg.start import em_start

            categories = [str(c) for c in data.counts["category"].values]
            self.start_ = em_start(
                data.counts.values,
                data.x,
                self.n_segments,
                self._anchor_offsets(categories),
                n_restarts=cfg["em_restarts"],
                seed=cfg["random_seed"],
            )
            free = {rv.name for rv in model.free_RVs}
            start_kwargs["initvals"] = {name: v for name, v in self.start_.initvals.items() if name in free}
            if sampler == "nutpie":  # start every chain exactly at the mode (no jitter)
                start_kwargs["compile_kwargs"] = {"jitter_rvs": set()}
            elif sampler == "pymc":
                start_kwargs["init"] = "adapt_diag"
        with model:
            if sampler in ("nutpie", "pymc", "numpyro"):
                trace = pm.sample(
                    **start_kwargs,
                    draws=cfg["draws"],
                    tune=cfg["tune"],
                    chains=cfg["chains"],
                    cores=min(cfg["chains"], os.cpu_count() or 1),
                    target_accept=cfg["target_accept"],
                    random_seed=cfg["random_seed"],
                    nuts_sampler=sampler,
                    progressbar=show,
                    compute_convergence_checks=False,
                    **self._sampler_kwargs(sampler),
                )
            else:  # "advi", an approximation (see Notes)
                approx = pm.fit(
                    n=cfg["advi_iterations"],
                    method="advi",
                    random_seed=cfg["random_seed"],
                    progressbar=show,
                    # the mean starts at the EM mode (init="em"), as the NUTS chains do: without it
                    # ADVI settles in whichever mode of the label-switched posterior it meets
                    start=start_kwargs.get("initvals"),
                )
                trace = approx.sample(draws=cfg["draws"] * cfg["chains"], random_seed=cfg["random_seed"])
        self.sampling_time_ = time.perf_counter() - started  # compile included for nutpie
        self._set_posterior(trace, data)
        return self

    def _sampler_kwargs(self, sampler: str) -> dict[str, Any]:
        if sampler == "nutpie" and self.sampler_config["nutpie_low_rank"]:
            # a low-rank modified mass matrix absorbs the correlations between the population
            # profile, the segment departures and the concentrations: on 400 authors × 20
            # categories × K=3 it cut leapfrog steps per draw from 232 to 15
            return {"nuts": {"adaptation": "low_rank"}}
        return {}

    def _set_posterior(self, trace: xr.DataTree, data: _Prepared) -> None:
        counts, covariates = data.counts, data.covariates
        post = trace["posterior"].to_dataset()
        stacked = {name: post[name].values for name in _SEGMENT_VARS if name in post}
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        flat = {name: v.reshape(n_chain * n_draw, *v.shape[2:]) for name, v in stacked.items()}
        if "slope" not in flat:
            flat["slope"] = np.zeros((n_chain * n_draw, 0, self.n_segments))
        self.categories = [str(c) for c in counts["category"].values]
        self.covariate_names = [] if covariates is None else [str(c) for c in covariates["covariate"].values]
        x_all, sparse_counts = data.x, data.sparse

        # relabel on a random subset of authors, then re-reference the gating to segment 0
        rng = np.random.default_rng(self.sampler_config["random_seed"])
        n = counts.sizes["author"]
        sub = np.sort(rng.choice(n, size=min(n, self.sampler_config["relabel_authors"]), replace=False))
        sub_counts = SparseCounts.from_dense(counts.values[sub])
        probs = np.exp(self._log_membership(flat, sub_counts, x_all[sub])[0])
        perm = stephens(probs)
        flat["profile"] = apply_permutation(flat["profile"], perm, axis=1)
        flat["concentration"] = apply_permutation(flat["concentration"], perm, axis=1)
        flat["intercept"] = apply_permutation(flat["intercept"], perm, axis=1)
        flat["slope"] = apply_permutation(flat["slope"], perm, axis=2)
        flat["intercept"] = flat["intercept"] - flat["intercept"][:, :1]
        flat["slope"] = flat["slope"] - flat["slope"][:, :, :1]
        self.relabelled_draws_ = int((perm != np.arange(self.n_segments)).any(axis=1).sum())

        def unflat(v: np.ndarray) -> np.ndarray:
            return v.reshape(n_chain, n_draw, *v.shape[1:])

        coords = {
            "chain": post["chain"].values,
            "draw": post["draw"].values,
            "segment": self.segment_names,
            "category": self.categories,
            "covariate": self.covariate_names,
            "author": counts["author"].values,
        }
        data_vars: dict[str, Any] = {
            "profile": (("chain", "draw", "segment", "category"), unflat(flat["profile"])),
            "concentration": (("chain", "draw", "segment"), unflat(flat["concentration"])),
            "intercept": (("chain", "draw", "segment"), unflat(flat["intercept"])),
            "slope": (("chain", "draw", "covariate", "segment"), unflat(flat["slope"])),
        }
        for name in ("deviation_sd", "log_concentration_mu", "log_concentration_sd"):
            if name in post:
                data_vars[name] = (("chain", "draw"), post[name].values)
        data_vars["population_profile"] = (
            ("chain", "draw", "category"),
            special.softmax(post["population_logit"].values, axis=-1),
        )
        posterior = xr.Dataset(
            data_vars, coords={k: v for k, v in coords.items() if k != "author"}, attrs=dict(post.attrs)
        )
        pointwise = np.concatenate(
            [
                self._log_membership({k: v[i : i + 200] for k, v in flat.items()}, sparse_counts, x_all)[1]
                for i in range(0, flat["profile"].shape[0], 200)
            ]
        )
        log_lik = xr.Dataset(
            {"y": (("chain", "draw", "author"), unflat(pointwise))},
            coords={"chain": coords["chain"], "draw": coords["draw"], "author": coords["author"]},
        )
        groups = {
            "posterior": posterior,
            "log_likelihood": log_lik,
            "observed_data": xr.Dataset({"counts": counts.astype(np.int64)}),
        }
        if "sample_stats" in trace.children:
            groups["sample_stats"] = trace["sample_stats"].to_dataset()
        constant: dict[str, Any] = {}
        if covariates is not None:
            constant["covariates"] = covariates.astype(float)
        if data.weights is not None:
            constant["sample_weight"] = xr.DataArray(data.weights, dims="author", coords={"author": coords["author"]})
        if constant:
            groups["constant_data"] = xr.Dataset(constant)
        tree = xr.DataTree.from_dict(groups)
        tree.attrs.update(self._attrs())
        self.idata = tree

    def _standardise(self, covariates: xr.DataArray | None, n_authors: int) -> np.ndarray:
        if not self.covariate_names:
            return np.zeros((n_authors, 0))
        if covariates is None:
            raise ValueError(f"this model needs covariates {self.covariate_names}")
        missing = [c for c in self.covariate_names if c not in covariates["covariate"].values]
        if missing:
            raise ValueError(f"covariates lack {missing}")
        values = covariates.sel(covariate=self.covariate_names).transpose("author", "covariate").values.astype(float)
        return (values - self._x_mean) / self._x_sd

    def _attrs(self) -> dict[str, Any]:
        return {
            "bayesseg_version": __version__,
            "file_format": _FILE_FORMAT,
            "config": json.dumps(self.config_dict(), sort_keys=True),
            "config_hash": self.config_hash,
            "sampler_config": json.dumps(self.sampler_config, sort_keys=True),
            "covariate_mean": json.dumps(list(map(float, getattr(self, "_x_mean", [])))),
            "covariate_sd": json.dumps(list(map(float, getattr(self, "_x_sd", [])))),
            "relabelled_draws": getattr(self, "relabelled_draws_", 0),
            "sampling_time_s": float(getattr(self, "sampling_time_", float("nan"))),
        }

    @staticmethod
    def _log_dm(params: dict[str, np.ndarray], counts: SparseCounts) -> np.ndarray:
        """Per draw: log DM(y_i | alpha_k) of every author under every segment, (S, N, K)."""
        log_alpha = np.log(params["concentration"])[..., None] + np.log(params["profile"])
        return dm_logpmf_sparse(counts, log_alpha)

    def segment_log_predictive(self, counts: np.ndarray, max_draws: int | None = None) -> np.ndarray:
        r"""Posterior predictive log density of count vectors under each segment.

        :math:`\log \frac{1}{S} \sum_s \mathrm{DM}(y_i \mid \kappa_k^{(s)} \theta_k^{(s)})` for every
        row and segment (multinomial coefficient included), without the gating: the density of
        the labels given that segment k made them (e.g. a new post, :func:`bayesseg.content.rank_posts`).

        Parameters
        ----------
        counts : numpy.ndarray of int, shape (n, category)
            Counts in the order of the model's ``categories``; every row with at least one count.
        max_draws : int, optional
            Thin the posterior to at most this many draws (default ``membership_draws``).

        Returns
        -------
        numpy.ndarray, shape (n, segment)
            In nats, segments in the order of :attr:`segment_names`.

        Raises
        ------
        RuntimeError
            If the model is not fitted.

        References
        ----------
        Gelman, A., Carlin, J. B., Stern, H. S., Dunson, D. B., Vehtari, A., & Rubin, D. B. (2013).
        *Bayesian Data Analysis*, 3rd ed., ch. 1.3. CRC Press. https://doi.org/10.1201/b16018
        """
        params = self._thinned_params(max_draws)
        log_dm = self._log_dm(params, SparseCounts.from_dense(counts))  # (S, N, K)
        return special.logsumexp(log_dm, axis=0) - np.log(log_dm.shape[0])

    @classmethod
    def _log_membership(
        cls,
        params: dict[str, np.ndarray],
        counts: SparseCounts,
        x: np.ndarray,
        loglik: bool = True,
        log_dm: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per draw: log r_ik (S, N, K) and the pointwise log-likelihood (S, N) (with `loglik`).

        `log_dm` (S, N, K), when given, is used (and overwritten) instead of computing it.
        """
        joint = cls._log_dm(params, counts) if log_dm is None else log_dm  # (S, N, K)
        # gating η = γ + x β, one multiply-add per covariate (elementwise: the same bits for an
        # author whatever the batch it is in)
        eta = np.broadcast_to(params["intercept"][:, None, :], joint.shape).copy()
        for p in range(x.shape[1]):
            eta += x[None, :, p, None] * params["slope"][:, None, p, :]
        joint += eta  # log pi_ik + log DM, up to log sum_k exp(eta_ik) (which cancels in r_ik)
        total = _logsumexp_last(joint)
        joint -= total[..., None]
        return joint, (total - _logsumexp_last(eta)) if loglik else None

    # ------------------------------------------------------------------ results
    def _require_fit(self) -> xr.DataTree:
        if self.idata is None:
            raise RuntimeError("the model is not fitted: call fit() or load() first")
        return self.idata

    def _thinned_params(self, max_draws: int | None = None) -> dict[str, np.ndarray]:
        post = self._require_fit()["posterior"].to_dataset()
        total = post.sizes["chain"] * post.sizes["draw"]
        keep = max_draws or self.sampler_config["membership_draws"]
        idx = np.unique(np.linspace(0, total - 1, min(total, keep)).round().astype(int))
        out = {}
        for name in _SEGMENT_VARS:
            v = post[name].values
            # contiguous copies: the same memory layout in memory and after load, so the same
            # floating-point summation order and bit-identical memberships
            out[name] = np.ascontiguousarray(v.reshape(total, *v.shape[2:])[idx], dtype=np.float64)
        return out

    def _new_authors(
        self, counts: xr.DataArray, covariates: xr.DataArray | None
    ) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
        """Checked counts in the model's category order, their authors, standardised covariates."""
        self._require_fit()
        counts = _check_counts(counts)
        missing = [c for c in self.categories if c not in counts["category"].values]
        extra = [c for c in counts["category"].values if c not in self.categories]
        if missing or extra:
            raise ValueError(f"counts' categories differ from the model's: missing {missing}, unexpected {extra}")
        counts = counts.sel(category=self.categories)
        authors = counts["author"].values
        cov = _check_covariates(covariates, authors) if self.covariate_names else None
        return counts, authors, self._standardise(cov, len(authors))

    def predict_proba(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        *,
        summary: bool = True,
        ci_prob: float = 0.9,
        max_draws: int | None = None,
        batch_authors: int = 2_000,
    ) -> xr.Dataset | xr.DataArray:
        """Segment membership probabilities of (new) authors from the stored posterior.

        Vectorised NumPy over draws and authors; the PyMC model is not rebuilt or compiled.

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates with the fitted model's covariates (standardised with the fit's
            means and standard deviations).
        summary : bool, default True
            Return summaries (see :meth:`memberships`); else the per-draw probabilities.
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed interval.
        max_draws : int, optional
            Thin the posterior to at most this many draws (default ``membership_draws``).
        batch_authors : int, default 2000
            Authors per batch (bounds memory: batch × draws × segments floats).

        Returns
        -------
        xarray.Dataset or xarray.DataArray
            With ``summary``: variables ``prob_mean``, ``prob_low``, ``prob_high``,
            ``p_modal`` (dims author, segment) and ``entropy`` (author; nats, of the posterior
            mean probabilities). Without: ``probability`` with dims (sample, author, segment).

        Raises
        ------
        ValueError
            If categories or covariates do not match the fitted model, or counts are malformed.
        """
        counts, authors, x = self._new_authors(counts, covariates)
        params = self._thinned_params(max_draws)
        segs = self.segment_names
        if summary:
            stats = self._membership_summary(params, counts.values, x, ci_prob, batch_authors)
            return _membership_dataset(stats, authors, segs, ci_prob)
        pieces = []
        for start in range(0, len(authors), batch_authors):
            sl = slice(start, start + batch_authors)
            log_r, _ = self._log_membership(params, SparseCounts.from_dense(counts.values[sl]), x[sl])
            pieces.append(np.exp(log_r))  # (S, n, K)
        return xr.DataArray(
            np.concatenate(pieces, axis=1),
            dims=("sample", "author", "segment"),
            coords={"author": authors, "segment": segs},
            name="probability",
        )

    @classmethod
    def _membership_summary(
        cls, params: dict[str, np.ndarray], counts: np.ndarray, x: np.ndarray, ci_prob: float, batch_authors: int
    ) -> np.ndarray:
        """Membership summaries of authors, (author, segment, 4), in batches bounding memory.

        The mean, interval bounds and P(modal) of r_ik over the draws in `params`. The
        Dirichlet-multinomial terms of the distinct (category, count) pairs and totals are
        computed once for all the authors given (the costly log-gamma calls), then reused by
        every batch. Every author's row depends only on that author, so any partition of the
        authors (NumPy batches, Dask chunks in :mod:`bayesseg.scale`) gives the same bits.
        """
        sparse_counts = SparseCounts.from_dense(counts)
        log_alpha = np.log(params["concentration"])[..., None] + np.log(params["profile"])
        parts = dm_logpmf_parts(sparse_counts, log_alpha)
        out = np.empty((counts.shape[0], params["intercept"].shape[-1], 4))
        for start in range(0, counts.shape[0], batch_authors):
            sl = slice(start, start + batch_authors)
            log_dm = dm_logpmf_rows(sparse_counts, parts, sl)
            log_r, _ = cls._log_membership(params, sparse_counts, x[sl], loglik=False, log_dm=log_dm)
            r = np.exp(log_r, out=log_r)  # (S, n, K)
            lo, hi = np.quantile(r, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
            top = r.argmax(axis=-1)  # (S, n)
            modal = (top[..., None] == np.arange(r.shape[-1])).mean(axis=0)
            out[sl] = np.stack([r.mean(axis=0), lo, hi, modal], axis=-1)
        return out

    def log_predictive_density(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        *,
        max_draws: int | None = None,
        batch_authors: int = 2_000,
    ) -> xr.DataArray:
        r"""Log predictive density of (held-out) authors' label counts under the posterior.

        :math:`\log \frac{1}{S} \sum_s \sum_k \pi_{ik}(s) \, \mathrm{DM}(y_i \mid \alpha_k(s))`,
        the segment marginalised and the multinomial coefficient included, so that it compares
        with any other model of the same counts (e.g.
        :func:`bayesseg.evaluate.mixture_log_density` for a baseline). Summed over authors not in
        the fit it is the held-out expected log predictive density (elpd).

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates (as :meth:`predict_proba`).
        max_draws : int, optional
            Thin the posterior to at most this many draws (default ``membership_draws``).
        batch_authors : int, default 2000
            Authors per batch.

        Returns
        -------
        xarray.DataArray, dims (author,)
            In nats.

        Raises
        ------
        ValueError
            As :meth:`predict_proba`.

        References
        ----------
        Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using
        leave-one-out cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432.
        https://doi.org/10.1007/s11222-016-9696-4
        """
        counts, authors, x = self._new_authors(counts, covariates)
        params = self._thinned_params(max_draws)
        out = []
        for start in range(0, len(authors), batch_authors):
            sl = slice(start, start + batch_authors)
            _, ll = self._log_membership(params, SparseCounts.from_dense(counts.values[sl]), x[sl])
            assert ll is not None
            out.append(special.logsumexp(ll, axis=0) - np.log(ll.shape[0]))
        return xr.DataArray(
            np.concatenate(out), dims=("author",), coords={"author": authors}, name="log_predictive_density"
        )

    def memberships(self, ci_prob: float = 0.9) -> xr.Dataset:
        """Membership summaries of the fitted authors.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed interval.

        Returns
        -------
        xarray.Dataset
            ``prob_mean`` (posterior mean of r_ik), ``prob_low``/``prob_high`` (interval),
            ``p_modal`` (P(most likely segment = k)), dims (author, segment); ``entropy``
            (author) of the mean probabilities.
        """
        tree = self._require_fit()
        counts = tree["observed_data"].to_dataset()["counts"]
        cov = tree["constant_data"].to_dataset().get("covariates") if "constant_data" in tree.children else None
        out = self.predict_proba(counts, cov, ci_prob=ci_prob)
        assert isinstance(out, xr.Dataset)
        return out

    def posterior_predictive(self, n_authors: int = 2_000, n_draws: int = 100, seed: int = 0) -> xr.DataTree:
        r"""Replicate the fitted authors' counts from the posterior predictive distribution.

        For each of `n_draws` thinned posterior draws and each of `n_authors` fitted authors
        (a random subset), the segment is drawn from the gating probabilities
        :math:`\\pi_{ik}` (not from its posterior given :math:`y_i`, so the check tests the
        marginal model that LOO scores), then :math:`p \\sim \\mathrm{Dirichlet}(\\kappa_z\\theta_z)`
        and :math:`y^{rep}_i \\sim \\mathrm{Multinomial}(n_i, p)` with the author's observed total.

        Parameters
        ----------
        n_authors : int, default 2000
            Authors replicated (all when fewer were fitted).
        n_draws : int, default 100
            Posterior draws used (thinned evenly).
        seed : int, default 0
            Seed of the subset and of the replication.

        Returns
        -------
        xarray.DataTree
            Groups ``posterior_predictive`` (dims ``chain`` of length 1, ``draw``, ``author``
            and, for ``counts``, ``category``) and ``observed_data`` with the variables
            ``counts`` (label counts), ``n_categories`` (distinct categories per author) and
            ``max_share`` (share of the author's largest category), ready for
            ``arviz_plots.plot_ppc_*``.

        References
        ----------
        Gelman, A., Meng, X.-L., & Stern, H. (1996). Posterior predictive assessment of model
        fitness via realized discrepancies. *Statistica Sinica* 6(4), 733-760.
        https://www.jstor.org/stable/24306036
        """
        tree = self._require_fit()
        counts = tree["observed_data"].to_dataset()["counts"]
        cov = tree["constant_data"].to_dataset().get("covariates") if "constant_data" in tree.children else None
        rng = np.random.default_rng(seed)
        n = counts.sizes["author"]
        sub = np.sort(rng.choice(n, size=min(n, n_authors), replace=False))
        y = counts.values[sub].astype(np.int64)
        x = self._standardise(None if cov is None else cov.isel(author=sub), len(sub))
        params = self._thinned_params(n_draws)
        totals = y.sum(axis=1)
        eta = params["intercept"][:, None, :] + np.einsum("np,spk->snk", x, params["slope"])
        gate = special.softmax(eta, axis=-1)  # (S, n, K)
        cum = gate.cumsum(axis=-1)
        u = rng.random(gate.shape[:2])[..., None]
        z = np.minimum((cum < u).sum(axis=-1), self.n_segments - 1)  # (S, n)
        alpha = params["concentration"][..., None] * params["profile"]  # (S, K, C)
        alpha_z = np.take_along_axis(alpha, z[..., None], axis=1)  # (S, n, C)
        g = rng.gamma(alpha_z)
        p = g / np.maximum(g.sum(axis=-1, keepdims=True), 1e-300)
        # float noise can push sum(p) a hair above 1, which numpy's multinomial rejects
        p = p / p.sum(axis=-1, keepdims=True) * (1 - 1e-12)
        y_rep = rng.multinomial(np.broadcast_to(totals, z.shape), p)

        def stats(v: np.ndarray) -> dict[str, np.ndarray]:
            tot = np.maximum(v.sum(axis=-1), 1)
            return {"n_categories": (v > 0).sum(axis=-1), "max_share": v.max(axis=-1) / tot}

        authors = counts["author"].values[sub]
        categories = counts["category"].values
        rep = stats(y_rep)
        obs = stats(y)
        pp = xr.Dataset(
            {
                "counts": (("chain", "draw", "author", "category"), y_rep[None]),
                "n_categories": (("chain", "draw", "author"), rep["n_categories"][None]),
                "max_share": (("chain", "draw", "author"), rep["max_share"][None]),
            },
            coords={"chain": [0], "draw": np.arange(y_rep.shape[0]), "author": authors, "category": categories},
        )
        od = xr.Dataset(
            {
                "counts": (("author", "category"), y),
                "n_categories": ("author", obs["n_categories"]),
                "max_share": ("author", obs["max_share"]),
            },
            coords={"author": authors, "category": categories},
        )
        return xr.DataTree.from_dict({"posterior_predictive": pp, "observed_data": od})

    def summary(self, var_names: Sequence[str] = ("concentration", "intercept", "slope")) -> pd.DataFrame:
        """Posterior summary with R-hat and ESS, computed after relabelling (ArviZ).

        Parameters
        ----------
        var_names : sequence of str
            Posterior variables to summarise.

        Returns
        -------
        pandas.DataFrame
            ``arviz_stats.summary`` of the relabelled posterior; the reference segment's
            intercept and slopes (fixed at 0) are left out.
        """
        import arviz_stats

        post = self._require_fit()["posterior"].to_dataset()
        names = [v for v in var_names if v in post and post[v].size]
        # the reference segment's intercept and slopes are constants (0), not parameters
        ref = self.segment_names[0]

        def free(v: str) -> xr.Dataset:
            da = post[v].drop_sel(segment=ref) if v in ("intercept", "slope") else post[v]
            return xr.Dataset({v: da})

        # one variable at a time: arviz-stats 1.3 mislabels the rows of variables whose shared
        # dims (here `segment`) sit at different positions when summarised together
        return pd.concat([arviz_stats.summary(free(v)) for v in names])

    def loo(self) -> Any:
        """PSIS-LOO of the fitted model (``arviz_stats.loo`` on the pointwise log-likelihood ``y``).

        Returns
        -------
        arviz_stats.ELPDData
        """
        import arviz_stats

        return arviz_stats.loo(self._require_fit(), var_name="y", pointwise=True)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model (posterior, data, config, version, config hash) to netCDF.

        Parameters
        ----------
        path : str or os.PathLike
            Target file (``.nc``).

        Returns
        -------
        pathlib.Path
        """
        tree = self._require_fit()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tree.attrs.update(self._attrs())
        tree.to_netcdf(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], expect: SegmentModel | None = None) -> SegmentModel:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`, or a folder holding one as ``model.nc`` (the output
            folder of ``bayesseg run`` or ``bayesseg fit``).
        expect : SegmentModel, optional
            If given, the file must hold a fit of this specification (same config hash).

        Returns
        -------
        SegmentModel
            Fitted, ready for :meth:`predict_proba` and :meth:`memberships`.

        Raises
        ------
        ModelFileError
            If the file is not a bayesseg model, was written by an incompatible version (other
            major.minor), its config does not match its hash, or it does not match `expect`.
        """
        if Path(path).is_dir():
            path = Path(path) / "model.nc"
        tree = xr.open_datatree(path).load()
        attrs = tree.attrs
        if "config_hash" not in attrs or "config" not in attrs:
            raise ModelFileError(f"{path} is not a saved bayesseg model")
        version = str(attrs.get("bayesseg_version", "?"))
        if version.split(".")[:2] != __version__.split(".")[:2] or attrs.get("file_format") != _FILE_FORMAT:
            raise ModelFileError(
                f"{path} was written by bayesseg {version} (file format {attrs.get('file_format')}); "
                f"this is bayesseg {__version__}: refit the model"
            )
        config = json.loads(attrs["config"])
        model_config = dict(config["model_config"])
        model_config["anchors"] = dict(model_config["anchors"])  # [name, categories] pairs, in order
        model = cls(config["n_segments"], model_config, json.loads(attrs.get("sampler_config", "{}")))
        if model.config_hash != attrs["config_hash"]:
            raise ModelFileError(f"{path}: its config does not match its config hash (file altered?)")
        if expect is not None and expect.config_hash != model.config_hash:
            raise ModelFileError(
                f"{path} holds a model of another specification (config hash {model.config_hash[:12]}, "
                f"expected {expect.config_hash[:12]})"
            )
        model.idata = tree
        post = tree["posterior"].to_dataset()
        stored = [str(v) for v in post["segment"].values]
        if stored != model.segment_names:
            raise ModelFileError(
                f"{path}: its posterior's segments {stored} differ from its config's {model.segment_names}"
            )
        model.categories = [str(c) for c in post["category"].values]
        model.covariate_names = [str(c) for c in post["covariate"].values]
        model._x_mean = np.array(json.loads(attrs["covariate_mean"]))
        model._x_sd = np.array(json.loads(attrs["covariate_sd"]))
        model.relabelled_draws_ = int(attrs.get("relabelled_draws", 0))
        return model


def compare_k(
    counts: xr.DataArray,
    covariates: xr.DataArray | None,
    k_values: Sequence[int],
    model_config: dict[str, Any] | None = None,
    sampler_config: dict[str, Any] | None = None,
    weights: Any = None,
) -> tuple[pd.DataFrame, dict[int, SegmentModel]]:
    """Fit a range of K and compare them with PSIS-LOO.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts.
    covariates : xarray.DataArray, dims (author, covariate), optional
        Raw covariates.
    k_values : sequence of int
        Numbers of segments to fit.
    model_config, sampler_config : dict, optional
        Passed to every :class:`SegmentModel`.
    weights : array_like, dims (author,), optional
        Sampling weights (see :meth:`SegmentModel.fit`); LOO uses the unweighted pointwise
        log-likelihood, so with unequal weights it compares fits to the sample, not the population.

    Returns
    -------
    comparison : pandas.DataFrame
        ``arviz_stats.compare`` table indexed by ``K=k``, with ``n_high_pareto_k`` (authors with
        Pareto k > 0.7, where PSIS-LOO is unreliable) and ``high_pareto_k`` (flag).
    models : dict of int to SegmentModel
        The fitted models.

    References
    ----------
    Vehtari, Gelman & Gabry (2017), https://doi.org/10.1007/s11222-016-9696-4
    """
    import arviz_stats

    models = {
        k: SegmentModel(k, model_config, sampler_config).fit(counts, covariates, weights=weights) for k in k_values
    }
    loos = {f"K={k}": m.loo() for k, m in models.items()}
    table = arviz_stats.compare(loos)
    table["n_high_pareto_k"] = [int((loos[name].pareto_k > 0.7).sum()) for name in table.index]
    table["high_pareto_k"] = table["n_high_pareto_k"] > 0
    return table, models
