"""How much of the segmentation error is the engagement covariate's measurement error?

Fits the shipped model on a simulated warehouse with the log engagement rate replaced by one of:

* ``observed``: what ``bayesseg run`` uses (likes + comments per post over followers; hidden
  likes imputed from followers);
* ``calibrated``: regression calibration (Carroll et al. 2006, ch. 4,
  https://doi.org/10.1201/9781420010138): the observed value's residual from its regression on log
  followers and 1/m (m = posts with visible likes) is shrunk by tau^2 / (tau^2 + c/m), where
  var(residual | m) = tau^2 + c/m is fitted by least squares on the squared residuals;
* ``geometric_calibrated``: the same on the mean of log(likes + comments) per post (a geometric
  mean, robust to the heavy per-post tail) instead of the log of the arithmetic mean;
* ``true``: the simulator's true engagement rate (an unattainable bound).

and prints the adjusted Rand index of the modal segments against the truth. Session 8 ran it
with taxonomy 2026.11.1 (``git show c23a21d:models/taxonomy.toml``, with a copy of
``models/fashion.toml`` beside it, passed as ``--spec``); see RESULTS.md.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/gating_error.py \
        --warehouse benchmarks/out/demo.duckdb --variant calibrated
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from bayesseg.config import RunSpec
from bayesseg.data.aggregate import author_log_interactions
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.evaluation.truth import read_truth
from bayesseg.model import SegmentModel
from bayesseg.taxonomy import Taxonomy

VARIANTS = ("observed", "calibrated", "geometric_calibrated", "true")


def calibrate(value: np.ndarray, log_followers: np.ndarray, m: np.ndarray, have: np.ndarray) -> np.ndarray:
    """Regression calibration of `value` where `have`; elsewhere (imputed) left as it is."""
    design = np.column_stack([np.ones(len(value)), log_followers, 1 / np.maximum(m, 1)])
    coef, *_ = np.linalg.lstsq(design[have], value[have], rcond=None)
    resid = value - design @ coef
    var_design = np.column_stack([np.ones(have.sum()), 1 / np.maximum(m[have], 1)])
    (tau2, c), *_ = np.linalg.lstsq(var_design, resid[have] ** 2, rcond=None)
    shrink = tau2 / (tau2 + c / np.maximum(m, 1))
    at = [round(float(tau2 / (tau2 + c / k)), 2) for k in (1, 10, 100)]
    print(f"  tau^2 {tau2:.3f}, c {c:.3f}, shrinkage at m = 1/10/100: {at}")
    out = value.copy()
    out[have] = (design[have, :2] @ coef[:2]) + shrink[have] * resid[have]  # the 1/m bias term dropped
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warehouse", required=True, help="simulated DuckDB warehouse (with its TRUTH schema)")
    p.add_argument("--variant", choices=VARIANTS, default="observed")
    p.add_argument("--spec", help="run specification (default: the shipped models/fashion.toml)")
    args = p.parse_args()
    spec = RunSpec.from_toml(args.spec)
    taxonomy = Taxonomy.from_toml(spec.taxonomy)
    with DuckDBSource(args.warehouse) as src:
        inputs = load_inputs(src, spec, taxonomy)
        found = read_truth(src)
        assert found is not None, f"{args.warehouse} holds no simulator truth"
        truth = found.authors.set_index("AUTHORID")
        if args.variant == "geometric_calibrated":
            log_interactions = author_log_interactions(src).set_index("author")["log_interactions"]
    ids = inputs.covariates["author"].values
    authors = inputs.authors.loc[ids]
    x = inputs.covariates.values.copy()  # (author, [log_followers, log_engagement])
    have = ~authors["imputed_log_engagement"].to_numpy(bool)
    m = (authors["n_posts"] - authors["n_zero_like_posts"]).to_numpy(float)
    if args.variant == "true":
        x[:, 1] = np.log(truth.loc[ids, "ENGAGEMENT_RATE"].to_numpy())
    if args.variant == "geometric_calibrated":
        log_inter = log_interactions.reindex(ids).to_numpy()
        x[have, 1] = log_inter[have] - np.log(np.expm1(x[have, 0]))
    if args.variant.endswith("calibrated"):
        x[:, 1] = calibrate(x[:, 1], x[:, 0], m, have)
    observed = np.log(authors["engagement_rate"].to_numpy(float))
    true = np.log(truth.loc[ids, "ENGAGEMENT_RATE"].to_numpy())
    print(
        f"  correlation with the true log engagement: observed {np.corrcoef(observed[have], true[have])[0, 1]:.3f}, "
        f"{args.variant} {np.corrcoef(x[have, 1], true[have])[0, 1]:.3f}"
    )
    cov = inputs.covariates.copy(data=x)
    model_config, sampler_config = spec.model_kwargs(taxonomy)
    t0 = time.perf_counter()
    model = SegmentModel(spec.k_values[0], model_config, sampler_config).fit(inputs.counts, cov)
    modal = model.memberships()["prob_mean"].transpose("author", "segment").values.argmax(axis=1)
    ari = adjusted_rand_score(truth.loc[ids, "SEGMENT"].to_numpy(), modal)
    print(f"{args.warehouse} {args.variant}: adjusted Rand index {ari:.4f} ({time.perf_counter() - t0:.0f} s fit)")


if __name__ == "__main__":
    main()
