"""What the four analyses share: arguments, the warehouse, the fitted model and its memberships.

Not part of the library: a script of this folder imports it as ``_common`` (the folder is on
``sys.path`` when a script runs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr

from bayesseg import __version__
from bayesseg.config import TIER_NAMES, RunSpec
from bayesseg.data.connect import default_warehouse_path, open_source
from bayesseg.data.inputs import ModelInputs, fold_rare_categories, load_inputs
from bayesseg.data.sources import Source
from bayesseg.evaluation.metrics import predictive_auc
from bayesseg.evaluation.truth import SimulatorTruth, read_truth
from bayesseg.model import SegmentModel
from bayesseg.survey.margins import Margins, read_margins
from bayesseg.survey.panel import POOLED
from bayesseg.survey.trends import TrendResult
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.html import HtmlDocument
from bayesseg.workflow.pipeline import ensure_warehouse, fit_segmentation

matplotlib.use("Agg")  # the analyses write figures into HTML files; no window opens

OUT = Path(__file__).parent / "out"
TIERS = TIER_NAMES


def parse_args(name: str, description: str) -> argparse.Namespace:
    """The options every analysis takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument(
        "--source",
        default=None,
        help="duckdb:PATH or snowflake[:CONNECTION] (default: the embedded DuckDB warehouse, simulated if missing)",
    )
    ap.add_argument("--config", default=None, help="model specification (default: models/fashion.toml)")
    ap.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a fitted model: a run folder of `bayesseg run` (its model.nc) or a .nc file; else the model is fitted",
    )
    ap.add_argument(
        "--fast",
        action="store_true",
        help="fit on 1,000 authors with 2 x (150 + 150) draws and fewer replicates (CI, a first look)",
    )
    ap.add_argument("--out", type=Path, default=OUT / f"{name}.html", help="the HTML report to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--target",
        default=None,
        help="margins:FILE, the platform's known margins (docs/trends.md): the trend series also speak for the "
        "platform behind the warehouse's crawl",
    )
    return ap.parse_args()


@dataclass
class Context:
    """Everything an analysis reads."""

    args: argparse.Namespace
    source: Source
    spec: RunSpec
    taxonomy: Taxonomy
    inputs: ModelInputs
    model: SegmentModel
    memberships: xr.Dataset
    draws: xr.DataArray
    truth: SimulatorTruth | None
    seconds: dict[str, float]
    margins: Margins | None = None

    @property
    def authors(self) -> pd.DataFrame:
        """The segmented authors' rows of the authors table, in the memberships' order."""
        return self.inputs.authors.loc[self.memberships["author"].values]

    @property
    def modal(self) -> np.ndarray:
        """Most likely segment (index) of each segmented author."""
        return self.memberships["prob_mean"].argmax("segment").values

    def tier_onehot(self) -> pd.DataFrame:
        """The current tiers of the segmented authors, one-hot (an unknown tier: a row of zeros)."""
        tier = self.authors["current_tier"]
        return pd.DataFrame({t: (tier == t).to_numpy(dtype=float) for t in TIERS}, index=self.authors.index)

    def true_segments(self) -> np.ndarray | None:
        """The simulator's segment of each segmented author, or None for a real warehouse."""
        if self.truth is None:
            return None
        return self.truth.segment_of(self.memberships["author"].values)


