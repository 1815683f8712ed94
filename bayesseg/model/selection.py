r"""Choosing K: fit a range of K, estimate each fit's expected log predictive density, keep the smallest near the best.

The estimate is PSIS-LOO (Vehtari, Gelman & Gabry 2017) while it is reliable; when more than
``HIGH_PARETO_K_SHARE`` of the authors have a Pareto k̂ above arviz-stats' threshold for the
number of draws (``ELPDData.good_k``, :math:`\min(1 - 1/\log_{10} S, 0.7)`), the importance
weights cannot be trusted: the estimates of those authors are first moment matched (Paananen et
al. 2021, :mod:`bayesseg.model.moment_match`: no refit), and only if too many remain above the
threshold does it fall back to exact K-fold cross-validation of each author's marginal likelihood
(the model refitted on the other folds; folds stratified by the authors' label totals). The K kept
is the smallest whose ``elpd_diff`` to the best is within
``PARSIMONY_DSE`` standard errors of the difference (``dse``): the data then cannot tell it
from the best, and it is the simpler model (a parsimony rule in the spirit of the one-standard-error
rule of cross-validation, Hastie, Tibshirani & Friedman 2009, §7.10).

References
----------
Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432. https://doi.org/10.1007/s11222-016-9696-4

Hastie, T., Tibshirani, R., & Friedman, J. (2009). *The Elements of Statistical Learning* (2nd ed.).
Springer. https://doi.org/10.1007/978-0-387-84858-7

Vehtari, A., Simpson, D., Gelman, A., Yao, Y., & Gabry, J. (2024). Pareto smoothed importance
sampling. *JMLR* 25(72), 1-58. https://jmlr.org/papers/v25/19-556.html

Paananen, T., Piironen, J., Bürkner, P.-C., & Vehtari, A. (2021). Implicitly adaptive importance
sampling. *Statistics and Computing* 31, 16. https://doi.org/10.1007/s11222-020-09982-2
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg._interrupts import stopping_other_threads
from bayesseg.dims import AUTHOR
from bayesseg.exceptions import InputError
from bayesseg.model.likelihood import data_by_reference
from bayesseg.model.moment_match import high_pareto_k
from bayesseg.model.sampling import keeping_compiled
from bayesseg.model.segment_model import SegmentModel

__all__ = [
    "HIGH_PARETO_K_SHARE",
    "MOMENT_MATCH_MAX_SHARE",
    "PARSIMONY_DSE",
    "KComparison",
    "compare_k",
    "kfold_folds",
    "parsimonious_k",
    "worth_matching",
]

PARSIMONY_DSE = 2.0
"""The K kept is the smallest within this many ``dse`` of the best expected log predictive density."""
HIGH_PARETO_K_SHARE = 0.01
"""PSIS-LOO is replaced by K-fold when more than this share of authors has k̂ above ``good_k`` under some K
(after moment matching, where it is on)."""

MOMENT_MATCH_MAX_SHARE = 0.05
"""Moment matching is tried under a K only while at most this share of authors has a high k̂.

