"""Which count family would pass the README run's own predictive checks? Plug-in fits per segment, the run's checks.

The README run's posterior predictive checks of within-segment overdispersion and of co-occurrence fail
(``bayesseg run``'s report; ``docs/validity.md``). ``benchmarks/dispersion_by_type.py`` measured what the
overdispersion failure is made of. This script asks which family of a segment's counts would pass the same
checks, before any of them is built into the model. For each segment of the run (each author's most probable
one, or the simulator's truth), it fits by maximum likelihood, on all the segment's authors:

- ``dm``: the model's family, the Dirichlet-multinomial :math:`\\mathrm{DM}(\\alpha)`, one concentration
  (Mosimann 1962);
- ``tree``: a Dirichlet-tree multinomial over the taxonomy's TYPEs: TYPE totals :math:`\\sim \\mathrm{DM}(\\beta)`,
  the categories within each TYPE :math:`\\sim \\mathrm{DM}(\\alpha^{(g)})`, a concentration per TYPE
  (Dennis 1991); ``--apart`` gives named categories a node of their own;
- ``gdm``: the generalized Dirichlet-multinomial of Connor & Mosimann (1969), a concentration per category:
  in a fixed order of the categories, :math:`y_c \\mid y_{<c} \\sim \\mathrm{BetaBinomial}(n - \\sum_{j<c} y_j,
  a_c, b_c)`, the last category the rest. The order is the categories' totals over all authors, largest first;
- ``gdm_shuffled``: the same in a random order (``--seed``): the family depends on the order.

Then it draws ``--replicates`` data sets of ``--authors`` authors from each family's fits (each author's total
and segment kept) and applies the run's own checks (:mod:`bayesseg.model.ppc`: the statistics, the p-values,
the verdict rule), with the fitted parameters in place of posterior draws. Two things differ from the run's
checks: the parameters are not uncertain, which narrows the replicates; they are fitted to the data they are
checked against, which widens the p-values toward 0.5. The ``dm`` rows against the run's own verdicts say
how far the two cancel. ``--control FAMILY`` first replaces the counts by one draw from that family's fits:
the family then checked in-model should pass.

``--nuts SEGMENT`` checks one segment's authors with the real thing instead: the DM and the GDM (categories
largest total first) fitted with one segment by NUTS
(:func:`bayesseg.evaluation.families.fit_family`; PSIS-LOO compares them), and the checks made with one
replicate per kept posterior draw. ``--cost`` prints what a DM and a GDM likelihood kernel would evaluate
on the run's table (:func:`likelihood_terms`); ``--orders N`` the GDM's gain over the DM under two rules and
N random orders of the categories.

Run after ``bayesseg run`` (which writes ``runs/latest``)::

    .venv/bin/python benchmarks/family_checks.py --run runs/latest --segments modal
    .venv/bin/python benchmarks/family_checks.py --run runs/latest --segments modal --nuts 0

References: Mosimann, J. E. (1962), On the compound multinomial distribution, the multivariate β-distribution,
and correlations among proportions, *Biometrika* 49(1-2), 65-82, https://doi.org/10.1093/biomet/49.1-2.65;
Connor, R. J. & Mosimann, J. E. (1969), Concepts of independence for proportions with a generalization of
the Dirichlet distribution, *JASA* 64(325), 194-206, https://doi.org/10.1080/01621459.1969.10500963;
Dennis, S. Y. (1991), On the hyper-Dirichlet type 1 and hyper-Liouville distributions, *Communications in
Statistics - Theory and Methods* 20(12), 4069-4081, https://doi.org/10.1080/03610929108830757; Gelman, A.,
Meng, X.-L. & Stern, H. (1996), Posterior predictive assessment of model fitness via realized discrepancies,
*Statistica Sinica* 6(4), 733-760, https://www3.stat.sinica.edu.tw/statistica/j6n4/j6n41/j6n41.htm.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from dispersion_by_type import add_run_arguments, dm_loglik, dm_mle, read_run, tree_mle
from results_table import append_rows
from scipy import optimize, special, stats

from bayesseg.dims import stack_sample_dims
from bayesseg.evaluation.families import fit_family
from bayesseg.model.ppc import (
    cooccurrence,
    far_threshold,
    predictive_p_values,
    standardised_discrepancy,
    verdict,
    within_segment_dispersion,
    zero_shares,
)

FAMILIES = ("dm", "tree", "gdm", "gdm_shuffled")


class Fitted(NamedTuple):
    """One segment's fit: its log-likelihood (scipy's), its number of parameters, and a sampler of counts."""

    loglik: float
    parameters: int
    sample: Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _dm_sample(alpha: np.ndarray) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def sample(totals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.multinomial(totals, rng.dirichlet(np.maximum(alpha, 1e-12), size=len(totals)))

    return sample


def fit_dm(y: np.ndarray) -> Fitted:
    """The Dirichlet-multinomial of the rows of `y` (authors × categories), by maximum likelihood."""
    alpha = dm_mle(y)
    return Fitted(dm_loglik(y, alpha), y.shape[1], _dm_sample(alpha))


def fit_tree(y: np.ndarray, types: np.ndarray) -> Fitted:
    """The Dirichlet-tree multinomial with a node per TYPE (`types`, one per column), by maximum likelihood."""
    tree = tree_mle(y, types)
    parameters = len(tree.names) + sum(len(a) for a in tree.within.values())

    def sample(n: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((len(n), len(types)), dtype=np.int64)
        node = _dm_sample(tree.top)(n, rng)
        for j, t in enumerate(tree.names):
            out[:, types == t] = _dm_sample(tree.within[t])(node[:, j], rng) if t in tree.within else node[:, [j]]
        return out

    return Fitted(tree.loglik, parameters, sample)


def beta_binomial_chain(n: np.ndarray, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counts drawn from a GDM, categories in chain order: (len(n), len(a) + 1); `a`, `b` one per node."""
    out, left = np.zeros((len(n), len(a) + 1), dtype=np.int64), n.astype(np.int64)
    for c in range(len(a)):
        out[:, c] = rng.binomial(left, rng.beta(a[c], b[c], size=len(n)))
        left = left - out[:, c]
    out[:, -1] = left
    return out


