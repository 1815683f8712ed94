from __future__ import annotations

import importlib.util
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


def _pages_module():
    """scripts/pages.py, the browser checks the screenshots command runs."""
    path = Path(__file__).parent.parent / "scripts" / "pages.py"
    spec = importlib.util.spec_from_file_location("bayesseg_pages", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pages = _pages_module()


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Debian's chromium and chromium-driver; CI installs them: a missing one fails)."""
    with pages.browser() as driver:
        yield driver


@pytest.fixture
def page_check(browser, tmp_path):
    """Check an HTML page in the browser at every width of ``pages.WIDTHS``; screenshots under the test's tmp_path."""

    def check(path: Path) -> list[str]:
        problems = []
        for width in pages.WIDTHS:
            found = pages.check_page(browser, path, width, tmp_path / f"{Path(path).stem}-{width}.png")
            assert found["images"] == 0 or (tmp_path / f"{Path(path).stem}-{width}.png").stat().st_size > 10_000
            problems += [f"{Path(path).name}: {p}" for p in found["problems"]]
        return problems

    return check


@pytest.fixture
def fastmath_at_compile(monkeypatch) -> list[bool]:
    """PyTensor's ``numba__fastmath`` at every function its Numba linker compiles from now on, in order."""
    import pytensor
    from pytensor.link.numba.linker import NumbaLinker

    seen: list[bool] = []
    convert = NumbaLinker.fgraph_convert

    def spy(self, fgraph, **kwargs):
        seen.append(bool(pytensor.config.numba__fastmath))
        return convert(self, fgraph, **kwargs)

    monkeypatch.setattr(NumbaLinker, "fgraph_convert", spy)
    return seen
