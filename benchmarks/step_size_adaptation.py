"""Gradients and ESS of fits under nutpie's two step-size adaptations, warmup counted (issue 25).

For each ``--table-seeds`` table of ``benchmarks/dmn_speed.py`` (278 × 130, totals in the thousands, true
K = 4) and each K of ``--segments``, one fit per ``--adaptations`` value of
``sampler_config["nutpie_step_size_adaptation"]`` (``dual_average``, nutpie's own and the default, or
``adam``), with ``dmn_speed.py``'s settings (nutpie, 2 × (300 + 300), sampler seed the table seed). The fit
discards its warmup; this script keeps the warmup's sampler statistics (nutpie's ``save_warmup``, which
does not change the draws) so that every leapfrog step is counted. Per fit: the leapfrog steps (gradients)
of each chain, warmup and draws, and of the warmup's first 50 iterations; steps per draw; the least bulk
ESS per thousand gradients of the slower chain (the chains run side by side, so the slower sets the wall
time); and the project's convergence figures. Steps do not depend on the machine's load; seconds do.
In-model for the likelihood, K unknown (K = 4 is the truth, the other K are not).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/step_size_adaptation.py --table-seeds 1 2 3 --segments 2 4 7

Prints a JSON line per fit and appends them to ``results/step_size_adaptation.csv``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dmn_speed import SAMPLER, simulate_table
from results_table import append_rows

from bayesseg.model import SegmentModel
from bayesseg.model.sampling import STEP_SIZE_ADAPTATIONS


@contextmanager
def warmup_kept(store: dict[str, Any]) -> Iterator[None]:
    """nutpie's sampler keeps the warmup's statistics in the block, and the last trace is put in `store`."""
    module = importlib.import_module("nutpie.sample")  # the module: the package's `sample` is the function
    original = module._BackgroundSampler

    class Keeping(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "save_warmup": True})

        def wait(self, *args: Any, **kwargs: Any) -> Any:
            store["trace"] = super().wait(*args, **kwargs)
            return store["trace"]

    module._BackgroundSampler = Keeping
    try:
        yield
    finally:
        module._BackgroundSampler = original


def one_fit(table_seed: int, k: int, adaptation: str) -> dict[str, Any]:
    """One fit's gradients and convergence (see the module's docstring)."""
    counts = simulate_table(278, 130, 4, table_seed)
    config = {**SAMPLER, "sampler": "nutpie", "random_seed": table_seed, "nutpie_step_size_adaptation": adaptation}
    store: dict[str, Any] = {}
    started = time.perf_counter()
    with warmup_kept(store):
        model = SegmentModel(k, None, config).fit(counts, None)
    seconds = time.perf_counter() - started
    trace = store["trace"]
    warm = trace["warmup_sample_stats"]["n_steps"].values
    kept = trace["sample_stats"]["n_steps"].values
    per_chain = warm.sum(axis=1) + kept.sum(axis=1)
    rule = model.convergence()
    return {
        "table_seed": table_seed,
        "k": k,
        "adaptation": adaptation,
        "gradients": int(per_chain.sum()),
        "gradients_slower_chain": int(per_chain.max()),
        "warmup_gradients": int(warm.sum()),
        "first_50_warmup_gradients": int(warm[:, :50].sum()),
        "steps_per_draw": round(float(kept.mean()), 1),
        "min_ess_bulk": round(rule.min_ess_bulk),
        "min_ess_tail": round(rule.min_ess_tail),
        "ess_bulk_per_1000_gradients": round(1000 * rule.min_ess_bulk / float(per_chain.max()), 2),
        "max_rhat": round(rule.max_rhat, 4),
        "divergences": rule.divergences,
        "fit_seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table-seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--segments", type=int, nargs="+", default=[2, 4, 7])
    ap.add_argument(
        "--adaptations", nargs="+", default=list(STEP_SIZE_ADAPTATIONS), choices=sorted(STEP_SIZE_ADAPTATIONS)
    )
    args = ap.parse_args()
    rows = []
    for table_seed in args.table_seeds:
        for k in args.segments:
            for adaptation in args.adaptations:
                rows.append(one_fit(table_seed, k, adaptation))
                print(json.dumps(rows[-1]), flush=True)
    append_rows(rows, "step_size_adaptation.csv")


if __name__ == "__main__":
    main()
