r"""Is the Dirichlet-multinomial the right family? Mixtures of five count families compared by PSIS-LOO.

Each row of a count table (an author's labels, a plot's trees) is drawn from one of K segments.
Five families of the segment's count distribution, with the same structure of priors as
:class:`bayesseg.model.SegmentModel` where it applies — a population log-profile
:math:`\eta_0 \sim \mathrm{ZeroSumNormal}(3)`, segment deviations :math:`\eta_k = \eta_0 + \sigma_\delta
\delta_k` with :math:`\delta_{kc} \sim N(0, 1)`, :math:`\sigma_\delta \sim \mathrm{HalfNormal}(1)`, and
mixture weights :math:`\pi \sim \mathrm{Dirichlet}(1)` (no covariates):

- ``multinomial``: :math:`y \mid n, z = k \sim \mathrm{Multinomial}(n, \mathrm{softmax}\,\eta_k)`;
- ``dirichlet_multinomial``: :math:`y \mid n, z = k \sim \mathrm{DM}(\kappa_k\, \mathrm{softmax}\,\eta_k)`,
  :math:`\log\kappa_k \sim N(3.9, 1.5)` (Mosimann 1962; the mixture of Holmes et al. 2012);
- ``generalized_dirichlet_multinomial``: a dispersion per category (Connor & Mosimann 1969). In the
  table's column order, each category but the last is a beta-binomial of what the categories before it
  left, :math:`y_c \mid y_{<c}, z = k \sim \mathrm{BetaBinomial}(r_c, a_{kc}, b_{kc})` with
  :math:`r_c = \sum_{j \ge c} y_j`, :math:`a_{kc} = \kappa_k e^{\tau_c} p_{kc}`,
  :math:`b_{kc} = \kappa_k e^{\tau_c} \sum_{j > c} p_{kj}`, :math:`p_k = \mathrm{softmax}\,\eta_k`,
  :math:`\tau_c = \sigma_\tau \epsilon_c`, :math:`\epsilon_c \sim N(0, 1)`,
  :math:`\sigma_\tau \sim \mathrm{HalfNormal}(1)`, :math:`\kappa_k` as the Dirichlet-multinomial's.
  At :math:`\tau = 0` it is :math:`\mathrm{DM}(\kappa_k p_k)`; :math:`\tau_c > 0` lets category
  :math:`c` vary less than the rest, :math:`\tau_c < 0` more. The family depends on the column order;
  :func:`compare_families` puts the largest total first;
- ``negative_binomial``: categories independent, :math:`y_c \mid z = k \sim \mathrm{NB}(\text{mean }
  e^{\nu + \eta_{kc}}, \text{dispersion } \phi_k)`, :math:`\nu \sim N(\log \bar y, 2)`,
  :math:`\log \phi_k \sim N(0, 1.5)`; the row's total varies with its segment;
- ``logistic_normal``: :math:`y \mid n, \lambda \sim \mathrm{Multinomial}(n, \mathrm{softmax}\,\lambda)`,
  :math:`\lambda \mid z = k \sim N(\eta_k, \sigma_k^2 I)`, :math:`\sigma_k \sim \mathrm{HalfNormal}(2)`
  (Aitchison & Shen 1980; Billheimer, Guttorp & Fagan 2001): a latent :math:`\lambda` per row,
  sampled by NUTS with the hyperparameters.

All but the negative binomial describe how a row's total splits, not the total. So that the four
score the same data, the conditional families are completed by one model of the totals,
:math:`n \sim \mathrm{NB}(m, \phi_n)` independent of the segment, with its own parameters: it adds the
same term to each (up to Monte Carlo noise), so differences among them are differences in the split.

The comparison uses each row's marginal likelihood, the segment summed out
(:func:`pointwise_log_likelihood`): for the logistic normal, :math:`\lambda` is integrated by
Laplace's method around its mode (Newton's method; the Hessian of the multinomial log-likelihood is
diagonal minus rank one, so each step and the log-determinant cost :math:`O(C)` by Sherman–Morrison),
the integrated importance sampling of Vehtari et al. (2016). PSIS-LOO on these marginal likelihoods
is the leave-one-row-out predictive density of each family (Vehtari, Gelman & Gabry 2017).

References
----------
Mosimann, J. E. (1962). On the compound multinomial distribution, the multivariate β-distribution,
and correlations among proportions. *Biometrika* 49(1-2), 65-82. https://doi.org/10.1093/biomet/49.1-2.65

Connor, R. J., & Mosimann, J. E. (1969). Concepts of independence for proportions with a generalization
of the Dirichlet distribution. *JASA* 64(325), 194-206. https://doi.org/10.1080/01621459.1969.10500963

Holmes, I., Harris, K., & Quince, C. (2012). Dirichlet multinomial mixtures: generative models for
microbial metagenomics. *PLoS ONE* 7(2), e30126. https://doi.org/10.1371/journal.pone.0030126

Aitchison, J., & Shen, S. M. (1980). Logistic-normal distributions: some properties and uses.
*Biometrika* 67(2), 261-272. https://doi.org/10.1093/biomet/67.2.261

Billheimer, D., Guttorp, P., & Fagan, W. F. (2001). Statistical interpretation of species composition.
*JASA* 96(456), 1205-1214. https://doi.org/10.1198/016214501753381850

Vehtari, A., Mononen, T., Tolvanen, V., Sivula, T., & Winther, O. (2016). Bayesian leave-one-out
cross-validation approximations for Gaussian latent variable models. *JMLR* 17(103), 1-38.
https://jmlr.org/papers/v17/14-540.html

Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432. https://doi.org/10.1007/s11222-016-9696-4
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy import special, stats

from bayesseg.dims import AUTHOR, CATEGORY, SEGMENT, stack_sample_dims
from bayesseg.exceptions import InputError
from bayesseg.model.sampling import without_fastmath

__all__ = [
    "FAMILIES",
    "SAMPLER",
    "compare_families",
    "family_model",
    "fit_family",
    "logistic_normal_log_marginal",
    "pointwise_log_likelihood",
]

FAMILIES = (
    "dirichlet_multinomial",
    "multinomial",
    "negative_binomial",
    "logistic_normal",
    "generalized_dirichlet_multinomial",
)
"""The count families of :func:`family_model`."""
CONDITIONAL = ("dirichlet_multinomial", "multinomial", "logistic_normal", "generalized_dirichlet_multinomial")
"""Families of how a total splits, completed by the segment-free model of the totals."""
NODE = "node"
"""Dim of the generalized Dirichlet-multinomial's per-category dispersions: every category but the last."""
SAMPLER = {"draws": 500, "tune": 500, "chains": 2, "target_accept": 0.9, "random_seed": 0, "loglik_draws": 400}
"""Defaults of :func:`compare_families`'s sampler (PyMC's NUTS)."""


