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
would make a funnel. Chains start at an EM mode (:mod:`bayesseg.model.start`).

After sampling, draws are relabelled (:func:`bayesseg.model.relabel.stephens`) and the gating
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
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import DEFAULT_MODEL_CONFIG, DEFAULT_SAMPLER_CONFIG
from bayesseg.dims import AUTHOR, CATEGORY, COVARIATE, SAMPLE_DIMS, SEGMENT
from bayesseg.exceptions import InputError
from bayesseg.model import scoring
from bayesseg.model.checks import (
    PreparedData,
    align_counts,
    check_covariates,
    prepare_data,
    standardise_covariates,
)
from bayesseg.model.diagnostics import posterior_summary
from bayesseg.model.graph import anchor_offsets, build_graph
from bayesseg.model.persistence import ModelIO
from bayesseg.model.posterior import relabelled_tree
from bayesseg.model.sampling import SAMPLERS, sample_posterior
from bayesseg.model.start import StartingPoint

__all__ = ["SegmentModel"]


class SegmentModel(ModelIO):
    """Hierarchical Dirichlet-multinomial latent-class mixture with multinomial-logit gating.

    Parameters
    ----------
    n_segments : int
        Number of segments K (>= 2).
    model_config : dict, optional
        Priors; missing keys take :data:`bayesseg.config.defaults.DEFAULT_MODEL_CONFIG`'s values.
        ``anchors`` maps a segment name to the categories of the rule that anchors it; anchored
        segments come first, in the order given, and carry their names into every output.
    sampler_config : dict, optional
        Sampler settings; missing keys take :data:`bayesseg.config.defaults.DEFAULT_SAMPLER_CONFIG`'s values.

    Attributes
    ----------
    idata_ : xarray.DataTree or None
        After :meth:`fit` (or :meth:`bayesseg.model.persistence.ModelIO.load`): groups ``posterior``
        (relabelled), ``sample_stats``,
        ``log_likelihood`` (pointwise, variable ``y``, dim ``author``, multinomial coefficient
        included), ``observed_data`` (``counts``) and ``constant_data`` (``covariates``).
    categories_ : list of str
        The categories of the fit, in order.
    covariate_names_ : list of str
        The covariates of the fit, in order.
    covariate_mean_, covariate_sd_ : numpy.ndarray
        The fitted authors' covariate means and standard deviations (the model's standardisation).
    start_ : bayesseg.model.start.StartingPoint or None
        The EM start of the chains.
    relabelled_draws_ : int
        Draws whose segment labels were permuted to the common labelling.
    sampling_time_ : float
        Seconds the sampler took (compilation included for nutpie).

    Raises
    ------
    bayesseg.exceptions.InputError
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
            raise InputError(f"n_segments must be at least 2, got {n_segments}")
        self.n_segments = int(n_segments)
        for given, default, name in (
            (model_config, DEFAULT_MODEL_CONFIG, "model_config"),
            (sampler_config, DEFAULT_SAMPLER_CONFIG, "sampler_config"),
        ):
            unknown = set(given or {}) - set(default)
            if unknown:
                raise InputError(f"unknown {name} key(s) {sorted(unknown)}; known: {sorted(default)}")
        self.model_config = {**copy.deepcopy(DEFAULT_MODEL_CONFIG), **copy.deepcopy(model_config or {})}
        self.sampler_config = {**DEFAULT_SAMPLER_CONFIG, **(sampler_config or {})}
        if self.model_config["concentration_parametrization"] not in ("auto", "centred", "non_centred"):
            raise InputError(
                "concentration_parametrization must be 'auto', 'centred' or 'non_centred', "
                f"got {self.model_config['concentration_parametrization']!r}"
            )
        if self.sampler_config["init"] not in ("em", "default"):
            raise InputError(f"unknown init {self.sampler_config['init']!r}: choose 'em' or 'default'")
        if self.sampler_config["sampler"] not in SAMPLERS:
            raise InputError(f"unknown sampler {self.sampler_config['sampler']!r}: choose one of {', '.join(SAMPLERS)}")
        anchors = self.model_config["anchors"]
        if len(anchors) > self.n_segments:
            raise InputError(f"{len(anchors)} anchored segments but only {self.n_segments} segments")
        self.idata_: xr.DataTree | None = None
        self.categories_: list[str] = []
        self.covariate_names_: list[str] = []
        self.covariate_mean_ = np.empty(0)
        self.covariate_sd_ = np.empty(0)
        self.start_: StartingPoint | None = None
        self.relabelled_draws_ = 0
        self.sampling_time_ = float("nan")

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
        self.check_fitted()
        return pd.DataFrame(
            {"mean": self.covariate_mean_, "sd": self.covariate_sd_},
            index=pd.Index(self.covariate_names_, name=COVARIATE),
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

    def check_fitted(self) -> xr.DataTree:
        """The fitted DataTree.

        Returns
        -------
        xarray.DataTree

        Raises
        ------
        RuntimeError
            If the model is neither fitted nor loaded.
        """
        if self.idata_ is None:
            raise RuntimeError("the model is not fitted: call fit() or load() first")
        return self.idata_

    # ------------------------------------------------------------------ model
    def anchor_offsets(self, categories: Sequence[str]) -> np.ndarray:
        """The anchored segments' prior log-lifts over `categories` (:func:`bayesseg.model.graph.anchor_offsets`).

        Parameters
        ----------
        categories : sequence of str
            The counts' categories.

        Returns
        -------
        numpy.ndarray, shape (segment, category)
        """
        return anchor_offsets(
            self.model_config["anchors"], self.model_config["anchor_lift"], categories, self.n_segments
        )

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
        likelihood : callable, optional
            ``likelihood(counts, log_alpha) -> (author, segment)`` log-pmf tensor, replacing the
            sparse Dirichlet-multinomial; only for benchmarks against other formulations
            (``benchmarks/fit_speed.py`` passes the naive dense one).
        weights : array_like or xarray.DataArray, dims (author,), optional
            Sampling weights multiplying each author's log-likelihood (see :meth:`fit`).

        Returns
        -------
        pymc.Model

        Raises
        ------
        bayesseg.exceptions.InputError
            For malformed input; the message names the author, category or covariate.
        """
        return build_graph(prepare_data(counts, covariates, weights), self.segment_names, self.model_config, likelihood)

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
            :func:`bayesseg.survey.design.sample_design`): each author's log-likelihood is multiplied
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
            `self`, fitted (``idata_`` set).

        Raises
        ------
        bayesseg.exceptions.InputError
            For malformed input.

        Notes
        -----
        The samplers (NUTS by nutpie, PyMC or numpyro; ADVI, an approximation) and what is known
        of ADVI against NUTS: :mod:`bayesseg.model.sampling`.

        With `weights` the posterior is the pseudo-posterior of Savitsky & Toth (2016,
        https://doi.org/10.1214/16-EJS1153): consistent for the population's parameters under
        informative sampling when the weights sum to the sample size.
        """
        cfg = self.sampler_config
        data = prepare_data(counts, covariates, weights)
        model = build_graph(data, self.segment_names, self.model_config, likelihood)
        show = cfg["progressbar"] if progressbar is None else progressbar
        started = time.perf_counter()
        offsets = self.anchor_offsets([str(c) for c in data.counts[CATEGORY].values])
        trace, self.start_ = sample_posterior(model, data, self.n_segments, offsets, cfg, show)
        self.sampling_time_ = time.perf_counter() - started  # compile included for nutpie
        self._set_fitted(data, trace)
        return self

    def _set_fitted(self, data: PreparedData, trace: xr.DataTree) -> None:
        self.categories_ = [str(c) for c in data.counts[CATEGORY].values]
        self.covariate_names_ = [] if data.covariates is None else [str(c) for c in data.covariates[COVARIATE].values]
        self.covariate_mean_, self.covariate_sd_ = data.x_mean, data.x_sd
        tree, self.relabelled_draws_ = relabelled_tree(
            trace, data, self.segment_names, self.sampler_config["relabel_authors"], self.sampler_config["random_seed"]
        )
        tree.attrs.update(self.file_attrs())
        self.idata_ = tree

    def restore_fitted(self, tree: xr.DataTree, attrs: dict[str, Any]) -> None:
        """Set the fitted state from a saved model's DataTree (``load`` calls it).

        Parameters
        ----------
        tree : xarray.DataTree
            The saved tree.
        attrs : dict
            Its attributes (:meth:`bayesseg.model.persistence.ModelIO.file_attrs`).
        """
        post = tree["posterior"].to_dataset()
        self.idata_ = tree
        self.categories_ = [str(c) for c in post[CATEGORY].values]
        self.covariate_names_ = [str(c) for c in post[COVARIATE].values]
        self.covariate_mean_ = np.array(json.loads(attrs["covariate_mean"]))
        self.covariate_sd_ = np.array(json.loads(attrs["covariate_sd"]))
        self.relabelled_draws_ = int(attrs.get("relabelled_draws", 0))
        self.sampling_time_ = float(attrs.get("sampling_time_s", float("nan")))

    # ------------------------------------------------------------------ scoring
    def standardise(self, covariates: xr.DataArray | None, n_authors: int) -> np.ndarray:
        """Raw covariates on the model's scale (:func:`bayesseg.model.checks.standardise_covariates`).

        Parameters
        ----------
        covariates : xarray.DataArray, dims (author, covariate), or None
            Raw covariates with (at least) the model's covariates.
        n_authors : int
            Authors (the rows returned when the model has no covariate).

        Returns
        -------
        numpy.ndarray, shape (author, covariate)
        """
        return standardise_covariates(
            covariates, self.covariate_names_, self.covariate_mean_, self.covariate_sd_, n_authors
        )

    def scoring_inputs(
        self, counts: xr.DataArray, covariates: xr.DataArray | None
    ) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
        """Checked counts of (new) authors in the model's category order, their ids and standardised covariates.

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates.

        Returns
        -------
        counts : xarray.DataArray, dims (author, category)
        authors : numpy.ndarray
        x : numpy.ndarray, shape (author, covariate)

        Raises
        ------
        bayesseg.exceptions.InputError
            If categories or covariates do not match the fitted model, or counts are malformed.
        RuntimeError
            If the model is not fitted.
        """
        self.check_fitted()
        counts = align_counts(counts, self.categories_)
        authors = counts[AUTHOR].values
        cov = check_covariates(covariates, authors) if self.covariate_names_ else None
        return counts, authors, self.standardise(cov, len(authors))

    def posterior_draws(self, max_draws: int | None = None) -> dict[str, np.ndarray]:
        """The draws scoring uses: every k-th of each chain (:func:`bayesseg.model.scoring.thin_posterior`), flat.

        Parameters
        ----------
        max_draws : int, optional
            At most this many draws (default ``membership_draws``).

        Returns
        -------
        dict of str to numpy.ndarray
            ``profile``, ``concentration``, ``intercept``, ``slope``, draws first (chain by chain).
        """
        return scoring.flatten_draws(self._thinned(max_draws))

    def _thinned(self, max_draws: int | None) -> xr.Dataset:
        post = self.check_fitted()["posterior"].to_dataset()
        return scoring.thin_posterior(post, max_draws or self.sampler_config["membership_draws"])

    def segment_log_predictive(self, counts: np.ndarray, max_draws: int | None = None) -> np.ndarray:
        r"""Posterior predictive log density of count vectors under each segment.

        :math:`\log \frac{1}{S} \sum_s \mathrm{DM}(y_i \mid \kappa_k^{(s)} \theta_k^{(s)})` for every
        row and segment (multinomial coefficient included), without the gating: the density of
        the labels given that segment k made them (e.g. a new post, :func:`bayesseg.evaluation.content.rank_posts`).

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
        return scoring.segment_log_predictive(self.posterior_draws(max_draws), counts)

    def predict_memberships(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        *,
        ci_prob: float = 0.9,
        max_draws: int | None = None,
        batch_authors: int = 2_000,
    ) -> xr.Dataset:
        """Membership summaries of (new) authors from the stored posterior.

        Vectorised NumPy over draws and authors; the PyMC model is not rebuilt or compiled.

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates with the fitted model's covariates (standardised with the fit's
            means and standard deviations).
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed interval.
        max_draws : int, optional
            Thin the posterior to at most this many draws (default ``membership_draws``).
        batch_authors : int, default 2000
            Authors per batch (bounds memory: batch × draws × segments floats).

        Returns
        -------
        xarray.Dataset
            ``prob_mean`` (posterior mean of r_ik), ``prob_low``/``prob_high`` (equal-tailed
            interval over the draws: parameter uncertainty), ``p_modal`` (P(most likely segment =
            k) over the draws), dims (author, segment); ``entropy`` (author; nats, of the mean
            probabilities).

        Raises
        ------
        bayesseg.exceptions.InputError
            If categories or covariates do not match the fitted model, or counts are malformed.
        """
        counts, authors, x = self.scoring_inputs(counts, covariates)
        stats = scoring.membership_summary(self.posterior_draws(max_draws), counts.values, x, ci_prob, batch_authors)
        return scoring.membership_dataset(stats, authors, self.segment_names, ci_prob)

    def membership_draws(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        *,
        max_draws: int | None = None,
        batch_authors: int = 2_000,
    ) -> xr.DataArray:
        """Per-draw membership probabilities r_ik of (new) authors.

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates.
        max_draws : int, optional
            Thin the posterior to at most this many draws (default ``membership_draws``).
        batch_authors : int, default 2000
            Authors per batch.

        Returns
        -------
        xarray.DataArray
            ``probability`` with dims (chain, draw, author, segment): the posterior's sample dims
            (:data:`bayesseg.dims.SAMPLE_DIMS`) of the thinned draws first.

        Raises
        ------
        bayesseg.exceptions.InputError
            As :meth:`predict_memberships`.
        """
        counts, authors, x = self.scoring_inputs(counts, covariates)
        post = self._thinned(max_draws)
        probs = scoring.membership_probabilities(scoring.flatten_draws(post), counts.values, x, batch_authors)
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        return xr.DataArray(
            probs.reshape(n_chain, n_draw, *probs.shape[1:]),
            dims=(*SAMPLE_DIMS, AUTHOR, SEGMENT),
            coords={
                "chain": post["chain"].values,
                "draw": post["draw"].values,
                AUTHOR: authors,
                SEGMENT: self.segment_names,
            },
            name="probability",
        )

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
        :func:`bayesseg.evaluation.metrics.mixture_log_density` for a baseline). Summed over authors not in
        the fit it is the held-out expected log predictive density (elpd).

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates (as :meth:`predict_memberships`).
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
        bayesseg.exceptions.InputError
            As :meth:`predict_memberships`.

        References
        ----------
        Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using
        leave-one-out cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432.
        https://doi.org/10.1007/s11222-016-9696-4
        """
        counts, authors, x = self.scoring_inputs(counts, covariates)
        values = scoring.log_predictive_density(self.posterior_draws(max_draws), counts.values, x, batch_authors)
        return xr.DataArray(values, dims=(AUTHOR,), coords={AUTHOR: authors}, name="log_predictive_density")

    def memberships(self, ci_prob: float = 0.9) -> xr.Dataset:
        """Membership summaries of the fitted authors (:meth:`predict_memberships` on the fit's data).

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed interval.

        Returns
        -------
        xarray.Dataset
            As :meth:`predict_memberships`.
        """
        counts, cov = self._fitted_data()
        return self.predict_memberships(counts, cov, ci_prob=ci_prob)

    def _fitted_data(self) -> tuple[xr.DataArray, xr.DataArray | None]:
        tree = self.check_fitted()
        counts = tree["observed_data"].to_dataset()["counts"]
        cov = tree["constant_data"].to_dataset().get("covariates") if "constant_data" in tree.children else None
        return counts, cov

    def posterior_predictive(self, n_authors: int = 2_000, n_draws: int = 100, seed: int = 0) -> xr.DataTree:
        r"""Replicate the fitted authors' counts from the posterior predictive distribution.

        For each of `n_draws` thinned posterior draws and each of `n_authors` fitted authors
        (a random subset), the segment is drawn from the gating probabilities
        :math:`\pi_{ik}` (not from its posterior given :math:`y_i`, so the check tests the
        marginal model that LOO scores), then :math:`p \sim \mathrm{Dirichlet}(\kappa_z\theta_z)`
        and :math:`y^{rep}_i \sim \mathrm{Multinomial}(n_i, p)` with the author's observed total.

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
        counts, cov = self._fitted_data()
        rng = np.random.default_rng(seed)
        n = counts.sizes[AUTHOR]
        sub = np.sort(rng.choice(n, size=min(n, n_authors), replace=False))
        y = counts.values[sub].astype(np.int64)
        x = self.standardise(None if cov is None else cov.isel(author=sub), len(sub))
        y_rep = scoring.replicate_counts(self.posterior_draws(n_draws), y, x, rng)
        return scoring.ppc_tree(y, y_rep, counts[AUTHOR].values[sub], counts[CATEGORY].values)

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
        return posterior_summary(self.check_fitted()["posterior"].to_dataset(), var_names, self.segment_names[0])

    def loo(self) -> Any:
        """PSIS-LOO of the fitted model (``arviz_stats.loo`` on the pointwise log-likelihood ``y``).

        Returns
        -------
        arviz_stats.ELPDData
        """
        import arviz_stats  # about a second to import: loaded when a fit is summarised, not with bayesseg

        return arviz_stats.loo(self.check_fitted(), var_name="y", pointwise=True)
