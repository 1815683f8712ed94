"""bayesseg against the field's baselines on a simulated warehouse with known segments.

Every method sees the same input: the eligible authors' category counts
(``bayesseg.data.inputs.model_inputs``). bayesseg is fitted as ``bayesseg run`` fits it (the shipped
specification, a stratified fit sample, every author scored); the baselines run on all eligible
authors with K = the specification's K (HDBSCAN picks its own). Reported: adjusted Rand index and
normalised mutual information of the modal segments against the simulator's true segments and
against bayesseg's modal segments, and the wall time of each method.

Equal information (issue 19): ``--no-anchors`` fits bayesseg without the taxonomy's rules (the
baselines have none) and ``--k-range LO HI`` lets bayesseg choose K by its rule (the smallest K within
2 standard errors of the best held-out elpd); every baseline then gets the K bayesseg chose.

Usage::

    .venv/bin/python benchmarks/baselines.py --size techtest --seed 1 [--warehouse PATH]
        [--no-anchors] [--k-range 4 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bayesseg.config import RunSpec
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.baselines import gmm_shares, hdbscan_shares, kmeans_shares, topic_model
from bayesseg.evaluation.truth import read_truth
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.pipeline import ensure_warehouse, fit_segmentation

OUT = Path(__file__).parent / "out"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="techtest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warehouse", type=Path, help="an existing simulated warehouse (else one is built)")
    ap.add_argument("--out", type=Path, default=OUT / "baselines.csv")
    ap.add_argument(
        "--methods", default="kmeans,gmm,lda,nmf,hdbscan", help="baselines to run (bayesseg always runs first)"
    )
    ap.add_argument("--no-anchors", action="store_true", help="fit bayesseg without the taxonomy's rules")
    ap.add_argument("--k-range", nargs=2, type=int, metavar=("LO", "HI"), help="choose K by bayesseg's rule")
    args = ap.parse_args()
    size: str | int = int(args.size) if args.size.isdigit() else args.size
    path, _ = ensure_warehouse(
        args.warehouse or OUT / f"baselines-{args.size}-{args.seed}.duckdb", size=size, seed=args.seed
    )
    spec = RunSpec.from_toml()
    if args.no_anchors:
        spec = spec.replace(anchors=())
    if args.k_range:
        spec = spec.replace(k=None, k_range=tuple(args.k_range))
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    with DuckDBSource(path) as src:
        inputs = load_inputs(src, spec, taxonomy)
        truth = read_truth(src)
    counts = inputs.counts
    true = truth.segment_of(counts["author"].values)
    rows = []
    ours: list[np.ndarray] = []

    def record(name: str, labels: np.ndarray, seconds: float) -> None:
        clustered = labels >= 0  # HDBSCAN labels noise -1
        ref = ours[0] if ours else labels
        rows.append(
            {
                "method": name,
                "ari": adjusted_rand_score(true[clustered], labels[clustered]),
                "nmi": normalized_mutual_info_score(true[clustered], labels[clustered]),
                # every author, noise as a cluster of its own: what a user of the labels gets
                "ari_all_authors": adjusted_rand_score(true, labels),
                # bayesseg on the same authors the method labelled (the fair comparison for HDBSCAN)
                "bayesseg_ari_same_authors": adjusted_rand_score(true[clustered], ref[clustered]),
                "ari_vs_bayesseg": adjusted_rand_score(ref[clustered], labels[clustered]),
                "nmi_vs_bayesseg": normalized_mutual_info_score(ref[clustered], labels[clustered]),
                "authors_labelled": float(clustered.mean()),
                "seconds": seconds,
            }
        )
        print(f"{name:40s} ARI {rows[-1]['ari']:.3f}  NMI {rows[-1]['nmi']:.3f}  ({seconds:.0f} s)", flush=True)

    t0 = time.perf_counter()
    model = fit_segmentation(inputs, spec, taxonomy).model
    k = model.n_segments  # the specification's K, or the one bayesseg's rule chose: the baselines get it too
    mem = model.predict_memberships(inputs.counts, inputs.covariates)
    ours.append(mem["prob_mean"].argmax("segment").values)
    how = f"K={k}" + (f" chosen in {args.k_range[0]}..{args.k_range[1]}" if args.k_range else "")
    record(
        f"bayesseg ({how}, {'no anchors' if args.no_anchors else 'anchored'}, fit on {spec.fit_authors:,})",
        mem["prob_mean"].argmax("segment").values,
        time.perf_counter() - t0,
    )
    methods = {
        "kmeans": ("k-means (tf-idf shares)", lambda: kmeans_shares(counts, k)),
        "gmm": ("Gaussian mixture (Hellinger PCs)", lambda: gmm_shares(counts, k, heldout=0.0)),
        "lda": ("LDA topics", lambda: topic_model(counts, k, method="lda", heldout=0.0)),
        "nmf": ("NMF topics", lambda: topic_model(counts, k, method="nmf")),
        "hdbscan": ("HDBSCAN (Hellinger shares)", lambda: hdbscan_shares(counts, min_cluster_size=100)),
    }
    for key in args.methods.split(","):
        name, fn = methods[key.strip()]
        t0 = time.perf_counter()
        res = fn()
        record(name, res.labels.values, time.perf_counter() - t0)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"{len(true):,} authors, {counts.sizes['category']} categories; {path}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