Beyond it the posterior is far from many authors' leave-one-out posteriors, matching each of them
costs more than refitting the folds, and K-fold is used directly.
"""

Criterion = Literal["auto", "loo", "kfold"]


@dataclass
class KComparison:
    """Fits of a range of K, their expected log predictive densities, and the K kept.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``K=k``, best elpd first: ``k``, ``elpd``, ``se``, ``elpd_diff`` and ``dse``
        (difference to the best and its standard error), ``within_rule`` (``elpd_diff <=``
        ``PARSIMONY_DSE`` × ``dse``), ``n_high_pareto_k`` (authors with k̂ above ``good_k``),
        ``good_k`` and ``high_pareto_k`` (more than ``HIGH_PARETO_K_SHARE`` of the authors);
        ``n_moment_matched``: authors above ``good_k`` before moment matching (0 where it did not run).
    models : dict of int to SegmentModel
        The fits on all authors, by K.
    best_k : int
        The K kept: the smallest K within the rule.
    top_k : int
        The K of the highest elpd.
    criterion : {"psis-loo", "psis-loo-mm", "kfold"}
        How elpd was estimated: PSIS-LOO, PSIS-LOO with the high-k̂ authors moment matched, or
        exact K-fold cross-validation.
    """

    table: pd.DataFrame
    models: dict[int, SegmentModel]
    best_k: int
    top_k: int
    criterion: str

    @property
    def best(self) -> SegmentModel:
        """The model of ``best_k``."""
        return self.models[self.best_k]

    @property
    def rule(self) -> str:
        """The rule that chose ``best_k``, in words."""
        how = {
            "psis-loo": "PSIS-LOO",
            "psis-loo-mm": "PSIS-LOO, the high-k̂ authors moment matched",
            "kfold": "exact K-fold cross-validation",
        }[self.criterion]
        return (
            f"the smallest K whose elpd is within {PARSIMONY_DSE:g} standard errors of the difference (dse) of the "
            f"best ({how})"
        )


def parsimonious_k(table: pd.DataFrame, multiplier: float = PARSIMONY_DSE) -> int:
    """The smallest K whose ``elpd_diff`` is within `multiplier` × ``dse`` of the best.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``k``, ``elpd_diff`` (≥ 0; 0 for the best) and ``dse``.
    multiplier : float, default ``PARSIMONY_DSE``
        How many standard errors of the difference count as indistinguishable.

    Returns
    -------
    int
    """
    within = table["elpd_diff"] <= multiplier * table["dse"].fillna(0.0)
    return int(table.loc[within, "k"].min())


def worth_matching(n_high: int, n_authors: int) -> bool:
    """Whether a K's high-k̂ authors are moment matched before K-fold is considered.

    Parameters
    ----------
    n_high : int
        Authors whose Pareto k̂ is above ``good_k`` (or NaN) under the K.
    n_authors : int
        Authors in the comparison.

    Returns
    -------
    bool
        More than ``HIGH_PARETO_K_SHARE`` of the authors (PSIS-LOO is unreliable) and at most
        ``MOMENT_MATCH_MAX_SHARE`` (matching them one by one costs less than refitting the folds).
    """
    return HIGH_PARETO_K_SHARE * n_authors < n_high <= MOMENT_MATCH_MAX_SHARE * n_authors


def kfold_folds(totals: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each author, stratified by label total: authors sorted by total are dealt round-robin.

    Parameters
    ----------
    totals : numpy.ndarray, shape (author,)
        Each author's label total.
    n_folds : int
        Number of folds.
    seed : int
        Breaks ties between equal totals and shuffles the deal within each round.

    Returns
    -------
    numpy.ndarray of int, shape (author,)
        Values ``0 .. n_folds - 1``; fold sizes differ by at most one, and each fold spans the totals.
    """
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(totals.size), totals))
    folds = np.empty(totals.size, dtype=np.int64)
    for start in range(0, totals.size, n_folds):
        block = order[start : start + n_folds]
        folds[block] = rng.permutation(n_folds)[: block.size]
    return folds


