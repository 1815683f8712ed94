"""Choosing K: the parsimony rule, stratified folds, K = 1 in the comparison, and the K-fold fallback."""

import numpy as np
import pandas as pd
import pytest

from bayesseg.exceptions import InputError
from bayesseg.model import SegmentModel
from bayesseg.model.selection import PARSIMONY_DSE, compare_k, kfold_folds, parsimonious_k
from bayesseg.simulate import simulate_counts

TINY = {"draws": 100, "tune": 150, "chains": 2, "progressbar": False, "random_seed": 2, "em_restarts": 2}


def test_the_smallest_k_within_two_standard_errors_is_kept():
    table = pd.DataFrame(
        {"k": [4, 5, 3, 2], "elpd_diff": [0.0, 3.0, 7.5, 40.0], "dse": [0.0, 2.5, 4.0, 6.0]},
        index=["K=4", "K=5", "K=3", "K=2"],
    )
    # K=3 is 7.5 below the best with dse 4: within 2 dse (8); K=2 is not (40 > 12)
    assert parsimonious_k(table) == 3
    assert parsimonious_k(table, multiplier=1.0) == 4
    assert PARSIMONY_DSE == 2.0


def test_folds_are_balanced_and_span_the_totals():
    rng = np.random.default_rng(0)
    totals = rng.integers(1, 500, size=103)
    folds = kfold_folds(totals, 5, seed=1)
    sizes = np.bincount(folds)
    assert sizes.sum() == 103 and sizes.max() - sizes.min() <= 1
    # every fold has authors from the bottom and the top fifth of the totals
    for f in range(5):
        fold_totals = totals[folds == f]
        assert fold_totals.min() <= np.quantile(totals, 0.2) and fold_totals.max() >= np.quantile(totals, 0.8)
    np.testing.assert_array_equal(folds, kfold_folds(totals, 5, seed=1))


def test_kfold_comparison_includes_one_segment_and_finds_two(tmp_path):
    counts, cov, _ = simulate_counts(120, 8, 2, separation=2.0, seed=5)
    comparison = compare_k(counts, cov, [1, 2], sampler_config=TINY, criterion="kfold", n_folds=2)
    table = comparison.table
    assert comparison.criterion == "kfold" and set(table["k"]) == {1, 2}
    assert {"elpd", "se", "elpd_diff", "dse", "within_rule", "n_high_pareto_k", "good_k"} <= set(table.columns)
    # two well-separated segments: K = 1 predicts held-out authors far worse, and is not kept
    assert comparison.best_k == comparison.top_k == 2
    assert table.loc["K=1", "elpd_diff"] > PARSIMONY_DSE * table.loc["K=1", "dse"] > 0
    assert table.loc["K=2", "elpd"] == pytest.approx(table["elpd"].max())
    assert "K-fold" in comparison.rule
    with pytest.raises(InputError, match="criterion"):
        compare_k(counts, cov, [1], sampler_config=TINY, criterion="waic")


def test_psis_loo_comparison_measures_the_difference_from_the_best():
    # arviz-stats' compare reports elpd_diff as this model minus the best (negative): the rule must
    # read it as a distance from the best, or K = 1 would always be kept
    counts, cov, _ = simulate_counts(150, 8, 2, separation=2.0, seed=6)
    comparison = compare_k(counts, cov, [1, 2], sampler_config=TINY, criterion="loo")
    table = comparison.table
    # PSIS-LOO, not K-fold; whether a high-k̂ author was moment matched depends on the draws
    assert comparison.criterion in ("psis-loo", "psis-loo-mm")
    np.testing.assert_allclose(table["elpd_diff"], table["elpd"].max() - table["elpd"])
    assert (table["elpd_diff"] >= 0).all() and table.loc["K=2", "elpd_diff"] == 0.0
    assert table.loc["K=1", "elpd_diff"] > PARSIMONY_DSE * table.loc["K=1", "dse"] > 0
    assert comparison.best_k == comparison.top_k == 2


