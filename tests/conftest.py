from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bayesseg.data.contract import TABLES
from bayesseg.simulate import simulate_warehouse
from bayesseg.taxonomy import Taxonomy

DATA = Path(__file__).parent / "data"

DUCKDB_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "array": "DOUBLE[]",
}


def read_tables(path: Path, schema: str = "TECHTEST") -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        db = con.execute("SELECT current_database()").fetchone()[0]
        return {t: con.execute(f'SELECT * FROM "{db}".{schema}.{t}').df() for t in TABLES}
    finally:
        con.close()


def write_tables(path: Path, frames: dict[str, pd.DataFrame], types: dict[tuple[str, str], str] | None = None) -> Path:
    """Write contract tables from frames into a new DuckDB file (schema TECHTEST).

    `types` overrides the SQL type of (table, column); columns absent from a frame are absent
    from the table.
    """
    types = types or {}
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA TECHTEST")
        for table, frame in frames.items():
            kinds = {c.name: c.kind for c in TABLES.get(table, ())}
            cols = ", ".join(
                f"{c} {types.get((table, c), DUCKDB_TYPES[kinds[c]] if c in kinds else 'VARCHAR')}"
                for c in frame.columns
            )
            con.execute(f"CREATE TABLE TECHTEST.{table} ({cols})")
            if len(frame):
                con.register("frame_df", frame)
                con.execute(f"INSERT INTO TECHTEST.{table} SELECT * FROM frame_df")
                con.unregister("frame_df")
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return Taxonomy.from_toml()


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    simulate_warehouse(path, "demo", seed=11)
    return path


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.duckdb"
    simulate_warehouse(path, 150, seed=3)
    return path


@pytest.fixture(scope="session")
def small_frames(small_warehouse: Path) -> dict[str, pd.DataFrame]:
    return read_tables(small_warehouse)
