"""Simulation-based calibration: the rank machinery here, the calibration itself in the slow suite."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesseg.evaluation import SBC_QUANTITIES, rank_uniformity, sbc_ranks
from bayesseg.exceptions import InputError


def test_rank_uniformity_matches_scipy_chisquare():
    rng = np.random.default_rng(3)
    ranks = pd.DataFrame({"quantity": "q", "rank": rng.integers(0, 100, 250), "n_rank_draws": 99})
    out = rank_uniformity(ranks)
    counts = np.histogram(ranks["rank"], bins=np.arange(0, 101, 10))[0]
    assert out.loc["q", "counts"] == counts.tolist()
    assert out.loc["q", "p_value"] == pytest.approx(stats.chisquare(counts).pvalue)
    piled = ranks.assign(rank=0)
    assert rank_uniformity(piled).loc["q", "p_value"] < 1e-50
    with pytest.raises(InputError, match="different numbers of draws"):
        rank_uniformity(pd.concat([ranks, ranks.assign(n_rank_draws=49)]))


def test_sbc_ranks_are_ranks_of_label_invariant_quantities():
    sampler = {"draws": 60, "tune": 100, "em_restarts": 2}
    ranks = sbc_ranks(2, n_authors=60, n_categories=4, n_rank_draws=19, sampler_config=sampler, seed=4)
    assert set(ranks["quantity"]) == set(SBC_QUANTITIES) and len(ranks) == 2 * len(SBC_QUANTITIES)
    assert ranks["rank"].between(0, 19).all() and (ranks["n_rank_draws"] == 19).all()
    truth = ranks.set_index(["simulation", "quantity"])["truth"]
    assert (truth.xs("abs_slope_contrast", level="quantity") >= 0).all()
    low, high = (truth.xs(f"{end}_log_concentration", level="quantity") for end in ("min", "max"))
    assert (low <= high).all()
    with pytest.raises(InputError, match="at least 1"):
        sbc_ranks(0)


@pytest.mark.slow
def test_simulation_based_calibration_slow():
    # Talts et al. (2018): 100 prior draws, ranks among 99 posterior draws, 10 bins; a calibrated
    # posterior fails a quantity's test at level 0.001 / 6 with probability < 0.001 over all six
    ranks = sbc_ranks(100, seed=20261202)
    table = rank_uniformity(ranks)
    assert (table["p_value"] > 0.001 / len(SBC_QUANTITIES)).all(), table
