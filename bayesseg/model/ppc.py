r"""Posterior predictive checks of what the Dirichlet-multinomial mixture assumes, each with a verdict.

Four properties of the data the model should reproduce are checked against replicated data sets
(:meth:`bayesseg.model.SegmentModel.posterior_predictive`):

- **zeros per category**: the share of authors who never use a category. Zero-inflated categories
  (a category an author either never posts or posts often) are a documented failure of the model
  (``docs/validity.md``).
- **within-segment overdispersion**: per category, the Pearson dispersion of the authors' counts
  around their segment's pooled share,

  .. math::

      \phi_c = \frac{1}{N} \sum_i \frac{(y_{ic} - n_i \hat p_{z_i c})^2}{n_i \hat p_{z_i c}(1 - \hat p_{z_i c})},
      \qquad \hat p_{kc} = \frac{\sum_{i: z_i = k} y_{ic}}{\sum_{i: z_i = k} n_i},

  (1 for multinomial authors, about :math:`1 + (n_i - 1)/(\kappa_k + 1)` on average under the
  Dirichlet-multinomial). The segments are latent: the statistic is a *realised discrepancy*
  (Gelman, Meng & Stern 1996). Under each posterior draw, each author's segment is drawn from its
  membership probabilities, and the author replicated from that segment; the observed and the
  replicated counts are then measured around the same segments. The other two checks replicate
  the marginal model (segments drawn from the gating), as LOO scores it.
- **category co-occurrence**: per pair of categories, the correlation across authors of using one
  and using the other (phi coefficient of the presence indicators): labels that come in bundles
  (a shoe with its type and brand) co-occur more than a mixture of independent draws explains.
- **largest category share**, per author: the share of the author's labels in its most used
  category. An author's p-value is one minus its PIT. In-sample PIT values crowd toward one half
  even when the model is right (each author's own labels inform its replicates), so a uniformity
  test of all of them (the p-value arviz-plots prints on a PIT plot) rejects a correct model; the
  verdict counts only the authors in the tails, where a fitting model puts fewer than 5 %. A single
  author's share is discrete and skewed: the far-discrepancy rule below is not applied to it.

For each statistic and element (category or pair), the posterior predictive p-value
:math:`P(T(y^{rep}) \ge T(y))` (ties count one half) is computed over the draws. An element is
*extreme* when its p-value is below 0.025 or above 0.975 (5 % of the elements by chance when the
p-values are uniform; they are conservative, concentrated near one half, so fewer are expected).
The verdict compares the number of extreme elements with a binomial count of 5 %: ``fail`` when its
upper tail probability is below 0.001, ``look`` below 0.05, ``pass`` otherwise. The elements are
not independent (categories share authors), so the tail probability is a screening figure, not a
test. A misfit confined to a few elements (one zero-inflated category, a handful of bundled pairs
among thousands) does not move that count, and the p-values of a hundred draws cannot tell a
misfit from the edge of the replicates; so an element also fails the check when its standardised
discrepancy :math:`\bar d / \mathrm{sd}(d)`, :math:`d^{(s)} = T(y) - T(y^{rep, s})`, is beyond
the normal quantile of a two-sided 0.001 family-wise level after Bonferroni's correction over the
elements (the statistics are averages over authors, near normal across replicates).

References
----------
Gelman, A., Meng, X.-L., & Stern, H. (1996). Posterior predictive assessment of model fitness via
realized discrepancies. *Statistica Sinica* 6(4), 733-760. https://www.jstor.org/stable/24306036

Gelman, A., Carlin, J. B., Stern, H. S., Dunson, D. B., Vehtari, A., & Rubin, D. B. (2013).
*Bayesian Data Analysis*, 3rd ed., ch. 6. CRC Press. https://doi.org/10.1201/b16018

Mosimann, J. E. (1962). On the compound multinomial distribution, the multivariate β-distribution,
and correlations among proportions. *Biometrika* 49(1/2), 65-82. https://doi.org/10.2307/2333468
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayesseg.dims import AUTHOR, CATEGORY, DRAW, stack_sample_dims

__all__ = [
    "EXTREME",
    "PredictiveCheck",
    "cooccurrence",
    "far_threshold",
    "predictive_checks",
    "predictive_p_values",
    "standardised_discrepancy",
    "verdict",
    "within_segment_dispersion",
    "zero_shares",
]

EXTREME = 0.025
"""An element is extreme when its posterior predictive p-value is below this or above one minus it."""
FAIL_TAIL, LOOK_TAIL = 0.001, 0.05
"""Binomial upper-tail probabilities of the extreme count below which the verdict is fail, or look."""
SHOWN = 10
"""Rows of each check's table: the most extreme elements."""
MIXED = 0.25
"""A failing check is read as mixed when at least this share of its extreme elements lie on each side."""

