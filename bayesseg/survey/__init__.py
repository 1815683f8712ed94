"""Weights and panels: weighting a panel toward a target, the fit sample's design, trend series with their bands.

Nothing here imports the model: memberships arrive as arrays (per posterior draw).
"""

from bayesseg.survey.design import fit_sample_summary, sample_design, stratified_sample
from bayesseg.survey.panel import LEAD_COLUMNS, gap_decomposition, panel_lead
from bayesseg.survey.reweight import (
    WeightResult,
    asmd,
    design_effect,
    kish_ess,
    panel_weights,
    poststratify_weights,
    propensity_weights,
    rake_weights,
    trim_weights,
)
from bayesseg.survey.trends import TREND_SERIES_COLUMNS, TrendResult, trend_series

__all__ = [
    "LEAD_COLUMNS",
    "TREND_SERIES_COLUMNS",
    "TrendResult",
    "WeightResult",
    "asmd",
    "design_effect",
    "fit_sample_summary",
    "gap_decomposition",
    "kish_ess",
    "panel_lead",
    "panel_weights",
    "poststratify_weights",
    "propensity_weights",
    "rake_weights",
    "sample_design",
    "stratified_sample",
    "trend_series",
    "trim_weights",
]
