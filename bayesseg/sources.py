"""Warehouse sources: the embedded DuckDB default and Snowflake, running the same SQL.

A source runs the shipped queries (:mod:`bayesseg.sql`) against the four MART tables and returns
pandas DataFrames with upper-case column names. The dialect differences are in
:class:`bayesseg.sql.Dialect`; nothing else differs between the two paths.

Snowflake is configured the connector's standard way: a named connection of
``~/.snowflake/connections.toml`` (or ``$SNOWFLAKE_HOME/connections.toml``), the default
connection of that file, or ``SNOWFLAKE_*`` environment variables for that connection. bayesseg
never prints or logs connection parameters; :meth:`Source.describe` names the connection only.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import pandas as pd

from bayesseg.contract import TABLES
from bayesseg.sql import DUCKDB, SNOWFLAKE, Dialect, render

__all__ = [
    "DEFAULT_WAREHOUSE",
    "STAGING_SUFFIX",
    "DuckDBSource",
    "SnowflakeSource",
    "Source",
    "SourceError",
    "TableBatchWriter",
    "default_warehouse_path",
    "embedded_default",
    "open_source",
]

DEFAULT_WAREHOUSE = Path("data") / "techtest.duckdb"
"""The embedded default warehouse, relative to the working directory (``$BAYESSEG_WAREHOUSE``
overrides it)."""


_SNOWFLAKE_TYPES = {
    "integer": "NUMBER(38,0)",
    "number": "FLOAT",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP_NTZ",
    "array": "ARRAY",
}


class SourceError(RuntimeError):
    """The warehouse cannot be reached or read; the message says which and why, without secrets."""


class Source(ABC):
    """A warehouse holding the MART tables of the data contract.

    Parameters
    ----------
    dialect : bayesseg.sql.Dialect
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
    def write_tables(self, frames: dict[str, pd.DataFrame], schema: str) -> dict[str, int]:
        """Write result tables back to the warehouse, each replacing its previous version whole.

        Parameters
        ----------
        frames : dict of str to pandas.DataFrame
            Table name (upper case) to contents; column names are used as they are.
        schema : str
            Schema to write to (created when absent), in the database of the MART tables.
            Tables of that schema not named in `frames` are left untouched.

        Returns
        -------
        dict of str to int
            Rows written per table.

        Raises
        ------
        SourceError
            If the warehouse refuses the write (read-only connection, missing privilege); the
            message names the source and the table.
        """

    def run(self, name: str, **values: str) -> pd.DataFrame:
        """Render a shipped query for this source and run it.

        Parameters
        ----------
        name : str
            Query name, see :func:`bayesseg.sql.query_names`.
        **values : str
            Values of the query's placeholders.

        Returns
        -------
        pandas.DataFrame
        """
        return self.query(render(name, self.dialect, self.schema, **values))

    def query_batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Run a query and stream its result in batches, in the query's order.

        Memory is bounded by the batch, not by the result: what large scoring jobs read authors
        through (:func:`bayesseg.scale.stream_inputs`).

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
            A context manager: :meth:`TableBatchWriter.append` batches, and on a clean exit every
            table written replaces its previous version; on an error the staged rows are dropped
            and the previous tables stay.
        """
        return TableBatchWriter(self, schema)

    def _stage_append(self, schema: str, table: str, frame: pd.DataFrame, first: bool) -> None:
        raise SourceError(f"{self.describe()} cannot write in batches")

    def _stage_commit(self, schema: str, tables: list[str]) -> None:
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

    def __enter__(self) -> TableBatchWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.source._stage_commit(self.schema, list(self.written))
        else:
            self.source._stage_drop(self.schema, list(self.written))


def _upper(frame: pd.DataFrame) -> pd.DataFrame:
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
        try:
            self.con.execute("SET enable_progress_bar = false")
        except duckdb.InvalidInputException:
            pass  # in Jupyter, DuckDB refuses to touch its (widget) bar without ipywidgets; it shows none then
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
            return _upper(self.con.execute(sql).df())
        except duckdb.Error as exc:
            raise SourceError(f"{self.describe()}: query failed: {exc}") from exc

    def columns(self, table: str) -> pd.DataFrame:  # noqa: D102
        return _upper(
            self.con.execute(
                "SELECT upper(column_name) AS COLUMN_NAME, upper(data_type) AS DATA_TYPE "
                "FROM information_schema.columns WHERE upper(table_schema) = upper(?) "
                "AND upper(table_name) = upper(?) ORDER BY ordinal_position",
                [self.schema_name, table],
            ).df()
        )

    def describe(self) -> str:  # noqa: D102
        return f"duckdb:{self.path} (schema {self.schema_name})"

    def write_tables(self, frames: dict[str, pd.DataFrame], schema: str) -> dict[str, int]:  # noqa: D102
        # one transaction: a reader sees every table of the previous run or every table of this one
        if self.read_only:
            raise SourceError(f"{self.describe()} is open read-only: cannot write {sorted(frames)}")
        target = f'"{self.catalog}".{schema}'
        written = {}
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
            for table, frame in frames.items():
                self.con.register("_bayesseg_frame", frame)
                self.con.execute(f"CREATE OR REPLACE TABLE {target}.{table} AS SELECT * FROM _bayesseg_frame")
                self.con.unregister("_bayesseg_frame")
                written[table] = len(frame)
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            raise SourceError(f"{self.describe()}: writing {schema} tables failed: {exc}") from exc
        return written

    def query_batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:  # noqa: D102
        # a cursor of its own (DuckDB's cursors are connections to the same database), so two
        # streams can be read side by side while the main connection writes
        cur = self.con.cursor()
        try:
            reader: Any = cur.sql(sql).to_arrow_reader(batch_size=rows)
            for batch in reader:
                if batch.num_rows:
                    yield _upper(batch.to_pandas())
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

    def _stage_commit(self, schema: str, tables: list[str]) -> None:
        # one transaction: a reader sees every table of the previous run or every table of this one
        prefix = f'"{self.catalog}".{schema}'
        try:
            self.con.execute("BEGIN TRANSACTION")
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
        return _upper(frame)

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
                        yield _upper(frame)
            else:  # DB-API fallback (fakesnow)
                names = [d[0] for d in cur.description]
                while chunk := cur.fetchmany(rows):
                    yield _upper(pd.DataFrame.from_records(chunk, columns=names))
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

    def describe(self) -> str:  # noqa: D102
        name = self.connection_name or "default connection"
        return f"snowflake:{name} ({self.database}.{self.schema_name})"

    def close(self) -> None:  # noqa: D102
        self.con.close()


def default_warehouse_path() -> Path:
    """Path of the embedded default warehouse: ``$BAYESSEG_WAREHOUSE`` or ``data/techtest.duckdb``."""
    return Path(os.environ.get("BAYESSEG_WAREHOUSE", DEFAULT_WAREHOUSE))


def embedded_default(
    path: str | os.PathLike[str] | None = None,
    *,
    build: bool = True,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
    read_only: bool = True,
    memory_limit: str | None = None,
) -> DuckDBSource:
    """Open the embedded default warehouse, simulating it first when it is absent.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Defaults to :func:`bayesseg.sources.default_warehouse_path`.
    build : bool, default True
        Build a ``demo`` warehouse with :func:`bayesseg.simulate.simulate_warehouse` when the
        file is missing.
    seed : int, default 0
        Seed of that simulation.
    progress : callable, optional
        Progress callback passed to the simulator.
    read_only : bool, default True
        Open the file read-only (``False`` to write result tables back).
    memory_limit : str, optional
        DuckDB's memory limit (see :class:`DuckDBSource`).

    Returns
    -------
    DuckDBSource

    Raises
    ------
    SourceError
        If the file is missing and `build` is false.
    """
    target = Path(path) if path is not None else default_warehouse_path()
    if not target.exists():
        if not build:
            raise SourceError(f"embedded warehouse {target} does not exist")
        from bayesseg.simulate import simulate_warehouse

        simulate_warehouse(target, "demo", seed=seed, progress=progress)
    return DuckDBSource(target, read_only=read_only, memory_limit=memory_limit)


def open_source(spec: str | None = None, **kwargs: Any) -> Source:
    """Open a source from a command-line style specification.

    Parameters
    ----------
    spec : str, optional
        ``duckdb:PATH``, ``snowflake`` (the connector's default connection) or
        ``snowflake:CONNECTION``. ``None`` opens the embedded default, building it if absent.
    **kwargs
        Passed to the source's constructor (for :func:`embedded_default` when `spec` is None).

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        If the specification is malformed or the source cannot be opened.
    """
    if spec is None:
        return embedded_default(**kwargs)
    kind, _, rest = spec.partition(":")
    if kind == "duckdb":
        if not rest:
            raise SourceError("--source duckdb needs a path: duckdb:PATH")
        return DuckDBSource(rest, **kwargs)
    if kind == "snowflake":
        return SnowflakeSource(rest or None, **kwargs)
    raise SourceError(f"unknown source {spec!r}: use duckdb:PATH, snowflake or snowflake:CONNECTION")
