r"""Starting values for NUTS from an EM fit of the mixture: one mode, found before sampling.

A finite mixture has several local modes besides the K! relabellings of each. Started at the
model's default point, NUTS chains spend most of their warmup finding a mode, and different
chains can settle in different ones (on the demo warehouse: two chains, R-hat 1.8, half the
segments split differently). :func:`em_start` finds a good mode cheaply and deterministically:

1. k-means (several restarts) on the authors' Hellinger-transformed category shares;
2. from each, EM for a mixture of multinomials (closed-form M-step, vectorised);
3. per restart, the segment concentrations that maximise the responsibility-weighted
   Dirichlet-multinomial likelihood (grid search in log κ), and the restart with the highest
   Dirichlet-multinomial mixture log-likelihood is kept;
4. clusters are matched to anchored segments by the lift of their rule's categories (Hungarian
   algorithm), the others follow by size;
5. gating coefficients: a multinomial logit of the responsibilities on the standardised
   covariates (scikit-learn, weak L2 penalty), re-expressed against segment 0.

The result is mapped to the model's parameters (unconstrained where the model samples them) and
every chain starts there; NUTS then samples the posterior around that mode.

References
----------
Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from incomplete data via
the EM algorithm. *JRSS B* 39(1), 1-38. https://doi.org/10.1111/j.2517-6161.1977.tb01600.x

Arthur, D., & Vassilvitskii, S. (2007). k-means++: the advantages of careful seeding. *Proc. SODA
2007*, 1027-1035. https://dl.acm.org/doi/10.5555/1283383.1283494
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from scipy import special
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans  # imported with the module, so that threadpool_limits finds its OpenMP
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from bayesseg.exceptions import InputError
from bayesseg.model.likelihood import SparseCounts, dm_logpmf_sparse

__all__ = ["StartingPoint", "em_start"]

_LOG_KAPPA_GRID = np.linspace(np.log(2.0), np.log(5_000.0), 48)
_POOLS = threading.Lock()  # held by em_start while the BLAS and OpenMP pools are limited (its Notes)


@dataclass(frozen=True)
class StartingPoint:
    """An EM mode mapped to the model's parameters.

    Attributes
    ----------
    initvals : dict of str to numpy.ndarray
        Values of the model's free variables (``population_logit``, ``deviation``,
        ``deviation_sd``, ``log_concentration*``, ``intercept``, ``slope``; category-indexed values in
        the counts' order), for ``pm.sample(initvals=...)``.
    responsibilities : numpy.ndarray, shape (author, segment)
        EM membership probabilities, columns in the model's segment order.
    log_likelihood : float
        Dirichlet-multinomial mixture log-likelihood at the mode (mixing weights, no gating).
    restarts : list of float
        That log-likelihood for every restart.
    log_concentration : numpy.ndarray, shape (segment,)
        Each segment's log κ maximising its responsibility-weighted Dirichlet-multinomial
        likelihood (the grid's best point refined by a parabola through it and its neighbours).
    log_concentration_se : numpy.ndarray, shape (segment,)
        Its standard error from that parabola's curvature (the observed information), ``inf``
        where the best point is at the grid's edge or the curvature is not negative.
    """

    initvals: dict[str, np.ndarray]
    responsibilities: np.ndarray
    log_likelihood: float
    restarts: list[float]
    log_concentration: np.ndarray = field(default_factory=lambda: np.empty(0))
    log_concentration_se: np.ndarray = field(default_factory=lambda: np.empty(0))

    def concentration_spread(self) -> tuple[float, float]:
        """Between-segment spread of the log concentrations, and their typical standard error.

        The spread is the method-of-moments estimate ``sqrt(max(0, var(log κ̂) - mean(se²)))``
        (DerSimonian & Laird 1986, https://doi.org/10.1016/0197-2456(86)90046-2); the error is
        ``sqrt(mean(se²))``. Where the spread is not well above the error, the data do not tell
        the segments' concentrations apart, and a centred hierarchy would funnel as its scale
        goes to zero (:func:`bayesseg.model.graph.centred_concentration` sets the margin).

        Returns
        -------
        spread, error : float
        """
        se2 = float(np.mean(self.log_concentration_se**2)) if self.log_concentration_se.size else float("inf")
        var = float(np.var(self.log_concentration, ddof=1)) if self.log_concentration.size > 1 else 0.0
        return float(np.sqrt(max(0.0, var - se2))), float(np.sqrt(se2))


def _multinomial_em(y: np.ndarray, resp: np.ndarray, n_iter: int, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """EM for a mixture of multinomials from initial responsibilities; returns (resp, log θ)."""
    prev = -np.inf
    log_theta = np.zeros((resp.shape[1], y.shape[1]))
    for _ in range(n_iter):
        weight = resp.sum(axis=0)
        mass = resp.T @ y + 0.5  # (K, C), a half-count of smoothing keeps every category possible
        log_theta = np.log(mass / mass.sum(axis=1, keepdims=True))
        log_pi = np.log(np.maximum(weight, 1e-9) / weight.sum())
        joint = y @ log_theta.T + log_pi
        total = special.logsumexp(joint, axis=1)
        resp = np.exp(joint - total[:, None])
        ll = float(total.sum())
        if ll - prev < tol * abs(ll):
            break
        prev = ll
    return resp, log_theta


def em_start(
    counts: np.ndarray,
    x: np.ndarray,
    n_segments: int,
    offsets: np.ndarray,
    n_restarts: int = 4,
    seed: int = 0,
    n_iter: int = 200,
) -> StartingPoint:
    """Find a mode of the mixture by EM and map it to the model's parameters.

    Parameters
    ----------
    counts : numpy.ndarray, shape (author, category)
        Label counts (non-negative integers, every row with at least one count).
    x : numpy.ndarray, shape (author, covariate)
        Standardised covariates (may have 0 columns).
    n_segments : int
        K.
    offsets : numpy.ndarray, shape (segment, category)
        The model's anchor offsets (rows of anchored segments non-zero, the others zero).
    n_restarts : int, default 4
        k-means restarts, each followed by EM.
    seed : int, default 0
        Seed of the restarts.
    n_iter : int, default 200
        Maximum EM iterations per restart.

    Returns
    -------
    StartingPoint

    Raises
    ------
    bayesseg.exceptions.InputError
        If there are fewer authors than segments.

    Notes
    -----
    The BLAS and OpenMP thread pools are held at one thread throughout (threadpoolctl): OpenBLAS
    splits a matrix product's sums among its threads, so the mode's last bits, and every draw of
    the chains started from it, would otherwise depend on the machine's cores or on
    ``OPENBLAS_NUM_THREADS``. The limits are the process's, not a thread's: a call ending on one
    thread restores the pools it found under another's still running, so one call at a time holds
    them (a lock; :func:`bayesseg.model.selection.compare_k` finds the next K's start on a second
    thread while this K's fit finds its own).
    """
    n, k = counts.shape[0], int(n_segments)
    if n < k:
        raise InputError(f"{n} authors cannot make {k} segments")
    with _POOLS, threadpool_limits(limits=1):
        return _em_mode(counts, x, k, offsets, n_restarts, seed, n_iter)


def _em_mode(
    counts: np.ndarray, x: np.ndarray, k: int, offsets: np.ndarray, n_restarts: int, seed: int, n_iter: int
) -> StartingPoint:
    """:func:`em_start`'s work, in whatever thread pools the caller set."""
    y = np.asarray(counts, dtype=float)
    n, _c = y.shape
    sparse = SparseCounts.from_dense(counts.astype(np.int64))
    hellinger = np.sqrt(y / y.sum(axis=1, keepdims=True))
    rng = np.random.default_rng(seed)
    best = None
    restarts = []
    for _r in range(n_restarts):
        labels = KMeans(k, n_init=1, random_state=int(rng.integers(2**31 - 1))).fit_predict(hellinger)
        resp0 = np.full((n, k), 0.05 / (k - 1) if k > 1 else 0.0)
        resp0[np.arange(n), labels] = 0.95 if k > 1 else 1.0
        resp, log_theta = _multinomial_em(y, resp0, n_iter)
        # concentrations: responsibility-weighted DM likelihood over a grid of log κ
        log_alpha = _LOG_KAPPA_GRID[:, None, None] + log_theta[None]  # (G, K, C)
        dm = dm_logpmf_sparse(sparse, log_alpha)  # (G, N, K)
        score = np.einsum("gnk,nk->gk", dm, resp)
        log_kappa = _LOG_KAPPA_GRID[score.argmax(axis=0)]
        refined, se = _parabola_peak(score)
        dm_best = np.take_along_axis(dm, score.argmax(axis=0)[None, None, :], axis=0)[0]  # (N, K)
        log_pi = np.log(np.maximum(resp.mean(axis=0), 1e-9))
        ll = float(special.logsumexp(dm_best + log_pi, axis=1).sum())
        restarts.append(ll)
        if best is None or ll > best[0]:
            best = (ll, resp, log_theta, log_kappa, refined, se)
    assert best is not None
    ll, resp, log_theta, log_kappa, refined, se = best

    # clusters -> segments: anchored segments by their rule's lift, the rest by size
    log_pop = np.log(y.sum(axis=0) + 0.5) - np.log((y.sum(axis=0) + 0.5).sum())
    anchored = [j for j in range(k) if np.any(offsets[j] != 0)]
    order = np.full(k, -1)
    if anchored:
        rule = offsets[anchored] > 0  # (A, C)
        lift = (log_theta - log_pop)[:, None, :]  # (K, 1, C)
        score = (lift * rule[None]).sum(axis=2) / np.maximum(rule.sum(axis=1), 1)[None]  # (K, A)
        rows, cols = linear_sum_assignment(-score)
        for cl, a in zip(rows, cols, strict=True):
            order[anchored[a]] = cl
    rest = [cl for cl in np.argsort(-resp.sum(axis=0)) if cl not in set(order[order >= 0])]
    for j in range(k):
        if order[j] < 0:
            order[j] = rest.pop(0)
    resp, log_theta, log_kappa = resp[:, order], log_theta[order], log_kappa[order]
    refined, se = refined[order], se[order]

    # profiles -> population logit (the centre of the segment logits) + deviations that sum to
    # zero over categories and over segments, as the model's (after the anchor offsets)
    logits = log_theta - offsets
    logits = logits - logits.mean(axis=1, keepdims=True)
    eta0 = logits.mean(axis=0)
    dev = logits - eta0[None, :]
    dev_sd = float(np.clip(dev.std(), 0.05, 3.0))
    mu = float(log_kappa.mean())
    sd = float(np.clip(log_kappa.std(), 0.05, 2.0))
    init: dict[str, np.ndarray] = {
        "population_logit": eta0,
        "deviation": dev,
        "deviation_sd": np.asarray(dev_sd),
        "log_concentration_mu": np.asarray(mu),
        "log_concentration_sd": np.asarray(sd),
        "log_concentration": log_kappa,  # centred form
        "log_concentration_raw": (log_kappa - mu) / sd,  # non-centred form
    }
    # gating: multinomial logit of the responsibilities (as weights) on the covariates
    p = x.shape[1]
    if k == 1:  # no gating
        gamma = np.zeros(1)
    elif p:
        rows_x = np.repeat(x, k, axis=0)
        rows_y = np.tile(np.arange(k), n)
        w = resp.ravel() + 1e-6
        fit = LogisticRegression(C=100.0, max_iter=500).fit(rows_x, rows_y, sample_weight=w)
        intercept, coef = fit.intercept_, fit.coef_
        if k == 2:  # scikit-learn keeps one row (class 1 against class 0) for two classes
            intercept, coef = np.r_[0.0, intercept], np.vstack([np.zeros_like(coef), coef])
        gamma = intercept - intercept[0]
        beta = (coef - coef[0]).T  # (P, K)
        beta = np.clip(beta, -5, 5)
        init["slope"] = beta - beta.mean(axis=1, keepdims=True)  # zero-sum over segments, as the model's
    else:
        share = np.maximum(resp.mean(axis=0), 1e-6)
        gamma = np.log(share) - np.log(share[0])
    gamma = np.clip(gamma, -6, 6)
    init["intercept"] = gamma - gamma.mean()
    return StartingPoint(init, resp, ll, restarts, refined, se)


def _parabola_peak(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak and standard error of each column of a log-likelihood on ``_LOG_KAPPA_GRID`` (G, K).

    A parabola through the best grid point and its two neighbours: its vertex, and ``1/sqrt(-f'')``.
    """
    h = _LOG_KAPPA_GRID[1] - _LOG_KAPPA_GRID[0]
    best = score.argmax(axis=0)
    g = np.clip(best, 1, score.shape[0] - 2)
    cols = np.arange(score.shape[1])
    f0, f1, f2 = score[g - 1, cols], score[g, cols], score[g + 1, cols]
    curvature = (f0 - 2.0 * f1 + f2) / h**2
    inside = (best == g) & (curvature < 0)
    safe = np.where(inside, curvature, -1.0)
    # vertex of the parabola through (-h, f0), (0, f1), (h, f2): h (f0 - f2) / (2 (f0 - 2 f1 + f2))
    peak = np.where(inside, _LOG_KAPPA_GRID[g] + (f0 - f2) / (2.0 * h * safe), _LOG_KAPPA_GRID[best])
    se = np.where(inside, 1.0 / np.sqrt(-safe), np.inf)
    return peak, se
