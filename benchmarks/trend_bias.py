"""Panel-selection-bias correction of trend series against the simulator's population truth.

For each seed: simulate a warehouse, fit the segmentation on a stratified sample, score every
author, build the fashion-forward panel's trend series with ``bayesseg.workflow.pipeline.compute_trends``
(the code path of ``bayesseg run`` and ``bayesseg trends``) and compare them with the realised
population share of posts showing each trend (``TRUTH.TREND_SERIES``, population ``all``).

Figures per trend and pooled over trends, weeks and seeds:

* RMSE of the uncorrected panel's weekly series (``raw_weekly_share``: what panels report today);
* RMSE of the uncorrected panel pooled over weeks with the same kernel as the corrected series
  (``raw_share``: isolates the correction from the pooling);
* RMSE of the corrected series (``weighted_share``);
* coverage of the weekly truth by the bootstrap band, and the band's mean width.

Usage::

    .venv/bin/python benchmarks/trend_bias.py --seeds 20 --size techtest

Per-seed rows go to ``benchmarks/out/trend_bias.csv`` as they finish (a partial run keeps them).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import RunSpec
from bayesseg.data.aggregate import trend_data
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.truth import read_truth
from bayesseg.simulate import TRENDS, simulate_warehouse
from bayesseg.survey.trends import trend_series
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.pipeline import compute_trends, fit_segmentation


def one_seed(seed: int, size: str | int, spec: RunSpec, workdir: Path, cache: Path | None = None) -> pd.DataFrame:
    """Figures of one seed; with `cache`, the seed's trend counts, authors, memberships and truth
    are kept there (or read back), so that other ``[trends]`` settings skip simulation and fit."""
    t0 = time.perf_counter()
    seed_dir = None if cache is None else cache / f"{size}-seed{seed}-fit{spec.fit_authors}"
    if seed_dir is not None and (seed_dir / "done").exists():
        data = xr.load_dataset(seed_dir / "data.nc")
        authors = pd.read_parquet(seed_dir / "authors.parquet")
        r = xr.load_dataarray(seed_dir / "memberships.nc")
        truth = pd.read_parquet(seed_dir / "truth.parquet")
        res = trend_series(data, authors, r, spec.trends, ci_prob=spec.output.ci_prob)
    else:
        path = workdir / f"trend-bias-{seed}.duckdb"
        simulate_warehouse(path, size=size, seed=seed, overwrite=True)
        taxonomy = Taxonomy.from_toml(spec.taxonomy)
        with DuckDBSource(path) as src:
            inputs = load_inputs(src, spec, taxonomy)
            fit = fit_segmentation(inputs, spec, taxonomy)
            res = compute_trends(src, spec, inputs, fit.model)
            found = read_truth(src)
            assert found is not None and found.trend_series is not None
            truth = found.trend_series.loc[found.trend_series["POPULATION"] == "all", ["TREND", "WEEK", "SHARE"]]
            if seed_dir is not None:
                # the same inputs compute_trends used
                seed_dir.mkdir(parents=True, exist_ok=True)
                trend_data(src, spec.trends.trends).to_netcdf(seed_dir / "data.nc")
                inputs.authors.to_parquet(seed_dir / "authors.parquet")
                r = fit.model.membership_draws(inputs.counts, inputs.covariates, max_draws=spec.trends.replicates)
                r.astype(np.float32).to_netcdf(seed_dir / "memberships.nc")
                truth.to_parquet(seed_dir / "truth.parquet")
                (seed_dir / "done").touch()
        path.unlink()
    truth["WEEK"] = pd.to_datetime(truth["WEEK"])
    s = res.series.sel(panel="fashion_forward")
    weeks = pd.to_datetime(s["week"].values)
    rows = []
    for trend in [t.name for t in TRENDS]:
        tt = truth[truth["TREND"] == trend].set_index("WEEK")["SHARE"].reindex(weeks).to_numpy()
        ok = np.isfinite(tt)
        get = {
            v: s[v].sel(trend=trend).values[ok]
            for v in ("raw_weekly_share", "raw_share", "weighted_share", "low", "high")
        }
        truth_ok = tt[ok]
        rows.append(
            {
                "seed": seed,
                "trend": trend,
                "weeks": int(ok.sum()),
                "truth_mean": float(truth_ok.mean()),
                "sse_raw_weekly": float(np.nansum((get["raw_weekly_share"] - truth_ok) ** 2)),
                "sse_raw_pooled": float(np.nansum((get["raw_share"] - truth_ok) ** 2)),
                "sse_corrected": float(np.nansum((get["weighted_share"] - truth_ok) ** 2)),
                "covered": int(np.sum((truth_ok >= get["low"]) & (truth_ok <= get["high"]))),
                "band_width": float(np.nanmean(get["high"] - get["low"])),
                "panel_authors": res.summary["panel_authors"],
                "design_effect": res.summary["design_effect_after_trim"],
                "seconds": time.perf_counter() - t0,
            }
        )
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    def agg(g: pd.DataFrame) -> pd.Series:
        n = g["weeks"].sum()
        rmse = {k: np.sqrt(g[f"sse_{k}"].sum() / n) for k in ("raw_weekly", "raw_pooled", "corrected")}
        return pd.Series(
            {
                "rmse_raw_weekly": rmse["raw_weekly"],
                "rmse_raw_pooled": rmse["raw_pooled"],
                "rmse_corrected": rmse["corrected"],
                "reduction_vs_weekly": 1 - rmse["corrected"] / rmse["raw_weekly"],
                "reduction_vs_pooled": 1 - rmse["corrected"] / rmse["raw_pooled"],
                "coverage": g["covered"].sum() / n,
                "band_width": float((g["band_width"] * g["weeks"]).sum() / n),
            }
        )

    per_trend = frame.groupby("trend").apply(agg, include_groups=False)
    per_trend.loc["all trends"] = agg(frame)
    return per_trend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--size", default="techtest", help="simulator size: demo, techtest or a number of authors")
    ap.add_argument("--fit-authors", type=int, default=3000)
    ap.add_argument("--tune", type=int, default=200)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--weighting", default=None, help="override [trends] weighting")
    ap.add_argument("--band", default=None, help="override [trends] band")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep each seed's trend counts, memberships and truth here; a rerun with other [trends] "
        "settings reads them instead of simulating and fitting again",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "trend_bias.csv")
    args = ap.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    size: str | int = int(args.size) if args.size.isdigit() else args.size
    spec = RunSpec.from_toml()
    trends = spec.trends
    if args.weighting or args.band:
        from dataclasses import replace

        trends = replace(trends, weighting=args.weighting or trends.weighting, band=args.band or trends.band)
    spec = spec.replace(
        fit_authors=args.fit_authors,
        sampler={**spec.sampler, "tune": args.tune, "draws": args.draws},
        trends=trends,
    )
    print(
        f"trend bias benchmark: {args.seeds} seeds, size {size}, fit on {args.fit_authors} authors, "
        f"{spec.sampler['chains']} x ({args.tune} + {args.draws}) NUTS, weighting {trends.weighting}, "
        f"band {trends.band}, "
        f"{trends.replicates} replicates, smooth_weeks {trends.smooth_weeks}; "
        f"{platform.processor() or platform.machine()}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            f = one_seed(seed, size, spec, Path(tmp), args.cache)
            frames.append(f)
            pd.concat(frames).to_csv(args.out, index=False)
            row = summarise(f).loc["all trends"]
            print(
                f"seed {seed}: panel {f['panel_authors'].iloc[0]} authors, "
                f"RMSE raw weekly {row['rmse_raw_weekly']:.5f}, "
                f"raw pooled {row['rmse_raw_pooled']:.5f}, corrected {row['rmse_corrected']:.5f}, "
                f"coverage {row['coverage']:.2f}, {f['seconds'].iloc[0]:.0f} s",
                flush=True,
            )
    table = summarise(pd.concat(frames))
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(table)


if __name__ == "__main__":
    main()
