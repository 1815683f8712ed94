"""Configuration: the run specification (``models/fashion.toml``) and the defaults of what it configures.

The bottom floor of the package: the model, the survey functions and the workflow read their
settings from here, and nothing here imports them. A :class:`RunSpec` holds the data rules
(taxonomy, tier thresholds, minimum labels, fit sample), the gating covariates with their
transforms and missing-value policies, K (or a range of K), the anchored segments, the priors
(:data:`bayesseg.config.defaults.DEFAULT_MODEL_CONFIG`), the sampler settings
(:data:`bayesseg.config.defaults.DEFAULT_SAMPLER_CONFIG`), the output settings
(:class:`OutputConfig`) and the trends (:class:`bayesseg.config.trends.TrendConfig`). Every key is
checked: an unknown key, a wrong type or an impossible value raises
:class:`bayesseg.exceptions.SpecError` naming the file and the key.
"""

from bayesseg.config.defaults import (
    ALLOCATIONS,
    BANDS,
    DEFAULT_MODEL_CONFIG,
    DEFAULT_SAMPLER_CONFIG,
    MISSING_POLICIES,
    TIER_NAMES,
    TIER_THRESHOLDS,
    TRANSFORMS,
    WEIGHTINGS,
)
from bayesseg.config.spec import Covariate, OutputConfig, RunSpec, default_spec_path
from bayesseg.config.trends import Trend, TrendConfig

__all__ = [
    "ALLOCATIONS",
    "BANDS",
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_SAMPLER_CONFIG",
    "MISSING_POLICIES",
    "TIER_NAMES",
    "TIER_THRESHOLDS",
    "TRANSFORMS",
    "WEIGHTINGS",
    "Covariate",
    "OutputConfig",
    "RunSpec",
    "Trend",
    "TrendConfig",
    "default_spec_path",
]