def _check(counts: Any, family: str, n_segments: int) -> np.ndarray:
    y = np.asarray(counts, dtype=float)
    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise InputError(f"counts must be a rows × categories matrix with at least 2 of each, got shape {y.shape}")
    bad = np.argwhere(~np.isfinite(y) | (y < 0) | (y != np.round(y)))
    if bad.size:
        row, col = bad[0]
        raise InputError(f"counts must be non-negative integers: row {row}, column {col} is {y[row, col]!r}")
    empty = np.flatnonzero(y.sum(1) == 0)
    if empty.size:
        raise InputError(f"every row needs a positive total: row {empty[0]} is all zeros ({empty.size} such rows)")
    if int(n_segments) < 1:
        raise InputError(f"n_segments must be at least 1, got {n_segments}")
    return y


def _nb_logpmf(y: Any, mean: Any, dispersion: Any, lib: Any) -> Any:
    """NB log-pmf (mean, dispersion φ: variance mean + mean²/φ): scipy's, or PyMC's in PyTensor.

    PyMC's switches to the Poisson limit at large φ, where the difference of log-gammas loses its digits.
    """
    if lib is np:
        return stats.nbinom.logpmf(y, dispersion, dispersion / (dispersion + mean))
    return pm.logp(pm.NegativeBinomial.dist(mu=mean, alpha=dispersion), y)


