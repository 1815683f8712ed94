"""Opening a warehouse from a command-line style specification (``duckdb:PATH``, ``snowflake[:CONNECTION]``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bayesseg.data.snowflake import SnowflakeSource
from bayesseg.data.sources import DuckDBSource, Source
from bayesseg.exceptions import SourceError

__all__ = ["DEFAULT_WAREHOUSE", "default_warehouse_path", "open_source"]

DEFAULT_WAREHOUSE = Path("data") / "techtest.duckdb"
"""The embedded default warehouse, relative to the working directory (``$BAYESSEG_WAREHOUSE``
overrides it)."""


def default_warehouse_path() -> Path:
    """Path of the embedded default warehouse: ``$BAYESSEG_WAREHOUSE`` or ``data/techtest.duckdb``."""
    return Path(os.environ.get("BAYESSEG_WAREHOUSE", DEFAULT_WAREHOUSE))


def open_source(spec: str | None = None, **kwargs: Any) -> Source:
    """Open a source from a command-line style specification.

    Parameters
    ----------
    spec : str, optional
        ``duckdb:PATH``, ``snowflake`` (the connector's default connection) or
        ``snowflake:CONNECTION``. ``None`` opens the embedded default
        (:func:`default_warehouse_path`); :func:`bayesseg.workflow.pipeline.ensure_warehouse`
        builds it first when it is missing.
    **kwargs
        Passed to the source's constructor.

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        If the specification is malformed or the source cannot be opened.
    """
    if spec is None:
        target = default_warehouse_path()
        if not target.exists():
            raise SourceError(
                f"embedded warehouse {target} does not exist: `bayesseg run` builds a demo one, "
                "or `bayesseg simulate --out` writes one"
            )
        return DuckDBSource(target, **kwargs)
    kind, _, rest = spec.partition(":")
    if kind == "duckdb":
        if not rest:
            raise SourceError("--source duckdb needs a path: duckdb:PATH")
        return DuckDBSource(rest, **kwargs)
    if kind == "snowflake":
        return SnowflakeSource(rest or None, **kwargs)
    raise SourceError(f"unknown source {spec!r}: use duckdb:PATH, snowflake or snowflake:CONNECTION")