Verdict = Literal["pass", "look", "fail"]


def zero_shares(counts: np.ndarray) -> np.ndarray:
    """Share of authors with a zero count, per category.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (..., n, C)
        Label counts, authors on the second-to-last axis.

    Returns
    -------
    numpy.ndarray, shape (..., C)
    """
    return (np.asarray(counts) == 0).mean(axis=-2)


def within_segment_dispersion(counts: np.ndarray, segments: np.ndarray, n_segments: int) -> np.ndarray:
    r"""Pearson dispersion :math:`\phi_c` of authors' counts around their segment's pooled share, per category.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (S, n, C) or (n, C)
        Label counts (one data set per leading index, or one shared by every segment draw).
    segments : numpy.ndarray of int, shape (S, n)
        Each author's segment, per draw.
    n_segments : int
        Number of segments K.

    Returns
    -------
    numpy.ndarray, shape (S, C)
        :math:`\phi_c`, averaged over the authors; a segment × category with pooled share 0 or 1
        contributes nothing (its counts are all 0, or all the authors' labels).
    """
    z = np.asarray(segments)
    y = np.broadcast_to(np.asarray(counts, dtype=float), (*z.shape, np.shape(counts)[-1]))
    n_draws, n_authors = z.shape
    totals = y.sum(axis=-1)  # (S, n)
    onehot = np.zeros((n_draws, n_authors, n_segments))
    np.put_along_axis(onehot, z[..., None], 1.0, axis=-1)
    pooled = np.einsum("snk,snc->skc", onehot, y) / np.maximum(np.einsum("snk,sn->sk", onehot, totals), 1)[..., None]
    share = np.take_along_axis(pooled, z[..., None], axis=1)  # (S, n, C)
    variance = totals[..., None] * share * (1 - share)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(variance > 0, (y - totals[..., None] * share) ** 2 / variance, 0.0)
    return terms.mean(axis=1)


def cooccurrence(counts: np.ndarray) -> np.ndarray:
    """Correlation across authors of using two categories (phi coefficient of the presence indicators).

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (..., n, C)
        Label counts, authors on the second-to-last axis.

    Returns
    -------
    numpy.ndarray, shape (..., C, C)
        NaN for a category every author uses, or none does.
    """
    used = (np.asarray(counts) > 0).astype(np.float64)
    share = used.mean(axis=-2)  # (..., C)
    both = np.einsum("...nc,...nd->...cd", used, used) / used.shape[-2]
    cov = both - share[..., :, None] * share[..., None, :]
    sd = np.sqrt(share * (1 - share))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / (sd[..., :, None] * sd[..., None, :])


def predictive_p_values(observed: np.ndarray, replicated: np.ndarray) -> np.ndarray:
    r"""Posterior predictive p-values :math:`P(T^{rep} \ge T^{obs})` over draws, ties counted one half.

    Parameters
    ----------
    observed : numpy.ndarray, shape (S, ...) or (...)
        The observed statistic, per draw (a realised discrepancy) or once.
    replicated : numpy.ndarray, shape (S, ...)
        The statistic of each replicate.

    Returns
    -------
    numpy.ndarray, shape (...)
        NaN where every draw's pair is NaN.
    """
    obs = np.broadcast_to(observed, replicated.shape)
    valid = ~(np.isnan(obs) | np.isnan(replicated))
    greater = np.where(valid, (replicated > obs) + 0.5 * (replicated == obs), 0.0).sum(axis=0)
    n = valid.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, greater / n, np.nan)


