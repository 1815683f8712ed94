"""What nutpie's low-rank mass matrix costs per leapfrog step against its diagonal one, on a small table.

For each K of ``--k`` on ``benchmarks/dmn_speed.py``'s table (278 × 130, totals in the thousands, true K
= 4; ``--table-seed``) and each mass matrix (``sampler_config["nutpie_low_rank"]`` true and false), two fits
with the same seed and warmup, ``--draws`` short and long (2 chains, 300 warmup iterations each). The
warmup is the same in both, so the extra seconds over the extra leapfrog steps are the cost of a step
after warmup; the rest of the short fit's sampling seconds (minus its draws' steps at that cost) is the
warmup's. Also the draws' steps, bulk ESS and its rate. In-model for the likelihood (K unknown).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/mass_matrix_cost.py --k 4 7

The gradient alone costs what ``benchmarks/gradient_cost.py --table dmn`` prints. Appends to
``results/mass_matrix_cost.csv``.
"""

from __future__ import annotations

import argparse

from dmn_speed import SAMPLER, simulate_table
from results_table import append_rows

from bayesseg.model import SegmentModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[4, 7])
    ap.add_argument("--table-seed", type=int, default=1)
    ap.add_argument("--draws", type=int, nargs=2, default=[300, 1500], metavar=("SHORT", "LONG"))
    args = ap.parse_args()
    counts = simulate_table(278, 130, 4, args.table_seed)
    rows = []
    for k in args.k:
        for low_rank in (True, False):
            fits = {}
            for draws in args.draws:
                config = {**SAMPLER, "sampler": "nutpie", "random_seed": args.table_seed, "draws": draws}
                fit = SegmentModel(k, None, {**config, "nutpie_low_rank": low_rank}).fit(counts, None)
                steps = fit.idata_["sample_stats"]["n_steps"]
                # the sampler's own seconds: nutpie's, without the EM start or the compilation
                seconds = float(fit.idata_["posterior"].attrs["sampling_time"])
                fits[draws] = (seconds, float(steps.sum("draw").max()), float(steps.mean()), fit.convergence())
            (s_short, n_short, _, _), (s_long, n_long, per_long, verdict) = (
                fits[args.draws[0]],
                fits[args.draws[1]],
            )
            per_step = (s_long - s_short) / (n_long - n_short)  # seconds a step after warmup, the longer chain's
            row = {
                "table_seed": args.table_seed,
                "k": k,
                "low_rank": low_rank,
                "draws": f"{args.draws[0]}/{args.draws[1]}",
                "us_per_step_after_warmup": round(1e6 * per_step, 1),
                "warmup_seconds": round(s_short - per_step * n_short, 1),
                "steps_per_draw": round(per_long, 1),
                "seconds_long": round(s_long, 1),
                "min_ess_bulk_long": round(verdict.min_ess_bulk),
                "ess_per_second_long": round(verdict.min_ess_bulk / s_long, 1),
                "max_rhat_long": round(verdict.max_rhat, 3),
                "divergences_long": int(verdict.divergences),
            }
            print(row, flush=True)
            rows.append(row)
    append_rows(rows, "mass_matrix_cost.csv")


if __name__ == "__main__":
    main()
