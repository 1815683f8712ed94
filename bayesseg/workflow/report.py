"""The HTML report of a run: one self-contained file (figures embedded as PNG) a browser opens as is.

Sections (each an ``<section id=...>``, listed in :data:`SECTIONS`): run summary, data quality,
excluded authors, segment profiles, membership effects of the covariates, membership uncertainty,
segments against the current follower tiers, convergence, posterior predictive checks, the
PSIS-LOO comparison (when K was chosen from a range), the trend series of the panels (raw and
corrected, with bands and the weights' diagnostics) and, for a simulated warehouse, the
validation against the simulator's truth. Posterior plots are made with arviz-plots (matplotlib
backend); simple histograms and heatmaps with matplotlib.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg._resources import display_path
from bayesseg.config import TIER_NAMES
from bayesseg.model import SegmentModel
from bayesseg.model.ppc import PredictiveCheck, predictive_checks
from bayesseg.workflow.html import (
    HtmlDocument,
    paragraph,
    plot_collection_png,
    png,
    quality_table,
    table,
    verdict_line,
)
from bayesseg.workflow.results import RunResult, segment_shares
from bayesseg.workflow.trends_section import trends_html

__all__ = ["SECTIONS", "ppc_html", "segment_labels", "write_report"]

SECTIONS: dict[str, str] = {
    "summary": "Run",
    "quality": "Data quality",
    "excluded": "Excluded authors",
    "profiles": "Segment profiles",
    "effects": "Effects of followers and engagement on membership",
    "uncertainty": "Membership uncertainty",
    "tiers": "Segments against the current follower tiers",
    "convergence": "Convergence",
    "ppc": "Posterior predictive checks",
    "loo": "Choosing K (PSIS-LOO)",
    "trends": "Trend series: panel bias and its correction",
    "validation": "Validation against the simulator's truth",
}
"""Report sections: ``id`` to title. ``loo`` appears only when K was chosen from a range,
``trends`` when the specification declares trends, and ``validation`` only when the warehouse
holds the simulator's truth."""


# ------------------------------------------------------------------------------ sections
def _summary(r: RunResult) -> str:
    m = r.fit.model
    rows = {
        "source": r.source,
        "model id": r.model_id,
        "fitted at (UTC)": r.fitted_at.isoformat(),
        "specification": (
            f"{display_path(r.spec.path) or '(in memory)'} (version {r.spec.version}, hash {r.spec.spec_hash[:12]})"
        ),
        "segments (K)": f"{m.n_segments}: {', '.join(m.segment_names)}",
        "authors in the warehouse": f"{len(r.inputs.authors):,}",
        "authors segmented": f"{r.memberships.sizes['author']:,}",
        "authors in the fit sample": f"{len(r.fit.fit_authors):,}",
        "authors excluded": f"{len(r.inputs.excluded):,}",
        "sampler": f"{m.sampler_config['sampler']}, {m.sampler_config['chains']} chains × "
        f"({m.sampler_config['tune']:,} tuning + {m.check_fitted()['posterior'].sizes['draw']:,} draws"
        + (f"; stops once converged, at most {m.sampler_config['draws']:,})" if m.draw_checks_ else ")"),
        "convergence": _convergence_line(r),
        "tables for the warehouse": _write_plan(r),
        "stage times": ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items()),
    }
    frame = pd.DataFrame({"": list(rows.values())}, index=list(rows.keys()))
    return table(frame)


def _convergence_line(r: RunResult) -> str:
    c = r.convergence
    if c is None:
        return "not checked"
    head = "meets the rule" if c.passed else "FAILS the rule (see Convergence)"
    return (
        f"{head}: largest R-hat {c.max_rhat:.3f}, smallest bulk ESS {c.min_ess_bulk:,.0f}, smallest tail ESS "
        f"{c.min_ess_tail:,.0f}, {c.divergences} divergent transitions in {c.draws:,} draws"
    )


def _write_plan(r: RunResult) -> str:
    """What the run writes back: the tables and rows, after this report (run.json records the outcome)."""
    if not r.write_back:
        failed = r.convergence is not None and not r.convergence.passed
        return "none: the fit fails the convergence rule (--strict)" if failed else "none (write-back off)"
    tables = ", ".join(f"{k} ({len(v):,} rows)" for k, v in r.tables.items())
    dropped = f"; {', '.join(r.dropped)} removed (not rebuilt by this run)" if r.dropped else ""
    return (
        f"{r.spec.output.schema}: {tables}{dropped}, each with MODEL_ID {r.model_id}; written after this report, "
        "all or none (run.json records the outcome)"
    )


