"""What a run produced: the fit (``FitResult``) and all the report and ``run.json`` show (``RunResult``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg._resources import display_path
from bayesseg.config import RunSpec
from bayesseg.data.inputs import ModelInputs
from bayesseg.data.quality import DataQualityReport
from bayesseg.model.diagnostics import Convergence
from bayesseg.model.ppc import PredictiveCheck
from bayesseg.model.segment_model import SegmentModel
from bayesseg.survey.design import fit_sample_summary
from bayesseg.survey.trends import TrendResult

__all__ = ["FitResult", "RunResult", "run_summary", "segment_shares"]


@dataclass
class FitResult:
    """The fitted model, its fit sample and, when a range of K was fitted, the comparison of the K.

    Attributes
    ----------
    model : bayesseg.model.SegmentModel
        The model kept.
    comparison : pandas.DataFrame or None
        The comparison of the K range (``None`` for a single K).
    fit_authors : numpy.ndarray
        The authors of the fit sample.
    design : pandas.DataFrame or None
        The fit sample's design (:func:`bayesseg.survey.design.sample_design`).
    k_rule : str or None
        How K was chosen from the range (:attr:`bayesseg.model.selection.KComparison.rule`).
    """

    model: SegmentModel
    comparison: pd.DataFrame | None = None
    fit_authors: np.ndarray = field(default_factory=lambda: np.empty(0))
    design: pd.DataFrame | None = None
    k_rule: str | None = None


@dataclass
class RunResult:
    """Everything a run produced (what the report shows).

    Attributes
    ----------
    spec : RunSpec
    out : pathlib.Path
        Output folder.
    source : str
        Description of the source.
    quality : bayesseg.data.quality.DataQualityReport
    inputs : ModelInputs
    fit : FitResult
    memberships : xarray.Dataset
        Every eligible author.
    tables : dict of str to pandas.DataFrame
        The result tables.
    written : dict of str to int
        Rows written back per table (empty when write-back is off).
    ppc : xarray.DataTree
        Posterior predictive replicates (:meth:`bayesseg.model.SegmentModel.posterior_predictive`).
    validation : dict or None
        :func:`bayesseg.evaluation.truth.truth_validation`, when the warehouse comes from the simulator.
    model_id : str
    fitted_at : datetime.datetime
    timings : dict of str to float
        Seconds per stage.
    peak_memory_gb : dict of str to float
        The process's peak resident memory (GB) at the end of each stage, in stage order: the first
        stages' peak without what later stages add (empty where the platform does not report it).
    paths : dict of str to pathlib.Path
        Files written.
    trends : bayesseg.survey.trends.TrendResult or None
        Trend series (``None`` when the specification declares none or they failed).
    trends_error : str or None
        Why the trend series could not be built (e.g. a panel too small to weight); the run
        goes on without them, removes the previous run's trend table, and says so on the
        terminal, in the report and in ``run.json``.
    convergence : bayesseg.model.diagnostics.Convergence or None
        The fit's convergence block.
    write_back : bool
        Whether the result tables are to be written back to the warehouse.
    write_error : str or None
        Why writing them back failed (the warehouse then keeps its previous tables).
    dropped : list of str
        Tables of the previous run removed from the warehouse (a stage that could not run this time).
    assignments : xarray.DataArray or None
        Authors per current tier (``group``) and segment with every author's segment drawn within
        each posterior draw (:meth:`bayesseg.model.SegmentModel.assignment_counts`): segment sizes
        with the uncertainty of the assignments.
    stale_staging : list of str
        Tables whose staging copy, left by an interrupted earlier job, was removed before writing.
    folded_categories : pandas.DataFrame or None
        Categories folded into ``<group>_other`` for too few authors
        (:func:`bayesseg.data.inputs.fold_rare_categories`): ``category``, ``authors``, ``labels``, ``into``.
    predictive_checks : list of bayesseg.model.ppc.PredictiveCheck
        Zeros per category, within-segment overdispersion and category co-occurrence, with verdicts
        (:func:`bayesseg.model.ppc.predictive_checks` of `ppc`).
    """

    spec: RunSpec
    out: Path
    source: str
    quality: DataQualityReport
    inputs: ModelInputs
    fit: FitResult
    memberships: xr.Dataset
    tables: dict[str, pd.DataFrame]
    written: dict[str, int]
    ppc: xr.DataTree
    validation: dict[str, Any] | None
    model_id: str
    fitted_at: dt.datetime
    timings: dict[str, float]
    paths: dict[str, Path]
    trends: TrendResult | None = None
    trends_error: str | None = None
    peak_memory_gb: dict[str, float] = field(default_factory=dict)
    convergence: Convergence | None = None
    write_back: bool = False
    write_error: str | None = None
    dropped: list[str] = field(default_factory=list)
    stale_staging: list[str] = field(default_factory=list)
    assignments: xr.DataArray | None = None
    folded_categories: pd.DataFrame | None = None
    predictive_checks: list[PredictiveCheck] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What ``run.json`` holds: ids, counts, exclusions, imputation, timings, files, validation, trends.

        Returns
        -------
        dict
            JSON-serialisable (``default=str`` for paths and times).
        """
        return run_summary(self)


