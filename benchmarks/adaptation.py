"""Where a fit's gradients go, warmup and draws, under one of nutpie's mass-matrix adaptations (issue 25).

Builds the model as :meth:`bayesseg.model.SegmentModel.fit` does (the EM start, the graph, the
chains' jittered hyper-parameters) on ``simulate_counts(--authors, 60, 6, separation=1.2,
mean_total=100, seed=1)``, calls nutpie directly with ``save_warmup=True`` so the warmup's leapfrog
steps are counted, then relabels the draws and applies the project's convergence rule. Prints one
JSON line: seconds of the EM start, compilation and sampling; leapfrog steps per warmup iteration
(overall and by fifth of the warmup) and per draw; gradients per chain; seconds of sampling per
gradient of a chain; divergences; the largest R-hat over every entry and the smallest bulk and
tail ESS (not with one chain); and, for the early window, the steps of iterations 1-10, 11-20,
..., 51-60 and each chain's smallest step size there.

    .venv/bin/python benchmarks/adaptation.py --adaptation diag
    .venv/bin/python benchmarks/adaptation.py --adaptation low_rank
    .venv/bin/python benchmarks/adaptation.py --adaptation low_rank --maxdepth 7
    .venv/bin/python benchmarks/adaptation.py --disperse hyper
    .venv/bin/python benchmarks/adaptation.py --eigval-cutoff 10 --draws 20
    .venv/bin/python benchmarks/adaptation.py --chains 1 --draws 20

Steps do not depend on the machine's load; seconds do.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from bayesseg.model.sampling import DISPERSED

DISPERSE = {
    "shipped": DISPERSED,
    "hyper": tuple(v for v in DISPERSED if v not in ("intercept", "slope")),
    "none": (),
}


def main() -> None:
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    from bayesseg.model import SegmentModel
    from bayesseg.model.checks import prepare_data
    from bayesseg.model.graph import build_graph, in_sampling_order
    from bayesseg.model.sampling import em_starting_point
    from bayesseg.simulate import simulate_counts

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--adaptation", choices=["low_rank", "diag"], default="low_rank")
    p.add_argument("--authors", type=int, default=20_000)
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--maxdepth", type=int, default=10, help="the trees' largest depth (nutpie's default 10)")
    p.add_argument("--seed", type=int, default=12345, help="nutpie's seed")
    p.add_argument(
        "--chains", type=int, default=2, help="chains, one core each (with 1, no R-hat: the rule is not applied)"
    )
    p.add_argument(
        "--eigval-cutoff", type=float, default=2.0, help="nutpie's mass_matrix_eigval_cutoff (low_rank; default 2)"
    )
    p.add_argument(
        "--disperse",
        choices=sorted(DISPERSE),
        default="shipped",
        help="which variables' starts differ between chains: the fit's (shipped), the hyper-parameters only "
        "(the gating starts at the EM mode in every chain), or none (every chain at the EM mode)",
    )
    args = p.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    counts, cov, _ = simulate_counts(args.authors, 60, 6, separation=1.2, mean_total=100, seed=1)
    model = SegmentModel(6, sampler_config={"random_seed": 1, "draws": args.draws, "tune": args.tune})
    data = prepare_data(counts, cov)
    categories = [str(c) for c in data.counts["category"].values]
    t0 = time.perf_counter()
    start = em_starting_point(data, 6, model.anchor_offsets(categories), model.sampler_config)
    if start is None:
        raise SystemExit("the EM start is off in the default sampler config")
    graph = build_graph(data, model.segment_names, model.model_config, None, start.concentration_spread())
    free = {rv.name for rv in graph.free_RVs}
    initvals = {k: v for k, v in start.initvals.items() if k in free}
    t1 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(
        graph,
        backend="numba",
        initial_points=in_sampling_order(initvals, graph.coords["category_sampling"], categories),
        jitter_rvs={graph[v] for v in DISPERSE[args.disperse] if v in graph.named_vars},
    )
    t2 = time.perf_counter()
    trace = nutpie.sample(
        compiled, draws=args.draws, tune=args.tune, chains=args.chains, cores=args.chains, seed=args.seed,
        save_warmup=True, progress_bar=False, adaptation=args.adaptation, target_accept=0.8, maxdepth=args.maxdepth,
        **({"mass_matrix_eigval_cutoff": args.eigval_cutoff} if args.adaptation == "low_rank" else {}),
    )  # fmt: skip
    t3 = time.perf_counter()
    warm = trace["warmup_sample_stats"]["n_steps"].values
    kept = trace["sample_stats"]["n_steps"].values
    per_chain = (warm.sum() + kept.sum()) / args.chains  # gradients of one chain
    out = {
        "adaptation": args.adaptation,
        "authors": args.authors,
        "tune": args.tune,
        "draws": args.draws,
        "em_s": round(t1 - t0, 1),
        "compile_s": round(t2 - t1, 1),
        "sample_s": round(t3 - t2, 1),
        "warmup_steps_per_iteration": round(float(warm.mean()), 1),
        "warmup_steps_by_fifth": [round(float(part.mean()), 1) for part in np.array_split(warm, 5, axis=1)],
        # the early window: nutpie updates the mass matrix every 10 iterations there
        "warmup_steps_first_60_by_ten": [
            round(float(warm[:, i : i + 10].mean()), 1) for i in range(0, min(60, warm.shape[1]), 10)
        ],
        "warmup_smallest_step_size_first_60": [
            float(f"{v:.3g}") for v in trace["warmup_sample_stats"]["step_size"].values[:, :60].min(axis=1)
        ],
        "maxdepth": args.maxdepth,
        "disperse": args.disperse,
        "eigval_cutoff": args.eigval_cutoff,
        "seed": args.seed,
        "steps_per_draw": round(float(kept.mean()), 1),
        "max_steps_per_draw": int(kept.max()),
        "gradients_per_chain": int(per_chain),
        "seconds_per_gradient": round((t3 - t2) / per_chain, 4),
        "divergences": int(trace["sample_stats"]["diverging"].values.sum()),
    }
    if args.chains >= 2:  # R-hat compares chains
        patch_nutpie_idata(trace, graph, sampling_time=t3 - t2)
        for group in [g for g in trace.children if g.startswith("warmup")]:
            del trace[group]
        model._set_fitted(data, trace)
        rule = model.convergence()
        out |= {
            "max_rhat": round(rule.max_rhat, 4),
            "max_rhat_at": rule.max_rhat_at,
            "min_ess_bulk": round(rule.min_ess_bulk),
            "min_ess_tail": round(rule.min_ess_tail),
            "passed": rule.passed,
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
