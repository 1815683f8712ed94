"""Stephens' relabelling restores permuted draws."""

import numpy as np
import pytest

from bayesseg.model.relabel import apply_permutation, stephens


def memberships(rng, n_draws=60, n=200, k=4):
    truth = rng.integers(0, k, n)
    base = np.full((n, k), 0.05 / (k - 1))
    base[np.arange(n), truth] = 0.95
    noise = rng.dirichlet(np.ones(k) * 50, size=(n_draws, n))
    p = 0.8 * base[None] + 0.2 * noise
    return p / p.sum(axis=-1, keepdims=True)


def test_identity_when_nothing_switched():
    p = memberships(np.random.default_rng(0))
    perm = stephens(p)
    assert (perm == np.arange(4)).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restores_permuted_chains(seed):
    rng = np.random.default_rng(seed)
    p = memberships(rng)
    # second half of the draws ("chain 2") and a few single draws get other labellings
    applied = np.tile(np.arange(4), (len(p), 1))
    applied[30:] = rng.permutation(4)
    for s in rng.choice(30, 5, replace=False):
        applied[s] = rng.permutation(4)
    switched = apply_permutation(p, np.argsort(applied, axis=1), axis=2)  # relabel each draw
    perm = stephens(switched)
    restored = apply_permutation(switched, perm, axis=2)
    # every draw now has one common labelling: the original one up to a single global permutation
    new_labels, original = restored.argmax(axis=2), p.argmax(axis=2)
    common = np.array([np.bincount(original[new_labels == j], minlength=4).argmax() for j in range(4)])
    assert sorted(common) == [0, 1, 2, 3]
    np.testing.assert_allclose(restored, p[:, :, common])


def test_apply_permutation_moves_the_segment_axis():
    values = np.arange(2 * 3 * 2).reshape(2, 3, 2).astype(float)  # (draw, covariate, segment)
    perm = np.array([[0, 1], [1, 0]])
    out = apply_permutation(values, perm, axis=2)
    np.testing.assert_array_equal(out[0], values[0])
    np.testing.assert_array_equal(out[1], values[1][:, ::-1])


def test_bad_shape():
    with pytest.raises(ValueError, match="draw, author, segment"):
        stephens(np.ones((3, 4)))