def standardised_discrepancy(observed: np.ndarray, replicated: np.ndarray) -> np.ndarray:
    """Mean over draws of the observed minus the replicated statistic, over its standard deviation.

    Parameters
    ----------
    observed : numpy.ndarray, shape (S, ...) or (...)
        The observed statistic, per draw (a realised discrepancy) or once.
    replicated : numpy.ndarray, shape (S, ...)
        The statistic of each replicate.

    Returns
    -------
    numpy.ndarray, shape (...)
        NaN where fewer than two draws have both values, or they do not vary.
    """
    d = np.broadcast_to(observed, replicated.shape) - replicated
    n = (~np.isnan(d)).sum(axis=0)
    # NaN columns (a category every author uses has no co-occurrence correlation) are expected
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(d, axis=0, ddof=1)
        out = np.nanmean(d, axis=0) / sd
    return np.where((n >= 2) & (sd > 0), out, np.nan)


def far_threshold(n_elements: int) -> float:
    """The standardised discrepancy beyond which an element fails a check of `n_elements` elements.

    Parameters
    ----------
    n_elements : int
        Elements of the check.

    Returns
    -------
    float
        The normal quantile of ``1 - FAIL_TAIL / (2 n_elements)`` (Bonferroni).
    """
    return float(stats.norm.isf(FAIL_TAIL / (2 * max(n_elements, 1))))


def verdict(p_values: np.ndarray, discrepancies: np.ndarray | None = None) -> tuple[Verdict, int, int, float, int]:
    """The verdict of a check from its elements' posterior predictive p-values and standardised discrepancies.

    Parameters
    ----------
    p_values : numpy.ndarray
        One per element; NaN elements are left out.
    discrepancies : numpy.ndarray, optional
        :func:`standardised_discrepancy` of the same elements.

    Returns
    -------
    verdict : {"pass", "look", "fail"}
    n_extreme : int
        Elements with a p-value below :data:`EXTREME` or above ``1 - EXTREME``.
    n_elements : int
        Elements with a p-value.
    tail : float
        Binomial probability of at least `n_extreme` extreme elements of `n_elements` at rate
        ``2 * EXTREME``.
    n_far : int
        Elements whose absolute standardised discrepancy is beyond :func:`far_threshold`.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    p = p[~np.isnan(p)]
    n_extreme = int(((p < EXTREME) | (p > 1 - EXTREME)).sum())
    tail = float(stats.binom.sf(n_extreme - 1, p.size, 2 * EXTREME)) if p.size else 1.0
    n_far = 0
    if discrepancies is not None:
        z = np.abs(np.asarray(discrepancies, dtype=float).ravel())
        n_far = int((z[~np.isnan(z)] > far_threshold(p.size)).sum())
    status: Verdict = "fail" if tail < FAIL_TAIL or n_far else "look" if tail < LOOK_TAIL else "pass"
    return status, n_extreme, int(p.size), tail, n_far


@dataclass(frozen=True)
class PredictiveCheck:
    """One posterior predictive check: its statistic per element, its verdict and the sentence that says it.

    Attributes
    ----------
    name : str
        ``"zeros"``, ``"overdispersion"`` or ``"cooccurrence"``.
    title : str
        What is compared, in words.
    verdict : {"pass", "look", "fail"}
    message : str
        One line: what was found and what to do.
    n_extreme, n_elements : int
        Extreme elements and elements with a p-value.
    tail : float
        Binomial tail probability of the extreme count (:func:`verdict`).
    n_far : int
        Elements far beyond the replicates (:func:`far_threshold`).
    above, below : int
        Extreme elements whose observed statistic is above (p-value < EXTREME) or below the replicates.
    table : pandas.DataFrame
        The ten most discrepant elements: ``observed``, ``replicated 5 %``, ``replicated median``,
        ``replicated 95 %``, ``p-value``, ``discrepancy`` (standardised), most discrepant first.
    """

    name: str
    title: str
    verdict: Verdict
    message: str
    n_extreme: int
    n_elements: int
    tail: float
    n_far: int
    above: int
    below: int
    table: pd.DataFrame

    def outside(self) -> pd.Series:
        """Which rows of ``table`` lie outside the replicates, as the verdict counts them.

        Returns
        -------
        pandas.Series of bool
            An extreme p-value, or a discrepancy beyond :func:`far_threshold` when the check
            applies the far rule (``n_far`` counts those).
        """
        p = self.table["p-value"]
        out = (p < EXTREME) | (p > 1 - EXTREME)
        if self.n_far:
            out |= self.table["discrepancy"].abs() > far_threshold(self.n_elements)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The check without its table, for ``run.json``."""
        return {
            "verdict": self.verdict,
            "message": self.message,
            "n_extreme": self.n_extreme,
            "n_elements": self.n_elements,
            "tail_probability": self.tail,
            "n_far": self.n_far,
            "above_replicates": self.above,
            "below_replicates": self.below,
        }


