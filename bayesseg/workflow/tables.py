"""The result tables a run writes: to the warehouse (AUTHOR_SEGMENTS, SEGMENT_PROFILES, EXCLUDED_AUTHORS) and to files.

Row formatting only: the numbers come from the model and its memberships. Every table carries the
fit's ``MODEL_ID`` (:func:`model_id`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import RunSpec
from bayesseg.data.inputs import ModelInputs
from bayesseg.exceptions import InputError
from bayesseg.model.segment_model import SegmentModel
from bayesseg.survey.trends import TrendResult

__all__ = [
    "LEAD_TABLE",
    "RESULT_TABLES",
    "TREND_TABLE",
    "author_segment_rows",
    "excluded_rows",
    "membership_table",
    "model_id",
    "result_tables",
    "segment_profile_rows",
    "trend_rows",
    "trend_tables",
]

RESULT_TABLES = ("AUTHOR_SEGMENTS", "SEGMENT_PROFILES", "EXCLUDED_AUTHORS")
"""The tables every run writes back to the warehouse (the trend series go to :data:`TREND_TABLE`)."""
TREND_TABLE = "TREND_SERIES"
"""The table of the trend series."""
LEAD_TABLE = "PANEL_LEAD"
"""The table of each panel's lead per trend (:func:`bayesseg.survey.panel.panel_lead`)."""


def model_id(spec: RunSpec, model: SegmentModel, fitted_at: dt.datetime | None = None) -> str:
    """The identifier written in every row of a fit's tables.

    Parameters
    ----------
    spec : bayesseg.config.RunSpec
        Its ``version``.
    model : bayesseg.model.SegmentModel
        K and the config hash.
    fitted_at : datetime.datetime, optional
        When the fit finished (UTC); omitted from the id when not known.

    Returns
    -------
    str
        ``<spec version>-K<k>-<config hash, 10 characters>[-<YYYYmmddTHHMMSSZ>]``.
    """
    base = f"{spec.version}-K{model.n_segments}-{model.config_hash[:10]}"
    return base if fitted_at is None else f"{base}-{fitted_at:%Y%m%dT%H%M%SZ}"


def result_tables(
    model: SegmentModel,
    memberships: xr.Dataset,
    inputs: ModelInputs,
    model_id: str,
    fitted_at: dt.datetime,
    ci_prob: float = 0.9,
) -> dict[str, pd.DataFrame]:
    """The tables written back to the warehouse.

    Parameters
    ----------
    model : SegmentModel
        The fitted model.
    memberships : xarray.Dataset
        :meth:`bayesseg.model.SegmentModel.predict_memberships` summaries of every eligible author.
    inputs : ModelInputs
        Authors, their current tier and the excluded authors.
    model_id : str
        Identifies the fit in every row.
    fitted_at : datetime.datetime
        When the fit finished (UTC).
    ci_prob : float, default 0.9
        Probability of the profile intervals.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``AUTHOR_SEGMENTS`` (AUTHORID, SEGMENT, SEGMENT_NAME, PROB_MEAN, PROB_LOW, PROB_HIGH
        (interval over posterior draws: parameter uncertainty only), IS_MODAL, ENTROPY,
        P_MISASSIGNED (1 - the largest PROB_MEAN: the probability that the modal segment is wrong),
        CURRENT_TIER, MODEL_ID, FITTED_AT: one row per author and segment),
        ``SEGMENT_PROFILES`` (SEGMENT, SEGMENT_NAME, CATEGORY, PROFILE_MEAN, PROFILE_LOW,
        PROFILE_HIGH, LIFT (posterior mean of the profile over the population mixture,
        :meth:`bayesseg.model.SegmentModel.lift`), MODEL_ID) and
        ``EXCLUDED_AUTHORS`` (AUTHORID, REASON, MODEL_ID).

    Raises
    ------
    bayesseg.exceptions.InputError
        If an author is both segmented and excluded, or an author of the warehouse is neither.
    """
    authors = memberships["author"].values
    excluded = excluded_rows(inputs, model_id)
    both = set(authors) & set(excluded["AUTHORID"])
    if both:
        raise InputError(f"{len(both)} author(s) are both segmented and excluded, e.g. {sorted(map(str, both))[:3]}")
    missing = set(inputs.authors.index) - set(authors) - set(excluded["AUTHORID"])
    if missing:
        raise InputError(
            f"{len(missing)} author(s) are neither segmented nor excluded, e.g. {sorted(map(str, missing))[:3]}"
        )
    return {
        "AUTHOR_SEGMENTS": author_segment_rows(memberships, inputs, model_id, fitted_at),
        "SEGMENT_PROFILES": segment_profile_rows(model, model_id, ci_prob),
        "EXCLUDED_AUTHORS": excluded,
    }


