"""Sampling with nutpie: what a stopped run keeps (sample_until), the checks, the settings it refuses, the compiling."""

import itertools
import os
import subprocess
import sys
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pytest

from bayesseg.config import DEFAULT_SAMPLER_CONFIG
from bayesseg.exceptions import InputError
from bayesseg.model import SegmentModel, sampling, segment_model
from bayesseg.model.checks import prepare_data
from bayesseg.model.diagnostics import ConvergenceRule, convergence
from bayesseg.model.likelihood import BY_REFERENCE, data_by_reference
from bayesseg.model.sampling import (
    _checked,
    _same_graph,
    _signature,
    clear_compiled,
    compile_nutpie,
    keeping_compiled,
    nutpie_settings,
    sample_posterior,
    without_fastmath,
)
from bayesseg.simulate import simulate_counts
from bayesseg.workflow.report import _starts

SEQUENTIAL = {"draws": 600, "tune": 200, "chains": 2, "progressbar": False, "random_seed": 3, "min_draws": 100}


@pytest.fixture(scope="module")
def data():
    return simulate_counts(200, 10, 2, separation=2.0, seed=11)


def _sample(data, config, until):
    counts, cov, _ = data
    segment_model = SegmentModel(2)
    model = segment_model.build_model(counts, cov)
    prepared = prepare_data(counts, cov)
    offsets = segment_model.anchor_offsets([str(c) for c in counts["category"].values])
    cfg = {**DEFAULT_SAMPLER_CONFIG, **config}
    trace, _ = sample_posterior(model, prepared, 2, offsets, cfg, False, None, until)
    return trace


def test_a_stopped_run_keeps_the_first_draws_of_the_same_run_to_the_end(data):
    """Stopped at the second check, the trace is the first min_draws + check_every draws of every
    chain of an unstopped run with the same seed; each check saw complete, equal-length chains."""
    seen = []

    def until(trace):
        post = trace["posterior"].to_dataset()
        seen.append((post.sizes["chain"], post.sizes["draw"], bool(np.isnan(post["profile"].values).any())))
        return len(seen) == 2

    stopped = _sample(data, {**SEQUENTIAL, "check_every": 150}, until)
    assert seen == [(2, 100, False), (2, 250, False)]
    assert stopped["posterior"].sizes["draw"] == 250
    assert stopped["sample_stats"].sizes["draw"] == 250
    assert "observed_data" in stopped.children  # as pymc.sample's nutpie path gives it
    fixed = _sample(data, {**SEQUENTIAL, "min_draws": 0}, None)
    assert fixed["posterior"].sizes["draw"] == 600
    for name in ("profile", "concentration", "intercept"):
        np.testing.assert_array_equal(
            stopped["posterior"][name].values, fixed["posterior"][name].values[:, :250], err_msg=name
        )


def test_a_run_never_accepted_goes_to_draws(data):
    calls = []
    trace = _sample(data, {**SEQUENTIAL, "check_every": 200}, lambda t: calls.append(t["posterior"].sizes["draw"]))
    assert calls == [100, 300, 500]
    assert trace["posterior"].sizes["draw"] == 600
    assert not np.isnan(trace["posterior"]["profile"].values).any()


def test_no_check_where_none_could_stop_the_run(data):
    """min_draws >= draws, or a sampler other than nutpie: a fixed number of draws, `until` never called."""

    def until(trace):
        pytest.fail("a check ran")

    assert _sample(data, {**SEQUENTIAL, "min_draws": 600}, until)["posterior"].sizes["draw"] == 600
    pymc = {**SEQUENTIAL, "sampler": "pymc", "draws": 50, "tune": 50, "min_draws": 20, "check_every": 10}
    assert _sample(data, pymc, until)["posterior"].sizes["draw"] == 50


def test_an_interrupt_in_a_check_cancels_the_sampler(data):
    def until(trace):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sample(data, SEQUENTIAL, until)


def test_the_chains_go_on_drawing_while_a_check_runs():
    """Each check sees a snapshot taken while paused; the sampler is resumed before the check runs,
    and cancelled when one passes."""
    import xarray as xr

    calls = []
    snapshot = xr.DataTree.from_dict(
        {group: xr.Dataset({"v": (("chain", "draw"), np.zeros((2, 400)))}) for group in ("posterior", "sample_stats")}
    )
    sampler = SimpleNamespace(
        pause=lambda: calls.append("pause"),
        resume=lambda: calls.append("resume"),
        inspect=lambda: calls.append("inspect") or snapshot,
        cancel=lambda: calls.append("cancel"),
        wait=lambda: pytest.fail("waited for a sampler a check stopped"),
    )

    def until(trace):
        calls.append(("check", trace["posterior"].sizes["draw"]))
        return trace["posterior"].sizes["draw"] == 300

    trace, kept = _checked(sampler, range(100, 600, 200), lambda n: n <= 300, until)
    assert kept == 300 and trace["posterior"].sizes["draw"] == 300
    assert calls == [
        "pause",
        "inspect",
        "resume",
        ("check", 100),
        "pause",
        "inspect",
        "resume",
        ("check", 300),
        "cancel",
    ]


