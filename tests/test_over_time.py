"""Held-out predictive densities and segments over time, against independent computations and planted truths."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from bayesseg.data.aggregate import author_category_counts, author_period_category_counts
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.metrics import mixture_log_density, segments_over_time
from bayesseg.model import SegmentModel
from bayesseg.simulate import simulate_counts

FAST = {"draws": 60, "tune": 100, "chains": 1, "random_seed": 3, "progressbar": False}


def counts_da(y: np.ndarray, start: int = 0) -> xr.DataArray:
    return xr.DataArray(
        y,
        dims=("author", "category"),
        coords={"author": np.arange(start, start + len(y)), "category": [f"c{j}" for j in range(y.shape[1])]},
    )


def test_period_counts_sum_to_the_author_counts(demo_warehouse, taxonomy) -> None:
    with DuckDBSource(demo_warehouse) as src:
        monthly = author_period_category_counts(src, taxonomy)
        quarterly = author_period_category_counts(src, taxonomy, period="quarter")
        total = author_category_counts(src, taxonomy)
        with pytest.raises(ValueError, match="period must be one of"):
            author_period_category_counts(src, taxonomy, period="fortnight")
    assert (monthly["count"] > 0).all() and (monthly["period"].dt.day == 1).all()
    assert quarterly["period"].dt.month.isin([1, 4, 7, 10]).all()
    for frame in (monthly, quarterly):
        summed = frame.groupby(["author", "category"], as_index=False)["count"].sum()
        assert summed.equals(total)


def test_mixture_log_density_equals_scipy() -> None:
    rng = np.random.default_rng(0)
    train = rng.poisson(2.0, size=(40, 4))
    test = rng.poisson(2.0, size=(5, 4))
    labels = np.r_[np.zeros(20, int), np.ones(19, int), -1]  # the last author is noise: no segment
    got = mixture_log_density(counts_da(train), labels, counts_da(test, 100)).values
    p = [(train[:-1][labels[:-1] == k].sum(axis=0) + 0.5) for k in (0, 1)]
    p = [v / v.sum() for v in p]
    w = np.array([20, 19]) / 39
    want = [np.log(sum(w[k] * stats.multinomial.pmf(z, z.sum(), p[k]) for k in (0, 1))) for z in test]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # soft responsibilities that are one-hot give the same density
    soft = np.eye(2)[np.where(labels < 0, 0, labels)]
    lab2 = np.where(labels < 0, 0, labels)
    np.testing.assert_allclose(
        mixture_log_density(counts_da(train), soft, counts_da(test)).values,
        mixture_log_density(counts_da(train), lab2, counts_da(test)).values,
    )
    with pytest.raises(ValueError, match="sum to one"):
        mixture_log_density(counts_da(train), np.full((40, 2), 0.3), counts_da(test))
    with pytest.raises(ValueError, match="no training author"):
        mixture_log_density(counts_da(train), np.full(40, -1), counts_da(test))
    with pytest.raises(ValueError, match="different categories"):
        mixture_log_density(counts_da(train), labels, counts_da(test[:, :3]))


def test_log_predictive_density_equals_an_independent_computation() -> None:
    counts, cov, _ = simulate_counts(120, 6, 2, separation=2.0, seed=4)
    model = SegmentModel(2, sampler_config=FAST).fit(counts, cov)
    new, new_cov, _ = simulate_counts(8, 6, 2, separation=2.0, seed=5)
    got = model.log_predictive_density(new, new_cov, max_draws=20).values
    # independent: scipy's Dirichlet-multinomial and the gating softmax, draw by draw
    post = model.idata_["posterior"].to_dataset()
    step = -(-post.sizes["chain"] * post.sizes["draw"] // 20)  # every k-th draw of each chain
    post = post.isel(draw=slice(None, None, step)).stack(sample=("chain", "draw"))
    idx = np.arange(post.sizes["sample"])
    scale = model.covariate_scale
    x = (new_cov.transpose("author", "covariate").values - scale["mean"].values) / scale["sd"].values
    y = new.values
    per_draw = []
    for s in idx:
        alpha = post["concentration"].values[:, s][:, None] * post["profile"].values[:, :, s]
        eta = post["intercept"].values[:, s] + x @ post["slope"].values[:, :, s]
        log_pi = eta - np.log(np.exp(eta).sum(axis=1, keepdims=True))
        dm = np.stack([stats.dirichlet_multinomial.logpmf(y, alpha[k], y.sum(axis=1)) for k in range(2)], axis=1)
        per_draw.append(np.log(np.exp(log_pi + dm).sum(axis=1)))
    want = np.log(np.mean(np.exp(per_draw), axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-8)
    # it is a log probability of a discrete outcome
    assert (got < 0).all()


def _over_time_data(drift: bool, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Two segments of 150 authors, 6 periods, 5 categories; with `drift`, segment 1's authors move
    mass from category 0 to category 4 after period 2."""
    rng = np.random.default_rng(seed)
    n, n_p, n_c = 300, 6, 5
    seg = np.repeat([0, 1], n // 2)
    base = np.array([[0.4, 0.3, 0.1, 0.1, 0.1], [0.1, 0.1, 0.3, 0.3, 0.2]])
    y = np.zeros((n, n_p, n_c), dtype=int)
    for i in range(n):
        for p in range(n_p):
            if rng.random() < 0.25:  # inactive in this period
                continue
            prob = base[seg[i]].copy()
            if drift and seg[i] == 1 and p >= 3:
                prob = np.array([0.02, 0.1, 0.3, 0.3, 0.28])
            y[i, p] = rng.multinomial(rng.integers(3, 12), prob / prob.sum())
    counts = xr.DataArray(
        y,
        dims=("author", "period", "category"),
        coords={"author": np.arange(n), "period": np.arange(n_p), "category": [f"c{j}" for j in range(n_c)]},
    )
    r = np.eye(2)[seg][None].repeat(4, axis=0)
    r = 0.9 * r + 0.05  # soft, sums to one
    memberships = xr.DataArray(r, dims=("draw", "author", "segment"), coords={"segment": ["a", "b"]})
    return counts, memberships.assign_coords(author=np.arange(n))


def test_segments_over_time_shares_and_bands() -> None:
    counts, mem = _over_time_data(drift=False)
    out = segments_over_time(counts, mem, replicates=50, permutations=20, seed=1)
    y = counts.values
    r = mem.values.mean(axis=0)
    active = (y.sum(axis=2) > 0).astype(float)
    want_author = (active.T @ r) / active.sum(axis=0)[:, None]
    np.testing.assert_allclose(out["author_share"].values, want_author)
    want_label = (y.sum(axis=2).T @ r) / y.sum(axis=(0, 2))[:, None]
    np.testing.assert_allclose(out["label_share"].values, want_label)
    np.testing.assert_allclose(out["author_share"].sum("segment"), 1.0)
    np.testing.assert_allclose(out["profile"].sum("category"), 1.0)
    prof_b = np.einsum("apc,a->pc", y, r[:, 1])
    np.testing.assert_allclose(out["profile"].sel(segment="b").values, prof_b / prof_b.sum(axis=1, keepdims=True))
    for v in ("author_share", "label_share", "profile"):
        assert (out[f"{v}_low"] <= out[v] + 1e-12).all() and (out[v] <= out[f"{v}_high"] + 1e-12).all()
    np.testing.assert_array_equal(out["labels"].values, y.sum(axis=(0, 2)))
    with pytest.raises(ValueError, match="have no membership"):
        segments_over_time(counts, mem.isel(author=slice(0, 10)))
    with pytest.raises(ValueError, match="lacks dim 'period'"):
        segments_over_time(counts.rename(period="week"), mem)


def test_drift_test_finds_planted_drift_and_none_where_there_is_none() -> None:
    pvals = []
    for seed in range(3):
        counts, mem = _over_time_data(drift=False, seed=seed)
        pvals.append(segments_over_time(counts, mem, replicates=10, permutations=99, seed=seed)["drift_pvalue"].values)
    pvals = np.array(pvals)
    assert pvals.min() > 0.01  # 6 tests without drift: none below 1 %
    counts, mem = _over_time_data(drift=True)
    out = segments_over_time(counts, mem, replicates=10, permutations=99, seed=0)
    assert out["drift_pvalue"].sel(segment="b") == pytest.approx(0.01)  # no permutation reaches it
    assert out["drift_statistic"].sel(segment="b") > out["drift_statistic"].sel(segment="a")
    late = out["drift"].sel(segment="b").values[3:]
    assert (late > out["drift_null_high"].sel(segment="b").values[3:]).all()
