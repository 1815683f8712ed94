r"""The Dirichlet-multinomial likelihood on sparse label counts.

For counts :math:`y \in \mathbb{N}^C` with total :math:`n` and concentrations
:math:`\alpha \in \mathbb{R}_+^C`, :math:`A = \sum_c \alpha_c`,

.. math::

    \log \mathrm{DM}(y \mid \alpha) = \log\Gamma(A) - \log\Gamma(n + A)
        + \sum_{c:\, y_c > 0} \left[\log\Gamma(y_c + \alpha_c) - \log\Gamma(\alpha_c)\right]
        + \log \frac{n!}{\prod_c y_c!} .

Real label counts are sparse and small integers, so the same ``(category, count)`` pair recurs
across many authors (on the demo warehouse: 60k non-zeros, 2.7k distinct pairs).
:class:`SparseCounts` keeps the distinct pairs, the distinct totals, and the sparse
author × pair incidence matrix ``M``. The log-gamma terms are evaluated once per distinct pair and
segment (``G``, U × K) and summed per author by one sparse product ``M @ G``, whose gradient is
``Mᵀ @ ·``: cost in transcendental functions ∝ distinct pairs × K, the rest ∝ non-zeros × K, never
authors × categories × segments. (Measured in ``benchmarks/fit_speed.py``: a gather plus a
segmented sum over the non-zeros cost 7× more per gradient than the sparse product.)

References
----------
Mosimann, J. E. (1962). On the compound multinomial distribution, the multivariate β-distribution,
and correlations among proportions. *Biometrika* 49(1-2), 65-82. https://doi.org/10.1093/biomet/49.1-2.65
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse, special

from bayesseg.exceptions import InputError

__all__ = [
    "BY_REFERENCE",
    "SparseCounts",
    "by_reference",
    "data_by_reference",
    "data_tensor",
    "dm_logpmf_dense",
    "dm_logpmf_parts",
    "dm_logpmf_rows",
    "dm_logpmf_sparse",
    "dm_logpmf_tensor",
    "dm_parts_tensor",
]


@dataclass(frozen=True)
class SparseCounts:
    """Author × category counts in a form that makes the DM likelihood cheap.

    Build it with :meth:`from_dense`. All arrays are NumPy, read-only in spirit.

    Parameters
    ----------
    n_authors, n_categories : int
        Shape of the count matrix.
    entry_author : numpy.ndarray of int64, shape (nnz,)
        For each non-zero, its author (row), sorted.
    entry_pair : numpy.ndarray of int64, shape (nnz,)
        For each non-zero, the index of its distinct ``(category, count)`` pair.
    pair_category, pair_count : numpy.ndarray, shape (n_pairs,)
        The distinct pairs.
    total_index : numpy.ndarray of int64, shape (n_authors,)
        For each author, the index of its total in `totals`.
    totals : numpy.ndarray of float64, shape (n_totals,)
        The distinct per-author totals ``n``.
    log_coefficient : numpy.ndarray of float64, shape (n_authors,)
        ``log n! - sum_c log y_c!`` per author.
    """

    n_authors: int
    n_categories: int
    entry_author: np.ndarray
    entry_pair: np.ndarray
    pair_category: np.ndarray
    pair_count: np.ndarray
    total_index: np.ndarray
    totals: np.ndarray
    log_coefficient: np.ndarray

    @classmethod
    def from_dense(cls, counts: Any) -> SparseCounts:
        """Build from a dense ``(author, category)`` count matrix.

        Parameters
        ----------
        counts : array_like of int, shape (author, category)
            Non-negative integer counts.

        Returns
        -------
        SparseCounts

        Raises
        ------
        bayesseg.exceptions.InputError
            If the matrix is not two-dimensional, or holds negative or non-integer values
            (the message gives the first offending row and column).
        """
        y = np.asarray(counts)
        if y.ndim != 2:
            raise InputError(f"counts must be 2-D (author, category), got shape {y.shape}")
        bad = (y < 0) | (y != np.round(y)) | ~np.isfinite(y)
        if bad.any():
            r, c = map(int, np.argwhere(bad)[0])
            raise InputError(f"counts must be non-negative integers; row {r}, column {c} holds {y[r, c]!r}")
        y = y.astype(np.int64)
        rows, cols = np.nonzero(y)  # row-major: sorted by author
        vals = y[rows, cols]
        key = cols * (int(vals.max(initial=0)) + 1) + vals
        uniq, entry_pair = np.unique(key, return_inverse=True)
        width = int(vals.max(initial=0)) + 1
        n = y.sum(axis=1)
        totals, total_index = np.unique(n, return_inverse=True)
        log_coef = special.gammaln(n + 1.0) - np.bincount(rows, special.gammaln(vals + 1.0), minlength=y.shape[0])
        return cls(
            n_authors=int(y.shape[0]),
            n_categories=int(y.shape[1]),
            entry_author=rows.astype(np.int64),
            entry_pair=entry_pair.astype(np.int64),
            pair_category=(uniq // width).astype(np.int64),
            pair_count=(uniq % width).astype(np.float64),
            total_index=total_index.astype(np.int64),
            totals=totals.astype(np.float64),
            log_coefficient=log_coef,
        )

    @property
    def nnz(self) -> int:
        """Number of non-zero counts."""
        return int(self.entry_pair.size)

    @property
    def n_pairs(self) -> int:
        """Number of distinct ``(category, count)`` pairs."""
        return int(self.pair_count.size)

    @cached_property
    def pair_matrix(self) -> sparse.csr_matrix:
        """The author × pair incidence matrix ``M`` (CSR, ones at each author's pairs)."""
        return sparse.csr_matrix(
            (np.ones(self.nnz), (self.entry_author, self.entry_pair)), shape=(self.n_authors, self.n_pairs)
        )

    def to_dense(self) -> np.ndarray:
        """The dense ``(author, category)`` int64 matrix."""
        y = np.zeros((self.n_authors, self.n_categories), dtype=np.int64)
        y[self.entry_author, self.pair_category[self.entry_pair]] = self.pair_count[self.entry_pair].astype(np.int64)
        return y


def dm_logpmf_sparse(counts: SparseCounts, log_alpha: np.ndarray) -> np.ndarray:
    """Dirichlet-multinomial log-pmf of every author under every segment, in NumPy.

    Parameters
    ----------
    counts : SparseCounts
        The counts.
    log_alpha : numpy.ndarray, shape (..., segment, category)
        Log concentrations; leading dimensions (e.g. draws) are vectorised over.

    Returns
    -------
    numpy.ndarray, shape (..., author, segment)
        ``log DM(y_i | alpha_k)`` including the multinomial coefficient.
    """
    return dm_logpmf_rows(counts, dm_logpmf_parts(counts, log_alpha), slice(None))


def dm_logpmf_parts(counts: SparseCounts, log_alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The terms of :func:`dm_logpmf_sparse` shared by all authors, computed once.

    ``g``: :math:`\log\Gamma(y + \alpha_{kc}) - \log\Gamma(\alpha_{kc})` for each distinct
    (category, count) pair, shape ``(prod(lead) * segment, pair)``; ``h``:
    :math:`\log\Gamma(A_k) - \log\Gamma(n + A_k)` for each distinct total, shape
    ``(..., total, segment)``. Evaluate rows with :func:`dm_logpmf_rows` (scoring in batches
    reuses them for every batch of a chunk).

    Parameters
    ----------
    counts : SparseCounts
        The counts.
    log_alpha : numpy.ndarray, shape (..., segment, category)
        Log concentrations.

    Returns
    -------
    tuple of numpy.ndarray
        ``(g, h)``.
    """
    alpha = np.exp(np.asarray(log_alpha, dtype=np.float64))
    # log Γ(α) once per (segment, category), gathered onto the pairs: not once per pair
    g = special.gammaln(counts.pair_count + alpha[..., counts.pair_category])
    g -= special.gammaln(alpha)[..., counts.pair_category]  # (..., K, U)
    big_a = alpha.sum(axis=-1)  # (..., K)
    h = special.gammaln(big_a)[..., None, :] - special.gammaln(counts.totals[:, None] + big_a[..., None, :])
    return g.reshape(int(np.prod(g.shape[:-1])), counts.n_pairs), h


def dm_logpmf_rows(counts: SparseCounts, parts: tuple[np.ndarray, np.ndarray], rows: slice) -> np.ndarray:
    """Rows `rows` of :func:`dm_logpmf_sparse` from its precomputed :func:`dm_logpmf_parts`.

    Each author's value is the same, bit for bit, whatever the rows asked for.

    Parameters
    ----------
    counts : SparseCounts
        The counts the parts were computed for.
    parts : tuple of numpy.ndarray
        :func:`dm_logpmf_parts` of `counts`.
    rows : slice
        Authors to evaluate.

    Returns
    -------
    numpy.ndarray, shape (..., author, segment)
    """
    g, h = parts
    lead, k = h.shape[:-2], h.shape[-1]
    total_index = counts.total_index[rows]
    n = total_index.size
    if counts.n_pairs:
        per_author = counts.pair_matrix[rows] @ g.T  # (n, prod(lead) * K)
        per_author = np.moveaxis(per_author.reshape(n, *lead, k), 0, -2)  # (..., n, K)
    else:  # every count is zero
        per_author = np.zeros((*lead, n, k))
    return h[..., total_index, :] + per_author + counts.log_coefficient[rows][:, None]


def dm_logpmf_dense(counts: np.ndarray, log_alpha: np.ndarray) -> np.ndarray:
    """Reference dense Dirichlet-multinomial log-pmf, O(author × segment × category).

    Parameters
    ----------
    counts : numpy.ndarray, shape (author, category)
        Non-negative integer counts.
    log_alpha : numpy.ndarray, shape (segment, category)
        Log concentrations.

    Returns
    -------
    numpy.ndarray, shape (author, segment)
    """
    y = np.asarray(counts, dtype=np.float64)[:, None, :]
    alpha = np.exp(log_alpha)[None, :, :]
    n = y.sum(axis=-1)
    big_a = alpha.sum(axis=-1)
    return (
        special.gammaln(big_a)
        - special.gammaln(n + big_a)
        + (special.gammaln(y + alpha) - special.gammaln(alpha)).sum(axis=-1)
        + special.gammaln(n + 1)
        - special.gammaln(y + 1).sum(axis=-1)
    )


def dm_logpmf_tensor(counts: SparseCounts, log_alpha: Any) -> Any:
    """The same log-pmf as a PyTensor graph, for the PyMC model.

    Parameters
    ----------
    counts : SparseCounts
        The counts (constants of the graph).
    log_alpha : pytensor.tensor.TensorVariable, shape (segment, category)
        Log concentrations.

    Returns
    -------
    pytensor.tensor.TensorVariable, shape (author, segment)
    """
    import pytensor.sparse as ps

    g, h = dm_parts_tensor(counts, log_alpha)
    per_author = ps.structured_dot(ps.as_sparse_variable(counts.pair_matrix), g)  # (N, K)
    return h[counts.total_index] + per_author + counts.log_coefficient[:, None]


BY_REFERENCE = 10_000
"""Counts with at least this many non-zeros enter the graph by reference (:func:`by_reference`)."""


def by_reference(counts: SparseCounts) -> bool:
    """Whether the graph of these counts holds its data by reference (shared variables) rather than as constants.

    Numba compiles a constant's values into the code, and LLVM's time grows with them; a shared
    variable is an input of the compiled code, whatever its size, at a fixed cost of well under a
    second of compilation for each. From :data:`BY_REFERENCE` non-zeros every data array of the
    graph is shared, so that the compiled code depends on the data's structure only (K, the
    categories, the covariates), not on their values or the number of authors, and PyTensor's
    cache of compiled code serves the next data set; smaller data stay constants, which compile
    faster (``benchmarks/RESULTS.md``, issue 25). Inside a :func:`data_by_reference` block of the
    calling thread every graph holds its data by reference. The log density and its gradient are
    the same, bit for bit, either way.

    Parameters
    ----------
    counts : SparseCounts
        The counts of the graph.

    Returns
    -------
    bool
    """
    return getattr(_THIS_THREAD, "blocks", 0) > 0 or counts.nnz >= BY_REFERENCE


_THIS_THREAD = threading.local()  # .blocks: how many data_by_reference blocks this thread is in


@contextmanager
def data_by_reference() -> Iterator[None]:
    """Every graph this thread builds in the block holds its data by reference, at any size (:func:`by_reference`).

    For refits of one model structure on other data (the folds of a K-fold cross-validation,
    simulation replicates): the first fit compiles, at the cost of about half a second more per
    data array than constants, and the next ones reuse its compiled code with their own data
    (:func:`bayesseg.model.sampling.compile_nutpie`) instead of compiling again. The log density
    and its gradient are the same, bit for bit, either way. The block holds for the thread that
    entered it only (refits side by side on threads each enter their own); blocks nest, and
    :data:`BY_REFERENCE` is left as it is.

    Yields
    ------
    None
    """
    _THIS_THREAD.blocks = getattr(_THIS_THREAD, "blocks", 0) + 1
    try:
        yield
    finally:
        _THIS_THREAD.blocks -= 1


def data_tensor(values: np.ndarray, name: str, shared: bool) -> Any:
    """A data array of the graph: a shared variable (held by reference) or a constant.

    Parameters
    ----------
    values : numpy.ndarray
        The data (not modified; a shared variable holds a C-contiguous copy).
    name : str
        The shared variable's name, unique in the model (nutpie's ``with_data`` finds it by name).
    shared : bool
        Hold it by reference (:func:`by_reference`).

    Returns
    -------
    pytensor.compile.SharedVariable or pytensor.tensor.TensorConstant
        Of the array's dtype and shape.
    """
    import pytensor
    import pytensor.tensor as pt

    if not shared:
        return pt.as_tensor_variable(np.asarray(values))
    return pytensor.shared(np.array(values, order="C", copy=True), name=name)


def dm_parts_tensor(counts: SparseCounts, log_alpha: Any) -> tuple[Any, Any]:
    r"""The terms shared by all authors (:func:`dm_logpmf_parts`) as PyTensor graphs, segment last.

    Parameters
    ----------
    counts : SparseCounts
        The counts (data of the graph, by reference or constants: :func:`by_reference`).
    log_alpha : pytensor.tensor.TensorVariable, shape (segment, category)
        Log concentrations.

    Returns
    -------
    g : pytensor.tensor.TensorVariable, shape (pair, segment)
        :math:`\log\Gamma(y + \alpha_{kc}) - \log\Gamma(\alpha_{kc})` for each distinct (category, count) pair.
    h : pytensor.tensor.TensorVariable, shape (total, segment)
        :math:`\log\Gamma(A_k) - \log\Gamma(n + A_k)` for each distinct total.
    """
    import pytensor.tensor as pt

    shared = by_reference(counts)
    alpha = pt.exp(log_alpha).T  # (C, K)
    pair_category = data_tensor(counts.pair_category, "pair_category", shared)
    pair_count = data_tensor(counts.pair_count, "pair_count", shared)
    # log Γ(α) (and in the gradient its digamma) once per (category, segment), gathered onto the pairs: on a table
    # of counts in the thousands the pairs outnumber the categories thirty to one (benchmarks/RESULTS.md)
    g = pt.gammaln(pair_count[:, None] + alpha[pair_category]) - pt.gammaln(alpha)[pair_category]
    big_a = alpha.sum(axis=0)  # (K,)
    totals = data_tensor(counts.totals, "totals", shared)
    h = pt.gammaln(big_a)[None, :] - pt.gammaln(totals[:, None] + big_a[None, :])  # (T, K)
    return g, h