def beta_binomial_mle(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Maximum-likelihood (a, b) of a beta-binomial: successes `x` of `n` trials (rows with n > 0)."""
    keep = n > 0
    x, n = x[keep].astype(float), n[keep].astype(float)
    if not keep.any():
        return np.ones(2)  # no trials: any (a, b) draws nothing

    def minus(log_ab: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = np.exp(log_ab)
        ll = special.betaln(x + a, n - x + b) - special.betaln(a, b)
        common = special.digamma(a + b) - special.digamma(n + a + b)
        grad = np.array(
            [
                (special.digamma(x + a) - special.digamma(a) + common).sum() * a,
                (special.digamma(n - x + b) - special.digamma(b) + common).sum() * b,
            ]
        )
        return -float(ll.sum()), -grad

    share = (x.sum() + 0.5) / (n.sum() + 1)
    fit = optimize.minimize(
        minus, np.log([10 * share, 10 * (1 - share)]), jac=True, method="L-BFGS-B", bounds=[(-12, 15)] * 2
    )
    return np.exp(fit.x)


def fit_gdm(y: np.ndarray, order: np.ndarray) -> Fitted:
    """The generalized Dirichlet-multinomial of Connor & Mosimann, categories taken in `order`."""
    ordered = y[:, order]
    rest = ordered.sum(axis=1)
    params, loglik = [], 0.0
    for c in range(len(order) - 1):
        a, b = beta_binomial_mle(ordered[:, c], rest)
        loglik += float(stats.betabinom.logpmf(ordered[:, c], rest, a, b)[rest > 0].sum())
        params.append((a, b))
        rest = rest - ordered[:, c]

    a, b = np.array(params).T

    def sample(n: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((len(n), len(order)), dtype=np.int64)
        out[:, order] = beta_binomial_chain(n, a, b, rng)
        return out

    return Fitted(loglik, 2 * (len(order) - 1), sample)


def fit_plug_in(family: str, y: np.ndarray, types: np.ndarray, shuffled: np.ndarray) -> Fitted:
    """One segment's authors (rows of `y`) fitted by `family`, one of :data:`FAMILIES`."""
    if family == "dm":
        return fit_dm(y)
    if family == "tree":
        return fit_tree(y, types)
    # largest first by this segment's totals (an order per segment); the shuffled order is one for all segments
    return fit_gdm(y, shuffled if family == "gdm_shuffled" else np.argsort(-y.sum(axis=0), kind="stable"))


def run_checks(y: np.ndarray, z: np.ndarray, replicated: np.ndarray, k: int) -> dict[str, tuple]:
    """The run's checks of observed counts `y` (n × C, segments `z`) against replicates (S × n × C)."""
    z_all = np.broadcast_to(z, replicated.shape[:2])
    upper = np.triu_indices(y.shape[1], k=1)
    stats_of = {
        "zeros": (zero_shares(y), zero_shares(replicated), True),
        "overdispersion": (
            within_segment_dispersion(y, z_all, k),
            within_segment_dispersion(replicated, z_all, k),
            True,
        ),
        "cooccurrence": (cooccurrence(y)[upper], cooccurrence(replicated)[:, upper[0], upper[1]], True),
        "max_share": (y.max(axis=1) / y.sum(axis=1), replicated.max(axis=2) / replicated.sum(axis=2), False),
    }
    out = {}
    for name, (observed, rep, far) in stats_of.items():
        p, d = predictive_p_values(observed, rep), standardised_discrepancy(observed, rep)
        out[name] = (*verdict(p, d if far else None), d)
    return out


def posterior_replicates(posterior: dict[str, np.ndarray], totals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One replicate per posterior draw of a K = 1 fit (DM, or GDM when it has ``dispersion_ratio``), given totals."""
    p = special.softmax(posterior["logit"][:, 0], axis=-1)  # (draw, category)
    kappa = np.exp(posterior["log_concentration"][:, 0])
    out = np.zeros((len(p), len(totals), p.shape[1]), dtype=np.int64)
    for s in range(len(p)):
        if "dispersion_ratio" not in posterior:
            out[s] = _dm_sample(kappa[s] * p[s])(totals, rng)
            continue
        scale = kappa[s] * np.exp(posterior["dispersion_ratio_sd"][s] * posterior["dispersion_ratio"][s])
        tail = np.cumsum(p[s, ::-1])[::-1]
        out[s] = beta_binomial_chain(totals, scale * p[s, :-1], scale * tail[1:], rng)
    return out


def nuts_checks(y: np.ndarray, authors: int, replicates: int, seed: int) -> list[dict]:
    """One segment's authors (`y`) fitted by the DM and the GDM with NUTS (K = 1): PSIS-LOO and the run's checks.

    The checks use one replicate per posterior draw (the fits keep ``replicates`` draws); the segment is
    fixed, so ``overdispersion`` is the dispersion around the segment's pooled share.
    """
    import arviz_stats

    rng = np.random.default_rng(seed)
    shown = rng.choice(len(y), size=min(authors, len(y)), replace=False)
    largest_first = np.argsort(-y.sum(axis=0), kind="stable")
    sampler = {"random_seed": seed, "loglik_draws": replicates}
    rows, loos = [], {}
    for family in ("dirichlet_multinomial", "generalized_dirichlet_multinomial"):
        order = largest_first if family == "generalized_dirichlet_multinomial" else np.arange(y.shape[1])
        tree = fit_family(y[:, order], family, 1, sampler)
        loos[family] = arviz_stats.loo(tree, var_name="y", pointwise=True)
        draws = {k: stack_sample_dims(v).values for k, v in tree["posterior"].to_dataset().data_vars.items()}
        replicated = np.empty((len(draws["logit"]), len(shown), y.shape[1]), dtype=np.int64)
        replicated[..., order] = posterior_replicates(draws, y[shown][:, order].sum(axis=1), rng)
        total = tree["log_likelihood"]["y"].sum("author")
        row = {
            "family": family,
            "rhat_loglik": float(arviz_stats.rhat(total)),
            "high_pareto_k": int((np.asarray(loos[family].pareto_k) > loos[family].good_k).sum()),
        }
        if "dispersion_ratio" in draws:
            tau = draws["dispersion_ratio_sd"][:, None] * draws["dispersion_ratio"]
            row["dispersion_ratio_range"] = (
                f"{np.median(tau, axis=0).min():+.2f} to {np.median(tau, axis=0).max():+.2f}"
            )
        for name, (status, n_extreme, _n, _tail, n_far, _d) in run_checks(
            y[shown], np.zeros(len(shown), dtype=int), replicated, 1
        ).items():
            row.update({name: status, f"{name}_extreme": n_extreme, f"{name}_far": n_far})
        rows.append(row)
    table = arviz_stats.compare(loos, round_to="none")
    for row in rows:
        row.update(
            elpd=table.loc[row["family"], "elpd"],
            elpd_diff=table["elpd"].max() - table.loc[row["family"], "elpd"],
            dse=table.loc[row["family"], "dse"],
        )
    return rows


def likelihood_terms(y: np.ndarray) -> dict[str, int]:
    """What a likelihood kernel would evaluate on `y` (authors × categories): the DM against the GDM.

    The DM's log Γ terms are one per distinct (category, nonzero count) and per distinct total; its sparse
    pass one per nonzero cell. The GDM's, categories largest total first, add one per distinct (node,
    remainder) at a node the author's labels reach, and its pass one per reached (author, node).
    """
    ordered = y[:, np.argsort(-y.sum(axis=0), kind="stable")]
    rest = np.cumsum(ordered[:, ::-1], axis=1)[:, ::-1]
    reached = rest[:, :-1] > 0
    nonzero_pairs = sum(len(np.unique(ordered[ordered[:, c] > 0, c])) for c in range(y.shape[1]))
    remainders = sum(
        len(np.unique(rest[reached[:, c], c])) + len(np.unique(rest[reached[:, c], c + 1]))
        for c in range(y.shape[1] - 1)
    )
    return {
        "nonzero cells": int((y > 0).sum()),
        "reached (author, node)": int(reached.sum()),
        "DM distinct log-gamma arguments": nonzero_pairs + len(np.unique(y.sum(axis=1))),
        "GDM distinct log-gamma arguments": nonzero_pairs + remainders,
    }


def order_gains(y: np.ndarray, z: np.ndarray, n_random: int, rng: np.random.Generator) -> dict[str, float]:
    """The GDM's log-likelihood gain over the DM, plug-in fits per segment `z`, under several category orders."""
    k = int(z.max()) + 1
    dm = sum(fit_dm(y[z == s]).loglik for s in range(k))
    totals = y.sum(axis=0)
    orders = {"largest first": np.argsort(-totals, kind="stable"), "smallest first": np.argsort(totals, kind="stable")}
    orders.update({f"random {i}": rng.permutation(y.shape[1]) for i in range(n_random)})
    return {name: sum(fit_gdm(y[z == s], order).loglik for s in range(k)) - dm for name, order in orders.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap, "modal")  # --apart: the categories given a node of their own in `tree`
    ap.add_argument("--authors", type=int, default=2000, help="authors replicated (the run's ppc_authors)")
    ap.add_argument("--replicates", type=int, default=100, help="replicated data sets (the run's ppc_draws)")
    ap.add_argument("--control", choices=FAMILIES, help="check a draw from this family's fits instead of the data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--nuts",
        type=int,
        metavar="SEGMENT",
        help="instead: fit the DM and the GDM to this segment's authors by NUTS (K = 1), PSIS-LOO and posterior checks",
    )
    ap.add_argument("--cost", action="store_true", help="instead: print what a DM and a GDM kernel would evaluate")
    ap.add_argument(
        "--orders", type=int, metavar="N", help="instead: the GDM's gain under N random orders and two rules"
    )
    args = ap.parse_args()
    table = read_run(args.run, args.config, args.source, args.segments, args.apart)
    rng = np.random.default_rng(args.seed)
    y, types = table.counts.to_numpy(dtype=np.int64, copy=True), table.types
    z = pd.Categorical(table.segment).codes
    k = int(z.max()) + 1
    shuffled = rng.permutation(y.shape[1])
    if args.orders is not None:
        for name, gain in order_gains(y, z, args.orders, rng).items():
            print(f"{name:15s} GDM log-likelihood - DM's: {gain:8.1f}")
        return
    if args.cost:
        print(f"{len(y):,} authors × {y.shape[1]} categories: {likelihood_terms(y)}")
        return
    if args.nuts is not None:
        mine = y[z == args.nuts]
        rows = [
            {
                "spec": table.spec,
                "segments": args.segments,
                "seed": args.seed,
                "nuts_segment": args.nuts,
                "authors": len(mine),
                **row,
            }
            for row in nuts_checks(mine, args.authors, args.replicates, args.seed)
        ]
        print(f"segment {args.nuts}: {len(mine):,} authors × {y.shape[1]} categories, K = 1, NUTS")
        print(pd.DataFrame(rows).drop(columns=["spec", "segments", "seed"]).round(2).T.to_string())
        append_rows(rows, "family_checks_nuts.csv")
        return
    if args.control:
        fits = [fit_plug_in(args.control, y[z == s], types, shuffled) for s in range(k)]
        for s in range(k):
            y[z == s] = fits[s].sample(y[z == s].sum(axis=1), rng)
    shown = rng.choice(len(y), size=min(args.authors, len(y)), replace=False)
    rows = []
    for family in FAMILIES:
        fits = [fit_plug_in(family, y[z == s], types, shuffled) for s in range(k)]
        replicated = np.zeros((args.replicates, len(shown), y.shape[1]), dtype=np.int64)
        for s in range(k):
            mine = z[shown] == s
            for r in range(args.replicates):
                replicated[r, mine] = fits[s].sample(y[shown][mine].sum(axis=1), rng)
        loglik, parameters = sum(f.loglik for f in fits), sum(f.parameters for f in fits)
        row = {
            "spec": table.spec,
            "segments": args.segments,
            "control": args.control or "",
            "seed": args.seed,
            "apart": " ".join(args.apart),
            "family": family,
            "parameters": parameters,
            "loglik": loglik,
            "aic": 2 * parameters - 2 * loglik,
        }
        for name, (status, n_extreme, n_elements, _tail, n_far, d) in run_checks(
            y[shown], z[shown], replicated, k
        ).items():
            row.update(
                {name: status, f"{name}_extreme": n_extreme, f"{name}_elements": n_elements, f"{name}_far": n_far}
            )
            if name == "overdispersion":
                worst = np.argsort(-np.abs(np.nan_to_num(d)))[:3]
                row["overdispersion_worst"] = " ".join(f"{table.counts.columns[i]}:{d[i]:+.1f}" for i in worst)
        rows.append(row)
    frame = pd.DataFrame(rows)
    print(
        f"{len(y):,} authors × {y.shape[1]} categories, K = {k}; checked on {len(shown):,} authors × "
        f"{args.replicates} replicates (far: |discrepancy| > {far_threshold(y.shape[1]):.2f} for categories)"
    )
    print(frame.drop(columns=["spec", "segments", "control", "seed", "apart"]).round(1).T.to_string())
    append_rows(rows, "family_checks.csv")


if __name__ == "__main__":
    main()
