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
    Context,
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

from bayesseg.data.quality import DataQualityReport, data_quality
from bayesseg.dims import stack_sample_dims
from bayesseg.evaluation.accuracy import calibration_table, match_segments, trend_accuracy
from bayesseg.evaluation.baselines import kmeans_shares
from bayesseg.evaluation.holdout import group_log_score, split_labels
from bayesseg.evaluation.metrics import agreement, coassignment, membership_entropy, panel_composition
from bayesseg.survey.trends import TrendResult
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
    # k-means gets restarts as bayesseg's EM does (10 starts, the best inertia kept)
    km = {f"seed {s}": kmeans_shares(counts, k, seed=s).labels.values for s in range(3)}
    ag = agreement(km).to_numpy()
    stab["k-means: ARI between seeds (10 starts each), min"] = float(ag[np.triu_indices(3, 1)].min())
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
            "contrast: k-means on tf-idf shares (10 starts each, as bayesseg's EM restarts) across seeds and "
            "bootstrap resamples of authors. The follower tiers are a fixed rule: perfectly stable, which says "
            "nothing of whether they group alike accounts (the next section)."
        ),
        doc.table(pd.DataFrame({"value": stab}), floatfmt="{:.3f}"),
    )

    # ---- tiers and segments judged alike
    alike = _judged_alike(ctx)
    doc.add(
        "alike",
        "Tiers and segments judged alike: what a group says of an author's labels",
        doc.paragraph(
            "Each author's labels are split at random into two halves. Groups are assigned from the first half (the "
            "tiers from followers, which use no label), each group's pooled profile is estimated from the first "
            "half, and the second half is scored under the author's group profile: the mean log probability of a "
            "held-out label (higher is better; a proper score, so splitting into more groups gains only what the "
            "data support). Every method sees the same authors and the same halves; k-means gets bayesseg's K. "
            "bayesseg's parameters were fitted on all labels, so its row carries a small head start."
        ),
        doc.table(alike, floatfmt="{:.4f}"),
    )

    # ---- separation
    ent = membership_entropy(mem["prob_mean"]).values
    top = mem["prob_mean"].max("segment").values
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].hist(top, bins=30, color="C0")
    axes[0].set_xlabel("largest membership probability")
    axes[1].hist(ent / np.log(len(segs)), bins=30, color="C1")
    axes[1].set_xlabel("normalised membership entropy")
    for ax in axes:
        ax.set_ylabel("authors")
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
    quality = data_quality(ctx.source, ctx.taxonomy)
    inventory = _bias_inventory(quality, comp_tier, trends)
    doc.add(
        "biases",
        "Every bias we can name: measured here, or how one would measure it",
        doc.paragraph(
            "Biases that can distort the insights, from the accounts the warehouse holds to the labels the image "
            'models put on a photo. A figure is measured on this warehouse; "not measurable here" says what data '
            "would measure it."
        ),
        doc.table(inventory, index=False),
    )
    if trends is not None and trends.lead is not None:
        doc.add("lead", "Do the fashion-forward and edgy accounts move first?", *_lead_parts(doc, trends))

    paragraphs = [
        f"Fit: max R-hat {float(summ['r_hat'].max()):.3f} "
        f"({'converged' if rhat_ok else 'NOT converged: more tuning or draws needed'}); "
        "the posterior predictive checks above show where the model reproduces the data (distinct categories per "
        "author, the dominant category's share, how many authors use each category) and where it does not.",
        "Stability: "
        + "; ".join(f"{k} {v:.2f}" for k, v in list(stab.items())[:2])
        + ". k-means agrees with itself across seeds at "
        f"{stab['k-means: ARI between seeds (10 starts each), min']:.2f} "
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
        _alike_line(alike),
        _validity_line(auc),
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
        quality_lines = [
            f"The segmentation {'converged' if rhat_ok else 'did NOT converge'} (largest R-hat "
            f"{float(summ['r_hat'].max()):.3f}). " + _alike_line(alike),
            _validity_line(auc),
            f"Biases: {int((inventory['measured here'] == 'yes').sum())} of {len(inventory)} named biases are "
            "measured on this warehouse (table below); the others need data the warehouse lacks.",
        ]
        doc.add(
            "answer",
            "The answer in brief",
            *(doc.paragraph(line) for line in answer[:1] + quality_lines + answer[1:]),
            position=0,
        )
    finish(doc, ctx)


def _judged_alike(ctx: Context) -> pd.DataFrame:
    """Held-out label score of no grouping, the tiers, k-means and bayesseg, on the same authors and halves."""
    a_half, b_half = split_labels(ctx.inputs.counts, seed=ctx.args.seed)
    authors = ctx.memberships["author"].values
    a_half, b_half = a_half.sel(author=authors), b_half.sel(author=authors)
    tier = ctx.authors["current_tier"]
    use = (tier.isin(TIERS).to_numpy()) & (a_half.sum("category").values > 0) & (b_half.sum("category").values > 0)
    a_half, b_half = a_half.isel(author=np.flatnonzero(use)), b_half.isel(author=np.flatnonzero(use))
    k = ctx.model.n_segments
    mem = ctx.model.predict_memberships(a_half, ctx.inputs.covariates)["prob_mean"].values
    groupings = {
        "no grouping (the population's profile)": (1, np.zeros(int(use.sum()), dtype=int)),
        "follower tiers": (len(TIERS), pd.Categorical(tier[use], categories=list(TIERS)).codes),
        f"k-means on the first half (K = {k}, 10 starts)": (
            k,
            kmeans_shares(a_half, k, seed=ctx.args.seed).labels.values,
        ),
        "bayesseg, most likely segment": (k, mem.argmax(axis=1)),
        "bayesseg, membership probabilities": (k, mem),
    }
    scores = {name: (n, group_log_score(a_half, b_half, g)) for name, (n, g) in groupings.items()}
    base = scores["no grouping (the population's profile)"][1]
    out = pd.DataFrame(
        {
            "groups": [n for n, _ in scores.values()],
            "log score per held-out label": [v for _, v in scores.values()],
            "gain over no grouping": [v - base for _, v in scores.values()],
        },
        index=list(scores),
    )
    out.index.name = f"grouping ({int(use.sum()):,} authors with a tier and labels in both halves)"
    return out


def _alike_line(alike: pd.DataFrame) -> str:
    gain = alike["gain over no grouping"]
    best = gain.idxmax()
    return (
        f"Judged alike on held-out labels, the tiers gain {gain['follower tiers']:+.4f} nats per label over no "
        f"grouping and {best} {gain[best]:+.4f}: "
        + (
            "the tiers say next to nothing of what an author posts."
            if gain["follower tiers"] < 0.25 * gain[best]
            else "the tiers carry part of what the segments carry."
        )
    )


def _validity_line(auc: pd.DataFrame) -> str:
    col = auc.columns[0]
    seg = auc.loc["bayesseg segment probabilities", col]
    cov = auc.loc["model covariates (followers, engagement)", col]
    tiers = auc.loc["current tiers (one-hot)", col]
    both = auc.loc["segment probabilities + covariates", col]
    return (
        f"The curators' label (held out): segments alone rank it at AUC {seg:.3f}, followers and engagement at "
        f"{cov:.3f}, the tiers at {tiers:.3f}, segments with followers at {both:.3f}: "
        + (
            "the panel is picked more on reach than on what accounts post."
            if cov > seg
            else "what accounts post predicts the panel better than their reach."
        )
    )


def _bias_inventory(quality: DataQualityReport, comp_tier: pd.DataFrame, trends: TrendResult | None) -> pd.DataFrame:
    """Every named bias: measured here (with the figure) or what would measure it, and the correction."""

    def q(name: str) -> str:
        f = quality[name]
        return f"{f.n:,} of {f.total:,} ({f.share:.1%})"

    rows = [
        (
            "the panel's composition (picked mostly on followers)",
            "yes",
            f"edgy accounts {comp_tier.loc['edgy', 'representation']:.1f}x their share; mainstream "
            f"{comp_tier.loc['mainstream', 'representation']:.2f}x",
            "weight the panel toward the target (propensity); composition/behaviour split of the gap",
        ),
        (
            "the warehouse's own account selection: US only",
            "yes",
            f"US accounts: {q('geo_zone_us')}",
            "every figure speaks for US accounts; no correction without other countries' accounts",
        ),
        (
            "the warehouse's own account selection: a crawler's sample of the platform",
            "with margins",
            "the platform's follower distribution is needed (--target margins:FILE)",
            "calibrate to the platform's margins (raking); the report's platform panel",
        ),
        (
            "prolific posters dominate weekly counts",
            "yes",
            f"posts of the 1 % most prolific authors: {q('prolific_posters')}",
            "[trends] normalise_authors = true (each author counts once a week); the design effect by trend",
        ),
        (
            "curators picked on what accounts posted (not ignorable)",
            "yes" if trends is not None and (trends.summary.get("pre_period_test") or {}).get("verdict") else "no",
            _pre_period_figure(trends),
            "condition the weights on the pre-period shares; sensitivity bounds (gamma) for the rest",
        ),
        (
            "today's follower count applied to posts of two years ago",
            "no",
            "not measurable here: one undated follower count per author (fractional counts hint at averaged "
            f"snapshots: {q('segmentation_followers_fractional')})",
            "store dated follower snapshots; until then, read tiers and weights as of today",
        ),
        (
            "detection bias of the image models across photo styles",
            "no",
            "not measurable here: no ground truth of what photos show; a hand-labelled audit sample stratified by "
            "segment and tier would give each stratum's recall",
            "divide counts by the stratum's recall (misclassification correction)",
        ),
        (
            "posting volume falls over the window",
            "yes",
            f"posts in the first 13 weeks {q('posts_first_13_weeks')}, last 13 {q('posts_last_13_weeks')}",
            "series are shares of posts, not counts",
        ),
        (
            "hidden like counts read as zero engagement",
            "yes",
            f"posts with 0 likes: {q('zero_like_posts')}",
            "likes of 0 taken as hidden: left out of engagement rates",
        ),
        (
            "follower counts that disagree between the two author tables",
            "yes",
            f"authors: {q('followers_disagree')}",
            "MART_AUTHORS for covariates, the segmentation table for the tier (documented)",
        ),
    ]
    return pd.DataFrame(rows, columns=["bias", "measured here", "figure", "correction"])


def _pre_period_figure(trends: TrendResult | None) -> str:
    test = (trends.summary.get("pre_period_test") or {}) if trends is not None else {}
    if not test.get("verdict"):
        return "no trend series"
    return (
        f"early trend shares predict panel membership: likelihood ratio {test['lr_statistic']:.1f} on {test['df']} df, "
        f"p = {test['p_value']:.2g} ({test['verdict']})"
    )


def _lead_parts(doc: HtmlDocument, trends: TrendResult) -> list[str]:
    lead = trends.lead
    assert lead is not None
    panels = ["fashion_forward", "tier:edgy", "tier:trendy", "tier:mainstream"]
    shown = lead[lead["PANEL"].isin(panels)].copy()
    shown["PANEL"] = pd.Categorical(shown["PANEL"], categories=panels)
    shown = shown.sort_values(["TREND", "PANEL"]).rename(
        columns={
            "TREND": "trend",
            "PANEL": "panel",
            "LEAD_WEEKS": "lead (weeks)",
            "LOW": "low",
            "HIGH": "high",
            "N_WEEKS": "weeks",
            "STATUS": "status",
        }
    )
    ahead = shown[(shown["status"] == "identified") & (shown["low"] > 0)]
    return [
        doc.paragraph(
            "The business test of a fashion-forward panel: does its series of a trend move before comparable "
            "accounts'? Its lead is over the other authors weighted to its composition (followers, engagement, "
            "segment), so it is its accounts' timing and not its make-up; a tier's lead is that of its "
            "composition-adjusted series over all authors' (the mainstream tier is most of all authors). The shift "
            "best fits one series to the other, with its interval over the bootstrap and posterior replicates; a "
            "flat trend has no identifiable lead. The trend “rising trends” is one lead for every trend "
            "whose series rose over the window, their fits added: a trend too sparse to time alone borrows the "
            "others' timing."
        ),
        doc.table(shown, floatfmt="{:.0f}", index=False),
        doc.paragraph(
            "Ahead with an interval above zero: "
            + (", ".join(f"{r.panel} on {r.trend}" for r in ahead.itertuples()) or "no panel on any trend")
            + "."
        ),
    ]


if __name__ == "__main__":
    main()