def test_segment_model_records_each_check_and_stops_when_the_rule_holds(data, tmp_path, monkeypatch):
    """The recorded checks are the rule applied to the relabelled draws so far: where the run
    stopped early, the last check passed and equals the saved fit's own convergence block."""
    counts, cov, _ = data
    # the mechanics, not this small fit's luck: a rule it meets within 2,000 draws whatever the
    # sampler's seed and version (under the project's rule, 200 warmup iterations left 1-1.4 %
    # divergences on two of three seeds; both the checks and the saved fit's block read the same rule)
    lenient = ConvergenceRule(max_rhat=1.05, min_ess=100.0, max_divergence_share=0.05)
    monkeypatch.setattr(
        segment_model, "convergence", lambda tree, reference, rule=None: convergence(tree, reference, rule or lenient)
    )
    cfg = {**SEQUENTIAL, "draws": 2000, "min_draws": 400, "check_every": 400}
    model = SegmentModel(2, sampler_config=cfg).fit(counts, cov)
    checks = model.draw_checks_
    kept = model.idata_["posterior"].sizes["draw"]
    assert [c["draws"] for c in checks] == list(range(400, 400 * len(checks) + 1, 400))
    assert all(not c["passed"] for c in checks[:-1])
    block = model.convergence()
    if kept < 2000:
        assert checks[-1]["passed"] and checks[-1]["draws"] == kept
        assert block.passed
        assert block.max_rhat == pytest.approx(checks[-1]["max_rhat"], rel=1e-12)
        assert block.min_ess_tail == pytest.approx(checks[-1]["min_ess_tail"], rel=1e-12)
    else:
        assert not any(c["passed"] for c in checks)
    # a 2-segment, well-separated 200-author fit meets the lenient rule long before 2,000 draws
    assert kept < 2000
    assert SegmentModel.load(model.save(tmp_path / "m.nc")).draw_checks_ == checks
    assert f"Sampling stopped at {kept:,} draws per chain" in _starts(model)


def test_the_report_says_where_sampling_stopped():
    fit = SimpleNamespace(em_log_likelihoods_=[], relabelled_draws_=0, sampler_config={"draws": 1800})
    fit.draw_checks_ = [{"draws": 800, "passed": False}, {"draws": 1000, "passed": True}]
    assert "Sampling stopped at 1,000 draws per chain" in _starts(fit)
    assert "at 800, 1,000 draws per chain, and met it at the last." in _starts(fit)
    fit.draw_checks_ = [{"draws": 800, "passed": False}, {"draws": 1000, "passed": False}]
    assert "never met it, and ran to 1,800." in _starts(fit)
    fit.draw_checks_ = []
    assert "Sampling stopped" not in _starts(fit)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"check_every": 0}, "'check_every'\\] must be an integer >= 1, got 0"),
        ({"min_draws": -1}, "'min_draws'\\] must be an integer >= 0, got -1"),
        ({"draws": 10.5}, "'draws'\\] must be an integer >= 1, got 10.5"),
        ({"nutpie_early_switch_freq": 0}, "'nutpie_early_switch_freq'\\] must be an integer >= 1, got 0"),
        ({"nutpie_mass_matrix_gamma": 0.0}, "'nutpie_mass_matrix_gamma'\\] must be a positive number, got 0.0"),
        ({"nutpie_mass_matrix_gamma": "1e-3"}, "'nutpie_mass_matrix_gamma'\\] must be a positive number, got '1e-3'"),
        (
            {"nutpie_step_size_adaptation": "Adam"},
            "'nutpie_step_size_adaptation'\\] must be one of \\['adam', 'dual_average'\\], got 'Adam'",
        ),
    ],
)
def test_draw_settings_are_checked(config, message):
    with pytest.raises(InputError, match=message):
        SegmentModel(2, sampler_config=config)


