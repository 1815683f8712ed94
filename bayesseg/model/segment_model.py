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
shortest trajectories. The concentrations are centred when the EM start's concentrations differ
by more than three times their standard error, and non-centred otherwise
(``model_config["concentration_parametrization"]``, :func:`bayesseg.model.graph.centred_concentration`):
where the data cannot tell the segments' concentrations apart, a centred form would make a funnel,
and where each is well measured, a non-centred one a ridge. With one segment, where both forms
funnel, ``μ_κ`` is sampled as a function of ``log κ`` (the same joint distribution:
:func:`bayesseg.model.graph.build_graph`). Chains start at an EM mode (:mod:`bayesseg.model.start`).

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
from bayesseg.dims import CATEGORY, COVARIATE
from bayesseg.exceptions import InputError
from bayesseg.model.checks import (
    PreparedData,
    prepare_data,
)
from bayesseg.model.diagnostics import Convergence, ConvergenceRule, convergence, posterior_summary
from bayesseg.model.graph import anchor_offsets, build_graph
from bayesseg.model.moment_match import high_pareto_k, moment_matched_loo
from bayesseg.model.persistence import ModelIO
from bayesseg.model.posterior import relabelled_posterior, relabelled_tree
from bayesseg.model.prediction import PredictionMixin
from bayesseg.model.sampling import (
    SAMPLERS,
    STEP_SIZE_ADAPTATIONS,
    compile_nutpie,
    em_starting_point,
    sample_posterior,
)
from bayesseg.model.start import StartingPoint

__all__ = ["SegmentModel"]


