"""The ``bayesseg`` command line.

Commands
--------
``bayesseg simulate --size {demo,techtest} --seed N --out PATH.duckdb [--scenario NAME]``
    Write a simulated warehouse with its truth.
``bayesseg quality [--source SPEC] [--html FILE]``
    Check the schema and print the data-quality report.
``bayesseg aggregate [--source SPEC] --out DIR``
    Run the warehouse aggregations and write them as Parquet files.
``bayesseg fit --counts COUNTS.csv [--covariates COV.csv] (--k K | --k-range 2:8) --out DIR``
    Fit the segmentation model; write memberships.csv, loo.csv (with a range) and model.nc.
``bayesseg score --model DIR (--counts COUNTS.csv [--covariates COV.csv] | --source SPEC) [--out FILE]``
    Score authors from a saved model on Dask (a local cluster, or ``--scheduler ADDRESS``); with
    ``--source`` every author of the warehouse, streamed in batches, results written back.
``bayesseg run [--source SPEC] [--config models/fashion.toml] [--out DIR] [--no-write-back] [--dry-run]``
    The main job, on the embedded default unless ``--source`` says otherwise: quality report,
    aggregation, fit, memberships, result tables written back, report.html, model.nc.

``SPEC`` is ``duckdb:PATH``, ``snowflake`` or ``snowflake:CONNECTION``. Errors print one clear
line and exit with status 2; no stack trace unless ``BAYESSEG_DEBUG=1``. Ctrl-C prints ``interrupted`` and
exits with status 130, leaving every output as it was before the command (outputs are written through
temporary names, and the warehouse in one transaction).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from bayesseg._interrupts import catching_interrupts, release_interrupted
from bayesseg._progress import ProgressLines
from bayesseg._version import __version__
from bayesseg.config import RunSpec, default_spec_path
from bayesseg.data.aggregate import aggregate
from bayesseg.data.connect import default_warehouse_path, open_source
from bayesseg.data.count_files import read_counts_csv, read_covariates_csv
from bayesseg.data.inputs import ModelInputs, fold_counts, fold_rare_categories, load_inputs
from bayesseg.data.quality import check_schema, data_quality
from bayesseg.data.sources import Source
from bayesseg.evaluation.content import post_counts, rank_posts
from bayesseg.exceptions import BayessegError, ConvergenceError, WeightsError
from bayesseg.model.diagnostics import Convergence
from bayesseg.model.segment_model import SegmentModel
from bayesseg.model.selection import compare_k
from bayesseg.simulate.scenario import SCENARIOS
from bayesseg.simulate.warehouse import simulate_warehouse
from bayesseg.survey.margins import Margins, read_margins
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.html import write_quality_html
from bayesseg.workflow.outputs import StagedFolder, write_json
from bayesseg.workflow.pipeline import RUN_STAGES, compute_trends, ensure_warehouse, fit_segmentation, run_job
from bayesseg.workflow.results import RunResult
from bayesseg.workflow.scale import dask_client, score_dask, score_source
from bayesseg.workflow.tables import LEAD_TABLE, TREND_TABLE, membership_table, model_id, trend_tables

__all__ = ["main"]

console = Console(stderr=True)


class CLIError(BayessegError):
    """A command-line usage error shown to the user as one line."""


def _live() -> bool:
    """Whether progress shows as rich's live bars (a terminal, or ``BAYESSEG_PROGRESS=1``); else as lines."""
    return console.is_terminal or os.environ.get("BAYESSEG_PROGRESS") == "1"


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str, float], None]]:
    if not _live():  # a log: a line at each tenth and every 30 s (bayesseg._progress)
        with ProgressLines(description, console.file) as lines:
            yield lines
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=1.0, note="")

        def update(note: str, fraction: float) -> None:
            progress.update(task, completed=fraction, note=note)

        yield update


@contextmanager
def _stage(name: str) -> Iterator[Callable[[str, float], None] | None]:
    """Print a stage's name and its time; in a log, its progress lines (a stage yields their callback)."""
    start = time.perf_counter()
    console.print(f"[bold cyan]▶ {name}[/]")
    if _live():
        yield None
    else:
        with ProgressLines("", console.file) as lines:
            yield lines
    console.print(f"  done in {time.perf_counter() - start:.1f} s")


