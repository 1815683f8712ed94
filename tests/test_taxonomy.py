import json
import tomllib

import pandas as pd
import pytest

from bayesseg.exceptions import InputError, TaxonomyError
from bayesseg.taxonomy import Taxonomy, default_taxonomy_path

from .conftest import DATA


def vocabulary_pairs() -> set[tuple[str, str]]:
    vocab = json.loads((DATA / "label_vocabulary.json").read_text())
    return {(t, label) for t, labels in vocab.items() for label in labels}


def test_covers_exactly_the_real_vocabulary(taxonomy):
    pairs = set(map(tuple, taxonomy.labels[["TYPE", "LABEL_NAME"]].itertuples(index=False)))
    assert len(vocabulary_pairs()) == 245
    assert pairs == vocabulary_pairs()
    assert not taxonomy.labels.duplicated(["TYPE", "LABEL_NAME"]).any()


def test_every_pair_has_a_category_or_an_exclusion_reason(taxonomy):
    labels = taxonomy.labels
    has_cat = labels["CATEGORY"].notna()
    has_reason = labels["EXCLUDED_REASON"].notna()
    assert (has_cat ^ has_reason).all()
    assert set(labels.loc[has_reason, "EXCLUDED_REASON"]) <= set(taxonomy.exclusions)
    # only the person and face detectors are excluded; the generic COCO objects share one
    # category (how much content is not fashion tells lifestyle accounts apart)
    excluded = labels[has_reason]
    assert set(map(tuple, excluded[["TYPE", "LABEL_NAME"]].itertuples(index=False))) == {
        ("object_detection", "human"),
        ("object_detection", "humanface"),
    }
    kept = set(labels.loc[has_cat & (labels["TYPE"] == "object_detection"), "LABEL_NAME"])
    assert {"top", "pants", "dress", "shoes", "bag", "eyewear", "skis", "tennisracket"} <= kept
    generic = labels.loc[labels["CATEGORY"] == "non_fashion_object", "LABEL_NAME"]
    assert len(generic) == 63 and {"car", "dog", "pizza"} <= set(generic)
    assert {"top", "bag", "skis"}.isdisjoint(generic)


def test_every_category_is_used_and_ordered_as_in_the_file(taxonomy):
    assert set(taxonomy.labels["CATEGORY"].dropna()) == set(taxonomy.category_names)
    doc = tomllib.loads(default_taxonomy_path().read_text())
    assert taxonomy.category_names == list(doc["categories"])


@pytest.mark.parametrize(
    ("type_", "label_name", "brand", "family"),
    [
        ("shoe_brand", "balencia", "balenciaga", "luxury"),
        ("bag_brand", "balenciaga", "balenciaga", "luxury"),
        ("shoe_brand", "miu_miu", "miumiu", "luxury"),
        ("bag_brand", "miumui", "miumiu", "luxury"),
        ("shoe_brand", "ysl", "saintlaurent", "luxury"),
        ("bag_brand", "saintlaurent", "saintlaurent", "luxury"),
        ("shoe_brand", "nike", "nike", "sport"),
        ("shoe_brand", "new_balance", "newbalance", "sport"),
        ("shoe_brand", "veja", "veja", "contemporary"),
    ],
)
def test_brand_names_are_normalised_and_grouped(taxonomy, type_, label_name, brand, family):
    row = taxonomy.labels.set_index(["TYPE", "LABEL_NAME"]).loc[(type_, label_name)]
    assert row["BRAND"] == brand
    assert row["LABEL"] == brand
    assert row["BRAND_FAMILY"] == family
    kind = "bag" if type_ == "bag_brand" else "shoe"
    assert row["CATEGORY"] == f"brand_{family}_{kind}"


def test_typo_in_vocabulary_is_normalised(taxonomy):
    row = taxonomy.labels.set_index(["TYPE", "LABEL_NAME"]).loc[("shoe", "trainerrunninsneakers")]
    assert row["LABEL"] == "trainerrunningsneakers"
    assert row["CATEGORY"] == "sneakers_running"


def test_lookup_flags_unknown_pairs_and_keeps_row_order(taxonomy):
    frame = pd.DataFrame(
        {"TYPE": ["pattern", "bag_brand", "object_detection"], "LABEL_NAME": ["stripes", "loewe", "top"]}
    )
    out = taxonomy.lookup(frame)
    assert out["KNOWN"].tolist() == [True, False, True]
    assert out["CATEGORY"].tolist()[0] == "stripes"
    assert pd.isna(out["CATEGORY"].iloc[1])
    with pytest.raises(InputError, match="LABEL_NAME"):
        taxonomy.lookup(pd.DataFrame({"TYPE": ["pattern"]}))


