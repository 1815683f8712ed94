"""bayesseg: Bayesian segmentation of social-media fashion accounts.

The package turns the TECHTEST warehouse (see :mod:`bayesseg.contract`) into author segments
with their uncertainty, and into weekly trend series corrected for panel-selection bias.

Modules
-------
contract
    The warehouse's data contract: tables, columns and their types.
taxonomy
    Labels of the image models mapped to fashion categories, brand families and rules.
simulate
    A calibrated simulator of the warehouse with its ground truth.
sources
    DuckDB (embedded default) and Snowflake sources running the same SQL.
quality
    Schema validation and the data-quality report.
aggregate
    Aggregations pushed to the warehouse: author × category counts, covariates, weekly counts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayesseg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