def _check(
    name: str,
    title: str,
    index: pd.Index,
    observed: np.ndarray,
    replicated: np.ndarray,
    advice: dict[str, str],
    unit: str,
    far: bool = True,
) -> PredictiveCheck:
    # far: the Bonferroni rule on standardised discrepancies, for statistics that average over
    # authors (near normal); a single author's statistic is discrete and skewed, so off for those
    p = predictive_p_values(observed, replicated)
    z = standardised_discrepancy(observed, replicated)
    status, n_extreme, n_elements, tail, n_far = verdict(p, z if far else None)
    limit = far_threshold(n_elements) if far else np.inf
    above = int(((p < EXTREME) | (z > limit)).sum())
    below = int(((p > 1 - EXTREME) | (z < -limit)).sum())
    obs = np.broadcast_to(observed, replicated.shape)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, mid, hi = np.nanquantile(replicated, [0.05, 0.5, 0.95], axis=0)
        observed_mean = np.nanmean(obs, axis=0)
    frame = pd.DataFrame(
        {
            "observed": observed_mean,
            "replicated 5 %": lo,
            "replicated median": mid,
            "replicated 95 %": hi,
            "p-value": p,
            "discrepancy": z,
        },
        index=index,
    ).dropna(subset=["p-value"])
    frame = frame.assign(_d=frame["discrepancy"].abs().fillna(0)).sort_values("_d", ascending=False).drop(columns="_d")
    found = (
        f"{n_extreme} of {n_elements} {unit} outside the replicates "
        f"(p-value beyond {EXTREME:g} or {1 - EXTREME:g}; about {2 * EXTREME * n_elements:.0f} expected by chance)"
        + (f", {n_far} far beyond them" if n_far else "")
        + f": {above} above, {below} below."
    )
    if status == "pass":
        advice_text = advice["pass"]
    elif "mixed" in advice and min(above, below) >= MIXED * (above + below):
        advice_text = advice["mixed"]
    else:  # the direction of the most discrepant element
        advice_text = advice["above"] if frame["discrepancy"].iloc[0] > 0 else advice["below"]
    return PredictiveCheck(
        name,
        title,
        status,
        f"{found} {advice_text}",
        n_extreme,
        n_elements,
        tail,
        n_far,
        above,
        below,
        frame.head(SHOWN),
    )


