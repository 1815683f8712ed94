"""What the four analyses share: arguments, the warehouse, the fitted model and its memberships.

Not part of the library: a script of this folder imports it as ``_common`` (the folder is on
``sys.path`` when a script runs).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import TIER_NAMES, RunSpec
from bayesseg.data.connect import default_warehouse_path, open_source
from bayesseg.data.inputs import ModelInputs, fold_rare_categories, load_inputs
from bayesseg.data.sources import Source
from bayesseg.evaluation.metrics import predictive_auc
from bayesseg.evaluation.truth import SimulatorTruth, read_truth
from bayesseg.model import SegmentModel
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
    )


def data_section(doc: HtmlDocument, ctx: Context) -> None:
    """The data and the model the analysis rests on."""
    m = ctx.model
    excluded = ctx.inputs.excluded["reason"].value_counts()
    rows = {
        "source": ctx.source.describe(),
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
    }
    doc.add("data", "Data and model", doc.table(pd.DataFrame({"": list(rows.values())}, index=list(rows.keys()))))


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
    """Write the report and close the warehouse."""
    path = doc.write(ctx.args.out)
    ctx.source.close()
    print(path)


def fmt_share(v: float) -> str:
    return f"{100 * v:.1f} %"
