"""Where a fit's gradients go, warmup and draws, under one of nutpie's mass-matrix adaptations (issue 25).

Builds the model as :meth:`bayesseg.model.SegmentModel.fit` does (the EM start, the graph, the
chains' jittered hyper-parameters) on ``simulate_counts(--authors, 60, 6, separation=1.2,
mean_total=100, seed=--data-seed)``, calls nutpie directly with ``save_warmup=True`` so the warmup's leapfrog
steps are counted, then relabels the draws and applies the project's convergence rule. Prints one
JSON line: seconds of the EM start, compilation and sampling; leapfrog steps per warmup iteration
(overall and by fifth of the warmup) and per draw; gradients per chain; seconds of sampling per
gradient of a chain; divergences; the largest R-hat over every entry and the smallest bulk and
tail ESS (not with one chain); for the early window, the steps of iterations 1-10, 11-20,
..., 51-60 and each chain's smallest step size there; and each chain's warmup steps by fifth and
steps per draw. ``--early-switch-freq``, ``--update-freq`` and ``--early-window`` set nutpie's
early window, which ``nutpie.sample``'s keywords do not reach, on its settings object;
``--mass-matrix-gamma`` sets the low-rank correction's regularisation (the fit's default unless
given; nutpie's own is 1e-5); ``--data-seed`` draws another data set (and EM start).

    .venv/bin/python benchmarks/adaptation.py --adaptation diag
    .venv/bin/python benchmarks/adaptation.py --adaptation low_rank
    .venv/bin/python benchmarks/adaptation.py --adaptation low_rank --maxdepth 7
    .venv/bin/python benchmarks/adaptation.py --disperse hyper
    .venv/bin/python benchmarks/adaptation.py --eigval-cutoff 10 --draws 20
    .venv/bin/python benchmarks/adaptation.py --chains 1 --draws 20
    .venv/bin/python benchmarks/adaptation.py --early-switch-freq 5 --draws 20
    .venv/bin/python benchmarks/adaptation.py --data-seed 2 --seed 266366836 --draws 100 --early-switch-freq 5
    .venv/bin/python benchmarks/adaptation.py --data-seed 10 --seed 543081734 --draws 100 --mass-matrix-gamma 1e-5

Steps do not depend on the machine's load; seconds do.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np

from bayesseg.config import DEFAULT_SAMPLER_CONFIG
from bayesseg.model.sampling import DISPERSED, compile_nutpie, nutpie_settings

DISPERSE = {
    "shipped": DISPERSED,
    "hyper": tuple(v for v in DISPERSED if v not in ("intercept", "slope")),
    "none": (),
}


def _sample(compiled: Any, args: argparse.Namespace) -> Any:
    """nutpie's NUTS as the fit builds it (:func:`bayesseg.model.sampling.nutpie_settings`), with `args`' changes.

    The settings a fit does not expose (tree depth, the early window's length, the update
    frequency, the low-rank cutoff) are set on the same settings object; the warmup is kept so
    that its steps are counted. With the defaults this is ``nutpie.sample``'s run draw for draw
    (``tests/test_sampling.py``).
    """
    from nutpie.sample import _BackgroundSampler

    config = {
        **DEFAULT_SAMPLER_CONFIG,
        "tune": args.tune,
        "draws": args.draws,
        "chains": args.chains,
        "nutpie_low_rank": args.adaptation == "low_rank",
        "nutpie_early_switch_freq": args.early_switch_freq,
        "nutpie_mass_matrix_gamma": args.mass_matrix_gamma,
    }
    settings = nutpie_settings(config, args.seed)
    spec = settings.as_dict()["settings"]
    spec["maxdepth"] = args.maxdepth
    spec["adapt_options"] |= {"early_window": args.early_window, "mass_matrix_update_freq": args.update_freq}
    if args.adaptation == "low_rank":
        spec["adapt_options"]["mass_matrix_options"]["eigval_cutoff"] = args.eigval_cutoff
    settings.update_settings(spec)
    return _BackgroundSampler(compiled, settings, np.zeros(compiled.n_dim), args.chains, progress_bar=False).wait()


def main() -> None:
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
        "--data-seed", type=int, default=1, help="seed of the simulated counts and of the EM start's restarts"
    )
    p.add_argument(
        "--chains", type=int, default=2, help="chains, one core each (with 1, no R-hat: the rule is not applied)"
    )
    p.add_argument(
        "--eigval-cutoff", type=float, default=2.0, help="nutpie's mass_matrix_eigval_cutoff (low_rank; default 2)"
    )
    p.add_argument(
        "--early-switch-freq",
        type=int,
        default=DEFAULT_SAMPLER_CONFIG["nutpie_early_switch_freq"],
        help="draws behind each switch of the mass matrix in nutpie's early window (the fit's; nutpie's own is 10)",
    )
    p.add_argument(
        "--mass-matrix-gamma",
        type=float,
        default=DEFAULT_SAMPLER_CONFIG["nutpie_mass_matrix_gamma"],
        help="the low-rank correction's regularisation (the fit's nutpie_mass_matrix_gamma; nutpie's own is 1e-5)",
    )
    p.add_argument(
        "--update-freq",
        type=int,
        default=20,
        help="draws between updates of the mass matrix from its current estimate (nutpie's mass_matrix_update_freq)",
    )
    p.add_argument(
        "--early-window", type=float, default=0.3, help="the early window's share of the warmup (nutpie's default 0.3)"
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
    counts, cov, _ = simulate_counts(args.authors, 60, 6, separation=1.2, mean_total=100, seed=args.data_seed)
    model = SegmentModel(6, sampler_config={"random_seed": args.data_seed, "draws": args.draws, "tune": args.tune})
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
    compiled = compile_nutpie(
        graph,
        initial_points=in_sampling_order(initvals, graph.coords["category_sampling"], categories),
        jitter_rvs={graph[v] for v in DISPERSE[args.disperse] if v in graph.named_vars},
    )
    t2 = time.perf_counter()
    trace = _sample(compiled, args)
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
        # the early window: nutpie updates the mass matrix every --early-switch-freq iterations there
        "warmup_steps_first_60_by_ten": [
            round(float(warm[:, i : i + 10].mean()), 1) for i in range(0, min(60, warm.shape[1]), 10)
        ],
        "warmup_smallest_step_size_first_60": [
            float(f"{v:.3g}") for v in trace["warmup_sample_stats"]["step_size"].values[:, :60].min(axis=1)
        ],
        "maxdepth": args.maxdepth,
        "disperse": args.disperse,
        "eigval_cutoff": args.eigval_cutoff,
        "early_switch_freq": args.early_switch_freq,
        "mass_matrix_gamma": args.mass_matrix_gamma,
        "early_window": args.early_window,
        "update_freq": args.update_freq,
        "seed": args.seed,
        "data_seed": args.data_seed,
        "warmup_steps_by_fifth_per_chain": [
            [round(float(part.mean()), 1) for part in np.array_split(chain, 5)] for chain in warm
        ],
        "steps_per_draw": round(float(kept.mean()), 1),
        "steps_per_draw_per_chain": [round(float(chain.mean()), 1) for chain in kept],
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