def author_segment_rows(
    memberships: xr.Dataset, inputs: ModelInputs, model_id: str, fitted_at: dt.datetime
) -> pd.DataFrame:
    """AUTHOR_SEGMENTS rows of scored authors: one per author and segment.

    Parameters
    ----------
    memberships : xarray.Dataset
        :meth:`bayesseg.model.SegmentModel.predict_memberships` summaries.
    inputs : ModelInputs
        Gives each author's current tier.
    model_id : str
        Identifies the fit.
    fitted_at : datetime.datetime
        When the fit finished (UTC).

    Returns
    -------
    pandas.DataFrame
        Columns AUTHORID, SEGMENT, SEGMENT_NAME, PROB_MEAN, PROB_LOW, PROB_HIGH, IS_MODAL,
        ENTROPY, P_MISASSIGNED, CURRENT_TIER, MODEL_ID, FITTED_AT (see :func:`result_tables`).
    """
    segs = list(memberships["segment"].values)
    authors = memberships["author"].values
    n, k = len(authors), len(segs)
    mean = memberships["prob_mean"].transpose("author", "segment").values
    modal = mean.argmax(axis=1)
    tier = inputs.authors["current_tier"].reindex(authors).astype("object").to_numpy()
    stamp = pd.Timestamp(fitted_at).tz_convert("UTC") if pd.Timestamp(fitted_at).tzinfo else pd.Timestamp(fitted_at)
    return pd.DataFrame(
        {
            "AUTHORID": np.repeat(authors, k),
            "SEGMENT": np.tile(np.arange(k, dtype=np.int64), n),
            "SEGMENT_NAME": np.tile(np.asarray(segs, dtype=object), n),
            "PROB_MEAN": mean.ravel(),
            "PROB_LOW": memberships["prob_low"].transpose("author", "segment").values.ravel(),
            "PROB_HIGH": memberships["prob_high"].transpose("author", "segment").values.ravel(),
            "IS_MODAL": (np.arange(k)[None, :] == modal[:, None]).ravel(),
            "ENTROPY": np.repeat(memberships["entropy"].values, k),
            "P_MISASSIGNED": np.repeat(memberships["p_misassigned"].values, k),
            "CURRENT_TIER": np.repeat(tier, k),
            "MODEL_ID": model_id,
            "FITTED_AT": stamp,
        }
    )


def segment_profile_rows(model: SegmentModel, model_id: str, ci_prob: float = 0.9) -> pd.DataFrame:
    """SEGMENT_PROFILES rows: each segment's label profile with its interval and lift.

    Parameters
    ----------
    model : SegmentModel
        The fitted model.
    model_id : str
        Identifies the fit.
    ci_prob : float, default 0.9
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Columns SEGMENT, SEGMENT_NAME, CATEGORY, PROFILE_MEAN, PROFILE_LOW, PROFILE_HIGH, LIFT,
        MODEL_ID (see :func:`result_tables`).
    """
    segs = model.segment_names
    post = model.check_fitted()["posterior"].to_dataset()
    prof = post["profile"]
    lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    q = prof.quantile([lo, hi], dim=("chain", "draw"))
    pm = prof.mean(("chain", "draw"))
    profiles = (
        xr.Dataset(
            {
                "PROFILE_MEAN": pm,
                "PROFILE_LOW": q.sel(quantile=lo, drop=True),
                "PROFILE_HIGH": q.sel(quantile=hi, drop=True),
                "LIFT": model.lift().mean(("chain", "draw")),
            }
        )
        .to_dataframe()
        .reset_index()
        .rename(columns={"segment": "SEGMENT_NAME", "category": "CATEGORY"})
    )
    profiles.insert(0, "SEGMENT", profiles["SEGMENT_NAME"].map({s: i for i, s in enumerate(segs)}).astype(np.int64))
    profiles["MODEL_ID"] = model_id
    return profiles