def _quality(r: RunResult) -> str:
    checks = r.quality.to_frame()
    found = checks[checks["n"] > 0]
    body = paragraph(
        f"{len(checks)} checks ran; {len(found)} found something. Each row says what was done about it. "
        f"The full report is {Path(r.paths.get('data_quality', 'data_quality.html')).name}, beside this one."
    )
    return body + quality_table(r.quality)


def _excluded(r: RunResult) -> str:
    reasons = r.inputs.excluded["reason"].value_counts().rename_axis("reason").rename("authors").to_frame()
    body = paragraph(
        "Every author of the warehouse is either segmented (AUTHOR_SEGMENTS) or listed in EXCLUDED_AUTHORS "
        "with one of these reasons."
    )
    body += table(reasons) if len(reasons) else paragraph("No author was excluded.")
    for name, n in r.inputs.imputed.items():
        body += paragraph(
            f"{name}: missing for {n:,} segmented authors, imputed by its linear prediction from the other covariates "
            "(models/fashion.toml: missing = 'impute')."
        )
    folded = r.folded_categories
    if folded is not None and len(folded):
        body += paragraph(
            f"{len(folded)} {'category' if len(folded) == 1 else 'categories'} used by fewer than "
            f"{r.spec.min_category_authors:,} segmented authors (data.min_category_authors): a rare category is "
            "folded into its group's _other category, where its labels still count, and when the group's rare "
            "categories are still too rare together their labels are excluded (counted here). The model then "
            "spends no effort on profile entries the data cannot place."
        )
        body += table(folded, index=False)
    return body


def _profiles(r: RunResult, top: int = 6) -> str:
    import matplotlib.pyplot as plt

    prof = r.tables["SEGMENT_PROFILES"]
    ci = r.spec.output.ci_prob
    shares = segment_shares(r.assignments, ci) if r.assignments is not None else {}
    lines = []
    for _seg, g in prof.groupby("SEGMENT", sort=True):
        name = g["SEGMENT_NAME"].iloc[0]
        g = g.sort_values("LIFT", ascending=False).head(top)
        cats = ", ".join(f"{c} ×{lift:.1f}" for c, lift in zip(g["CATEGORY"], g["LIFT"], strict=True))
        s = shares.get(name)
        share = f"{s['mean']:.3f} ({s['low']:.3f}–{s['high']:.3f})" if s else "—"
        lines.append(
            {
                "segment": name,
                "reads as": reads_as(name, g["CATEGORY"].tolist()),
                f"share of authors ({ci:.0%} interval)": share,
                f"top {top} categories by lift": cats,
            }
        )
    overview = pd.DataFrame(lines)
    wide = prof.pivot(index="SEGMENT_NAME", columns="CATEGORY", values="LIFT")
    wide = wide.loc[overview["segment"]]
    wide.index = [f"{n} ({d})" if d != n else n for n, d in zip(overview["segment"], overview["reads as"], strict=True)]
    keep = np.log(wide).abs().max(axis=0).sort_values(ascending=False).index[:30]
    data = np.log2(wide[keep].to_numpy())
    fig, ax = plt.subplots(figsize=(12, 0.5 * len(wide) + 2.5))
    lim = float(np.abs(data).max()) or 1.0
    im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_yticks(range(len(wide)), wide.index)
    ax.set_xticks(range(len(keep)), keep, rotation=70, ha="right")
    fig.colorbar(im, ax=ax, label="log2 lift over the population profile")
    ax.set_title("Segment profiles: categories that set segments apart (posterior mean)")
    body = paragraph(
        "Lift = a segment's share of a category over the population's (the segments' profiles mixed in "
        "their population proportions), posterior mean. Share of authors: every author's segment drawn from "
        "its memberships within each posterior draw, so the interval carries the uncertainty of the "
        "assignments, not only of the parameters."
    )
    return body + table(overview, index=False) + png(fig) + _rule_lifts(r.fit.model, ci)


FREE_PREFIX = "segment_"
"""Segments no taxonomy rule anchors are named ``segment_<k>``; the report describes them by their profile."""


