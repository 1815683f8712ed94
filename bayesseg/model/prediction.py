"""Scoring with a fitted model (a mixin of :class:`bayesseg.model.SegmentModel`): memberships, densities, PPCs.

Labels the array layer (:mod:`bayesseg.model.scoring`) with the model's authors, segments and sample
dims. The PyMC model is never rebuilt or compiled: everything is NumPy over the stored posterior.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

import bayesseg.model.scoring as scoring
from bayesseg.dims import AUTHOR, CATEGORY, COVARIATE, SAMPLE_DIMS, SEGMENT
from bayesseg.model.checks import align_counts, check_covariates, standardise_covariates

__all__ = ["PredictionMixin"]


class PredictionMixin(ABC):
    """Scoring from the stored posterior; the model class provides its fitted state.

    The class must set ``categories_``, ``covariate_names_``, ``covariate_mean_``,
    ``covariate_sd_`` and ``sampler_config``, and define :attr:`segment_names` and
    :meth:`check_fitted`.
    """

    categories_: list[str]
    covariate_names_: list[str]
    covariate_mean_: np.ndarray
    covariate_sd_: np.ndarray
    sampler_config: dict[str, Any]

    @property
    @abstractmethod
    def segment_names(self) -> list[str]:
        """The segments' names, in order."""

    @abstractmethod
    def check_fitted(self) -> xr.DataTree:
        """The fitted tree; raises ``RuntimeError`` when the model is not fitted."""

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

    def segment_shares(self) -> xr.DataArray:
        r"""The population's segment proportions per draw: :math:`\bar\pi_k = \sum_i w_i \pi_{ik} / \sum_i w_i`.

        The gating probabilities averaged over the fitted authors (weighted by their sampling
        weights when the fit had them), every posterior draw.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, segment); sums to one over ``segment``.

        Raises
        ------
        RuntimeError
            If the model is not fitted.
        """
        tree = self.check_fitted()
        post = tree["posterior"].to_dataset()
        constant = tree["constant_data"].to_dataset() if "constant_data" in tree.children else xr.Dataset()
        n_authors = tree["observed_data"]["counts"].sizes[AUTHOR]
        if "covariates" in constant and self.covariate_names_:
            x = (constant["covariates"].values - self.covariate_mean_) / self.covariate_sd_
        else:
            x = np.zeros((n_authors, 0))
        w = constant["sample_weight"].values if "sample_weight" in constant else np.ones(n_authors)
        w = w / w.sum()
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        gamma = post["intercept"].values.reshape(n_chain * n_draw, -1)
        beta = post["slope"].transpose("chain", "draw", COVARIATE, SEGMENT).values
        beta = beta.reshape(n_chain * n_draw, x.shape[1], -1)
        shares = np.empty_like(gamma)
        for i in range(0, gamma.shape[0], 100):
            eta = gamma[i : i + 100, None, :] + np.einsum("np,spk->snk", x, beta[i : i + 100])
            pi = np.exp(eta - scoring.logsumexp_last(eta)[..., None])
            shares[i : i + 100] = np.einsum("n,snk->sk", w, pi)
        return xr.DataArray(
            shares.reshape(n_chain, n_draw, -1),
            dims=(*SAMPLE_DIMS, SEGMENT),
            coords={"chain": post["chain"].values, "draw": post["draw"].values, SEGMENT: self.segment_names},
            name="segment_share",
        )

    def lift(self) -> xr.DataArray:
        r"""Each segment's profile over the population's, per draw: :math:`\theta_{kc} / \sum_j \bar\pi_j \theta_{jc}`.

        The denominator is the population mixture: the category shares of an author drawn from the
        fitted population (:meth:`segment_shares` mixing the segment profiles). This is the one
        definition of lift in bayesseg (SEGMENT_PROFILES.LIFT is its posterior mean). Dividing by
        ``softmax(η₀)`` instead, the centre of the segment logits, inflates an anchored rule's
        categories (up to ×1.6 on the demo): η₀ is neither the population's shares nor free of
        the anchors' offsets.

        Returns
        -------
        xarray.DataArray
            Dims (chain, draw, segment, category).

        Raises
        ------
        RuntimeError
            If the model is not fitted.
        """
        profile = self.check_fitted()["posterior"]["profile"].transpose("chain", "draw", SEGMENT, CATEGORY)
        mixture = (self.segment_shares() * profile).sum(SEGMENT)
        return (profile / mixture).rename("lift")

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
            probabilities); ``p_misassigned`` (author; ``1 - max_k prob_mean``: the posterior
            probability that the author's most likely segment is not the author's segment).

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

    def assignment_counts(
        self,
        counts: xr.DataArray,
        covariates: xr.DataArray | None = None,
        groups: pd.Series | None = None,
        *,
        max_draws: int | None = None,
        seed: int | None = None,
        batch_authors: int = 2_000,
    ) -> xr.DataArray:
        """Authors per group and segment with each author's segment drawn from its memberships, per draw.

        The segment sizes a user needs: they carry the uncertainty of every author's assignment,
        which with thousands of authors far exceeds the parameter uncertainty of the mean
        memberships (:func:`bayesseg.model.scoring.assignment_counts`).

        Parameters
        ----------
        counts : xarray.DataArray, dims (author, category)
            Label counts with the fitted model's categories.
        covariates : xarray.DataArray, dims (author, covariate), optional
            Raw covariates.
        groups : pandas.Series, optional
            Each author's group (e.g. the current follower tier), indexed by author id; authors
            absent from it, or with a missing group, go to the group ``"unknown"``. Default: one
            group, ``"all"``.
        max_draws : int, optional
            Thin the posterior to at most this many draws (default ``membership_draws``).
        seed : int, optional
            Seed of the assignments (default: the sampler's ``random_seed``).
        batch_authors : int, default 2000
            Authors per batch.

        Returns
        -------
        xarray.DataArray
            ``authors``, int, dims (chain, draw, group, segment).

        Raises
        ------
        bayesseg.exceptions.InputError
            As :meth:`predict_memberships`.
        """
        counts, authors, x = self.scoring_inputs(counts, covariates)
        if groups is None:
            labels = np.full(len(authors), "all", dtype=object)
        else:
            labels = groups.reindex(authors).astype("object").where(lambda s: s.notna(), "unknown").to_numpy()
        names, codes = np.unique(labels.astype(str), return_inverse=True)
        post = self._thinned(max_draws)
        n = scoring.assignment_counts(
            scoring.flatten_draws(post),
            counts.values,
            x,
            codes,
            len(names),
            int(self.sampler_config["random_seed"] if seed is None else seed),
            batch_authors,
        )
        return xr.DataArray(
            n.reshape(post.sizes["chain"], post.sizes["draw"], *n.shape[1:]),
            dims=(*SAMPLE_DIMS, "group", SEGMENT),
            coords={
                "chain": post["chain"].values,
                "draw": post["draw"].values,
                "group": [str(g) for g in names],
                SEGMENT: self.segment_names,
            },
            name="authors",
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
            ``arviz_plots.plot_ppc_*``; ``posterior/segment``, each observed author's segment
            drawn from its memberships under each draw, and
            ``posterior_predictive/counts_given_segment``, replicates of the authors from those
            segments (for :func:`bayesseg.model.ppc.predictive_checks`).

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
        draws = self.posterior_draws(n_draws)
        y_rep = scoring.replicate_counts(draws, y, x, rng)
        z_obs = scoring.draw_segments(draws, y, x, rng)
        y_given = scoring.replicate_counts(draws, y, x, rng, segments=z_obs)
        return scoring.ppc_tree(
            y, y_rep, counts[AUTHOR].values[sub], counts[CATEGORY].values, z_obs, y_rep_given=y_given
        )
