"""ADVI against NUTS: the same fit sample, every author scored by both, compared with each other and the truth.

On a simulated warehouse, the shipped specification is fitted twice on the same stratified fit
sample, once with NUTS (nutpie, as `bayesseg run`) and once with mean-field ADVI started at the
same EM mode; every eligible author is scored from each posterior. Reported: agreement of the
modal segments (after matching segments by profile), mean absolute difference of membership
probabilities, how often NUTS' posterior mean membership falls inside ADVI's 90 % interval,
adjusted Rand index of each against the simulator's truth, the expected calibration error of the
modal probability against the truth, and wall times.

Usage::

    .venv/bin/python benchmarks/variational.py --warehouse /tmp/bl-techtest-1.duckdb --fit-authors 10000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, confusion_matrix

from bayesseg.aggregate import author_category_counts, author_covariates
from bayesseg.pipeline import fit_segmentation, model_inputs
from bayesseg.simulate import simulate_warehouse
from bayesseg.sources import DuckDBSource
from bayesseg.spec import RunSpec
from bayesseg.taxonomy import Taxonomy


def expected_calibration_error(p_max: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width bins of the modal probability, weighted by size.

    Guo, C., Pleiss, G., Sun, Y., & Weinberger, K. Q. (2017). On calibration of modern neural
    networks. ICML. https://proceedings.mlr.press/v70/guo17a.html
    """
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p_max, edges[1:-1]), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.mean() * abs(correct[sel].mean() - p_max[sel].mean())
    return float(err)


def to_truth(modal: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Map estimated segments to true ones by the assignment that maximises overlap."""
    cm = confusion_matrix(true, modal, labels=np.arange(max(true.max(), modal.max()) + 1))
    rows, cols = linear_sum_assignment(-cm)
    mapping = dict(zip(cols, rows, strict=True))
    return np.array([mapping[m] for m in modal])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", type=Path, default=Path("/tmp/bl-techtest-1.duckdb"))
    ap.add_argument("--size", default="techtest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fit-authors", type=int, default=10_000)
    ap.add_argument("--advi-iterations", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "variational.json")
    args = ap.parse_args()
    if not args.warehouse.exists():
        simulate_warehouse(args.warehouse, size=args.size, seed=args.seed)
    spec = RunSpec.from_toml().replace(fit_authors=args.fit_authors)
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    with DuckDBSource(args.warehouse) as src:
        inputs = model_inputs(
            author_category_counts(src, taxonomy), author_covariates(src, spec.tiers), spec, taxonomy.category_names
        )
        truth = src.query("SELECT AUTHORID, SEGMENT FROM TRUTH.AUTHORS").set_index("AUTHORID")["SEGMENT"]
    true = truth.loc[inputs.counts["author"].values].to_numpy()
    fits, mems, seconds = {}, {}, {}
    for name, sampler in (("nuts", {}), ("advi", {"sampler": "advi", "advi_iterations": args.advi_iterations})):
        s = spec.replace(sampler={**spec.sampler, **sampler})
        t0 = time.perf_counter()
        fits[name] = fit_segmentation(inputs, s, taxonomy).model
        seconds[name] = time.perf_counter() - t0
        mems[name] = fits[name].predict_proba(inputs.counts, inputs.covariates)
        print(f"{name}: fitted in {seconds[name]:.0f} s", flush=True)
    nuts, advi = mems["nuts"]["prob_mean"].values, mems["advi"]["prob_mean"].values
    # match ADVI's segments to NUTS' by profile (anchored segments keep their names; check it)
    pn = fits["nuts"].idata["posterior"]["profile"].mean(("chain", "draw")).values
    pa = fits["advi"].idata["posterior"]["profile"].mean(("chain", "draw")).values
    cost = np.abs(np.log(pn)[:, None, :] - np.log(pa)[None, :, :]).sum(-1)
    _, perm = linear_sum_assignment(cost)
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
        mapped = to_truth(modal, true)
        result[f"{name}_ari"] = float(adjusted_rand_score(true, modal))
        result[f"{name}_accuracy"] = float((mapped == true).mean())
        result[f"{name}_ece"] = expected_calibration_error(p.max(1), mapped == true)
        result[f"{name}_mean_p_max"] = float(p.max(1).mean())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
