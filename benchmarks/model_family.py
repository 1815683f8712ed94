"""Is the Dirichlet-multinomial the right family for real count tables? Five mixture families by PSIS-LOO.

On the two count tables of ``benchmarks/choose_k.py`` (vegan's ``BCI``, 50 plots × 225 tree
species, and ``mite``, 70 soil cores × 35 oribatid mite species; exported by ``Rscript``: needs R
with ``vegan``, ``apt-get install r-cran-vegan``), :func:`bayesseg.evaluation.families.compare_families`
fits mixtures of the Dirichlet-multinomial, the multinomial, independent negative binomials, the
logistic normal and the generalized Dirichlet-multinomial (a dispersion per category) for K =
1..``--max-k`` with the same structure of priors, by PyMC's NUTS, and compares
each row's leave-one-out predictive density (PSIS-LOO; k̂ and dse shown). Not in-model: nothing here
was drawn from any of the families.

    .venv/bin/python benchmarks/model_family.py --max-k 4
    .venv/bin/python benchmarks/model_family.py --ks 1

Writes ``results/model_family_{BCI,mite}.csv`` (one row per family and K; with ``--ks``, the
families compared at those K only, each difference's standard error against that comparison's best,
in ``results/model_family_{table}_k1.csv``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from bayesseg.evaluation.families import FAMILIES, SAMPLER, compare_families

RESULTS = Path(__file__).parent / "results"
R_EXPORT = """
suppressMessages(library(vegan))
out <- commandArgs(trailingOnly = TRUE)[1]
data(BCI); data(mite)
write.csv(as.matrix(BCI), file.path(out, "BCI.csv"))
write.csv(as.matrix(mite), file.path(out, "mite.csv"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-k", type=int, default=4)
    parser.add_argument("--ks", nargs="+", type=int, help="these K only (written to model_family_{table}_k....csv)")
    parser.add_argument("--tables", nargs="+", default=["mite", "BCI"], choices=["mite", "BCI"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--draws", type=int, default=SAMPLER["draws"])
    parser.add_argument("--tune", type=int, default=SAMPLER["tune"])
    args = parser.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["Rscript", "-e", R_EXPORT, tmp], check=True, capture_output=True, text=True)
        tables = {name: pd.read_csv(Path(tmp) / f"{name}.csv", index_col=0) for name in args.tables}
    RESULTS.mkdir(exist_ok=True)
    for name, table in tables.items():
        comparison = compare_families(
            table.to_numpy(),
            args.families,
            args.ks or range(1, args.max_k + 1),
            {"draws": args.draws, "tune": args.tune},
        )
        comparison.insert(0, "table", name)
        suffix = "_k" + "_".join(map(str, args.ks)) if args.ks else ""
        comparison.to_csv(RESULTS / f"model_family_{name}{suffix}.csv", index_label="model")
        print(f"\n{name} ({table.shape[0]} rows × {table.shape[1]} categories)")
        print(comparison.drop(columns="table").round(2).to_string(), flush=True)


if __name__ == "__main__":
    main()