def _cmd_simulate(args: argparse.Namespace) -> int:
    size: str | int = int(args.authors) if args.authors else args.size
    with _progress(f"simulating {size} warehouse") as update:
        result = simulate_warehouse(
            args.out,
            size,  # type: ignore[arg-type]
            seed=args.seed,
            overwrite=args.overwrite,
            progress=update,
            scenario=SCENARIOS[args.scenario],
        )
    for table, n in result.row_counts.items():
        console.print(f"  {table:40s} {n:>12,} rows")
    print(f"{result.path}\t{result.checksum}")
    return 0


def _open(spec: str | None, read_only: bool = True, memory_limit: str | None = None) -> Source:
    # Snowflake connections have no read-only mode or memory limit here: privileges and the warehouse decide
    kwargs: dict[str, Any] = {}
    if not (spec or "").startswith("snowflake"):
        kwargs = (
            {"read_only": read_only} if memory_limit is None else {"read_only": read_only, "memory_limit": memory_limit}
        )
    if spec is None and not default_warehouse_path().exists():
        console.print(f"embedded warehouse {default_warehouse_path()} is missing: simulating a demo warehouse")
        with _progress("simulating demo warehouse") as update:
            ensure_warehouse(progress=update)
    return open_source(spec, **kwargs)


def _cmd_quality(args: argparse.Namespace) -> int:
    taxonomy = Taxonomy.from_toml(args.taxonomy)
    with _open(args.source) as source:
        check_schema(source)
        report = data_quality(source, taxonomy)
    print(report)
    if args.html:
        write_quality_html(report, args.html)
    return 0


def _write_aggregates(source: Source, taxonomy: Taxonomy, out: Path) -> dict[str, int]:
    aggregates = aggregate(source, taxonomy)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in vars(aggregates).items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
        written[name] = len(frame)
    return written


def _cmd_aggregate(args: argparse.Namespace) -> int:
    taxonomy = Taxonomy.from_toml(args.taxonomy)
    with _open(args.source) as source:
        written = _write_aggregates(source, taxonomy, Path(args.out))
    for name, n in written.items():
        console.print(f"  {args.out}/{name}.parquet: {n:,} rows")
    return 0


def _spec(args: argparse.Namespace) -> RunSpec:
    """The run specification of ``--config``, with ``--taxonomy`` when given."""
    spec = RunSpec.from_toml(args.config)
    return spec.replace(taxonomy=Path(args.taxonomy)) if args.taxonomy else spec


TARGET_HELP = (
    "population the trend series speak for: all (the warehouse's authors, default) or margins:FILE, the platform's "
    "known margins (CSV variable,level,share; docs/trends.md): adds a 'platform' panel calibrated to them"
)


def _target(text: str) -> Margins | None:
    """``--target``: ``all`` (None) or ``margins:FILE`` (read and checked now, before any work)."""
    if text == "all":
        return None
    kind, sep, path = text.partition(":")
    if kind != "margins" or not sep or not path:
        raise CLIError(f"--target must be 'all' or 'margins:FILE', got {text!r}")
    try:
        return read_margins(path)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    margins = _target(args.target)
    write_back = spec.output.write_back and not args.no_write_back
    out = Path(args.out)
    if args.dry_run:
        print(
            f"bayesseg run would, with source {args.source or 'the embedded default'}, "
            f"specification {args.config or default_spec_path()} and output {out}:"
        )
        print("  0. source: open the warehouse (the embedded default is simulated when missing)")
        for i, (name, what) in enumerate(RUN_STAGES, 1):
            if name == "write" and not write_back:
                what = "skipped (write-back off)"
            print(f"  {i}. {name}: {what}")
        print(f"  K: {spec.k_values}; anchored segments: {', '.join(spec.anchors) or 'none'}")
        return 0
    with _stage("open the warehouse"):
        source = _open(args.source, read_only=not write_back)
        console.print(f"  {source.describe()}")
    with source:
        result = run_job(
            source,
            spec,
            out,
            stage=_stage,
            progressbar=console.is_terminal,
            write_back=write_back,
            dask=args.dask,
            scheduler=args.scheduler,
            strict=args.strict,
            margins=margins,
        )
    _print_run(result)
    return 0


def _warn(text: str) -> None:
    console.print(Text("warning: ", style="yellow") + Text(text), soft_wrap=True)