def predictive_checks(tree: xr.DataTree) -> list[PredictiveCheck]:
    """Zeros per category, within-segment overdispersion and category co-occurrence, with verdicts.

    Parameters
    ----------
    tree : xarray.DataTree
        From :meth:`bayesseg.model.SegmentModel.posterior_predictive`: ``observed_data/counts``
        (author, category); ``posterior_predictive/counts`` (chain, draw, author, category),
        replicates of the marginal model; ``posterior/segment`` (chain, draw, author), the observed
        authors' segments drawn from their membership probabilities; and
        ``posterior_predictive/counts_given_segment``, replicates drawn from those segments.

    Returns
    -------
    list of PredictiveCheck
        Zeros, overdispersion, co-occurrence and, when the tree has ``max_share`` (author), the share
        of each author's largest category (its p-value is one minus the author's PIT), in that order.

    Raises
    ------
    KeyError
        If the tree lacks the segments (a tree made before they were recorded).
    """
    observed = tree["observed_data"].to_dataset()["counts"].transpose(AUTHOR, CATEGORY)
    pp = tree["posterior_predictive"].to_dataset()
    y = observed.values
    y_rep = stack_sample_dims(pp["counts"]).transpose(DRAW, AUTHOR, CATEGORY).values
    y_given = stack_sample_dims(pp["counts_given_segment"]).transpose(DRAW, AUTHOR, CATEGORY).values
    z_obs = stack_sample_dims(tree["posterior"].to_dataset()["segment"]).transpose(DRAW, AUTHOR).values
    k = int(z_obs.max()) + 1
    categories = pd.Index(np.asarray(observed[CATEGORY].values).astype(str), name=CATEGORY)
    checks = [
        _check(
            "zeros",
            "Share of authors who never use each category",
            categories,
            zero_shares(y),
            zero_shares(y_rep),
            {
                "pass": "The model reproduces how often each category is absent.",
                "above": "More authors than the model predicts never use these categories (zero inflation: "
                "an author either never posts them or posts them often), which can make memberships less accurate "
                "and overconfident (docs/validity.md, zero-inflated categories): compare a larger K, or fold "
                "these categories.",
                "below": "Fewer authors than the model predicts go without these categories: the segments spread "
                "them too unevenly; compare a larger K.",
                "mixed": "Some categories are missing from more authors, others from fewer, than the model "
                "predicts: the segments do not reproduce how the categories spread among authors; compare a "
                "larger K.",
            },
            "categories",
        ),
        _check(
            "overdispersion",
            "Within-segment overdispersion of each category's counts (Pearson dispersion)",
            categories,
            within_segment_dispersion(y, z_obs, k),
            within_segment_dispersion(y_given, z_obs, k),
            {
                "pass": "Authors of one segment vary around their segment's profile as the Dirichlet-multinomial "
                "allows.",
                "above": "Authors of one segment vary more than the Dirichlet-multinomial allows for these "
                "categories: a segment mixes authors of different profiles, which can make membership probabilities "
                "overconfident. Compare a larger K (segments.k_range) and read p_misassigned as a lower bound.",
                "below": "Authors of one segment vary less than the model allows: the concentrations are "
                "underestimated for these categories, which makes memberships less certain than they could be.",
                "mixed": "Within a segment, some categories vary more and others less than the model allows: the "
                "Dirichlet-multinomial gives every category of a segment one concentration, and these data do not "
                "share it: memberships weigh every category's evidence alike where they should not, and can be "
                "overconfident where segments overlap (check their calibration where a truth or a labelled "
                "sample exists). A family with a dispersion per category fits such counts better; "
                "bayesseg.evaluation.families compares it with this one on a count table (docs/validity.md).",
            },
            "categories",
        ),
    ]
    c = len(categories)
    upper = np.triu_indices(c, k=1)
    pairs = pd.Index([f"{categories[a]} & {categories[b]}" for a, b in zip(*upper, strict=True)], name="pair")
    checks.append(
        _check(
            "cooccurrence",
            "Co-occurrence of category pairs (correlation of using both)",
            pairs,
            cooccurrence(y)[upper],
            cooccurrence(y_rep)[:, upper[0], upper[1]],
            {
                "pass": "Categories co-occur as the mixture of segments explains.",
                "above": "These pairs co-occur more than the segments explain (labels that come in bundles, "
                "such as a shoe with its type and brand): each bundle counts as independent evidence, which can make "
                "memberships overconfident (docs/validity.md, bundles). A larger K may absorb some of it; a count "
                "table that counts a bundle once (one category per item, given to bayesseg fit) removes it.",
                "below": "These pairs co-occur less than the segments imply: the segments join authors who use "
                "one or the other; compare a larger K.",
            },
            "category pairs",
        )
    )
    if "max_share" in pp and "max_share" in tree["observed_data"]:
        authors = pd.Index(np.asarray(observed[AUTHOR].values).astype(str), name=AUTHOR)
        checks.append(
            _check(
                "max_share",
                "Share of each author's largest category",
                authors,
                tree["observed_data"].to_dataset()["max_share"].sel(author=observed[AUTHOR]).values,
                stack_sample_dims(pp["max_share"]).transpose(DRAW, AUTHOR).sel(author=observed[AUTHOR]).values,
                {
                    "pass": "Authors concentrate on their largest category as the model predicts.",
                    "above": "These authors give their largest category a larger share than the model replicates: "
                    "they concentrate on one category more than their segment's concentration allows, so a few "
                    "single-minded accounts read as more typical of their segment than they are; compare a larger K.",
                    "below": "These authors give their largest category a smaller share than the model replicates: "
                    "they spread their labels over more categories than their segment predicts (labels in bundles, "
                    "or categories with their own dispersion), and each extra label counts as independent evidence: "
                    "read the memberships as possibly overconfident (docs/validity.md).",
                    "mixed": "Some authors concentrate on their largest category more, others less, than the model "
                    "replicates: the segments' single concentration does not fit every author; read the memberships "
                    "as possibly overconfident and compare a larger K.",
                },
                "authors",
                far=False,
            )
        )
    return checks
