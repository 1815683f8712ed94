"""Stability of bayesseg's segmentation across sampler seeds and bootstrap resamples of authors.

The shipped specification is fitted on the eligible authors of a simulated warehouse (the demo by
default), then refitted (a) with other sampler seeds on the same authors and (b) on bootstrap
resamples of the authors (drawn with replacement; a drawn-twice author counts twice). Every
refit scores every eligible author; reported: the adjusted Rand index of its modal segments
against the first fit's and against the simulator's truth, the largest change of a
segment's population share, the EM log-likelihood of the mode the chains started from (restarts:
``sampler_config["em_restarts"]``) and the largest R-hat. A stable method gives the same
partition whatever the seed and whatever sample of authors it learnt from (the stability
criterion of Lange et al. 2004, https://doi.org/10.1162/089976604773717621).

Usage::

    .venv/bin/python benchmarks/stability.py --warehouse data/techtest.duckdb --seeds 2 --bootstraps 3
    .venv/bin/python benchmarks/stability.py --em-restarts 4   # the earlier default, for comparison
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from bayesseg.config import RunSpec
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.truth import read_truth
from bayesseg.model import SegmentModel
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.pipeline import ensure_warehouse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", type=Path, help="a simulated warehouse (default: the embedded demo)")
    ap.add_argument("--seeds", type=int, default=2, help="refits with other sampler seeds")
    ap.add_argument("--bootstraps", type=int, default=3, help="refits on bootstrap resamples of authors")
    ap.add_argument("--em-restarts", type=int, help="override sampler_config['em_restarts']")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "stability.csv")
    args = ap.parse_args()
    spec = RunSpec.from_toml()
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    path, _ = ensure_warehouse(args.warehouse)
    with DuckDBSource(path) as src:
        inputs = load_inputs(src, spec, taxonomy)
        truth = read_truth(src)
    counts, cov = inputs.counts, inputs.covariates
    true = truth.segment_of(counts["author"].values)
    model_config, _ = spec.model_kwargs(taxonomy)
    rng = np.random.default_rng(0)
    rows, reference = [], None
    runs = [("full data", "seed", 0)]
    runs += [(f"sampler seed +{s}", "seed", s) for s in range(1, args.seeds + 1)]
    runs += [(f"bootstrap {b}", "bootstrap", b) for b in range(1, args.bootstraps + 1)]
    for name, kind, i in runs:
        if kind == "bootstrap":
            idx = np.sort(rng.integers(0, counts.sizes["author"], counts.sizes["author"]))
            # a drawn-twice author enters twice, under a fresh id
            ids = np.arange(len(idx)) + 10**12
            fit_counts = counts.isel(author=idx).assign_coords(author=ids)
            fit_cov = None if cov is None else cov.isel(author=idx).assign_coords(author=ids)
            seed = spec.sampler["random_seed"]
        else:
            fit_counts, fit_cov = counts, cov
            seed = spec.sampler["random_seed"] + i
        t0 = time.perf_counter()
        sampler = {**spec.sampler, "random_seed": seed}
        if args.em_restarts:
            sampler["em_restarts"] = args.em_restarts
        model = SegmentModel(spec.k_values[0], model_config, sampler)
        model.fit(fit_counts, fit_cov)
        prob = model.predict_memberships(counts, cov)["prob_mean"].values
        modal = prob.argmax(axis=1)
        if reference is None:
            reference = (modal, prob.mean(axis=0))
        rows.append(
            {
                "fit": name,
                "ari_vs_first_fit": adjusted_rand_score(reference[0], modal),
                "ari_vs_truth": adjusted_rand_score(true, modal),
                # segments keep their names (anchors); the free one is matched by elimination
                "max_share_change": float(np.abs(prob.mean(axis=0) - reference[1]).max()),
                # the EM mode the chains started from, and whether they mixed around it
                "em_log_likelihood": model.start_.log_likelihood if model.start_ is not None else np.nan,
                "max_r_hat": float(model.summary(["profile", "concentration", "intercept", "slope"])["r_hat"].max()),
                "seconds": time.perf_counter() - t0,
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"{counts.sizes['author']:,} authors")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