def _print_run(result: RunResult) -> None:
    """What a run did, on stdout; what the user must know, as warnings on stderr."""
    schema = result.spec.output.schema
    excluded = result.inputs.excluded["reason"].value_counts()
    print(f"segmented {result.memberships.sizes['author']:,} authors into {result.fit.model.n_segments} segments")
    for reason, n in excluded.items():
        print(f"  excluded {n:,}: {reason}")
    if result.convergence is not None:
        print("\n".join(result.convergence.lines()))
    _warn_fit(result.fit.model, result.convergence)
    for check in result.predictive_checks:
        print(f"  posterior predictive check, {check.name}: {check.verdict}")
        if check.verdict == "fail":
            _warn(f"posterior predictive check of {check.name}: {check.message}")
    if result.validation is not None:
        print(f"  validation against the simulator's truth: adjusted Rand index {result.validation['ari']:.3f}")
    if result.trends_error is not None:
        _warn(f"no trend series: {result.trends_error}")
    for table in result.stale_staging:
        _warn(f"removed {schema}.{table}__BAYESSEG_STAGING, left by an interrupted earlier job")
    for table, n in result.written.items():
        print(f"  wrote {schema}.{table}: {n:,} rows")
    for table in result.dropped:
        if result.written:
            _warn(f"removed {schema}.{table} of an earlier run: this run could not rebuild it")
    for name, path in result.paths.items():
        print(f"  {name}: {path}")
    print(f"report: {result.paths['report']}")


def _k_values(args: argparse.Namespace) -> list[int]:
    if args.k is not None:
        return [args.k]
    lo, sep, hi = args.k_range.partition(":")
    if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) < 1 or int(hi) < int(lo):
        raise CLIError(f"--k-range must look like 1:8 (1 <= low <= high), got {args.k_range!r}")
    return list(range(int(lo), int(hi) + 1))


def _cmd_fit(args: argparse.Namespace) -> int:
    ks = _k_values(args)
    if args.k_jobs < 1 or (args.k_jobs > 1 and args.sampler != "nutpie"):
        raise CLIError(f"--k-jobs must be 1, or more with --sampler nutpie; got {args.k_jobs} with {args.sampler}")
    counts, excluded = read_counts_csv(args.counts)
    covariates = read_covariates_csv(args.covariates, counts["author"].values) if args.covariates else None
    out = Path(args.out)
    if len(excluded):
        console.print(f"[yellow]excluded {len(excluded)} author(s) without any count[/] (see {out / 'excluded.csv'})")
    given = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    sampler = {
        "sampler": args.sampler,
        "random_seed": args.seed,
        "progressbar": console.is_terminal,
        **{k: v for k, v in given.items() if v is not None},  # the others: DEFAULT_SAMPLER_CONFIG's
    }
    model_config = None
    if args.anchor:
        model_config = {"anchors": Taxonomy.from_toml(args.taxonomy).anchors(args.anchor)}
    console.print(f"fitting {counts.sizes['author']:,} authors × {counts.sizes['category']} categories, K = {ks}")
    with StagedFolder(out) as folder:  # the folder is replaced whole at the end: an interrupted fit leaves it as it was
        excluded.to_csv(folder.file("excluded.csv"), index=False)
        if len(ks) == 1:
            model = SegmentModel(ks[0], model_config, sampler).fit(counts, covariates)
        else:
            comparison = compare_k(
                counts, covariates, ks, model_config=model_config, sampler_config=sampler, n_jobs=args.k_jobs
            )
            comparison.table.to_csv(folder.file("loo.csv"), index_label="model")
            model = comparison.best
            console.print(f"kept K={comparison.best_k}: {comparison.rule}; comparison in {out / 'loo.csv'}")
            if comparison.table["high_pareto_k"].any() and comparison.criterion != "kfold":
                _warn("some authors have a high Pareto k: PSIS-LOO is unreliable for them (see loo.csv)")
        converged = model.convergence()
        write_json(folder.file("convergence.json"), converged.to_dict())
        membership_table(model.memberships()).to_csv(folder.file("memberships.csv"), index=False)
        model.save(folder.file("model.nc"))
        folder.publish()
    print("\n".join(converged.lines()))
    print(f"{out / 'memberships.csv'}\n{out / 'model.nc'}\n{out / 'convergence.json'}")
    if args.strict and not converged.passed:
        raise ConvergenceError(f"the fit fails the convergence rule: {'; '.join(converged.failures)}")
    _warn_fit(model, converged)
    return 0


