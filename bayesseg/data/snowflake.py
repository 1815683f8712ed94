"""Snowflake as a source: the same SQL as DuckDB, through snowflake-connector-python.

Snowflake is configured the connector's standard way: a named connection of
``~/.snowflake/connections.toml`` (or ``$SNOWFLAKE_HOME/connections.toml``), the default connection
of that file, or ``SNOWFLAKE_*`` environment variables for that connection. bayesseg never prints or
logs connection parameters; :meth:`SnowflakeSource.describe` names the connection only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from bayesseg.data.contract import TABLES
from bayesseg.data.sources import STAGING_SUFFIX, Source, upper_columns
from bayesseg.data.sql import SNOWFLAKE
from bayesseg.exceptions import SourceError

__all__ = ["SnowflakeSource"]

_SNOWFLAKE_TYPES = {
    "integer": "NUMBER(38,0)",
    "number": "FLOAT",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP_NTZ",
    "array": "ARRAY",
}


class SnowflakeSource(Source):
    """The MART tables in Snowflake, through snowflake-connector-python.

    Parameters
    ----------
    connection_name : str, optional
        A connection of ``connections.toml``; without it the connector's default connection.
    database : str, default "TECHTEST"
        Database of the MART tables.
    schema : str, default "TECHTEST"
        Schema of the MART tables.
    connect : callable, optional
        Replaces ``snowflake.connector.connect`` (tests pass fakesnow's).
    **connect_kwargs
        Further arguments for ``snowflake.connector.connect`` (never logged).

    Raises
    ------
    SourceError
        If the connector is missing, the connection is unknown, credentials are missing or the
        account cannot be reached. The message names the connection, never its parameters.
    """

    def __init__(
        self,
        connection_name: str | None = None,
        database: str = "TECHTEST",
        schema: str = "TECHTEST",
        connect: Callable[..., Any] | None = None,
        **connect_kwargs: Any,
    ) -> None:
        super().__init__(SNOWFLAKE, f"{database}.{schema}")
        self.connection_name = connection_name
        self.database = database
        self.schema_name = schema
        if connect is None:
            try:
                import snowflake.connector
            except ImportError as exc:  # pragma: no cover - it is a runtime dependency
                raise SourceError("snowflake-connector-python is not installed") from exc
            connect = snowflake.connector.connect
        kwargs = dict(connect_kwargs, database=database, schema=schema)
        if connection_name is not None:
            kwargs["connection_name"] = connection_name
        try:
            self.con = connect(**kwargs)
        except Exception as exc:
            # connector errors carry a message and an errno, never the password
            msg = getattr(exc, "msg", None) or type(exc).__name__
            raise SourceError(
                f"cannot connect to Snowflake ({self.describe()}): {msg}. Configure the connection in "
                "~/.snowflake/connections.toml or SNOWFLAKE_* environment variables."
            ) from None

    def query(self, sql: str) -> pd.DataFrame:  # noqa: D102
        cur = self.con.cursor()
        try:
            cur.execute(sql)
            frame = cur.fetch_pandas_all()
        except Exception as exc:
            msg = getattr(exc, "msg", None) or str(exc)
            raise SourceError(f"{self.describe()}: query failed: {msg}") from exc
        finally:
            cur.close()
        return upper_columns(frame)

    def columns(self, table: str) -> pd.DataFrame:  # noqa: D102
        return self.query(
            "SELECT UPPER(column_name) AS COLUMN_NAME, UPPER(data_type) AS DATA_TYPE "
            f"FROM {self.database}.information_schema.columns "
            f"WHERE UPPER(table_schema) = UPPER('{self.schema_name}') AND UPPER(table_name) = UPPER('{table}') "
            "ORDER BY ordinal_position"
        )

    def load_contract_tables(self, frames: dict[str, pd.DataFrame], replace: bool = False) -> dict[str, int]:
        """Create the MART tables of the contract and load them from DataFrames.

        Used to put a simulated warehouse into Snowflake (and into fakesnow in the tests).

        Parameters
        ----------
        frames : dict of str to pandas.DataFrame
            Table name to contents, with the contract's columns.
        replace : bool, default False
            Replace tables that exist (``CREATE OR REPLACE``).

        Returns
        -------
        dict of str to int
            Rows loaded per table.

        Raises
        ------
        KeyError
            If a frame's table is not in the contract or lacks one of its columns.
        """
        from snowflake.connector import pandas_tools

        loaded = {}
        for table, frame in frames.items():
            if table not in TABLES:
                raise KeyError(f"{table} is not a table of the data contract")
            cols = TABLES[table]
            missing = [c.name for c in cols if c.name not in frame.columns]
            if missing:
                raise KeyError(f"{table}: frame lacks column(s) {missing}")
            ddl = ", ".join(f"{c.name} {_SNOWFLAKE_TYPES[c.kind]}" for c in cols)
            verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
            cur = self.con.cursor()
            try:
                cur.execute(f"{verb} {self.schema}.{table} ({ddl})")
            finally:
                cur.close()
            data = frame[[c.name for c in cols]].copy()
            for c in cols:
                if c.kind == "array":
                    data[c.name] = data[c.name].map(lambda a: None if a is None else [float(x) for x in a])
            ok, _, n, _ = pandas_tools.write_pandas(
                self.con, data, table, database=self.database, schema=self.schema_name
            )[:4]
            if not ok:
                raise SourceError(f"{self.describe()}: loading {table} failed")
            loaded[table] = int(n)
        return loaded

    def write_tables(self, frames: dict[str, pd.DataFrame], schema: str) -> dict[str, int]:  # noqa: D102
        # write_pandas with overwrite + auto_create_table loads a fresh table and swaps it in by
        # rename, so readers never see a half-written table
        from snowflake.connector import pandas_tools

        cur = self.con.cursor()
        try:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.database}.{schema}")
        finally:
            cur.close()
        written = {}
        for table, frame in frames.items():
            try:
                ok, _, n, _ = pandas_tools.write_pandas(
                    self.con,
                    frame,
                    table,
                    database=self.database,
                    schema=schema,
                    auto_create_table=True,
                    overwrite=True,
                    quote_identifiers=False,
                    use_logical_type=True,
                )[:4]
            except Exception as exc:  # the connector raises several unrelated types
                raise SourceError(f"{self.describe()}: writing {schema}.{table} failed: {exc}") from exc
            if not ok:
                raise SourceError(f"{self.describe()}: writing {schema}.{table} failed")
            written[table] = int(n)
        return written

    def query_batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:  # noqa: D102
        cur = self.con.cursor()
        try:
            cur.execute(sql)
            if hasattr(cur, "fetch_pandas_batches"):  # the connector's Arrow result chunks
                for frame in cur.fetch_pandas_batches():
                    if len(frame):
                        yield upper_columns(frame)
            else:  # DB-API fallback (fakesnow)
                names = [d[0] for d in cur.description]
                while chunk := cur.fetchmany(rows):
                    yield upper_columns(pd.DataFrame.from_records(chunk, columns=names))
        except SourceError:
            raise
        except Exception as exc:
            msg = getattr(exc, "msg", None) or str(exc)
            raise SourceError(f"{self.describe()}: query failed: {msg}") from exc
        finally:
            cur.close()

    def _execute(self, sql: str) -> None:
        cur = self.con.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def _stage_append(self, schema: str, table: str, frame: pd.DataFrame, first: bool) -> None:
        from snowflake.connector import pandas_tools

        if first:
            self._execute(f"CREATE SCHEMA IF NOT EXISTS {self.database}.{schema}")
        try:
            ok = pandas_tools.write_pandas(
                self.con,
                frame,
                f"{table}{STAGING_SUFFIX}",
                database=self.database,
                schema=schema,
                auto_create_table=first,
                overwrite=first,
                quote_identifiers=False,
                use_logical_type=True,
            )[0]
        except Exception as exc:  # the connector raises several unrelated types
            raise SourceError(f"{self.describe()}: writing {schema}.{table} failed: {exc}") from exc
        if not ok:
            raise SourceError(f"{self.describe()}: writing {schema}.{table} failed")

    def _stage_commit(self, schema: str, tables: list[str]) -> None:
        prefix = f"{self.database}.{schema}"
        for table in tables:
            exists = self.query(
                f"SELECT COUNT(*) AS N FROM {self.database}.information_schema.tables "
                f"WHERE UPPER(table_schema) = UPPER('{schema}') AND UPPER(table_name) = UPPER('{table}')"
            )["N"].iloc[0]
            try:
                if exists:  # atomic: readers see the old table or the new one
                    self._execute(f"ALTER TABLE {prefix}.{table} SWAP WITH {prefix}.{table}{STAGING_SUFFIX}")
                    self._execute(f"DROP TABLE {prefix}.{table}{STAGING_SUFFIX}")
                else:
                    self._execute(f"ALTER TABLE {prefix}.{table}{STAGING_SUFFIX} RENAME TO {prefix}.{table}")
            except Exception as exc:
                raise SourceError(f"{self.describe()}: replacing {prefix}.{table} failed: {exc}") from exc

    def _stage_drop(self, schema: str, tables: list[str]) -> None:
        for table in tables:
            self._execute(f"DROP TABLE IF EXISTS {self.database}.{schema}.{table}{STAGING_SUFFIX}")

    def qualified_schema(self, name: str) -> str:  # noqa: D102
        return f"{self.database}.{name}"

    def describe(self) -> str:  # noqa: D102
        name = self.connection_name or "default connection"
        return f"snowflake:{name} ({self.database}.{self.schema_name})"

    def close(self) -> None:  # noqa: D102
        self.con.close()
