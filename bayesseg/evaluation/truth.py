"""The simulator's truth, read back from a warehouse, and a fit validated against it.

A warehouse written by :func:`bayesseg.simulate.simulate_warehouse` holds its truth in schema
``TRUTH`` beside the MART tables: each author's true segment, the segments' parameters, the gating
coefficients and the population's weekly trend shares. :func:`read_truth` reads it (``None`` for a
real warehouse); :func:`truth_validation` compares a fit with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bayesseg.data.sources import Source
from bayesseg.dims import TREND, WEEK
from bayesseg.evaluation.accuracy import calibration_table, match_segments
from bayesseg.model.segment_model import SegmentModel

__all__ = ["SimulatorTruth", "read_truth", "truth_validation"]

TRUTH_SCHEMA = "TRUTH"


@dataclass(frozen=True)
class SimulatorTruth:
    """The truth behind a simulated warehouse.

    Attributes
    ----------
    authors : pandas.DataFrame
        ``TRUTH.AUTHORS``: ``AUTHORID``, ``SEGMENT``, ``SEGMENT_NAME``, the simulator's covariates
        and membership and panel probabilities.
    segments : pandas.DataFrame
        ``TRUTH.SEGMENTS``: ``SEGMENT``, ``SEGMENT_NAME`` and the segments' parameters.
    gating : pandas.DataFrame
        ``TRUTH.GATING``: ``SEGMENT``, ``COVARIATE``, ``COEFFICIENT``.
    trend_series : pandas.DataFrame or None
        ``TRUTH.TREND_SERIES``: ``TREND``, ``WEEK``, ``POPULATION`` (``all`` or a segment),
        ``SHARE``, ... (``None`` when the warehouse has none, e.g. simulated aggregates).
    """

    authors: pd.DataFrame
    segments: pd.DataFrame
    gating: pd.DataFrame
    trend_series: pd.DataFrame | None = None

    @property
    def segment_names(self) -> list[str]:
        """True segment names, in segment order."""
        return self.segments.sort_values("SEGMENT")["SEGMENT_NAME"].tolist()

    def segment_of(self, authors: Any) -> np.ndarray:
        """True segment (index) of each of `authors` (AUTHORIDs)."""
        return self.authors.set_index("AUTHORID").loc[np.asarray(authors), "SEGMENT"].to_numpy().astype(int)

    def trend_shares(self, population: str = "all") -> xr.DataArray:
        """The true weekly share of posts showing each trend in a population, dims (trend, week).

        Parameters
        ----------
        population : str, default "all"
            ``all`` (every author of the warehouse) or a true segment's name.

        Returns
        -------
        xarray.DataArray

        Raises
        ------
        LookupError
            If the warehouse holds no trend truth.
        """
        if self.trend_series is None:
            raise LookupError("this warehouse's truth has no TREND_SERIES")
        t = self.trend_series[self.trend_series["POPULATION"] == population]
        wide = t.assign(WEEK=pd.to_datetime(t["WEEK"])).pivot(index="TREND", columns="WEEK", values="SHARE")
        return xr.DataArray(
            wide.to_numpy(dtype=float),
            dims=(TREND, WEEK),
            coords={TREND: wide.index.to_numpy(), WEEK: wide.columns.to_numpy()},
            name="share",
        )


def read_truth(source: Source) -> SimulatorTruth | None:
    """The simulator's truth stored beside the MART tables, or ``None`` for a real warehouse.

    Parameters
    ----------
    source : bayesseg.data.sources.Source
        The warehouse; the truth lives in schema ``TRUTH`` of the same database.

    Returns
    -------
    SimulatorTruth or None
        ``None`` unless ``TRUTH.AUTHORS``, ``TRUTH.SEGMENTS`` and ``TRUTH.GATING`` all exist.
    """
    if not source.has_tables(TRUTH_SCHEMA, ["AUTHORS", "SEGMENTS", "GATING"]):
        return None
    series = None
    if source.has_tables(TRUTH_SCHEMA, ["TREND_SERIES"]):
        series = source.read_table(TRUTH_SCHEMA, "TREND_SERIES")
    return SimulatorTruth(
        authors=source.read_table(TRUTH_SCHEMA, "AUTHORS"),
        segments=source.read_table(TRUTH_SCHEMA, "SEGMENTS"),
        gating=source.read_table(TRUTH_SCHEMA, "GATING"),
        trend_series=series,
    )


def truth_validation(
    model: SegmentModel,
    memberships: xr.Dataset,
    truth: SimulatorTruth,
    ci_prob: float = 0.9,
) -> dict[str, Any]:
    """Compare a fit with the simulator's truth.

    Segments are matched to true segments by the assignment that maximises agreement of modal
    segments (Hungarian algorithm); gating contrasts are compared on the model's covariate
    scale: a true coefficient per standard deviation of the simulator's covariate is
    multiplied by (sd of the model's covariate / sd of the simulator's) over the same authors.
    The engagement covariate the warehouse reveals is a noisy measure of the simulator's latent
    engagement rate, so its coefficients are expected to be attenuated.

    Parameters
    ----------
    model : SegmentModel
        The fit.
    memberships : xarray.Dataset
        Memberships of the eligible authors.
    truth : SimulatorTruth
        From :func:`read_truth`.
    ci_prob : float, default 0.9
        Probability of the coefficient intervals.

    Returns
    -------
    dict
        ``ari`` (adjusted Rand index of modal against true segments), ``nmi`` (normalised mutual
        information), ``accuracy`` (share of authors whose most likely segment is matched to their
        true one), ``mean_top_probability`` (mean of the largest membership probability: equal to
        the accuracy when memberships are calibrated), ``calibration`` (DataFrame: accuracy and
        mean largest probability by bin of the largest probability), ``n_authors``,
        ``matching`` (DataFrame segment → true segment with
        agreement), ``confusion`` (DataFrame) and ``coefficients`` (DataFrame covariate,
        segment, true, mean, low, high, covered).

    References
    ----------
    Hubert, L., & Arabie, P. (1985). Comparing partitions. *Journal of Classification* 2,
    193-218. https://doi.org/10.1007/BF01908075

    Kuhn, H. W. (1955). The Hungarian method for the assignment problem. *Naval Research
    Logistics Quarterly* 2, 83-97. https://doi.org/10.1002/nav.3800020109
    """
    t_auth = truth.authors.set_index("AUTHORID")
    authors = memberships["author"].values
    keep = np.isin(authors, t_auth.index.to_numpy())
    authors = authors[keep]
    segs = list(memberships["segment"].values)
    modal = memberships["prob_mean"].transpose("author", "segment").values[keep].argmax(axis=1)
    true_names = truth.segment_names
    true_seg = t_auth.loc[authors, "SEGMENT"].to_numpy().astype(int)
    confusion = pd.crosstab(
        pd.Categorical(np.asarray(segs)[modal], categories=segs),
        pd.Categorical(np.asarray(true_names)[true_seg], categories=true_names),
        dropna=False,
    )
    match = match_segments(modal, true_seg, n_estimated=len(segs), n_reference=len(true_names))
    matching = pd.DataFrame(
        {
            "segment": [segs[r] for r in match],
            "true_segment": [true_names[c] for c in match.values()],
            "agreement": [confusion.iloc[r, c] / max(confusion.iloc[r].sum(), 1) for r, c in match.items()],
        }
    )
    coefficients = pd.DataFrame()
    gating = truth.gating.pivot(index="SEGMENT", columns="COVARIATE", values="COEFFICIENT")
    # the simulator's covariate on its own scale: (raw value, standardised value) columns
    truth_scale = {}
    if {"LOG1P_FOLLOWERS", "X_LOG_FOLLOWERS", "ENGAGEMENT_RATE", "X_LOG_ENGAGEMENT"} <= set(t_auth.columns):
        truth_scale = {
            "log_followers": (t_auth["LOG1P_FOLLOWERS"], t_auth["X_LOG_FOLLOWERS"]),
            "log_engagement": (np.log(t_auth["ENGAGEMENT_RATE"]), t_auth["X_LOG_ENGAGEMENT"]),
        }
    if model.covariate_names_ and set(model.covariate_names_) <= set(truth_scale):
        post = model.check_fitted()["posterior"].to_dataset()
        rows_out = []
        ref = match.get(0)
        lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
        for cname in model.covariate_names_:
            raw, standardised = truth_scale[cname]
            truth_sd = float(raw.std() / standardised.std())  # the simulator's unit, in raw units
            # a coefficient per simulator sd, expressed per sd of the model's (fit-sample) covariate
            scale = float(model.covariate_scale.loc[cname, "sd"]) / truth_sd
            for k in range(1, len(segs)):
                if k not in match or ref is None:
                    continue
                true_value = (gating.loc[match[k], cname] - gating.loc[ref, cname]) * scale
                draws = post["slope"].sel(covariate=cname, segment=segs[k]).values.ravel()
                low, high = np.quantile(draws, [lo, hi])
                rows_out.append(
                    {
                        "covariate": cname,
                        "segment": segs[k],
                        "true_segment": true_names[match[k]],
                        "true": true_value,
                        "mean": float(draws.mean()),
                        "low": float(low),
                        "high": float(high),
                        "covered": bool(low <= true_value <= high),
                    }
                )
        coefficients = pd.DataFrame(rows_out)
    # calibration: is P(most likely segment) the chance of being right (under the matching)?
    mapped = np.array([match.get(int(m), -1) for m in modal])
    right = mapped == true_seg
    top = memberships["prob_mean"].transpose("author", "segment").values[keep].max(axis=1)
    calibration = calibration_table(top, right)
    return {
        "accuracy": float(right.mean()),
        "mean_top_probability": float(top.mean()),
        "calibration": calibration,
        "ari": float(adjusted_rand_score(true_seg, modal)),
        "nmi": float(normalized_mutual_info_score(true_seg, modal)),
        "n_authors": len(authors),
        "matching": matching,
        "confusion": confusion,
        "coefficients": coefficients,
    }
