import pandas as pd
import pytest

from bayesseg.cli import main
from bayesseg.simulate import warehouse_checksum


def test_simulate_prints_path_and_checksum(tmp_path, capsys):
    out = tmp_path / "w.duckdb"
    assert main(["simulate", "--authors", "80", "--seed", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().split("\t")
    assert printed == [str(out), warehouse_checksum(out)]
    assert main(["simulate", "--authors", "80", "--out", str(out)]) == 2  # exists
    assert "overwrite" in capsys.readouterr().err


def test_run_on_a_warehouse_writes_the_report_and_aggregates(small_warehouse, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--source", f"duckdb:{small_warehouse}", "--out", str(out)]) == 0
    assert (out / "data_quality.html").read_text().count("<tr>") > 10
    counts = pd.read_parquet(out / "counts.parquet")
    assert {"author", "category", "count"} == set(counts.columns) and len(counts) > 0
    cov = pd.read_parquet(out / "covariates.parquet")
    assert cov["author"].is_unique
    assert "duplicate_author_ids" in capsys.readouterr().out


def test_run_builds_the_embedded_default_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESSEG_WAREHOUSE", str(tmp_path / "data" / "default.duckdb"))
    monkeypatch.setattr("bayesseg.simulate.SIZES", {"demo": 60, "techtest": 32_841})
    assert main(["run", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "data" / "default.duckdb").exists()


def test_dry_run_lists_stages(capsys):
    assert main(["run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "schema" in out and "aggregate" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--source", "duckdb:/no/such.duckdb"], "does not exist"),
        (["quality", "--source", "mysql:x"], "unknown source"),
        (["run", "--source", "snowflake:nosuchconnection"], "cannot connect to Snowflake"),
    ],
)
def test_errors_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_quality_command(small_warehouse, tmp_path, capsys):
    html = tmp_path / "q.html"
    assert main(["quality", "--source", f"duckdb:{small_warehouse}", "--html", str(html)]) == 0
    assert "Data quality of" in capsys.readouterr().out
    assert "<table>" in html.read_text()


def test_aggregate_command(small_warehouse, tmp_path):
    assert main(["aggregate", "--source", f"duckdb:{small_warehouse}", "--out", str(tmp_path / "agg")]) == 0
    assert {p.name for p in (tmp_path / "agg").iterdir()} == {
        "counts.parquet",
        "covariates.parquet",
        "weekly.parquet",
        "activity.parquet",
        "inventory.parquet",
    }