def reads_as(name: str, categories_by_lift: list[str], top: int = 3) -> str:
    """What a segment reads as: an anchored segment's rule name; a free one's top categories by lift.

    Parameters
    ----------
    name : str
        The segment's name (a rule name, or ``segment_<k>`` for a free segment).
    categories_by_lift : list of str
        Its categories, highest lift first.
    top : int, default 3
        Categories named for a free segment.

    Returns
    -------
    str
        `name` for an anchored segment; ``"c1 / c2 / c3"`` for a free one.
    """
    if not name.startswith(FREE_PREFIX):
        return name
    return " / ".join(categories_by_lift[:top])


def segment_labels(profiles: pd.DataFrame, top: int = 3) -> dict[str, str]:
    """Each segment's name as the report shows it: a free segment's id with what it reads as.

    Parameters
    ----------
    profiles : pandas.DataFrame
        The SEGMENT_PROFILES table (``SEGMENT_NAME``, ``CATEGORY``, ``LIFT``).
    top : int, default 3
        Categories named for a free segment.

    Returns
    -------
    dict of str to str
        ``{"luxury": "luxury", "segment_5": "segment_5 (generic_object / plain / suede)", ...}``: the
        id stays, so the label still matches the tables of the warehouse.
    """
    out = {}
    for name, g in profiles.groupby("SEGMENT_NAME", sort=False):
        cats = g.sort_values("LIFT", ascending=False)["CATEGORY"].tolist()
        described = reads_as(str(name), cats, top)
        out[str(name)] = str(name) if described == name else f"{name} ({described})"
    return out


def _relabel(text: str, labels: dict[str, str]) -> str:
    """`text` with every free segment's id replaced by its label (whole words only)."""
    for name, label in labels.items():
        if label != name:
            text = re.sub(rf"\b{re.escape(name)}\b", label, text)
    return text


def _labels(r: RunResult) -> dict[str, str]:
    return segment_labels(r.tables["SEGMENT_PROFILES"])


WEAK_RULE_LIFT = 1.5
"""An anchored segment whose rule's categories are less than this over-represented is flagged."""


def _rule_lifts(m: SegmentModel, ci_prob: float) -> str:
    """How much each anchored segment over-uses its rule's categories; a warning where the data barely do.

    With K fixed, an anchor whose rule no true segment over-uses still names a whole cluster of
    authors: the name is then the prior's, not the data's, and this table is where it shows.
    """
    anchors = m.model_config["anchors"]
    if not anchors:
        return ""
    lift = m.lift()
    lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    rows, weak = [], []
    for name, cats in anchors.items():
        # geometric mean over the rule's categories, per draw
        sel = lift.sel(segment=name, category=list(cats)).transpose("chain", "draw", "category").values
        rule = np.exp(np.log(sel).mean(axis=-1)).ravel()
        mean = float(rule.mean())
        q = np.quantile(rule, [lo, hi])
        interval = f"{mean:.2f} ({q[0]:.2f}–{q[1]:.2f})"
        rows.append({"anchored segment": name, "rule categories": len(cats), "rule lift": interval})
        if mean < WEAK_RULE_LIFT:
            weak.append(f"{name} (×{mean:.2f})")
    body = paragraph(
        f"Rule lift: how much an anchored segment over-uses the categories of its taxonomy rule (geometric mean "
        f"of their lifts, {ci_prob:.0%} interval). The prior puts ×{np.exp(m.model_config['anchor_lift']):.1f}; "
        "the data decide."
    )
    body += table(pd.DataFrame(rows), index=False)
    if weak:
        body += paragraph(
            f"Weakly supported anchors: {', '.join(weak)} — below ×{WEAK_RULE_LIFT}. With K fixed such a segment "
            "still holds a whole cluster of authors; its name comes from the prior more than from the data. Read "
            "its profile before its name.",
            "warn",
        )
    return body


