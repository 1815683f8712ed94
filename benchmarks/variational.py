"""ADVI against NUTS: the same fit sample, every author scored by both, compared with each other and the truth.

On a simulated warehouse, the shipped specification is fitted twice on the same stratified fit
sample, once with NUTS (nutpie, as `bayesseg run`) and once with mean-field ADVI started at the
same EM mode; every eligible author is scored from each posterior. Reported: agreement of the
modal segments (after matching segments by profile), mean absolute difference of membership
probabilities, how often NUTS' posterior mean membership falls inside ADVI's 90 % interval,
adjusted Rand index of each against the simulator's truth, the expected calibration error of the
modal probability against the truth, and wall times.

Usage::

    .venv/bin/python benchmarks/variational.py --warehouse benchmarks/out/techtest-1.duckdb --fit-authors 10000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from bayesseg.config import RunSpec
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.accuracy import expected_calibration_error, match_segments
from bayesseg.evaluation.truth import read_truth
from bayesseg.taxonomy import Taxonomy
from bayesseg.workflow.pipeline import ensure_warehouse, fit_segmentation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", type=Path, default=Path(__file__).parent / "out" / "techtest-1.duckdb")
    ap.add_argument("--size", default="techtest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fit-authors", type=int, default=10_000)
    ap.add_argument("--advi-iterations", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "variational.json")
    args = ap.parse_args()
    ensure_warehouse(args.warehouse, size=args.size, seed=args.seed)
    spec = RunSpec.from_toml().replace(fit_authors=args.fit_authors)
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    with DuckDBSource(args.warehouse) as src:
        inputs = load_inputs(src, spec, taxonomy)
        truth = read_truth(src)
    true = truth.segment_of(inputs.counts["author"].values)
    fits, mems, seconds = {}, {}, {}
    for name, sampler in (("nuts", {}), ("advi", {"sampler": "advi", "advi_iterations": args.advi_iterations})):
        s = spec.replace(sampler={**spec.sampler, **sampler})
        t0 = time.perf_counter()
        fits[name] = fit_segmentation(inputs, s, taxonomy).model
        seconds[name] = time.perf_counter() - t0
        mems[name] = fits[name].predict_memberships(inputs.counts, inputs.covariates)
        print(f"{name}: fitted in {seconds[name]:.0f} s", flush=True)
    nuts, advi = mems["nuts"]["prob_mean"].values, mems["advi"]["prob_mean"].values
    # match ADVI's segments to NUTS' by profile (anchored segments keep their names; check it)
    pn = fits["nuts"].idata_["posterior"]["profile"].mean(("chain", "draw")).values
    pa = fits["advi"].idata_["posterior"]["profile"].mean(("chain", "draw")).values
    match = match_segments(pn, pa, by="profiles")
    perm = np.array([match[k] for k in range(len(pn))])
    advi_m = advi[:, perm]
    lo = mems["advi"]["prob_low"].values[:, perm]
    hi = mems["advi"]["prob_high"].values[:, perm]
    result = {
        "warehouse": str(args.warehouse),
        "authors": len(true),
        "fit_authors": args.fit_authors,
        "advi_iterations": args.advi_iterations,
        "segments_matched_by_name": bool((perm == np.arange(len(perm))).all()),
        "modal_agreement": float((nuts.argmax(1) == advi_m.argmax(1)).mean()),
        "mean_abs_prob_difference": float(np.abs(nuts - advi_m).mean()),
        "nuts_mean_inside_advi_90": float(((nuts >= lo) & (nuts <= hi)).mean()),
        "nuts_interval_width": float((mems["nuts"]["prob_high"] - mems["nuts"]["prob_low"]).mean()),
        "advi_interval_width": float((hi - lo).mean()),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    for name, p in (("nuts", nuts), ("advi", advi_m)):
        modal = p.argmax(1)
        match = match_segments(modal, true)
        mapped = np.array([match.get(int(m), -1) for m in modal])
        result[f"{name}_ari"] = float(adjusted_rand_score(true, modal))
        result[f"{name}_accuracy"] = float((mapped == true).mean())
        result[f"{name}_ece"] = expected_calibration_error(p.max(1), mapped == true)
        result[f"{name}_mean_p_max"] = float(p.max(1).mean())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
