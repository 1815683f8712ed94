"""Convergence diagnostics of a fitted model's relabelled posterior (ArviZ).

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC. *Bayesian Analysis*
16(2), 667-718. https://doi.org/10.1214/20-BA1221
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import xarray as xr

__all__ = ["posterior_summary"]


def posterior_summary(posterior: xr.Dataset, var_names: Sequence[str], reference: str) -> pd.DataFrame:
    """Posterior summary with R-hat and ESS of the relabelled posterior.

    Parameters
    ----------
    posterior : xarray.Dataset
        The relabelled posterior (dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Variables to summarise (absent or empty ones are skipped).
    reference : str
        The reference segment, whose intercept and slopes are constants (0) and are left out.

    Returns
    -------
    pandas.DataFrame
        ``arviz_stats.summary`` rows of every entry of the variables.
    """
    import arviz_stats  # about a second to import: loaded when a fit is summarised, not with bayesseg

    names = [v for v in var_names if v in posterior and posterior[v].size]

    def free(v: str) -> xr.Dataset:
        da = posterior[v].drop_sel(segment=reference) if v in ("intercept", "slope") else posterior[v]
        return xr.Dataset({v: da})

    # one variable at a time: arviz-stats 1.3 mislabels the rows of variables whose shared
    # dims (here `segment`) sit at different positions when summarised together
    return pd.concat([arviz_stats.summary(free(v)) for v in names])
