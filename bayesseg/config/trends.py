"""The ``[trends]`` table of a run specification: which trends, and how their panel series are corrected."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bayesseg.config.defaults import BANDS, BOX_FORMATS, WEIGHTINGS
from bayesseg.exceptions import InputError

__all__ = ["Trend", "TrendConfig"]


@dataclass(frozen=True)
class Trend:
    """A trend: labels that must appear together in one image, or on one detected item.

    Parameters
    ----------
    name : str
        Name of the trend (by default its text, e.g. ``"pattern:stripes+object_detection:top"``).
    labels : tuple of (str, str)
        ``(TYPE, LABEL_NAME)`` pairs. For an item-level trend the first is the item (usually an
        ``object_detection`` garment) and the others must be detected on its box.
    scope : {"image", "item"}
        ``"image"``: every label somewhere in one image (``+``); ``"item"``: every label on one
        detected item (``&``), boxes matched as :class:`TrendConfig` ``box_format`` and ``item_iou`` say.
    """

    name: str
    labels: tuple[tuple[str, str], ...]
    scope: str = "image"

    @classmethod
    def parse(cls, text: str) -> Trend:
        """Parse ``TYPE:LABEL_NAME`` terms joined by ``+`` (one image) or by ``&`` (one item).

        Parameters
        ----------
        text : str
            E.g. ``"pattern:stripes"``, ``"pattern:stripes+object_detection:top"`` (a striped
            anything and a top anywhere in one image) or ``"object_detection:top & pattern:stripes"``
            (a striped top: the pattern detected on the top's box).

        Returns
        -------
        Trend
            A single label is an image-level trend (its own box is its item).

        Raises
        ------
        bayesseg.exceptions.InputError
            If a term is not ``TYPE:LABEL_NAME`` with both parts non-empty, repeats, or the text
            mixes ``+`` and ``&`` (say one image or one item, not both).
        """
        if "+" in text and "&" in text:
            raise InputError(
                f"trend {text!r} mixes '+' (labels in one image) and '&' (labels on one item); use one of them"
            )
        joiner = "&" if "&" in text else "+"
        labels = []
        for term in text.split(joiner):
            typ, sep, name = term.strip().partition(":")
            if not sep or not typ.strip() or not name.strip():
                raise InputError(f"trend {text!r}: term {term!r} is not TYPE:LABEL_NAME")
            labels.append((typ.strip(), name.strip()))
        if len(set(labels)) != len(labels):
            raise InputError(f"trend {text!r}: a label repeats")
        scope = "item" if joiner == "&" and len(labels) > 1 else "image"
        return cls(text.strip(), tuple(labels), scope)


@dataclass(frozen=True)
class TrendConfig:
    r"""How trend series are built (the ``[trends]`` table of ``models/fashion.toml``).

    Parameters
    ----------
    trends : tuple of Trend
        The trends.
    weighting : {"propensity", "poststratify", "rake", "none"}
        Correction of the fashion-forward panel toward the target.
    propensity_covariates : tuple of str
        Author covariates of the propensity model (columns of the authors table given to
        :func:`bayesseg.survey.trends.trend_series`, transformed as in the model, e.g. ``log_followers``).
    propensity_quadratic : bool
        Add the square of each propensity covariate.
    propensity_segments : bool
        Add the segment membership probabilities (all but the first segment) to the propensity
        model.
    normalise_authors : bool
        Give every author posting in a week the same weight whatever their number of posts
        (the series is then the mean over authors of their share of posts, not the share of
        all posts).
    trim_ratio : float
        Weights are capped at this multiple of their mean (0: no trimming).
    ess_floor : float
        Weeks whose effective sample size (authors) is below this are reported.
    replicates : int
        Bootstrap replicates (each with one posterior draw of the memberships) behind the bands.
    seed : int
        Seed of the bootstrap.
    smooth_weeks : float
        Standard deviation, in weeks, of a Gaussian kernel pooling neighbouring weeks: the share
        of week t is :math:`\sum_s K(t-s)\sum_i w_i h_{is} / \sum_s K(t-s)\sum_i w_i n_{is}`
        (the kernel is truncated at the ends of the window and the ratio renormalises it).
        0 gives plain weekly shares. A panel of a few hundred authors posts a few hundred times
        a week, so weekly shares of a 1 % trend carry a sampling error as large as the
        selection bias; pooling ±2 weeks cuts that error about 2.5-fold at the cost of
        flattening peaks narrower than the kernel.
    platform_smooth_weeks : float
        The same for the ``platform`` panel (margins given): it holds every author, so its
        sampling error is a fraction of a panel's and less pooling flattens narrow peaks less
        (the width minimising a kernel estimate's mean squared error shrinks as n^(-1/5); Wand &
        Jones 1995, *Kernel Smoothing*, ISBN 978-0-412-55270-0). The panels compared with one
        another keep ``smooth_weeks``.
    band : {"logit", "percentile"}
        ``"logit"``: a normal interval on the logit scale around the point estimate, with the
        replicates' standard deviation of the logit share; for the fashion-forward panel it also
        carries the binomial variance of the target's realised weekly share,
        :math:`1/(N_t \hat p_t (1-\hat p_t))` on the logit scale with :math:`N_t` the target's
        posts of week t (the band is for the week's share of all authors' posts, which the panel
        estimates but does not see). ``"logit_bias"``: the same, plus the square of an estimate of
        the pooling's smoothing bias: a Gaussian kernel of standard deviation σ biases a share by
        about :math:`\tfrac{\sigma^2}{2} p''(t)`, and pooling with σ√2 doubles that bias, so the
        difference between the series pooled with σ√2 and with σ estimates it (on the logit
        scale) without any tuning constant; the band widens where a trend peaks or turns within
        a few weeks, and not elsewhere. ``"percentile"``: the replicates' equal-tailed quantiles.
    max_lead : int
        Largest lead (or lag) of a panel's series over the target's, in weeks, that
        :func:`bayesseg.survey.panel.panel_lead` compares.
    lead_min_rise : float
        A trend enters each panel's pooled lead on rising trends when the target's series over the
        window's last quarter is at least this many times its first quarter's
        (:func:`bayesseg.survey.panel.rising_trends`); above 1.
    pre_period_weeks : int
        The first weeks of the window form the *pre-period*: each author's trend shares over them
        (what a curator could see before picking) are tested as predictors of panel membership
        beyond the propensity model's covariates (:func:`bayesseg.survey.weighting.pre_period_test`),
        and enter the propensity model with `condition_on_pre_period`. 0 turns both off.
    condition_on_pre_period : bool
        Add the pre-period trend shares (empirical logits, standardised) to the propensity
        model, so that selection on early adoption is selection on observables for the weeks
        after the cut; the pre-period's own corrected shares then match the target by
        construction and are not evidence.
    box_format : {"auto", "xyxy", "xywh", "cxcywh"}
        How ``POSITION_IN_IMAGE`` is read for item-level trends and the data-quality checks of
        boxes (:data:`bayesseg.config.defaults.BOX_FORMATS`); the contract does not publish it.
    item_iou : float
        Two boxes are one item when their intersection over union is at least this (in (0, 1]);
        1 asks for equal positions. Repeated detections of one item are slightly shifted boxes,
        so a threshold below 1 keeps them.
    """

    trends: tuple[Trend, ...] = ()
    weighting: str = "propensity"
    propensity_covariates: tuple[str, ...] = ("log_followers", "log_engagement")
    propensity_quadratic: bool = True
    propensity_segments: bool = True
    normalise_authors: bool = False
    trim_ratio: float = 20.0
    ess_floor: float = 30.0
    replicates: int = 200
    seed: int = 0
    smooth_weeks: float = 2.0
    platform_smooth_weeks: float = 1.0
    band: str = "logit_bias"
    max_lead: int = 8
    lead_min_rise: float = 1.5
    pre_period_weeks: int = 26
    condition_on_pre_period: bool = False
    box_format: str = "auto"
    item_iou: float = 0.5

    KEYS = (
        "series",
        "weighting",
        "propensity_covariates",
        "propensity_quadratic",
        "propensity_segments",
        "normalise_authors",
        "trim_ratio",
        "ess_floor",
        "replicates",
        "seed",
        "smooth_weeks",
        "platform_smooth_weeks",
        "band",
        "max_lead",
        "lead_min_rise",
        "pre_period_weeks",
        "condition_on_pre_period",
        "box_format",
        "item_iou",
    )

    @classmethod
    def from_dict(cls, doc: dict[str, Any], fail: Callable[[str, str], Exception]) -> TrendConfig:
        """Validate the ``[trends]`` table.

        Parameters
        ----------
        doc : dict
            The parsed table (keys of ``TrendConfig.KEYS``; ``series`` is a list of trend texts).
        fail : callable
            ``fail(key, message)`` returns the exception to raise (names the file and key).

        Returns
        -------
        TrendConfig

        Raises
        ------
        Exception
            What `fail` returns, for an unknown key or a bad value.
        """
        unknown = set(doc) - set(cls.KEYS)
        if unknown:
            raise fail("trends", f"unknown key(s) {sorted(unknown)}; known: {sorted(cls.KEYS)}")
        default = cls()
        series = doc.get("series", [])
        if not isinstance(series, list) or not all(isinstance(s, str) for s in series):
            raise fail("trends.series", f"must be a list of trend texts, got {series!r}")
        try:
            trends = tuple(Trend.parse(s) for s in series)
        except ValueError as exc:
            raise fail("trends.series", str(exc)) from None
        if len({t.name for t in trends}) != len(trends):
            raise fail("trends.series", f"trends repeat: {series}")
        weighting = doc.get("weighting", default.weighting)
        if weighting not in WEIGHTINGS:
            raise fail("trends.weighting", f"must be one of {WEIGHTINGS}, got {weighting!r}")
        band = doc.get("band", default.band)
        if band not in BANDS:
            raise fail("trends.band", f"must be one of {BANDS}, got {band!r}")
        box_format = doc.get("box_format", default.box_format)
        if box_format not in BOX_FORMATS:
            raise fail("trends.box_format", f"must be one of {BOX_FORMATS}, got {box_format!r}")
        iou = doc.get("item_iou", default.item_iou)
        if isinstance(iou, bool) or not isinstance(iou, int | float) or not 0 < iou <= 1:
            raise fail("trends.item_iou", f"must be a number in (0, 1], got {iou!r}")
        covs = doc.get("propensity_covariates", list(default.propensity_covariates))
        if not isinstance(covs, list) or not all(isinstance(c, str) for c in covs):
            raise fail("trends.propensity_covariates", f"must be a list of covariate names, got {covs!r}")
        flags: dict[str, Any] = {}
        for key in ("propensity_quadratic", "propensity_segments", "normalise_authors", "condition_on_pre_period"):
            v = doc.get(key, getattr(default, key))
            if not isinstance(v, bool):
                raise fail(f"trends.{key}", f"must be true or false, got {v!r}")
            flags[key] = v
        nums: dict[str, Any] = {}
        for key in ("trim_ratio", "ess_floor", "smooth_weeks", "platform_smooth_weeks"):
            v = doc.get(key, getattr(default, key))
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise fail(f"trends.{key}", f"must be a number >= 0.0, got {v!r}")
            nums[key] = float(v)
        rise = doc.get("lead_min_rise", default.lead_min_rise)
        if isinstance(rise, bool) or not isinstance(rise, int | float) or not rise > 1:
            raise fail("trends.lead_min_rise", f"must be a number above 1 (a rise), got {rise!r}")
        nums["lead_min_rise"] = float(rise)
        if 0 < nums["trim_ratio"] <= 1:
            raise fail("trends.trim_ratio", "must be 0 (no trimming) or > 1 (a cap at the mean trims every weight)")
        ints: dict[str, Any] = {}
        for key, low in (("replicates", 20), ("seed", 0), ("max_lead", 1), ("pre_period_weeks", 0)):
            v = doc.get(key, getattr(default, key))
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise fail(f"trends.{key}", f"must be an integer >= {low}, got {v!r}")
            ints[key] = int(v)
        if flags["condition_on_pre_period"] and not ints["pre_period_weeks"]:
            raise fail("trends.condition_on_pre_period", "needs pre_period_weeks > 0 (the cut)")
        return cls(
            trends=trends,
            weighting=weighting,
            propensity_covariates=tuple(covs),
            band=band,
            box_format=box_format,
            item_iou=float(iou),
            **flags,
            **nums,
            **ints,
        )

    def with_series(self, texts: Sequence[str]) -> TrendConfig:
        """A copy whose trends are `texts` (what ``bayesseg trends --series`` gives).

        Parameters
        ----------
        texts : sequence of str
            Trend texts, as in ``series`` (``+``: one image; ``&``: one item).

        Returns
        -------
        TrendConfig

        Raises
        ------
        bayesseg.exceptions.InputError
            If a text does not parse (:meth:`Trend.parse`), none is given, or a trend repeats.
        """
        trends = tuple(Trend.parse(t) for t in texts)
        if not trends:
            raise InputError("no trend given")
        if len({t.name for t in trends}) != len(trends):
            raise InputError(f"trends repeat: {list(texts)}")
        return replace(self, trends=trends)

    def to_dict(self) -> dict[str, Any]:
        """The table as parsed (trend texts, plain values)."""
        return {
            "series": [t.name for t in self.trends],
            "weighting": self.weighting,
            "propensity_covariates": list(self.propensity_covariates),
            "propensity_quadratic": self.propensity_quadratic,
            "propensity_segments": self.propensity_segments,
            "normalise_authors": self.normalise_authors,
            "trim_ratio": self.trim_ratio,
            "ess_floor": self.ess_floor,
            "replicates": self.replicates,
            "seed": self.seed,
            "smooth_weeks": self.smooth_weeks,
            "platform_smooth_weeks": self.platform_smooth_weeks,
            "band": self.band,
            "max_lead": self.max_lead,
            "lead_min_rise": self.lead_min_rise,
            "pre_period_weeks": self.pre_period_weeks,
            "condition_on_pre_period": self.condition_on_pre_period,
            "box_format": self.box_format,
            "item_iou": self.item_iou,
        }