def _fit_each(
    ks: Sequence[int],
    model_config: dict[str, Any] | None,
    sampler_config: dict[str, Any] | None,
    counts: xr.DataArray,
    covariates: xr.DataArray | None,
    weights: np.ndarray | None,
    n_jobs: int = 1,
) -> dict[int, SegmentModel]:
    """Fit every K in turn; with nutpie, the next K is compiled on another thread while this one samples.

    nutpie's two chains leave a core partly idle (the chain with more steps sets the pace), and
    compiling a model takes one core: compiled beside the last fit, the next model is ready when
    its fit starts. The draws are those of fits run one after another (the same compiled code,
    the same seeds; ``tests/test_selection.py``). With ``n_jobs > 1``, up to `n_jobs` at a time (:func:`_side_by_side`).
    """
    fits = {k: SegmentModel(k, model_config, sampler_config) for k in ks}
    sampler = fits[ks[0]].sampler_config["sampler"]
    if n_jobs > 1 and sampler != "nutpie":
        raise InputError(f"n_jobs > 1 fits K side by side for sampler 'nutpie' only, not {sampler!r}")
    if n_jobs > 1 and len(ks) > 1:
        fit = {k: functools.partial(m.fit, counts, covariates, weights=weights) for k, m in fits.items()}
        return _side_by_side(fit, n_jobs, "fit")
    if sampler != "nutpie" or len(ks) < 2:
        return {k: m.fit(counts, covariates, weights=weights) for k, m in fits.items()}
    ahead: Future[SegmentModel] | None = None
    for k, after in zip(ks, [*ks[1:], None], strict=True):
        if ahead is not None:
            ahead.result()  # the compiled model waits in compile_nutpie's store; a failure is raised here
        ahead = None if after is None else _on_a_thread(fits[after].compile, counts, covariates, weights)
        fits[k].fit(counts, covariates, weights=weights)
    return fits


def _side_by_side[T](calls: Mapping[int, Callable[[], T]], n_jobs: int, what: str) -> dict[int, T]:
    """Run up to `n_jobs` calls (one per K) at a time, each on a thread ``bayesseg-<what>-k<K>``, the largest K first.

    nutpie samples outside Python's lock, so fits on threads share the cores; compilations still
    take turns (:func:`bayesseg.model.sampling.compile_nutpie`). The largest K take longest to
    sample, so they start first (longest processing time first: the last call to start is the
    quickest). Each fit draws what it would alone (``tests/test_selection.py``). When a call fails
    (or Ctrl-C reaches the waiting thread), the others are stopped and waited for, and the error is raised.
    """
    queue = sorted(calls, reverse=True)
    running: dict[Future[T], int] = {}
    results: dict[int, T] = {}
    try:
        while queue or running:
            while queue and len(running) < n_jobs:
                k = queue.pop(0)
                running[_on_a_thread(calls[k], name=f"bayesseg-{what}-k{k}")] = k
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()  # a call's error is raised here
    except BaseException:
        with stopping_other_threads():
            wait(running)
        raise
    return {k: results[k] for k in calls}


def _on_a_thread(call: Callable[..., Any], *args: Any, name: str = "bayesseg-compile") -> Future[Any]:
    """``call(*args)`` on a daemon thread: a Ctrl-C that ends the process does not wait for it."""
    future: Future[Any] = Future()

    def run() -> None:
        try:
            future.set_result(call(*args))
        except BaseException as error:  # handed to the waiting thread, which raises it
            future.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _kfold_pointwise(
    counts: xr.DataArray,
    covariates: xr.DataArray | None,
    k: int,
    folds: np.ndarray,
    model_config: dict[str, Any] | None,
    sampler_config: dict[str, Any] | None,
    weights: np.ndarray | None,
) -> np.ndarray:
    """Each author's log predictive density from the fit on the other folds.

    The folds' data are held by reference, so that folds of one structure share one compilation,
    kept for this thread until its last fold (whatever other threads compile meanwhile).
    """
    out = np.empty(counts.sizes[AUTHOR])
    with keeping_compiled(), data_by_reference():  # the held-out densities build no graph
        for f in np.unique(folds):
            train, test = folds != f, folds == f
            w = None if weights is None else weights[train] * train.sum() / weights[train].sum()
            model = SegmentModel(k, model_config, sampler_config).fit(
                counts.isel(author=train), None if covariates is None else covariates.isel(author=train), weights=w
            )
            held = model.log_predictive_density(
                counts.isel(author=test), None if covariates is None else covariates.isel(author=test)
            )
            out[test] = held.values
    return out


