"""Convergence diagnostics of a fitted model's relabelled posterior (ArviZ).

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC. *Bayesian Analysis*
16(2), 667-718. https://doi.org/10.1214/20-BA1221
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["POSTERIOR_VARIABLES", "Convergence", "ConvergenceRule", "convergence", "posterior_summary"]

POSTERIOR_VARIABLES = (
    "profile",
    "population_profile",
    "concentration",
    "intercept",
    "slope",
    "deviation_sd",
    "log_concentration_mu",
    "log_concentration_sd",
)
"""Every variable of a saved posterior: the convergence rule applies to each of their entries."""


@dataclass(frozen=True)
class ConvergenceRule:
    """The project's rule for trusting a posterior (``docs/methodology.md``).

    Parameters
    ----------
    max_rhat : float, default 1.01
        Every entry's rank-normalised R-hat below this.
    min_ess : float, default 400
        Every entry's bulk and tail effective sample size at least this.
    max_divergence_share : float, default 0.005
        Divergent transitions at most this share of the draws.
    """

    max_rhat: float = 1.01
    min_ess: float = 400.0
    max_divergence_share: float = 0.005


@dataclass(frozen=True)
class Convergence:
    """The convergence block of a fit: its worst entries, its divergences and tree-depth hits, and the verdict.

    Attributes
    ----------
    max_rhat, min_ess_bulk, min_ess_tail : float
        The worst values over every entry of :data:`POSTERIOR_VARIABLES`.
    max_rhat_at, min_ess_bulk_at, min_ess_tail_at : str
        The entry where each is reached (e.g. ``profile[luxury, brand_contemporary_shoe]``).
    entries : int
        Entries summarised.
    entries_above_rhat : int
        Entries whose R-hat is at or above the rule's.
    divergences, draws, treedepth_hits : int
        Divergent transitions and draws (after warmup), and draws that hit the maximum tree depth.
    rule : ConvergenceRule
        The rule applied.
    variables : dict of str to dict
        Per variable: ``entries``, ``max_rhat`` and ``max_rhat_at``, ``min_ess_bulk``,
        ``min_ess_tail``, ``entries_above_rhat``.
    """

    max_rhat: float
    max_rhat_at: str
    min_ess_bulk: float
    min_ess_bulk_at: str
    min_ess_tail: float
    min_ess_tail_at: str
    entries: int
    entries_above_rhat: int
    divergences: int
    draws: int
    treedepth_hits: int
    rule: ConvergenceRule = field(default_factory=ConvergenceRule)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """What the fit fails of the rule, in words (empty when it converged)."""
        r = self.rule
        out = []
        if not self.max_rhat < r.max_rhat:
            out.append(
                f"largest R-hat {self.max_rhat:.3f} at {self.max_rhat_at} (rule < {r.max_rhat}; "
                f"{self.entries_above_rhat} of {self.entries} entries at or above)"
            )
        if not self.min_ess_bulk >= r.min_ess:
            out.append(f"smallest bulk ESS {self.min_ess_bulk:.0f} at {self.min_ess_bulk_at} (rule >= {r.min_ess:g})")
        if not self.min_ess_tail >= r.min_ess:
            out.append(f"smallest tail ESS {self.min_ess_tail:.0f} at {self.min_ess_tail_at} (rule >= {r.min_ess:g})")
        if self.draws and self.divergences > r.max_divergence_share * self.draws:
            out.append(
                f"{self.divergences} divergent transitions in {self.draws} draws (rule <= {r.max_divergence_share:.1%})"
            )
        return out

    @property
    def passed(self) -> bool:
        """Whether the fit meets the rule."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable, with ``passed`` and ``failures``."""
        return {**asdict(self), "passed": self.passed, "failures": self.failures}

    def lines(self) -> list[str]:
        """The block as lines of text (what the command line prints)."""
        return [
            f"convergence: {'meets the rule' if self.passed else 'FAILS the rule'} "
            f"(R-hat < {self.rule.max_rhat}, bulk and tail ESS >= {self.rule.min_ess:g}, "
            f"divergences <= {self.rule.max_divergence_share:.1%})",
            f"  largest R-hat {self.max_rhat:.3f} at {self.max_rhat_at}",
            f"  smallest bulk ESS {self.min_ess_bulk:.0f} at {self.min_ess_bulk_at}; "
            f"smallest tail ESS {self.min_ess_tail:.0f} at {self.min_ess_tail_at}",
            f"  {self.divergences} divergent transitions, {self.treedepth_hits} at the maximum tree depth, "
            f"in {self.draws} draws",
        ]


