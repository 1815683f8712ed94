r"""A population known by its margins: the platform's fashion accounts behind the warehouse's crawl.

The warehouse is itself a sample of the platform, drawn by a crawler that favours large accounts
and fashion-heavy content. A trend report speaks for the platform's fashion population, which is
known only through margins a user supplies: the distribution of follower counts and, optionally,
segment shares from an external source. :func:`read_margins` reads and checks such a table;
:func:`margin_memberships` places every author of the warehouse in the margins' levels;
:func:`calibrate` rakes the authors' weights so that the weighted warehouse matches every margin
(Deming & Stephan 1940; the calibration estimator of Deville & Särndal 1992 with the raking
distance); :func:`margin_balance` says how far the warehouse was from the margins before and after.

The margins file is a CSV with columns ``variable``, ``level``, ``share``:

- ``variable = followers``: ``level`` is a half-open range of follower counts ``LOW-HIGH``
  (``LOW`` included, ``HIGH`` excluded; ``HIGH`` may be empty for no upper bound, e.g.
  ``100000-``). The ranges must not overlap and must cover every follower count of the warehouse's
  authors from the lowest ``LOW`` (an author outside every range is an error, named);
- ``variable = segment``: ``level`` is a segment name of the fitted model; an author belongs to the
  segments in proportion to its posterior membership probabilities.

Each variable's shares must be non-negative and sum to one. Authors without a follower count are
left out of the calibrated population (weight 0) and counted.

References
----------
Deming, W. E., & Stephan, F. F. (1940). On a least squares adjustment of a sampled frequency table
when the expected marginal totals are known. *Annals of Mathematical Statistics* 11(4), 427-444.
https://doi.org/10.1214/aoms/1177731829

Deville, J.-C., & Särndal, C.-E. (1992). Calibration estimators in survey sampling. *JASA* 87(418),
376-382. https://doi.org/10.1080/01621459.1992.10475217
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesseg.exceptions import InputError, WeightsError
from bayesseg.survey.reweight import WeightResult, design_effect, kish_ess, rake_weights

__all__ = [
    "MARGIN_VARIABLES",
    "Margins",
    "PlatformTarget",
    "calibrate",
    "margin_balance",
    "margin_memberships",
    "read_margins",
]

MARGIN_VARIABLES = ("followers", "segment")
"""The variables a margins file may give."""

_TOLERANCE = 1e-6
"""Each variable's shares must sum to one within this."""


@dataclass(frozen=True)
class Margins:
    """Known population shares, per variable (read by :func:`read_margins`).

    Attributes
    ----------
    shares : dict of str to pandas.Series
        Per variable, the share of each level (index: the level as written in the file).
    bounds : pandas.DataFrame
        The follower ranges: index the level, columns ``low`` and ``high`` (``inf`` when open).
    source : str
        Where the margins came from (the file's name), for the report.
    """

    shares: dict[str, pd.Series]
    bounds: pd.DataFrame
    source: str


