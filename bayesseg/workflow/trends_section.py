"""The trends section of the run report: panel series read at the panel's size, with verdicts.

A panel whose weeks are mostly below the effective-sample-size floor is shown by calendar month,
its weekly view behind a toggle; the section opens with the effective-sample-size and balance
verdicts; band runs above the plotted range are marked, not drawn; the panel's gap, lead and
sensitivity to hidden selection follow (:mod:`bayesseg.survey.panel`,
:mod:`bayesseg.survey.sensitivity`). Used by
:mod:`bayesseg.workflow.report` and by analyses that build series themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesseg.config import Trend
from bayesseg.evaluation.accuracy import trend_accuracy
from bayesseg.exceptions import InputError
from bayesseg.survey.panel import POOLED, rising_trends
from bayesseg.survey.trends import TrendResult
from bayesseg.workflow.html import paragraph, png, table, verdict_line

__all__ = ["BALANCED_ASMD", "LOOK_ASMD", "axis_top", "clipped_band", "trends_html"]

BALANCED_ASMD, LOOK_ASMD = 0.1, 0.25
"""Absolute standardised mean differences after weighting: balanced below the first; fail above the second."""


def trends_html(t: TrendResult, labels: Mapping[str, str] | None = None) -> str:
    """HTML of trend series: raw and corrected fashion-forward series with bands, distances to the target, balance.

    The run report's trends section, for analyses that build series themselves. A panel too small
    to be read week by week (:attr:`bayesseg.survey.trends.TrendResult.weekly_readable`) is shown by
    month, its weekly view behind a toggle.

    Parameters
    ----------
    t : bayesseg.survey.trends.TrendResult
        From :func:`bayesseg.survey.trends.trend_series`.
    labels : mapping of str to str, optional
        Segment names as shown (:func:`bayesseg.workflow.report.segment_labels`); the ids otherwise.

    Returns
    -------
    str
        HTML fragments: a description, the effective-sample-size and balance verdicts, one figure
        per trend (monthly or weekly), the distances to the all-authors series, the sorted balance
        table; then, when the result has them, the platform's margin balance, the composition /
        behaviour split of the panel's gap, the directions' sensitivity to hidden selection, each
        panel's lead, and the segment series.
    """
    labels = dict(labels or {})
    s = t.series
    ci = float(s.attrs["ci_prob"])
    smooth = float(s.attrs["smooth_weeks"])
    sm = t.summary
    by_month = t.monthly is not None and not t.weekly_readable
    body = paragraph(
        f"Share of posts showing each trend. The fashion-forward panel ({sm['panel_authors']:,} of "
        f"{sm['target_authors']:,} authors with posts) is weighted toward all authors by {sm['weighting']}; the band "
        f"is the {ci:.0%} interval over {sm['replicates']} replicates, each a bootstrap resample of the authors with "
        "one posterior draw of the memberships. "
        + (f"Weekly series pool neighbouring weeks with a Gaussian kernel of {smooth:g} weeks. " if smooth else "")
        + "The all-authors series is the target the correction aims at; in this warehouse it can be computed "
        "directly, so the distance of each panel series to it measures the panel's bias."
    )
    for w in t.warnings:
        if not (w.startswith("fashion_forward:") and "effective sample size" in w):  # said by the verdict below
            body += paragraph(w, "warn")
    # the propensity model's segment columns are p_<segment>
    shown_as = {f"p_{name}": f"p_{label}" for name, label in labels.items()}
    balance = t.balance.sort_values("asmd_after", ascending=False)
    balance.index = pd.Index([shown_as.get(str(c), str(c)) for c in balance.index], name=balance.index.name)
    body += _ess_verdict(t)
    body += _balance_verdict(balance, str(sm["weighting"]))
    weekly_fig, clipped = _panel_figure(s, "week")
    weekly_note = (
        paragraph(
            f"The axes follow the series, not the bands: in {clipped:,} trend-week(s) the band runs above the axis "
            "(marked ▲), where the panel is too small for its weekly share to be read."
        )
        if clipped
        else ""
    )
    if by_month:
        assert t.monthly is not None
        monthly_fig, clipped_m = _panel_figure(t.monthly, "month")
        body += paragraph(
            "Shown by month: the panel is too small to be read week by week (see the verdict above), so each point "
            "pools a calendar month's posts; the weekly view is behind the toggle below the chart."
        )
        if clipped_m:
            body += paragraph(f"In {clipped_m:,} trend-month(s) the band runs above the axis (marked ▲).")
        body += monthly_fig
        body += (
            "<details><summary>Weekly view (most weeks below the effective sample size floor)</summary>"
            + weekly_note
            + weekly_fig
            + "</details>"
        )
        shown, unit = t.monthly.rename(month="week"), "months"
    else:
        body += weekly_note + weekly_fig
        shown, unit = s, "weeks"
    ff, target = shown.sel(panel="fashion_forward"), shown["weighted_share"].sel(panel="all")
    raw = trend_accuracy(ff["raw_share"], target)
    corrected = trend_accuracy(ff["weighted_share"], target, ff["low"], ff["high"])
    distances = pd.DataFrame(
        {
            "target mean share": target.mean("week").to_series(),
            "RMSE raw": raw["rmse"],
            "RMSE corrected": corrected["rmse"],
            f"{unit} with all authors' share in band": corrected["coverage"],
            # a band that covers everything is no evidence: its width says how much the coverage means
            "median band width": (ff["high"] - ff["low"]).median("week").to_series(),
        }
    )
    body += f"<h3>Distance of the fashion-forward series to the all-authors series ({unit})</h3>"
    body += table(distances, floatfmt="{:.4f}")
    body += item_scope_html(s)
    body += "<h3>Balance of the panel on the weighting variables (absolute standardised mean differences)</h3>"
    body += paragraph(
        f"Below {BALANCED_ASMD} reads as balanced; rows above it come first, highlighted. Kish design effect of the "
        f"weights: {sm['design_effect_after_trim']:.2f} ({sm['trimmed']} weight(s) trimmed; before trimming "
        f"{sm['design_effect_before_trim']:.2f})."
    )
    body += table(balance, floatfmt="{:.3f}", flagged=(balance["asmd_after"] >= BALANCED_ASMD).tolist())
    body += _platform(t) + _decomposition(t) + _pre_period(t) + _sensitivity(t) + _lead(t, labels)
    body += _segment_trends(s, labels)
    return body


def item_scope_pairs(names: list[str]) -> list[tuple[str, str]]:
    """Pairs ``(image-level, item-level)`` of trend texts crossing the same labels.

    Parameters
    ----------
    names : list of str
        Trend texts (:meth:`bayesseg.config.Trend.parse`); names that are not trend texts are skipped.

    Returns
    -------
    list of (str, str)
        For each item-level trend (``&``) whose labels an image-level trend (``+``) of `names`
        also crosses, the two texts; in the order of the item-level trends.
    """
    parsed = {}
    for n in names:
        try:
            parsed[n] = Trend.parse(n)
        except InputError:  # a series named otherwise (a renamed trend) pairs with nothing
            continue
    image = {frozenset(t.labels): n for n, t in parsed.items() if t.scope == "image" and len(t.labels) > 1}
    return [
        (image[frozenset(t.labels)], n) for n, t in parsed.items() if t.scope == "item" and frozenset(t.labels) in image
    ]


def item_scope_html(s: xr.Dataset) -> str:
    """One item against one image: the same labels crossed on a detected item and anywhere in an image.

    Parameters
    ----------
    s : xarray.Dataset
        :attr:`bayesseg.survey.trends.TrendResult.series`.

    Returns
    -------
    str
        A heading, a sentence and a table (mean weekly share of all authors' and of the
        fashion-forward panel's posts at both scopes, and their ratio); empty when the series hold
        no such pair.
    """
    pairs = item_scope_pairs([str(n) for n in s["trend"].values])
    if not pairs:
        return ""
    rows = {}
    for image, item in pairs:
        for panel, col, shown in (
            ("all", "weighted_share", "all authors"),
            ("fashion_forward", "raw_share", "fashion-forward, raw"),
        ):
            a = float(s[col].sel(trend=image, panel=panel).mean("week"))
            b = float(s[col].sel(trend=item, panel=panel).mean("week"))
            rows[f"{item}, {shown}"] = {"one image": a, "one item": b, "item / image": b / a if a > 0 else float("nan")}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "trend, panel"
    return (
        "<h3>One item or one image: the same labels crossed on a detected garment</h3>"
        + paragraph(
            "A trend of one item (labels joined by &) counts a post when every label sits on the box of the first "
            "(a striped top); the same labels joined by + count a post when they are anywhere in one image (stripes "
            "on a bag beside a plain top). Mean weekly shares over the window; the ratio is the part of the "
            "image-level series that is the item the trend names."
        )
        + table(frame, floatfmt="{:.4f}")
    )


def _platform(t: TrendResult) -> str:
    """The warehouse calibrated to the platform's margins: how far it was from them, and what calibration costs."""
    b = t.margin_balance
    if b is None:
        return ""
    info = t.summary.get("platform", {})
    worst = b["asmd_before"].idxmax()
    shown = b.rename(
        columns={"population": "platform", "warehouse": "warehouse, raw", "calibrated": "warehouse, calibrated"}
    )
    return (
        "<h3>The platform population: the warehouse calibrated to known margins</h3>"
        + verdict_line(
            "pass" if float(b["asmd_after"].max()) < BALANCED_ASMD else "fail",
            f"The warehouse's authors are raked to the margins of {info.get('source', 'the margins file')}: every "
            f"level now within {float(b['asmd_after'].max()):.3f} standardised difference (before: up to "
            f"{float(b['asmd_before'].max()):.2f}, at {worst[0]} {worst[1]}). The calibrated weights have a design "
            f"effect of {info.get('design_effect', float('nan')):.2f} (effective sample size "
            f"{info.get('kish_ess', float('nan')):,.0f} authors); "
            f"{info.get('authors_without_followers', 0):,} author(s) without a follower count are left out.",
        )
        + paragraph(
            "The dotted green line of each chart is the platform series: every author of the warehouse, weighted so "
            "that the warehouse matches the platform's margins, in its light green bootstrap band. It is the series a "
            "trend report speaks for when the warehouse is a crawler's sample; the all-authors series is the "
            "warehouse's own." + _platform_pooling(t)
        )
        + table(shown, floatfmt="{:.3f}", flagged=(b["asmd_before"] >= BALANCED_ASMD).tolist())
    )


def _platform_pooling(t: TrendResult) -> str:
    """The platform series' own kernel, when it differs from the panels'."""
    panels = float(t.series.attrs["smooth_weeks"])
    own = float(t.series.attrs.get("platform_smooth_weeks", panels))
    if own == panels:
        return ""

    def weeks(x: float) -> str:
        return f"{x:g} week" + ("" if x == 1 else "s")

    pooling = f"pools neighbouring weeks with a Gaussian kernel of {weeks(own)}" if own else "is not pooled over weeks"
    return f" Drawn from every author, it {pooling} (the panels: {weeks(panels)}), so a narrow peak is flattened less."


def _pre_period(t: TrendResult) -> str:
    """Whether authors' early trend shares predict panel membership beyond the weighting covariates."""
    test = t.summary.get("pre_period_test") or {}
    if test.get("verdict") not in ("pass", "fail"):
        return ""
    weeks, first = test["pre_period_weeks"], test["first_week_after"]
    stat = f"likelihood ratio {test['lr_statistic']:.1f} on {test['df']} df, p = {test['p_value']:.2g}"
    if test["verdict"] == "pass":
        text = (
            f"Authors' trend shares in the first {weeks} weeks do not predict panel "
            f"membership beyond the weighting covariates ({stat}): no sign that curators picked early adopters."
        )
    elif test["conditioned"]:
        text = (
            f"Picked on what they posted: authors' trend shares in the first {weeks} weeks predict panel membership "
            f"beyond followers and segment ({stat}). The weights condition on them, so read the corrected series "
            f"from {first}; before it they match all authors by construction."
        )
    else:
        text = (
            f"Picked on what they posted: authors' trend shares in the first {weeks} weeks predict panel membership "
            f"beyond followers and segment ({stat}). The corrected series keeps that selection: set "
            f"condition_on_pre_period = true in [trends] and read the weeks from {first}, and see how far the "
            "directions below survive hidden selection."
        )
    odds = pd.DataFrame(
        {"odds ratio of being in the panel, per sd of the early share": pd.Series(test["odds_ratio_per_sd"])}
    )
    odds.index.name = "trend"
    return (
        "<h3>Was the panel picked on what it posted?</h3>"
        + verdict_line("look" if test["verdict"] == "fail" and test["conditioned"] else test["verdict"], text)
        + table(odds, floatfmt="{:.2f}")
    )


def _sensitivity(t: TrendResult) -> str:
    """How much hidden selection each trend's direction survives (marginal sensitivity model)."""
    sens = t.sensitivity
    if sens is None:
        return ""
    first = sens.groupby(level="trend", sort=False).first()
    wide = sens.apply(
        lambda r: f"{r['early_low']:.4f}–{r['early_high']:.4f} → {r['late_low']:.4f}–{r['late_high']:.4f}", axis=1
    )
    shown = wide.unstack("gamma")
    shown.columns = [f"Γ = {g:g}" for g in shown.columns]
    shown.insert(
        0, "flips at Γ", first["flip_gamma"].map(lambda g: "never (≤ 10)" if g == float("inf") else f"{g:.2f}")
    )
    shown.insert(0, "direction", first["direction"])
    fragile = first[first["flip_gamma"] < 1.5].index.tolist()
    return (
        "<h3>Selection the weights cannot see: how much would flip a trend's direction?</h3>"
        + verdict_line(
            "look" if fragile else "pass",
            (
                f"{', '.join(fragile)}: the direction flips if curators' picks differ from the propensity model's by "
                "a factor under 1.5 in the odds; read it as undetermined. "
                if fragile
                else "Every trend's direction survives selection odds 1.5 times off the propensity model's. "
            )
            + "Γ is the largest factor by which an author's true odds of being picked may differ from the fitted ones.",
        )
        + paragraph(
            "Corrected share of the first and of the last 13 weeks (early → late), bounded over every weighting the "
            "marginal sensitivity model allows at each Γ (Zhao, Small & Bhattacharya 2019; untrimmed inverse "
            "propensities). Γ = 1 is the corrected estimate; 'flips at Γ' is the smallest Γ at which the late "
            "share's lower bound meets the early share's upper bound (conservative: the two bounds need not come "
            "from one weighting)."
        )
        + table(shown)
        + _lead_sensitivity(sens, t.lead)
    )


def _lead_sensitivity(sens: pd.DataFrame, lead: pd.DataFrame | None) -> str:
    """The fashion-forward panel's lead over comparable authors under hidden selection: its range at each Γ."""
    if "lead_low" not in sens or lead is None:
        return ""
    first = sens.groupby(level="trend", sort=False).first()
    ff = lead[lead["PANEL"] == "fashion_forward"].set_index("TREND")

    def flips(trend: str, g: float) -> str:
        row = ff.loc[trend]
        if row["STATUS"] != "identified":
            return "not identified"
        if row["LOW"] <= 0 <= row["HIGH"]:
            return "no lead (interval includes 0)"
        return "never (≤ 10)" if np.isinf(g) else f"{g:.2f}"

    spans = sens.apply(
        lambda r: "—" if not np.isfinite(r["lead_low"]) else f"{r['lead_low']:+.0f} to {r['lead_high']:+.0f}", axis=1
    )
    shown = spans.unstack("gamma")
    shown.columns = [f"Γ = {g:g}" for g in shown.columns]
    shown.insert(
        0,
        "lead flips at Γ",
        pd.Series({trend: flips(trend, g) for trend, g in first["lead_flip_gamma"].items()}),
    )
    return paragraph(
        "The fashion-forward panel's lead over comparable authors, in weeks (positive: the panel moves first), over "
        "the weightings of the comparable authors the same Γ allows (their selection odds within a factor Γ of the "
        "fitted ones) that move their series earliest and latest (authors ordered by the mean week of their trend "
        "posts; a search over those weightings, not a proof of the extremes). "
        "'Lead flips at Γ' is the smallest Γ whose range reaches 0, for a lead whose bootstrap interval excludes 0."
    ) + table(shown)


def _decomposition(t: TrendResult) -> str:
    """The panel's gap to all authors over the window, split into composition and behaviour."""
    d = t.decomposition
    if d is None:
        return ""
    ci = float(t.series.attrs["ci_prob"])

    def cell(name: str) -> pd.Series:
        return d.apply(lambda r: f"{r[name]:+.4f} [{r[f'{name}_low']:+.4f}, {r[f'{name}_high']:+.4f}]", axis=1)

    shown = pd.DataFrame(
        {
            "all authors": d["target_share"].map("{:.4f}".format),
            "panel, raw": d["panel_raw_share"].map("{:.4f}".format),
            "panel at the target's composition": d["panel_weighted_share"].map("{:.4f}".format),
            "gap (raw − all)": cell("gap"),
            "composition (raw − reweighted)": cell("composition"),
            "behaviour (reweighted − all)": cell("behaviour"),
        }
    )
    return (
        "<h3>Why the panel differs: composition and behaviour (whole window)</h3>"
        + paragraph(
            "Each share pools the window's posts. The gap between the fashion-forward panel and all authors splits "
            "into composition, the part its make-up on the weighting variables explains (reweighting the panel to "
            "all authors' composition removes it), and behaviour, what remains at equal composition: the panel's "
            "authors posting the trend differently from comparable authors, or differing on something the weights "
            f"do not see. Shares of posts, with {ci:.0%} bootstrap bands in brackets; a band across zero is no "
            "evidence of that part."
        )
        + table(shown)
    )


def _lead(t: TrendResult, labels: Mapping[str, str]) -> str:
    """Each panel's lead per trend: fashion-forward over comparable authors first, then tiers and segments over all."""
    lead = t.lead
    if lead is None or lead.empty:
        return ""
    ci = float(t.series.attrs["ci_prob"])
    rows = lead.assign(
        panel=lead["PANEL"].map(
            lambda p: (
                f"segment:{labels.get(p.removeprefix('segment:'), p.removeprefix('segment:'))}"
                if p.startswith("segment:")
                else p
            )
        ),
        lead=lead.apply(
            lambda r: (
                # no-break spaces: a lead and its interval stay on one line (the headings break instead)
                f"{_weeks(r['LEAD_WEEKS'])}\u00a0[{_weeks(r['LOW'])},\u00a0{_weeks(r['HIGH'])}]"
                if r["STATUS"] == "identified"
                else "—"
            ),
            axis=1,
        ),
    )
    wide = rows.pivot(index="panel", columns="TREND", values="lead")
    order = [p for p in rows["panel"].drop_duplicates()]
    wide = wide.loc[order, list(dict.fromkeys(rows["TREND"]))]
    wide.columns.name = None
    # a crossed trend's name may break after its "+" (a zero-width space): the table then fits the page
    wide.columns = [str(c).replace("+", "+\u200b") for c in wide.columns]
    ff = lead[(lead["PANEL"] == "fashion_forward") & (lead["TREND"] != POOLED)]
    ahead = ff[(ff["STATUS"] == "identified") & (ff["LOW"] > 0)]["TREND"].tolist()
    behind = ff[(ff["STATUS"] == "identified") & (ff["HIGH"] < 0)]["TREND"].tolist()
    unknown = int((ff["STATUS"] != "identified").sum())
    found = (
        f"The fashion-forward panel is ahead of comparable authors on {', '.join(ahead)}. "
        if ahead
        else "The fashion-forward panel is ahead of comparable authors on no trend (no interval above zero). "
    ) + (f"It is behind on {', '.join(behind)}. " if behind else "")
    found += _pooled_lead(t, lead)
    return (
        "<h3>Does a panel move first? Its lead, in weeks</h3>"
        + verdict_line(
            "pass" if ahead else "look",
            found + (f"For {unknown} trend(s) its lead cannot be told (see below)." if unknown else ""),
        )
        + paragraph(
            "The lead is the shift that best aligns a panel's weekly series with another's up to a constant factor "
            "(positive: the panel moves first). The fashion-forward panel's own series is compared with that of "
            "comparable authors: the other authors weighted to the panel's composition (the propensity model's "
            "covariates and segments), so the lead is its authors' timing, not its make-up. The tiers' and segments' "
            "series, corrected toward all authors' composition, are compared with all authors'. In brackets the "
            f"{ci:.0%} bootstrap interval, in whole weeks; — where the lead is not identified (a flat trend, "
            "an estimate or interval reaching the search window, or an estimate outside its interval). Weekly series "
            "are pooled over neighbouring weeks, so a lead of a week or two is within the pooling. The column "
            f"“{POOLED}” is one lead for every trend whose all-authors series rose over the window (its last "
            "quarter at least the configured ratio of its first): the trends' fits added, each weighted by what the "
            "panel saw of it, so a trend too sparse to time alone borrows the others' timing. panel_lead.csv has "
            "every figure."
        )
        + table(wide)
    )


def _ess_verdict(t: TrendResult) -> str:
    """One line on whether the fashion-forward panel is large enough to be read week by week."""
    sm = t.summary
    floor = float(sm.get("ess_floor", 30.0))
    below, weeks = int(sm["weeks_below_ess_floor"]), int(sm["weeks"])
    ess = t.series["ess"].sel(panel="fashion_forward")
    median = float(ess.median())
    if below == 0:
        return verdict_line(
            "pass", f"Effective sample size: every week of the panel has at least {floor:g} effective authors "
            f"(median {median:.0f}); the weekly series can be read."
        )  # fmt: skip
    if t.weekly_readable:
        return verdict_line(
            "look", f"Effective sample size: {below} of {weeks} weeks have fewer than {floor:g} effective authors "
            f"(median {median:.0f}); read the corrected shares of those weeks with care."
        )  # fmt: skip
    months = ""
    if t.monthly is not None:
        m_below, n_months = int(sm.get("months_below_ess_floor", 0)), int(sm.get("months", 0))
        m_median = float(t.monthly["ess"].sel(panel="fashion_forward").median())
        months = f" By month the median is {m_median:.0f} effective authors" + (
            f", still below {floor:g} in {m_below} of {n_months} months: read the level over a quarter, not the "
            "moves from month to month."
            if m_below
            else "."
        )
    return verdict_line(
        "fail", f"Effective sample size: {below} of {weeks} weeks have fewer than {floor:g} effective authors (median "
        f"{median:.0f}): the panel is too small to be read week by week, so it is shown by month.{months} A larger "
        "panel, or weights with a smaller design effect, would make weekly reading possible."
    )  # fmt: skip


def _pooled_lead(t: TrendResult, lead: pd.DataFrame) -> str:
    """One sentence on the fashion-forward panel's lead on the rising trends together (:data:`POOLED`)."""
    row = lead[(lead["PANEL"] == "fashion_forward") & (lead["TREND"] == POOLED)]
    if row.empty:
        return ""
    r = row.iloc[0]
    rising = rising_trends(t.series, float(t.series.attrs.get("lead_min_rise", 1.5)))
    if r["STATUS"] != "identified":
        return f"On the rising trends together ({', '.join(rising) or 'none'}) its lead is {r['STATUS']}. "
    return (
        f"On the rising trends together ({', '.join(rising)}) its lead is {_weeks(r['LEAD_WEEKS'])} weeks "
        f"[{_weeks(r['LOW'])}, {_weeks(r['HIGH'])}]. "
    )


def _weeks(x: float) -> str:
    """Whole weeks with a sign, "+0" for a value that rounds to zero (not "-0")."""
    return f"{round(float(x)):+d}"


def _balance_verdict(balance: pd.DataFrame, weighting: str) -> str:
    """One line on the balance of the weighted panel against the target (`balance`: ``asmd_after`` per variable)."""
    after = balance["asmd_after"].dropna().sort_values(ascending=False)
    if after.empty:
        return ""
    worst = ", ".join(f"{c} {v:.2f}" for c, v in after[after >= BALANCED_ASMD].head(4).items())
    if after.iloc[0] < BALANCED_ASMD:
        return verdict_line(
            "pass", f"Balance: after weighting every weighting variable is within {BALANCED_ASMD} standardised "
            f"mean difference of all authors (largest {after.index[0]} {after.iloc[0]:.3f})."
        )  # fmt: skip
    status = "look" if after.iloc[0] < LOOK_ASMD else "fail"
    return verdict_line(
        status, f"Balance: after weighting, {int((after >= BALANCED_ASMD).sum())} weighting variable(s) still differ "
        f"from all authors by {BALANCED_ASMD} standardised mean difference or more ({worst}): "
        + (
            'the panel is not weighted (weighting = "none"), so its series keeps its difference on them.'
            if weighting == "none"
            else "the corrected series keeps part of the panel's bias on them"
            + ("; raise the trimming ratio or add them to the weighting model." if status == "fail" else ".")
        )
    )  # fmt: skip


def _panel_figure(ds: xr.Dataset, time: str) -> tuple[str, int]:
    """Raw and corrected fashion-forward series and the target, one axis per trend; cut bands counted."""
    import matplotlib.pyplot as plt

    times = pd.to_datetime(ds[time].values)
    ff = ds.sel(panel="fashion_forward")
    target = ds["weighted_share"].sel(panel="all")
    n = ds.sizes["trend"]
    marker = "o" if time == "month" else None
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.3 * n), sharex=True, squeeze=False)
    clipped = 0
    for ax, trend in zip(axes[:, 0], ds["trend"].values, strict=True):
        lines = [ff["raw_share"].sel(trend=trend), ff["weighted_share"].sel(trend=trend), target.sel(trend=trend)]
        top = axis_top(lines)
        band = "band of the corrected series (▲: runs above the axis)"
        clipped += clipped_band(
            ax, times, ff["low"].sel(trend=trend), ff["high"].sel(trend=trend), top, "C0", 0.25, label=band
        )
        ax.plot(times, lines[0], color="C3", lw=1, marker=marker, ms=3, label="fashion-forward, raw")
        ax.plot(times, lines[1], color="C0", lw=1.4, marker=marker, ms=3, label="fashion-forward, corrected")
        ax.plot(times, lines[2], color="k", lw=1, ls="--", label="all authors (target)")
        if "platform" in ds["panel"].values:  # the warehouse calibrated to the platform's margins
            platform = ds.sel(panel="platform", trend=trend)
            clipped_band(  # the platform band's cut weeks are not the corrected series' (counted above)
                ax, times, platform["low"], platform["high"], top, "C2", 0.15, label="band of the platform series"
            )
            ax.plot(
                times,
                np.minimum(platform["weighted_share"], top),
                color="C2",
                lw=1.2,
                ls=":",
                label="platform (margins)",
            )
        ax.set_title(f"{trend} (by {time})", fontsize=9, loc="left")
        ax.set_ylabel("share of posts", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return png(fig), clipped


def _segment_trends(s: xr.Dataset, labels: Mapping[str, str]) -> str:
    """Weekly series of every segment panel (soft membership), when segments are panels."""
    import matplotlib.pyplot as plt

    segs = [p for p in s["panel"].values if str(p).startswith("segment:")]
    if not segs:
        return ""
    weeks = pd.to_datetime(s["week"].values)
    n = s.sizes["trend"]
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.3 * n), sharex=True, squeeze=False)
    for ax, trend in zip(axes[:, 0], s["trend"].values, strict=True):
        top = axis_top([s.sel(trend=trend, panel=p)["weighted_share"] for p in segs])
        for j, p in enumerate(segs):
            sub = s.sel(trend=trend, panel=p)
            name = str(p).removeprefix("segment:")
            clipped_band(ax, weeks, sub["low"], sub["high"], top, f"C{j}", 0.15)
            ax.plot(weeks, sub["weighted_share"], color=f"C{j}", lw=1, label=labels.get(name, name))
        ax.set_title(str(trend), fontsize=9, loc="left")
        ax.set_ylabel("share of posts", fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    return "<h3>Trend series by segment (soft membership, bands over posterior draws and resamples)</h3>" + png(fig)


def axis_top(lines: list[xr.DataArray]) -> float:
    """Upper limit of a share axis that shows the series whole: 1.5 times their largest value."""
    peak = max(float(np.nanmax(np.asarray(line, dtype=float))) for line in lines)
    return max(1.5 * peak, 1e-3) if np.isfinite(peak) else 1.0


def clipped_band(
    ax: Any,
    weeks: Any,
    low: xr.DataArray,
    high: xr.DataArray,
    top: float,
    color: str,
    alpha: float,
    label: str | None = None,
) -> int:
    """Draw a band cut at `top`, ▲ where it runs above; return the weeks cut and set the axis to [0, top]."""
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    ax.fill_between(weeks, np.minimum(lo, top), np.minimum(hi, top), color=color, alpha=alpha, lw=0, label=label)
    above = hi > top
    if above.any():
        ax.plot(np.asarray(weeks)[above], np.full(above.sum(), top), ls="none", marker="^", ms=3.5, color=color)
    ax.set_ylim(0, top * 1.04)
    return int(above.sum())
