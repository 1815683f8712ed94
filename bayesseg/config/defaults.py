"""The defaults every layer reads: tiers, priors, sampler settings, weighting and band names, covariate policies."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ALLOCATIONS",
    "BANDS",
    "BOX_FORMATS",
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_SAMPLER_CONFIG",
    "MISSING_POLICIES",
    "TIER_NAMES",
    "TIER_THRESHOLDS",
    "TRANSFORMS",
    "WEIGHTINGS",
]

TIER_NAMES: tuple[str, str, str] = ("mainstream", "trendy", "edgy")
"""The current follower tiers, in order."""
TIER_THRESHOLDS: tuple[float, float] = (12_000.0, 40_000.0)
"""The current rule: mainstream <= 12,000 followers < trendy <= 40,000 < edgy."""
ALLOCATIONS = ("proportional", "equal")
"""Allocations of the fit sample to strata (:func:`bayesseg.survey.design.sample_design`)."""

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "population_sigma": 3.0,  # η0 ~ ZeroSumNormal(σ): population log-profile, weakly informative
    "deviation_sigma": 1.0,  # σ_δ ~ HalfNormal(·): size of segment departures from the population
    "log_concentration_mu": [3.9, 1.5],  # μ_κ ~ Normal(log 50, 1.5)
    "log_concentration_sigma": 0.5,  # s_κ ~ HalfNormal(·): pooling of concentrations
    "intercept_sigma": 2.0,  # γ zero-sum over segments; γ_j - γ_k ~ Normal(0, ·)
    "slope_sigma": 1.0,  # β zero-sum over segments; β_j - β_k ~ Normal(0, ·) per standardised covariate
    "anchor_lift": 1.4,  # prior log-lift (≈ ×4) of an anchored segment's rule categories
    # "centred", "non_centred" or "auto" (centred where the EM concentrations differ beyond three times their
    # error); K >= 2 only: one segment has a form of its own (bayesseg.model.graph.build_graph)
    "concentration_parametrization": "auto",
    "anchors": {},  # segment name -> list of categories (from taxonomy rules)
}
"""Priors of :class:`bayesseg.model.SegmentModel` (plain, JSON-serialisable)."""

DEFAULT_SAMPLER_CONFIG: dict[str, Any] = {
    "sampler": "nutpie",  # "nutpie" (default), "pymc", "numpyro" (needs jax) or "advi" (approximate, see fit)
    "chains": 2,
    # the convergence rule (every entry's R-hat < 1.01) is a maximum over ~450 entries: R-hat's own
    # noise needs ~4,000 draws to stay below it (docs/design-notes.md, "How many draws")
    "tune": 300,
    "draws": 1800,  # per chain; the most with min_draws > 0
    # 0 < min_draws < draws (nutpie; other samplers always take `draws`): stop at the first of
    # min_draws, min_draws + check_every, ... (< draws) draws per chain where the relabelled draws
    # meet the convergence rule (bayesseg.model.sampling.sample_until)
    "min_draws": 0,
    "check_every": 200,
    "target_accept": 0.8,
    "nutpie_low_rank": True,  # nutpie's low-rank modified mass matrix (see SegmentModel.fit)
    # draws behind each switch of the mass matrix in nutpie's early warmup window (nutpie's own
    # 10); 5 was faster in five fits of six fresh seeds and 1.9x slower in the sixth, a chain's
    # matrix failing (benchmarks/RESULTS.md, issue 25): not the default
    "nutpie_early_switch_freq": 10,
    # regularisation of the low-rank correction (nutpie's mass_matrix_gamma, its own 1e-5): with
    # 1e-3 both chains of every fit of ten fresh seeds drew at 15-18 steps a draw, with 1e-5 a chain
    # at 31-43 in nine fits of ten; 0.60 of the time in sum (benchmarks/RESULTS.md, issue 25)
    "nutpie_mass_matrix_gamma": 1e-3,
    # how nutpie adapts the step size in the warmup: "dual_average" (nutpie's own, Stan's rule) or "adam"
    # (nuts-rs's Adam optimiser of the log step size; benchmarks/RESULTS.md, issue 25)
    "nutpie_step_size_adaptation": "dual_average",
    "random_seed": 0,
    "progressbar": True,
    "advi_iterations": 20_000,  # for sampler="advi"
    "init": "em",  # "em": every chain starts at an EM mode (bayesseg.model.start); "default": PyMC's jittered default
    # k-means + EM restarts for init="em"; 4 missed the best mode on one of three bootstrap
    # resamples of the demo (EM log-likelihood 628 lower, ARI vs truth 0.72 instead of 0.79)
    "em_restarts": 16,
    "relabel_authors": 1_000,  # authors used to find the relabelling (a random subset)
    "membership_draws": 400,  # posterior draws (thinned) used for memberships
    "loglik_draws": 1000,  # posterior draws (thinned) whose pointwise log-likelihood is kept, for PSIS-LOO
}
"""Sampler settings of :class:`bayesseg.model.SegmentModel` (plain, JSON-serialisable)."""

WEIGHTINGS = ("propensity", "poststratify", "rake", "none")
"""Ways to weight the fashion-forward panel toward its target."""
BANDS = ("logit", "logit_bias", "percentile")
"""How the bands are made from the replicates (:class:`bayesseg.config.trends.TrendConfig` ``band``)."""
BOX_FORMATS = ("auto", "xyxy", "xywh", "cxcywh")
"""Readings of ``POSITION_IN_IMAGE`` (its format is not published): corners ``[x1, y1, x2, y2]``, corner and
size ``[x, y, width, height]``, centre and size ``[cx, cy, width, height]``, or ``auto`` (corners when
x2 > x1 and y2 > y1 on nearly every box, otherwise corner and size; see
:func:`bayesseg.data.boxes.resolve_box_format`)."""
TRANSFORMS = ("log1p", "log", "identity")
"""Transforms of a gating covariate."""
MISSING_POLICIES = ("exclude", "impute")
"""What happens to an author whose covariate is missing."""