def _effects(r: RunResult) -> str:
    import arviz_plots as ap

    m = r.fit.model
    if not m.covariate_names_:
        return paragraph("The model has no covariates.")
    labels = _labels(r)
    posterior = m.check_fitted()["posterior"].to_dataset()[["slope"]]
    posterior = posterior.assign_coords(segment=[labels.get(str(s), str(s)) for s in posterior["segment"].values])
    ref = labels.get(m.segment_names[0], m.segment_names[0])
    free = [labels.get(s, s) for s in m.segment_names[1:]]
    pc = ap.plot_forest(
        xr.DataTree.from_dict({"posterior": posterior}),
        group="posterior",
        var_names=["slope"],
        coords={"segment": free},
        combined=True,
        backend="matplotlib",
        ci_probs=[0.5, 0.9],
    )
    summary = m.summary(("slope",))
    summary.index = [_relabel(str(i), labels) for i in summary.index]
    cols = [c for c in summary.columns if c in ("mean", "sd") or c.startswith(("eti", "hdi"))]
    body = paragraph(
        f"Gating slopes: the change in the log-odds of a segment against the reference segment ({ref}) per standard "
        "deviation of the covariate; 50 % and 90 % intervals. Positive: more followers (or engagement) make the "
        "segment more likely than the reference."
    )
    return body + plot_collection_png(pc) + table(summary[cols])


def _uncertainty(r: RunResult) -> str:
    import matplotlib.pyplot as plt

    mean = r.memberships["prob_mean"].transpose("author", "segment").values
    top = mean.max(axis=1)
    ent = r.memberships["entropy"].values
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    axes[0].hist(top, bins=40, color="#4c72b0")
    axes[0].set_xlabel("largest membership probability of an author")
    axes[0].set_ylabel("authors")
    axes[1].hist(ent, bins=40, color="#dd8452")
    axes[1].axvline(np.log(mean.shape[1]), color="k", ls="--", lw=1)
    axes[1].set_xlabel("membership entropy (nats; dashed: uniform)")
    fig.suptitle("How sure is the segmentation about each author?")
    stats = pd.DataFrame(
        {
            "share of authors": [
                float((top > 0.9).mean()),
                float((top > 0.7).mean()),
                float((top < 0.5).mean()),
            ]
        },
        index=["largest probability > 0.9", "largest probability > 0.7", "largest probability < 0.5"],
    )
    return png(fig) + table(stats)


def _tiers(r: RunResult) -> str:
    seg = r.tables["AUTHOR_SEGMENTS"]
    modal = seg[seg["IS_MODAL"]]
    tier = modal["CURRENT_TIER"].astype("object").fillna("unknown")
    labels = _labels(r)
    counts = pd.crosstab(modal["SEGMENT_NAME"].map(lambda s: labels.get(s, s)), tier, margins=True, margins_name="all")
    counts.index.name, counts.columns.name = "segment", "current tier"
    order = [t for t in (*TIER_NAMES, "unknown", "all") if t in counts.columns]
    counts = counts[order]
    body = paragraph("Authors by most likely segment (rows) and current follower tier (columns):")
    body += table(counts, floatfmt="{:.0f}")
    if r.assignments is None:
        return body
    ci = r.spec.output.ci_prob
    body += paragraph(
        f"Segment composition of each tier, with {ci:.0%} intervals: every author's segment drawn from its "
        "memberships within each posterior draw (columns sum to one). The modal counts above ignore that an "
        "author with probabilities 0.5 / 0.5 is half in each segment; these do not."
    )
    composition = _composition(r.assignments, ci, order)
    composition.index = pd.Index([labels.get(s, s) for s in composition.index], name="segment")
    return body + table(composition)


def _composition(assignments: xr.DataArray, ci_prob: float, order: list[str]) -> pd.DataFrame:
    """Share of each tier (column) in each segment (row): mean (low–high), assignments drawn."""
    with_all = xr.concat([assignments, assignments.sum("group").expand_dims(group=["all"])], dim="group")
    share = with_all / with_all.sum("segment")
    lo, hi = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    q = share.quantile([lo, hi], dim=("chain", "draw"))
    mean = share.mean(("chain", "draw"))
    groups = [g for g in order if g in with_all["group"].values]
    cells = {
        g: [
            f"{float(mean.sel(group=g, segment=s)):.2f} ({float(q.sel(quantile=lo, group=g, segment=s)):.2f}–"
            f"{float(q.sel(quantile=hi, group=g, segment=s)):.2f})"
            for s in share["segment"].values
        ]
        for g in groups
    }
    return pd.DataFrame(cells, index=pd.Index([str(s) for s in share["segment"].values], name="segment"))