def test_the_next_k_compiles_beside_the_fit_and_the_draws_are_those_of_a_fit_alone(monkeypatch):
    """compare_k compiles K = 2 on its own thread while K = 1 samples; K = 2's draws equal those of a
    fit compiled afresh on the main thread, bit for bit (a compilation under other floating-point
    settings, e.g. fast-math restored beneath it by another thread, would draw others)."""
    import threading

    import nutpie

    from bayesseg.model import sampling

    counts, cov, _ = simulate_counts(80, 6, 2, separation=2.0, seed=7)
    config = {**TINY, "tune": 60, "draws": 60}
    threads: list[tuple[int, str]] = []  # (K, thread) of each compilation, in the order they took the lock
    compile_pymc_model = nutpie.compile_pymc_model

    def compiling(model, *args, **kwargs):
        threads.append((len(model.coords["segment"]), threading.current_thread().name))
        return compile_pymc_model(model, *args, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", compiling)
    monkeypatch.setattr(sampling, "_COMPILED", [])
    comparison = compare_k(counts, cov, [1, 2], sampler_config=config, criterion="loo")
    # either may take the compiler first: K = 1's fit on this thread, or K = 2 compiled ahead beside it
    assert sorted(threads) == [(1, threading.main_thread().name), (2, "bayesseg-compile")]
    sampling.clear_compiled()
    alone = SegmentModel(2, sampler_config=config).fit(counts, cov)
    assert len(threads) == 3 and threads[2] == (2, threading.main_thread().name)  # K = 2's fit found its model
    for group in ("posterior", "sample_stats"):
        a, b = comparison.models[2].idata_[group].to_dataset(), alone.idata_[group].to_dataset()
        assert set(a.data_vars) == set(b.data_vars)
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{group}/{name}")


def _recording_fits(monkeypatch, fail_k=None):
    """Wrap SegmentModel.fit to record each fit's thread, start and end (or error); K = `fail_k` raises at once."""
    import threading
    import time

    calls: dict[int, dict] = {}
    fit = SegmentModel.fit

    def recording(self, *args, **kwargs):
        call = calls.setdefault(self.n_segments, {"thread": threading.current_thread().name, "start": time.monotonic()})
        try:
            if self.n_segments == fail_k:
                raise ValueError(f"K = {fail_k} fails")
            return fit(self, *args, **kwargs)
        except BaseException as error:
            call["error"] = error
            raise
        finally:
            call["end"] = time.monotonic()

    monkeypatch.setattr(SegmentModel, "fit", recording)
    return calls


def test_k_fitted_side_by_side_draw_what_each_fit_alone_draws(monkeypatch):
    """n_jobs = 2: the K run on their own threads, the largest first, two at a time (their fits overlap),
    and every K's draws and the comparison equal those of the fits one after another, bit for bit."""
    counts, cov, _ = simulate_counts(80, 6, 2, separation=2.0, seed=7)
    config = {**TINY, "tune": 60, "draws": 60}
    calls = _recording_fits(monkeypatch)
    side = compare_k(counts, cov, [1, 2, 3], sampler_config=config, criterion="loo", n_jobs=2)
    assert {k: c["thread"] for k, c in calls.items()} == {k: f"bayesseg-fit-k{k}" for k in (1, 2, 3)}
    assert calls[3]["start"] < calls[2]["start"] < calls[1]["start"]
    assert calls[2]["start"] < calls[3]["end"]  # two fits at once
    assert calls[1]["start"] >= min(calls[3]["end"], calls[2]["end"])  # never three
    calls.clear()
    turns = compare_k(counts, cov, [1, 2, 3], sampler_config=config, criterion="loo")
    assert all(not c["thread"].startswith("bayesseg-fit") for c in calls.values())
    for k in (1, 2, 3):
        for group in ("posterior", "sample_stats"):
            a, b = side.models[k].idata_[group].to_dataset(), turns.models[k].idata_[group].to_dataset()
            assert set(a.data_vars) == set(b.data_vars)
            for name in a.data_vars:
                np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"K={k} {group}/{name}")
    pd.testing.assert_frame_equal(side.table, turns.table)
    assert side.best_k == turns.best_k


def test_a_failing_fit_stops_the_fits_beside_it(monkeypatch):
    """K = 2 fails at once while K = 3 is under way: compare_k raises K = 2's error after K = 3's fit
    has been stopped (not left sampling unseen), and nothing is left asking threads to stop."""
    from bayesseg._interrupts import raise_if_interrupted

    counts, cov, _ = simulate_counts(80, 6, 2, separation=2.0, seed=7)
    config = {**TINY, "tune": 60, "draws": 5_000, "min_draws": 0}  # far longer than the test takes
    calls = _recording_fits(monkeypatch, fail_k=2)
    with pytest.raises(ValueError, match="K = 2 fails"):
        compare_k(counts, cov, [2, 3], sampler_config=config, criterion="loo", n_jobs=2)
    assert isinstance(calls[3]["error"], KeyboardInterrupt) and "stopped" in str(calls[3]["error"])
    assert "end" in calls[3]
    raise_if_interrupted()  # the stop is over


