"""Snowflake as a source: the same SQL as DuckDB, through snowflake-connector-python.

Snowflake is configured the connector's standard way: a named connection of
``~/.snowflake/connections.toml`` (or ``$SNOWFLAKE_HOME/connections.toml``), the default connection
of that file, or ``SNOWFLAKE_*`` environment variables for that connection. bayesseg never prints or
logs connection parameters; :meth:`SnowflakeSource.describe` names the connection only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd

from bayesseg.data.contract import TABLES
from bayesseg.data.sources import STAGING_SUFFIX, Source, upper_columns
from bayesseg.data.sql import SNOWFLAKE
from bayesseg.exceptions import SourceError

__all__ = ["ENVIRONMENT", "SnowflakeSource", "connection_parameters"]

PREVIOUS_SUFFIX = "__BAYESSEG_PREVIOUS"
"""Suffix of a table's previous version while a commit swaps the new ones in."""

ENVIRONMENT = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
    "password": "SNOWFLAKE_PASSWORD",
    "role": "SNOWFLAKE_ROLE",
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "authenticator": "SNOWFLAKE_AUTHENTICATOR",
    "private_key_file": "SNOWFLAKE_PRIVATE_KEY_FILE",
    "host": "SNOWFLAKE_HOST",
}
"""Connection parameters read from the environment (the Snowflake CLI's names), over a connection's own."""


def _configured(name: str | None, key: str) -> Any:
    """A value of a connection of connections.toml (None when there is no such connection or key)."""
    if name is None:
        return None
    from snowflake.connector.config_manager import CONFIG_MANAGER  # the connector's own reading of the files

    try:
        connections: Any = CONFIG_MANAGER["connections"]
        return connections.get(name, {}).get(key)
    except Exception:  # an unreadable file is the connector's to report when connecting
        return None


def _default_connection() -> str | None:
    """The name of the connector's default connection, when connections.toml holds it."""
    from snowflake.connector.config_manager import CONFIG_MANAGER  # the connector's own reading of the files

    try:
        name: Any = CONFIG_MANAGER["default_connection_name"]
        connections: Any = CONFIG_MANAGER["connections"]
        return str(name) if name in connections else None
    except Exception:  # no file, or one the connector cannot read: no default connection
        return None