def prepare(args: argparse.Namespace, *, replicates: int = 200) -> Context:
    """Open the warehouse, build the model's inputs, load or fit the model, score every author."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    spec = RunSpec.from_toml(args.config)
    if args.fast:
        spec = spec.replace(
            fit_authors=min(spec.fit_authors, 1_000),
            sampler={**spec.sampler, "tune": 150, "draws": 150},
        )
    if args.source is None and not default_warehouse_path().exists():
        print(f"embedded warehouse {default_warehouse_path()} is missing: simulating a demo warehouse")
        ensure_warehouse()
    source = open_source(args.source)
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    model = SegmentModel.load(args.model) if args.model is not None else None
    if model is not None:
        taxonomy = taxonomy.fold_like(model.categories_)  # the rare categories the run folded
    inputs = load_inputs(source, spec, taxonomy)
    if model is None:
        inputs, taxonomy, _ = fold_rare_categories(inputs, taxonomy, spec.min_category_authors)
    seconds["inputs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if model is not None:
        if model.categories_ != list(inputs.counts["category"].values):
            raise SystemExit(f"the model {args.model} was fitted on other categories than the taxonomy's")
    else:
        print(f"fitting the segmentation (K = {spec.k_values}, fit sample {spec.fit_authors:,}) ...", flush=True)
        model = fit_segmentation(inputs, spec, taxonomy).model
    seconds["fit" if args.model is None else "load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mem = model.predict_memberships(inputs.counts, inputs.covariates)
    draws = model.membership_draws(inputs.counts, inputs.covariates, max_draws=replicates)
    seconds["scoring"] = time.perf_counter() - t0
    return Context(
        args=args,
        source=source,
        spec=spec,
        taxonomy=taxonomy,
        inputs=inputs,
        model=model,
        memberships=mem,
        draws=draws,
        truth=read_truth(source),
        seconds=seconds,
        margins=_margins(args.target),
    )


def _margins(target: str | None) -> Margins | None:
    if target is None:
        return None
    if not target.startswith("margins:"):
        raise SystemExit(f"--target must be margins:FILE, got {target!r}")
    return read_margins(target.removeprefix("margins:"))


def trend_answer(res: TrendResult, simulated: bool) -> list[str]:
    """Plain lines on what the panel's series show.

    The source; composition or behaviour; whether the panel was picked on what it posted; its lead;
    how much hidden selection its directions survive; whom the series speak for.
    """
    lines = [
        "These data are simulated (the project's simulator, with its truth beside the warehouse): the figures show "
        "what the method finds, not what the real sample holds."
        if simulated
        else "These data are the warehouse named above."
    ]
    dec = res.decomposition
    if dec is not None and len(dec):
        top = dec["gap"].abs().idxmax()
        row = dec.loc[top]
        mostly = (
            "composition, which weights correct"
            if abs(row["composition"]) >= abs(row["behaviour"])
            else "behaviour, which weights do not remove"
        )
        lines.append(
            f"Why the panel differs: on {top}, the panel's share is {row['gap']:+.4f} from all authors'; "
            f"{row['composition']:+.4f} of it is who is in the panel (composition) and {row['behaviour']:+.4f} how "
            f"they post (behaviour): mostly {mostly}."
        )
    test = res.summary.get("pre_period_test") or {}
    if test.get("verdict") in ("pass", "fail"):
        lines.append(
            f"Picked on what they posted? Early trend shares {'do' if test['verdict'] == 'fail' else 'do not'} predict "
            f"panel membership beyond followers and segment (likelihood ratio {test['lr_statistic']:.1f} on "
            f"{test['df']} df, p = {test['p_value']:.2g})."
            + (" Weight on them and read the weeks after the cut." if test["verdict"] == "fail" else "")
        )
    if res.lead is not None:
        per_trend = res.lead[(res.lead["PANEL"] == "fashion_forward") & (res.lead["TREND"] != POOLED)]
        ff = per_trend[per_trend["STATUS"] == "identified"]
        ahead = ff[ff["LOW"] > 0]
        behind = ff[ff["HIGH"] < 0]
        pooled = res.lead[(res.lead["PANEL"] == "fashion_forward") & (res.lead["TREND"] == POOLED)]
        lines.append(
            "Lead: the fashion-forward panel is ahead of comparable authors on "
            + (
                ", ".join(
                    f"{r.TREND} ({r.LEAD_WEEKS:+.0f} weeks, {r.LOW:+.0f} to {r.HIGH:+.0f})" for r in ahead.itertuples()
                )
                or "no trend"
            )
            + (f", behind on {', '.join(behind['TREND'])}" if len(behind) else "")
            + f"; {len(per_trend) - len(ff)} trend(s) have no identifiable lead."
            + "".join(
                f" On the rising trends together: {r.LEAD_WEEKS:+.0f} weeks ({r.LOW:+.0f} to {r.HIGH:+.0f})."
                if r.STATUS == "identified"
                else f" On the rising trends together: {r.STATUS}."
                for r in pooled.itertuples()
            )
        )
    if res.sensitivity is not None:
        first = res.sensitivity.groupby(level="trend", sort=False).first()
        fragile = first.index[first["flip_gamma"] < 1.5].tolist()
        lines.append(
            "Hidden selection: "
            + (
                f"the direction of {', '.join(fragile)} flips if curators' odds of picking an account differ from the "
                "model's by less than 1.5-fold: read it as undetermined."
                if fragile
                else "every trend's direction survives picking odds 1.5-fold off the model's."
            )
        )
    platform = res.summary.get("platform")
    lines.append(
        f"Platform: calibrated to {platform.get('source', 'the margins')} (design effect "
        f"{platform.get('design_effect', float('nan')):.2f}), the series speak for the platform, not the crawl."
        if platform
        else "Platform: no margins given, so every series speaks for the warehouse's authors, a crawler's sample; "
        "pass --target margins:FILE with the platform's follower distribution."
    )
    return lines


def _commit() -> str:
    """The project's git commit (with ``+changes`` when the tree differs from it), or ``unknown``."""
    root = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bayesseg", "analyses", "models"], cwd=root,
                               capture_output=True, text=True)  # fmt: skip
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" +changes" if dirty.stdout.strip() else "")


