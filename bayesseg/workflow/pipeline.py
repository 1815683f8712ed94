"""The main job: from warehouse aggregates to segments, result tables, a report and a saved model.

:func:`run_job` runs the data flow of the design (``../shared/DESIGN.md``) on an open
:class:`bayesseg.data.sources.Source`, one timed stage after another (:data:`RUN_STAGES`): schema
check and data-quality report, aggregation in the warehouse, the model's inputs
(:func:`bayesseg.data.inputs.model_inputs`: every author either eligible or excluded with a
reason), the fit (:func:`fit_segmentation`), memberships for every eligible author, the result
tables (:mod:`bayesseg.workflow.tables`) written back to the warehouse, the HTML report
(:mod:`bayesseg.workflow.report`) and the saved model. Each stage is also a function of its own,
so analyses and tests can run part of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

try:
    import resource
except ImportError:  # not on Windows: no peak memory in run.json there
    resource = None  # type: ignore[assignment]

import numpy as np
import xarray as xr

from bayesseg._interrupts import raise_if_interrupted
from bayesseg.config import RunSpec
from bayesseg.data.aggregate import author_category_counts, author_covariates, trend_data
from bayesseg.data.boxes import BoxFormat
from bayesseg.data.connect import default_warehouse_path
from bayesseg.data.inputs import ModelInputs, fold_rare_categories, model_inputs
from bayesseg.data.quality import check_schema, data_quality
from bayesseg.data.sources import Source
from bayesseg.evaluation.truth import read_truth, truth_validation
from bayesseg.exceptions import ConvergenceError, InputError, SourceError, WeightsError
from bayesseg.model.ppc import predictive_checks
from bayesseg.model.segment_model import SegmentModel
from bayesseg.model.selection import compare_k
from bayesseg.simulate.calibration import Size
from bayesseg.simulate.warehouse import simulate_warehouse
from bayesseg.survey.design import sample_design
from bayesseg.survey.margins import Margins
from bayesseg.survey.trends import TrendResult, trend_series
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.html import write_quality_html
from bayesseg.workflow.outputs import StagedFolder, write_json
from bayesseg.workflow.report import write_report
from bayesseg.workflow.results import FitResult, RunResult
from bayesseg.workflow.scale import check_scheduler, dask_client, score_dask
from bayesseg.workflow.tables import (
    LEAD_TABLE,
    TREND_TABLE,
    membership_table,
    model_id,
    result_tables,
    trend_tables,
)

__all__ = ["RUN_STAGES", "compute_trends", "ensure_warehouse", "fit_segmentation", "run_job"]

RUN_STAGES: tuple[tuple[str, str], ...] = (
    ("schema", "check the four MART tables against the data contract"),
    ("quality", "measure every data defect (data_quality.html)"),
    ("aggregate", "aggregate in the warehouse: author × category counts, author covariates (Parquet)"),
    ("inputs", "build the model's counts and covariates; list excluded authors with reasons"),
    ("fit", "fit the segmentation model with NUTS (K, or K by PSIS-LOO, from the specification)"),
    ("score", "memberships with intervals for every eligible author"),
    ("check", "convergence diagnostics and posterior predictive checks"),
    ("trends", "trend series of every panel, raw and corrected toward all authors, with bootstrap bands"),
    (
        "write",
        "write AUTHOR_SEGMENTS, SEGMENT_PROFILES, EXCLUDED_AUTHORS (and TREND_SERIES, PANEL_LEAD) to the warehouse",
    ),
    ("report", "write the HTML report (report.html) and save the model (model.nc)"),
)
"""The stages of :func:`run_job`, with what each does."""


def ensure_warehouse(
    path: str | Path | None = None,
    *,
    size: Size | int = "demo",
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[Path, bool]:
    """A warehouse file, simulated when it is missing (by default the embedded ``demo`` one).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Defaults to :func:`bayesseg.data.connect.default_warehouse_path`.
    size : {"demo", "techtest"} or int, default "demo"
        Size of the simulation (see :func:`bayesseg.simulate.simulate_warehouse`).
    seed : int, default 0
        Seed of the simulation.
    progress : callable, optional
        ``progress(message, fraction)``, passed to the simulator.

    Returns
    -------
    path : pathlib.Path
        The warehouse file.
    built : bool
        Whether it was simulated now.
    """
    target = Path(path) if path is not None else default_warehouse_path()
    if target.exists():
        return target, False
    simulate_warehouse(target, size, seed=seed, progress=progress)
    return target, True


def fit_segmentation(inputs: ModelInputs, spec: RunSpec, taxonomy: Taxonomy, progressbar: bool = False) -> FitResult:
    """Fit the model of the specification on its fit sample of the eligible authors.

    Parameters
    ----------
    inputs : bayesseg.data.inputs.ModelInputs
        The model's inputs.
    spec : bayesseg.config.RunSpec
        K or K range, anchors, priors, sampler settings, fit sample size.
    taxonomy : bayesseg.taxonomy.Taxonomy
        Resolves the anchors' rules to categories.
    progressbar : bool, default False
        Show the sampler's progress.

    Returns
    -------
    FitResult

    Raises
    ------
    bayesseg.exceptions.TaxonomyError
        If an anchor names a rule the taxonomy lacks.
    """
    model_config, sampler_config = spec.model_kwargs(taxonomy, progressbar=progressbar)
    design = sample_design(inputs.authors, spec.fit_authors, spec.sample_seed, spec.fit_allocation)
    ids = design.index.to_numpy()
    counts = inputs.counts.sel(author=ids)
    covariates = None if inputs.covariates is None else inputs.covariates.sel(author=ids)
    # sampling weights normalised to the sample size (a pseudo-posterior with the sample's
    # information); with every author, or a sample whose weights are all equal, none are needed
    w = design["weight"].to_numpy()
    weights = None if np.ptp(w) == 0 else w * len(w) / w.sum()
    ks = spec.k_values
    if len(ks) == 1:
        model = SegmentModel(ks[0], model_config, sampler_config).fit(counts, covariates, weights=weights)
        return FitResult(model, None, ids, design)
    comparison = compare_k(counts, covariates, ks, model_config, sampler_config, weights=weights, n_jobs=spec.k_jobs)
    return FitResult(comparison.best, comparison.table, ids, design, comparison.rule)


def compute_trends(
    source: Source,
    spec: RunSpec,
    inputs: ModelInputs,
    model: SegmentModel,
    progress: Callable[[str, float], None] | None = None,
    margins: Margins | None = None,
    box_format: BoxFormat | None = None,
) -> TrendResult | None:
    """Trend series of every panel (:func:`bayesseg.survey.trends.trend_series`) for a fitted model.

    Parameters
    ----------
    source : bayesseg.data.sources.Source
        The warehouse (trend counts are computed there).
    spec : bayesseg.config.RunSpec
        ``spec.trends`` (trends, weighting, replicates...) and ``spec.output.ci_prob``.
    inputs : bayesseg.data.inputs.ModelInputs
        The model's inputs: the authors table (panel flag, tier, covariates) and the counts and
        covariates of the segmented authors.
    model : bayesseg.model.SegmentModel
        Fitted; ``spec.trends.replicates`` thinned posterior draws give the memberships.
    progress : callable, optional
        ``progress(note, fraction)`` as the bootstrap replicates advance.
    margins : bayesseg.survey.margins.Margins, optional
        The platform population's margins (a ``platform`` panel calibrated to them).
    box_format : bayesseg.data.boxes.BoxFormat, optional
        The boxes' reading already resolved (the run's data-quality report's), instead of
        ``spec.trends.box_format`` resolved again from the warehouse.

    Returns
    -------
    bayesseg.survey.trends.TrendResult or None
        ``None`` when the specification declares no trend.

    Raises
    ------
    bayesseg.exceptions.InputError, bayesseg.exceptions.WeightsError
        As :func:`bayesseg.data.aggregate.trend_data` and :func:`bayesseg.survey.trends.trend_series`.
    """
    cfg = spec.trends
    if not cfg.trends:
        return None
    boxes = box_format if box_format is not None else cfg.box_format
    data = trend_data(source, cfg.trends, box_format=boxes, item_iou=cfg.item_iou)
    r = model.membership_draws(inputs.counts, inputs.covariates, max_draws=cfg.replicates)
    return trend_series(data, inputs.authors, r, cfg, ci_prob=spec.output.ci_prob, progress=progress, margins=margins)


def run_job(
    source: Source,
    spec: RunSpec,
    out: str | Path,
    *,
    stage: Callable[[str], AbstractContextManager[Any]] = contextlib.nullcontext,
    progressbar: bool = False,
    write_back: bool | None = None,
    dask: bool = False,
    scheduler: str | None = None,
    strict: bool = False,
    margins: Margins | None = None,
) -> RunResult:
    """Run the main job on an open source.

    Parameters
    ----------
    source : bayesseg.data.sources.Source
        The warehouse (opened writable when results are written back).
    spec : bayesseg.config.RunSpec
        The run specification (``models/fashion.toml``).
    out : str or pathlib.Path
        Output folder: ``data_quality.html``, ``counts.parquet`` and ``covariates.parquet`` (the
        aggregates), ``report.html``, ``model.nc``, ``memberships.csv``, ``excluded.csv``,
        ``loo.csv`` (with a K range), ``trend_series.csv``, ``panel_lead.csv`` and
        ``panel_decomposition.csv`` (with trends), ``run.json`` (a summary
        with timings and the convergence block). Written through a staging copy that replaces the
        folder whole at the end (:class:`bayesseg.workflow.outputs.StagedFolder`): an interrupted run
        leaves the previous folder as it was.
    stage : callable, optional
        ``stage(description)`` returns a context manager wrapped around each stage (the CLI
        prints progress with it). What it yields, when not ``None``, is called as
        ``progress(note, fraction)`` by the stages that know their fraction done (the trend
        replicates).
    progressbar : bool, default False
        Show the sampler's progress bar.
    write_back : bool, optional
        Write the result tables to the warehouse, after the output folder is in place; defaults
        to ``spec.output.write_back``.
    dask : bool, default False
        Score the authors on Dask (:func:`bayesseg.workflow.scale.score_dask`) on a local
        cluster (the same memberships as in memory, bit for bit).
    scheduler : str, optional
        Address of an existing Dask scheduler to score on (implies `dask`); it is checked
        before the first stage.
    strict : bool, default False
        When the fit fails the convergence rule, write the output folder but not the warehouse,
        and raise.
    margins : bayesseg.survey.margins.Margins, optional
        The platform population's margins: the trend series gain a ``platform`` panel calibrated
        to them (``bayesseg run --target margins:FILE``).

    Returns
    -------
    RunResult

    Raises
    ------
    bayesseg.exceptions.SchemaError
        If the MART tables do not follow the data contract.
    bayesseg.exceptions.SourceError
        If a query or the write-back fails (the warehouse keeps its previous tables; ``run.json``
        records the error).
    bayesseg.exceptions.InputError
        If no author is eligible, or the inputs are inconsistent.
    bayesseg.exceptions.ClusterError
        If `scheduler` cannot be reached.
    bayesseg.exceptions.ConvergenceError
        With `strict`, if the fit fails the convergence rule.
    """
    write_back = spec.output.write_back if write_back is None else write_back
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    if scheduler:
        check_scheduler(scheduler)
    timings: dict[str, float] = {}
    peaks: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(key: str) -> Iterator[Any]:
        start = time.perf_counter()
        with stage(dict(RUN_STAGES)[key]) as progress:
            # the stage's progress callback; nullcontext (the default) yields its argument, the description
            yield progress if callable(progress) else None
        timings[key] = time.perf_counter() - start
        if resource is not None:  # the peak so far: kilobytes on Linux
            peaks[key] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    with StagedFolder(Path(out)) as folder:
        result = _compute(
            source, spec, taxonomy, folder, timed, progressbar, dask or bool(scheduler), scheduler, margins
        )
        result.timings, result.peak_memory_gb = timings, peaks
        result.write_back = write_back and (result.convergence is None or result.convergence.passed or not strict)
        with timed("report"):
            _save_outputs(result, folder)
        folder.publish()
    if result.write_back:
        _write_back(source, spec, result, timed)
    if strict and result.convergence is not None and not result.convergence.passed:
        raise ConvergenceError(
            f"the fit fails the convergence rule ({'; '.join(result.convergence.failures)}); the output folder "
            f"{result.out} holds the run, the warehouse was not written"
        )
    return result


def _compute(
    source: Source,
    spec: RunSpec,
    taxonomy: Taxonomy,
    folder: StagedFolder,
    timed: Callable[[str], AbstractContextManager[Any]],
    progressbar: bool,
    dask: bool,
    scheduler: str | None,
    margins: Margins | None = None,
) -> RunResult:
    """Every stage up to the trend series: what the run knows before it writes anything that lasts."""
    paths: dict[str, Path] = {}
    with timed("schema"):
        check_schema(source)
    with timed("quality"):
        quality = data_quality(source, taxonomy, box_format=spec.trends.box_format, item_iou=spec.trends.item_iou)
        write_quality_html(quality, folder.file("data_quality.html"))
        paths["data_quality"] = folder.final("data_quality.html")
    with timed("aggregate"):
        counts_long = author_category_counts(source, taxonomy)
        covariates = author_covariates(source, spec.tier_thresholds)
        counts_long.to_parquet(folder.file("counts.parquet"), index=False)
        covariates.to_parquet(folder.file("covariates.parquet"), index=False)
        paths["counts"], paths["covariates"] = folder.final("counts.parquet"), folder.final("covariates.parquet")
    with timed("inputs"):
        inputs = model_inputs(
            counts_long, covariates, spec.covariates, taxonomy.category_names, min_labels=spec.min_labels
        )
        inputs, taxonomy, folded = fold_rare_categories(inputs, taxonomy, spec.min_category_authors)
    with timed("fit"):
        fit = fit_segmentation(inputs, spec, taxonomy, progressbar=progressbar)
    model = fit.model
    fitted_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_id = model_id(spec, model, fitted_at)
    ci_prob = spec.output.ci_prob
    with timed("score"):
        memberships = _score(model, inputs, ci_prob, dask, scheduler)
        tables = result_tables(model, memberships, inputs, run_id, fitted_at, ci_prob)
        # segment sizes by current tier, each author's segment drawn within each posterior draw
        assignments = model.assignment_counts(inputs.counts, inputs.covariates, inputs.authors["current_tier"])
    with timed("check"):
        converged = model.convergence()
        ppc = model.posterior_predictive(
            spec.output.ppc_authors, spec.output.ppc_draws, seed=int(spec.sampler.get("random_seed", 0))
        )
        checks = predictive_checks(ppc)
        truth = read_truth(source)
        validation = truth_validation(model, memberships, truth, ci_prob) if truth is not None else None
    trends = trends_error = None
    if spec.trends.trends:
        with timed("trends") as progress:
            try:
                trends = compute_trends(
                    source, spec, inputs, model, progress=progress, margins=margins, box_format=quality.box_format
                )
            except (WeightsError, InputError) as exc:
                trends_error = str(exc)
        if trends is not None:
            tables.update(trend_tables(trends, run_id))
    return RunResult(
        spec=spec,
        out=folder.out,
        source=source.describe(),
        quality=quality,
        inputs=inputs,
        fit=fit,
        memberships=memberships,
        tables=tables,
        written={},
        ppc=ppc,
        predictive_checks=checks,
        validation=validation,
        model_id=run_id,
        fitted_at=fitted_at,
        timings={},
        paths=paths,
        trends=trends,
        trends_error=trends_error,
        convergence=converged,
        assignments=assignments,
        folded_categories=folded,
        # a table this run could not rebuild is removed: left in place, another model's rows would read as this one's
        dropped=[TREND_TABLE, LEAD_TABLE] if spec.trends.trends and trends is None else [],
    )


def _score(model: SegmentModel, inputs: ModelInputs, ci_prob: float, dask: bool, scheduler: str | None) -> xr.Dataset:
    """Memberships of every eligible author, in memory or on Dask (the same bits)."""
    if not dask:
        return model.predict_memberships(inputs.counts, inputs.covariates, ci_prob=ci_prob)
    with dask_client(scheduler):
        return score_dask(model, inputs.counts, inputs.covariates, ci_prob=ci_prob).compute()


def _save_outputs(result: RunResult, folder: StagedFolder) -> None:
    """The saved model, the run's CSV files, the report and run.json, into the staging folder."""
    files = {"model": "model.nc", "memberships": "memberships.csv", "excluded": "excluded.csv"}
    result.fit.model.save(folder.file(files["model"]))
    membership_table(result.memberships).to_csv(folder.file(files["memberships"]), index=False)
    result.inputs.excluded.to_csv(folder.file(files["excluded"]), index=False)
    if TREND_TABLE in result.tables:
        files["trend_series"] = "trend_series.csv"
        result.tables[TREND_TABLE].to_csv(folder.file(files["trend_series"]), index=False)
    if LEAD_TABLE in result.tables:
        files["panel_lead"] = "panel_lead.csv"
        result.tables[LEAD_TABLE].to_csv(folder.file(files["panel_lead"]), index=False)
    if result.trends is not None and result.trends.decomposition is not None:
        files["panel_decomposition"] = "panel_decomposition.csv"
        result.trends.decomposition.to_csv(folder.file(files["panel_decomposition"]))
    if result.fit.comparison is not None:
        files["loo"] = "loo.csv"
        result.fit.comparison.to_csv(folder.file(files["loo"]), index_label="model")
    files["report"], files["run"] = "report.html", "run.json"
    result.paths.update({key: folder.final(name) for key, name in files.items()})
    write_report(result, folder.file(files["report"]))
    write_json(folder.file(files["run"]), result.summary())


def _write_back(
    source: Source, spec: RunSpec, result: RunResult, timed: Callable[[str], AbstractContextManager[None]]
) -> None:
    """The result tables into the warehouse, last: all or none; ``run.json`` then says which."""
    try:
        with timed("write"):
            raise_if_interrupted()
            result.stale_staging = source.drop_stale_staging(spec.output.schema)
            result.written = source.write_tables(result.tables, spec.output.schema, drop=result.dropped)
    except SourceError as exc:  # the warehouse keeps its previous tables
        result.write_error = str(exc)
        raise SourceError(f"{exc}; the warehouse keeps its previous tables and {result.out} holds this run") from exc
    except BaseException as exc:  # an interrupt: the same
        result.write_error = f"interrupted ({type(exc).__name__})"
        raise
    finally:
        write_json(result.paths["run"], result.summary())
