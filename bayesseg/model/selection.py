"""Choosing K: fit a range of K and compare the fits by PSIS-LOO.

References
----------
Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Statistics and Computing* 27, 1413-1432. https://doi.org/10.1007/s11222-016-9696-4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import xarray as xr

from bayesseg.model.segment_model import SegmentModel

__all__ = ["KComparison", "compare_k"]


@dataclass
class KComparison:
    """Fits of a range of K and their PSIS-LOO comparison.

    Attributes
    ----------
    table : pandas.DataFrame
        ``arviz_stats.compare`` table indexed by ``K=k`` (best first), with ``n_high_pareto_k``
        (authors with Pareto k > 0.7, where PSIS-LOO is unreliable) and ``high_pareto_k`` (flag).
    models : dict of int to SegmentModel
        The fitted models by K.
    best_k : int
        The K kept.
    """

    table: pd.DataFrame
    models: dict[int, SegmentModel]
    best_k: int

    @property
    def best(self) -> SegmentModel:
        """The model of ``best_k``."""
        return self.models[self.best_k]


def compare_k(
    counts: xr.DataArray,
    covariates: xr.DataArray | None,
    k_values: Sequence[int],
    model_config: dict[str, Any] | None = None,
    sampler_config: dict[str, Any] | None = None,
    weights: Any = None,
) -> KComparison:
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
        Passed to every :class:`bayesseg.model.SegmentModel`.
    weights : array_like, dims (author,), optional
        Sampling weights (see :meth:`bayesseg.model.SegmentModel.fit`); LOO uses the unweighted pointwise
        log-likelihood, so with unequal weights it compares fits to the sample, not the population.

    Returns
    -------
    KComparison
        The best K is the first row of the comparison (highest expected log predictive density).

    References
    ----------
    Vehtari, Gelman & Gabry (2017), https://doi.org/10.1007/s11222-016-9696-4
    """
    import arviz_stats  # about a second to import: loaded when K is compared, not with bayesseg

    models = {
        k: SegmentModel(k, model_config, sampler_config).fit(counts, covariates, weights=weights) for k in k_values
    }
    loos = {f"K={k}": m.loo() for k, m in models.items()}
    table = arviz_stats.compare(loos)
    table["n_high_pareto_k"] = [int((loos[name].pareto_k > 0.7).sum()) for name in table.index]
    table["high_pareto_k"] = table["n_high_pareto_k"] > 0
    best = {f"K={k}": k for k in models}[str(table.index[0])]
    return KComparison(table, models, best)