def excluded_rows(inputs: ModelInputs, model_id: str) -> pd.DataFrame:
    """EXCLUDED_AUTHORS rows: every author of `inputs` not segmented, with the reason.

    Parameters
    ----------
    inputs : bayesseg.data.inputs.ModelInputs
        The excluded authors and their reasons.
    model_id : str
        Identifies the fit.

    Returns
    -------
    pandas.DataFrame
        Columns AUTHORID (int64), REASON, MODEL_ID.
    """
    return pd.DataFrame(
        {
            "AUTHORID": inputs.excluded["author"].to_numpy(dtype=np.int64),
            "REASON": inputs.excluded["reason"].astype(str).to_numpy(dtype=object),
            "MODEL_ID": model_id,
        }
    )


def membership_table(memberships: xr.Dataset) -> pd.DataFrame:
    """Long table of memberships: one row per author and segment.

    Parameters
    ----------
    memberships : xarray.Dataset
        From :meth:`bayesseg.model.SegmentModel.memberships` or ``predict_memberships``.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``segment``, ``prob_mean``, ``prob_low``, ``prob_high`` (interval over
        posterior draws: parameter uncertainty only), ``entropy``, ``p_modal`` and
        ``p_misassigned`` (per author: the probability that its most likely segment is wrong).
    """
    frame = memberships[["prob_mean", "prob_low", "prob_high", "p_modal"]].to_dataframe().reset_index()
    ids = frame["author"].to_numpy()
    frame["entropy"] = memberships["entropy"].sel(author=ids).to_numpy()
    frame["p_misassigned"] = memberships["p_misassigned"].sel(author=ids).to_numpy()
    frame = frame.rename(columns={"author": "id"})
    return frame[["id", "segment", "prob_mean", "prob_low", "prob_high", "entropy", "p_modal", "p_misassigned"]]


def trend_rows(trends: TrendResult, model_id: str) -> pd.DataFrame:
    """TREND_SERIES rows (and ``trend_series.csv``): one per trend, panel and week, with the fit's id.

    Parameters
    ----------
    trends : bayesseg.survey.trends.TrendResult
        The series.
    model_id : str
        Identifies the fit whose memberships weighted them.

    Returns
    -------
    pandas.DataFrame
        :data:`bayesseg.survey.trends.TREND_SERIES_COLUMNS` and ``MODEL_ID``.
    """
    return trends.table().assign(MODEL_ID=model_id)


def trend_tables(trends: TrendResult, model_id: str) -> dict[str, pd.DataFrame]:
    """The trend tables of a run, with the fit's id: :data:`TREND_TABLE` and :data:`LEAD_TABLE`.

    Parameters
    ----------
    trends : bayesseg.survey.trends.TrendResult
        The series, with their leads.
    model_id : str
        Identifies the fit whose memberships weighted them.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``TREND_SERIES`` (:func:`trend_rows`) and ``PANEL_LEAD``
        (:data:`bayesseg.survey.panel.LEAD_COLUMNS` and ``MODEL_ID``), when the result has leads.
    """
    out = {TREND_TABLE: trend_rows(trends, model_id)}
    if trends.lead is not None:
        out[LEAD_TABLE] = trends.lead.assign(MODEL_ID=model_id)
    return out