def _gdm_logpmf(y: np.ndarray, log_p: Any, log_kappa: Any, tau: Any, lib: Any) -> Any:
    """Generalized Dirichlet-multinomial log-pmf of each row, less its multinomial coefficient.

    `y` (row, C); `log_p` (lead, C); `log_kappa` (lead,); `tau` (lead, C - 1) or (C - 1,); returns
    (lead, row). The sum over the C - 1 nodes of the beta-binomial log-pmfs less their binomial
    coefficients, whose product is the multinomial coefficient. A node the row's labels do not reach
    (:math:`r_c = 0`) adds exactly zero.
    """
    gammaln = special.gammaln if lib is np else pt.gammaln
    p = lib.exp(log_p)
    tail = lib.cumsum(p[:, ::-1], axis=1)[:, ::-1]  # Σ_{j ≥ c} p_j
    scale = lib.exp(log_kappa[:, None] + tau)
    a, b = (scale * p[:, :-1])[:, None, :], (scale * tail[:, 1:])[:, None, :]
    rest = np.cumsum(y[:, ::-1], axis=1)[:, ::-1]  # r_c = Σ_{j ≥ c} y_j
    here, reached, left = y[None, :, :-1], rest[None, :, :-1], rest[None, :, 1:]
    terms = gammaln(here + a) - gammaln(a) + gammaln(left + b) - gammaln(b) - gammaln(reached + a + b) + gammaln(a + b)
    return terms.sum(-1)


