"""Judging any segmentation (tiers, bayesseg's posterior, a baseline).

Metrics, the simulator's truth, baselines, content ranking, simulation-based calibration.
"""

from bayesseg.evaluation.accuracy import calibration_table, expected_calibration_error, match_segments, trend_accuracy
from bayesseg.evaluation.baselines import BaselineResult, gmm_shares, hdbscan_shares, kmeans_shares, topic_model
from bayesseg.evaluation.content import post_counts, rank_posts
from bayesseg.evaluation.metrics import (
    agreement,
    coassignment,
    membership_entropy,
    mixture_log_density,
    panel_composition,
    predictive_auc,
    segments_over_time,
    threshold_jump,
)
from bayesseg.evaluation.sbc import SBC_QUANTITIES, rank_uniformity, sbc_ranks
from bayesseg.evaluation.truth import SimulatorTruth, read_truth, truth_validation

__all__ = [
    "SBC_QUANTITIES",
    "BaselineResult",
    "SimulatorTruth",
    "agreement",
    "calibration_table",
    "coassignment",
    "expected_calibration_error",
    "gmm_shares",
    "hdbscan_shares",
    "kmeans_shares",
    "match_segments",
    "membership_entropy",
    "mixture_log_density",
    "panel_composition",
    "post_counts",
    "predictive_auc",
    "rank_posts",
    "rank_uniformity",
    "read_truth",
    "sbc_ranks",
    "segments_over_time",
    "threshold_jump",
    "topic_model",
    "trend_accuracy",
    "truth_validation",
]
