"""Reading count and covariate tables from CSV, with errors that name the row and column.

``COUNTS.csv``: an id column, then one integer column per category.
``COV.csv``: the same id column, then numeric covariates.

Authors whose counts are all zero cannot be segmented (their likelihood is flat); they are
excluded and returned with their reason, never dropped silently.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.exceptions import InputError

__all__ = ["read_counts_csv", "read_covariates_csv"]


def _plain(value: object) -> object:
    """NumPy scalars as plain Python values, so messages read ``4`` and not ``np.int64(4)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


_MAX_COUNT = 2**53


def _ids_like(ids: pd.Series, authors: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """The covariates' ids with the counts' id type: a text id among numbers is named, not a silent mismatch."""
    if authors.dtype.kind not in "iuf" or ids.dtype.kind in "iuf":
        return ids.to_numpy()
    numeric = pd.to_numeric(ids, errors="coerce")
    if numeric.isna().any():
        r = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        raise InputError(f"{path}: row {r + 2} has id {_plain(ids.iloc[r])!r}, not a number like the counts' ids")
    return numeric.to_numpy().astype(authors.dtype)


def _read(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read {what} file {path}: {exc}") from exc
    if frame.shape[1] < 2:
        raise InputError(f"{what} file {path} needs an id column and at least one more column")
    if frame.empty:
        raise InputError(f"{what} file {path} has a header and no row: no author to read")
    ids = frame.iloc[:, 0]
    if ids.isna().any():
        raise InputError(f"{path}: row {int(np.flatnonzero(ids.isna())[0]) + 2} has no id")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"{path}: id {_plain(dup.iloc[0])!r} appears more than once")
    return frame


def read_counts_csv(path: str | os.PathLike[str]) -> tuple[xr.DataArray, pd.DataFrame]:
    """Read ``COUNTS.csv`` into an ``(author, category)`` array.

    Parameters
    ----------
    path : str or os.PathLike
        CSV with an id column followed by one integer column per category.

    Returns
    -------
    counts : xarray.DataArray, dims (author, category)
        Authors with at least one count.
    excluded : pandas.DataFrame
        Columns ``id`` and ``reason`` for the authors left out (all-zero rows).

    Raises
    ------
    bayesseg.exceptions.InputError
        If a value is missing, not an integer or negative; the message gives the file row
        (1-based, header = row 1), the id and the column.
    """
    frame = _read(path, "counts")
    id_col = frame.columns[0]
    values = frame.iloc[:, 1:]
    numeric = values.apply(pd.to_numeric, errors="coerce")
    # beyond 2**53 a float no longer holds every integer, and int64 overflows soon after: no label count is that large
    bad = numeric.isna() | (numeric < 0) | (numeric != np.round(numeric)) | (numeric > _MAX_COUNT)
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise InputError(
            f"{path}: row {r + 2} (id {_plain(frame[id_col].iloc[r])!r}), column {values.columns[c]!r} holds "
            f"{_plain(values.iloc[r, c])!r}; counts must be non-negative integers below 2**53"
        )
    y = numeric.to_numpy().astype(np.int64)
    empty = y.sum(axis=1) == 0
    excluded = pd.DataFrame({"id": frame[id_col][empty].to_numpy(), "reason": "no label counts (all zero)"})
    counts = xr.DataArray(
        y[~empty],
        dims=("author", "category"),
        coords={"author": frame[id_col].to_numpy()[~empty], "category": [str(c) for c in values.columns]},
        name="counts",
    )
    return counts, excluded


def read_covariates_csv(path: str | os.PathLike[str], authors: np.ndarray) -> xr.DataArray:
    """Read ``COV.csv`` for the given authors.

    Parameters
    ----------
    path : str or os.PathLike
        CSV with the counts' id column followed by numeric covariates.
    authors : numpy.ndarray
        Ids that need covariates (those of the counts).

    Returns
    -------
    xarray.DataArray, dims (author, covariate)
        In the order of `authors`.

    Raises
    ------
    bayesseg.exceptions.InputError
        If ids of the counts are missing from the file, or a covariate is missing or not a
        finite number (the message gives the row, id and column).
    """
    frame = _read(path, "covariates")
    id_col = frame.columns[0]
    values = frame.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"{path}: row {r + 2} (id {_plain(frame[id_col].iloc[r])!r}), column {values.columns[c]!r} holds "
            f"{_plain(frame.iloc[r, c + 1])!r}; covariates must be finite numbers"
        )
    index = pd.Index(_ids_like(frame[id_col], np.asarray(authors), path))
    missing = pd.Index(authors).difference(index)
    if len(missing):
        raise InputError(f"{path}: {len(missing)} id(s) of the counts have no covariates, e.g. {missing[:5].tolist()}")
    rows = index.get_indexer(authors)
    return xr.DataArray(
        values.to_numpy(dtype=float)[rows],
        dims=("author", "covariate"),
        coords={"author": np.asarray(authors), "covariate": [str(c) for c in values.columns]},
        name="covariates",
    )