def family_model(counts: Any, family: str, n_segments: int) -> pm.Model:
    """The PyMC model of a K-segment mixture of one count family (module docstring).

    Parameters
    ----------
    counts : array-like of int, shape (row, category)
        The count table; every row needs a positive total.
    family : str
        One of :data:`FAMILIES`; ``"generalized_dirichlet_multinomial"`` takes the categories in the
        table's column order.
    n_segments : int
        K ≥ 1.

    Returns
    -------
    pymc.Model
        Free variables named as in the module docstring (``weights``, ``population_logit``,
        ``deviation_sd``, ``deviation``, ``log_concentration``, ``log_dispersion``, ``log_mean``,
        ``latent_sd``, ``latent_logit``, ``dispersion_ratio_sd`` (σ_τ),
        ``dispersion_ratio`` (ε, dim ``node``), ``total_log_mean``,
        ``total_log_dispersion``); the log-likelihood as a Potential ``y``.

    Raises
    ------
    bayesseg.exceptions.InputError
        Unknown family, K < 1, or counts not a matrix of non-negative integers with positive row totals.
    """
    y = _check(counts, family, n_segments)
    k = int(n_segments)
    n_rows, n_cat = y.shape
    coords = {AUTHOR: np.arange(n_rows), CATEGORY: np.arange(n_cat), SEGMENT: np.arange(k), NODE: np.arange(n_cat - 1)}
    totals = y.sum(1)
    with pm.Model(coords=coords) as model:
        log_w = pt.log(pm.Dirichlet("weights", np.ones(k), dims=SEGMENT)) if k > 1 else pt.zeros(1)
        eta0 = pm.ZeroSumNormal("population_logit", sigma=3.0, dims=CATEGORY)
        if k > 1:
            dev_sd = pm.HalfNormal("deviation_sd", sigma=1.0)
            eta = eta0[None, :] + dev_sd * pm.Normal("deviation", 0.0, 1.0, dims=(SEGMENT, CATEGORY))
        else:
            eta = eta0[None, :]
        if family == "negative_binomial":
            log_mean = pm.Normal("log_mean", np.log(y.mean()), 2.0)
            phi = pt.exp(pm.Normal("log_dispersion", 0.0, 1.5, dims=SEGMENT))
            comp = _nb_logpmf(y[:, None, :], pt.exp(log_mean + eta)[None], phi[None, :, None], pt).sum(-1)
        else:
            log_p = eta - pt.logsumexp(eta, axis=1, keepdims=True)
            if family == "multinomial":
                comp = pt.dot(y, log_p.T)
            elif family == "generalized_dirichlet_multinomial":
                log_kappa = pm.Normal("log_concentration", 3.9, 1.5, dims=SEGMENT)
                tau = pm.HalfNormal("dispersion_ratio_sd", 1.0) * pm.Normal("dispersion_ratio", 0.0, 1.0, dims=NODE)
                comp = _gdm_logpmf(y, log_p, log_kappa, tau[None, :], pt).T
            elif family == "dirichlet_multinomial":
                kappa = pt.exp(pm.Normal("log_concentration", 3.9, 1.5, dims=SEGMENT))
                alpha = kappa[:, None] * pt.exp(log_p)
                comp = (
                    pt.gammaln(kappa)[None, :]
                    - pt.gammaln(totals[:, None] + kappa[None, :])
                    + (pt.gammaln(y[:, None, :] + alpha[None]) - pt.gammaln(alpha)[None]).sum(-1)
                )
            else:
                sd = pm.HalfNormal("latent_sd", sigma=2.0, dims=SEGMENT)
                start = np.log((y + 0.5) / (totals[:, None] + 0.5 * n_cat))
                lam = pm.Flat("latent_logit", dims=(AUTHOR, CATEGORY), initval=start - start.mean(1, keepdims=True))
                prior = (
                    -0.5 * pt.sum(((lam[:, None, :] - eta[None]) / sd[None, :, None]) ** 2, axis=-1)
                    - n_cat * pt.log(sd)[None, :]
                )
                pm.Potential("latent_prior", pt.logsumexp(log_w[None, :] + prior, axis=1).sum())
                comp = pt.sum(y * (lam - pt.logsumexp(lam, axis=1, keepdims=True)), axis=1)[:, None]
                log_w = pt.zeros(1)
            m_n = pm.Normal("total_log_mean", np.log(totals.mean()), 2.0)
            phi_n = pt.exp(pm.Normal("total_log_dispersion", 0.0, 2.0))
            pm.Potential("totals", _nb_logpmf(totals, pt.exp(m_n), phi_n, pt).sum())
        pm.Potential("y", pt.logsumexp(log_w[None, :] + comp, axis=1).sum())
    return model


