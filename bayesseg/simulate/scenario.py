r"""Conditions the trend estimators do not assume: a platform behind the warehouse, adopters, a panel that leads.

The default simulation hands the trend estimators their own assumptions: the warehouse is the
population, trend posting depends on the segment and the week only, and the panel is selected on
followers and segment (the propensity model's form). A :class:`Scenario` breaks each of these:

* **A platform behind the warehouse.** The simulator draws a platform of ``n / crawl_rate``
  authors and a crawler keeps each with probability
  ``logistic(c₀ + crawl_followers·x_f + crawl_segments[k])`` (``x_f`` the standardised log
  followers; ``c₀`` solved so that the mean is ``crawl_rate``). The warehouse holds the crawled
  authors only; the platform's follower margins (:func:`platform_margins`) are what a user would
  have, and the platform's expected weekly trend shares (:func:`platform_series`) are the truth a
  corrected series is measured against.
* **Adopters.** Each author's trend-image probability is the segment curve times
  ``exp(A_i) / mean(exp(A))`` with ``A_i = adoption_followers·x_f + adoption_sd·ε_i``: trend posts
  cluster within authors, and adoption within a segment rises with followers.
* **A panel chosen on what it posts.** The panel's log-odds gain ``panel_adoption·ε_i`` (the
  author's adoption of the tracked trends, visible to a curator in its past posts and not to the
  propensity model): selection that depends on the outcome.
* **A panel that leads.** Panel authors show each ``rising`` trend ``lead_weeks`` weeks before the
  other authors of their segment (their curve is the segment's, shifted).
* **An S-shaped rise.** ``rising_shape = "logistic"`` replaces the exponential rise (which is the
  same curve at every shift up to a factor, so that no lead is identifiable from it) by a logistic
  one in the log, steepest mid-window.

The default :class:`Scenario` changes nothing: the warehouse and its checksum are those of the
plain simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special

from bayesseg.exceptions import InputError
from bayesseg.simulate.calibration import SEGMENT_NAMES, TRENDS, Calibration
from bayesseg.simulate.generative import author_curves, panel_parameters

__all__ = [
    "FOLLOWER_RANGES",
    "SCENARIOS",
    "Scenario",
    "apply_scenario",
    "platform_margins",
    "platform_series",
    "post_trend_probability",
]

FOLLOWER_RANGES: tuple[tuple[int, int | None], ...] = (
    (0, 1_000),
    (1_000, 3_000),
    (3_000, 12_001),
    (12_001, 40_001),
    (40_001, 100_000),
    (100_000, None),
)
"""Follower ranges ``[low, high)`` of the platform margins :func:`platform_margins` writes (tier cuts included)."""


@dataclass(frozen=True)
class Scenario:
    """How the simulated world departs from what the trend estimators assume (see the module).

    Parameters
    ----------
    crawl_rate : float, default 1.0
        Mean probability that the crawler keeps a platform author; 1 makes the warehouse the platform.
    crawl_followers : float, default 0.0
        Crawl log-odds per standard deviation of log followers.
    crawl_segments : dict of str to float
        Crawl log-odds added per true segment (fashion-heavy content kept more often).
    adoption_sd : float, default 0.0
        Standard deviation of an author's log multiplier of trend-image probabilities.
    adoption_followers : float, default 0.0
        Slope of that log multiplier on standardised log followers.
    panel_adoption : float, default 0.0
        Panel log-odds per standard deviation of the author's adoption draw ε.
    lead_weeks : int, default 0
        Weeks by which panel authors show ``rising`` trends before their segment.
    rising_shape : {"exponential", "logistic"}, default "exponential"
        Shape of the ``rising`` trends' curves.
    """

    crawl_rate: float = 1.0
    crawl_followers: float = 0.0
    crawl_segments: dict[str, float] = field(default_factory=dict)
    adoption_sd: float = 0.0
    adoption_followers: float = 0.0
    panel_adoption: float = 0.0
    lead_weeks: int = 0
    rising_shape: Literal["exponential", "logistic"] = "exponential"

    def __post_init__(self) -> None:
        if not 0 < self.crawl_rate <= 1:
            raise InputError(f"crawl_rate must be in (0, 1], got {self.crawl_rate}")
        if self.adoption_sd < 0:
            raise InputError(f"adoption_sd must be non-negative, got {self.adoption_sd}")
        if self.lead_weeks < 0:
            raise InputError(f"lead_weeks must be non-negative, got {self.lead_weeks}")
        if self.rising_shape not in ("exponential", "logistic"):
            raise InputError(f"rising_shape must be 'exponential' or 'logistic', got {self.rising_shape!r}")
        unknown = sorted(set(self.crawl_segments) - set(SEGMENT_NAMES))
        if unknown:
            raise InputError(f"crawl_segments names unknown segments {unknown}; segments are {list(SEGMENT_NAMES)}")

    @property
    def platform(self) -> bool:
        """Whether the warehouse is a crawl of a larger platform."""
        return self.crawl_rate < 1

    @property
    def active(self) -> bool:
        """Whether the scenario changes anything in the simulation."""
        return self != Scenario()


_BREAKS = dict(
    crawl_rate=0.4,
    crawl_followers=0.8,
    adoption_sd=0.8,
    adoption_followers=0.3,
    rising_shape="logistic",
)
SCENARIOS: dict[str, Scenario] = {
    "in_model": Scenario(),
    "platform": Scenario(**_BREAKS),  # type: ignore[arg-type]
    "platform_content": Scenario(**_BREAKS, crawl_segments={"luxury": 1.0, "enthusiasts": 1.0}),  # type: ignore[arg-type]
    "lead_0": Scenario(**_BREAKS),  # type: ignore[arg-type]
    "lead_2": Scenario(**_BREAKS, lead_weeks=2),  # type: ignore[arg-type]
    "lead_4": Scenario(**_BREAKS, lead_weeks=4),  # type: ignore[arg-type]
    "early_adopters": Scenario(**_BREAKS, lead_weeks=2, panel_adoption=1.0),  # type: ignore[arg-type]
}
"""Named scenarios of the benchmarks (``benchmarks/trend_estimands.py``); ``in_model`` is the plain simulation.

