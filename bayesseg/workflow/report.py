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

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import TIER_NAMES
from bayesseg.evaluation.accuracy import trend_accuracy
from bayesseg.survey.trends import TrendResult
from bayesseg.workflow.html import HtmlDocument, paragraph, plot_collection_png, png, table
from bayesseg.workflow.results import RunResult

__all__ = ["SECTIONS", "ppc_html", "trends_html", "write_report"]

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
        "specification": f"{r.spec.path or '(in memory)'} (version {r.spec.version}, hash {r.spec.spec_hash[:12]})",
        "segments (K)": f"{m.n_segments}: {', '.join(m.segment_names)}",
        "authors in the warehouse": f"{len(r.inputs.authors):,}",
        "authors segmented": f"{r.memberships.sizes['author']:,}",
        "authors in the fit sample": f"{len(r.fit.fit_authors):,}",
        "authors excluded": f"{len(r.inputs.excluded):,}",
        "sampler": f"{m.sampler_config['sampler']}, {m.sampler_config['chains']} chains × "
        f"({m.sampler_config['tune']} tuning + {m.sampler_config['draws']} draws)",
        "tables for the warehouse": _write_plan(r),
        "stage times": ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items()),
    }
    frame = pd.DataFrame({"": list(rows.values())}, index=list(rows.keys()))
    return table(frame)


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
        f"The full report is {r.paths.get('data_quality', 'data_quality.html')}."
    )
    return body + table(found, index=False)


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
    return body


def _profiles(r: RunResult, top: int = 6) -> str:
    import matplotlib.pyplot as plt

    prof = r.tables["SEGMENT_PROFILES"]
    lines = []
    for _seg, g in prof.groupby("SEGMENT", sort=True):
        g = g.sort_values("LIFT", ascending=False).head(top)
        cats = ", ".join(f"{c} ×{lift:.1f}" for c, lift in zip(g["CATEGORY"], g["LIFT"], strict=True))
        share = float(r.memberships["prob_mean"].sel(segment=g["SEGMENT_NAME"].iloc[0]).mean())
        lines.append(
            {"segment": g["SEGMENT_NAME"].iloc[0], "share of authors": share, f"top {top} categories by lift": cats}
        )
    overview = pd.DataFrame(lines)
    wide = prof.pivot(index="SEGMENT_NAME", columns="CATEGORY", values="LIFT")
    wide = wide.loc[overview["segment"]]
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
        "Lift = a segment's posterior mean share of a category over the population profile's. "
        "Share of authors = mean membership probability over the segmented authors."
    )
    return body + table(overview, index=False) + png(fig)


def _effects(r: RunResult) -> str:
    import arviz_plots as ap

    m = r.fit.model
    if not m.covariate_names_:
        return paragraph("The model has no covariates.")
    post = m.check_fitted()
    ref = m.segment_names[0]
    free = [s for s in m.segment_names if s != ref]
    pc = ap.plot_forest(
        post,
        group="posterior",
        var_names=["slope"],
        coords={"segment": free},
        combined=True,
        backend="matplotlib",
        ci_probs=[0.5, 0.9],
    )
    summary = m.summary(("slope",))
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
    counts = pd.crosstab(modal["SEGMENT_NAME"], tier, margins=True, margins_name="all")
    order = [t for t in (*TIER_NAMES, "unknown", "all") if t in counts.columns]
    counts = counts[order]
    share = pd.crosstab(
        seg["SEGMENT_NAME"],
        seg["CURRENT_TIER"].astype("object").fillna("unknown"),
        values=seg["PROB_MEAN"],
        aggfunc="sum",
        normalize="columns",
    )
    share = share[[t for t in order if t in share.columns]]
    body = paragraph("Authors by most likely segment (rows) and current follower tier (columns):")
    body += table(counts, floatfmt="{:.0f}")
    body += paragraph(
        "Expected segment composition of each tier (sum of membership probabilities, columns sum to one):"
    )
    return body + table(share, floatfmt="{:.2f}")


