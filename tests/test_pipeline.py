"""Steps of the main job on hand-made inputs: eligibility, imputation, sampling, tables, validation."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr

from bayesseg.config import RunSpec
from bayesseg.data.inputs import fold_rare_categories, model_inputs
from bayesseg.evaluation.truth import SimulatorTruth, truth_validation
from bayesseg.survey.design import sample_design, stratified_sample
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.tables import result_tables

CATS = ["bag", "dress", "top"]


def _covariates(n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    followers = rng.integers(100, 100_000, size=n).astype(float)
    return pd.DataFrame(
        {
            "author": np.arange(1, n + 1, dtype=np.int64),
            "followers": followers,
            "engagement_rate": np.exp(-3 - 0.2 * np.log1p(followers) + rng.normal(0, 0.3, n)),
            "n_posts": np.full(n, 5, dtype=np.int64),
            "current_tier": np.where(
                followers <= 12_000, "mainstream", np.where(followers <= 40_000, "trendy", "edgy")
            ),
        }
    )


def _counts(authors) -> pd.DataFrame:
    rows = [(a, c, 1 + (a + i) % 3) for a in authors for i, c in enumerate(CATS) if (a + i) % 2 == 0 or c == "top"]
    return pd.DataFrame(rows, columns=["author", "category", "count"])


def test_exclusions_have_reasons_and_imputation_matches_ols():
    cov = _covariates()
    cov.loc[cov["author"] == 2, "n_posts"] = 0  # no posts
    cov.loc[cov["author"] == 4, "followers"] = np.nan  # followers unknown
    cov.loc[cov["author"].isin([5, 6]), "engagement_rate"] = np.nan  # hidden likes: imputed
    labelled = [a for a in cov["author"] if a not in (2, 3)]  # 3 posts but has no category label
    inputs = model_inputs(_counts(labelled), cov, RunSpec().covariates, CATS)

    excluded = dict(zip(inputs.excluded["author"], inputs.excluded["reason"], strict=True))
    assert excluded == {
        2: "no posts",
        3: "no category labels",
        4: "missing log_followers (followers is NULL or not finite)",
    }
    segmented = inputs.counts["author"].values
    assert set(segmented) | set(excluded) == set(cov["author"]) and not set(segmented) & set(excluded)
    assert inputs.imputed == {"log_engagement": 2}

    # the imputed values are the OLS prediction fitted on the others (statsmodels, independently)
    ok = cov[cov["author"].isin(segmented) & cov["engagement_rate"].notna()]
    fit = sm.OLS(np.log(ok["engagement_rate"]), sm.add_constant(np.log1p(ok["followers"]))).fit()
    gap = cov[cov["author"].isin([5, 6])]
    expected = fit.params["const"] + fit.params["followers"] * np.log1p(gap["followers"].to_numpy())
    got = inputs.covariates.sel(author=[5, 6], covariate="log_engagement").values
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # observed covariates are the transforms, untouched
    np.testing.assert_allclose(
        inputs.covariates.sel(author=1).values,
        [np.log1p(cov.loc[0, "followers"]), np.log(cov.loc[0, "engagement_rate"])],
    )
    # counts equal a pivot of the long table
    wide = _counts(labelled).pivot(index="author", columns="category", values="count").fillna(0).loc[segmented]
    np.testing.assert_array_equal(inputs.counts.sel(author=wide.index, category=CATS).values, wide[CATS].to_numpy())


def test_rare_categories_are_folded_with_every_label_kept():
    taxonomy = Taxonomy.from_toml()
    cov = _covariates(n=30)
    rows = [(a, "top", 3) for a in cov["author"]] + [(a, "dress", 1) for a in cov["author"][:20]]
    rows += [(a, "sequin", 2) for a in cov["author"][:4]] + [(a, "tweed", 1) for a in cov["author"][2:5]]
    rows += [(1, "brand_contemporary_shoe", 5)]
    counts_long = pd.DataFrame(rows, columns=["author", "category", "count"])
    inputs = model_inputs(counts_long, cov, RunSpec().covariates, taxonomy.category_names)
    folded_inputs, folded_taxonomy, table = fold_rare_categories(inputs, taxonomy, min_authors=5)
    # every category of fewer than 5 authors goes, including the unused ones (0 authors)
    support = (inputs.counts > 0).sum("author").to_pandas()
    assert set(table["category"]) == set(support[support < 5].index)
    row = table.set_index("category").loc["sequin"]
    assert (row["authors"], row["labels"], row["into"]) == (4, 8, "texture_other")
    assert folded_inputs.counts["category"].values.tolist() == folded_taxonomy.category_names
    # sequin (authors 1-4) and tweed (3-5) pool to 5 authors: folded together
    assert int(folded_inputs.counts.sel(category="texture_other").sum()) == 8 + 3
    # the brand group's rare categories pool to 1 author: excluded, with the reason, and counted
    assert table.set_index("category").loc["brand_contemporary_shoe", "into"] == "excluded (1 authors pooled)"
    assert "brand_other" not in folded_taxonomy.category_names
    pairs = taxonomy.labels.loc[taxonomy.labels["CATEGORY"] == "brand_contemporary_shoe", ["TYPE", "LABEL_NAME"]]
    lookup = folded_taxonomy.lookup(pairs)
    assert len(lookup) and lookup["KNOWN"].all()
    assert lookup["CATEGORY"].isna().all() and (lookup["EXCLUDED_REASON"] == "too_rare").all()
    expected = inputs.counts.sum("category") - inputs.counts.sel(category="brand_contemporary_shoe")
    np.testing.assert_array_equal(folded_inputs.counts.sum("category"), expected)
    np.testing.assert_array_equal(folded_inputs.counts.sel(category="top"), inputs.counts.sel(category="top"))
    # an author whose only labels are excluded ones is excluded with the reason, never dropped silently
    cov2 = _covariates(n=31)
    lone = pd.DataFrame([(31, "brand_contemporary_shoe", 2)], columns=["author", "category", "count"])
    inputs2 = model_inputs(pd.concat([counts_long, lone]), cov2, RunSpec().covariates, taxonomy.category_names)
    folded2, _, _ = fold_rare_categories(inputs2, taxonomy, min_authors=5)
    assert 31 not in folded2.counts["author"].values and 31 not in folded2.covariates["author"].values
    reason = folded2.excluded.set_index("author").loc[31, "reason"]
    assert "too rare" in reason and folded2.authors.loc[31, "reason"] == reason
    assert not folded2.authors.loc[31, "eligible"]
    same, same_taxonomy, none = fold_rare_categories(inputs, taxonomy, min_authors=0)
    assert same is inputs and same_taxonomy is taxonomy and none.empty


def test_min_labels_and_bad_inputs():
    cov = _covariates()
    spec = RunSpec().replace(min_labels=5)
    inputs = model_inputs(_counts(cov["author"]), cov, spec.covariates, CATS, min_labels=spec.min_labels)
    totals = _counts(cov["author"]).groupby("author")["count"].sum()
    assert set(inputs.excluded["author"]) == set(totals[totals < 5].index)
    assert set(inputs.excluded["reason"]) == {"fewer than 5 category labels"}
    with pytest.raises(ValueError, match="outside the taxonomy: \\['shoe'\\]"):
        model_inputs(pd.DataFrame({"author": [1], "category": ["shoe"], "count": [1]}), cov, RunSpec().covariates, CATS)
    with pytest.raises(ValueError, match="not in the author covariates"):
        model_inputs(pd.DataFrame({"author": [99], "category": ["bag"], "count": [1]}), cov, RunSpec().covariates, CATS)
    with pytest.raises(ValueError, match="no author is eligible"):
        model_inputs(_counts([]), cov.assign(n_posts=0), RunSpec().covariates, CATS)
    with pytest.raises(ValueError, match="column 'likes'"):
        model_inputs(
            _counts([1]),
            cov,
            RunSpec.from_dict({"segments": {"k": 2}, "covariates": [{"name": "l", "column": "likes"}]}).covariates,
            CATS,
        )


def test_stratified_sample_is_proportional_and_reproducible():
    rng = np.random.default_rng(1)
    n = 4000
    authors = pd.DataFrame(
        {
            "eligible": rng.random(n) < 0.9,
            "current_tier": rng.choice(["mainstream", "trendy", "edgy", None], size=n, p=[0.8, 0.1, 0.08, 0.02]),
            "n_labels": rng.integers(1, 200, size=n),
        },
        index=pd.Index(np.arange(n) + 10, name="author"),
    )
    pick = stratified_sample(authors, 900, seed=3)
    assert np.array_equal(pick, stratified_sample(authors, 900, seed=3))
    assert authors.loc[pick, "eligible"].all() and len(np.unique(pick)) == len(pick)
    assert abs(len(pick) - 900) <= 16  # rounding, at most half an author per stratum
    pool = authors[authors["eligible"]]
    tier_share = pool["current_tier"].fillna("unknown").value_counts(normalize=True)
    got = authors.loc[pick, "current_tier"].fillna("unknown").value_counts(normalize=True)
    pd.testing.assert_series_equal(got.sort_index(), tier_share.sort_index(), atol=0.01, check_names=False)
    assert np.array_equal(stratified_sample(authors, 0), np.sort(pool.index.to_numpy()))


def _authors(n, seed=1):
    rng = np.random.default_rng(seed)
    tier = rng.choice(["mainstream", "trendy", "edgy", None], size=n, p=[0.8, 0.1, 0.08, 0.02])
    # activity differs by tier, so a sample stratified on both is informative for the mean
    n_labels = rng.poisson(np.where(tier == "edgy", 400, np.where(tier == "trendy", 200, 60))) + 1
    return pd.DataFrame(
        {"eligible": rng.random(n) < 0.9, "current_tier": tier, "n_labels": n_labels},
        index=pd.Index(np.arange(n) + 10, name="author"),
    )


def test_sample_design_weights_are_inverse_inclusion_probabilities():
    authors = _authors(4000)
    pool = authors[authors["eligible"]]
    for allocation in ("proportional", "equal"):
        d = sample_design(authors, 900, seed=3, allocation=allocation)
        assert d.index.is_monotonic_increasing and authors.loc[d.index, "eligible"].all()
        counts = d.groupby("stratum").size()
        np.testing.assert_array_equal(counts.to_numpy(), d.groupby("stratum")["stratum_sample"].first().to_numpy())
        assert np.isclose(d["weight"].sum(), len(pool))  # the weights add up to the population
        assert (d["weight"] >= 1).all()
    equal = sample_design(authors, 900, seed=3, allocation="equal")
    sizes = equal.groupby("stratum")[["stratum_size", "stratum_sample"]].first()
    # every stratum gets min(its size, the common allocation)
    assert (
        sizes["stratum_sample"].max()
        - sizes.loc[sizes["stratum_sample"] < sizes["stratum_size"], "stratum_sample"].min()
        <= 1
    )
    assert len(equal) == 900
    assert sample_design(authors, 0)["weight"].eq(1).all()
    with pytest.raises(ValueError, match="allocation must be one of"):
        sample_design(authors, 10, allocation="neyman")


def test_weighted_sample_mean_is_unbiased_under_equal_allocation():
    """Horvitz-Thompson/Hajek with the design's weights recovers the population mean; the plain
    sample mean of an oversampled design does not."""
    authors = _authors(3000, seed=2)
    truth = authors.loc[authors["eligible"], "n_labels"].mean()
    weighted, plain = [], []
    for seed in range(200):
        d = sample_design(authors, 400, seed=seed, allocation="equal")
        y = authors.loc[d.index, "n_labels"].to_numpy()
        weighted.append(np.average(y, weights=d["weight"]))
        plain.append(y.mean())
    se = np.std(weighted) / np.sqrt(len(weighted))
    assert abs(np.mean(weighted) - truth) < 4 * se
    assert np.mean(plain) > truth * 1.2  # edgy and trendy (more active) authors oversampled


def _memberships(authors, probs, segs):
    probs = np.asarray(probs, dtype=float)
    return xr.Dataset(
        {
            "prob_mean": (("author", "segment"), probs),
            "prob_low": (("author", "segment"), probs * 0.5),
            "prob_high": (("author", "segment"), np.minimum(probs * 1.5, 1)),
            "entropy": ("author", -(probs * np.log(np.maximum(probs, 1e-300))).sum(axis=1)),
        },
        coords={"author": np.asarray(authors), "segment": segs},
    )


def test_result_tables_refuse_lost_or_double_counted_authors():
    cov = _covariates(6)
    inputs = model_inputs(_counts(cov["author"]), cov.assign(n_posts=[5, 0, 5, 5, 5, 5]), RunSpec().covariates, CATS)
    segmented = inputs.counts["author"].values
    mem = _memberships(segmented[:-1], np.full((len(segmented) - 1, 2), 0.5), ["a", "b"])
    with pytest.raises(ValueError, match="1 author\\(s\\) are neither segmented nor excluded"):
        result_tables(None, mem, inputs, "m", pd.Timestamp("2026-01-01"))
    mem = _memberships(np.append(segmented, 2), np.full((len(segmented) + 1, 2), 0.5), ["a", "b"])
    with pytest.raises(ValueError, match="both segmented and excluded"):
        result_tables(None, mem, inputs, "m", pd.Timestamp("2026-01-01"))


def test_truth_validation_of_a_perfect_and_a_random_segmentation():
    rng = np.random.default_rng(0)
    n, names = 600, ["casual_denim", "sportswear", "luxury"]
    true = rng.integers(0, 3, size=n)
    truth = SimulatorTruth(
        authors=pd.DataFrame({"AUTHORID": np.arange(n), "SEGMENT": true}),
        segments=pd.DataFrame({"SEGMENT": [0, 1, 2], "SEGMENT_NAME": names}),
        gating=pd.DataFrame({"SEGMENT": [], "SEGMENT_NAME": [], "COVARIATE": [], "COEFFICIENT": []}),
    )
    perm = np.array([2, 0, 1])  # our segment j is true segment perm[j]
    onehot = np.eye(3)[np.argsort(perm)[true]]
    segs = ["s0", "s1", "s2"]
    stub = SimpleNamespace(covariate_names_=[])
    v = truth_validation(stub, _memberships(np.arange(n), onehot, segs), truth)
    assert v["ari"] == pytest.approx(1.0) and v["nmi"] == pytest.approx(1.0)
    assert dict(zip(v["matching"]["segment"], v["matching"]["true_segment"], strict=True)) == {
        f"s{j}": names[perm[j]] for j in range(3)
    }
    assert v["confusion"].to_numpy().sum() == n
    assert v["accuracy"] == 1.0 and v["mean_top_probability"] == 1.0
    assert v["calibration"]["authors"].sum() == n
    noise = rng.dirichlet(np.ones(3), size=n)
    v = truth_validation(stub, _memberships(np.arange(n), noise, segs), truth)
    assert abs(v["ari"]) < 0.02
    assert v["calibration"]["authors"].sum() == n and 0.2 < v["accuracy"] < 0.5