def _convergence(r: RunResult) -> str:
    m = r.fit.model
    c = r.convergence if r.convergence is not None else m.convergence()
    rule = c.rule
    verdict = (
        f"The fit meets the convergence rule: every entry of every posterior variable has R-hat below "
        f"{rule.max_rhat} and bulk and tail effective sample sizes of at least {rule.min_ess:g}; divergent "
        f"transitions are at most {rule.max_divergence_share:.1%} of the draws."
        if c.passed
        else "The fit FAILS the convergence rule: " + "; ".join(c.failures) + ". Read its intervals with care "
        "(refit with more tuning or more draws; `bayesseg run --strict` makes this an error)."
    )
    body = verdict_line("pass" if c.passed else "fail", verdict)
    body += paragraph(
        f"{c.draws:,} draws after warmup; {c.divergences} divergent transitions; {c.treedepth_hits} draws at the "
        "maximum tree depth. R-hat (rank-normalised, split) and ESS are computed after relabelling."
    )
    failing = [
        v["max_rhat"] >= rule.max_rhat or min(v["min_ess_bulk"], v["min_ess_tail"]) < rule.min_ess
        for v in c.variables.values()
    ]
    rows = pd.DataFrame(
        {
            "entries": [f"{v['entries']:,}" for v in c.variables.values()],
            "largest R-hat": [f"{v['max_rhat']:.3f}" for v in c.variables.values()],
            "at": [v["max_rhat_at"] for v in c.variables.values()],
            "smallest bulk ESS": [f"{v['min_ess_bulk']:,.0f}" for v in c.variables.values()],
            "smallest tail ESS": [f"{v['min_ess_tail']:,.0f}" for v in c.variables.values()],
            f"entries with R-hat ≥ {rule.max_rhat}": [str(v["entries_above_rhat"]) for v in c.variables.values()],
        },
        index=pd.Index(list(c.variables), name="variable"),
    )
    if not rows.empty:
        # failing variables first, then by largest R-hat: the rows a reader must see are at the top
        order = sorted(range(len(rows)), key=lambda i: (not failing[i], -list(c.variables.values())[i]["max_rhat"]))
        if any(failing):
            body += paragraph(
                f"Variables that fail the rule (R-hat ≥ {rule.max_rhat} or an ESS below {rule.min_ess:g}) come "
                "first, highlighted; then by largest R-hat."
            )
        body += table(rows.reset_index().iloc[order], index=False, flagged=[failing[i] for i in order])
    body += _starts(m)
    return body


def _starts(m: SegmentModel) -> str:
    """Where the chains started (the EM restarts) and whether any draw had to be relabelled."""
    out = ""
    ll = np.sort(np.asarray(m.em_log_likelihoods_, dtype=float))[::-1]
    if ll.size:
        shown = ", ".join(f"{v:,.1f}" for v in ll[:8]) + (", ..." if ll.size > 8 else "")
        out += paragraph(
            f"The chains start at the best of {ll.size} EM restarts (log-likelihoods, best first: {shown}); "
            "their gating coefficients and hyper-parameters start dispersed around it. Restarts that end far "
            "below the best are other modes of the mixture, which the chains do not visit."
        )
    checks = m.draw_checks_
    if checks:
        kept = checks[-1]["draws"] if checks[-1]["passed"] else m.sampler_config["draws"]
        tried = ", ".join(f"{c['draws']:,}" for c in checks)
        out += paragraph(
            f"Sampling stopped at {kept:,} draws per chain: the relabelled draws were checked against the "
            f"convergence rule at {tried} draws per chain"
            + (", and met it at the last." if checks[-1]["passed"] else f", never met it, and ran to {kept:,}.")
        )
    if m.relabelled_draws_:
        out += paragraph(
            f"{m.relabelled_draws_:,} draws had their segment labels permuted to the common labelling: the "
            "chains visited another labelling (or another mode) of the mixture. Their summaries are reported "
            "after the permutation; compare the chains before trusting the profiles of the segments involved.",
            "warn",
        )
    return out


def _ppc(r: RunResult) -> str:
    return ppc_html(r.ppc, r.predictive_checks)


