"""A calibrated simulator of the TECHTEST warehouse, with its ground truth.

:func:`simulate_warehouse` writes the four MART tables of the data contract
(:mod:`bayesseg.data.contract`) into a DuckDB file, schema ``TECHTEST``, using the real label
vocabulary (the pairs of the taxonomy) and reproducing the real sample's defects
(``../shared/techtest/CONTRACT.md``): a duplicated AUTHORID with conflicting values, NULL and
fractional NB_FOLLOWERS, followers that disagree between the two author tables, authors without
posts, repeated detections of a label in one image, hidden likes recorded as 0, images shared by
several posts and posts with several images, a posting volume that declines over time, GEO_ZONE
``us``. The truth behind the data is written beside it, in schema ``TRUTH`` of the same file.

The generative model (the truth)
--------------------------------
For author *i*:

* log(1 + followers) is drawn from a three-component normal mixture calibrated to the follower
  distribution of the contract (mode near 7, bump near 9.2, tail to ~3e8); engagement rate
  (likes + comments per post per follower) falls with followers;
* covariates ``x = (log_followers, log_engagement)`` are standardised with the population's mean
  and standard deviation; the segment is drawn from a multinomial logit
  ``P(z = k) = softmax_k(γ_k + x·β_k)`` with segment 0 (``casual_denim``) as reference;
* the author's label profile is ``p_i ~ Dirichlet(κ_k θ_k)``; each labelled image draws labels
  from ``p_i`` (distinct labels kept, each repeated over one or more detection boxes), so author
  label counts are Dirichlet-multinomial given the segment (up to the within-image de-duplication);
* trend labels (``TRUTH.TRENDS``) are added to each image with a weekly, segment-specific
  probability; the realised population share of posts showing each trend per week is the
  population truth (``TRUTH.TREND_SERIES``);
* the fashion-forward panel (FASHION_INTEREST_SEGMENT) is drawn with
  ``P = logistic(a + b·u + c·u² + e_k)``, ``u = log_followers - 9``, with segment effects
  ``e_k`` and (a, b, c) solved so that the rates by follower tier match the contract
  (mainstream 0.68 %, trendy 2.2 %, edgy 8.3 %).

:class:`bayesseg.simulate.scenario.Scenario` breaks what the trend estimators assume: a platform
behind a crawl (with its follower margins and expected series in ``TRUTH``), trend adoption
clustered within authors and rising with followers, a panel chosen on adoption, a panel that leads.

Same seed, same tables: every random draw comes from a generator seeded by ``(seed, chunk)``,
rows are written in a fixed order, and :func:`warehouse_checksum` hashes the contents.
"""

from bayesseg.simulate.aggregates import simulate_aggregates
from bayesseg.simulate.calibration import COVARIATES, SEGMENT_NAMES, SIZES, TRENDS, Calibration, Size, TrendSpec
from bayesseg.simulate.counts import simulate_counts
from bayesseg.simulate.warehouse import SimulationResult, simulate_warehouse, truth_tables, warehouse_checksum

__all__ = [
    "COVARIATES",
    "SEGMENT_NAMES",
    "SIZES",
    "TRENDS",
    "Calibration",
    "SimulationResult",
    "Size",
    "TrendSpec",
    "simulate_aggregates",
    "simulate_counts",
    "simulate_warehouse",
    "truth_tables",
    "warehouse_checksum",
]