def provenance(ctx: Context) -> dict[str, str]:
    """What a reader needs to reproduce the report: version, commit, command, seed, spec hash, data."""
    return {
        "bayesseg": f"{__version__} (commit {_commit()})",
        "command": " ".join(["python", *sys.argv]),
        "seed": str(ctx.args.seed),
        "specification": f"{ctx.spec.path or 'default'} (version {ctx.spec.version}, hash {ctx.spec.spec_hash[:12]})",
        "data": ctx.source.describe()
        + (" — SIMULATED by bayesseg's simulator (schema TRUTH present)" if ctx.truth is not None else ""),
    }


def simulated_banner(doc: HtmlDocument, ctx: Context) -> None:
    """First section of a report on a simulated warehouse: say so before any figure is read."""
    if ctx.truth is None:
        return
    doc.add(
        "simulated",
        "Simulated data",
        doc.paragraph(
            "These data are simulated: the warehouse holds a TRUTH schema written by bayesseg's simulator. "
            "Every figure below shows what the method finds on data built to resemble the real sample's "
            "contract, not what the real sample holds; where the simulator decides the answer (how many "
            "segments, how they differ) the report says so.",
            "warn",
        ),
        position=0,
    )


def data_section(doc: HtmlDocument, ctx: Context) -> None:
    """The data and the model the analysis rests on, and the report's provenance."""
    m = ctx.model
    excluded = ctx.inputs.excluded["reason"].value_counts()
    rows = {
        "authors in the warehouse": f"{len(ctx.inputs.authors):,}",
        "authors segmented": f"{ctx.memberships.sizes['author']:,}",
        "authors excluded": ", ".join(f"{n:,} {r}" for r, n in excluded.items()) or "none",
        "categories": f"{ctx.inputs.counts.sizes['category']}",
        "segments": f"{m.n_segments}: {', '.join(m.segment_names)}",
        "model": "loaded from " + str(ctx.args.model)
        if ctx.args.model
        else "fitted by this script" + (" (fast mode)" if ctx.args.fast else ""),
        "simulator truth": "yes (validation shown)" if ctx.truth is not None else "no (a real warehouse)",
        "stage times": ", ".join(f"{k} {v:.1f} s" for k, v in ctx.seconds.items()),
        **provenance(ctx),
    }
    doc.add(
        "data",
        "Data, model and provenance",
        doc.table(pd.DataFrame({"": list(rows.values())}, index=list(rows.keys()))),
    )


def fashion_forward_auc(ctx: Context) -> pd.DataFrame:
    """Cross-validated AUC of FASHION_INTEREST_SEGMENT from the current tiers, followers and segments."""
    a = ctx.authors
    y = a["fashion_interest_segment"].fillna(False).to_numpy(dtype=bool)
    probs = pd.DataFrame(
        ctx.memberships["prob_mean"].values[:, 1:],
        index=a.index,
        columns=[f"p_{s}" for s in ctx.model.segment_names[1:]],
    )
    covs = a[ctx.model.covariate_names_].astype(float)
    features = {
        "current tiers (one-hot)": ctx.tier_onehot().iloc[:, 1:],
        "model covariates (followers, engagement)": covs,
        "bayesseg segment probabilities": probs,
        "segment probabilities + covariates": pd.concat([probs, covs], axis=1),
    }
    rows = {name: predictive_auc(f, y, seed=ctx.args.seed) for name, f in features.items()}
    out = pd.DataFrame({"AUC (5-fold)": rows})
    out.index.name = "predictors"
    return out


def conclusion(doc: HtmlDocument, paragraphs: list[str]) -> None:
    """The written conclusion: what the evidence says, biases, methods, limits."""
    doc.add("conclusion", "Conclusion", *(doc.paragraph(p) for p in paragraphs))


def finish(doc: HtmlDocument, ctx: Context) -> None:
    """Put the simulated-data banner first (on a simulated warehouse), write the report, close the warehouse."""
    simulated_banner(doc, ctx)
    path = doc.write(ctx.args.out)
    ctx.source.close()
    print(path)


def fmt_share(v: float) -> str:
    return f"{100 * v:.1f} %"