def test_nutpie_settings_carry_the_config():
    """The settings object holds what the config asks for, the early window's switch included."""
    cfg = {**DEFAULT_SAMPLER_CONFIG, "tune": 120, "draws": 70, "chains": 3, "target_accept": 0.9}
    low_rank = nutpie_settings({**cfg, "nutpie_early_switch_freq": 7, "nutpie_mass_matrix_gamma": 0.25}, 5).as_dict()
    assert low_rank["adaptation"] == "low_rank"
    spec = low_rank["settings"]
    assert (spec["num_tune"], spec["num_draws"], spec["num_chains"], spec["seed"]) == (120, 70, 3, 5)
    assert spec["adapt_options"]["early_mass_matrix_switch_freq"] == 7
    assert spec["adapt_options"]["mass_matrix_options"]["gamma"] == 0.25
    assert spec["adapt_options"]["step_size_settings"]["target_accept"] == 0.9
    assert spec["adapt_options"]["step_size_settings"]["adapt_options"]["method"] == "DualAverage"  # nutpie's own
    adam = nutpie_settings({**cfg, "nutpie_step_size_adaptation": "adam"}, 5).as_dict()["settings"]
    assert adam["adapt_options"]["step_size_settings"]["adapt_options"]["method"] == "Adam"
    assert nutpie_settings({**cfg, "nutpie_low_rank": False}, 5).as_dict()["adaptation"] == "diag"
    assert nutpie_settings({**cfg, "tune": 0}, 5).as_dict()["settings"]["num_tune"] == 1


def test_with_the_default_settings_the_draws_are_nutpie_samples(data):
    """The defaults make nutpie.sample's run draw for draw: what the library builds through nutpie's
    settings object (and its private sampler class) is what nutpie's keywords build (the low-rank
    correction's regularisation is a keyword, the early window's switch is not); another early
    switch, or Adam's adaptation of the step size, is another run."""
    import nutpie
    from nutpie.sample import _BackgroundSampler

    counts, cov, _ = data
    compiled = nutpie.compile_pymc_model(SegmentModel(2).build_model(counts, cov), backend="numba")
    cfg = {**DEFAULT_SAMPLER_CONFIG, "tune": 60, "draws": 20}
    ours = _BackgroundSampler(compiled, nutpie_settings(cfg, 9), np.zeros(compiled.n_dim), 2, progress_bar=False)
    ours = ours.wait()
    theirs = nutpie.sample(
        compiled, draws=20, tune=60, chains=2, cores=2, seed=9, adaptation="low_rank", target_accept=0.8,
        mass_matrix_gamma=cfg["nutpie_mass_matrix_gamma"], progress_bar=False,
    )  # fmt: skip
    for group, name in (("posterior", "profile"), ("posterior", "intercept"), ("sample_stats", "n_steps")):
        np.testing.assert_array_equal(ours[group][name].values, theirs[group][name].values, err_msg=name)
    cfg5 = {**cfg, "nutpie_early_switch_freq": 5}
    five = _BackgroundSampler(compiled, nutpie_settings(cfg5, 9), np.zeros(compiled.n_dim), 2, progress_bar=False)
    assert not np.array_equal(five.wait()["posterior"]["profile"].values, theirs["posterior"]["profile"].values)
    adam = {**cfg, "nutpie_step_size_adaptation": "adam"}  # nor is the step size's adaptation
    other = _BackgroundSampler(compiled, nutpie_settings(adam, 9), np.zeros(compiled.n_dim), 2, progress_bar=False)
    assert not np.array_equal(
        other.wait()["sample_stats"]["step_size"].values, theirs["sample_stats"]["step_size"].values
    )


def test_the_model_is_compiled_without_fast_math(monkeypatch, data):
    """nutpie compiles the model with PyTensor's fast-math off (NUMBA_FLAGS), and the setting is restored after."""
    import nutpie
    import pytensor

    before = pytensor.config.numba__fastmath
    seen = {}

    def compile_pymc_model(model, **kwargs):
        seen.update(model=model, fastmath=pytensor.config.numba__fastmath, **kwargs)
        return "compiled"

    monkeypatch.setattr(nutpie, "compile_pymc_model", compile_pymc_model)
    monkeypatch.setattr(sampling, "_COMPILED", [])  # the fake compiled model is not kept for other tests
    model = SegmentModel(2).build_model(*data[:2])
    assert compile_nutpie(model, initial_points={}) == "compiled"
    assert seen == {"model": model, "fastmath": False, "backend": "numba", "initial_points": {}}
    assert pytensor.config.numba__fastmath == before


def test_the_spy_sees_what_pytensor_compiles_with(fastmath_at_compile):
    """The control of the tests below: a function compiled with fast-math on is seen as such."""
    import pytensor
    import pytensor.tensor as pt

    x = pt.dvector("x")
    with pytensor.config.change_flags(numba__fastmath=True):
        pytensor.function([x], pt.exp(x).sum(), mode="NUMBA")
    with without_fastmath():
        pytensor.function([x], pt.log1p(x).sum(), mode="NUMBA")
    assert fastmath_at_compile == [True, False]