def logistic_normal_log_marginal(counts: Any, mean: Any, sd: Any, *, max_iter: int = 50) -> np.ndarray:
    r"""Laplace approximation of each row's logistic-normal multinomial log marginal probability.

    :math:`\log \int \mathrm{Mult}(y \mid n, \mathrm{softmax}\,\lambda)\, N(\lambda; \mu, \sigma^2 I)\,d\lambda`.

    Parameters
    ----------
    counts : array-like, shape (row, category)
        Counts :math:`y` (the multinomial coefficient is included).
    mean : array-like, shape (..., category)
        :math:`\mu`, broadcast against the leading dims of ``sd``.
    sd : array-like, shape (...)
        :math:`\sigma > 0`.
    max_iter : int
        Newton steps (each halved until the log density rises).

    Returns
    -------
    numpy.ndarray, shape (..., row)
        The approximate log marginal probability of each row.

    Notes
    -----
    With :math:`p = \mathrm{softmax}\,\lambda`, the negative Hessian of the log density is
    :math:`D - n p p^\top`, :math:`D = \mathrm{diag}(n p + \sigma^{-2})`: Newton's step and the
    log-determinant come from Sherman–Morrison in :math:`O(C)`. The approximation is
    :math:`\log f(\hat\lambda) + \tfrac{C}{2}\log 2\pi - \tfrac12 \log\det(D - n p p^\top)`
    (Tierney & Kadane 1986, https://doi.org/10.1080/01621459.1986.10478240).
    """
    y = np.asarray(counts, dtype=float)
    mu = np.asarray(mean, dtype=float)[..., None, :]
    prec = (1.0 / np.asarray(sd, dtype=float) ** 2)[..., None, None]
    n = y.sum(1, keepdims=True)
    coef = special.gammaln(n[:, 0] + 1) - special.gammaln(y + 1).sum(1)

    def log_density(lam: np.ndarray) -> np.ndarray:
        log_p = lam - special.logsumexp(lam, axis=-1, keepdims=True)
        return (y * log_p).sum(-1) - 0.5 * (prec[..., 0] * ((lam - mu) ** 2).sum(-1))

    lam = np.broadcast_to(mu, np.broadcast_shapes(mu.shape, y.shape)).copy()
    value = log_density(lam)
    for _ in range(max_iter):
        p = special.softmax(lam, axis=-1)
        grad = y - n * p - prec * (lam - mu)
        d = n * p + prec
        gd, pd_ = grad / d, p / d
        step = gd + pd_ * (n * (p * gd).sum(-1, keepdims=True)) / (1.0 - n * (p * pd_).sum(-1, keepdims=True))
        scale = np.ones(value.shape)
        for _ in range(30):  # halve where the step would lower the density (concave: rarely needed)
            new = lam + scale[..., None] * step
            new_value = log_density(new)
            worse = new_value < value - 1e-12
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        kept = new_value >= value - 1e-12  # a row whose step still lowers its density stays where it was
        lam = np.where(kept[..., None], new, lam)
        value = np.where(kept, new_value, value)
        if np.abs(scale[..., None] * step).max() < 1e-9:
            break
    p = special.softmax(lam, axis=-1)
    d = n * p + prec
    log_det = np.log(d).sum(-1) + np.log1p(-(n * p**2 / d).sum(-1))
    n_cat = y.shape[1]
    return coef + value + 0.5 * n_cat * np.log(prec[..., 0]) - 0.5 * log_det