def ppc_html(tree: xr.DataTree, checks: list[PredictiveCheck] | None = None) -> str:
    """HTML of posterior predictive checks of label counts (rootogram, PIT, authors per category).

    Parameters
    ----------
    tree : xarray.DataTree
        From :meth:`bayesseg.model.SegmentModel.posterior_predictive`: groups
        ``posterior_predictive`` and ``observed_data`` with ``counts``, ``n_categories`` and
        ``max_share``, and the realised-discrepancy groups (``posterior/segment``,
        ``posterior_predictive/counts_given_segment``).
    checks : list of bayesseg.model.ppc.PredictiveCheck, optional
        :func:`bayesseg.model.ppc.predictive_checks` of `tree`, when already computed.

    Returns
    -------
    str
        HTML fragments: the rootogram of distinct categories per author, the PIT of the largest
        category share, and the checks of zeros per category, within-segment overdispersion and
        category co-occurrence, each with its verdict and its most discrepant rows.

    References
    ----------
    Kleiber, C., & Zeileis, A. (2016). Visualizing count data regressions using rootograms.
    *The American Statistician* 70(3), 296-303. https://doi.org/10.1080/00031305.2016.1173590
    """
    import arviz_plots as ap

    n_auth = tree["observed_data"].sizes["author"]
    body = paragraph(
        f"Replicated label counts of {n_auth:,} fitted authors from {tree['posterior_predictive'].sizes['draw']} "
        "posterior draws, the segment drawn from the gating model (the check tests the whole marginal model). "
        "Observed statistics should look like draws from the replicated ones."
    )
    pc = ap.plot_ppc_rootogram(tree, var_names=["n_categories"], backend="matplotlib")
    body += "<h3>Distinct categories per author (rootogram)</h3>" + plot_collection_png(pc)
    # a ratio of small counts ties: arviz-stats' Pareto tail fit of the PIT then meets degenerate
    # tails, gets NaN and falls back to the randomised PIT of those authors; numpy's warnings about
    # that NaN are not the user's concern
    # its uniformity p-value is left off the plot: in-sample PITs crowd toward one half under a
    # correct model, so that test rejects one (bayesseg.model.ppc); the verdict below counts the tails
    with np.errstate(divide="ignore", invalid="ignore"):
        pc = ap.plot_ppc_pit(tree, var_names=["max_share"], backend="matplotlib", visuals={"p_value_text": False})
    if not checks:
        checks = predictive_checks(tree)
    by_name = {c.name: c for c in checks}
    body += "<h3>Share of each author's largest category (PIT)</h3>"
    if "max_share" in by_name:
        body += verdict_line(by_name["max_share"].verdict, by_name["max_share"].message)
    body += plot_collection_png(pc) + paragraph(
        "The curve is the empirical distribution of each author's PIT (the share of replicates below the "
        "observed share) minus the uniform one. Above zero on the left: many authors spread their labels more "
        "than their replicates; below zero on the right: they concentrate more. In-sample PITs crowd toward the "
        "middle even when the model is right, so the curve's shape alone is no verdict; the verdict above counts "
        "the authors in the tails (below 2.5 % or above 97.5 %), of whom a fitting model has at most 5 %.",
        "note",
    )
    if "max_share" in by_name:
        body += _check_table(by_name["max_share"])
    body += "<h3>What the Dirichlet-multinomial mixture assumes</h3>" + paragraph(
        "Each statistic of the observed authors is compared with the same statistic of every replicate, per "
        "category (or pair of categories). A p-value is the share of replicates at least as large as the observed "
        "statistic; the discrepancy is the observed minus the replicated statistic in standard deviations of the "
        "replicates. The segments of the within-segment check are drawn from each author's membership "
        "probabilities under the replicate's posterior draw. The most discrepant rows are shown.",
        "note",
    )
    for check in checks:
        if check.name == "max_share":
            continue
        body += f"<h4>{html.escape(check.title)}</h4>" + verdict_line(check.verdict, check.message)
        body += _check_table(check)
    return body


def _check_table(check: PredictiveCheck) -> str:
    """A check's most discrepant rows, those outside the replicates highlighted."""
    return table(check.table, floatfmt="{:.3g}", flagged=check.outside().tolist())


def _loo(r: RunResult) -> str:
    import arviz_plots as ap

    comparison = r.fit.comparison
    assert comparison is not None
    kept = r.fit.model.n_segments
    body = paragraph(
        f"K = {kept} was kept: {r.fit.k_rule or 'the highest expected log predictive density'}. Rows are ordered "
        "by elpd; elpd_diff and dse are the difference to the best and its standard error."
    )
    if bool(comparison["high_pareto_k"].any()):
        n = int(comparison["n_high_pareto_k"].max())
        body += paragraph(
            f"Up to {n} authors have a Pareto k̂ above arviz-stats' threshold for this many draws "
            f"({float(comparison['good_k'].iloc[0]):.2f}): PSIS-LOO is unreliable for them"
            + (", so exact K-fold cross-validation was used." if "k-fold" in (r.fit.k_rule or "").lower() else "."),
            "warn",
        )
    body += table(comparison)
    if "weight" in comparison.columns:  # a PSIS-LOO comparison (arviz-stats' own table)
        body += plot_collection_png(ap.plot_compare(comparison, backend="matplotlib"))
    return body


