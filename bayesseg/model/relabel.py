"""Relabelling of mixture posterior draws (label switching).

A finite mixture's likelihood is invariant to permutations of its components, so draws of
different chains (and sometimes of one chain) use different labellings. :func:`stephens`
finds, for every draw, the permutation that brings its membership probabilities closest (in
Kullback-Leibler divergence) to their mean over draws, iterating to a fixed point; each step
solves one K × K assignment problem per draw (Hungarian algorithm, SciPy) after a single
vectorised computation of all the cost matrices.

References
----------
Stephens, M. (2000). Dealing with label switching in mixture models. *Journal of the Royal
Statistical Society B* 62(4), 795-809. https://doi.org/10.1111/1467-9868.00265
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from bayesseg.exceptions import InputError

__all__ = ["apply_permutation", "stephens"]


def stephens(probs: np.ndarray, max_iter: int = 100, eps: float = 1e-12) -> np.ndarray:
    """Stephens' (2000) KL relabelling.

    Parameters
    ----------
    probs : numpy.ndarray, shape (draw, author, segment)
        Membership probabilities of each draw (rows sum to one). A subset of authors suffices.
    max_iter : int, default 100
        Maximum number of iterations.
    eps : float, default 1e-12
        Floor for logarithms.

    Returns
    -------
    numpy.ndarray of int, shape (draw, segment)
        ``perm[s, j]`` is the original label of draw `s` that becomes label ``j``; apply it with
        :func:`apply_permutation`. The first draw's labelling is kept when it is already
        consistent, so an unswitched posterior gets identity permutations.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `probs` is not 3-D.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 3:
        raise InputError(f"probs must have dims (draw, author, segment), got shape {p.shape}")
    n_draws, _, k = p.shape
    logp = np.log(np.maximum(p, eps))
    plogp = np.einsum("sil,sil->sl", p, logp)  # (S, K): sum_i p log p for each original label
    perm = np.tile(np.arange(k), (n_draws, 1))
    for _ in range(max_iter):
        q = np.take_along_axis(p, perm[:, None, :], axis=2).mean(axis=0)  # (N, K)
        logq = np.log(np.maximum(q, eps))
        # cost[s, j, l]: KL contribution of giving original label l the new label j
        cost = plogp[:, None, :] - np.einsum("sil,ij->sjl", p, logq)
        new = np.empty_like(perm)
        for s in range(n_draws):
            rows, cols = linear_sum_assignment(cost[s])
            new[s, rows] = cols
        if np.array_equal(new, perm):
            break
        perm = new
    return perm


def apply_permutation(values: np.ndarray, perm: np.ndarray, axis: int) -> np.ndarray:
    """Permute the segment axis of per-draw values.

    Parameters
    ----------
    values : numpy.ndarray, shape (draw, ...)
        Values whose first axis is the draw and whose `axis` is the segment.
    perm : numpy.ndarray of int, shape (draw, segment)
        From :func:`stephens`.
    axis : int
        Position of the segment axis in `values` (not 0).

    Returns
    -------
    numpy.ndarray
        ``out[s, ..., j, ...] = values[s, ..., perm[s, j], ...]``.
    """
    v = np.moveaxis(np.asarray(values), axis, -1)
    idx = perm.reshape(perm.shape[0], *([1] * (v.ndim - 2)), perm.shape[1])
    out = np.take_along_axis(v, np.broadcast_to(idx, (*v.shape[:-1], perm.shape[1])), axis=-1)
    return np.moveaxis(out, -1, axis)
