"""The held-out label score: a proper score that ranks groupings by what they say of an author's labels."""

import numpy as np
import pytest
from scipy import special, stats

from bayesseg.evaluation.holdout import PSEUDO_COUNT, group_log_score, split_labels
from bayesseg.simulate import simulate_counts


@pytest.fixture(scope="module")
def halves():
    counts, _, truth = simulate_counts(600, 20, 3, separation=1.5, mean_total=60, seed=8)
    a, b = split_labels(counts, seed=1)
    return counts, a, b, np.asarray(truth["segment"])


def test_the_halves_add_up_and_are_halves(halves):
    counts, a, b, _ = halves
    np.testing.assert_array_equal(a.values + b.values, counts.values)
    assert a.dims == counts.dims and (a.values >= 0).all() and (b.values >= 0).all()
    # binomial thinning: half of the labels on average, within four binomial standard deviations
    n = counts.values.sum()
    assert abs(a.values.sum() - n / 2) < 4 * np.sqrt(n / 4)
    with pytest.raises(ValueError, match="non-negative integers"):
        split_labels(counts.astype(float) + 0.5)


def test_one_group_is_the_multinomial_score_of_the_pooled_profile(halves):
    _, a, b, _ = halves
    pooled = a.values.sum(axis=0) + PSEUDO_COUNT
    p = pooled / pooled.sum()
    # scipy's multinomial log-pmf less its log coefficient n! / prod(b!) is the sum of b log p
    direct = sum(
        stats.multinomial.logpmf(row, row.sum(), p) - (special.gammaln(row.sum() + 1) - special.gammaln(row + 1).sum())
        for row in b.values
    )
    assert group_log_score(a, b, np.zeros(len(b), int)) == pytest.approx(direct / b.values.sum(), rel=1e-10)


def test_the_true_segments_beat_no_grouping_and_random_groups_do_not(halves):
    _, a, b, truth = halves
    none = group_log_score(a, b, np.zeros(len(b), int))
    true = group_log_score(a, b, truth)
    rand = group_log_score(a, b, np.random.default_rng(3).integers(0, 3, len(b)))
    assert true > none + 0.05  # segments with separation 1.5 say much about an author's labels
    assert rand < none + 0.005  # groups unrelated to the labels say nothing (and pay for the pooling)
    # soft one-hot memberships are the hard groups; -1 leaves an author out
    onehot = np.eye(3)[truth]
    assert group_log_score(a, b, onehot) == pytest.approx(true, rel=1e-12)
    part = truth.copy()
    part[:10] = -1
    kept = group_log_score(a.isel(author=slice(10, None)), b.isel(author=slice(10, None)), truth[10:])
    assert group_log_score(a, b, part) == pytest.approx(kept, rel=1e-12)


def test_bad_groups_are_named(halves):
    _, a, b, truth = halves
    with pytest.raises(ValueError, match="groups has"):
        group_log_score(a, b, truth[:-1])
    with pytest.raises(ValueError, match="sum to one"):
        group_log_score(a, b, np.full((len(b), 3), 0.5))
    with pytest.raises(ValueError, match="differ in shape"):
        group_log_score(a, b.isel(category=slice(1, None)), truth)
