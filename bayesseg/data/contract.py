"""The TECHTEST warehouse's data contract.

Four tables in database ``TECHTEST``, schema ``TECHTEST`` (``../shared/techtest/CONTRACT.md``).
Each column has a *kind* (``integer``, ``number``, ``text``, ``boolean``, ``timestamp``,
``array``); :func:`kind_of_type` says which physical SQL types satisfy a kind, in DuckDB and in
Snowflake, so that schema checks accept either warehouse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["integer", "number", "text", "boolean", "timestamp", "array"]

__all__ = [
    "TABLES",
    "TABLE_ORDER",
    "Column",
    "Kind",
    "kind_of_type",
]


@dataclass(frozen=True)
class Column:
    """One column of a contract table.

    Parameters
    ----------
    name : str
        Column name, upper case as in the warehouse.
    kind : {"integer", "number", "text", "boolean", "timestamp", "array"}
        Logical type. ``integer`` columns hold whole numbers; ``number`` columns may be fractional.
    nullable : bool
        Whether the contract allows NULL.
    """

    name: str
    kind: Kind
    nullable: bool


TABLES: dict[str, tuple[Column, ...]] = {
    "MART_AUTHORS": (
        Column("AUTHORID", "integer", False),
        Column("BIO", "text", True),
        Column("NB_FOLLOWERS", "number", True),
        Column("NB_FOLLOWS", "number", True),
    ),
    "MART_AUTHORS_SEGMENTATIONS": (
        Column("AUTHORID", "integer", False),
        Column("GEO_ZONE", "text", True),
        Column("NB_FOLLOWERS", "number", True),
        Column("FASHION_INTEREST_SEGMENT", "boolean", True),
    ),
    "MART_IMAGES_OF_POSTS": (
        Column("POST_ID", "text", False),
        Column("AUTHORID", "integer", False),
        Column("COMMENT_COUNT", "integer", True),
        Column("POST_CAPTION", "text", True),
        Column("NB_LIKES", "integer", True),
        Column("POST_PUBLICATION_DATE", "timestamp", False),
        Column("IMAGE_ID", "text", False),
    ),
    "MART_IMAGES_LABELS": (
        Column("IMAGE_ID", "text", False),
        Column("TYPE", "text", False),
        Column("POSITION_IN_IMAGE", "array", True),
        Column("LABEL_NAME", "text", False),
    ),
}
"""Contract tables and their columns, in the contract's column order."""

TABLE_ORDER: tuple[str, ...] = tuple(TABLES)

_INTEGER = re.compile(
    r"^(BIGINT|INTEGER|INT|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|INT\d+|"
    r"BYTEINT|(NUMBER|NUMERIC|DECIMAL|FIXED)(\(\d+,\s*0\))?)$"
)
_NUMBER = re.compile(r"^(DOUBLE|FLOAT\d*|REAL|DOUBLE PRECISION|(NUMBER|NUMERIC|DECIMAL|FIXED)(\(\d+,\s*\d+\))?)$")
_TEXT = re.compile(r"^(VARCHAR|TEXT|STRING|CHAR|CHARACTER VARYING)(\(\d+\))?$")
_TIMESTAMP = re.compile(r"^(TIMESTAMP|TIMESTAMP_NTZ|DATETIME|TIMESTAMP WITHOUT TIME ZONE)(\(\d+\))?$")
_ARRAY = re.compile(r"^(ARRAY|.+\[\d*\]|LIST.*|VARIANT)$")


def kind_of_type(sql_type: str) -> set[Kind]:
    """Return the contract kinds that a physical SQL type satisfies.

    Parameters
    ----------
    sql_type : str
        A type name as reported by ``INFORMATION_SCHEMA.COLUMNS.DATA_TYPE`` in DuckDB or
        Snowflake (e.g. ``BIGINT``, ``NUMBER(38,0)``, ``DOUBLE[]``, ``TIMESTAMP_NTZ``).

    Returns
    -------
    set of str
        Every kind the type can hold: an integer type satisfies both ``integer`` and ``number``.
        The empty set when the type fits no kind.
    """
    t = sql_type.strip().upper()
    kinds: set[Kind] = set()
    if _INTEGER.match(t):
        kinds |= {"integer", "number"}
    elif _NUMBER.match(t):
        kinds.add("number")
    if _TEXT.match(t):
        kinds.add("text")
    if t in ("BOOLEAN", "BOOL"):
        kinds.add("boolean")
    if _TIMESTAMP.match(t):
        kinds.add("timestamp")
    if _ARRAY.match(t):
        kinds.add("array")
    return kinds
