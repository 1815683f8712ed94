"""Orchestration and presentation: the main job, scoring at scale, result tables, the report."""

from bayesseg.workflow.pipeline import RUN_STAGES, compute_trends, ensure_warehouse, fit_segmentation, run_job
from bayesseg.workflow.results import FitResult, RunResult
from bayesseg.workflow.scale import ScoreSummary, dask_client, score_dask, score_source

__all__ = [
    "RUN_STAGES",
    "FitResult",
    "RunResult",
    "ScoreSummary",
    "compute_trends",
    "dask_client",
    "ensure_warehouse",
    "fit_segmentation",
    "run_job",
    "score_dask",
    "score_source",
]
