"""Speed of the segmentation model: the fast default against the naive dense baseline.

In one run, on the same simulated data (``bayesseg.simulate.simulate_counts``), each variant is
fitted in its own process (peak resident memory is its own) and reported with: wall time of the
whole fit (compile included), sampling time, mean leapfrog steps per draw, minimum bulk ESS over
the gating coefficients and concentrations (after relabelling), ESS per second of sampling,
max R-hat and peak memory.

Variants:
  fast        sparse DM likelihood (distinct pairs × sparse product) + nutpie low-rank mass matrix
  naive       dense mixture of pm.DirichletMultinomial log-pmfs (N × K × C) + nutpie diagonal mass matrix
  dense-lr    dense likelihood + low-rank mass matrix (attributes the gain)

    .venv/bin/python benchmarks/fit_speed.py --authors 2000 --categories 30 --segments 4 --variants fast naive
    .venv/bin/python benchmarks/fit_speed.py --authors 20000 --categories 60 --segments 6 \
        --draws 1000 --tune 1000 --variants fast
    .venv/bin/python benchmarks/fit_speed.py --authors 20000 --categories 60 --segments 6 \
        --draws 1000 --tune 300 --variants fast --seed 2 --early-switch-freq 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def naive_likelihood(counts, log_alpha):  # type: ignore[no-untyped-def]
    """Dense: log-pmf of pm.DirichletMultinomial for every (author, segment), N × K × C work."""
    import pymc as pm
    import pytensor.tensor as pt

    alpha = pt.exp(log_alpha)  # (K, C)
    n = counts.sum(axis=1)
    dist = pm.DirichletMultinomial.dist(n=n[:, None], a=alpha[None, :, :])
    return pm.logp(dist, pt.as_tensor_variable(counts[:, None, :]))


def run_variant(args: argparse.Namespace) -> dict[str, object]:
    from bayesseg.model import SegmentModel
    from bayesseg.simulate import simulate_counts

    counts, cov, _ = simulate_counts(
        args.authors, args.categories, args.segments, separation=1.2, mean_total=100, seed=args.seed
    )
    sampler = {
        "draws": args.draws,
        "tune": args.tune,
        "chains": 2,
        "progressbar": False,
        "random_seed": args.seed,
        "nutpie_low_rank": args.variant in ("fast", "dense-lr"),
        "nutpie_early_switch_freq": args.early_switch_freq,
        "nutpie_mass_matrix_gamma": args.mass_matrix_gamma,
        "nutpie_step_size_adaptation": args.step_size_adaptation,
    }
    likelihood = None if args.variant == "fast" else naive_likelihood
    start = time.perf_counter()
    model = SegmentModel(args.segments, sampler_config=sampler).fit(counts, cov, likelihood=likelihood)
    wall = time.perf_counter() - start
    stats = model.idata_["sample_stats"].to_dataset()
    # PyMC stamps the pure sampling time (compile excluded) on the posterior
    sampling = float(model.idata_["posterior"].attrs.get("sampling_time", model.sampling_time_))
    summary = model.summary(("concentration", "intercept", "slope"))
    free = summary[~summary.index.str.contains(model.segment_names[0] + r"\]", regex=True)]
    free = free[free["sd"].astype(float) > 0]
    ess = float(free["ess_bulk"].astype(float).min())
    return {
        "variant": args.variant,
        "authors": args.authors,
        "categories": args.categories,
        "segments": args.segments,
        "draws": args.draws,
        "tune": args.tune,
        "early_switch_freq": args.early_switch_freq,
        "mass_matrix_gamma": args.mass_matrix_gamma,
        "step_size_adaptation": args.step_size_adaptation,
        "wall_s": round(wall, 1),
        "sampling_s": round(sampling, 1),
        "steps_per_draw": round(float(stats["n_steps"].mean()), 1),
        # the chains run side by side, one core each: the one with more steps sets the wall time
        "steps_per_draw_per_chain": [round(float(v), 1) for v in stats["n_steps"].mean("draw").values],
        "divergences": int(stats["diverging"].sum()),
        "min_ess_bulk": round(ess),
        "ess_per_s": round(ess / sampling, 2),
        "max_rhat": round(float(free["r_hat"].astype(float).max()), 4),
        # the project's rule over every saved variable (profiles included)
        **{f"all_{k}": v for k, v in _rule(model).items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _rule(model) -> dict[str, object]:  # type: ignore[no-untyped-def]
    c = model.convergence()
    return {
        "max_rhat": round(c.max_rhat, 4),
        "max_rhat_at": c.max_rhat_at,
        "entries_above_rhat": c.entries_above_rhat,
        "entries": c.entries,
        "min_ess_bulk": round(c.min_ess_bulk),
        "min_ess_tail": round(c.min_ess_tail),
    }


def main() -> None:
    from bayesseg.config import DEFAULT_SAMPLER_CONFIG
    from bayesseg.model.sampling import STEP_SIZE_ADAPTATIONS

    p = argparse.ArgumentParser()
    p.add_argument("--authors", type=int, default=2000)
    p.add_argument("--categories", type=int, default=30)
    p.add_argument("--segments", type=int, default=4)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--variants", nargs="+", default=["fast", "naive"])
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=int, default=3600, help="seconds per variant")
    p.add_argument(
        "--early-switch-freq",
        type=int,
        default=DEFAULT_SAMPLER_CONFIG["nutpie_early_switch_freq"],
        help="sampler_config['nutpie_early_switch_freq'] (nutpie's early window; issue 25)",
    )
    p.add_argument(
        "--mass-matrix-gamma",
        type=float,
        default=DEFAULT_SAMPLER_CONFIG["nutpie_mass_matrix_gamma"],
        help="sampler_config['nutpie_mass_matrix_gamma'] (the low-rank correction's regularisation; issue 25)",
    )
    p.add_argument(
        "--step-size-adaptation",
        default=DEFAULT_SAMPLER_CONFIG["nutpie_step_size_adaptation"],
        choices=sorted(STEP_SIZE_ADAPTATIONS),
        help="sampler_config['nutpie_step_size_adaptation'] (how the warmup adapts the step size; issue 25)",
    )
    args = p.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)), flush=True)
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    for variant in args.variants:
        cmd = [sys.executable, __file__, "--variant", variant, *sys.argv[1:]]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
            print(lines[-1] if lines else json.dumps({"variant": variant, "error": res.stderr[-2000:]}), flush=True)
        except subprocess.TimeoutExpired:
            print(json.dumps({"variant": variant, "error": f"did not finish in {args.timeout} s"}), flush=True)


if __name__ == "__main__":
    main()
