"""The run specification, ``models/fashion.toml``: what ``bayesseg run`` fits and how.

Every key is checked: an unknown key, a wrong type or an impossible value raises
:class:`bayesseg.exceptions.SpecError` naming the file and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayesseg._resources import shipped_file
from bayesseg.config.defaults import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_SAMPLER_CONFIG,
    MISSING_POLICIES,
    TIER_THRESHOLDS,
    TRANSFORMS,
)
from bayesseg.config.trends import TrendConfig
from bayesseg.exceptions import SpecError
from bayesseg.taxonomy import Taxonomy

__all__ = ["Covariate", "OutputConfig", "RunSpec", "default_spec_path"]


def default_spec_path() -> Path:
    """Return the path of the shipped specification, ``models/fashion.toml``.

    Returns
    -------
    pathlib.Path
        The file in the installed package data (``bayesseg.specs``, the repository's ``models/``).

    Raises
    ------
    FileNotFoundError
        If the file is missing from the installation.
    """
    return shipped_file("fashion.toml", "model specification")


@dataclass(frozen=True)
class Covariate:
    """One gating covariate.

    Parameters
    ----------
    name : str
        Name in the model's ``covariate`` dimension (e.g. ``"log_followers"``).
    column : str
        Column of :func:`bayesseg.data.aggregate.author_covariates` it is computed from.
    transform : {"log1p", "log", "identity"}
        Applied to the column's value.
    missing : {"exclude", "impute"}
        What happens to an author whose value is NULL or not finite after the transform.
    """

    name: str
    column: str
    transform: str = "identity"
    missing: str = "exclude"


@dataclass(frozen=True)
class OutputConfig:
    """What a run writes, and how it summarises (the ``[output]`` table of ``models/fashion.toml``).

    Parameters
    ----------
    schema : str
        Schema of the warehouse the result tables are written to.
    write_back : bool
        Write the result tables back to the warehouse.
    ci_prob : float
        Probability of the intervals (memberships, profiles, coefficients, trend bands).
    ppc_authors : int
        Posterior predictive checks replicate at most this many authors.
    ppc_draws : int
        ... from this many posterior draws.
    """

    schema: str = "BAYESSEG"
    write_back: bool = True
    ci_prob: float = 0.9
    ppc_authors: int = 2000
    ppc_draws: int = 100

    KEYS = ("schema", "write_back", "ci_prob", "ppc_authors", "ppc_draws")

    def to_dict(self) -> dict[str, Any]:
        """The table as parsed (plain values)."""
        return {key: getattr(self, key) for key in self.KEYS}


@dataclass(frozen=True)
class RunSpec:
    """A parsed, validated run specification (see ``models/fashion.toml`` for each key).

    Attributes
    ----------
    path : pathlib.Path or None
        The file it was read from.
    taxonomy : pathlib.Path or None
        Taxonomy file (``None``: the shipped one).
    tier_thresholds : tuple of float
        Upper follower bounds of the current mainstream and trendy tiers (key ``data.tiers``).
    min_labels : int
        Authors with fewer category labels are excluded.
    min_category_authors : int
        Categories seen in fewer eligible authors are folded into ``<group>_other``
        (:meth:`bayesseg.taxonomy.Taxonomy.fold`); 0 folds nothing.
    fit_authors : int
        Size of the stratified fit sample (0: all eligible authors).
    sample_seed : int
        Seed of the fit sample.
    fit_allocation : str
        Allocation of the fit sample to tier × activity strata: ``proportional`` (self-weighting)
        or ``equal`` (small strata oversampled; the sampling weights enter the fit).
    covariates : tuple of Covariate
        Gating covariates, in order.
    k : int or None
        Number of segments, or ``None`` when `k_range` is given.
    k_range : tuple of int or None
        Inclusive range of K, compared by :func:`bayesseg.model.compare_k` (PSIS-LOO, or exact
        K-fold where it is unreliable; the smallest K within its rule is kept).
    k_jobs : int
        With `k_range` and sampler nutpie: K fitted (and K-fold refitted) at a time
        (:func:`bayesseg.model.compare_k`'s ``n_jobs``). It does not change the draws, so it is
        not part of :attr:`spec_hash`.
    anchors : tuple of str
        Taxonomy rules anchoring named segments.
    priors : dict
        ``model_config`` of :class:`bayesseg.model.SegmentModel` (anchors excluded).
    sampler : dict
        ``sampler_config`` of :class:`bayesseg.model.SegmentModel`.
    output : OutputConfig
        ``schema``, ``write_back``, ``ci_prob``, ``ppc_authors``, ``ppc_draws``.
    trends : TrendConfig
        Trends and how their panel series are corrected (``[trends]``; no trend: no series).
    version : str
        The specification's own version.
    """

    path: Path | None = None
    taxonomy: Path | None = None
    tier_thresholds: tuple[float, float] = TIER_THRESHOLDS
    min_labels: int = 1
    min_category_authors: int = 0
    fit_authors: int = 0
    sample_seed: int = 0
    fit_allocation: str = "proportional"
    covariates: tuple[Covariate, ...] = (
        Covariate("log_followers", "followers", "log1p", "exclude"),
        Covariate("log_engagement", "engagement_rate", "log", "impute"),
    )
    k: int | None = 6
    k_range: tuple[int, int] | None = None
    k_jobs: int = 1
    anchors: tuple[str, ...] = ()
    priors: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    output: OutputConfig = field(default_factory=OutputConfig)
    trends: TrendConfig = field(default_factory=TrendConfig)
    version: str = "unversioned"

    @property
    def k_values(self) -> list[int]:
        """The K to fit: ``[k]`` or every K of `k_range`."""
        if self.k_range is not None:
            return list(range(self.k_range[0], self.k_range[1] + 1))
        assert self.k is not None
        return [self.k]

    def to_dict(self) -> dict[str, Any]:
        """Return the specification as a plain, JSON-serialisable dict (paths as strings)."""
        return {
            "version": self.version,
            "taxonomy": None if self.taxonomy is None else str(self.taxonomy),
            "tiers": list(self.tier_thresholds),
            "min_labels": self.min_labels,
            "min_category_authors": self.min_category_authors,
            "fit_authors": self.fit_authors,
            "sample_seed": self.sample_seed,
            "fit_allocation": self.fit_allocation,
            "covariates": [vars(c) for c in self.covariates],
            "k": self.k,
            "k_range": None if self.k_range is None else list(self.k_range),
            "k_jobs": self.k_jobs,
            "anchors": list(self.anchors),
            "priors": self.priors,
            "sampler": self.sampler,
            "output": self.output.to_dict(),
            "trends": self.trends.to_dict(),
        }

    @property
    def spec_hash(self) -> str:
        """SHA-256 of :meth:`to_dict` without the taxonomy path, the trends and `k_jobs` (JSON, sorted keys).

        The trends and `k_jobs` do not change the fitted model, so a saved model stays valid when they change.
        """
        doc = {k: v for k, v in self.to_dict().items() if k not in ("taxonomy", "trends", "k_jobs")}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> RunSpec:
        """Return a copy with some fields replaced (e.g. a shorter sampler for a test)."""
        return dataclasses.replace(self, **changes)

    def model_kwargs(self, taxonomy: Taxonomy, *, progressbar: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``model_config`` and ``sampler_config`` of :class:`bayesseg.model.SegmentModel` this spec asks for.

        Parameters
        ----------
        taxonomy : bayesseg.taxonomy.Taxonomy
            Resolves the anchors' rules to their categories.
        progressbar : bool, default False
            Show the sampler's progress bar.

        Returns
        -------
        model_config, sampler_config : dict
            The priors with the anchors (segment name to categories, in the spec's order), and
            the sampler settings.

        Raises
        ------
        bayesseg.exceptions.TaxonomyError
            If an anchor names a rule the taxonomy lacks.
        """
        return {**self.priors, "anchors": taxonomy.anchors(list(self.anchors))}, {
            **self.sampler,
            "progressbar": progressbar,
        }

    @classmethod
    def from_toml(cls, path: str | Path | None = None) -> RunSpec:
        """Read and validate a specification file.

        Parameters
        ----------
        path : str or pathlib.Path, optional
            The TOML file; defaults to the shipped ``models/fashion.toml``.

        Returns
        -------
        RunSpec

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        SpecError
            If the TOML does not parse or a key is unknown, of the wrong type or out of range;
            the message names the file and the key.
        """
        p = Path(path) if path is not None else default_spec_path()
        if not p.is_file():
            raise FileNotFoundError(f"model specification {p} not found")
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{p}: not valid TOML ({exc})") from None
        return cls.from_dict(doc, source=p)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str | Path = "<memory>") -> RunSpec:
        """Validate a specification given as a dict (the parsed TOML).

        Parameters
        ----------
        doc : dict
            Tables ``data``, ``covariates`` (array of tables), ``segments``, ``priors``,
            ``sampler``, ``output`` and ``trends``, and the key ``version``; all optional.
        source : str or pathlib.Path
            Where it came from: named in errors, and the base of relative paths when a path.

        Returns
        -------
        RunSpec

        Raises
        ------
        SpecError
            If a key is unknown, of the wrong type or out of range.
        """
        ck = _Checker(doc, str(source))
        default = cls()
        unknown_top = set(doc) - {"version", "data", "covariates", "segments", "priors", "sampler", "output", "trends"}
        if unknown_top:
            raise ck.fail("(top level)", f"unknown key(s) {sorted(unknown_top)}")
        data = _data(ck, Path(source).parent if isinstance(source, Path) else Path.cwd(), default)
        covariates = _covariates(ck, default)
        k, k_range, k_jobs, anchors = _segments(ck)
        trends = TrendConfig.from_dict(ck.table("trends", set(TrendConfig.KEYS)), ck.fail)
        unknown_cov = set(trends.propensity_covariates) - {c.name for c in covariates}
        if trends.trends and trends.weighting == "propensity" and unknown_cov:
            raise ck.fail(
                "trends.propensity_covariates",
                f"{sorted(unknown_cov)} are not covariates of the model ({[c.name for c in covariates]})",
            )
        version = doc.get("version", default.version)
        if not isinstance(version, str):
            raise ck.fail("version", f"must be a string, got {version!r}")
        sampler = dict(ck.table("sampler", set(DEFAULT_SAMPLER_CONFIG)))
        name = sampler.get("sampler", DEFAULT_SAMPLER_CONFIG["sampler"])
        if k_jobs > 1 and name != "nutpie":
            raise ck.fail("segments.k_jobs", f"K are fitted side by side with sampler 'nutpie' only, not {name!r}")
        return cls(
            path=Path(source) if isinstance(source, Path) else None,
            **data,
            covariates=tuple(covariates),
            k=k,
            k_range=k_range,
            k_jobs=k_jobs,
            anchors=tuple(anchors),
            priors=copy.deepcopy(ck.table("priors", set(DEFAULT_MODEL_CONFIG) - {"anchors"})),
            sampler=sampler,
            output=_output(ck, default),
            trends=trends,
            version=version,
        )


class _Checker:
    """Reads a specification dict; every error names the file and the key."""

    def __init__(self, doc: dict[str, Any], where: str) -> None:
        self.doc, self.where = doc, where

    def fail(self, key: str, msg: str) -> SpecError:
        return SpecError(f"{self.where}: {key}: {msg}")

    def table(self, name: str, known: set[str]) -> dict[str, Any]:
        value = self.doc.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        unknown = set(value) - known
        if unknown:
            raise self.fail(name, f"unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        return value

    def integer(self, key: str, value: Any, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(key, f"must be an integer >= {low}, got {value!r}")
        return int(value)


def _data(ck: _Checker, base: Path, default: RunSpec) -> dict[str, Any]:
    """The ``[data]`` table, as RunSpec fields."""
    data = ck.table(
        "data",
        {"taxonomy", "tiers", "min_labels", "min_category_authors", "fit_authors", "sample_seed", "fit_allocation"},
    )
    allocation = data.get("fit_allocation", default.fit_allocation)
    if allocation not in ("proportional", "equal"):
        raise ck.fail("data.fit_allocation", f"must be 'proportional' or 'equal', got {allocation!r}")
    taxonomy = None
    if "taxonomy" in data:
        taxonomy = Path(data["taxonomy"])
        if not taxonomy.is_absolute():
            taxonomy = base / taxonomy
        if not taxonomy.is_file():
            raise ck.fail("data.taxonomy", f"file {taxonomy} not found")
    tiers = data.get("tiers", list(default.tier_thresholds))
    if (
        not isinstance(tiers, list)
        or len(tiers) != 2
        or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in tiers)
        or not 0 < tiers[0] < tiers[1]
    ):
        raise ck.fail("data.tiers", f"must be two increasing positive numbers, got {tiers!r}")
    return {
        "taxonomy": taxonomy,
        "tier_thresholds": (float(tiers[0]), float(tiers[1])),
        "min_labels": ck.integer("data.min_labels", data.get("min_labels", default.min_labels), 1),
        "min_category_authors": ck.integer(
            "data.min_category_authors", data.get("min_category_authors", default.min_category_authors), 0
        ),
        "fit_authors": ck.integer("data.fit_authors", data.get("fit_authors", default.fit_authors), 0),
        "sample_seed": ck.integer("data.sample_seed", data.get("sample_seed", default.sample_seed), 0),
        "fit_allocation": allocation,
    }


def _covariates(ck: _Checker, default: RunSpec) -> list[Covariate]:
    """The ``[[covariates]]`` array of tables."""
    cov_docs = ck.doc.get("covariates", [vars(c) for c in default.covariates])
    if not isinstance(cov_docs, list):
        raise ck.fail("covariates", "must be an array of tables ([[covariates]])")
    covariates = []
    for i, c in enumerate(cov_docs):
        key = f"covariates[{i}]"
        if not isinstance(c, dict):
            raise ck.fail(key, "must be a table")
        unknown = set(c) - {"name", "column", "transform", "missing"}
        if unknown or not {"name", "column"} <= set(c):
            raise ck.fail(key, f"needs keys name and column (optional transform, missing); got {sorted(c)}")
        if c.get("transform", "identity") not in TRANSFORMS:
            raise ck.fail(f"{key}.transform", f"must be one of {TRANSFORMS}, got {c.get('transform')!r}")
        if c.get("missing", "exclude") not in MISSING_POLICIES:
            raise ck.fail(f"{key}.missing", f"must be one of {MISSING_POLICIES}, got {c.get('missing')!r}")
        covariates.append(
            Covariate(str(c["name"]), str(c["column"]), c.get("transform", "identity"), c.get("missing", "exclude"))
        )
    names = [c.name for c in covariates]
    if len(set(names)) != len(names):
        raise ck.fail("covariates", f"names must be unique, got {names}")
    if covariates and all(c.missing == "impute" for c in covariates):
        raise ck.fail(
            "covariates", "at least one covariate must have missing = 'exclude' (imputation needs a predictor)"
        )
    return covariates


def _segments(ck: _Checker) -> tuple[int | None, tuple[int, int] | None, int, list[str]]:
    """The ``[segments]`` table: K or its range, the K fitted at a time, and the anchors."""
    seg = ck.table("segments", {"k", "k_range", "k_jobs", "anchors"})
    if ("k" in seg) == ("k_range" in seg):
        raise ck.fail("segments", "give exactly one of k or k_range")
    k = k_range = None
    if "k" in seg:
        k = ck.integer("segments.k", seg["k"], 1)
    else:
        kr = seg["k_range"]
        if not (isinstance(kr, list) and len(kr) == 2 and all(isinstance(v, int) for v in kr) and 1 <= kr[0] <= kr[1]):
            raise ck.fail("segments.k_range", f"must be [low, high] with 1 <= low <= high, got {kr!r}")
        k_range = (int(kr[0]), int(kr[1]))
    k_jobs = ck.integer("segments.k_jobs", seg.get("k_jobs", 1), 1)
    anchors = seg.get("anchors", [])
    if not isinstance(anchors, list) or not all(isinstance(a, str) for a in anchors):
        raise ck.fail("segments.anchors", f"must be a list of rule names, got {anchors!r}")
    if len(set(anchors)) != len(anchors):
        raise ck.fail("segments.anchors", f"rules must not repeat, got {anchors}")
    smallest_k = k if k is not None else k_range[0]  # type: ignore[index]
    if len(anchors) > smallest_k:
        raise ck.fail("segments.anchors", f"{len(anchors)} anchored segments but K can be as small as {smallest_k}")
    return k, k_range, k_jobs, anchors


def _output(ck: _Checker, default: RunSpec) -> OutputConfig:
    """The ``[output]`` table."""
    output = {**default.output.to_dict(), **ck.table("output", set(OutputConfig.KEYS))}
    if not isinstance(output["write_back"], bool):
        raise ck.fail("output.write_back", f"must be true or false, got {output['write_back']!r}")
    if not 0 < float(output["ci_prob"]) < 1:
        raise ck.fail("output.ci_prob", f"must be in (0, 1), got {output['ci_prob']!r}")
    for key in ("ppc_authors", "ppc_draws"):
        ck.integer(f"output.{key}", output[key], 1)
    schema = output["schema"]
    if not isinstance(schema, str) or not schema.replace("_", "").isalnum() or schema[0].isdigit():
        raise ck.fail("output.schema", f"must be a plain identifier, got {schema!r}")
    return OutputConfig(**output)
