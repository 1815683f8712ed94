"""What the README run's failing overdispersion check is made of: one concentration per segment against one per TYPE.

The run's posterior predictive check of within-segment overdispersion fails (docs/validity.md): some
categories vary more within a segment than the Dirichlet-multinomial allows, others less. This script
asks whether the taxonomy's detector types (``object_detection``, ``pattern``, ``shoe``, ``shoe_brand``,
``bag_brand``) say which. For each segment's authors it fits, by maximum likelihood,

- the model's family: :math:`y \\sim \\mathrm{DM}(\\alpha)`, one concentration :math:`\\sum_c \\alpha_c`;
- a Dirichlet-tree multinomial over the taxonomy's two levels (Dennis 1991; Wang & Zhao 2017): the
  TYPE totals :math:`\\sim \\mathrm{DM}(\\beta)`, and within each TYPE the categories
  :math:`\\sim \\mathrm{DM}(\\alpha^{(g)})`, a concentration per TYPE. The DM is the tree whose
  within-TYPE concentrations are :math:`\\sum_{c \\in g} \\alpha_c` (aggregation property), so the tree
  nests it, with one more parameter per TYPE of more than one category.

It prints, per segment, each TYPE's free within-TYPE concentration beside the one the DM implies (a
ratio below 1: the TYPE's categories vary more than the DM allows; above 1: less) and the tree's gain in
log-likelihood (a likelihood-ratio statistic of twice that on as many degrees of freedom as extra
parameters). ``--apart`` takes named categories out of their TYPEs into a node of their own: on a
simulated warehouse, those of the simulator's trend labels, drawn per image with their segment's weekly
probability and so without any variation between the authors of a segment. Segments are the simulator's
true ones (``--segments truth``, where the warehouse has them) or the fit's most likely ones (``modal``,
what a real warehouse allows). Log-likelihoods are computed by ``scipy.stats.dirichlet_multinomial``,
independently of the optimiser's own.

Run after ``bayesseg run`` (which writes ``runs/latest``)::

    .venv/bin/python benchmarks/dispersion_by_type.py --run runs/latest --segments truth

References: Dennis, S. Y. (1991), On the hyper-Dirichlet type 1 and hyper-Liouville distributions,
*Communications in Statistics - Theory and Methods* 20(12), 4069-4081,
https://doi.org/10.1080/03610929108830757; Wang, T. & Zhao, H. (2017), A Dirichlet-tree multinomial
regression model for associating dietary nutrients with gut microorganisms, *Biometrics* 73(3),
792-801, https://doi.org/10.1111/biom.12654.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from results_table import append_rows
from scipy import optimize, special, stats

from bayesseg.config import RunSpec
from bayesseg.data.connect import open_source
from bayesseg.evaluation.truth import read_truth
from bayesseg.taxonomy import Taxonomy


class RunTable(NamedTuple):
    """What :func:`read_run` reads: the specification's version, counts (author × category), segments, TYPEs."""

    spec: str
    counts: pd.DataFrame
    segment: pd.Series
    types: np.ndarray


def dm_mle(y: np.ndarray) -> np.ndarray:
    """Maximum-likelihood Dirichlet-multinomial parameters of the rows of `y` (rows with a total)."""
    y = y[y.sum(axis=1) > 0]
    n = y.sum(axis=1)

    def minus(log_alpha: np.ndarray) -> tuple[float, np.ndarray]:
        a = np.exp(log_alpha)
        total = a.sum()
        ll = special.gammaln(total) - special.gammaln(n + total) + (special.gammaln(y + a) - special.gammaln(a)).sum(1)
        grad = (special.digamma(total) - special.digamma(n + total)).sum() + (
            special.digamma(y + a) - special.digamma(a)
        ).sum(axis=0)
        return -float(ll.sum()), -grad * a

    start = np.log(20 * (y.sum(axis=0) + 0.5) / (y.sum() + 0.5 * y.shape[1]))
    fit = optimize.minimize(minus, start, jac=True, method="L-BFGS-B")
    return np.exp(fit.x)


def dm_loglik(y: np.ndarray, alpha: np.ndarray) -> float:
    """Sum of the rows' Dirichlet-multinomial log-probabilities (scipy's), rows with a total."""
    y = y[y.sum(axis=1) > 0]
    return float(stats.dirichlet_multinomial.logpmf(y, alpha, y.sum(axis=1)).sum())


class TreeFit(NamedTuple):
    """:func:`tree_mle`'s fit: the TYPE names, the top level's α, each TYPE's own α (TYPEs of two or more
    categories), and the log-likelihood (scipy's)."""

    names: list[str]
    top: np.ndarray
    within: dict[str, np.ndarray]
    loglik: float


def tree_mle(y: np.ndarray, types: np.ndarray) -> TreeFit:
    """Maximum-likelihood Dirichlet-tree multinomial with a node per TYPE (`types`, one per column of `y`)."""
    names = sorted(set(types))
    totals = np.stack([y[:, types == t].sum(axis=1) for t in names], axis=1)
    top = dm_mle(totals)
    loglik, within = dm_loglik(totals, top), {}
    for t in names:
        inside = y[:, types == t]
        if inside.shape[1] < 2:
            continue
        within[t] = dm_mle(inside)
        loglik += dm_loglik(inside, within[t])
    return TreeFit(names, top, within, loglik)