def test_kfold_refits_side_by_side_give_the_comparison_of_refits_one_after_another(monkeypatch):
    """n_jobs = 2 with criterion "kfold": each K's folds run in turn on its own thread, each K compiled
    once for its folds; every author's held-out density equals that of the refits one after another
    on this thread, bit for bit, and so does the table."""
    import threading

    import nutpie

    from bayesseg.model import sampling
    from bayesseg.model.selection import _difference_table, _kfold_pointwise

    counts, cov, _ = simulate_counts(80, 6, 2, separation=2.0, seed=7)
    config = {**TINY, "tune": 60, "draws": 60}
    compiled_on: list[str] = []
    compile_pymc_model = nutpie.compile_pymc_model

    def compiling(*args, **kwargs):
        compiled_on.append(threading.current_thread().name)
        return compile_pymc_model(*args, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", compiling)
    monkeypatch.setattr(sampling, "_COMPILED", [])
    pointwise = {}
    kfold_pointwise = _kfold_pointwise

    def recording(counts, covariates, k, *args):
        pointwise[k] = kfold_pointwise(counts, covariates, k, *args)
        return pointwise[k]

    monkeypatch.setattr("bayesseg.model.selection._kfold_pointwise", recording)
    side = compare_k(counts, cov, [1, 2], sampler_config=config, criterion="kfold", n_folds=2, n_jobs=2)
    assert sorted(name for name in compiled_on if "kfold" in name) == ["bayesseg-kfold-k1", "bayesseg-kfold-k2"]
    folds = kfold_folds(counts.sum("category").values, 2, seed=0)
    sampling.clear_compiled()
    turns = {k: kfold_pointwise(counts, cov, k, folds, None, config, None) for k in (1, 2)}
    assert compiled_on.count(threading.main_thread().name) == 2  # each K's folds compiled once, here
    for k in (1, 2):
        np.testing.assert_array_equal(pointwise[k], turns[k], err_msg=f"K={k}")
    table = _difference_table(turns)
    pd.testing.assert_frame_equal(side.table[table.columns], table, check_exact=True)
    assert side.criterion == "kfold"


@pytest.mark.parametrize(
    ("n_jobs", "sampler", "message"),
    [
        (0, "nutpie", "n_jobs must be a whole number of at least 1, got 0"),
        (1.5, "nutpie", "got 1.5"),
        (True, "nutpie", "got True"),
        (2, "pymc", "for sampler 'nutpie' only, not 'pymc'"),
    ],
)
def test_n_jobs_is_checked_before_any_fit(n_jobs, sampler, message):
    counts, cov, _ = simulate_counts(30, 4, 2, seed=1)
    with pytest.raises(InputError, match=message):
        compare_k(counts, cov, [1, 2], sampler_config={**TINY, "sampler": sampler}, n_jobs=n_jobs)


def test_bayesseg_settings_hold_for_one_thread_at_a_time():
    """A thread leaving ``without_fastmath`` restores PyTensor's settings for the whole process, so a
    second thread must not be inside it then: it waits, and compiles under the settings it asked for."""
    import threading

    import pytensor

    from bayesseg.model.sampling import without_fastmath

    first_inside, first_may_leave, second_may_read = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with without_fastmath():
            first_inside.set()
            first_may_leave.wait(10)

    def second() -> None:
        with without_fastmath():
            second_may_read.wait(10)
            seen.append(bool(pytensor.config.numba__fastmath))

    with pytensor.config.change_flags(numba__fastmath=True):
        a = threading.Thread(target=first)
        a.start()
        assert first_inside.wait(10)
        b = threading.Thread(target=second)
        b.start()
        first_may_leave.set()
        a.join(10)
        second_may_read.set()  # the first has left, restoring fast-math for the process
        b.join(10)
        assert not a.is_alive() and not b.is_alive()
        assert seen == [False]
        assert pytensor.config.numba__fastmath is True


def test_compiling_ahead_is_for_nutpie():
    counts, cov, _ = simulate_counts(40, 5, 2, seed=8)
    with pytest.raises(InputError, match=r"compiles for sampler 'nutpie'.*'pymc'"):
        SegmentModel(2, sampler_config={"sampler": "pymc"}).compile(counts, cov)
