"""Dimension names, as constants (``xarray`` dims and coordinates, DataFrame columns of the library's tables).

Every labelled array bayesseg returns uses these names; per-draw outputs carry ArviZ's sample
dimensions :data:`SAMPLE_DIMS` (``chain``, ``draw``). The warehouse's own column names
(``AUTHORID`` ...) are the data contract's (:mod:`bayesseg.data.contract`), not these.
"""

from __future__ import annotations

import xarray as xr

__all__ = [
    "AUTHOR",
    "CATEGORY",
    "CHAIN",
    "COVARIATE",
    "DRAW",
    "MONTH",
    "PANEL",
    "REPLICATE",
    "SAMPLE_DIMS",
    "SEGMENT",
    "TREND",
    "WEEK",
    "stack_sample_dims",
]

AUTHOR = "author"
"""An account of the warehouse (``AUTHORID``)."""
CATEGORY = "category"
"""A fashion category of the taxonomy (labels of the image models mapped to it)."""
SEGMENT = "segment"
"""A latent segment of the model (named when anchored by a taxonomy rule)."""
COVARIATE = "covariate"
"""A gating covariate (standardised inside the model)."""
WEEK = "week"
"""A calendar week (its Monday)."""
MONTH = "month"
"""A calendar month (its first day): weeks pooled by the month their Monday falls in."""
TREND = "trend"
"""A trend: labels crossed on one item or shown in one image."""
PANEL = "panel"
"""A group of authors whose trend series is reported (all, fashion-forward, a tier, a segment)."""
CHAIN = "chain"
"""A Markov chain of the sampler."""
DRAW = "draw"
"""A draw of a chain."""
REPLICATE = "replicate"
"""A bootstrap replicate (one author resample paired with one posterior draw) behind a trend band."""
SAMPLE_DIMS: tuple[str, str] = (CHAIN, DRAW)
"""The dims of a posterior sample, as ArviZ names them."""


def stack_sample_dims(values: xr.DataArray) -> xr.DataArray:
    """Posterior samples on one ``draw`` dim, first: (chain, draw, ...) stacked chain by chain; (draw, ...) as given.

    Parameters
    ----------
    values : xarray.DataArray
        With dims :data:`SAMPLE_DIMS` (e.g. :meth:`bayesseg.model.SegmentModel.membership_draws`), or
        with a ``draw`` dim of already pooled samples.

    Returns
    -------
    xarray.DataArray
        ``draw`` first, numbered 0..S-1.
    """
    if CHAIN not in values.dims:
        return values.transpose(DRAW, ...)
    stacked = values.stack({"_sample": SAMPLE_DIMS}).transpose("_sample", ...)
    stacked = stacked.drop_vars(["_sample", CHAIN, DRAW]).rename({"_sample": DRAW})
    return stacked.assign_coords({DRAW: range(stacked.sizes[DRAW])})