def _sample_stat(stats: xr.Dataset, *names: str) -> int:
    for name in names:
        if name in stats:
            return int(np.asarray(stats[name].values, dtype=bool).sum())
    return 0


def convergence(tree: xr.DataTree, reference: str, rule: ConvergenceRule | None = None) -> Convergence:
    """The convergence block of a fitted tree: every entry of every posterior variable against the rule.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted model's tree (relabelled posterior; ``sample_stats`` when NUTS ran).
    reference : str
        The reference segment (its intercept and slopes are constants and are left out).
    rule : ConvergenceRule, optional
        Defaults to the project's rule.

    Returns
    -------
    Convergence

    References
    ----------
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), https://doi.org/10.1214/20-BA1221
    """
    post = tree["posterior"].to_dataset()
    table = posterior_summary(post, POSTERIOR_VARIABLES, reference)
    rhat = table["r_hat"].astype(float)
    bulk, tail = table["ess_bulk"].astype(float), table["ess_tail"].astype(float)
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else xr.Dataset()
    r = rule or ConvergenceRule()
    variable = pd.Series([str(i).split("[")[0] for i in table.index], index=table.index)
    variables = {
        str(name): {
            "entries": len(rows),
            "max_rhat": float(rhat[rows.index].max()),
            "max_rhat_at": str(rhat[rows.index].idxmax()),
            "min_ess_bulk": float(bulk[rows.index].min()),
            "min_ess_tail": float(tail[rows.index].min()),
            "entries_above_rhat": int((rhat[rows.index] >= r.max_rhat).sum()),
        }
        for name, rows in variable.groupby(variable, sort=False)
    }
    return Convergence(
        max_rhat=float(rhat.max()),
        max_rhat_at=str(rhat.idxmax()),
        min_ess_bulk=float(bulk.min()),
        min_ess_bulk_at=str(bulk.idxmin()),
        min_ess_tail=float(tail.min()),
        min_ess_tail_at=str(tail.idxmin()),
        entries=len(table),
        entries_above_rhat=int((rhat >= r.max_rhat).sum()),
        divergences=_sample_stat(stats, "diverging"),
        draws=int(post.sizes["chain"] * post.sizes["draw"]),
        treedepth_hits=_sample_stat(stats, "maxdepth_reached", "reached_max_treedepth"),
        rule=r,
        variables=variables,
    )


def posterior_summary(posterior: xr.Dataset, var_names: Sequence[str], reference: str) -> pd.DataFrame:
    """Posterior summary with R-hat and ESS of the relabelled posterior.

    Parameters
    ----------
    posterior : xarray.Dataset
        The relabelled posterior (dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Variables to summarise (absent or empty ones are skipped).
    reference : str
        The reference segment, whose intercept and slopes are constants (0) and are left out.

    Returns
    -------
    pandas.DataFrame
        ``arviz_stats.summary`` rows of every entry of the variables.
    """
    import arviz_stats  # about a second to import: loaded when a fit is summarised, not with bayesseg

    names = [v for v in var_names if v in posterior and posterior[v].size]

    def free(v: str) -> xr.Dataset:
        da = posterior[v].drop_sel(segment=reference) if v in ("intercept", "slope") else posterior[v]
        return xr.Dataset({v: da})

    # one variable at a time: arviz-stats 1.3 mislabels the rows of variables whose shared
    # dims (here `segment`) sit at different positions when summarised together
    parts = [free(v) for v in names]
    return pd.concat([arviz_stats.summary(part) for part in parts if next(iter(part.data_vars.values())).size])
