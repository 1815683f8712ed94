"""bayesseg against the field's baselines on a simulated warehouse with known segments.

Every method sees the same input: the eligible authors' category counts
(``bayesseg.pipeline.model_inputs``). bayesseg is fitted as ``bayesseg run`` fits it (the shipped
specification, a stratified fit sample, every author scored); the baselines run on all eligible
authors with K = the specification's K (HDBSCAN picks its own). Reported: adjusted Rand index and
normalised mutual information of the modal segments against the simulator's true segments and
against bayesseg's modal segments, and the wall time of each method.

Usage::

    .venv/bin/python benchmarks/baselines.py --size techtest --seed 1 [--warehouse PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bayesseg.aggregate import author_category_counts, author_covariates
from bayesseg.baselines import gmm_shares, hdbscan_shares, kmeans_shares, topic_model
from bayesseg.pipeline import fit_segmentation, model_inputs
from bayesseg.simulate import simulate_warehouse
from bayesseg.sources import DuckDBSource
from bayesseg.spec import RunSpec
from bayesseg.taxonomy import Taxonomy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="techtest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warehouse", type=Path, help="an existing simulated warehouse (else one is built)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "baselines.csv")
    ap.add_argument(
        "--methods", default="kmeans,gmm,lda,nmf,hdbscan", help="baselines to run (bayesseg always runs first)"
    )
    args = ap.parse_args()
    path = args.warehouse or Path(f"/tmp/bayesseg-baselines-{args.size}-{args.seed}.duckdb")
    if not path.exists():
        size: str | int = int(args.size) if args.size.isdigit() else args.size
        simulate_warehouse(path, size=size, seed=args.seed)
    spec = RunSpec.from_toml()
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    with DuckDBSource(path) as src:
        inputs = model_inputs(
            author_category_counts(src, taxonomy), author_covariates(src, spec.tiers), spec, taxonomy.category_names
        )
        truth = src.query("SELECT AUTHORID, SEGMENT FROM TRUTH.AUTHORS").set_index("AUTHORID")["SEGMENT"]
    counts = inputs.counts
    true = truth.loc[counts["author"].values].to_numpy()
    k = spec.k_values[0]
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
    mem = model.predict_proba(inputs.counts, inputs.covariates)
    ours.append(mem["prob_mean"].argmax("segment").values)
    record(
        f"bayesseg (K={k}, fit on {spec.fit_authors:,})",
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