def run_summary(result: RunResult) -> dict[str, Any]:
    """The summary of a run written to ``run.json`` (see :meth:`RunResult.summary`).

    Parameters
    ----------
    result : RunResult
        What the run produced.

    Returns
    -------
    dict
    """
    excluded = result.inputs.excluded["reason"].value_counts().to_dict()
    summary = {
        "model_id": result.model_id,
        "fitted_at": result.fitted_at.isoformat(),
        "source": result.source,
        # paths as the report shows them: shipped:models/..., relative to the working directory, or a name
        "spec": {**result.spec.to_dict(), "taxonomy": display_path(result.spec.taxonomy)},
        "spec_path": display_path(result.spec.path),
        "spec_hash": result.spec.spec_hash,
        "authors": len(result.inputs.authors),
        "segmented": int(result.memberships.sizes["author"]),
        "fit_authors": len(result.fit.fit_authors),
        "excluded": {str(k): int(v) for k, v in excluded.items()},
        "imputed": result.inputs.imputed,
        "folded_categories": ([] if result.folded_categories is None else result.folded_categories.to_dict("records")),
        # the coefficients that imputed them: `bayesseg score --source` reuses them
        "imputation": {k: [float(c) for c in v] for k, v in result.inputs.imputation.items()},
        "written": result.written,
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "peak_memory_gb": {k: round(v, 3) for k, v in result.peak_memory_gb.items()},
        # relative to the output folder: run.json says nothing of the machine it was written on
        "files": {k: _relative(v, result.out) for k, v in result.paths.items()},
    }
    if result.convergence is not None:
        summary["convergence"] = result.convergence.to_dict()
    if result.predictive_checks:
        summary["predictive_checks"] = {c.name: c.to_dict() for c in result.predictive_checks}
    if result.assignments is not None:
        summary["segment_shares"] = segment_shares(result.assignments, result.spec.output.ci_prob)
    if result.dropped:
        summary["dropped"] = result.dropped
    if result.stale_staging:
        summary["stale_staging_removed"] = result.stale_staging
    if result.write_error is not None:
        summary["write_error"] = result.write_error
    if result.fit.design is not None:
        summary["fit_sample"] = fit_sample_summary(result.fit.design, result.memberships, result.spec.fit_allocation)
    if result.validation is not None:
        summary["validation"] = {"ari": result.validation["ari"], "nmi": result.validation["nmi"]}
    if result.trends is not None:
        trend_summary: dict[str, Any] = {k: v for k, v in result.trends.summary.items() if k != "cov_columns"}
        trend_summary["warnings"] = result.trends.warnings
        if result.trends.decomposition is not None:
            trend_summary["decomposition"] = _records(result.trends.decomposition.reset_index())
        if result.trends.sensitivity is not None:
            trend_summary["sensitivity"] = _records(result.trends.sensitivity.reset_index())
        if result.trends.margin_balance is not None:
            trend_summary["margin_balance"] = _records(result.trends.margin_balance.reset_index())
        if result.trends.lead is not None:
            ff = result.trends.lead[result.trends.lead["PANEL"] == "fashion_forward"]
            trend_summary["fashion_forward_lead"] = _records(ff.drop(columns="PANEL"))
        summary["trends"] = trend_summary
    if result.trends_error is not None:
        summary["trends_error"] = result.trends_error
    return summary


def _relative(path: Path, out: Path) -> str:
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return Path(path).name


def segment_shares(assignments: xr.DataArray, ci_prob: float = 0.9) -> dict[str, dict[str, float]]:
    """Each segment's share of the authors: posterior mean and equal-tailed interval, assignments drawn.

    Parameters
    ----------
    assignments : xarray.DataArray
        Dims (chain, draw, group, segment), from :meth:`bayesseg.model.SegmentModel.assignment_counts`.
    ci_prob : float, default 0.9
        Probability of the interval.

    Returns
    -------
    dict
        Segment name to ``mean``, ``low``, ``high`` (shares of all authors of every group).
    """
    total = assignments.sum("group")
    share = total / total.sum("segment")
    lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    q = share.quantile([lo, hi], dim=("chain", "draw"))
    mean = share.mean(("chain", "draw"))
    return {
        str(s): {
            "mean": float(mean.sel(segment=s)),
            "low": float(q.sel(quantile=lo, segment=s)),
            "high": float(q.sel(quantile=hi, segment=s)),
        }
        for s in share["segment"].values
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects, NaN as null (a lead that is not identified)."""
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