def _trends(r: RunResult) -> str:
    if r.trends is None:
        return paragraph(f"The trend series could not be built: {r.trends_error}", "warn")
    return trends_html(r.trends, _labels(r))


def _validation(r: RunResult) -> str:
    v = r.validation
    assert v is not None
    labels = _labels(r)
    body = paragraph(
        f"On {v['n_authors']:,} segmented authors with known true segments: adjusted Rand index of the most likely "
        f"segments {v['ari']:.3f}, normalised mutual information {v['nmi']:.3f}."
    )
    body += paragraph(
        f"Share of authors whose most likely segment is their true one (segments matched as below): "
        f"{v['accuracy']:.3f}; mean largest membership probability: {v['mean_top_probability']:.3f}. When the two "
        "agree, and agree within each bin below, the memberships are calibrated: the remaining errors are authors "
        "whose labels do not tell their segment apart, not a fault of the fit."
    )
    body += "<h3>Calibration of the memberships</h3>" + table(v["calibration"], floatfmt="{:.3f}")
    matching = v["matching"].assign(segment=v["matching"]["segment"].map(lambda x: labels.get(str(x), str(x))))
    body += "<h3>Segments matched to true segments</h3>" + table(matching, floatfmt="{:.2f}", index=False)
    confusion = v["confusion"].copy()
    confusion.index = pd.Index([labels.get(str(x), str(x)) for x in confusion.index], name="most likely segment")
    confusion.columns = pd.Index([str(c) for c in confusion.columns], name="true segment")
    body += "<h3>Most likely segment (rows) against true segment (columns)</h3>" + table(confusion, floatfmt="{:.0f}")
    coef = v["coefficients"]
    if "segment" in coef.columns:
        coef = coef.assign(segment=coef["segment"].map(lambda x: labels.get(str(x), str(x))))
    if len(coef):
        body += "<h3>Gating contrasts against the reference segment: recovered and true</h3>"
        body += paragraph(
            f"{int(coef['covered'].sum())} of {len(coef)} true values inside their 90 % intervals. True values are put "
            "on the model's covariate scale; the warehouse's engagement is a noisy measure of the simulator's, so its "
            "coefficients are expected to shrink toward zero."
        )
        body += table(coef, floatfmt="{:.2f}", index=False)
    return body


def write_report(result: RunResult, path: str | Path) -> Path:
    """Write the HTML report of a run.

    Parameters
    ----------
    result : bayesseg.workflow.results.RunResult
        What the run produced.
    path : str or pathlib.Path
        Target ``.html`` file.

    Returns
    -------
    pathlib.Path
        The file written: self-contained (CSS inline, figures embedded as base64 PNG).

    References
    ----------
    Kleiber, C., & Zeileis, A. (2016). Visualizing count data regressions using rootograms.
    *The American Statistician* 70(3), 296-303. https://doi.org/10.1080/00031305.2016.1173590

    Säilynoja, T., Bürkner, P.-C., & Vehtari, A. (2022). Graphical test for discrete uniformity
    and its applications in goodness-of-fit evaluation and multiple sample comparison.
    *Statistics and Computing* 32, 32. https://doi.org/10.1007/s11222-022-10090-6
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    doc = HtmlDocument("bayesseg run report")
    builders = {
        "summary": _summary,
        "quality": _quality,
        "excluded": _excluded,
        "profiles": _profiles,
        "effects": _effects,
        "uncertainty": _uncertainty,
        "tiers": _tiers,
        "convergence": _convergence,
        "ppc": _ppc,
    }
    if result.fit.comparison is not None:
        builders["loo"] = _loo
    if result.trends is not None or result.trends_error is not None:
        builders["trends"] = _trends
    if result.validation is not None:
        builders["validation"] = _validation
    for key in SECTIONS:  # in the order of SECTIONS
        if key in builders:
            doc.add(key, SECTIONS[key], builders[key](result))
    return doc.write(path)