def _difference_table(pointwise: dict[int, np.ndarray]) -> pd.DataFrame:
    """elpd, se, elpd_diff and dse of pointwise elpds (the comparison arviz-stats makes for LOO)."""
    elpd = {k: float(v.sum()) for k, v in pointwise.items()}
    top = max(elpd, key=lambda k: elpd[k])
    n = len(next(iter(pointwise.values())))
    rows = []
    for k, v in pointwise.items():
        diff = pointwise[top] - v
        rows.append(
            {
                "k": k,
                "elpd": elpd[k],
                "se": float(np.sqrt(n * np.var(v))),
                "elpd_diff": float(diff.sum()),
                "dse": float(np.sqrt(n * np.var(diff))),
            }
        )
    return pd.DataFrame(rows, index=[f"K={r['k']}" for r in rows]).sort_values("elpd", ascending=False)


def compare_k(
    counts: xr.DataArray,
    covariates: xr.DataArray | None,
    k_values: Sequence[int],
    model_config: dict[str, Any] | None = None,
    sampler_config: dict[str, Any] | None = None,
    weights: Any = None,
    *,
    criterion: Criterion = "auto",
    n_folds: int = 5,
    seed: int = 0,
    moment_match: bool = True,
    n_jobs: int = 1,
) -> KComparison:
    """Fit a range of K, estimate each fit's elpd, and keep the smallest K the data cannot tell from the best.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts.
    covariates : xarray.DataArray, dims (author, covariate), optional
        Raw covariates.
    k_values : sequence of int
        Numbers of segments to fit (K = 1, the population's own Dirichlet-multinomial, belongs
        in every comparison).
    model_config, sampler_config : dict, optional
        Passed to every :class:`bayesseg.model.SegmentModel`.
    weights : array_like, dims (author,), optional
        Sampling weights (see :meth:`bayesseg.model.SegmentModel.fit`); the elpd is of the
        unweighted authors, so with unequal weights it compares fits to the sample, not the population.
    criterion : {"auto", "loo", "kfold"}, default "auto"
        ``"auto"``: PSIS-LOO, or exact K-fold when more than ``HIGH_PARETO_K_SHARE`` of the
        authors have k̂ above ``good_k`` under some K (after moment matching with `moment_match`).
    n_folds : int, default 5
        Folds of the K-fold cross-validation (each K is refitted `n_folds` times).
    seed : int, default 0
        Seed of the folds.
    moment_match : bool, default True
        With ``"auto"`` or ``"loo"``: where more than ``HIGH_PARETO_K_SHARE`` (and at most
        ``MOMENT_MATCH_MAX_SHARE``) of the authors have k̂ above ``good_k`` under a K, moment match their estimates
        (:meth:`bayesseg.model.SegmentModel.loo`) before deciding on K-fold.
    n_jobs : int, default 1
        How many K are fitted at a time (sampler ``"nutpie"``), the largest first; each fit runs
        its chains on their own cores, so ``n_jobs × chains`` cores are busy, and each fit's working
        memory (the sampler's draws as they come, the pointwise log-likelihood as it is computed)
        is needed `n_jobs` times at once. The K-fold refits run so too: `n_jobs` K at a time, each
        K's folds one after another on its thread (sharing one compilation). 1: one after another.

    Returns
    -------
    KComparison

    Raises
    ------
    bayesseg.exceptions.InputError
        If `k_values` is empty, `criterion`, `n_folds` or `n_jobs` is invalid, or `n_jobs` > 1
        with a sampler other than nutpie.

    Notes
    -----
    With ``n_jobs = 1`` the K are fitted one after another; with nutpie, each K's model is compiled
    on a second thread while the K before it samples (:meth:`bayesseg.model.SegmentModel.compile`).
    On a 278 × 130 table, K = 1..7 took 0.83 of the time with nothing compiled before. With
    ``n_jobs > 1`` the fits run on threads side by side (nutpie samples outside Python's lock;
    compilations take turns), and so do the K-fold refits, each K's folds in turn on its thread
    reusing one compilation (:func:`bayesseg.model.sampling.keeping_compiled`). Either way every
    K draws what its fit alone would (``tests/test_selection.py``; timings in benchmarks/RESULTS.md).

    References
    ----------
    Vehtari, Gelman & Gabry (2017), https://doi.org/10.1007/s11222-016-9696-4;
    Vehtari, Simpson, Gelman, Yao & Gabry (2024), https://jmlr.org/papers/v25/19-556.html;
    Paananen, Piironen, Bürkner & Vehtari (2021), https://doi.org/10.1007/s11222-020-09982-2
    """
    import arviz_stats  # about a second to import: loaded when K is compared, not with bayesseg

    ks = sorted({int(k) for k in k_values})
    if not ks:
        raise InputError("compare_k needs at least one K")
    if criterion not in ("auto", "loo", "kfold"):
        raise InputError(f"criterion must be 'auto', 'loo' or 'kfold', got {criterion!r}")
    if n_folds < 2:
        raise InputError(f"n_folds must be at least 2, got {n_folds}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs < 1:
        raise InputError(f"n_jobs must be a whole number of at least 1, got {n_jobs!r}")
    w = None if weights is None else np.asarray(weights, dtype=float)
    models = _fit_each(ks, model_config, sampler_config, counts, covariates, w, int(n_jobs))
    loos = {k: m.loo() for k, m in models.items()}
    n_authors = counts.sizes[AUTHOR]
    high = {k: high_pareto_k(loo) for k, loo in loos.items()}
    matched = dict.fromkeys(ks, 0)
    if moment_match and criterion != "kfold":
        for k in ks:
            if worth_matching(high[k], n_authors):
                matched[k] = high[k]
                loos[k] = models[k].loo(moment_match=True)
                high[k] = high_pareto_k(loos[k])
    unreliable = any(h > HIGH_PARETO_K_SHARE * n_authors for h in high.values())
    use_kfold = criterion == "kfold" or (criterion == "auto" and unreliable)
    if use_kfold:
        folds = kfold_folds(counts.sum("category").values, n_folds, seed)
        refits = {
            k: functools.partial(_kfold_pointwise, counts, covariates, k, folds, model_config, sampler_config, w)
            for k in ks
        }
        if n_jobs > 1 and len(ks) > 1:  # each K's folds in turn on its own thread
            table = _difference_table(_side_by_side(refits, n_jobs, "kfold"))
        else:
            table = _difference_table({k: refit() for k, refit in refits.items()})
    else:
        # unrounded (compare rounds elpd_diff to dse's significant digits by default), and elpd_diff
        # as the best minus this K: arviz-stats reports this K minus the best, negative for worse fits,
        # which the rule's `elpd_diff <= 2 dse` would always accept
        table = arviz_stats.compare({f"K={k}": loos[k] for k in ks}, round_to="none")
        table["elpd_diff"] = table["elpd"].max() - table["elpd"]
        table.insert(0, "k", [int(str(name).removeprefix("K=")) for name in table.index])
    table["within_rule"] = table["elpd_diff"] <= PARSIMONY_DSE * table["dse"].fillna(0.0)
    table["n_high_pareto_k"] = [high[int(k)] for k in table["k"]]
    table["good_k"] = [float(loos[int(k)].good_k) for k in table["k"]]
    table["high_pareto_k"] = table["n_high_pareto_k"] > HIGH_PARETO_K_SHARE * n_authors
    table["n_moment_matched"] = [matched[int(k)] for k in table["k"]]
    best = parsimonious_k(table)
    how = "kfold" if use_kfold else ("psis-loo-mm" if any(matched.values()) else "psis-loo")
    return KComparison(table, models, best, int(table["k"].iloc[0]), how)
