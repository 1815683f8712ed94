"""bayesseg: Bayesian segmentation of social-media fashion accounts.

The package turns the TECHTEST warehouse (see :mod:`bayesseg.data.contract`) into author segments
with their uncertainty, and into weekly trend series corrected for panel-selection bias. Its layers,
each importing only from itself and the layers below (``ARCHITECTURE.md``):

``config``, ``taxonomy``, ``exceptions``, ``dims``
    The run specification and the defaults it configures; labels to categories; errors; dim names.
``data``
    The warehouse: contract, SQL, sources, aggregates, data quality, the model's inputs.
``model`` and ``survey``
    The segmentation model (likelihood, start, relabelling, scoring, persistence, choice of K);
    weights, the fit sample's design and trend series.
``evaluation`` and ``simulate``
    Metrics, the simulator's truth, baselines; the calibrated simulator.
``workflow``
    The main job, scoring at scale, result tables, the HTML report.
``cli``
    The command line.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bayesseg._version import __version__

# the public names are imported when first used (PEP 562), so that `import bayesseg` and the
# console script start in milliseconds: the command line can then record a Ctrl-C from its first
# instant, before PyMC and the rest load (bayesseg._entry)
_LAZY = {
    "BayessegError": "bayesseg.exceptions",
    "RunSpec": "bayesseg.config",
    "SegmentModel": "bayesseg.model.segment_model",
    "compare_k": "bayesseg.model.selection",
    "open_source": "bayesseg.data.connect",
    "panel_weights": "bayesseg.survey.reweight",
    "poststratify_weights": "bayesseg.survey.reweight",
    "propensity_weights": "bayesseg.survey.reweight",
    "rake_weights": "bayesseg.survey.reweight",
    "run_job": "bayesseg.workflow.pipeline",
    "simulate_warehouse": "bayesseg.simulate.warehouse",
    "trend_series": "bayesseg.survey.trends",
}

if TYPE_CHECKING:
    from bayesseg.config import RunSpec
    from bayesseg.data.connect import open_source
    from bayesseg.exceptions import BayessegError
    from bayesseg.model.segment_model import SegmentModel
    from bayesseg.model.selection import compare_k
    from bayesseg.simulate.warehouse import simulate_warehouse
    from bayesseg.survey.reweight import panel_weights, poststratify_weights, propensity_weights, rake_weights
    from bayesseg.survey.trends import trend_series
    from bayesseg.workflow.pipeline import run_job


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BayessegError",
    "RunSpec",
    "SegmentModel",
    "__version__",
    "compare_k",
    "open_source",
    "panel_weights",
    "poststratify_weights",
    "propensity_weights",
    "rake_weights",
    "run_job",
    "simulate_warehouse",
    "trend_series",
]