@pytest.mark.parametrize("sampler", ["pymc", "advi"])
def test_pymc_s_sampler_and_advi_compile_without_fast_math(data, sampler, fastmath_at_compile):
    """Every function PyMC's NUTS and ADVI compile for a fit (the start's jitter, the log density and its
    gradient, the approximation's draws) is compiled without fast-math, as nutpie's model is."""
    import pytensor

    before = pytensor.config.numba__fastmath
    _sample(data, {"sampler": sampler, "tune": 20, "draws": 10, "advi_iterations": 50, "min_draws": 0}, None)
    assert fastmath_at_compile and not any(fastmath_at_compile), fastmath_at_compile
    assert pytensor.config.numba__fastmath == before


# one process with an empty PyTensor cache, then one that loads from it: the log density and gradient
# at five points, as bits (with nutpie.compile_pymc_model's fast-math the two differ in the last bits)
_LOG_DENSITY_BITS = """
import hashlib, numpy as np
from bayesseg.model import SegmentModel
from bayesseg.model.sampling import compile_nutpie
from bayesseg.simulate import simulate_counts
counts, cov, _ = simulate_counts(200, 10, 2, separation=2.0, seed=11)
compiled = compile_nutpie(SegmentModel(2).build_model(counts, cov))
points = np.random.default_rng(0).normal(0, 0.5, (5, compiled.n_dim))
values = np.concatenate([np.concatenate([np.ravel(v) for v in compiled.logp_func(x)]) for x in points])
assert np.isfinite(values).all()
print(hashlib.sha256(values.tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_the_log_density_is_the_same_bits_compiled_afresh_or_from_the_cache(tmp_path):
    """Same seed and data, same draws: the compiled model computes the same bits whether PyTensor's Numba
    cache was empty (first run on a machine) or held its functions (every run after)."""
    flags = ",".join(filter(None, [os.environ.get("PYTENSOR_FLAGS"), f"base_compiledir={tmp_path}"]))
    env = {**os.environ, "PYTENSOR_FLAGS": flags}
    runs = [
        subprocess.run([sys.executable, "-c", _LOG_DENSITY_BITS], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert any((tmp_path / "numba").iterdir())  # the second run had a cache to load
    assert runs[0].stdout.split()[-1] == runs[1].stdout.split()[-1]


def _models(sizes, shared=True, **build):
    """Built models of `sizes` authors each (disjoint authors of one simulated table), data by reference or not."""
    counts, cov, _ = simulate_counts(sum(sizes), 10, 2, separation=2.0, seed=12)
    bounds = np.cumsum([0, *sizes])
    with data_by_reference() if shared else nullcontext():
        return [
            SegmentModel(2, **build).build_model(counts.isel(author=slice(a, b)), cov.isel(author=slice(a, b)))
            for a, b in itertools.pairwise(bounds)
        ]


def test_graphs_are_the_same_with_other_shared_data_not_with_other_constants_or_priors():
    """What decides reuse: the same computation of the same inputs, shared variables' values aside."""
    a, b = (_signature(m) for m in _models([150, 120]))
    assert a is not None and b is not None
    assert _same_graph(a, b) and _same_graph(b, a)
    c, d = (_signature(m) for m in _models([150, 120], shared=False))
    assert not _same_graph(c, d)  # the counts are constants of these graphs
    assert not _same_graph(a, c)
    (e,) = (_signature(m) for m in _models([150], model_config={"deviation_sigma": 2.0}))
    assert not _same_graph(a, e)  # a prior's scale is a constant


def test_data_by_reference_holds_every_graph_s_data_by_reference_in_the_block_only():
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import graph_inputs

    def shared_names(model):
        return {v.name for v in graph_inputs([model.logp()]) if isinstance(v, SharedVariable) and v.name in DATA}

    DATA = {"nonzero_pair", "covariates", "log_coefficient", "pair_count", "totals"}
    (inside,) = _models([150])
    (outside,) = _models([150], shared=False)
    assert shared_names(inside) == DATA and shared_names(outside) == set()
    with pytest.raises(RuntimeError), data_by_reference():
        raise RuntimeError
    from bayesseg.model import likelihood

    assert likelihood.BY_REFERENCE == BY_REFERENCE  # restored, also after an error