def compare(y: np.ndarray, types: np.ndarray) -> dict[str, float]:
    """One segment's authors: the DM, the tree, and each TYPE's free and implied within-TYPE concentration."""
    alpha = dm_mle(y)
    row: dict[str, float] = {"authors": len(y), "concentration": alpha.sum(), "loglik_dm": dm_loglik(y, alpha)}
    tree = tree_mle(y, types)
    for t, own in tree.within.items():
        row[f"{t}_free"], row[f"{t}_implied"] = own.sum(), alpha[types == t].sum()
    # the tree's top level and its TYPEs of two or more categories have a concentration each, the DM one
    extra = len(tree.within)
    row["loglik_tree"], row["extra_parameters"] = tree.loglik, extra
    row["gain"] = tree.loglik - row["loglik_dm"]
    row["p_value"] = float(stats.chi2.sf(2 * row["gain"], extra))
    return row


def read_run(run: Path, config: Path | None, source: str | None, segments: str, apart: list[str]) -> RunTable:
    """A `bayesseg run` folder's segmented authors' counts, each author's segment and each category's TYPE.

    Parameters
    ----------
    run : Path
        The run's output folder (``counts.parquet``, ``memberships.csv``).
    config : Path or None
        The run's specification (None: the shipped one), for its taxonomy and version.
    source : str or None
        The warehouse, for ``segments = "truth"`` (None: the embedded one).
    segments : {"truth", "modal"}
        The simulator's true segments, or each author's most probable one.
    apart : list of str
        Categories given the TYPE ``"apart"``.

    Raises
    ------
    SystemExit
        If a category of `apart` is not the run's, or ``"truth"`` is asked of a warehouse without one.
    """
    spec = RunSpec.from_toml(config)
    labels = Taxonomy.from_toml(spec.taxonomy).labels.dropna(subset=["CATEGORY"])
    type_of = labels.groupby("CATEGORY")["TYPE"].first()
    long = pd.read_parquet(run / "counts.parquet")
    memberships = pd.read_csv(run / "memberships.csv")
    modal = memberships.loc[memberships.groupby("id")["prob_mean"].idxmax()].set_index("id")["segment"]
    counts = long.pivot_table(index="author", columns="category", values="count", fill_value=0, aggfunc="sum")
    counts = counts.loc[counts.index.isin(modal.index)]  # the segmented authors
    # a folded "<group>_other" category, or one the taxonomy files under an excluded reason, has no TYPE of its own
    types = np.array([type_of.get(c, "(other)") for c in counts.columns])
    unknown = sorted(set(apart) - set(counts.columns))
    if unknown:
        raise SystemExit(f"--apart: {unknown} are not categories of the run")
    types[np.isin(counts.columns, apart)] = "apart"
    if segments == "truth":
        truth = read_truth(open_source(source))
        if truth is None:
            raise SystemExit("--segments truth needs a simulated warehouse; use --segments modal")
        segment = pd.Series(truth.segment_of(counts.index.values), index=counts.index).astype(str)
    else:
        segment = modal.loc[counts.index].astype(str)
    return RunTable(spec.version, counts, segment, types)


def add_run_arguments(ap: argparse.ArgumentParser, segments: str) -> None:
    """The options of :func:`read_run`: ``--run``, ``--config``, ``--source``, ``--segments`` (default `segments`),
    ``--apart``."""
    ap.add_argument("--run", type=Path, default=Path("runs/latest"), help="a `bayesseg run` output folder")
    ap.add_argument("--config", type=Path, help="the run's specification (default: the shipped one)")
    ap.add_argument("--source", help="the warehouse, for --segments truth (default: the embedded one)")
    ap.add_argument("--segments", choices=["truth", "modal"], default=segments)
    ap.add_argument(
        "--apart",
        nargs="*",
        default=[],
        help="categories taken out of their TYPEs into a node of their own (e.g. the simulator's trend labels)",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, "truth")
    args = ap.parse_args()
    table = read_run(args.run, args.config, args.source, args.segments, args.apart)
    counts, segment, types = table.counts, table.segment, table.types
    rows = [
        {
            "spec": table.spec,
            "segments": args.segments,
            "apart": " ".join(args.apart),
            "segment": s,
            **compare(counts.values[(segment == s).values], types),
        }
        for s in sorted(segment.unique())
    ]
    frame = pd.DataFrame(rows)
    ratios = {c.removesuffix("_free"): frame[c] / frame[c.replace("_free", "_implied")] for c in frame if "_free" in c}
    shown = frame[["segment", "authors", "concentration", "gain", "extra_parameters", "p_value"]].assign(
        **{f"{t} free/implied": r for t, r in ratios.items()}
    )
    sizes = pd.Series(types).value_counts().to_dict()
    print(f"{counts.shape[0]:,} authors × {counts.shape[1]} categories; categories per TYPE: {sizes}")
    print(shown.round(3).to_string(index=False))
    append_rows(rows, "dispersion_by_type.csv")


if __name__ == "__main__":
    main()