def read_margins(path: str | Path) -> Margins:
    """Read and check a margins file (format in the module's docstring).

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.

    Returns
    -------
    Margins

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    bayesseg.exceptions.InputError
        Naming the file, and the row or value: a missing column, an unknown variable, a share that is
        not a number in [0, 1], a repeated level, shares of a variable that do not sum to one, a
        follower range that does not parse, is empty or overlaps another.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"margins file {p} not found")
    try:
        frame = pd.read_csv(p, dtype={"variable": str, "level": str}, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{p.name}: not a CSV file ({exc})") from None
    missing = {"variable", "level", "share"} - set(frame.columns)
    if missing:
        raise InputError(f"{p.name}: missing column(s) {sorted(missing)}; expected variable, level, share")
    shares: dict[str, pd.Series] = {}
    for i, row in enumerate(frame.itertuples(index=False), start=2):  # row 1 is the header
        variable, level = str(row.variable).strip(), str(row.level).strip()
        if variable not in MARGIN_VARIABLES:
            raise InputError(f"{p.name}, row {i}: unknown variable {variable!r}; known: {list(MARGIN_VARIABLES)}")
        try:
            share = float(row.share)
        except (TypeError, ValueError):
            share = math.nan
        if not 0.0 <= share <= 1.0:
            raise InputError(
                f"{p.name}, row {i}: share {row.share!r} of {variable} {level!r} is not a number in [0, 1]"
            )
        current = shares.setdefault(variable, pd.Series(dtype=float))
        if level in current.index:
            raise InputError(f"{p.name}, row {i}: level {level!r} of {variable} repeats")
        shares[variable] = pd.concat([current, pd.Series({level: share})])
    if not shares:
        raise InputError(f"{p.name}: no margin")
    for variable, s in shares.items():
        if abs(s.sum() - 1.0) > _TOLERANCE:
            raise InputError(f"{p.name}: the shares of {variable} sum to {s.sum():.6g}, not 1")
    bounds = _follower_bounds(shares.get("followers"), p.name)
    return Margins(shares, bounds, p.name)


def _follower_bounds(levels: pd.Series | None, name: str) -> pd.DataFrame:
    """``low`` and ``high`` of each follower range, checked: parsed, non-empty, not overlapping."""
    rows = {}
    for level in [] if levels is None else levels.index:
        low_text, sep, high_text = level.partition("-")
        try:
            low = float(low_text)
            high = float(high_text) if high_text.strip() else math.inf
        except ValueError:
            low = high = math.nan
        if not sep or not (0 <= low < high):
            raise InputError(f"{name}: follower range {level!r} must read LOW-HIGH or LOW- with 0 <= LOW < HIGH")
        rows[level] = (low, high)
    bounds = pd.DataFrame.from_dict(rows, orient="index", columns=["low", "high"]).sort_values("low")
    overlap = bounds["low"].to_numpy()[1:] < bounds["high"].to_numpy()[:-1]
    if overlap.any():
        j = int(np.flatnonzero(overlap)[0])
        raise InputError(f"{name}: follower ranges {bounds.index[j]!r} and {bounds.index[j + 1]!r} overlap")
    return bounds


def margin_memberships(
    margins: Margins, followers: np.ndarray, memberships: np.ndarray | None, segments: list[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each author's membership of every margin's levels.

    Parameters
    ----------
    margins : Margins
        From :func:`read_margins`.
    followers : numpy.ndarray, shape (author,)
        Follower counts (NaN where unknown).
    memberships : numpy.ndarray or None, shape (author, segment)
        Membership probabilities (rows sum to one); required when the margins give segments.
    segments : list of str
        The segments' names, in the order of `memberships`' columns.

    Returns
    -------
    memberships : dict of str to numpy.ndarray, shape (author, level)
        Per variable, rows summing to one (authors without a follower count: rows of zeros).
    known : numpy.ndarray of bool, shape (author,)
        Authors with a follower count (the others are left out of the calibration).

    Raises
    ------
    bayesseg.exceptions.InputError
        If an author's follower count lies in no range (the count and the ranges named), the
        margins give segments without memberships, or a segment of the margins is not the model's
        (or the reverse).
    """
    f = np.asarray(followers, dtype=float)
    known = np.isfinite(f)
    out: dict[str, np.ndarray] = {}
    if "followers" in margins.shares:
        b = margins.bounds.loc[margins.shares["followers"].index]
        inside = (f[:, None] >= b["low"].to_numpy()[None]) & (f[:, None] < b["high"].to_numpy()[None])
        lost = known & ~inside.any(axis=1)
        if lost.any():
            raise InputError(
                f"{margins.source}: {int(lost.sum())} author(s) have follower counts in no range (e.g. "
                f"{f[lost][0]:g}); the ranges are {list(b.index)}"
            )
        out["followers"] = inside.astype(float)
    if "segment" in margins.shares:
        levels = list(margins.shares["segment"].index)
        if memberships is None:
            raise InputError(f"{margins.source}: segment margins need the model's memberships")
        if set(levels) != set(segments):
            raise InputError(f"{margins.source}: segments {sorted(levels)} are not the model's {sorted(segments)}")
        out["segment"] = np.asarray(memberships, dtype=float)[:, [segments.index(s) for s in levels]]
    for v in out:
        out[v][~known] = 0.0
    return out, known