def _warn_fit(model: SegmentModel, converged: Convergence | None) -> None:
    """The warnings every fit owes its user: a failed convergence rule, draws from another labelling."""
    if converged is not None and not converged.passed:
        _warn("the fit fails the convergence rule: read its intervals with care, or refit with more tuning")
    if model.relabelled_draws_:
        _warn(
            f"{model.relabelled_draws_:,} draws had their segment labels permuted (a draw from another labelling "
            "or mode of the mixture): compare the chains before trusting the profiles"
        )


def _cmd_score(args: argparse.Namespace) -> int:
    model = SegmentModel.load(args.model)
    if args.source is not None:
        return _score_source(args, model)
    if not args.out:
        raise CLIError("score --counts needs --out (the memberships CSV)")
    counts, excluded = read_counts_csv(args.counts)
    # a file with the taxonomy's categories: those the fit folded for too few authors are folded alike
    counts = fold_counts(counts, Taxonomy.from_toml(args.taxonomy), model.categories_)
    covariates = read_covariates_csv(args.covariates, counts["author"].values) if args.covariates else None
    if len(excluded):
        console.print(f"[yellow]not scored: {len(excluded)} author(s) without any count[/]")
    with _stage("score on Dask"), dask_client(args.scheduler, args.workers):
        scores = score_dask(model, counts, covariates, chunk_authors=args.chunk_authors, max_draws=args.draws).compute()
    membership_table(scores).to_csv(args.out, index=False)
    print(args.out)
    return 0


def _score_source(args: argparse.Namespace, model: SegmentModel) -> int:
    spec = _spec(args)
    run_id, run_info = _run_info(args.model, spec, model)
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    imputation = run_info.get("imputation")
    if imputation is not None:
        console.print("  imputation coefficients: those of the fit (run.json)")
    write_back = not args.no_write_back
    schema = args.schema or spec.output.schema
    fitted_at = dt.datetime.fromisoformat(run_info["fitted_at"]) if "fitted_at" in run_info else None
    out = Path(args.out) if args.out else None
    if out is not None:
        out.unlink(missing_ok=True)

    def keep(memberships: xr.Dataset, inputs: ModelInputs) -> None:
        if out is not None:
            membership_table(memberships).to_csv(out, mode="a", header=not out.exists(), index=False)

    with _stage("open the warehouse"):
        source = _open(args.source, read_only=not write_back, memory_limit=args.duckdb_memory)
        console.print(f"  {source.describe()}")
    with source, _stage("stream, score on Dask, write back"), _progress("scoring") as update:
        with dask_client(args.scheduler, args.workers) as client:
            console.print(f"  Dask: {client.dashboard_link if args.scheduler else 'local cluster'}")
            summary = score_source(
                model,
                source,
                spec,
                taxonomy,
                model_id=run_id,
                fitted_at=fitted_at,
                schema=schema if write_back else None,
                batch_authors=args.batch_authors,
                chunk_authors=args.chunk_authors,
                imputation={k: np.asarray(v) for k, v in imputation.items()} if imputation else None,
                aggregates=args.aggregates,
                max_draws=args.draws,
                on_batch=keep,
                progress=lambda msg, frac: update(msg, 0.0),
            )
    for table in summary.stale_staging:
        _warn(f"removed {schema}.{table}__BAYESSEG_STAGING, left by an interrupted earlier job")
    print(f"scored {summary.segmented:,} of {summary.authors:,} authors in {summary.batches} batches")
    for reason, n in summary.excluded.items():
        print(f"  excluded {n:,}: {reason}")
    for table, n in summary.written.items():
        print(f"  wrote {schema}.{table}: {n:,} rows")
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items()))
    if out is not None:
        print(out)
    return 0


def _run_info(path: str, spec: RunSpec, model: SegmentModel) -> tuple[str, dict[str, Any]]:
    """The model id and the run.json of a saved model's run folder (``{}`` without one)."""
    run_dir = Path(path) if Path(path).is_dir() else Path(path).parent
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    return str(info.get("model_id") or model_id(spec, model)), info