The others share a crawl of 40 % of the platform favouring large accounts, clustered adoption rising
with followers and S-shaped rises; ``platform_content`` adds a crawl favouring fashion-heavy
segments (which follower margins cannot correct); ``lead_L`` gives the panel a lead of L weeks;
``early_adopters`` selects the panel on adoption as well (not ignorable given followers and segment).
"""


def _solve_intercept(offset: np.ndarray, mean: float) -> float:
    """The intercept c with mean(logistic(c + offset)) = mean."""
    return float(optimize.brentq(lambda c: special.expit(c + offset).mean() - mean, -30.0, 30.0))


def apply_scenario(
    rng: np.random.Generator, authors: pd.DataFrame, cal: Calibration, scenario: Scenario
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the scenario's author-level truth and crawl the platform.

    Parameters
    ----------
    rng : numpy.random.Generator
        The scenario's own generator (the plain simulation's draws are untouched).
    authors : pandas.DataFrame
        The platform's authors (:func:`bayesseg.simulate.generative.population`).
    cal : Calibration
        Figures to reproduce (the panel's rates by tier, among the warehouse's authors).
    scenario : Scenario
        What to break.

    Returns
    -------
    warehouse : pandas.DataFrame
        The crawled authors, with ``ADOPTION`` (log multiplier), ``TREND_MULTIPLIER``,
        ``TREND_SHIFT`` (weeks ahead on rising trends), ``CRAWL_PROBABILITY`` and the panel
        re-drawn among them (``PANEL_PROBABILITY``, ``FASHION_INTEREST_SEGMENT``).
    platform : pandas.DataFrame
        Every platform author with the same columns (the panel columns are the warehouse's where
        crawled, False and NaN elsewhere) and ``IN_WAREHOUSE``.
    """
    out = authors.copy()
    n = len(out)
    x_f = out["X_LOG_FOLLOWERS"].to_numpy()
    eps = rng.standard_normal(n)
    adoption = scenario.adoption_followers * x_f + scenario.adoption_sd * eps
    out["ADOPTION"] = adoption
    out["TREND_MULTIPLIER"] = np.exp(adoption) / np.exp(adoption).mean()
    seg_crawl = np.array([scenario.crawl_segments.get(s, 0.0) for s in SEGMENT_NAMES])[out["SEGMENT"]]
    if scenario.platform:
        offset = scenario.crawl_followers * x_f + seg_crawl
        p_crawl = special.expit(_solve_intercept(offset, scenario.crawl_rate) + offset)
    else:
        p_crawl = np.ones(n)
    out["CRAWL_PROBABILITY"] = p_crawl
    out["IN_WAREHOUSE"] = rng.random(n) < p_crawl
    kept = out["IN_WAREHOUSE"].to_numpy()
    # the panel among the warehouse's authors: segment effects, followers (solved to the tier
    # rates), and the author's adoption draw
    seg_effect = np.array([cal.panel_segment_effects[s] for s in SEGMENT_NAMES])[out["SEGMENT"]]
    effect = seg_effect + scenario.panel_adoption * eps
    log_f = out["LOG1P_FOLLOWERS"].to_numpy()
    tier = out["TIER"].map({"mainstream": 0, "trendy": 1, "edgy": 2}).to_numpy()
    a, b, c = panel_parameters(cal, log_f[kept], tier[kept], effect[kept])
    u = log_f - 9.0
    p_panel = np.where(kept, special.expit(a + b * u + c * u**2 + effect), np.nan)
    out["PANEL_PROBABILITY"] = p_panel
    out["FASHION_INTEREST_SEGMENT"] = kept & (rng.random(n) < np.nan_to_num(p_panel))
    out["TREND_SHIFT"] = np.where(out["FASHION_INTEREST_SEGMENT"], scenario.lead_weeks, 0).astype(np.int64)
    warehouse = out[kept].drop(columns="IN_WAREHOUSE").reset_index(drop=True)
    return warehouse, out


