"""Q2: what is wrong with the current rule (mainstream <= 12k followers < trendy <= 40k < edgy)?

Evidence: how the tiers cut across the segments the label data support; whether label profiles
and engagement jump at 12k and 40k followers (regression discontinuity) or run continuously through
the cuts; how well tiers and segments predict the hand-picked fashion-forward panel; how mixed each
tier is. Writes a self-contained HTML report.

Usage::

    .venv/bin/python analyses/q2_current_segmentation.py [--source duckdb:PATH] [--model runs/latest] [--fast]
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
)
from sklearn.metrics import adjusted_rand_score

from bayesseg.config import TIER_THRESHOLDS
from bayesseg.evaluation.metrics import membership_entropy, threshold_jump
from bayesseg.workflow.html import HtmlDocument


def main() -> None:
    args = parse_args("q2_current_segmentation", __doc__.split("\n\n")[0])
    ctx = prepare(args, replicates=100)
    doc = HtmlDocument("Q2 — What is wrong with the current follower rule?")
    data_section(doc, ctx)
    a = ctx.authors
    segs = ctx.model.segment_names
    prob = pd.DataFrame(ctx.memberships["prob_mean"].values, index=a.index, columns=segs)
    tier = a["current_tier"]
    known = tier.isin(TIERS).to_numpy()

    # ---- tiers against segments
    cross = prob[known].groupby(tier[known].to_numpy()).sum().reindex(TIERS)
    by_tier = cross.div(cross.sum(axis=1), axis=0)
    tier_codes = pd.Categorical(tier[known], categories=list(TIERS)).codes
    ari_tiers = adjusted_rand_score(ctx.modal[known], tier_codes)
    ent = membership_entropy(ctx.memberships["prob_mean"]).values  # entropy of each author's membership
    mix = {
        t: float(-(by_tier.loc[t] * np.log(by_tier.loc[t].clip(lower=1e-12))).sum() / np.log(len(segs))) for t in TIERS
    }
    body = [
        doc.paragraph(
            "Soft counts of authors (sum of posterior membership probabilities) per tier and segment, as shares "
            "of each tier. A rule that found segments would put each tier mostly in one segment."
        ),
        doc.table(by_tier, floatfmt="{:.3f}"),
        doc.paragraph(
            f"Adjusted Rand index between the tiers and the modal segments: {ari_tiers:.3f} (0 = no more agreement "
            "than chance, 1 = the same partition). Normalised entropy of the segment mix within each tier "
            "(0 = one segment, 1 = all segments equally): "
            + ", ".join(f"{t} {v:.2f}" for t, v in mix.items())
            + f". Mean entropy of an author's own membership: {np.mean(ent):.2f} nats."
        ),
    ]
    truth = ctx.true_segments()
    if truth is not None:
        body.append(
            doc.paragraph(
                "Against the simulator's true segments: tiers ARI "
                f"{adjusted_rand_score(truth[known], tier_codes):.3f}, "
                f"bayesseg ARI {adjusted_rand_score(truth, ctx.modal):.3f}."
            )
        )
    doc.add("tiers", "The tiers against the segments", *body)

    # ---- regression discontinuity at the cuts
    followers = a["tier_followers"].to_numpy(dtype=float)
    ok = np.isfinite(followers) & (followers > 0)
    x = np.log10(np.where(ok, followers, 1.0))
    counts = ctx.inputs.counts.sel(author=a.index.to_numpy()).values.astype(float)
    shares = counts / counts.sum(axis=1, keepdims=True)
    profile = ctx.model.idata_["posterior"]["profile"].mean(("chain", "draw")).values  # (segment, category)
    spread = profile.max(axis=0) / profile.mean(axis=0)
    cats = list(ctx.inputs.counts["category"].values)
    top = np.argsort(spread)[::-1][:5]
    outcomes = {f"share of {cats[j]} labels": shares[:, j] for j in top}
    eng = a["log_engagement"].to_numpy(dtype=float) if "log_engagement" in a else None
    if eng is not None:
        outcomes["log engagement"] = eng
    outcomes["log labels per author"] = np.log(counts.sum(axis=1))
    rows = []
    bandwidth = 0.3  # log10 followers: a factor of 2 on either side of the cut
    for cut in TIER_THRESHOLDS:
        for name, v in outcomes.items():
            use = ok & np.isfinite(v)
            try:
                r = threshold_jump(x[use], v[use], np.log10(cut), bandwidth)
            except ValueError as exc:
                rows.append({"cut": f"{cut:,.0f}", "outcome": name, "jump": np.nan, "note": str(exc)})
                continue
            rows.append(
                {
                    "cut": f"{cut:,.0f}",
                    "outcome": name,
                    "jump": r["jump"],
                    "se": r["se"],
                    "z": r["z"],
                    "authors below": r["n_below"],
                    "authors above": r["n_above"],
                }
            )
    jumps = pd.DataFrame(rows).set_index(["cut", "outcome"])
    n_sig = int((jumps["z"].abs() > 2.58).sum()) if "z" in jumps else 0
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    bins = np.linspace(np.nanpercentile(x[ok], 1), np.nanpercentile(x[ok], 99), 40)
    idx = np.digitize(x, bins)
    centers = 0.5 * (bins[1:] + bins[:-1])
    for s in segs:
        means = [
            prob[s].to_numpy()[ok & (idx == b)].mean() if (ok & (idx == b)).sum() > 5 else np.nan
            for b in range(1, len(bins))
        ]
        axes[0].plot(centers, means, label=s, lw=1.2)
    j0 = top[0]
    means = [shares[ok & (idx == b), j0].mean() if (ok & (idx == b)).sum() > 5 else np.nan for b in range(1, len(bins))]
    axes[1].plot(centers, means, color="k", lw=1.2)
    for ax in axes:
        for cut in TIER_THRESHOLDS:
            ax.axvline(np.log10(cut), color="r", ls="--", lw=0.8)
        ax.set_xlabel("log10 followers (the rule's input)")
    axes[0].set_ylabel("mean membership probability")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set_ylabel(f"mean share of {cats[j0]} labels")
    fig.tight_layout()
    doc.add(
        "thresholds",
        "Do profiles jump at 12k and 40k followers?",
        doc.paragraph(
            "Local linear regression discontinuity (triangular kernel, half-width 0.3 in log10 followers, HC1 "
            "standard errors) of label-profile features and engagement at each cut. The features are the authors' "
            "shares of the five categories that differ most between segments. A real boundary between kinds of "
            "accounts would show as a jump; |z| > 2.58 is significant at 1 %."
        ),
        doc.table(jumps, floatfmt="{:.4g}"),
        doc.paragraph(f"{n_sig} of {len(jumps)} jumps are significant at 1 %."),
        doc.figure(fig),
        doc.paragraph(
            "Left: mean membership of each segment by followers (binned); right: the share of the most "
            "segment-specific category. Dashed lines: the rule's cuts.",
            "note",
        ),
    )

    # ---- predictive validity and the panel
    auc = fashion_forward_auc(ctx)
    panel = a["fashion_interest_segment"].fillna(False).to_numpy(dtype=bool)
    rate = pd.DataFrame(
        {
            "authors": tier[known].value_counts().reindex(TIERS),
            "in the fashion-forward panel": pd.Series(panel[known])
            .groupby(tier[known].to_numpy())
            .mean()
            .reindex(TIERS),
        }
    )
    doc.add(
        "validity",
        "What the tiers and the segments predict",
        doc.paragraph(
            "Cross-validated AUC of a logistic regression of FASHION_INTEREST_SEGMENT (the hand-picked panel) on each "
            "set of predictors. The panel is picked mostly on followers, so followers predict it; the question is "
            "what the tiers add over the continuous count and what the label-based segments add."
        ),
        doc.table(auc, floatfmt="{:.3f}"),
        doc.paragraph("Share of each tier in the fashion-forward panel:"),
        doc.table(rate, floatfmt="{:.4f}"),
    )

    best = by_tier.max(axis=1)
    conclusion(
        doc,
        [
            f"The tiers are not segments of what authors post: in every tier the largest segment holds at most "
            f"{fmt_share(best.max())} of the tier's authors, the tiers agree with the label-based segments no "
            f"better than ARI {ari_tiers:.2f}, and the segment mix within tiers is broad (normalised entropy "
            + ", ".join(f"{v:.2f}" for v in mix.values())
            + ").",
            (
                f"Label profiles and engagement run through the cuts: {n_sig} of {len(jumps)} regression-discontinuity "
                f"jumps are significant at 1 % (about {0.01 * len(jumps):.1f} expected by chance). Followers are a "
                "continuous covariate of membership (the model's gating uses them as such), not a boundary. Cutting "
                "a continuum at 12k and 40k puts near-identical accounts on either side into different panels and "
                "very different accounts into the same one."
                if n_sig <= max(1, 0.03 * len(jumps))
                else f"{n_sig} of {len(jumps)} regression-discontinuity jumps are significant at 1 %: some profiles "
                "change at the cuts (see the table); the tiers still mix the segments, as above."
            ),
            "The rule also biases trend series: panels built on followers over-represent the segments that are "
            "more common among large accounts (see the trend-bias analysis for the size of the bias and its "
            "correction).",
            "What the rule has for it: it is transparent, stable and free. bayesseg keeps followers, as a covariate "
            "of membership with its effect and interval, and adds what authors post; its memberships carry their "
            "uncertainty. Limits: the model explains labels, not business value; a tier that matters for pricing "
            "(reach) can be kept beside the segments rather than replaced by them.",
        ],
    )
    finish(doc, ctx)


if __name__ == "__main__":
    main()
