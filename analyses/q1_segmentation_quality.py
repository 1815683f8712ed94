"""Q1: how good is a segmentation, and which biases in panel selection distort the insights? How do
we correct them?

Evidence: convergence and posterior predictive checks of bayesseg's model; stability (agreement
across chains, i.e. seeds, and posterior draws; k-means across seeds and bootstrap resamples for
contrast); separation (membership entropy, calibration against the simulator's truth where there is
one); predictive validity (AUC for the fashion-forward panel); who the fashion-forward panel over-
and under-represents, and the correction of its trend series. Writes a self-contained HTML report.

Usage::

    .venv/bin/python analyses/q1_segmentation_quality.py [--source duckdb:PATH] [--model runs/latest] [--fast]
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from _common import (
    TIERS,
    conclusion,
    data_section,
    fashion_forward_auc,
    finish,
    fmt_share,
    parse_args,
    prepare,
    trend_answer,
)
from sklearn.metrics import adjusted_rand_score

from bayesseg.dims import stack_sample_dims
from bayesseg.evaluation.accuracy import calibration_table, match_segments, trend_accuracy
from bayesseg.evaluation.baselines import kmeans_shares
from bayesseg.evaluation.metrics import agreement, coassignment, membership_entropy, panel_composition
from bayesseg.workflow.html import HtmlDocument
from bayesseg.workflow.pipeline import compute_trends
from bayesseg.workflow.report import ppc_html
from bayesseg.workflow.trends_section import trends_html


def main() -> None:
    args = parse_args("q1_segmentation_quality", __doc__.split("\n\n")[0])
    ctx = prepare(args, replicates=100 if args.fast else 200)
    doc = HtmlDocument("Q1 — How good is the segmentation, and how biased are the panels?")
    data_section(doc, ctx)
    model, mem = ctx.model, ctx.memberships
    segs = model.segment_names
    rng = np.random.default_rng(args.seed)

    # ---- convergence and posterior predictive checks
    summ = model.summary()
    worst = pd.DataFrame(
        {
            "max R-hat": [float(summ["r_hat"].max())],
            "min bulk ESS": [float(summ["ess_bulk"].min())],
            "min tail ESS": [float(summ["ess_tail"].min())],
            "parameters": [len(summ)],
        }
    )
    ppc = model.posterior_predictive(n_authors=min(1_000, mem.sizes["author"]), n_draws=100, seed=args.seed)
    doc.add(
        "checks",
        "Convergence and posterior predictive checks",
        doc.paragraph(
            "R-hat below 1.01 and effective sample sizes in the hundreds mean the chains agree and the summaries are "
            "precise (concentrations, gating intercepts and slopes)."
        ),
        doc.table(worst, floatfmt="{:.3f}", index=False),
        ppc_html(ppc),
    )
    rhat_ok = float(summ["r_hat"].max()) < 1.01

    # ---- stability
    draws = ctx.draws  # (chain, draw, author, segment)
    n_chain = model.idata_["posterior"].sizes["chain"]
    stab: dict[str, float] = {}
    if n_chain > 1:
        per_chain = {
            f"chain {c}": draws.sel(chain=c).mean("draw").argmax("segment").values for c in draws["chain"].values
        }
        ag = agreement(per_chain).to_numpy()
        stab["bayesseg: ARI between chains (different seeds), min"] = float(ag[np.triu_indices(n_chain, 1)].min())
    modal = ctx.modal
    pooled = stack_sample_dims(draws).values  # (draw, author, segment), chain by chain
    per_draw = [
        adjusted_rand_score(modal, pooled[s].argmax(axis=1))
        for s in range(0, pooled.shape[0], max(1, pooled.shape[0] // 50))
    ]
    stab["bayesseg: ARI of a posterior draw's assignment vs the posterior modal, median"] = float(np.median(per_draw))
    sub = rng.choice(mem.sizes["author"], size=min(600, mem.sizes["author"]), replace=False)
    co = coassignment(ctx.draws.isel(author=sub)).values
    same = modal[sub][:, None] == modal[sub][None, :]
    off = ~np.eye(len(sub), dtype=bool)
    stab["bayesseg: mean co-assignment probability, pairs with the same modal segment"] = float(co[same & off].mean())
    stab["bayesseg: mean co-assignment probability, pairs with different modal segments"] = float(co[~same].mean())
    counts = ctx.inputs.counts
    k = model.n_segments
    km = {f"seed {s}": kmeans_shares(counts, k, seed=s, n_init=1).labels.values for s in range(3)}
    ag = agreement(km).to_numpy()
    stab["k-means: ARI between seeds (one start each), min"] = float(ag[np.triu_indices(3, 1)].min())
    full = kmeans_shares(counts, k, seed=0)
    boot = []
    for b in range(3):
        idx = rng.integers(0, counts.sizes["author"], counts.sizes["author"])
        res = kmeans_shares(counts.isel(author=idx), k, seed=b)
        # the resample's partition of the distinct authors it drew, against the full data's
        lab = pd.Series(res.labels.values, index=counts["author"].values[idx])
        lab = lab[~lab.index.duplicated()]
        both = np.isin(counts["author"].values, lab.index)
        boot.append(adjusted_rand_score(full.labels.values[both], lab.loc[counts["author"].values[both]].to_numpy()))
    stab["k-means: ARI of bootstrap-resample clusterings vs the full data (authors drawn), mean"] = float(np.mean(boot))
    doc.add(
        "stability",
        "Stability",
        doc.paragraph(
            "Agreement of bayesseg's assignments across its chains (each started from the same EM mode with its own "
            "seed) and across posterior draws; the posterior co-assignment probability of pairs of authors. For "
            "contrast: k-means on tf-idf shares across seeds and bootstrap resamples of authors."
        ),
        doc.table(pd.DataFrame({"value": stab}), floatfmt="{:.3f}"),
    )

    # ---- separation
    ent = membership_entropy(mem["prob_mean"]).values
    top = mem["prob_mean"].max("segment").values
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].hist(top, bins=30, color="C0")
    axes[0].set_xlabel("largest membership probability")
    axes[1].hist(ent / np.log(len(segs)), bins=30, color="C1")
    axes[1].set_xlabel("normalised membership entropy")
    fig.tight_layout()
    parts = [
        doc.paragraph(
            f"{fmt_share(float((top > 0.9).mean()))} of the authors have a segment with probability above 0.9; "
            f"{fmt_share(float((top < 0.5).mean()))} have none above 0.5 (their labels do not tell segments apart)."
        ),
        doc.figure(fig),
    ]
    truth = ctx.true_segments()
    calib = None
    if truth is not None:
        # the model's segments matched to the truth's (Hungarian on their cross-tabulation)
        mapping = match_segments(modal, truth, n_estimated=len(segs))
        right = np.array([mapping.get(int(m), -1) for m in modal]) == truth
        calib = calibration_table(top, right, bins=5)[["mean_probability", "accuracy", "authors"]].rename(
            columns={
                "mean_probability": "mean largest probability",
                "accuracy": "share whose modal segment is the true one",
            }
        )
        parts += [
            doc.paragraph(
                "Calibration against the simulator's truth (true segments matched to the model's by the Hungarian "
                "algorithm on their cross-tabulation), by quintile of the largest membership probability: calibrated "
                "memberships put the two columns level."
            ),
            doc.table(calib, floatfmt="{:.3f}"),
            doc.paragraph(f"Adjusted Rand index against the truth: {adjusted_rand_score(truth, modal):.3f}."),
        ]
    doc.add("separation", "Separation and calibration of the memberships", *parts)

    # ---- predictive validity
    auc = fashion_forward_auc(ctx)
    doc.add(
        "validity",
        "Predictive validity",
        doc.paragraph(
            "Cross-validated AUC of FASHION_INTEREST_SEGMENT, a label the model never saw, from each segmentation."
        ),
        doc.table(auc, floatfmt="{:.3f}"),
    )

    # ---- the panel's biases and their correction
    a = ctx.authors
    panel = a["fashion_interest_segment"].fillna(False).to_numpy(dtype=bool)
    comp_seg = panel_composition(panel, pd.DataFrame(mem["prob_mean"].values, columns=segs))
    known = a["current_tier"].isin(TIERS).to_numpy()
    comp_tier = panel_composition(panel[known], ctx.tier_onehot()[known].reset_index(drop=True))
    trends = compute_trends(ctx.source, ctx.spec, ctx.inputs, model, margins=ctx.margins)
    parts = [
        doc.paragraph(
            f"The fashion-forward panel holds {int(panel.sum()):,} of {len(panel):,} segmented authors. "
            "Representation: "
            "the panel's share of a group over the population's (1 = proportional)."
        ),
        doc.table(pd.concat({"segment": comp_seg, "tier": comp_tier}), floatfmt="{:.3f}"),
    ]
    over = comp_seg["representation"].idxmax()
    under = comp_seg["representation"].idxmin()
    corr_rows = None
    if trends is not None:
        parts.append(trends_html(trends))
        s = trends.series.sel(panel="fashion_forward")
        target = trends.series["weighted_share"].sel(panel="all")
        corr_rows = pd.DataFrame(
            {
                "RMSE raw": trend_accuracy(s["raw_share"], target)["rmse"],
                "RMSE corrected": trend_accuracy(s["weighted_share"], target)["rmse"],
            }
        )
    doc.add("panel_bias", "Biases of the fashion-forward panel and their correction", *parts)

    paragraphs = [
        f"Fit: max R-hat {float(summ['r_hat'].max()):.3f} "
        f"({'converged' if rhat_ok else 'NOT converged: more tuning or draws needed'}); "
        "the posterior predictive checks above show where the model reproduces the data (distinct categories per "
        "author, the dominant category's share, how many authors use each category) and where it does not.",
        "Stability: "
        + "; ".join(f"{k} {v:.2f}" for k, v in list(stab.items())[:2])
        + ". k-means agrees with itself across seeds at "
        f"{stab['k-means: ARI between seeds (one start each), min']:.2f} "
        "and across resamples at "
        f"{stab['k-means: ARI of bootstrap-resample clusterings vs the full data (authors drawn), mean']:.2f}: a "
        "clustering without a likelihood moves with its starting point and the sample.",
        f"Separation: {fmt_share(float((top > 0.9).mean()))} of the authors are assigned with probability above 0.9; "
        "the rest carry their uncertainty into every downstream number (segment series, weights) instead of being "
        "forced into one segment."
        + (
            f" The memberships are calibrated against the truth (top quintile: {calib.iloc[-1, 0]:.2f} predicted, "
            f"{calib.iloc[-1, 1]:.2f} right)."
            if calib is not None
            else ""
        ),
        f"Panel bias: the fashion-forward panel over-represents {over} ({comp_seg.loc[over, 'representation']:.1f}× "
        f"its population share) and under-represents {under} ({comp_seg.loc[under, 'representation']:.2f}×), and "
        f"over-represents the edgy tier ({comp_tier.loc['edgy', 'representation']:.1f}×): a trend those segments "
        "wear more looks bigger in the panel than in the population.",
    ]
    if corr_rows is not None:
        red = 1 - corr_rows["RMSE corrected"].mean() / corr_rows["RMSE raw"].mean()
        deff = trends.summary["design_effect_after_trim"]
        n_panel = trends.summary["panel_authors"]
        paragraphs.append(
            (
                f"Correction: inverse-probability weights from a propensity model on followers, engagement and segment "
                f"probabilities bring the panel's series {red:.0%} closer (mean RMSE over trends) to the all-authors "
                "series here."
                if red > 0
                else f"Correction: here the weighted series are {-red:.0%} further from the all-authors series than "
                "the raw "
                f"ones (mean RMSE over trends): with {n_panel:,} panel authors and a design effect of {deff:.1f}, the "
                "variance the weights add outweighs the bias they remove. The correction needs a larger panel (the "
                "techtest-size benchmark in benchmarks/RESULTS.md measures it there)."
            )
            + " The bands combine posterior membership draws with a bootstrap of the propensity fit (bootstrap bands, "
            "not Bayesian credible bands). Limits: the correction can only remove bias from what the propensity "
            f"model sees; weighting costs effective sample size (design effect {deff:.1f}); the bands' coverage of "
            "the truth is measured by analyses/trend_bias.py on a simulated warehouse."
        )
    conclusion(doc, paragraphs)
    if trends is not None:
        answer = trend_answer(trends, simulated=ctx.truth is not None)
        doc.add(
            "answer",
            "The answer in brief: the panel's biases",
            *(doc.paragraph(line) for line in answer),
            position=0,
        )
    finish(doc, ctx)


if __name__ == "__main__":
    main()