def post_trend_probability(image_probability: np.ndarray, cal: Calibration) -> np.ndarray:
    """Probability that a post shows a trend, given each of its images shows it with `image_probability`.

    A post has one image, or with probability ``multi_image_posts`` two to four (uniformly); an
    image is labelled with probability ``1 - unlabelled_images``.
    """
    p = np.asarray(image_probability) * (1 - cal.unlabelled_images)
    none_multi = sum((1 - p) ** k for k in (2, 3, 4)) / 3
    return 1 - ((1 - cal.multi_image_posts) * (1 - p) + cal.multi_image_posts * none_multi)


def platform_series(
    platform: pd.DataFrame, curves: np.ndarray, weeks: pd.DatetimeIndex, cal: Calibration
) -> pd.DataFrame:
    """The platform's expected weekly share of posts showing each trend (the truth behind a crawl).

    Every platform author posts the same expected number of posts a week (posting volume is
    independent of segment, followers and adoption in the simulator), so the platform's share is
    the mean over its authors of the probability that a post shows the trend.

    Parameters
    ----------
    platform : pandas.DataFrame
        Every platform author (:func:`apply_scenario`'s second table).
    curves : numpy.ndarray, shape (trend, segment, week)
        The segments' per-image curves.
    weeks : pandas.DatetimeIndex
        Monday of each week.
    cal : Calibration
        Image and labelling rates.

    Returns
    -------
    pandas.DataFrame
        ``TREND``, ``WEEK``, ``SHARE``.
    """
    q = author_curves(
        curves,
        platform["SEGMENT"].to_numpy(),
        platform["TREND_MULTIPLIER"].to_numpy(),
        platform["TREND_SHIFT"].to_numpy(),
    )
    share = post_trend_probability(q, cal).mean(axis=1)  # (trend, week)
    return pd.DataFrame(
        {
            "TREND": np.repeat([t.name for t in TRENDS], len(weeks)),
            "WEEK": np.tile(pd.to_datetime(weeks).to_numpy(), len(TRENDS)),
            "SHARE": share.ravel(),
        }
    )


def platform_margins(platform: pd.DataFrame) -> pd.DataFrame:
    """The platform's follower margins, as a user would supply them (``--target margins:FILE``).

    Parameters
    ----------
    platform : pandas.DataFrame
        Every platform author, with ``FOLLOWERS``.

    Returns
    -------
    pandas.DataFrame
        ``variable`` (``followers``), ``level`` (``LOW-HIGH`` over :data:`FOLLOWER_RANGES`),
        ``share``: the format of :func:`bayesseg.survey.margins.read_margins`.
    """
    f = platform["FOLLOWERS"].to_numpy(dtype=float)
    rows = []
    for low, high in FOLLOWER_RANGES:
        inside = (f >= low) & (f < (np.inf if high is None else high))
        rows.append(("followers", f"{low}-{'' if high is None else high}", float(inside.mean())))
    frame = pd.DataFrame(rows, columns=["variable", "level", "share"])
    frame["share"] = frame["share"] / frame["share"].sum()
    return frame
