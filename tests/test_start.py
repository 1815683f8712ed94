"""EM starting values: they find the true mode, respect anchors and are a valid point of the model."""

import numpy as np
import pytest
import xarray as xr
from scipy import special, stats
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_info, threadpool_limits

from bayesseg.config import DEFAULT_MODEL_CONFIG
from bayesseg.model import SegmentModel
from bayesseg.model.checks import prepare_data
from bayesseg.model.graph import in_sampling_order, sampling_order
from bayesseg.model.start import em_start
from bayesseg.simulate import simulate_counts


@pytest.fixture(scope="module")
def data():
    return simulate_counts(600, 20, 3, separation=1.2, mean_total=80, seed=4)


def test_em_recovers_the_simulated_segments(data):
    counts, cov, truth = data
    x = (cov.values - cov.values.mean(0)) / cov.values.std(0)
    start = em_start(counts.values, x, 3, np.zeros((3, 20)), n_restarts=3, seed=0)
    assert adjusted_rand_score(truth["segment"], start.responsibilities.argmax(1)) > 0.95
    np.testing.assert_allclose(start.responsibilities.sum(axis=1), 1.0)
    assert start.log_likelihood == max(start.restarts)
    v = start.initvals
    assert v["deviation"].shape == (3, 20) and v["population_logit"].shape == (20,)
    np.testing.assert_allclose(v["deviation"].sum(axis=1), 0.0, atol=1e-10)  # zero-sum on both axes, as the model's
    np.testing.assert_allclose(v["deviation"].sum(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(v["population_logit"].sum(), 0.0, atol=1e-10)
    assert v["slope"].shape == (2, 3) and v["intercept"].shape == (3,)
    np.testing.assert_allclose(v["slope"].sum(axis=1), 0.0, atol=1e-10)  # zero-sum over segments, as the model's
    np.testing.assert_allclose(v["intercept"].sum(), 0.0, atol=1e-10)
    # concentrations near the truth (the grid search is coarse: within a factor of 2)
    kappa = np.exp(v["log_concentration"])
    order = [
        np.bincount(start.responsibilities.argmax(1)[truth["segment"] == k], minlength=3).argmax() for k in range(3)
    ]
    ratio = kappa[order] / truth["concentration"]
    assert np.all((ratio > 0.5) & (ratio < 2.0))


def test_anchored_segment_gets_the_cluster_that_matches_its_rule(data):
    counts, _cov, truth = data
    profile = truth["profile"]  # (K, C)
    # a rule made of the categories where true segment 2 stands out most
    lift = np.log(profile[2] / profile.mean(axis=0))
    rule = np.argsort(-lift)[:3]
    offsets = np.zeros((3, 20))
    offsets[0, rule] = 1.4
    offsets[0] -= offsets[0].mean()
    x = np.zeros((counts.sizes["author"], 0))
    start = em_start(counts.values, x, 3, offsets, n_restarts=2, seed=1)
    modal = start.responsibilities.argmax(1)
    assert np.mean(modal[truth["segment"] == 2] == 0) > 0.9  # true segment 2 sits on anchored segment 0
    assert "slope" not in start.initvals


def test_the_start_is_a_finite_point_of_the_model(data):
    from pymc.initial_point import make_initial_point_fn

    counts, cov, _ = data
    model_spec = SegmentModel(3, sampler_config={"em_restarts": 2})
    model = model_spec.build_model(counts, cov)
    data_ = prepare_data(counts, cov)
    start = em_start(counts.values, data_.x, 3, np.zeros((3, 20)), n_restarts=2)
    free = {rv.name for rv in model.free_RVs}
    assert {"population_logit", "deviation", "log_concentration_raw", "slope", "intercept"} <= free
    categories = [str(c) for c in counts["category"].values]
    overrides = in_sampling_order(
        {k: v for k, v in start.initvals.items() if k in free}, model.coords["category_sampling"], categories
    )
    point = make_initial_point_fn(model=model, overrides=overrides, jitter_rvs=set())(0)
    logp = model.compile_logp()(point)
    assert np.isfinite(logp)
    # the sampling order is undone inside the graph: the profiles are the EM start's, category by category
    v = start.initvals
    expected = special.softmax(v["population_logit"][None, :] + v["deviation"], axis=1)
    (profile_of_values,) = model.replace_rvs_by_values([model["profile"]])
    profile = model.compile_fn(profile_of_values, inputs=model.value_vars, on_unused_input="ignore")(point)
    np.testing.assert_allclose(profile, expected, rtol=1e-6)
    default = model.compile_logp()(model.initial_point())
    assert logp > default  # far better than PyMC's default starting point


def test_bad_init_option_and_too_few_authors():
    with pytest.raises(ValueError, match="unknown init"):
        SegmentModel(2, sampler_config={"init": "map"})
    with pytest.raises(ValueError, match="cannot make 4 segments"):
        em_start(np.ones((3, 5), dtype=int), np.zeros((3, 0)), 4, np.zeros((4, 5)))


def test_the_commonest_category_is_sampled_last():
    # PyMC's zero-sum transform makes the last entry a dense direction: it must be the best-identified one
    cats = ["a", "b", "rare", "common", "c"]
    assert sampling_order(cats, np.array([5, 9, 1, 40, 7])) == ["a", "b", "rare", "c", "common"]
    values = {"population_logit": np.arange(5.0), "deviation": np.arange(10.0).reshape(2, 5), "other": np.ones(2)}
    moved = in_sampling_order(values, ["a", "b", "rare", "c", "common"], cats)
    np.testing.assert_array_equal(moved["population_logit"], [0, 1, 2, 4, 3])
    np.testing.assert_array_equal(moved["deviation"][1], [5, 6, 7, 9, 8])
    assert moved["other"] is values["other"]


def test_parabola_peak_recovers_a_quadratic_log_likelihood():
    """On an exact quadratic in log κ the refined peak and standard error are exact; at the grid's edge the
    error is infinite (the data put no bound on κ there)."""
    from bayesseg.model.start import _LOG_KAPPA_GRID, _parabola_peak

    centre = np.array([3.217, 4.5, 0.2])  # the last below the grid: its best point is the edge
    sd = np.array([0.03, 0.4, 0.1])
    score = -0.5 * ((_LOG_KAPPA_GRID[:, None] - centre[None, :]) / sd[None, :]) ** 2
    peak, se = _parabola_peak(score)
    np.testing.assert_allclose(peak[:2], centre[:2], rtol=1e-12)
    np.testing.assert_allclose(se[:2], sd[:2], rtol=1e-12)
    assert peak[2] == _LOG_KAPPA_GRID[0] and np.isinf(se[2])


def test_em_concentrations_and_their_spread_against_the_truth():
    """Segments sharing one concentration: the EM estimates sit within a few standard errors of it and the
    spread (DerSimonian-Laird) is below the error, so `auto` does not centre them; with concentrations that
    differ, it does."""
    from bayesseg.model.graph import centred_concentration
    from bayesseg.model.start import StartingPoint

    counts, cov, truth = simulate_counts(3000, 30, 3, separation=1.2, mean_total=100, seed=11)
    x = (cov.values - cov.values.mean(0)) / cov.values.std(0)
    start = em_start(counts.values, x, 3, np.zeros((3, 30)), n_restarts=2, seed=0)
    kappa = float(truth["concentration"])  # the simulator gives every segment this one concentration
    z = (start.log_concentration - np.log(kappa)) / start.log_concentration_se
    assert np.all(np.abs(z) < 4) and np.all(start.log_concentration_se < 0.1)
    spread, error = start.concentration_spread()
    assert spread <= error
    assert not centred_concentration("auto", 3000, 3, (spread, error))
    assert centred_concentration("auto", 3000, 3, None)  # without the start: by authors per segment only
    # the moments by hand: var(log κ̂) minus the mean squared error, floored at 0
    differ = StartingPoint({}, np.empty((0, 3)), 0.0, [], np.log([20.0, 60.0, 200.0]), np.array([0.02, 0.03, 0.04]))
    spread, error = differ.concentration_spread()  # spread 1.15, error 0.03
    np.testing.assert_allclose(error, np.sqrt((0.02**2 + 0.03**2 + 0.04**2) / 3))
    np.testing.assert_allclose(spread, np.sqrt(np.var(np.log([20.0, 60.0, 200.0]), ddof=1) - error**2))
    assert centred_concentration("auto", 3000, 3, (spread, error))
    assert centred_concentration("auto", 600, 3, (spread, error))  # the error decides, not the authors per segment
    assert not centred_concentration("auto", 600, 3)  # without the start: 200 authors per segment are too few
    assert not centred_concentration("auto", 3000, 3, (2.9 * error, error))  # not three times the error
    assert centred_concentration("auto", 3000, 3, (3.1 * error, error))
    assert centred_concentration("centred", 30, 3, (0.0, 1.0)) and not centred_concentration("non_centred", 3000, 3)


def _built_graph(monkeypatch, k, counts, cov):
    """The graph `SegmentModel(k).fit` builds, and the EM start's spread it was given; sampling is not reached."""
    import bayesseg.model.segment_model as segment_model

    built = {}
    original = segment_model.build_graph

    def capture(data, names, config, likelihood=None, spread=None):
        built["model"] = original(data, names, config, likelihood, spread)
        built["spread"] = spread
        raise RuntimeError("stop before sampling")

    monkeypatch.setattr(segment_model, "build_graph", capture)
    with pytest.raises(RuntimeError, match="stop before sampling"):
        SegmentModel(k, sampler_config={"em_restarts": 2}).fit(counts, cov)
    return built


def test_fit_uses_the_em_start_to_choose_the_parametrisation(monkeypatch):
    """`SegmentModel.fit` finds the EM start first and builds the graph with its spread (a shared κ: non-centred)."""
    counts, cov, _ = simulate_counts(2000, 30, 4, separation=1.2, mean_total=100, seed=1)
    built = _built_graph(monkeypatch, 4, counts, cov)
    free = {rv.name for rv in built["model"].free_RVs}
    assert built["spread"][0] <= built["spread"][1]
    assert "log_concentration_raw" in free and "log_concentration" not in free


def _large_totals(seed: int) -> xr.DataArray:
    """140 authors in each of two segments with totals in the thousands and concentrations 15 and 40."""
    rng = np.random.default_rng(seed)
    profiles = special.softmax(rng.normal(0.0, 1.5, (2, 40)), axis=1)
    rows = [
        rng.multinomial(int(rng.lognormal(np.log(3000.0), 0.3)), rng.dirichlet(kappa * profiles[z]))
        for z, kappa in [(0, 15.0), (1, 40.0)]
        for _ in range(140)
    ]
    return xr.DataArray(
        np.array(rows),
        dims=("author", "category"),
        coords={"author": np.arange(280), "category": [f"c{j}" for j in range(40)]},
    )


def test_few_authors_with_large_totals_get_centred_concentrations(monkeypatch):
    """140 authors a segment, each concentration known to a few hundredths: centred (non-centred before 2026.12.7).

    On such a table (benchmarks/dmn_speed.py's) the non-centred form gave R-hat 1.5 at K = 2.
    """
    built = _built_graph(monkeypatch, 2, _large_totals(3), None)
    between, error = built["spread"]
    assert error < 0.05 and between > 3 * error
    free = {rv.name for rv in built["model"].free_RVs}
    assert "log_concentration" in free and "log_concentration_raw" not in free


def test_one_segment_has_the_hierarchy_mean_as_a_function_of_its_concentration(monkeypatch):
    """K = 1: free log κ, s and w, with μ = log κ - s w; the hierarchy's joint density times the Jacobian s.

    The centred and non-centred forms both funnelled at K = 1 (21-35 divergences in 2 × 300 draws on
    benchmarks/dmn_speed.py's tables, centred); the density is checked against scipy's, term by term.
    """
    model = _built_graph(monkeypatch, 1, _large_totals(3), None)["model"]
    free = {rv.name for rv in model.free_RVs}
    assert free == {"population_logit", "log_concentration", "log_concentration_sd", "log_concentration_raw"}
    names = ["log_concentration", "log_concentration_sd", "log_concentration_raw"]
    logp = model.compile_logp(vars=[model[n] for n in names], jacobian=False)
    values = [model.rvs_to_values[model[n]] for n in names]
    mu_of = model.compile_fn(model.replace_rvs_by_values([model["log_concentration_mu"]])[0], inputs=values)
    m, s = DEFAULT_MODEL_CONFIG["log_concentration_mu"]
    sigma = DEFAULT_MODEL_CONFIG["log_concentration_sigma"]
    rng = np.random.default_rng(0)
    # scales from the funnel's neck to the prior's tail; log s (the Jacobian) from -3.9 to 0.9
    for lk, sd, w in zip(rng.normal(2.5, 1.0, 5), [0.02, 0.1, 0.4, 1.3, 2.5], rng.normal(0.0, 1.0, 5), strict=True):
        point = model.initial_point() | {
            "log_concentration": np.array([lk]),
            "log_concentration_sd_log__": np.log(sd),
            "log_concentration_raw": np.array([w]),
        }
        mu = lk - sd * w
        assert float(mu_of({v.name: point[v.name] for v in values})) == pytest.approx(mu, rel=1e-9)
        hierarchy = stats.norm.logpdf(mu, m, s) + stats.halfnorm.logpdf(sd, scale=sigma) + stats.norm.logpdf(lk, mu, sd)
        # PyTensor's compiled logarithms are within ~1e-8 of scipy's; the Jacobian's log s is 0.2-3.9 away
        assert float(logp(point)) == pytest.approx(hierarchy + np.log(sd), abs=1e-6)


def test_the_em_start_does_not_depend_on_the_blas_threads():
    # OpenBLAS splits a product's sums among its threads: at 2,000 x 60 x 6 the mode's last bits
    # differed between one and two threads before em_start held its pools at one thread
    counts, cov, _ = simulate_counts(2000, 60, 6, separation=1.2, mean_total=100, seed=1)
    d = prepare_data(counts, cov)
    starts = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            starts.append(em_start(d.counts.values, d.x, 6, np.zeros((6, 60)), n_restarts=2, seed=1))
            # the caller's setting is restored afterwards
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {threads}
    one, two = starts
    assert sorted(one.initvals) == sorted(two.initvals)
    for name, value in one.initvals.items():
        np.testing.assert_array_equal(value, two.initvals[name], err_msg=name)
    np.testing.assert_array_equal(one.responsibilities, two.responsibilities)


def test_an_em_start_beside_another_thread_s_gives_the_bits_of_one_alone(monkeypatch):
    """threadpoolctl restores the pools it found when a block ends, for the whole process: another
    thread's em_start ending while this one runs would give this one two BLAS threads, and other last
    bits (compare_k finds the next K's start on a second thread while this K's fit finds its own)."""
    import threading

    from bayesseg.model import start

    counts, cov, _ = simulate_counts(2000, 60, 6, separation=1.2, mean_total=100, seed=1)
    d = prepare_data(counts, cov)

    def run() -> start.StartingPoint:
        return em_start(d.counts.values, d.x, 6, np.zeros((6, 60)), n_restarts=2, seed=1)

    alone = run()
    em_mode = start._em_mode
    other_inside, other_may_leave = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        if threading.current_thread() is other:  # inside em_start's pools until this thread's start lets it go
            other_inside.set()
            other_may_leave.wait(1.0)  # or a second passes: this thread may be waiting for it to leave
            return None
        other_may_leave.set()  # this thread's start: the other leaves, restoring the pools it found
        other.join(10)
        return em_mode(*args, **kwargs)

    monkeypatch.setattr(start, "_em_mode", held)
    other = threading.Thread(target=run)
    # the process's own pools (a limit set here would be what the other thread restores): more than one thread
    assert min(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") > 1, "one BLAS thread"
    other.start()
    assert other_inside.wait(10)
    beside = run()
    assert not other.is_alive()
    for name, value in alone.initvals.items():
        np.testing.assert_array_equal(value, beside.initvals[name], err_msg=name)
