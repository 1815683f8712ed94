"""Where NUTS spends its gradients in the segmentation model: warmup against draws.

Fits 2,000 authors × 30 categories × K = 4 (``simulate_counts(..., seed=1)``) with nutpie and the
low-rank mass matrix, 2 chains × (300 tuning + 300 draws), for each tree-depth cap, and prints
leapfrog steps in warmup and in draws, sampling time, divergences and the minimum bulk ESS of the
hyper-parameters (the slowest-mixing part of the posterior).

    .venv/bin/python benchmarks/warmup.py [--maxdepth 10 6]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    import arviz_stats
    import nutpie

    from bayesseg.model import SegmentModel
    from bayesseg.model.sampling import compile_nutpie
    from bayesseg.simulate import simulate_counts

    p = argparse.ArgumentParser()
    p.add_argument("--maxdepth", type=int, nargs="+", default=[10, 6])
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--tune", type=int, default=300)
    args = p.parse_args()
    counts, cov, _ = simulate_counts(2000, 30, 4, separation=1.2, mean_total=100, seed=1)
    compiled = compile_nutpie(SegmentModel(4).build_model(counts, cov))
    for depth in args.maxdepth:
        start = time.perf_counter()
        trace = nutpie.sample(
            compiled,
            draws=args.draws,
            tune=args.tune,
            chains=2,
            progress_bar=False,
            seed=1,
            adaptation="low_rank",
            save_warmup=True,
            maxdepth=depth,
        )
        wall = time.perf_counter() - start
        post = trace["posterior"].to_dataset()[["log_concentration_mu", "deviation_sd"]]
        ess = float(arviz_stats.ess(post).to_array().min())
        print(
            json.dumps(
                {
                    "maxdepth": depth,
                    "sampling_s": round(wall, 1),
                    "warmup_steps": int(trace["warmup_sample_stats"]["n_steps"].values.sum()),
                    "draw_steps": int(trace["sample_stats"]["n_steps"].values.sum()),
                    "divergences": int(trace["sample_stats"]["diverging"].values.sum()),
                    "min_ess_bulk_hyper": round(ess),
                    "ess_per_s": round(ess / wall, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