def _cmd_trends(args: argparse.Namespace) -> int:
    spec = _spec(args)
    if args.series:
        spec = spec.replace(trends=spec.trends.with_series(args.series))
    margins = _target(args.target)
    if not spec.trends.trends:
        raise CLIError(f"the specification {spec.path or '(default)'} declares no trend: add [trends] series")
    write_back = spec.output.write_back and not args.no_write_back
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with _stage("open the warehouse"):
        source = _open(args.source, read_only=not write_back)
        console.print(f"  {source.describe()}")
    with source:
        if args.model:
            with _stage(f"load the fitted model {args.model}"):
                model = SegmentModel.load(args.model)
            # the categories the model folded for too few authors, folded here alike
            taxonomy = taxonomy.fold_like(model.categories_)
        with _stage("aggregate in the warehouse and build the model's inputs"):
            inputs = load_inputs(source, spec, taxonomy)
        if not args.model:
            inputs, taxonomy, _ = fold_rare_categories(inputs, taxonomy, spec.min_category_authors)
            with _stage("fit the segmentation model (no --model given)"):
                model = fit_segmentation(inputs, spec, taxonomy, progressbar=console.is_terminal).model
        with _stage("trend series of every panel, raw and corrected, with bootstrap bands") as progress:
            try:
                result = compute_trends(source, spec, inputs, model, progress=progress, margins=margins)
            except WeightsError as exc:
                raise CLIError(f"the panel cannot be weighted: {exc}") from None
        assert result is not None
        tables = trend_tables(result, _run_info(args.model, spec, model)[0] if args.model else model_id(spec, model))
        tables[TREND_TABLE].to_csv(out / "trend_series.csv", index=False)
        tables[LEAD_TABLE].to_csv(out / "panel_lead.csv", index=False)
        assert result.decomposition is not None
        result.decomposition.to_csv(out / "panel_decomposition.csv")
        if write_back:
            with _stage(f"write {spec.output.schema}.{TREND_TABLE} and {LEAD_TABLE} back to the warehouse"):
                written = source.write_tables(tables, spec.output.schema)
            for name, n in written.items():
                console.print(f"  wrote {spec.output.schema}.{name}: {n:,} rows")
    sm = result.summary
    console.print(
        f"{len(spec.trends.trends)} trend(s) x {result.series.sizes['panel']} panels x "
        f"{result.series.sizes['week']} weeks; fashion-forward panel {sm['panel_authors']:,} of "
        f"{sm['target_authors']:,} authors, weighting {sm['weighting']}, "
        f"design effect {sm['design_effect_after_trim']:.2f}"
    )
    for w in result.warnings:
        _warn(w)
    print(out / "trend_series.csv")
    print(out / "panel_lead.csv")
    print(out / "panel_decomposition.csv")
    return 0


def _cmd_rank(args: argparse.Namespace) -> int:
    model = SegmentModel.load(args.model)
    posts = Path(args.posts)
    if not posts.is_file():
        raise FileNotFoundError(f"posts file {posts} not found")
    taxonomy = Taxonomy.from_toml(args.taxonomy).fold_like(model.categories_)  # as the fit folded rare ones
    counts, excluded, ignored = post_counts(pd.read_csv(posts), taxonomy)
    if len(ignored):
        shown = ", ".join(f"{r.TYPE}:{r.LABEL_NAME} ({r.rows})" for r in ignored.head(5).itertuples())
        _warn(
            f"{int(ignored['rows'].sum()):,} label row(s) without a category were left out "
            f"({len(ignored)} distinct label(s): {shown}{', ...' if len(ignored) > 5 else ''}); "
            "unknown to the taxonomy or excluded by it"
        )
    if len(excluded):
        _warn(f"not ranked: {len(excluded)} post(s) without a label with a category")
    if counts.empty:
        raise CLIError("no post has a label with a category: nothing to rank")
    ranked = rank_posts(model, counts, args.segment)
    out = pd.concat([ranked.reset_index(), excluded], ignore_index=True)
    out.to_csv(args.out, index=False)
    print(args.out)
    return 0


SOURCE_HELP = "duckdb:PATH, snowflake or snowflake:CONNECTION (default: the embedded DuckDB warehouse)"
TAXONOMY_HELP = "taxonomy TOML (default: the shipped models/taxonomy.toml)"


