"""Warehouse sources: the embedded DuckDB default and Snowflake, running the same SQL.

A source runs the shipped queries (:mod:`bayesseg.data.sql`) against the four MART tables and returns
pandas DataFrames with upper-case column names. The dialect differences are in
:class:`bayesseg.data.sql.Dialect`; nothing else differs between the two paths.

Snowflake is configured the connector's standard way: a named connection of
``~/.snowflake/connections.toml`` (or ``$SNOWFLAKE_HOME/connections.toml``), the default
connection of that file, or ``SNOWFLAKE_*`` environment variables for that connection. bayesseg
never prints or logs connection parameters; :meth:`Source.describe` names the connection only.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import pandas as pd

from bayesseg._interrupts import raise_if_interrupted
from bayesseg._resources import display_path
from bayesseg.data.sql import DUCKDB, Dialect, render, sql_literal
from bayesseg.exceptions import SourceError

__all__ = ["STAGING_SUFFIX", "DuckDBSource", "Source", "TableBatchWriter", "upper_columns"]


class Source(ABC):
    """A warehouse holding the MART tables of the data contract.

    Parameters
    ----------
    dialect : bayesseg.data.sql.Dialect
        SQL dialect of the warehouse.
    schema : str
        Schema (or ``DATABASE.SCHEMA``) of the MART tables, as written in queries.
    """

    def __init__(self, dialect: Dialect, schema: str) -> None:
        self.dialect = dialect
        self.schema = schema

    @abstractmethod
    def query(self, sql: str) -> pd.DataFrame:
        """Run a query and return its result with upper-case column names.

        Parameters
        ----------
        sql : str
            SQL text in the source's dialect.

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        SourceError
            If the warehouse rejects the query; the message names the source.
        """

    @abstractmethod
    def columns(self, table: str) -> pd.DataFrame:
        """Columns of a table of the MART schema.

        Parameters
        ----------
        table : str
            Table name (upper case).

        Returns
        -------
        pandas.DataFrame
            Columns ``COLUMN_NAME`` and ``DATA_TYPE`` (upper case), in table order; empty when
            the table does not exist.
        """

    @abstractmethod
    def describe(self) -> str:
        """A one-line description of the source that holds no secret."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abstractmethod
    def write_tables(self, frames: dict[str, pd.DataFrame], schema: str, drop: Sequence[str] = ()) -> dict[str, int]:
        """Write result tables back to the warehouse, all of them or none, each replacing its previous version whole.

        Parameters
        ----------
        frames : dict of str to pandas.DataFrame
            Table name (upper case) to contents; column names are used as they are.
        schema : str
            Schema to write to (created when absent), in the database of the MART tables.
            Tables of that schema not named in `frames` or `drop` are left untouched.
        drop : sequence of str, default ()
            Tables of `schema` removed in the same operation (e.g. the trend series of an earlier
            run when this run could not build them: a stale table with another model's rows would
            read as this run's).

        Returns
        -------
        dict of str to int
            Rows written per table.

        Raises
        ------
        SourceError
            If the warehouse refuses the write (read-only connection, missing privilege); the
            message names the source and the table. The previous tables are then left whole.
        """

    def drop_stale_staging(self, schema: str) -> list[str]:
        """Remove the staging tables (:data:`~bayesseg.data.sources.STAGING_SUFFIX`) an interrupted writer left.

        Parameters
        ----------
        schema : str
            The schema written to.

        Returns
        -------
        list of str
            The tables whose staging copy was removed (empty when there was none).
        """
        suffix = sql_literal(f"%{STAGING_SUFFIX}")
        found = self.query(
            "SELECT table_name AS NAME FROM information_schema.tables "
            f"WHERE UPPER(table_schema) = {sql_literal(schema.upper())} AND UPPER(table_name) LIKE {suffix}"
        )
        stale = sorted(str(n).upper().removesuffix(STAGING_SUFFIX) for n in found["NAME"])
        if stale:
            self._stage_drop(schema, stale)
        return stale

    def run(self, name: str, **values: str) -> pd.DataFrame:
        """Render a shipped query for this source and run it.

        Parameters
        ----------
        name : str
            Query name, see :func:`bayesseg.data.sql.query_names`.
        **values : str
            Values of the query's placeholders.

        Returns
        -------
        pandas.DataFrame
        """
        return self.query(render(name, self.dialect, self.schema, **values))

    def run_batches(self, name: str, rows: int = 100_000, **values: str) -> Iterator[pd.DataFrame]:
        """Render a shipped query for this source and stream its result (see :meth:`query_batches`).

        Parameters
        ----------
        name : str
            Query name, see :func:`bayesseg.data.sql.query_names`.
        rows : int, default 100000
            Rows per batch.
        **values : str
            Values of the query's placeholders.

        Yields
        ------
        pandas.DataFrame
        """
        return self.query_batches(render(name, self.dialect, self.schema, **values), rows)

    @abstractmethod
    def qualified_schema(self, name: str) -> str:
        """A schema of the database that holds the MART tables, as written in a query.

        Parameters
        ----------
        name : str
            Schema name (e.g. ``TRUTH``, or the schema of materialised aggregates).

        Returns
        -------
        str
            E.g. ``"catalog".TRUTH`` (DuckDB) or ``DATABASE.TRUTH`` (Snowflake).
        """

    def has_tables(self, schema: str, tables: list[str]) -> bool:
        """Whether every table of `tables` exists in `schema` (of the MART tables' database).

        Parameters
        ----------
        schema : str
            Schema name.
        tables : list of str
            Table names (upper case).

        Returns
        -------
        bool
        """
        names = ", ".join(sql_literal(t.upper()) for t in tables)
        found = self.query(
            "SELECT COUNT(DISTINCT UPPER(table_name)) AS N FROM information_schema.tables "
            f"WHERE UPPER(table_schema) = {sql_literal(schema.upper())} AND UPPER(table_name) IN ({names})"
        )
        return int(found["N"].iloc[0]) == len(set(t.upper() for t in tables))

    def read_table(self, schema: str, table: str) -> pd.DataFrame:
        """Every row of a table of `schema` (e.g. the simulator's ``TRUTH`` tables).

        Parameters
        ----------
        schema, table : str
            Schema and table names.

        Returns
        -------
        pandas.DataFrame
            Upper-case column names, as stored.

        Raises
        ------
        SourceError
            If the table cannot be read.
        """
        return self.query(f"SELECT * FROM {self.qualified_schema(schema)}.{table}")

    def query_batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Run a query and stream its result in batches, in the query's order.

        Memory is bounded by the batch, not by the result: what large scoring jobs read authors
        through (:func:`bayesseg.data.inputs.stream_inputs`).

        Parameters
        ----------
        sql : str
            SQL text in the source's dialect.
        rows : int, default 100000
            Rows per batch (a source may return other sizes; never an empty batch).

        Yields
        ------
        pandas.DataFrame
            Upper-case column names.

        Raises
        ------
        SourceError
            If the warehouse rejects the query.
        """
        yield self.query(sql)  # sources without a streaming cursor: one batch

    def batch_writer(self, schema: str) -> TableBatchWriter:
        """Write result tables in batches, each swapped into place whole when the writer closes.

        Parameters
        ----------
        schema : str
            Schema to write to (created when absent).

        Returns
        -------
        TableBatchWriter
            A context manager: :meth:`bayesseg.data.sources.TableBatchWriter.append` batches, and on a clean exit every
            table written replaces its previous version; on an error the staged rows are dropped
            and the previous tables stay.
        """
        return TableBatchWriter(self, schema)

    def _stage_append(self, schema: str, table: str, frame: pd.DataFrame, first: bool) -> None:
        raise SourceError(f"{self.describe()} cannot write in batches")

    def _stage_commit(self, schema: str, tables: list[str], drop: Sequence[str] = ()) -> None:
        raise SourceError(f"{self.describe()} cannot write in batches")

    def _stage_drop(self, schema: str, tables: list[str]) -> None:
        raise SourceError(f"{self.describe()} cannot write in batches")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


STAGING_SUFFIX = "__BAYESSEG_STAGING"
"""Suffix of the tables a :class:`TableBatchWriter` fills before swapping them into place."""


class TableBatchWriter:
    """Append result rows to staging tables in batches; swap them into place on success.

    Made by :meth:`Source.batch_writer`. Memory is bounded by one batch; readers see the previous
    version of a table until the writer closes cleanly, then the new one whole.

    Parameters
    ----------
    source : Source
        The warehouse, opened writable.
    schema : str
        Schema to write to.
    """

    def __init__(self, source: Source, schema: str) -> None:
        self.source = source
        self.schema = schema
        self.written: dict[str, int] = {}
        self.dropped: list[str] = []
        self.stale: list[str] = []

    def append(self, table: str, frame: pd.DataFrame) -> None:
        """Append rows to `table`'s staging copy (created by the first batch, from its columns).

        Parameters
        ----------
        table : str
            Table name (upper case).
        frame : pandas.DataFrame
            Rows; every batch of a table has the same columns.

        Raises
        ------
        SourceError
            If the warehouse refuses the write.
        """
        if frame.empty and table in self.written:
            return
        self.source._stage_append(self.schema, table, frame, first=table not in self.written)
        self.written[table] = self.written.get(table, 0) + len(frame)

    def drop(self, table: str) -> None:
        """Remove `table` when the writer commits (with the tables written).

        Parameters
        ----------
        table : str
            Table name (upper case).
        """
        self.dropped.append(table)

    def __enter__(self) -> TableBatchWriter:
        # staging tables of an interrupted writer: listed in `stale`, for the caller to report
        self.stale = self.source.drop_stale_staging(self.schema)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            try:
                raise_if_interrupted()  # a Ctrl-C that a callback swallowed: the staging tables go, as for any other
            except KeyboardInterrupt:
                self.source._stage_drop(self.schema, list(self.written))
                raise
            self.source._stage_commit(self.schema, list(self.written), self.dropped)
        else:
            self.source._stage_drop(self.schema, list(self.written))


def upper_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with upper-case column names (the contract's spelling, whatever the engine returns)."""
    frame.columns = [str(c).upper() for c in frame.columns]
    return frame


