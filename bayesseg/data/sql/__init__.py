"""SQL texts of the warehouse queries (one file per query) and their rendering per dialect.

Every query is written once, in the subset of SQL that DuckDB and Snowflake share. The few
differences between the two dialects live in :class:`Dialect` and nowhere else; a query's text
refers to them through ``$name`` placeholders filled by :func:`render`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from bayesseg.taxonomy import Taxonomy

__all__ = ["DUCKDB", "SNOWFLAKE", "Dialect", "query_names", "render", "sql_literal", "taxonomy_values"]


@dataclass(frozen=True)
class Dialect:
    """What differs between the warehouses' SQL.

    Parameters
    ----------
    name : str
        ``"duckdb"`` or ``"snowflake"``.
    array_size : str
        Function giving the number of elements of an array (``len`` / ``ARRAY_SIZE``).
    """

    name: str
    array_size: str

    def week(self, expr: str) -> str:
        """Monday of the ISO week of a timestamp expression, as a DATE.

        Both DuckDB and Snowflake (with its default ``WEEK_START = 0``) truncate to Monday.
        """
        return f"CAST(DATE_TRUNC('WEEK', {expr}) AS DATE)"

    def element(self, expr: str, index: int) -> str:
        """The `index`-th element (0-based) of an array expression, as a DOUBLE; NULL when it is not a number.

        DuckDB's lists are indexed from 1, Snowflake's arrays from 0 and hold VARIANTs (which
        ``TRY_CAST`` does not take, hence the detour through text).
        """
        if self.name == "duckdb":
            return f"TRY_CAST({expr}[{index + 1}] AS DOUBLE)"
        return f"TRY_TO_DOUBLE(TO_VARCHAR({expr}[{index}]))"


DUCKDB = Dialect(name="duckdb", array_size="len")
SNOWFLAKE = Dialect(name="snowflake", array_size="ARRAY_SIZE")


def sql_literal(value: object) -> str:
    """Render a Python value as a SQL literal.

    Parameters
    ----------
    value : None, bool, int, float or str
        The value.

    Returns
    -------
    str
        ``NULL``, ``TRUE``/``FALSE``, a number, or a single-quoted string with quotes doubled.

    Raises
    ------
    TypeError
        For any other type, or a non-finite float.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cannot write non-finite number {value!r} as SQL")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {type(value).__name__} as a SQL literal")


def taxonomy_values(taxonomy: Taxonomy) -> str:
    """The taxonomy as an inline relation ``(TYPE, LABEL_NAME, LABEL, CATEGORY, EXCLUDED_REASON)``.

    Parameters
    ----------
    taxonomy : Taxonomy
        The mapping to inline.

    Returns
    -------
    str
        A ``SELECT`` over a ``VALUES`` list, valid in DuckDB and Snowflake; the query joins it
        without writing anything to the warehouse.
    """
    cols = ["TYPE", "LABEL_NAME", "LABEL", "CATEGORY", "EXCLUDED_REASON"]
    rows = []
    for rec in taxonomy.labels[cols].itertuples(index=False):
        vals = [None if (isinstance(v, float) and math.isnan(v)) else v for v in rec]
        rows.append("(" + ", ".join(sql_literal(v) for v in vals) + ")")
    return f"SELECT * FROM (VALUES {', '.join(rows)}) AS tax ({', '.join(cols)})"


def query_names() -> list[str]:
    """Names of the shipped queries (the ``.sql`` files of this package)."""
    return sorted(p.name[:-4] for p in files(__name__).iterdir() if p.name.endswith(".sql"))


def render(name: str, dialect: Dialect, schema: str, **values: str) -> str:
    """Fill a query's placeholders for a dialect.

    Parameters
    ----------
    name : str
        Query name (file stem), see :func:`query_names`.
    dialect : Dialect
        Target dialect.
    schema : str
        Schema (or ``DATABASE.SCHEMA``) holding the MART tables.
    **values : str
        Further placeholders of the query (``taxonomy``, ``mainstream_max``...).

    Returns
    -------
    str
        The SQL text.

    Raises
    ------
    KeyError
        If the query does not exist or a placeholder is left without a value.
    """
    path = files(__name__).joinpath(f"{name}.sql")
    if not path.is_file():
        raise KeyError(f"no query {name!r}; known: {query_names()}")
    template = Template(path.read_text(encoding="utf-8"))
    mapping = {
        "schema": schema,
        "week_of_published": dialect.week("PUBLISHED"),
        "array_size": dialect.array_size,
        "label_filter": "",
        **values,
    }
    try:
        return template.substitute(mapping)
    except KeyError as exc:
        raise KeyError(f"query {name!r} needs a value for ${exc.args[0]}") from None
