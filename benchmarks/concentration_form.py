"""Centred against non-centred concentrations over a K range, with what ``auto`` chooses (2026.12.7).

For each K = 2..``--max-k`` on ``benchmarks/dmn_speed.py``'s table (278 × 130 sparse, overdispersed counts,
totals in the thousands, true K = 4; ``--table-seed``): one fit with each
parametrisation forced (``model_config["concentration_parametrization"]``), 2 × (300 + 300) draws by nutpie
(``dmn_speed.py``'s settings, sampler seed the table seed), and its convergence: largest R-hat, least bulk
ESS, divergences; and the spread and error of the log concentrations at the fits' EM start (what
:func:`bayesseg.model.graph.centred_concentration` decides by) with the form ``auto`` chooses from them.
In-model for the likelihood (the table is Dirichlet-multinomial; K unknown). One segment has been sampled in
a form of its own since 2026.12.8 (:func:`bayesseg.model.graph.build_graph`), so K = 1 is not fitted here;
the csv's K = 1 rows are 2026.12.7's.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/concentration_form.py --table-seed 2

Prints a row per K and appends them to ``results/concentration_form.csv``.
"""

from __future__ import annotations

import argparse
import time

from dmn_speed import SAMPLER, simulate_table
from results_table import append_rows

from bayesseg.model import SegmentModel
from bayesseg.model.graph import centred_concentration


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table-seed", type=int, default=1)
    ap.add_argument("--max-k", type=int, default=7)
    args = ap.parse_args()
    counts = simulate_table(278, 130, 4, args.table_seed)
    config = {**SAMPLER, "sampler": "nutpie", "random_seed": args.table_seed}
    rows = []
    for k in range(2, args.max_k + 1):
        row: dict[str, object] = {"table_seed": args.table_seed, "k": k}
        for form in ("centred", "non_centred"):
            started = time.perf_counter()
            fit = SegmentModel(k, {"concentration_parametrization": form}, config).fit(counts, None)
            if fit.start_ is not None and "spread" not in row:  # the EM start comes before the parametrisation
                spread = fit.start_.concentration_spread()
                auto = centred_concentration("auto", counts.sizes["author"], k, spread)
                row |= {
                    "spread": round(spread[0], 4),
                    "error": round(spread[1], 4),
                    "auto": "centred" if auto else "non_centred",
                }
            verdict = fit.convergence()
            row |= {
                f"{form}_seconds": round(time.perf_counter() - started, 1),
                f"{form}_max_rhat": round(verdict.max_rhat, 3),
                f"{form}_max_rhat_at": verdict.max_rhat_at,
                f"{form}_min_ess_bulk": round(verdict.min_ess_bulk),
                f"{form}_divergences": int(verdict.divergences),
            }
        print(row, flush=True)
        rows.append(row)
    append_rows(rows, "concentration_form.csv")


if __name__ == "__main__":
    main()