class DuckDBSource(Source):
    """The MART tables in a DuckDB file (the embedded default).

    Parameters
    ----------
    path : str or os.PathLike
        The DuckDB file.
    schema : str, default "TECHTEST"
        Schema of the MART tables inside the file.
    read_only : bool, default True
        Open the file read-only (several readers may share it).
    memory_limit : str, optional
        DuckDB's memory limit (e.g. ``"1GB"``; it spills to disk beyond it). DuckDB's default
        is 80 % of the machine's memory, which it fills with cached pages on long jobs.

    Raises
    ------
    SourceError
        If the file does not exist or DuckDB cannot open it, or `memory_limit` is invalid.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: str = "TECHTEST",
        read_only: bool = True,
        memory_limit: str | None = None,
    ) -> None:
        super().__init__(DUCKDB, schema)
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"DuckDB warehouse {self.path} does not exist")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise SourceError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc
        # qualify with the catalog: a file called techtest.duckdb has a catalog that a bare
        # TECHTEST would make ambiguous with the schema
        # bayesseg reports progress by stage; DuckDB's own bar would print over it on long queries
        # in Jupyter, DuckDB refuses to touch its (widget) bar without ipywidgets; it shows none then
        with contextlib.suppress(duckdb.InvalidInputException):
            self.con.execute("SET enable_progress_bar = false")
        if memory_limit is not None:
            try:
                self.con.execute(f"SET memory_limit = '{memory_limit}'")
            except duckdb.Error as exc:
                raise SourceError(f"DuckDB memory_limit {memory_limit!r} is invalid: {exc}") from exc
        catalog = self.con.execute("SELECT current_database()").fetchall()[0][0]
        self.catalog = str(catalog)
        self.read_only = read_only
        self.schema_name = schema
        self.schema = f'"{catalog}".{schema}'

    def query(self, sql: str) -> pd.DataFrame:  # noqa: D102 - documented on Source
        try:
            return upper_columns(self.con.execute(sql).df())
        except duckdb.Error as exc:
            raise SourceError(f"{self.describe()}: query failed: {exc}") from exc

    def columns(self, table: str) -> pd.DataFrame:  # noqa: D102
        return upper_columns(
            self.con.execute(
                "SELECT upper(column_name) AS COLUMN_NAME, upper(data_type) AS DATA_TYPE "
                "FROM information_schema.columns WHERE upper(table_schema) = upper(?) "
                "AND upper(table_name) = upper(?) ORDER BY ordinal_position",
                [self.schema_name, table],
            ).df()
        )

    def describe(self) -> str:  # noqa: D102
        # relative to the working directory where it can be: the report says nothing of the machine
        return f"duckdb:{display_path(self.path)} (schema {self.schema_name})"

    def qualified_schema(self, name: str) -> str:  # noqa: D102
        return f'"{self.catalog}".{name}'

    def write_tables(  # noqa: D102 - documented on Source
        self, frames: dict[str, pd.DataFrame], schema: str, drop: Sequence[str] = ()
    ) -> dict[str, int]:
        # one transaction: a reader sees every table of the previous run or every table of this one
        if self.read_only:
            raise SourceError(f"{self.describe()} is open read-only: cannot write {sorted(frames)}")
        target = f'"{self.catalog}".{schema}'
        written = {}
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
            for table in drop:
                self.con.execute(f"DROP TABLE IF EXISTS {target}.{table}")
            for table, frame in frames.items():
                self.con.register("_bayesseg_frame", frame)
                self.con.execute(f"CREATE OR REPLACE TABLE {target}.{table} AS SELECT * FROM _bayesseg_frame")
                self.con.unregister("_bayesseg_frame")
                written[table] = len(frame)
            self.con.execute("COMMIT")
        except BaseException as exc:  # an error or an interrupt: every table stays as it was
            self.con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise SourceError(f"{self.describe()}: writing {schema} tables failed: {exc}") from exc
            raise
        return written

    def query_batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:  # noqa: D102
        # a cursor of its own (DuckDB's cursors are connections to the same database), so two
        # streams can be read side by side while the main connection writes
        cur = self.con.cursor()
        try:
            reader: Any = cur.sql(sql).to_arrow_reader(batch_size=rows)
            for batch in reader:
                if batch.num_rows:
                    yield upper_columns(batch.to_pandas())
        except duckdb.Error as exc:
            raise SourceError(f"{self.describe()}: query failed: {exc}") from exc
        finally:
            cur.close()

    def _stage_append(self, schema: str, table: str, frame: pd.DataFrame, first: bool) -> None:
        if self.read_only:
            raise SourceError(f"{self.describe()} is open read-only: cannot write {table}")
        target = f'"{self.catalog}".{schema}.{table}{STAGING_SUFFIX}'
        try:
            self.con.register("_bayesseg_frame", frame)
            if first:
                self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.catalog}".{schema}')
                self.con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM _bayesseg_frame")
            else:
                self.con.execute(f"INSERT INTO {target} SELECT * FROM _bayesseg_frame")
            self.con.unregister("_bayesseg_frame")
        except duckdb.Error as exc:
            raise SourceError(f"{self.describe()}: writing {schema}.{table} failed: {exc}") from exc

    def _stage_commit(self, schema: str, tables: list[str], drop: Sequence[str] = ()) -> None:
        # one transaction: a reader sees every table of the previous run or every table of this one
        prefix = f'"{self.catalog}".{schema}'
        try:
            self.con.execute("BEGIN TRANSACTION")
            for table in drop:
                self.con.execute(f"DROP TABLE IF EXISTS {prefix}.{table}")
            for table in tables:
                self.con.execute(f"DROP TABLE IF EXISTS {prefix}.{table}")
                self.con.execute(f"ALTER TABLE {prefix}.{table}{STAGING_SUFFIX} RENAME TO {table}")
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            raise SourceError(f"{self.describe()}: replacing {schema} tables failed: {exc}") from exc

    def _stage_drop(self, schema: str, tables: list[str]) -> None:
        for table in tables:
            self.con.execute(f'DROP TABLE IF EXISTS "{self.catalog}".{schema}.{table}{STAGING_SUFFIX}')

    def close(self) -> None:  # noqa: D102
        self.con.close()
