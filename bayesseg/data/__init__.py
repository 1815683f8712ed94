"""The warehouse: its data contract, the SQL and the sources that run it, aggregates, data quality, the model's inputs.

Nothing here knows the model: this layer turns the four MART tables into checked, documented
aggregates and into the model's inputs (every author eligible or excluded with a reason).
"""

from bayesseg.data.aggregate import (
    AGGREGATE_TABLES,
    SCHEMAS,
    Aggregates,
    author_category_counts,
    author_covariates,
    author_period_category_counts,
    author_week_activity,
    counts_to_xarray,
    label_inventory,
    trend_data,
    trend_post_counts,
    weekly_label_counts,
)
from bayesseg.data.connect import default_warehouse_path, open_source
from bayesseg.data.inputs import (
    ModelInputs,
    fit_imputation,
    fold_counts,
    fold_rare_categories,
    load_inputs,
    model_inputs,
    stream_inputs,
)
from bayesseg.data.quality import DataQualityReport, check_schema, data_quality
from bayesseg.data.snowflake import SnowflakeSource
from bayesseg.data.sources import DuckDBSource, Source

__all__ = [
    "AGGREGATE_TABLES",
    "SCHEMAS",
    "Aggregates",
    "DataQualityReport",
    "DuckDBSource",
    "ModelInputs",
    "SnowflakeSource",
    "Source",
    "author_category_counts",
    "author_covariates",
    "author_period_category_counts",
    "author_week_activity",
    "check_schema",
    "counts_to_xarray",
    "data_quality",
    "default_warehouse_path",
    "fit_imputation",
    "fold_counts",
    "fold_rare_categories",
    "label_inventory",
    "load_inputs",
    "model_inputs",
    "open_source",
    "stream_inputs",
    "trend_data",
    "trend_post_counts",
    "weekly_label_counts",
]
