"""Ranking content for a segment by posterior predictive probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from bayesseg.evaluation.content import post_counts, rank_posts
from bayesseg.model import SegmentModel
from bayesseg.simulate import simulate_counts
from bayesseg.taxonomy import Taxonomy

FAST = {"draws": 100, "tune": 200, "chains": 2, "progressbar": False, "random_seed": 3}


@pytest.fixture(scope="module")
def fitted() -> tuple[SegmentModel, dict]:
    counts, cov, truth = simulate_counts(300, 12, 3, separation=1.8, seed=11)
    return SegmentModel(3, sampler_config=FAST).fit(counts, cov), truth


def test_posts_of_a_segment_rank_first(fitted: tuple[SegmentModel, dict]) -> None:
    model, truth = fitted
    est = model.idata_["posterior"]["profile"].mean(("chain", "draw")).values
    rng = np.random.default_rng(0)
    posts, origin = [], []
    for j in range(3):
        for _ in range(20):
            posts.append(rng.multinomial(8, truth["profile"][j]))
            origin.append(j)
    counts = pd.DataFrame(posts, columns=model.categories_, index=[f"p{i}" for i in range(60)])
    origin = np.array(origin)
    # the estimated segment closest to true segment 0
    k = int(np.argmin(((est - truth["profile"][0]) ** 2).sum(axis=1)))
    ranked = rank_posts(model, counts, model.segment_names[k])
    top = ranked.index[:20]
    from_zero = np.array([origin[int(p[1:])] == 0 for p in top])
    assert from_zero.mean() > 0.8
    assert ranked["prob_segment"].between(0, 1).all() and ranked["rank"].tolist() == list(range(1, 61))
    # probabilities over segments sum to one for every post
    total = sum(rank_posts(model, counts, s)["prob_segment"].reindex(counts.index) for s in model.segment_names)
    np.testing.assert_allclose(total, 1.0, rtol=1e-9)


def test_log_predictive_matches_scipy(fitted: tuple[SegmentModel, dict]) -> None:
    model, _ = fitted
    y = np.zeros(len(model.categories_), dtype=int)
    y[[0, 3, 3, 7]] += 1
    y[3] += 1
    counts = pd.DataFrame([y], columns=model.categories_, index=["post"])
    seg = model.segment_names[1]
    got = rank_posts(model, counts, seg, max_draws=50).loc["post", "log_predictive"]
    params = model.posterior_draws(50)
    lp = [
        stats.dirichlet_multinomial.logpmf(y, params["concentration"][s, 1] * params["profile"][s, 1], y.sum())
        for s in range(params["profile"].shape[0])
    ]
    assert got == pytest.approx(special.logsumexp(lp) - np.log(len(lp)), rel=1e-9)


def test_bad_inputs(fitted: tuple[SegmentModel, dict]) -> None:
    model, _ = fitted
    counts = pd.DataFrame([np.ones(len(model.categories_), int)], columns=model.categories_, index=["a"])
    with pytest.raises(ValueError, match="unknown segment 'goth'"):
        rank_posts(model, counts, "goth")
    with pytest.raises(ValueError, match="no category label"):
        rank_posts(model, counts * 0, model.segment_names[0])


def test_post_counts_from_labels() -> None:
    tax = Taxonomy.from_toml()
    mapped = tax.labels.dropna(subset=["CATEGORY"]).iloc[:2]
    rows = [("p1", t, n) for t, n in mapped[["TYPE", "LABEL_NAME"]].itertuples(index=False)]
    rows += [rows[0], ("p2", "object_detection", "human")]  # a repeated label; a post with no category
    rows += [("p1", "bag_brand", "loewe"), ("p3", "bag_brand", "loewe")]  # a label the taxonomy does not know
    counts, excluded, ignored = post_counts(pd.DataFrame(rows, columns=["post_id", "type", "label_name"]), tax)
    assert list(counts.index) == ["p1"] and counts.loc["p1"].sum() == 2
    assert excluded.to_dict("records") == [
        {"post": "p2", "reason": "no label with a category"},
        {"post": "p3", "reason": "no label with a category"},
    ]
    # nothing dropped silently: the labels that did not count, with their rows and why
    assert ignored.to_dict("records") == [
        {"TYPE": "bag_brand", "LABEL_NAME": "loewe", "rows": 2, "reason": "unknown to the taxonomy"},
        {"TYPE": "object_detection", "LABEL_NAME": "human", "rows": 1, "reason": "excluded by the taxonomy"},
    ]