class SegmentModel(PredictionMixin, ModelIO):
    """Hierarchical Dirichlet-multinomial latent-class mixture with multinomial-logit gating.

    Parameters
    ----------
    n_segments : int
        Number of segments K (>= 1; K = 1 is the population's own Dirichlet-multinomial, the model
        every comparison of K should include).
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
        Draws whose segment labels were permuted to the common labelling (a draw from another
        labelling, or another mode, of the mixture).
    em_log_likelihoods_ : list of float
        The log-likelihood reached by each EM restart (the chains start from the best).
    sampling_time_ : float
        Seconds the sampler took (compilation included for nutpie).
    draw_checks_ : list of dict
        With nutpie and ``0 < sampler_config["min_draws"] < sampler_config["draws"]``: each check of
        the draws so far against the convergence rule (``draws`` per chain, ``max_rhat``,
        ``min_ess_bulk``, ``min_ess_tail``, ``passed``, and the check's own ``seconds``, while the
        chains go on drawing); sampling stopped at the first that passed
        (:func:`bayesseg.model.sampling.sample_until`).

    Raises
    ------
    bayesseg.exceptions.InputError
        If `n_segments` < 1, more segments are anchored than exist, or a config key is unknown.

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
        if int(n_segments) < 1:
            raise InputError(f"n_segments must be at least 1, got {n_segments}")
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
        _check_draws(self.sampler_config)
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
        self.em_log_likelihoods_: list[float] = []
        self.sampling_time_ = float("nan")
        self.draw_checks_: list[dict[str, Any]] = []

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
        show = cfg["progressbar"] if progressbar is None else progressbar
        started = time.perf_counter()
        offsets, start, model = self._graph(data, likelihood)
        self.draw_checks_ = []
        # sample_posterior calls it only where a check can stop anything (nutpie, min_draws < draws)
        until = self._meets_rule(data)
        trace, self.start_ = sample_posterior(model, data, self.n_segments, offsets, cfg, show, start, until)
        self.sampling_time_ = time.perf_counter() - started  # compile included for nutpie
        self.em_log_likelihoods_ = [] if self.start_ is None else [float(v) for v in self.start_.restarts]
        self._set_fitted(data, trace)
        return self

    def compile(
        self, counts: xr.DataArray, covariates: xr.DataArray | None = None, weights: Any = None
    ) -> SegmentModel:
        """Compile nutpie's log density for these data ahead of :meth:`fit`, which then starts sampling at once.

        The EM start and the graph are found as :meth:`fit` finds them, and the graph is compiled by
        :func:`bayesseg.model.sampling.compile_nutpie`, which keeps it in the process: :meth:`fit`
        on the same data (or, with the data held by reference, on data of the same structure) reuses
        it, and draws what a fit compiled afresh draws. Safe to call on another thread while a fit
        samples: :func:`bayesseg.model.selection.compare_k` compiles the next K so.

        Parameters
        ----------
        counts, covariates, weights
            As for :meth:`fit`.

        Returns
        -------
        SegmentModel
            `self`, unfitted.

        Raises
        ------
        bayesseg.exceptions.InputError
            For malformed input, or when ``sampler_config["sampler"]`` is not ``"nutpie"`` (PyMC
            and numpyro compile inside their own sampling call, ADVI inside its fit).
        """
        if self.sampler_config["sampler"] != "nutpie":
            raise InputError(
                f"compile() compiles for sampler 'nutpie'; this model samples with "
                f"{self.sampler_config['sampler']!r}, which compiles inside fit()"
            )
        _, _, model = self._graph(prepare_data(counts, covariates, weights))
        compile_nutpie(model)
        return self

    def _graph(self, data: PreparedData, likelihood: Any = None) -> tuple[np.ndarray, StartingPoint | None, Any]:
        """The anchors' offsets, the EM start and the PyMC model :meth:`fit` samples."""
        offsets = self.anchor_offsets([str(c) for c in data.counts[CATEGORY].values])
        # the EM start first: its concentrations decide how `auto` parametrises them
        start = em_starting_point(data, self.n_segments, offsets, self.sampler_config)
        spread = None if start is None else start.concentration_spread()
        return offsets, start, build_graph(data, self.segment_names, self.model_config, likelihood, spread)

    def _meets_rule(self, data: PreparedData) -> Any:
        """``until(trace)`` for :func:`~bayesseg.model.sampling.sample_until`: the relabelled draws meet the rule.

        Each check is recorded in ``draw_checks_`` (draws per chain, the worst R-hat and ESS, the verdict, its time).
        """
        cfg = self.sampler_config

        def until(trace: xr.DataTree) -> bool:
            started = time.perf_counter()
            posterior, _, _ = relabelled_posterior(
                trace, data, self.segment_names, cfg["relabel_authors"], cfg["random_seed"]
            )
            verdict = convergence(
                xr.DataTree.from_dict({"posterior": posterior, "sample_stats": trace["sample_stats"].to_dataset()}),
                self.segment_names[0],
            )
            self.draw_checks_.append(
                {
                    "draws": int(posterior.sizes["draw"]),
                    "max_rhat": verdict.max_rhat,
                    "min_ess_bulk": verdict.min_ess_bulk,
                    "min_ess_tail": verdict.min_ess_tail,
                    "passed": verdict.passed,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            return verdict.passed

        return until

    def _set_fitted(self, data: PreparedData, trace: xr.DataTree) -> None:
        self.categories_ = [str(c) for c in data.counts[CATEGORY].values]
        self.covariate_names_ = [] if data.covariates is None else [str(c) for c in data.covariates[COVARIATE].values]
        self.covariate_mean_, self.covariate_sd_ = data.x_mean, data.x_sd
        tree, self.relabelled_draws_ = relabelled_tree(
            trace,
            data,
            self.segment_names,
            self.sampler_config["relabel_authors"],
            self.sampler_config["random_seed"],
            self.sampler_config["loglik_draws"],
        )
        self.idata_ = tree
        tree.attrs.update(self.file_attrs())

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
        constant = tree["constant_data"].to_dataset() if "constant_data" in tree.children else xr.Dataset()
        self.covariate_mean_ = constant["covariate_mean"].values if "covariate_mean" in constant else np.empty(0)
        self.covariate_sd_ = constant["covariate_sd"].values if "covariate_sd" in constant else np.empty(0)
        self.relabelled_draws_ = int(attrs.get("relabelled_draws", 0))
        self.em_log_likelihoods_ = [float(v) for v in json.loads(attrs.get("em_log_likelihoods", "[]"))]
        self.sampling_time_ = float(attrs.get("sampling_time_s", float("nan")))
        self.draw_checks_ = list(json.loads(attrs.get("draw_checks", "[]")))

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

    def convergence(self, rule: ConvergenceRule | None = None) -> Convergence:
        """The convergence block of the fit (:func:`bayesseg.model.diagnostics.convergence`).

        Parameters
        ----------
        rule : bayesseg.model.diagnostics.ConvergenceRule, optional
            Defaults to the project's rule (R-hat < 1.01, bulk and tail ESS >= 400, divergences <= 0.5 %).

        Returns
        -------
        bayesseg.model.diagnostics.Convergence
        """
        return convergence(self.check_fitted(), self.segment_names[0], rule)

    def loo(self, moment_match: bool = False) -> Any:
        """PSIS-LOO of the fitted model (``arviz_stats.loo`` on the pointwise log-likelihood ``y``).

        The log-likelihood is kept on thinned draws (``sampler_config["loglik_draws"]``); the
        posterior is thinned to the same draws here, so that the relative efficiency PSIS uses
        describes the draws it weights.

        Parameters
        ----------
        moment_match : bool, default False
            Moment match the authors whose Pareto k̂ is above ``good_k``
            (:func:`bayesseg.model.moment_match.moment_matched_loo`): no refit, a few hundred
            evaluations of the model's density at the stored draws per such author.

        Returns
        -------
        arviz_stats.ELPDData
            Pointwise; with `moment_match`, ``influence_pareto_k`` holds the k̂ before matching.

        References
        ----------
        Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using
        leave-one-out cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432.
        https://doi.org/10.1007/s11222-016-9696-4

        Paananen, T., Piironen, J., Bürkner, P.-C., & Vehtari, A. (2021). Implicitly adaptive importance
        sampling. *Statistics and Computing* 31, 16. https://doi.org/10.1007/s11222-020-09982-2
        """
        import arviz_stats  # about a second to import: loaded when a fit is summarised, not with bayesseg

        tree = self.check_fitted()
        log_lik = tree["log_likelihood"].to_dataset()
        posterior = tree["posterior"].to_dataset().sel(draw=log_lik["draw"])
        result = arviz_stats.loo(
            xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_lik}), var_name="y", pointwise=True
        )
        if not moment_match or high_pareto_k(result) == 0:
            return result
        counts, covariates = self._fitted_data()
        constant = tree["constant_data"].to_dataset() if "constant_data" in tree.children else xr.Dataset()
        model = self.build_model(counts, covariates, weights=constant.get("sample_weight"))
        offsets = self.anchor_offsets([str(c) for c in counts[CATEGORY].values])
        return moment_matched_loo(model, posterior, log_lik, result, offsets)


def _check_draws(cfg: dict[str, Any]) -> None:
    """Refuse draw settings the sampler cannot honour, naming the key."""
    for key, least in (("draws", 1), ("min_draws", 0), ("check_every", 1), ("nutpie_early_switch_freq", 1)):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < least:
            raise InputError(f"sampler_config[{key!r}] must be an integer >= {least}, got {cfg[key]!r}")
    gamma = cfg["nutpie_mass_matrix_gamma"]
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma < float("inf"):
        raise InputError(f"sampler_config['nutpie_mass_matrix_gamma'] must be a positive number, got {gamma!r}")
    if cfg["nutpie_step_size_adaptation"] not in STEP_SIZE_ADAPTATIONS:
        raise InputError(
            f"sampler_config['nutpie_step_size_adaptation'] must be one of {sorted(STEP_SIZE_ADAPTATIONS)}, "
            f"got {cfg['nutpie_step_size_adaptation']!r}"
        )