def calibrate(
    margins: Margins, levels: dict[str, np.ndarray], known: np.ndarray, base: np.ndarray | None = None
) -> WeightResult:
    """Weights of the authors that make the warehouse match every margin (raking).

    Parameters
    ----------
    margins : Margins
        The population's shares.
    levels, known
        From :func:`margin_memberships`.
    base : numpy.ndarray, shape (author,), optional
        Starting weights (bootstrap multiplicities); default 1.

    Returns
    -------
    bayesseg.survey.reweight.WeightResult
        ``weights`` of shape (author,), 0 for authors left out, summing to the base weights of
        the authors kept; ``model`` as :func:`bayesseg.survey.reweight.rake_weights`.

    Raises
    ------
    bayesseg.exceptions.WeightsError
        If a level with a positive share holds no author (named by raking).
    """
    m = np.ones(len(known)) if base is None else np.asarray(base, dtype=float)
    keep = known & (m > 0)
    for v, a in levels.items():
        empty = (a[keep].sum(axis=0) <= 0) & (margins.shares[v].to_numpy() > 0)
        if empty.any():
            names = list(margins.shares[v].index[empty])
            raise WeightsError(f"{margins.source}: {v} level(s) {names} have a population share but no author")
    total = float(m[keep].sum())
    res = rake_weights(
        {v: a[keep] for v, a in levels.items()},
        {v: margins.shares[v].to_numpy() * total for v in levels},
        m[keep],
    )
    full = np.zeros(len(known))
    full[keep] = res.weights
    return WeightResult(full, res.model)


def margin_balance(margins: Margins, levels: dict[str, np.ndarray], weights: np.ndarray) -> pd.DataFrame:
    r"""The warehouse's share of each margin level before and after calibration, beside the population's.

    Parameters
    ----------
    margins : Margins
        The population's shares.
    levels : dict of str to numpy.ndarray, shape (author, level)
        From :func:`margin_memberships`.
    weights : numpy.ndarray, shape (author,)
        The calibrated weights (0 for authors left out).

    Returns
    -------
    pandas.DataFrame
        Index (``variable``, ``level``): ``population``, ``warehouse``, ``calibrated`` (shares) and
        ``asmd_before``, ``asmd_after``: the absolute standardised difference of the level's
        indicator, :math:`|p_{wh} - p_{pop}| / \sqrt{p_{pop}(1 - p_{pop})}`.
    """
    rows = []
    kept = np.asarray(weights) > 0
    for v, a in levels.items():
        before = a[kept].mean(axis=0)
        after = weights @ a / weights.sum()
        pop = margins.shares[v].to_numpy()
        sd = np.sqrt(np.clip(pop * (1 - pop), 1e-12, None))
        for j, level in enumerate(margins.shares[v].index):
            rows.append(
                (v, level, pop[j], before[j], after[j], abs(before[j] - pop[j]) / sd[j], abs(after[j] - pop[j]) / sd[j])
            )
    cols = ["variable", "level", "population", "warehouse", "calibrated", "asmd_before", "asmd_after"]
    return pd.DataFrame(rows, columns=cols).set_index(["variable", "level"])


@dataclass
class PlatformTarget:
    """The platform population as a panel of the trend series: the warehouse's authors calibrated to margins.

    Called with bootstrap multiplicities and one posterior draw of the memberships, it returns the
    authors' calibrated weights (:func:`calibrate`), so every replicate of
    :func:`bayesseg.survey.trends.replicate_shares` re-calibrates.

    Parameters
    ----------
    margins : Margins
        The population's shares.
    followers : numpy.ndarray, shape (author,)
        Follower counts of the target's authors (NaN where unknown: left out).
    segments : list of str
        The model's segment names (for segment margins).
    """

    margins: Margins
    followers: np.ndarray
    segments: list[str]

    def __call__(self, m: np.ndarray, r: np.ndarray | None) -> np.ndarray:
        """Calibrated weights for multiplicities `m` (author,) and memberships `r` (author, segment)."""
        return calibrate(self.margins, *margin_memberships(self.margins, self.followers, r, self.segments), m).weights

    def summary(self, r: np.ndarray | None) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The balance to the margins (:func:`margin_balance`) and the weights' figures, at memberships `r`.

        Returns
        -------
        balance : pandas.DataFrame
        figures : dict
            ``source``, ``authors_without_followers`` (left out), ``kish_ess`` and
            ``design_effect`` of the calibrated weights.
        """
        levels, known = margin_memberships(self.margins, self.followers, r, self.segments)
        weights = calibrate(self.margins, levels, known).weights
        kept = weights[weights > 0]
        return margin_balance(self.margins, levels, weights), {
            "source": self.margins.source,
            "authors_without_followers": int((~known).sum()),
            "kish_ess": float(kish_ess(kept)),
            "design_effect": float(design_effect(kept)),
        }