def test_rules_name_known_categories(taxonomy):
    assert {"luxury", "sportswear"} <= set(taxonomy.rules)
    for rule in taxonomy.rules.values():
        assert set(rule.categories) <= set(taxonomy.category_names)
    assert "brand_luxury_bag" in taxonomy.rule("luxury").categories
    with pytest.raises(TaxonomyError, match="known rules"):
        taxonomy.rule("gothic")


def test_anchors_for_the_model_come_from_rules(taxonomy):
    anchors = taxonomy.anchors(["luxury", "sportswear"])
    assert list(anchors) == ["luxury", "sportswear"]
    assert anchors["luxury"] == list(taxonomy.rule("luxury").categories)
    with pytest.raises(TaxonomyError, match="known rules"):
        taxonomy.anchors(["gothic"])


def _doc():
    return tomllib.loads(default_taxonomy_path().read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["labels"]["pattern"].__setitem__("stripes", "stripy"), r"labels.pattern.stripes.*stripy"),
        (lambda d: d["labels"]["pattern"].__setitem__("stripes", {"exclude": "ugly"}), r"exclusion reason 'ugly'"),
        (
            lambda d: d["labels"]["pattern"].__setitem__("stripes", {"category": "stripes", "exclude": "person"}),
            "exactly one of",
        ),
        (
            lambda d: d["labels"]["shoe_brand"].__setitem__("nike", {"category": "brand_luxury_shoe", "brand": "nike"}),
            r"brand 'nike' is sport",
        ),
        (
            lambda d: d["labels"]["shoe_brand"].__setitem__("nike", {"category": "brand_sport_shoe", "brand": "nikey"}),
            r"brand 'nikey' is not in \[brands\]",
        ),
        (lambda d: d["rules"]["luxury"].__setitem__("categories", ["caviar"]), r"rules.luxury"),
        (lambda d: d.pop("exclusions"), r"\[exclusions\] section is missing"),
        (lambda d: d["categories"].__setitem__("unused_cat", {"group": "x"}), r"no label maps to: \['unused_cat'\]"),
    ],
)
def test_inconsistent_taxonomy_is_refused_with_the_key(mutate, message):
    doc = _doc()
    mutate(doc)
    with pytest.raises(TaxonomyError, match=message):
        Taxonomy.from_dict(doc, source="t.toml")


def test_invalid_toml_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("version = \n")
    with pytest.raises(TaxonomyError, match=r"bad\.toml"):
        Taxonomy.from_toml(bad)


def test_fold_pools_rare_categories_per_group_and_keeps_their_labels(taxonomy):
    rare = ["brand_contemporary_shoe", "brand_luxury_bag", "sequin"]
    folded = taxonomy.fold(rare)
    names = folded.category_names
    assert not set(rare) & set(names)
    assert {"brand_other", "texture_other"} <= set(names)
    # the group's _other takes the place of its first folded category; the rest keep their order
    assert names.index("brand_other") == taxonomy.category_names.index("brand_luxury_bag")
    kept = [c for c in taxonomy.category_names if c not in rare]
    assert [c for c in names if not c.endswith("_other")] == kept
    # every label that pointed at a folded category points at its group's _other; no label lost
    before = taxonomy.labels.set_index(["TYPE", "LABEL_NAME"])["CATEGORY"]
    after = folded.labels.set_index(["TYPE", "LABEL_NAME"])["CATEGORY"]
    moved = before.isin(rare)
    assert (after[moved] == before[moved].map(lambda c: f"{taxonomy.categories.loc[c, 'group']}_other")).all()
    assert after[~moved].equals(before[~moved])
    assert "brand_luxury_bag" not in folded.rule("luxury").categories
    assert "brand_luxury_shoe" in folded.rule("luxury").categories
    assert folded.version == f"{taxonomy.version}+folded"
    assert taxonomy.fold([]) is taxonomy
    assert folded.category_names == taxonomy.fold_like(names).category_names
    assert taxonomy.fold_like(taxonomy.category_names) is taxonomy
    # a category missing from a model's categories without its group's _other was excluded
    excluded = taxonomy.fold_like([c for c in taxonomy.category_names if c != "socks"])
    assert "socks" not in excluded.category_names and "garment_other" not in excluded.category_names
    assert "too_rare" in excluded.exclusions
    with pytest.raises(TaxonomyError, match="unknown categories"):
        taxonomy.fold(["no_such_category"])
    with pytest.raises(TaxonomyError, match="already categories"):
        folded.fold(["brand_luxury_shoe"])