def _add_warehouse_commands(sub: Any) -> None:
    s = sub.add_parser("simulate", help="write a simulated TECHTEST warehouse with its truth")
    s.add_argument("--size", choices=["demo", "techtest"], default="demo")
    s.add_argument("--authors", type=int, help="number of authors (overrides --size)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="target .duckdb file")
    s.add_argument("--overwrite", action="store_true", help="replace an existing file")
    s.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="in_model",
        help="conditions the trend estimators do not assume: a platform behind a crawl (its margins in "
        "TRUTH.PLATFORM_MARGINS), adopters, a panel that leads (bayesseg.simulate.scenario)",
    )
    s.set_defaults(func=_cmd_simulate)

    q = sub.add_parser("quality", help="check the schema and report data quality")
    q.add_argument("--source", help=SOURCE_HELP)
    q.add_argument("--taxonomy", help=TAXONOMY_HELP)
    q.add_argument("--html", help="also write the report as HTML")
    q.set_defaults(func=_cmd_quality)

    a = sub.add_parser("aggregate", help="run the warehouse aggregations, write Parquet")
    a.add_argument("--source", help=SOURCE_HELP)
    a.add_argument("--taxonomy", help=TAXONOMY_HELP)
    a.add_argument("--out", required=True, help="output folder")
    a.set_defaults(func=_cmd_aggregate)


def _add_model_commands(sub: Any) -> None:
    f = sub.add_parser("fit", help="fit the segmentation model to a count table")
    f.add_argument("--counts", required=True, help="CSV: id column, then one integer column per category")
    f.add_argument("--covariates", help="CSV: the same id column, then numeric covariates")
    kk = f.add_mutually_exclusive_group(required=True)
    kk.add_argument("--k", type=int, help="number of segments")
    kk.add_argument("--k-range", help="fit K in LOW:HIGH; keep the smallest K within 2 dse of the best (LOO or K-fold)")
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc", "numpyro", "advi"])
    f.add_argument("--draws", type=int, help="kept draws per chain (default: the sampler's default, 1800)")
    f.add_argument("--tune", type=int, help="warmup iterations per chain (default 300)")
    f.add_argument("--chains", type=int, help="chains (default 2)")
    f.add_argument(
        "--k-jobs",
        type=int,
        default=1,
        help="with --k-range and nutpie: K fitted (and K-fold refitted) at a time, each on --chains cores (default 1)",
    )
    f.add_argument("--seed", type=int, default=0)
    f.add_argument(
        "--anchor",
        action="append",
        help="anchor a named segment with a rule of the taxonomy (repeatable, e.g. --anchor luxury); "
        "the counts' columns must be taxonomy categories",
    )
    f.add_argument("--taxonomy", help=TAXONOMY_HELP)
    f.add_argument("--strict", action="store_true", help="exit with an error when the fit fails the convergence rule")
    f.set_defaults(func=_cmd_fit)

    sc = sub.add_parser("score", help="score authors with a fitted model, on Dask")
    sc.add_argument("--model", required=True, help="folder written by `bayesseg fit` or `run` (or its model.nc)")
    what = sc.add_mutually_exclusive_group(required=True)
    what.add_argument("--counts", help="CSV: id column, then one integer column per category")
    what.add_argument(
        "--source", help="score every author of this warehouse (duckdb:PATH, snowflake[:CONNECTION]), in batches"
    )
    sc.add_argument("--covariates", help="with --counts: CSV with the same id column, then raw covariates")
    sc.add_argument("--out", help="memberships CSV (required with --counts; optional with --source)")
    sc.add_argument(
        "--spec",
        "--config",
        dest="config",
        help="with --source: model specification TOML (default models/fashion.toml)",
    )
    sc.add_argument("--taxonomy", help=TAXONOMY_HELP)
    sc.add_argument("--schema", help="with --source: schema written to (default: the specification's)")
    sc.add_argument("--no-write-back", action="store_true", help="with --source: write nothing to the warehouse")
    sc.add_argument(
        "--aggregates", help="with --source: schema of materialised AUTHOR_CATEGORY_COUNTS and AUTHOR_COVARIATES"
    )
    sc.add_argument("--batch-authors", type=int, default=100_000, help="authors per streamed batch (default 100000)")
    sc.add_argument("--chunk-authors", type=int, default=25_000, help="authors per Dask task (default 25000)")
    sc.add_argument("--draws", type=int, help="posterior draws used per author (default: the model's membership_draws)")
    sc.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    sc.add_argument("--workers", type=int, help="workers of the local cluster (default: one per core)")
    sc.add_argument(
        "--duckdb-memory",
        default="1GB",
        help="with a DuckDB source: DuckDB's memory limit, beyond which it spills to disk (default 1GB)",
    )
    sc.set_defaults(func=_cmd_score)