def pointwise_log_likelihood(counts: Any, family: str, draws: Mapping[str, Any]) -> np.ndarray:
    """Each row's log marginal likelihood under each posterior draw, the segment summed out.

    Parameters
    ----------
    counts : array-like of int, shape (row, category)
        Rows to score (the fitted ones, or held-out rows).
    family : str
        One of :data:`FAMILIES`.
    draws : mapping of str to array
        Posterior draws, draw first, of :func:`family_model`'s variables and of ``logit``
        (draw, segment, category): ``weights`` (omitted for K = 1), ``log_concentration``,
        ``log_mean``, ``log_dispersion``, ``latent_sd``, ``dispersion_ratio_sd`` and
        ``dispersion_ratio`` (draw, node), ``total_log_mean``, ``total_log_dispersion`` as the family needs.

    Returns
    -------
    numpy.ndarray, shape (draw, row)
        Full log-probabilities of the rows (multinomial coefficients included), comparable across families.

    Raises
    ------
    bayesseg.exceptions.InputError
        Unknown family, or counts not a matrix of non-negative integers with positive row totals.
    """
    eta = np.asarray(draws["logit"], dtype=float)
    n_draws, k = eta.shape[0], eta.shape[1]
    y = _check(counts, family, k)
    totals = y.sum(1)
    log_w = np.log(np.asarray(draws["weights"], dtype=float)) if k > 1 else np.zeros((n_draws, 1))
    coef = special.gammaln(totals + 1) - special.gammaln(y + 1).sum(1)
    comp = np.empty((n_draws, y.shape[0], k))
    log_p = eta - special.logsumexp(eta, axis=-1, keepdims=True)
    for j in range(k):
        if family == "multinomial":
            comp[..., j] = coef + log_p[:, j] @ y.T
        elif family == "dirichlet_multinomial":
            kappa = np.exp(np.asarray(draws["log_concentration"], dtype=float)[:, j])[:, None]
            alpha = (kappa * np.exp(log_p[:, j]))[:, None, :]
            comp[..., j] = (
                coef
                + special.gammaln(kappa)
                - special.gammaln(totals[None] + kappa)
                + (special.gammaln(y[None] + alpha) - special.gammaln(alpha)).sum(-1)
            )
        elif family == "generalized_dirichlet_multinomial":
            tau = np.asarray(draws["dispersion_ratio_sd"], dtype=float)[:, None] * np.asarray(
                draws["dispersion_ratio"], dtype=float
            )
            log_kappa = np.asarray(draws["log_concentration"], dtype=float)[:, j]
            for chunk in np.array_split(np.arange(n_draws), max(1, n_draws // 16)):  # (draw, row, node) in pieces
                comp[chunk, :, j] = coef + _gdm_logpmf(y, log_p[chunk, j], log_kappa[chunk], tau[chunk], np)
        elif family == "negative_binomial":
            mean = np.exp(np.asarray(draws["log_mean"], dtype=float)[:, None] + eta[:, j])[:, None, :]
            phi = np.exp(np.asarray(draws["log_dispersion"], dtype=float)[:, j])[:, None, None]
            comp[..., j] = _nb_logpmf(y[None], mean, phi, np).sum(-1)
        else:
            sd = np.asarray(draws["latent_sd"], dtype=float)[:, j]
            comp[..., j] = logistic_normal_log_marginal(y, eta[:, j], sd)
    out = special.logsumexp(log_w[:, None, :] + comp, axis=-1)
    if family in CONDITIONAL:
        m_n = np.exp(np.asarray(draws["total_log_mean"], dtype=float))[:, None]
        phi_n = np.exp(np.asarray(draws["total_log_dispersion"], dtype=float))[:, None]
        out = out + _nb_logpmf(totals[None], m_n, phi_n, np)
    return out


def fit_family(
    counts: Any, family: str, n_segments: int, sampler_config: Mapping[str, Any] | None = None
) -> xr.DataTree:
    """Fit one family's K-segment mixture by PyMC's NUTS and score each row under the kept draws.

    Parameters
    ----------
    counts : array-like of int, shape (row, category)
        The count table, in the column order the family is to use (it matters to the generalized
        Dirichlet-multinomial only).
    family : str
        One of :data:`FAMILIES`.
    n_segments : int
        K ≥ 1.
    sampler_config : mapping, optional
        Overrides of :data:`SAMPLER`.

    Returns
    -------
    xarray.DataTree
        ``posterior``: the free variables but ``latent_logit`` and ``logit`` (chain, draw, segment,
        category), thinned to about ``loglik_draws`` draws; ``log_likelihood/y`` (chain, draw, author):
        :func:`pointwise_log_likelihood` under those draws.

    Raises
    ------
    bayesseg.exceptions.InputError
        Unknown family, K < 1, or a bad count table.
    """
    sampler = {**SAMPLER, **(sampler_config or {})}
    y = _check(counts, family, n_segments)
    k = int(n_segments)
    with family_model(y, family, k) as model, without_fastmath():  # bayesseg's arithmetic: cache-independent bits
        if k > 1:
            pm.Deterministic("logit", model["population_logit"][None, :] + model["deviation_sd"] * model["deviation"])
        else:
            pm.Deterministic("logit", model["population_logit"][None, :])
        names = [v.name for v in model.free_RVs if v.name != "latent_logit"] + ["logit"]
        idata = pm.sample(
            draws=sampler["draws"],
            tune=sampler["tune"],
            chains=sampler["chains"],
            target_accept=sampler["target_accept"],
            random_seed=sampler["random_seed"],
            var_names=names,
            progressbar=False,
            compute_convergence_checks=False,
        )
    posterior = idata["posterior"].to_dataset()
    step = max(1, posterior.sizes["draw"] // max(1, sampler["loglik_draws"] // posterior.sizes["chain"]))
    posterior = posterior.isel(draw=slice(None, None, step))
    values = {name: stack_sample_dims(posterior[name]).values for name in posterior.data_vars}
    loglik = pointwise_log_likelihood(y, family, values)
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], y.shape[0])
    log_lik = xr.Dataset({"y": (("chain", "draw", AUTHOR), loglik.reshape(shape))}, coords=posterior["draw"].coords)
    return xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_lik})


