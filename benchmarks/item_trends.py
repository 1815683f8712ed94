"""Item-level trend counts (labels on one detected box) against image-level ones, on the techtest-size warehouse.

Times, in DuckDB, the query of ``bayesseg.data.aggregate.trend_post_counts`` for the crossings of
``bayesseg.simulate.items.ITEM_TRENDS`` at both scopes (``+``: one image, the reference; ``&``: one
item, boxes matched by intersection over union), the box-format inference and the data-quality
report with its box checks; checks the item-level and image-level series against the simulator's
``TRUTH.ITEM_TREND_SERIES``. Prints one JSON line per measurement and a markdown table.

    .venv/bin/python benchmarks/item_trends.py [--size techtest] [--seed 1] [--path data/bench-techtest.duckdb]
        [--repeats 3] [--skip-build]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from bayesseg.config import Trend
from bayesseg.data.aggregate import trend_data, trend_post_counts
from bayesseg.data.boxes import resolve_box_format
from bayesseg.data.quality import data_quality
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.truth import TRUTH_SCHEMA
from bayesseg.simulate import simulate_warehouse
from bayesseg.simulate.items import ITEM_TRENDS, crossing_names
from bayesseg.taxonomy import Taxonomy


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="techtest")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--path", default="data/bench-techtest.duckdb")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--skip-build", action="store_true", help="reuse an existing warehouse at --path")
    args = p.parse_args()
    path = Path(args.path)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    if not args.skip_build:
        t0 = time.perf_counter()
        simulate_warehouse(path, args.size, seed=args.seed, overwrite=True)  # type: ignore[arg-type]
        print(json.dumps({"stage": "build", "wall_s": round(time.perf_counter() - t0, 1)}), flush=True)
    names = {scope: [crossing_names(a, b)[i] for a, b in ITEM_TRENDS] for i, scope in enumerate(("image", "item"))}
    rows = {}
    with DuckDBSource(path) as src:
        rows["box format (auto)"], fmt = _timed(lambda: resolve_box_format(src), args.repeats)
        for scope, texts in names.items():
            trends = [Trend.parse(t) for t in texts]
            rows[f"{len(texts)} trends, one {scope}"], _ = _timed(
                lambda trends=trends: trend_post_counts(src, trends, box_format=fmt, item_iou=args.iou), args.repeats
            )
        taxonomy = Taxonomy.from_toml()
        rows["data-quality report (with the box checks)"], report = _timed(
            lambda: data_quality(src, taxonomy, item_iou=args.iou), 1
        )
        data = trend_data(src, [Trend.parse(t) for s in names.values() for t in s], box_format=fmt, item_iou=args.iou)
        truth = src.read_table(TRUTH_SCHEMA, "ITEM_TREND_SERIES")
    n_labels = report["position_malformed"].total  # every label row
    share = (data["hits"].sum("author") / data["posts"].sum("author")).to_pandas()
    errors = {}
    for name in share.index:
        t = truth[truth["TREND"] == name].set_index("WEEK")["SHARE"]
        errors[name] = float(np.nanmax(np.abs(share.loc[name].reindex(t.index).to_numpy() - t.to_numpy())))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"label_rows": n_labels, "box_format": fmt.describe(), "seconds": rows, "peak_rss_mb": round(peak)})
    )
    print(json.dumps({"max_abs_error_to_truth": errors}))
    print(f"\n{n_labels:,} label rows; {fmt.describe()}; IoU threshold {args.iou}\n")
    print("| query | wall time (median of repeats) |\n|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v:.2f} s |")
    print("\n| crossing | mean weekly share, one image | one item | item / image | max abs error to truth |")
    print("|---|---|---|---|---|")
    for (a, b), image, item in zip(ITEM_TRENDS, names["image"], names["item"], strict=True):
        si, st = float(share.loc[image].mean()), float(share.loc[item].mean())
        print(
            f"| {a[1]} & {b[0]}:{b[1]} | {si:.4f} | {st:.4f} | {st / si:.2f} | {max(errors[image], errors[item]):.1e} |"
        )
    for f in ("position_malformed", "position_inverted", "labels_without_item"):
        print(f"{f}: {report[f].n:,} of {report[f].total:,}")


if __name__ == "__main__":
    main()
