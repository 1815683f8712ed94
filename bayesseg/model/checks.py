"""Checks of the data a :class:`bayesseg.model.SegmentModel` fits or scores; errors name the author and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.exceptions import InputError
from bayesseg.model.likelihood import SparseCounts

__all__ = [
    "PreparedData",
    "align_counts",
    "check_counts",
    "check_covariates",
    "check_sample_weights",
    "prepare_data",
    "standardise_covariates",
]


@dataclass(frozen=True)
class PreparedData:
    """Validated data of one fit.

    Attributes
    ----------
    counts : xarray.DataArray, dims (author, category)
        Checked counts.
    covariates : xarray.DataArray or None, dims (author, covariate)
        Raw covariates.
    x : numpy.ndarray, shape (author, covariate)
        Standardised covariates.
    sparse : bayesseg.model.likelihood.SparseCounts
        The counts in sparse form.
    weights : numpy.ndarray or None
        Sampling weights.
    x_mean, x_sd : numpy.ndarray, shape (covariate,)
        Means and standard deviations that standardised the covariates (empty without covariates).
    """

    counts: xr.DataArray
    covariates: xr.DataArray | None
    x: np.ndarray
    sparse: SparseCounts
    weights: np.ndarray | None = None
    x_mean: np.ndarray = field(default_factory=lambda: np.empty(0))
    x_sd: np.ndarray = field(default_factory=lambda: np.empty(0))


def check_counts(counts: xr.DataArray) -> xr.DataArray:
    """Label counts the model can use: non-negative integers, every author with a count, unique authors.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts.

    Returns
    -------
    xarray.DataArray
        `counts`, transposed to (author, category).

    Raises
    ------
    bayesseg.exceptions.InputError
        Naming the author, category and value at fault.
    """
    if not isinstance(counts, xr.DataArray) or set(counts.dims) != {"author", "category"}:
        raise InputError("counts must be an xarray.DataArray with dims ('author', 'category')")
    counts = counts.transpose("author", "category")
    if counts.sizes["category"] < 2:
        raise InputError(
            f"counts have {counts.sizes['category']} category: a Dirichlet-multinomial over one category carries "
            "no information about segments; give at least two"
        )
    values = counts.values
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"counts must be non-negative integers: author {counts['author'].values[r].item()!r}, "
            f"category {counts['category'].values[c].item()!r} holds {values[r, c].item()!r}"
        )
    empty = values.sum(axis=1) == 0
    if empty.any():
        ids = counts["author"].values[empty][:5].tolist()
        raise InputError(f"{int(empty.sum())} author(s) have no counts at all (e.g. {ids}); exclude them first")
    ids = pd.Index(counts["author"].values)
    if not ids.is_unique:
        raise InputError(f"author ids in counts must be unique; repeated: {ids[ids.duplicated()][:5].tolist()}")
    return counts


def check_covariates(covariates: xr.DataArray | None, authors: np.ndarray) -> xr.DataArray | None:
    """Covariates of these authors, finite, in their order.

    Parameters
    ----------
    covariates : xarray.DataArray, dims (author, covariate), or None
        Raw covariates.
    authors : numpy.ndarray
        The authors of the counts.

    Returns
    -------
    xarray.DataArray or None
        `covariates` of `authors` (in their order), transposed to (author, covariate).

    Raises
    ------
    bayesseg.exceptions.InputError
        Naming the author, covariate and value at fault, or the authors without covariates.
    """
    if covariates is None:
        return None
    if not isinstance(covariates, xr.DataArray) or set(covariates.dims) != {"author", "covariate"}:
        raise InputError("covariates must be an xarray.DataArray with dims ('author', 'covariate')")
    covariates = covariates.transpose("author", "covariate")
    missing = np.setdiff1d(authors, covariates["author"].values)
    if missing.size:
        raise InputError(f"{missing.size} author(s) of counts have no covariates, e.g. {missing[:5].tolist()}")
    covariates = covariates.sel(author=authors)
    values = covariates.values.astype(float)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"covariates must be finite: author {authors[r].item()!r}, covariate "
            f"{covariates['covariate'].values[c].item()!r} holds {values[r, c].item()!r}"
        )
    return covariates


def check_sample_weights(weights: Any, authors: np.ndarray) -> np.ndarray | None:
    """Sampling weights aligned with the authors: positive and finite, or ``None``.

    Parameters
    ----------
    weights : array_like or xarray.DataArray, dims (author,), or None
        One weight per author.
    authors : numpy.ndarray
        The authors of the counts.

    Returns
    -------
    numpy.ndarray or None

    Raises
    ------
    bayesseg.exceptions.InputError
        Naming the author whose weight is not positive and finite, or a shape mismatch.
    """
    if weights is None:
        return None
    if isinstance(weights, xr.DataArray):
        if weights.dims != ("author",):
            raise InputError(f"weights must have dims ('author',), got {weights.dims}")
        missing = np.setdiff1d(authors, weights["author"].values)
        if missing.size:
            raise InputError(f"weights lack {missing.size} author(s) of the counts, e.g. {missing[:3].tolist()}")
        weights = weights.sel(author=authors).values
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(authors),):
        raise InputError(f"weights must have one value per author ({len(authors)}), got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w <= 0))
    if bad.size:
        raise InputError(f"weights must be positive and finite; author {authors[bad[0]].item()!r} has {w[bad[0]]}")
    return w


def prepare_data(counts: xr.DataArray, covariates: xr.DataArray | None, weights: Any = None) -> PreparedData:
    """Validate a fit's data once and standardise its covariates (mean 0, sd 1 over these authors).

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts.
    covariates : xarray.DataArray, dims (author, covariate), or None
        Raw covariates.
    weights : array_like or xarray.DataArray, dims (author,), optional
        Sampling weights.

    Returns
    -------
    PreparedData

    Raises
    ------
    bayesseg.exceptions.InputError
        For malformed input, or a covariate without variance (it cannot drive membership).
    """
    counts = check_counts(counts)
    authors = counts["author"].values
    covariates = check_covariates(covariates, authors)
    sparse_counts = SparseCounts.from_dense(counts.values)
    w = check_sample_weights(weights, authors)
    if covariates is None:
        return PreparedData(counts, None, np.zeros((len(authors), 0)), sparse_counts, w)
    values = covariates.values.astype(float)
    sd = values.std(axis=0)
    flat = np.flatnonzero(sd == 0)
    if flat.size:
        raise InputError(
            f"covariate {covariates['covariate'].values[flat[0]].item()!r} has no variance; it cannot drive membership"
        )
    mean = values.mean(axis=0)
    return PreparedData(counts, covariates, (values - mean) / sd, sparse_counts, w, mean, sd)


def align_counts(counts: xr.DataArray, categories: list[str]) -> xr.DataArray:
    """Checked counts in a fitted model's category order.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts of (new) authors.
    categories : list of str
        The model's categories.

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    bayesseg.exceptions.InputError
        If the counts are malformed or their categories differ from `categories` (both lists named).
    """
    counts = check_counts(counts)
    missing = [str(c) for c in categories if c not in counts["category"].values]
    extra = [str(c) for c in counts["category"].values if c not in categories]
    if missing or extra:
        raise InputError(f"counts' categories differ from the model's: missing {missing}, unexpected {extra}")
    return counts.sel(category=categories)


def standardise_covariates(
    covariates: xr.DataArray | None, names: list[str], mean: np.ndarray, sd: np.ndarray, n_authors: int
) -> np.ndarray:
    """Raw covariates on a fitted model's scale (its means and standard deviations).

    Parameters
    ----------
    covariates : xarray.DataArray, dims (author, covariate), or None
        Raw covariates with (at least) the covariates `names`.
    names : list of str
        The model's covariates, in order.
    mean, sd : numpy.ndarray
        Their means and standard deviations over the fitted authors.
    n_authors : int
        Authors (the rows returned when the model has no covariate).

    Returns
    -------
    numpy.ndarray, shape (author, covariate)

    Raises
    ------
    bayesseg.exceptions.InputError
        If the model needs covariates that are not given.
    """
    if not names:
        return np.zeros((n_authors, 0))
    if covariates is None:
        raise InputError(f"this model needs covariates {names}")
    missing = [str(c) for c in names if c not in covariates["covariate"].values]
    if missing:
        raise InputError(f"covariates lack {missing}")
    values = covariates.sel(covariate=names).transpose("author", "covariate").values.astype(float)
    return (values - mean) / sd