def compare_families(
    counts: Any,
    families: Sequence[str] = FAMILIES,
    ks: Sequence[int] = (1, 2, 3),
    sampler_config: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Fit every family at every K by NUTS and compare them by PSIS-LOO.

    Parameters
    ----------
    counts : array-like of int, shape (row, category)
        The count table.
    families : sequence of str
        Families of :data:`FAMILIES`. The generalized Dirichlet-multinomial takes the categories
        largest total first.
    ks : sequence of int
        Numbers of segments, each ≥ 1.
    sampler_config : mapping, optional
        Overrides of :data:`SAMPLER` (PyMC's NUTS: ``draws``, ``tune``, ``chains``,
        ``target_accept``, ``random_seed``; ``loglik_draws``, the thinned draws scored).

    Returns
    -------
    pandas.DataFrame
        One row per family and K, best first: ``family``, ``k``, ``elpd``, ``se``, ``elpd_diff``
        (the best's elpd minus this row's) and ``dse``, ``p`` (the effective number of parameters),
        ``n_high_pareto_k`` (rows with k̂ above arviz-stats' ``good_k``), ``good_k``, ``rhat_loglik`` (R-hat of the total
        log-likelihood, which the segments' labels do not change) and ``seconds``.

    Raises
    ------
    bayesseg.exceptions.InputError
        Unknown family, K < 1, or a bad count table.
    """
    import arviz_stats  # about a second to import: loaded when families are compared, not with bayesseg

    cfg = {**SAMPLER, **(sampler_config or {})}
    y = _check(counts, FAMILIES[0], 1)
    for family in families:  # every family and K checked before the first (long) fit
        for k in ks:
            _check(y, family, k)
    loos, rows = {}, {}
    largest_first = np.argsort(-y.sum(0), kind="stable")
    for family in families:
        for k in ks:
            start = time.perf_counter()
            # the other families are the same in any column order
            ordered = y[:, largest_first] if family == "generalized_dirichlet_multinomial" else y
            tree = fit_family(ordered, family, int(k), cfg)
            name = f"{family} K={k}"
            with warnings.catch_warnings():  # high k̂ is counted in the table, not warned once per fit
                warnings.simplefilter("ignore", UserWarning)
                loos[name] = arviz_stats.loo(tree, var_name="y", pointwise=True)
            total = tree["log_likelihood"]["y"].sum(AUTHOR)
            rows[name] = {
                "family": family,
                "k": int(k),
                "n_high_pareto_k": int((np.asarray(loos[name].pareto_k) > loos[name].good_k).sum()),
                "good_k": float(loos[name].good_k),
                "rhat_loglik": float(arviz_stats.rhat(total)),
                "seconds": round(time.perf_counter() - start, 1),
            }
    table = arviz_stats.compare(loos, round_to="none")
    table["elpd_diff"] = table["elpd"].max() - table["elpd"]
    extra = pd.DataFrame.from_dict(rows, orient="index")
    columns = ["elpd", "se", "elpd_diff", "dse", "p"]
    return extra.join(table[columns]).loc[table.index, ["family", "k", *columns, *extra.columns[2:]]]