def test_data_by_reference_holds_for_the_thread_that_entered_it_only():
    """A block on one thread leaves another thread's graphs as they were (refits side by side each enter
    their own), blocks nest, and the size threshold is never touched."""
    import threading

    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import graph_inputs

    from bayesseg.model import likelihood

    def holds_by_reference(model):
        return any(isinstance(v, SharedVariable) and v.name == "pair_count" for v in graph_inputs([model.logp()]))

    built = {}
    inside, leave = threading.Event(), threading.Event()

    def in_a_block():
        with data_by_reference(), data_by_reference():
            inside.set()
            leave.wait(60)
            (built["nested"],) = _models([150], shared=False)  # built while both blocks are open
        (built["after"],) = _models([150], shared=False)

    thread = threading.Thread(target=in_a_block)
    thread.start()
    assert inside.wait(60)
    (built["other_thread"],) = _models([150], shared=False)  # while the first thread is in its block
    leave.set()
    thread.join(60)
    assert holds_by_reference(built["nested"])
    assert not holds_by_reference(built["other_thread"]) and not holds_by_reference(built["after"])
    assert likelihood.BY_REFERENCE == BY_REFERENCE


def test_a_refit_of_the_same_structure_reuses_the_compiled_model_and_draws_as_a_fresh_compilation(monkeypatch):
    """Two fits of one structure on other authors compile once; the second fit's draws, sample stats and
    coordinates are those of the same fit compiled afresh, bit for bit."""
    import nutpie

    counts, cov, _ = simulate_counts(450, 10, 2, separation=2.0, seed=13)
    first, second = slice(0, 250), slice(250, 450)
    config = {"tune": 60, "draws": 60, "chains": 2, "progressbar": False, "random_seed": 4, "em_restarts": 2}
    compiles = []
    compile_pymc_model = nutpie.compile_pymc_model
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda *a, **k: compiles.append(1) or compile_pymc_model(*a, **k))
    monkeypatch.setattr(sampling, "_COMPILED", [])

    def fit(authors):
        with data_by_reference():
            return SegmentModel(2, sampler_config=config).fit(counts.isel(author=authors), cov.isel(author=authors))

    fit(first)
    reused = fit(second)
    assert len(compiles) == 1
    clear_compiled()
    fresh = fit(second)
    assert len(compiles) == 2
    groups = [g for g in ("posterior", "sample_stats", "observed_data", "constant_data") if g in fresh.idata_.children]
    assert groups[:2] == ["posterior", "sample_stats"]
    for group in groups:
        a, b = reused.idata_[group].to_dataset(), fresh.idata_[group].to_dataset()
        assert dict(a.sizes) == dict(b.sizes) and set(a.data_vars) == set(b.data_vars), group
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{group}/{name}")
        for dim in a.dims:
            np.testing.assert_array_equal(a[dim].values, b[dim].values, err_msg=f"{group}/{dim}")


def test_a_keeping_compiled_block_keeps_this_thread_s_models_whatever_the_process_drops(monkeypatch):
    """With the process keeping none, refits of one structure in a block compile once (outside it, each
    compiles); nested blocks keep until the outermost ends; another thread's block keeps nothing for this one.
    nutpie's compilation is stood in for (what a reused model samples: the test above)."""
    import threading

    import nutpie

    counts, cov, _ = simulate_counts(300, 10, 2, separation=2.0, seed=13)
    compiles = []
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda *a, **k: compiles.append(object()) or compiles[-1])
    monkeypatch.setattr(sampling, "_with_model", lambda known, *a: known)
    monkeypatch.setattr(sampling, "_COMPILED", [])
    monkeypatch.setattr(sampling, "COMPILED_KEPT", 0)
    config = {"progressbar": False, "em_restarts": 2}

    def compile_on(authors):
        with data_by_reference():
            model = SegmentModel(2, sampler_config=config).build_model(
                counts.isel(author=authors), cov.isel(author=authors)
            )
        return compile_nutpie(model)

    first, second, third = slice(0, 100), slice(100, 200), slice(200, 300)
    compile_on(first)
    compile_on(second)
    assert len(compiles) == 2  # nothing kept
    with keeping_compiled():
        kept = compile_on(first)
        with keeping_compiled():
            assert compile_on(second) is kept
        assert compile_on(third) is kept  # the inner block's end released nothing
    assert len(compiles) == 3
    assert compile_on(first) is not kept  # released with the block
    inside, leave = threading.Event(), threading.Event()

    def in_a_block():
        with keeping_compiled():
            compile_on(first)
            inside.set()
            leave.wait(60)

    thread = threading.Thread(target=in_a_block)
    thread.start()
    assert inside.wait(60)
    compile_on(second)  # the other thread's kept model is not this thread's
    leave.set()
    thread.join(60)
    assert len(compiles) == 6
