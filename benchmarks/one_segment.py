"""K = 1 on sparse, overdispersed tables: divergences, ESS and the convergence rule (2026.12.8's form, 2026.12.7's).

For each ``--table-seeds`` table of ``benchmarks/dmn_speed.py`` (278 × 130, totals in the thousands, true
K = 4), one fit of one segment by nutpie with ``dmn_speed.py``'s settings (2 × (300 + ``--draws``), sampler
seed the table seed), and its convergence: largest R-hat (and where), least bulk / tail ESS, divergences,
whether the project's rule holds; and the posterior means of ``log_concentration_mu``,
``log_concentration_sd`` and ``concentration``, which a reparametrisation must leave unchanged. Not
in-model: the tables have four segments, the fit one (the K every comparison of K includes).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/one_segment.py --draws 300 --table-seeds 1 2 3 4 5 6

Run it with an earlier checkout's ``bayesseg`` first on ``PYTHONPATH`` to measure that version's form.
Prints a row per table and appends them to ``results/one_segment.csv``, with the specification version.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dmn_speed import SAMPLER, simulate_table
from results_table import append_rows

import bayesseg
from bayesseg.config import RunSpec
from bayesseg.model import SegmentModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table-seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--draws", type=int, default=SAMPLER["draws"])
    args = ap.parse_args()
    # the spec beside the bayesseg imported (an earlier checkout's on PYTHONPATH), not the installed package data's
    version = RunSpec.from_toml(Path(bayesseg.__file__).resolve().parents[1] / "models" / "fashion.toml").version
    rows = []
    for seed in args.table_seeds:
        counts = simulate_table(278, 130, 4, seed)
        started = time.perf_counter()
        fit = SegmentModel(1, None, {**SAMPLER, "sampler": "nutpie", "random_seed": seed, "draws": args.draws})
        fit.fit(counts, None)
        seconds = time.perf_counter() - started
        verdict = fit.convergence()
        post = fit.idata_["posterior"]
        row = {
            "version": version,
            "table_seed": seed,
            "draws": args.draws,
            "seconds": round(seconds, 1),
            "steps": round(float(fit.idata_["sample_stats"]["n_steps"].mean()), 1),
            "max_rhat": round(verdict.max_rhat, 3),
            "max_rhat_at": verdict.max_rhat_at,
            "min_ess_bulk": round(verdict.min_ess_bulk),
            "min_ess_tail": round(verdict.min_ess_tail),
            "divergences": int(verdict.divergences),
            "passed": bool(verdict.passed),
            **{
                f"mean_{name}": round(float(post[name].mean()), 3)
                for name in ("log_concentration_mu", "log_concentration_sd", "concentration")
            },
        }
        print(row, flush=True)
        rows.append(row)
    append_rows(rows, "one_segment.csv")


if __name__ == "__main__":
    main()
