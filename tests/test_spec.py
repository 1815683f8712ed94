"""The run specification: the shipped file parses, bad files get errors naming the key."""

import tomllib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from bayesseg.config import RunSpec, default_spec_path
from bayesseg.exceptions import SpecError
from bayesseg.model import SegmentModel
from bayesseg.simulate import simulate_counts
from bayesseg.taxonomy import Taxonomy


def test_shipped_spec_is_valid_and_builds_a_model():
    spec = RunSpec.from_toml()
    assert spec.path == default_spec_path()
    assert spec.k_values == [6]
    assert [c.name for c in spec.covariates] == ["log_followers", "log_engagement"]
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    model_config, sampler_config = spec.model_kwargs(taxonomy)
    assert list(model_config["anchors"]) == list(spec.anchors) and sampler_config["progressbar"] is False
    model = SegmentModel(spec.k, model_config, sampler_config)
    assert model.segment_names[: len(spec.anchors)] == list(spec.anchors)
    assert spec.taxonomy is not None and spec.taxonomy.name == "taxonomy.toml"


def test_every_shipped_key_is_documented_by_a_comment():
    text = default_spec_path().read_text()
    doc = tomllib.loads(text)
    for table in ("data", "segments", "priors", "sampler", "output"):
        for key in doc[table]:
            line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{key} ="))
            above = text.split(line)[0].rstrip().splitlines()[-1]
            assert "#" in line or above.lstrip().startswith("#"), f"{table}.{key} has no comment"


def test_hash_changes_with_the_model_but_not_the_file_location(tmp_path):
    spec = RunSpec.from_toml()
    assert (
        spec.spec_hash
        == RunSpec.from_dict(tomllib.loads(default_spec_path().read_text()), source=default_spec_path()).spec_hash
    )
    other = spec.replace(k=5)
    assert other.spec_hash != spec.spec_hash
    # how many K are fitted at a time does not change the draws, so a saved model stays valid
    assert spec.replace(k_jobs=3).spec_hash == spec.spec_hash and spec.replace(k_jobs=3).to_dict()["k_jobs"] == 3


def test_k_jobs_reaches_compare_k(monkeypatch):
    """`[segments] k_jobs` is compare_k's n_jobs in the run's fit (1 when not given)."""
    from bayesseg.workflow import pipeline

    doc = {"segments": {"k_range": [1, 2], "k_jobs": 2}}
    spec = RunSpec.from_dict(doc, source=default_spec_path())
    assert spec.k_jobs == 2 and RunSpec.from_dict({"segments": {"k_range": [1, 2]}}).k_jobs == 1
    seen = {}

    class Stop(Exception):
        pass

    def compare_k(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(pipeline, "compare_k", compare_k)
    counts, cov, _ = simulate_counts(20, 4, 2, seed=1)
    authors = pd.DataFrame(
        {"eligible": True, "current_tier": "mainstream", "n_labels": counts.sum("category").values},
        index=pd.Index(counts["author"].values, name="author"),
    )
    inputs = SimpleNamespace(authors=authors, counts=counts, covariates=cov)
    with pytest.raises(Stop):
        pipeline.fit_segmentation(inputs, spec, Taxonomy.from_toml(spec.taxonomy))
    assert seen["n_jobs"] == 2


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"segments": {"k": 3}, "colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"segments": {"k": 0}}, "segments.k: must be an integer >= 1"),
        ({"segments": {"k": 3}, "data": {"min_category_authors": -1}}, "data.min_category_authors"),
        ({"segments": {"k": 3, "k_range": [2, 4]}}, "exactly one of k or k_range"),
        ({"segments": {"k_range": [5, 3]}}, "segments.k_range"),
        ({"segments": {"k": 2, "anchors": ["luxury", "dressy", "sportswear"]}}, "3 anchored segments but K"),
        ({"segments": {"k": 3}, "data": {"tiers": [40000, 12000]}}, "data.tiers"),
        ({"segments": {"k": 3}, "priors": {"slope_sd": 1}}, r"priors: unknown key\(s\) \['slope_sd'\]"),
        ({"segments": {"k": 3}, "sampler": {"drawz": 1}}, "sampler: unknown key"),
        ({"segments": {"k": 3}, "output": {"ci_prob": 1.5}}, "output.ci_prob"),
        ({"segments": {"k": 3}, "output": {"schema": "A; DROP"}}, "output.schema"),
        (
            {"segments": {"k": 3}, "covariates": [{"name": "f", "column": "followers", "transform": "sqrt"}]},
            r"covariates\[0\].transform",
        ),
        (
            {"segments": {"k": 3}, "covariates": [{"name": "f", "column": "followers", "missing": "impute"}]},
            "at least one covariate must have missing = 'exclude'",
        ),
        ({"segments": {"k": 3}, "data": {"taxonomy": "nowhere.toml"}}, "data.taxonomy: file .* not found"),
        ({"segments": {"k_range": [1, 3], "k_jobs": 0}}, "segments.k_jobs: must be an integer >= 1, got 0"),
        ({"segments": {"k_range": [1, 3], "k_jobs": 1.5}}, "segments.k_jobs: must be an integer >= 1, got 1.5"),
        (
            {"segments": {"k_range": [1, 3], "k_jobs": 2}, "sampler": {"sampler": "pymc"}},
            "segments.k_jobs: K are fitted side by side with sampler 'nutpie' only, not 'pymc'",
        ),
    ],
)
def test_bad_specs_name_the_key(doc, message, tmp_path):
    with pytest.raises(SpecError, match=message) as info:
        RunSpec.from_dict(doc, source=tmp_path / "spec.toml")
    assert "spec.toml" in str(info.value)


def test_unparsable_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("k = = 3")
    with pytest.raises(SpecError, match="not valid TOML"):
        RunSpec.from_toml(bad)
    with pytest.raises(FileNotFoundError):
        RunSpec.from_toml(tmp_path / "missing.toml")


def test_relative_taxonomy_path_resolves_against_the_file(tmp_path):
    (tmp_path / "tax.toml").write_text(Path(Taxonomy.from_toml().source).read_text())
    spec = RunSpec.from_dict({"segments": {"k": 2}, "data": {"taxonomy": "tax.toml"}}, source=tmp_path / "s.toml")
    assert spec.taxonomy == tmp_path / "tax.toml"


def test_paths_are_shown_as_shipped_relative_or_by_name(tmp_path, monkeypatch):
    from bayesseg._resources import display_path, shipped_file

    assert display_path(shipped_file("taxonomy.toml", "taxonomy")) == "shipped:models/taxonomy.toml"
    assert display_path(None) is None
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "spec.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "sub" / "spec.toml") == "sub/spec.toml"
    assert display_path("sub/spec.toml") == "sub/spec.toml"
    monkeypatch.chdir(tmp_path / "sub")
    assert display_path(tmp_path / "elsewhere.duckdb") == "elsewhere.duckdb"  # outside: the name alone