def _convergence(r: RunResult) -> str:
    m = r.fit.model
    names = [
        "concentration",
        "intercept",
        "slope",
        "deviation_sd",
        "log_concentration_mu",
        "log_concentration_sd",
    ]
    summary = m.summary(names)
    stats = m.check_fitted()
    divergences = (
        int(stats["sample_stats"]["diverging"].sum())
        if "sample_stats" in stats.children and "diverging" in stats["sample_stats"]
        else 0
    )
    rhat = summary["r_hat"].astype(float)
    worst = float(rhat.max())
    flag = "" if worst < 1.01 else " (above 1.01: run longer chains before trusting the intervals)"
    body = paragraph(
        f"R-hat and effective sample sizes after relabelling ({m.relabelled_draws_} draws relabelled). "
        f"Largest R-hat {worst:.3f}{flag}; smallest bulk ESS {float(summary['ess_bulk'].min()):.0f}; "
        f"{divergences} divergent transitions."
    )
    if worst >= 1.01 or divergences:
        body = body.replace("<p>", '<p class="warn">', 1)
    body += _profile_convergence(m.summary(["profile"]))
    cols = [c for c in ("mean", "sd", "ess_bulk", "ess_tail", "r_hat") if c in summary.columns]
    return body + table(summary[cols])


def _profile_convergence(summary: pd.DataFrame) -> str:
    """One paragraph on the profiles' R-hat: the largest, where, and how many entries exceed 1.01.

    The profiles (segment × category) are too many for the table; a rare category's profile can
    mix slowly while every membership parameter has converged, so it is named here.
    """
    if summary.empty:
        return ""
    rhat = summary["r_hat"].astype(float)
    worst = str(rhat.idxmax())
    above = int((rhat >= 1.01).sum())
    text = (
        f"Profiles ({len(rhat)} segment × category entries): largest R-hat {rhat.max():.3f} at {worst} "
        f"(bulk ESS {float(summary.loc[worst, 'ess_bulk']):.0f}); {above} entries at or above 1.01."
    )
    return paragraph(text, "warn" if above else "")


def _ppc(r: RunResult) -> str:
    return ppc_html(r.ppc)


