"""Scoring at scale: memberships of millions of authors on Dask, streamed from the warehouse.

Scoring an author needs only its label counts, its covariates and the stored (thinned)
posterior, so it is embarrassingly parallel. :func:`score_dask` computes memberships with xarray
chunked along ``author`` (each chunk a Dask task, on a local cluster or an existing one);
:func:`score_source` streams authors from the warehouse in batches, scores each batch on Dask and
writes the result tables back batch by batch, so memory is bounded by the batch size and never
by the number of authors. Every author's memberships depend on that author alone, so the
results are bit-for-bit those of :meth:`bayesseg.model.SegmentModel.predict_memberships`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from bayesseg.config import RunSpec
from bayesseg.data.inputs import ModelInputs, fit_imputation, stream_inputs
from bayesseg.data.sources import Source
from bayesseg.exceptions import ClusterError, InputError
from bayesseg.model.scoring import membership_dataset, membership_summary
from bayesseg.model.segment_model import SegmentModel
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.tables import author_segment_rows, excluded_rows, segment_profile_rows

__all__ = ["ScoreSummary", "check_scheduler", "dask_client", "score_dask", "score_source"]


def _score_block(
    counts: np.ndarray, x: np.ndarray, params: dict[str, np.ndarray], *, ci_prob: float, batch_authors: int
) -> np.ndarray:
    """Membership statistics of one chunk (author, segment, 4), in sub-batches bounding memory."""
    return membership_summary(params, counts, x, ci_prob, batch_authors)


def score_dask(
    model: SegmentModel,
    counts: xr.DataArray,
    covariates: xr.DataArray | None = None,
    *,
    ci_prob: float = 0.9,
    max_draws: int | None = None,
    chunk_authors: int = 25_000,
    batch_authors: int = 2_000,
) -> xr.Dataset:
    """Membership summaries computed lazily on Dask, chunked along ``author``.

    The same statistics as :meth:`bayesseg.model.SegmentModel.predict_memberships` (bit for bit); the
    result is a Dask-backed ``xarray.Dataset``: call ``.compute()`` (on the active Dask
    client or scheduler) or write it chunk by chunk.

    Parameters
    ----------
    model : SegmentModel
        A fitted or loaded model.
    counts : xarray.DataArray, dims (author, category)
        Label counts with the model's categories (NumPy- or Dask-backed).
    covariates : xarray.DataArray, dims (author, covariate), optional
        Raw covariates (standardised with the fit's means and standard deviations).
    ci_prob : float, default 0.9
        Probability mass of the equal-tailed interval.
    max_draws : int, optional
        Thin the posterior to at most this many draws (default ``membership_draws``).
    chunk_authors : int, default 25000
        Authors per Dask chunk (one task each).
    batch_authors : int, default 2000
        Authors per NumPy batch inside a task: a task's memory is about
        ``batch_authors × draws × segments × 8`` bytes times a small constant.

    Returns
    -------
    xarray.Dataset
        ``prob_mean``, ``prob_low``, ``prob_high``, ``p_modal`` (author, segment),
        ``entropy`` and ``p_misassigned`` (author), chunked along ``author``.

    Raises
    ------
    bayesseg.exceptions.InputError
        If categories or covariates do not match the model, counts are malformed, or a chunk
        size is not positive.
    RuntimeError
        If the model is not fitted.

    References
    ----------
    Rocklin, M. (2015). Dask: parallel computation with blocked algorithms and task scheduling.
    *Proceedings of the 14th Python in Science Conference*, 126-132.
    https://doi.org/10.25080/Majora-7b98e3ed-013
    """
    if chunk_authors < 1 or batch_authors < 1:
        raise InputError(f"chunk sizes must be positive, got chunk_authors={chunk_authors}, batch={batch_authors}")
    import dask
    import dask.array as da

    counts, authors, x = model.scoring_inputs(counts, covariates)
    segs = model.segment_names
    # the thinned posterior is one node of the graph, shared by every task (not copied into each)
    params = dask.delayed(model.posterior_draws(max_draws), pure=True)
    y = da.asarray(counts.data).rechunk((chunk_authors, -1))
    xx = da.asarray(np.asarray(x, dtype=float)).rechunk((y.chunks[0], -1))
    stats = da.map_blocks(
        _score_block,
        y,
        xx,
        params,
        ci_prob=ci_prob,
        batch_authors=batch_authors,
        chunks=(y.chunks[0], (len(segs),), (4,)),
        new_axis=2,
        dtype=float,
        meta=np.empty((0, 0, 0)),
    )
    return membership_dataset(stats, authors, segs, ci_prob)


def _connect(scheduler: str, timeout: float) -> Any:
    from distributed import Client  # Dask takes about a second to import: loaded when a cluster is used

    try:
        return Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s ({reason})") from None


def check_scheduler(scheduler: str, timeout: float = 10.0) -> None:
    """Connect to a Dask scheduler and disconnect: a job checks it before its long stages, not after them.

    Parameters
    ----------
    scheduler : str
        Address of the scheduler (e.g. ``tcp://10.0.0.5:8786``).
    timeout : float, default 10
        Seconds to wait.

    Raises
    ------
    bayesseg.exceptions.ClusterError
        If it cannot be reached; the message names the address.
    """
    _connect(scheduler, timeout).close()


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None, timeout: float = 10.0) -> Iterator[Any]:
    """A Dask client: to the scheduler at `scheduler`, else on a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. ``tcp://10.0.0.5:8786``).
    n_workers : int, optional
        Workers of the local cluster (default: one per core, one thread each).
    timeout : float, default 10
        Seconds to wait for the scheduler.

    Yields
    ------
    distributed.Client
        Closed (and the local cluster shut down) on exit.

    Raises
    ------
    bayesseg.exceptions.ClusterError
        If the scheduler cannot be reached within `timeout` seconds (the message names the address).
    """
    from distributed import Client, LocalCluster  # about a second to import: loaded when a cluster is used

    if scheduler:
        client = _connect(scheduler, timeout)
        try:
            yield client
        finally:
            client.close()
        return
    workers = n_workers or os.cpu_count() or 1
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


@dataclass
class ScoreSummary:
    """What :func:`score_source` did.

    Attributes
    ----------
    authors : int
        Authors read from the warehouse.
    segmented : int
        Authors scored (rows of AUTHOR_SEGMENTS: ``segmented × segments``).
    excluded : dict of str to int
        Authors not scored, per reason (rows of EXCLUDED_AUTHORS).
    batches : int
        Batches streamed.
    written : dict of str to int
        Rows written per table (empty when nothing was written).
    seconds : dict of str to float
        Wall time reading (warehouse and input building), waiting for the Dask workers' scores
        (they score one batch while the next is read and the previous one written), and writing.
    imputation : dict of str to list of float
        The imputation coefficients used.
    stale_staging : list of str
        Tables whose staging copy an interrupted earlier job had left, removed before writing.
    """

    authors: int = 0
    segmented: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    written: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "score": 0.0, "write": 0.0})
    imputation: dict[str, list[float]] = field(default_factory=dict)
    stale_staging: list[str] = field(default_factory=list)


def score_source(
    model: SegmentModel,
    source: Source,
    spec: RunSpec,
    taxonomy: Taxonomy,
    *,
    model_id: str,
    fitted_at: dt.datetime | None = None,
    schema: str | None = None,
    batch_authors: int = 100_000,
    chunk_authors: int = 25_000,
    imputation: dict[str, np.ndarray] | None = None,
    aggregates: str | None = None,
    max_draws: int | None = None,
    on_batch: Callable[[xr.Dataset, ModelInputs], None] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ScoreSummary:
    """Score every author of a warehouse in batches on Dask and write the results back.

    Authors are streamed (:func:`bayesseg.data.inputs.stream_inputs`), each batch is scored by :func:`score_dask` on
    the current Dask client (:func:`dask_client`; the threaded scheduler when there is none), and
    its AUTHOR_SEGMENTS and EXCLUDED_AUTHORS rows are appended to staging tables that replace the
    previous tables whole at the end (:meth:`bayesseg.data.sources.Source.batch_writer`), with
    SEGMENT_PROFILES. Memory is bounded by `batch_authors`.

    Parameters
    ----------
    model : SegmentModel
        The fitted or loaded model.
    source : bayesseg.data.sources.Source
        The warehouse (opened writable unless `schema` is ``None``).
    spec : bayesseg.config.RunSpec
        Covariates, tiers, ``min_labels``, ``output.ci_prob``.
    taxonomy : bayesseg.taxonomy.Taxonomy
        The taxonomy of the model.
    model_id : str
        Written in every row.
    fitted_at : datetime.datetime, optional
        When the model was fitted (default: now, UTC).
    schema : str, optional
        Schema to write to; ``None`` writes nothing (see `on_batch`).
    batch_authors : int, default 100000
        Authors per streamed batch.
    chunk_authors : int, default 25000
        Authors per Dask task.
    imputation : dict of str to numpy.ndarray, optional
        Imputation coefficients; fitted by a first pass (:func:`bayesseg.data.inputs.fit_imputation`) when the
        specification imputes a covariate and none are given.
    aggregates : str, optional
        Schema of materialised aggregates (see :func:`bayesseg.data.inputs.stream_inputs`).
    max_draws : int, optional
        Posterior draws used (default the model's ``membership_draws``).
    on_batch : callable, optional
        Called with each batch's memberships and inputs (e.g. to keep them, or write a file).
    progress : callable, optional
        Called as ``progress(message, fraction)``; the fraction is ``nan`` (the number of
        authors is not known in advance).

    Returns
    -------
    ScoreSummary

    Raises
    ------
    bayesseg.exceptions.InputError
        As :func:`bayesseg.data.inputs.stream_inputs`, or if the model's categories differ from the taxonomy's.
    bayesseg.exceptions.SourceError
        If a query or a write fails; the previous result tables are then left in place.
    """
    taxonomy = taxonomy.fold_like(model.categories_)  # as the fit folded its rare categories
    if list(model.categories_) != list(taxonomy.category_names):
        raise InputError("the model's categories differ from the taxonomy's: was it fitted with another taxonomy?")
    say = progress or (lambda msg, frac: None)
    fitted_at = fitted_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    ci_prob = float(spec.output.ci_prob)
    summary = ScoreSummary()
    if imputation is None and any(c.missing == "impute" for c in spec.covariates):
        start = time.perf_counter()
        imputation = fit_imputation(source, spec, taxonomy, batch_authors=batch_authors, aggregates=aggregates)
        summary.seconds["read"] += time.perf_counter() - start
    imputation = imputation or {}
    summary.imputation = {k: [float(v) for v in c] for k, c in imputation.items()}
    try:
        from distributed import get_client

        client: Any = get_client()
    except (ImportError, ValueError):  # no Dask client: the threaded scheduler, one batch at a time
        client = None

    def submit(inputs: ModelInputs) -> Any:
        if not inputs.counts.sizes["author"]:
            return membership_dataset(
                np.empty((0, model.n_segments, 4)), np.empty(0, dtype=np.int64), model.segment_names, ci_prob
            )
        lazy = score_dask(
            model, inputs.counts, inputs.covariates, ci_prob=ci_prob, max_draws=max_draws, chunk_authors=chunk_authors
        )
        return lazy.compute() if client is None else client.compute(lazy)

    def finish(scored: Any, inputs: ModelInputs, w: Any) -> None:
        start = time.perf_counter()
        memberships = scored if isinstance(scored, xr.Dataset) else scored.result()
        summary.seconds["score"] += time.perf_counter() - start
        summary.segmented += memberships.sizes["author"]
        if on_batch is not None:
            on_batch(memberships, inputs)
        if w is not None:
            start = time.perf_counter()
            w.append("AUTHOR_SEGMENTS", author_segment_rows(memberships, inputs, model_id, fitted_at))
            w.append("EXCLUDED_AUTHORS", excluded_rows(inputs, model_id))
            summary.seconds["write"] += time.perf_counter() - start
        say(f"scored {summary.segmented:,} authors ({summary.batches} batches)", float("nan"))

    writer = source.batch_writer(schema) if schema is not None else contextlib.nullcontext()
    with writer as w:
        if w is not None:
            summary.stale_staging = list(w.stale)
        batches = stream_inputs(
            source, spec, taxonomy, batch_authors=batch_authors, imputation=imputation, aggregates=aggregates
        )
        in_flight: tuple[Any, ModelInputs] | None = None
        while True:
            # the workers score batch b while this process reads batch b + 1 and writes batch b - 1
            start = time.perf_counter()
            inputs = next(batches, None)
            summary.seconds["read"] += time.perf_counter() - start
            if inputs is None:
                break
            summary.batches += 1
            summary.authors += len(inputs.authors)
            for reason, n in inputs.excluded["reason"].value_counts().items():
                summary.excluded[str(reason)] = summary.excluded.get(str(reason), 0) + int(n)
            scored = submit(inputs)
            if in_flight is not None:
                finish(*in_flight, w)
            in_flight = (scored, inputs)
        if in_flight is not None:
            finish(*in_flight, w)
        if w is not None:
            start = time.perf_counter()
            w.append("SEGMENT_PROFILES", segment_profile_rows(model, model_id, ci_prob))
            summary.seconds["write"] += time.perf_counter() - start
    if w is not None:
        summary.written = dict(w.written)
    return summary
