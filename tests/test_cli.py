import re

import pandas as pd
import pytest

from bayesseg.cli import main
from bayesseg.model import compare_k
from bayesseg.simulate import warehouse_checksum


def test_simulate_prints_path_and_checksum(tmp_path, capsys):
    out = tmp_path / "w.duckdb"
    assert main(["simulate", "--authors", "80", "--seed", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().split("\t")
    assert printed == [str(out), warehouse_checksum(out)]
    assert main(["simulate", "--authors", "80", "--out", str(out)]) == 2  # exists
    assert "overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--source", "duckdb:/no/such.duckdb"], "does not exist"),
        (["quality", "--source", "mysql:x"], "unknown source"),
        (["run", "--source", "snowflake:nosuchconnection"], "cannot connect to Snowflake"),
        (["trends", "--out", "x", "--series", "object_detection:top & pattern:stripes+shoe:boots"], "mixes '+'"),
        (["trends", "--out", "x", "--series", "pattern:leopard", "pattern:leopard"], "trends repeat"),
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
    assert "<table" in html.read_text() and "MART_AUTHORS" in html.read_text().replace("<wbr>", "")


def test_aggregate_command(small_warehouse, tmp_path):
    assert main(["aggregate", "--source", f"duckdb:{small_warehouse}", "--out", str(tmp_path / "agg")]) == 0
    assert {p.name for p in (tmp_path / "agg").iterdir()} == {
        "counts.parquet",
        "covariates.parquet",
        "weekly.parquet",
        "activity.parquet",
        "inventory.parquet",
    }


# ----------------------------------------------------------------------------- fit and score
@pytest.fixture(scope="module")
def count_files(tmp_path_factory):
    from bayesseg.simulate import simulate_counts

    counts, cov, truth = simulate_counts(160, 8, 2, separation=1.8, seed=3)
    d = tmp_path_factory.mktemp("csv")
    frame = counts.to_pandas()
    frame.index.name = "id"
    frame.loc[9999] = 0  # an author without counts: excluded and reported
    frame.to_csv(d / "counts.csv")
    c = cov.to_pandas()
    c.index.name = "id"
    c.loc[9999] = [0.0, 0.0]
    c.to_csv(d / "cov.csv")
    return d, truth


FAST_ARGS = ["--draws", "150", "--tune", "200", "--seed", "2"]


def test_fit_and_score(count_files, tmp_path):
    d, _ = count_files
    out = tmp_path / "fit"
    argv = ["fit", "--counts", str(d / "counts.csv"), "--covariates", str(d / "cov.csv"), "--k", "2", "--out", str(out)]
    assert main([*argv, *FAST_ARGS]) == 0
    mem = pd.read_csv(out / "memberships.csv")
    assert list(mem.columns[:6]) == ["id", "segment", "prob_mean", "prob_low", "prob_high", "entropy"]
    assert len(mem) == 160 * 2 and 9999 not in set(mem["id"])
    assert mem.groupby("id")["prob_mean"].sum().sub(1).abs().max() < 1e-9
    assert pd.read_csv(out / "excluded.csv").to_dict("records") == [
        {"id": 9999, "reason": "no label counts (all zero)"}
    ]
    scored = tmp_path / "scored.csv"
    assert (
        main(
            [
                "score",
                "--model",
                str(out),
                "--counts",
                str(d / "counts.csv"),
                "--covariates",
                str(d / "cov.csv"),
                "--out",
                str(scored),
            ]
        )
        == 0
    )
    pd.testing.assert_frame_equal(pd.read_csv(scored), mem)  # scoring the fitted authors gives their memberships


def test_fit_k_range_writes_loo(count_files, tmp_path, monkeypatch):
    from bayesseg import cli

    d, _ = count_files
    out = tmp_path / "range"
    argv = [
        "fit",
        "--counts",
        str(d / "counts.csv"),
        "--k-range",
        "2:3",
        "--out",
        str(out),
        *FAST_ARGS,
        "--k-jobs",
        "2",
    ]
    asked = []
    monkeypatch.setattr(cli, "compare_k", lambda *a, **kw: asked.append(kw["n_jobs"]) or compare_k(*a, **kw))
    assert main(argv) == 0
    assert asked == [2]
    loo = pd.read_csv(out / "loo.csv")
    assert set(loo["model"]) == {"K=2", "K=3"} and {"elpd", "n_high_pareto_k", "high_pareto_k"} <= set(loo.columns)
    assert (out / "model.nc").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.iloc.__setitem__((3, 2), -2), r"row 5 \(id \d+\), column 'c1' holds -2"),
        (
            lambda f: f.__setitem__("c0", f["c0"].astype(float).where(f.index != 0, 1.5)),
            r"row 2 \(id \d+\), column 'c0' holds 1.5",
        ),
    ],
)
def test_malformed_counts_name_the_row_and_column(count_files, tmp_path, capsys, edit, message):
    d, _ = count_files
    frame = pd.read_csv(d / "counts.csv")
    edit(frame)
    frame.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["fit", "--counts", str(tmp_path / "bad.csv"), "--k", "2", "--out", str(tmp_path / "o")]) == 2
    assert re.search(message, capsys.readouterr().err.replace("\n", " "))


def test_malformed_covariates_and_ids(count_files, tmp_path, capsys):
    d, _ = count_files
    cov = pd.read_csv(d / "cov.csv")
    cov.loc[4, "x1"] = float("nan")
    cov.to_csv(tmp_path / "nan.csv", index=False)
    base = ["fit", "--counts", str(d / "counts.csv"), "--k", "2", "--out", str(tmp_path / "o")]
    assert main([*base, "--covariates", str(tmp_path / "nan.csv")]) == 2
    assert "row 6" in capsys.readouterr().err
    cov = pd.read_csv(d / "cov.csv").iloc[5:]
    cov.to_csv(tmp_path / "short.csv", index=False)
    assert main([*base, "--covariates", str(tmp_path / "short.csv")]) == 2
    assert "have no covariates" in capsys.readouterr().err
    assert main(["fit", "--counts", str(d / "counts.csv"), "--k-range", "5:2", "--out", str(tmp_path / "o")]) == 2
    assert "--k-range" in capsys.readouterr().err
    for jobs, sampler in (("0", "nutpie"), ("2", "pymc")):
        assert main([*base, "--k-jobs", jobs, "--sampler", sampler]) == 2
        assert (
            f"--k-jobs must be 1, or more with --sampler nutpie; got {jobs} with {sampler}" in capsys.readouterr().err
        )


def test_fit_anchor_errors_are_clear(count_files, tmp_path, capsys):
    d, _ = count_files
    base = ["fit", "--counts", str(d / "counts.csv"), "--k", "2", "--out", str(tmp_path / "o")]
    assert main([*base, "--anchor", "gothic"]) == 2
    assert "known rules" in capsys.readouterr().err
    assert main([*base, "--anchor", "luxury"]) == 2  # columns c0..c7 are not taxonomy categories
    assert "absent from the counts" in capsys.readouterr().err