def connection_parameters(
    connection_name: str | None, database: str, schema: str, connect_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The arguments of ``snowflake.connector.connect``, from the connector's standard configuration.

    A named connection of ``connections.toml`` (``$SNOWFLAKE_HOME``); without a name, the file's default
    connection (``default_connection_name``, ``default`` unless configured); in both cases the
    ``SNOWFLAKE_*`` variables of :data:`ENVIRONMENT` override its values, and without any connection they
    are the connection. The database and schema of the MART tables are added last (the connector skips
    its default connection when it is given other arguments, so the default is resolved here).

    Parameters
    ----------
    connection_name : str or None
        A connection of ``connections.toml``.
    database, schema : str
        Where the MART tables are.
    connect_kwargs : dict
        Explicit arguments (tests, programs); with them nothing is read from files or the environment.

    Returns
    -------
    dict

    Raises
    ------
    bayesseg.exceptions.SourceError
        If no connection is configured at all (the message says where one is looked for).
    """
    kwargs = dict(connect_kwargs)
    if not connect_kwargs:
        name = connection_name or _default_connection()
        env = {key: os.environ[var] for key, var in ENVIRONMENT.items() if os.environ.get(var)}
        if name is None and "account" not in env:
            raise SourceError(
                "no Snowflake connection is configured: add a [default] connection to "
                "~/.snowflake/connections.toml (or $SNOWFLAKE_HOME/connections.toml), name one with "
                "--source snowflake:NAME, or set SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER"
            )
        if name is not None:
            kwargs["connection_name"] = name
        kwargs.update(env)
    elif connection_name is not None:
        kwargs["connection_name"] = connection_name
    kwargs.setdefault("database", database)
    kwargs.setdefault("schema", schema)
    return kwargs


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
        A connection of ``connections.toml``; without it the connector's default connection, or the
        ``SNOWFLAKE_*`` environment variables (:func:`~bayesseg.data.snowflake.connection_parameters`).
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
        kwargs = connection_parameters(connection_name, database, schema, connect_kwargs)
        if not connect_kwargs:  # name what was resolved: the default connection, or the environment
            self.connection_name = kwargs.get("connection_name") or "SNOWFLAKE_* environment"
        account = kwargs.get("account") or _configured(kwargs.get("connection_name"), "account")
        self.account = str(account) if account else None
        try:
            self.con = connect(**kwargs)
        except Exception as exc:
            # connector errors carry a message and an errno, never the password
            msg = getattr(exc, "msg", None) or type(exc).__name__
            where = f"{self.describe()}, account {self.account}" if self.account else self.describe()
            raise SourceError(
                f"cannot connect to Snowflake ({where}): {msg}. Configure the connection in "
                "~/.snowflake/connections.toml ($SNOWFLAKE_HOME) or SNOWFLAKE_* environment variables."
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
                    # a NULL array may come as None, NaN or pd.NA, depending on how the frame was read
                    data[c.name] = data[c.name].map(
                        lambda a: None if pd.api.types.is_scalar(a) else [float(x) for x in a]
                    )
            ok, _, n, _ = pandas_tools.write_pandas(
                self.con, data, table, database=self.database, schema=self.schema_name
            )[:4]
            if not ok:
                raise SourceError(f"{self.describe()}: loading {table} failed")
            loaded[table] = int(n)
        return loaded

    def write_tables(  # noqa: D102 - documented on Source
        self, frames: dict[str, pd.DataFrame], schema: str, drop: Sequence[str] = ()
    ) -> dict[str, int]:
        # Snowflake's DDL commits on its own, so no transaction spans tables: every table is loaded
        # into a staging copy first (a failure there leaves the previous tables untouched), then
        # the copies are renamed in, and a failure there puts the previous tables back
        with self.batch_writer(schema) as writer:
            for table, frame in frames.items():
                writer.append(table, frame)
            for table in drop:
                writer.drop(table)
        return dict(writer.written)

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

    def _stage_commit(self, schema: str, tables: list[str], drop: Sequence[str] = ()) -> None:
        # each table: its previous version renamed aside, the staging copy renamed in; the previous
        # versions are dropped once every table is in place, and a failure puts them all back (a
        # reader may find a table missing for the instant between two renames, never a mix of runs)
        prefix = f"{self.database}.{schema}"
        moved: list[tuple[str, bool]] = []  # (table, had a previous version)
        try:
            for table in tables:
                existed = self.has_tables(schema, [table])
                if existed:
                    self._execute(f"ALTER TABLE {prefix}.{table} RENAME TO {prefix}.{table}{PREVIOUS_SUFFIX}")
                moved.append((table, existed))
                self._execute(f"ALTER TABLE {prefix}.{table}{STAGING_SUFFIX} RENAME TO {prefix}.{table}")
        except Exception as exc:
            self._undo(prefix, moved)
            raise SourceError(f"{self.describe()}: replacing {prefix} tables failed: {exc}") from exc
        for table, existed in moved:
            if existed:
                self._execute(f"DROP TABLE IF EXISTS {prefix}.{table}{PREVIOUS_SUFFIX}")
        for table in drop:
            self._execute(f"DROP TABLE IF EXISTS {prefix}.{table}")

    def _undo(self, prefix: str, moved: list[tuple[str, bool]]) -> None:
        """Put back the previous tables of a commit that failed half-way (all or nothing)."""
        schema = prefix.rpartition(".")[2]
        for table, existed in reversed(moved):
            try:
                if self.has_tables(schema, [table]) and not self.has_tables(schema, [f"{table}{STAGING_SUFFIX}"]):
                    self._execute(f"ALTER TABLE {prefix}.{table} RENAME TO {prefix}.{table}{STAGING_SUFFIX}")
                if existed:
                    self._execute(f"ALTER TABLE {prefix}.{table}{PREVIOUS_SUFFIX} RENAME TO {prefix}.{table}")
            except Exception:  # best effort; the error being raised is the first one
                continue

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