def ppc_html(tree: xr.DataTree) -> str:
    """HTML of posterior predictive checks of label counts (rootogram, PIT, authors per category).

    Parameters
    ----------
    tree : xarray.DataTree
        From :meth:`bayesseg.model.SegmentModel.posterior_predictive`: groups
        ``posterior_predictive`` and ``observed_data`` with ``counts``, ``n_categories`` and
        ``max_share``.

    Returns
    -------
    str
        HTML fragments: the rootogram of distinct categories per author, the PIT of the largest
        category share, and the categories whose number of users falls outside the replicated
        90 % interval.

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
    with np.errstate(divide="ignore", invalid="ignore"):
        pc = ap.plot_ppc_pit(tree, var_names=["max_share"], backend="matplotlib")
    body += "<h3>Share of an author's largest category (PIT; uniform when calibrated)</h3>" + plot_collection_png(pc)
    obs = tree["observed_data"]["counts"]
    rep = tree["posterior_predictive"]["counts"]
    users_obs = (obs > 0).sum("author")
    users_rep = (rep > 0).sum("author")
    lo, hi = users_rep.quantile([0.05, 0.95], dim=("chain", "draw"))
    users = pd.DataFrame(
        {
            "authors using it (observed)": users_obs.values,
            "replicated 5 %": lo.values,
            "replicated 95 %": hi.values,
        },
        index=obs["category"].values,
    )
    outside = users[(users.iloc[:, 0] < users.iloc[:, 1]) | (users.iloc[:, 0] > users.iloc[:, 2])]
    body += paragraph(
        f"Authors using each category: the observed number falls outside the replicated 90 % interval for "
        f"{len(outside)} of {len(users)} categories (about {0.1 * len(users):.0f} expected by chance)."
    )
    if len(outside):
        body += table(outside, floatfmt="{:.0f}")
    return body


def _loo(r: RunResult) -> str:
    import arviz_plots as ap

    comparison = r.fit.comparison
    assert comparison is not None
    pc = ap.plot_compare(comparison, backend="matplotlib")
    flag = ""
    if bool(comparison["high_pareto_k"].any()):
        flag = paragraph("Some authors have Pareto k > 0.7: PSIS-LOO is unreliable for them.", "warn")
    return (
        paragraph("Expected log predictive density by PSIS-LOO; the first row was kept.")
        + flag
        + table(comparison)
        + plot_collection_png(pc)
    )


def _trends(r: RunResult) -> str:
    if r.trends is None:
        return paragraph(f"The trend series could not be built: {r.trends_error}", "warn")
    return trends_html(r.trends)


def trends_html(t: TrendResult) -> str:
    """HTML of trend series: raw and corrected fashion-forward series with bands, distances to the target, balance.

    The run report's trends section, for analyses that build series themselves.

    Parameters
    ----------
    t : bayesseg.survey.trends.TrendResult
        From :func:`bayesseg.survey.trends.trend_series`.

    Returns
    -------
    str
        HTML fragments: a description, warnings, one figure per trend (and one of the segment
        series when segments are panels), the RMSE table against the all-authors series and the
        ASMD table.
    """
    import matplotlib.pyplot as plt

    s = t.series
    ci = float(s.attrs["ci_prob"])
    smooth = float(s.attrs["smooth_weeks"])
    sm = t.summary
    body = paragraph(
        f"Share of posts showing each trend, per week. The fashion-forward panel ({sm['panel_authors']:,} of "
        f"{sm['target_authors']:,} authors with posts) is weighted toward all authors by {sm['weighting']}; the band "
        f"is the {ci:.0%} interval over {sm['replicates']} replicates, each a bootstrap resample of the authors with "
        "one posterior draw of the memberships. "
        + (f"Weeks are pooled with a Gaussian kernel of {smooth:g} weeks (raw and corrected alike). " if smooth else "")
        + "The all-authors series is the target the correction aims at; in this warehouse it can be computed "
        "directly, so the distance of each panel series to it measures the panel's bias."
    )
    for w in t.warnings:
        body += paragraph(w, "warn")
    weeks = pd.to_datetime(s["week"].values)
    ff = s.sel(panel="fashion_forward")
    target = s["weighted_share"].sel(panel="all")
    n = s.sizes["trend"]
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.3 * n), sharex=True, squeeze=False)
    for ax, trend in zip(axes[:, 0], s["trend"].values, strict=True):
        ax.fill_between(weeks, ff["low"].sel(trend=trend), ff["high"].sel(trend=trend), color="C0", alpha=0.25, lw=0)
        ax.plot(weeks, ff["raw_share"].sel(trend=trend), color="C3", lw=1, label="fashion-forward, raw")
        ax.plot(weeks, ff["weighted_share"].sel(trend=trend), color="C0", lw=1.4, label="fashion-forward, corrected")
        ax.plot(weeks, target.sel(trend=trend), color="k", lw=1, ls="--", label="all authors (target)")
        ax.set_title(str(trend), fontsize=9, loc="left")
        ax.set_ylabel("share of posts", fontsize=8)
    raw = trend_accuracy(ff["raw_share"], target)
    corrected = trend_accuracy(ff["weighted_share"], target, ff["low"], ff["high"])
    distances = pd.DataFrame(
        {
            "target mean share": target.mean("week").to_series(),
            "RMSE raw": raw["rmse"],
            "RMSE corrected": corrected["rmse"],
            "weeks in band": corrected["coverage"],
        }
    )
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    body += png(fig)
    body += "<h3>Distance of the fashion-forward series to the all-authors series</h3>"
    body += table(distances, floatfmt="{:.4f}")
    body += "<h3>Balance of the panel on the weighting variables (absolute standardised mean differences)</h3>"
    body += paragraph(
        f"Below 0.1 reads as balanced. Kish design effect of the weights: {sm['design_effect_after_trim']:.2f} "
        f"({sm['trimmed']} weight(s) trimmed; before trimming {sm['design_effect_before_trim']:.2f})."
    )
    body += table(t.balance, floatfmt="{:.3f}")
    segs = [p for p in s["panel"].values if str(p).startswith("segment:")]
    if segs:
        fig, axes = plt.subplots(n, 1, figsize=(9, 2.3 * n), sharex=True, squeeze=False)
        for ax, trend in zip(axes[:, 0], s["trend"].values, strict=True):
            for j, p in enumerate(segs):
                sub = s.sel(trend=trend, panel=p)
                ax.fill_between(weeks, sub["low"], sub["high"], color=f"C{j}", alpha=0.15, lw=0)
                ax.plot(weeks, sub["weighted_share"], color=f"C{j}", lw=1, label=str(p).removeprefix("segment:"))
            ax.set_title(str(trend), fontsize=9, loc="left")
        axes[0, 0].legend(fontsize=7, ncol=3, loc="upper left")
        fig.tight_layout()
        body += "<h3>Trend series by segment (soft membership, bands over posterior draws and resamples)</h3>"
        body += png(fig)
    return body


def _validation(r: RunResult) -> str:
    v = r.validation
    assert v is not None
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
    body += "<h3>Segments matched to true segments</h3>" + table(v["matching"], floatfmt="{:.2f}", index=False)
    body += "<h3>Most likely segment (rows) against true segment (columns)</h3>" + table(
        v["confusion"], floatfmt="{:.0f}"
    )
    coef = v["coefficients"]
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