def _add_job_commands(sub: Any) -> None:
    r = sub.add_parser("run", help="the main job")
    r.add_argument("--source", help=SOURCE_HELP)
    r.add_argument("--taxonomy", help=TAXONOMY_HELP)
    r.add_argument(
        "--spec", "--config", dest="config", help="model specification TOML (default: the shipped models/fashion.toml)"
    )
    r.add_argument("--out", default="runs/latest", help="output folder (default runs/latest)")
    r.add_argument("--no-write-back", action="store_true", help="do not write result tables to the warehouse")
    r.add_argument("--dry-run", action="store_true", help="list the stages without running them")
    r.add_argument("--dask", action="store_true", help="score authors on a local Dask cluster")
    r.add_argument("--scheduler", help="score authors on the Dask scheduler at this address")
    r.add_argument(
        "--strict",
        action="store_true",
        help="when the fit fails the convergence rule: write the output folder, not the warehouse; exit with an error",
    )
    r.add_argument("--target", default="all", help=TARGET_HELP)
    r.set_defaults(func=_cmd_run)

    rk = sub.add_parser("rank", help="rank new posts by how typical their labels are of a segment")
    rk.add_argument("--model", required=True, help="a saved model (model.nc or the folder of a run)")
    rk.add_argument("--posts", required=True, help="CSV with POST_ID, TYPE, LABEL_NAME (one row per label)")
    rk.add_argument("--segment", required=True, help="target segment name (e.g. luxury)")
    rk.add_argument("--taxonomy", help=TAXONOMY_HELP)
    rk.add_argument("--out", default="ranked_posts.csv", help="output CSV (default ranked_posts.csv)")
    rk.set_defaults(func=_cmd_rank)

    t = sub.add_parser("trends", help="trend series of the panels, raw and corrected for panel selection")
    t.add_argument("--source", help=SOURCE_HELP)
    t.add_argument("--taxonomy", help=TAXONOMY_HELP)
    t.add_argument(
        "--spec",
        "--config",
        dest="config",
        help="model specification TOML with a [trends] table (default: models/fashion.toml)",
    )
    t.add_argument("--model", help="a saved model (model.nc or the folder of a run); default: fit one")
    t.add_argument(
        "--series",
        nargs="+",
        metavar="TREND",
        help="trends instead of the spec's [trends] series: TYPE:LABEL_NAME terms joined by '+' (one image) or "
        "'&' (one item), e.g. 'object_detection:top & pattern:stripes'",
    )
    t.add_argument("--target", default="all", help=TARGET_HELP)
    t.add_argument(
        "--out", required=True, help="output folder: trend_series.csv, panel_lead.csv, panel_decomposition.csv"
    )
    t.add_argument(
        "--no-write-back", action="store_true", help="do not write TREND_SERIES and PANEL_LEAD to the warehouse"
    )
    t.set_defaults(func=_cmd_trends)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bayesseg", description="Bayesian segmentation of fashion accounts.")
    p.add_argument("--version", action="version", version=f"bayesseg {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_warehouse_commands(sub)
    _add_model_commands(sub)
    _add_job_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 on a user-facing error.
    """
    args = _parser().parse_args(argv)
    try:
        with catching_interrupts():
            return int(args.func(args))
    except KeyboardInterrupt as exc:
        # every output is written through a temporary name or a transaction: nothing is left half-written
        release_interrupted(exc)  # what the interrupt cut mid-construction goes now, its finalisers' errors unprinted
        console.print(Text("interrupted", style="bold red"))
        return 130
    except (BayessegError, FileExistsError, FileNotFoundError) as exc:
        if os.environ.get("BAYESSEG_DEBUG") == "1":
            raise
        # the message is plain text: brackets in it (lists of names) are not rich markup
        console.print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
