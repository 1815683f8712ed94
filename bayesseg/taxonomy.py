"""The taxonomy: image-model labels mapped to fashion categories.

The image models emit ``(TYPE, LABEL_NAME)`` pairs (``MART_IMAGES_LABELS``). The taxonomy
(``models/taxonomy.toml``) maps each pair to one fashion *category* (the model's ``category``
dimension) or excludes it with a reason, normalises inconsistent names (``balencia`` /
``balenciaga``, ``miu_miu`` / ``miumui``, ``ysl`` / ``saintlaurent``, typos), groups brands
into families (luxury, sport, contemporary) and declares named *rules*: sets of categories that
can anchor a named segment through its prior.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bayesseg._resources import shipped_file
from bayesseg.exceptions import InputError, TaxonomyError

__all__ = ["Rule", "Taxonomy", "default_taxonomy_path"]

LABEL_COLUMNS = ["TYPE", "LABEL_NAME", "LABEL", "CATEGORY", "BRAND", "BRAND_FAMILY", "EXCLUDED_REASON"]


def default_taxonomy_path() -> Path:
    """Return the path of the shipped taxonomy, ``models/taxonomy.toml``.

    Returns
    -------
    pathlib.Path
        The file inside the installed package data (``bayesseg.specs``), which is the
        repository's ``models/`` folder.

    Raises
    ------
    FileNotFoundError
        If the file is missing from the installation.
    """
    return shipped_file("taxonomy.toml", "taxonomy")


@dataclass(frozen=True)
class Rule:
    """A named rule: a set of categories that may anchor a named segment.

    Parameters
    ----------
    name : str
        Rule name, also the name the anchored segment carries (e.g. ``"luxury"``).
    categories : tuple of str
        Categories that receive extra prior mass in the anchored segment's profile.
    description : str
        What the rule captures, in words.
    """

    name: str
    categories: tuple[str, ...]
    description: str


OTHER_SUFFIX = "_other"
"""A folded group's category is the group's name with this suffix (:meth:`Taxonomy.fold`)."""


@dataclass(frozen=True)
class Taxonomy:
    """Mapping of ``(TYPE, LABEL_NAME)`` pairs to fashion categories.

    Build it with :meth:`from_toml`. The tables are plain pandas objects so they can be
    joined, shown and pushed to SQL.

    Parameters
    ----------
    version : str
        Version string of the taxonomy file; recorded by fitted models.
    categories : pandas.DataFrame
        One row per category, indexed by ``category``, columns ``group`` and ``description``,
        in file order (the order of the ``category`` dimension).
    labels : pandas.DataFrame
        One row per known pair, columns ``TYPE``, ``LABEL_NAME`` (as in the warehouse),
        ``LABEL`` (normalised name), ``CATEGORY`` (``None`` when excluded), ``BRAND``,
        ``BRAND_FAMILY`` and ``EXCLUDED_REASON`` (a key of `exclusions`, else ``None``).
    exclusions : dict of str to str
        Exclusion reason keys and their explanation.
    families : dict of str to str
        Brand families and their description.
    rules : dict of str to Rule
        Named rules.
    source : str
        Where the taxonomy was read from.
    """

    version: str
    categories: pd.DataFrame
    labels: pd.DataFrame
    exclusions: dict[str, str]
    families: dict[str, str]
    rules: dict[str, Rule]
    source: str = "<memory>"

    @classmethod
    def from_toml(cls, path: str | Path | None = None) -> Taxonomy:
        """Read and check a taxonomy file.

        Parameters
        ----------
        path : str or pathlib.Path, optional
            A TOML file in the format of ``models/taxonomy.toml``. Defaults to the shipped one.

        Returns
        -------
        Taxonomy

        Raises
        ------
        TaxonomyError
            If a label points to an unknown category, exclusion reason or brand; if a brand's
            category disagrees with its family; if a rule names an unknown category; or if a
            section is missing or malformed. The message names the file and the key.
        """
        path = Path(path) if path is not None else default_taxonomy_path()
        with path.open("rb") as fh:
            try:
                doc = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise TaxonomyError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_dict(doc, source=str(path))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str = "<memory>") -> Taxonomy:
        """Build a taxonomy from the parsed TOML document; see :meth:`from_toml`.

        Parameters
        ----------
        doc : dict
            The parsed document.
        source : str, optional
            Name used in error messages.

        Returns
        -------
        Taxonomy

        Raises
        ------
        TaxonomyError
            As :meth:`from_toml`.
        """

        def fail(key: str, msg: str) -> TaxonomyError:
            return TaxonomyError(f"{source}: [{key}] {msg}")

        for section in ("version", "categories", "exclusions", "families", "brands", "labels"):
            if section not in doc:
                raise fail(section, "section is missing")
        cats = doc["categories"]
        categories = pd.DataFrame(
            [
                {"category": name, "group": spec.get("group"), "description": spec.get("description", "")}
                for name, spec in cats.items()
            ]
        ).set_index("category")
        exclusions = {str(k): str(v) for k, v in doc["exclusions"].items()}
        families = {str(k): str(v) for k, v in doc["families"].items()}
        brands: dict[str, str] = {}
        for brand, family in doc["brands"].items():
            if family not in families:
                raise fail(f"brands.{brand}", f"family {family!r} is not in [families]")
            brands[brand] = family

        rows = []
        for type_, entries in doc["labels"].items():
            for label_name, spec in entries.items():
                key = f"labels.{type_}.{label_name}"
                if isinstance(spec, str):
                    spec = {"category": spec}
                if not isinstance(spec, dict):
                    raise fail(key, "must be a category name or a table")
                unknown_keys = set(spec) - {"category", "label", "brand", "exclude"}
                if unknown_keys:
                    raise fail(key, f"unknown keys {sorted(unknown_keys)}")
                category = spec.get("category")
                reason = spec.get("exclude")
                if (category is None) == (reason is None):
                    raise fail(key, "needs exactly one of `category` or `exclude`")
                if category is not None and category not in cats:
                    raise fail(key, f"category {category!r} is not in [categories]")
                if reason is not None and reason not in exclusions:
                    raise fail(key, f"exclusion reason {reason!r} is not in [exclusions]")
                brand = spec.get("brand")
                family = None
                if brand is not None:
                    if brand not in brands:
                        raise fail(key, f"brand {brand!r} is not in [brands]")
                    family = brands[brand]
                    if category is not None and not category.startswith(f"brand_{family}_"):
                        raise fail(key, f"brand {brand!r} is {family}, but its category is {category!r}")
                label = spec.get("label", brand if brand is not None else label_name)
                rows.append((type_, label_name, label, category, brand, family, reason))
        labels = pd.DataFrame(rows, columns=LABEL_COLUMNS)

        rules = {}
        for name, spec in doc.get("rules", {}).items():
            missing = [c for c in spec.get("categories", []) if c not in cats]
            if missing or not spec.get("categories"):
                raise fail(f"rules.{name}", f"unknown or no categories: {missing}")
            rules[name] = Rule(name, tuple(spec["categories"]), str(spec.get("description", "")))
        unused = sorted(set(cats) - set(labels["CATEGORY"].dropna()))
        if unused:
            raise fail("categories", f"categories that no label maps to: {unused}")
        return cls(str(doc["version"]), categories, labels, exclusions, families, rules, source)

    @property
    def category_names(self) -> list[str]:
        """Category names in the order of the ``category`` dimension."""
        return list(self.categories.index)

    @property
    def pairs(self) -> pd.DataFrame:
        """The known ``(TYPE, LABEL_NAME)`` pairs, with their category (``None`` if excluded)."""
        return self.labels[["TYPE", "LABEL_NAME", "CATEGORY"]]

    def lookup(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Annotate rows holding ``TYPE`` and ``LABEL_NAME`` with the taxonomy's columns.

        Parameters
        ----------
        frame : pandas.DataFrame
            Must have columns ``TYPE`` and ``LABEL_NAME``.

        Returns
        -------
        pandas.DataFrame
            `frame` with ``LABEL``, ``CATEGORY``, ``BRAND``, ``BRAND_FAMILY``,
            ``EXCLUDED_REASON`` and ``KNOWN`` (False for pairs the taxonomy does not list),
            in the same row order.

        Raises
        ------
        bayesseg.exceptions.InputError
            If `frame` lacks ``TYPE`` or ``LABEL_NAME``.
        """
        missing = {"TYPE", "LABEL_NAME"} - set(frame.columns)
        if missing:
            raise InputError(f"lookup needs columns TYPE and LABEL_NAME; missing {sorted(missing)}")
        known = self.labels.assign(KNOWN=True)
        out = frame.merge(known, on=["TYPE", "LABEL_NAME"], how="left", validate="many_to_one")
        out["KNOWN"] = out["KNOWN"].eq(True)
        return out

    def rule(self, name: str) -> Rule:
        """Return the rule called `name`.

        Parameters
        ----------
        name : str
            A key of ``rules``.

        Returns
        -------
        Rule

        Raises
        ------
        bayesseg.exceptions.TaxonomyError
            If there is no such rule; the message lists the known ones.
        """
        try:
            return self.rules[name]
        except KeyError:
            raise TaxonomyError(f"no rule {name!r} in {self.source}; known rules: {sorted(self.rules)}") from None

    def other_category(self, category: str) -> str:
        """The ``<group>_other`` category that `category` folds into (:meth:`fold`).

        Parameters
        ----------
        category : str
            A category of the taxonomy.

        Returns
        -------
        str
        """
        return f"{self.categories.loc[category, 'group']}{OTHER_SUFFIX}"

    def fold(self, rare: Sequence[str], exclude: Sequence[str] = ()) -> Taxonomy:
        """The taxonomy with `rare` categories folded into one ``<group>_other`` category per group.

        A category seen in a handful of authors has a profile entry per segment that the data
        cannot place: the sampler spends its steps on it (one category of 21 authors among
        2,600 took the shipped fit from 15 to 23 leapfrog steps per draw, benchmarks/RESULTS.md).
        Folding pools its labels with the other rare categories of its group, where they keep
        counting; nothing is dropped.

        Parameters
        ----------
        rare : sequence of str
            Categories to fold (as :func:`bayesseg.data.inputs.fold_rare_categories` finds them).
        exclude : sequence of str, optional
            Categories whose labels are excluded instead (reason ``too_rare``): those of a group
            whose pooled ``_other`` would still be too rare to model.

        Returns
        -------
        Taxonomy
            Folded categories replaced by ``<group>_other`` at the position of the group's first
            folded category; their labels map there; rules lose them (a rule left empty keeps the
            group's ``_other`` category). The version gets ``+folded`` appended.

        Raises
        ------
        bayesseg.exceptions.TaxonomyError
            If a name is not a category, or a ``<group>_other`` name is already a category.
        """
        rare = [str(c) for c in rare]
        dropped = [str(c) for c in exclude]
        if not rare and not dropped:
            return self
        unknown = sorted(set(rare + dropped) - set(self.categories.index))
        if unknown:
            raise TaxonomyError(f"cannot fold unknown categories {unknown} of {self.source}")
        into = {c: self.other_category(c) for c in rare}
        clash = sorted(set(into.values()) & set(self.categories.index))
        if clash:
            raise TaxonomyError(f"cannot fold into {clash}: already categories of {self.source}")
        rows: dict[str, dict[str, str]] = {}
        for name, row in self.categories.iterrows():
            target = into.get(str(name))
            if str(name) in dropped:
                continue
            if target is None:
                rows[str(name)] = {"group": row["group"], "description": row["description"]}
            elif target not in rows:
                members = [c for c in rare if into[c] == target]
                rows[target] = {
                    "group": row["group"],
                    "description": f"{row['group']} categories too rare to model alone, folded: {', '.join(members)}",
                }
        categories = pd.DataFrame.from_dict(rows, orient="index")
        categories.index.name = self.categories.index.name
        labels = self.labels.assign(CATEGORY=self.labels["CATEGORY"].replace(into))
        gone = labels["CATEGORY"].isin(dropped)
        labels.loc[gone, "EXCLUDED_REASON"] = "too_rare"
        labels.loc[gone, "CATEGORY"] = None
        exclusions = dict(self.exclusions)
        if dropped:
            exclusions["too_rare"] = (
                "a category too few authors use to be modelled, even pooled with its group's other rare "
                f"categories (data.min_category_authors): {', '.join(dropped)}"
            )
        rules = {}
        for name, rule in self.rules.items():
            kept = tuple(c for c in rule.categories if c not in into and c not in dropped)
            if not kept:
                kept = tuple(dict.fromkeys(into[c] for c in rule.categories if c in into))
            rules[name] = Rule(rule.name, kept, rule.description)
        return replace(
            self,
            version=f"{self.version}+folded",
            categories=categories,
            labels=labels,
            rules=rules,
            exclusions=exclusions,
        )

    def fold_like(self, categories: Sequence[str]) -> Taxonomy:
        """The taxonomy folded as a fitted model's `categories` show (its ``<group>_other`` entries).

        Parameters
        ----------
        categories : sequence of str
            A fitted model's categories (``SegmentModel.categories_``).

        Returns
        -------
        Taxonomy
            Every category of a group with a ``<group>_other`` in `categories` that is not itself
            in `categories` folded, every other category missing from `categories` excluded
            (:meth:`fold`); the taxonomy itself when nothing was folded.
        """
        present = set(categories)
        groups = {
            c.removesuffix(OTHER_SUFFIX) for c in present if c.endswith(OTHER_SUFFIX) and c not in self.categories.index
        }
        absent = [c for c in self.category_names if c not in present]
        rare = [c for c in absent if self.categories.loc[c, "group"] in groups]
        return self.fold(rare, exclude=[c for c in absent if c not in rare])

    def anchors(self, names: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
        """Anchors for :class:`bayesseg.model.SegmentModel` from named rules.

        Parameters
        ----------
        names : sequence of str
            Rule names (keys of ``rules``), in the order the anchored segments should take.

        Returns
        -------
        dict of str to list of str
            Segment name to the rule's categories, the value of ``model_config["anchors"]``.

        Raises
        ------
        bayesseg.exceptions.TaxonomyError
            If a rule does not exist.
        """
        return {name: list(self.rule(name).categories) for name in names}
