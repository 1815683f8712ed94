"""Faults and bad input: a one-line error or a correct result with a visible warning, never a traceback, a silent
wrong result or a lost model (docs/failure-modes.md)."""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import duckdb
import fakesnow
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesseg._interrupts import catching_interrupts, raise_if_interrupted, release_interrupted
from bayesseg.cli import main
from bayesseg.config import RunSpec
from bayesseg.data.count_files import read_counts_csv, read_covariates_csv
from bayesseg.data.snowflake import SnowflakeSource
from bayesseg.data.sources import STAGING_SUFFIX, DuckDBSource
from bayesseg.exceptions import InputError, ModelFileError, SourceError
from bayesseg.model import SegmentModel
from bayesseg.model.persistence import content_hash
from bayesseg.model.sampling import _check_complete
from bayesseg.simulate import simulate_counts
from bayesseg.workflow.outputs import StagedFolder
from bayesseg.workflow.pipeline import run_job

TINY = Path(__file__).parent / "data" / "tiny_spec.toml"
BAYESSEG = Path(sys.executable).parent / "bayesseg"


def _tables(path: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'BAYESSEG'"
            ).fetchall()
        ]
        return {t: con.execute(f"SELECT * FROM BAYESSEG.{t}").df() for t in sorted(names)}
    finally:
        con.close()


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def first_run(small_warehouse, tmp_path_factory):
    """A warehouse with the result tables of a run, and that run's output folder."""
    root = tmp_path_factory.mktemp("faults")
    warehouse = root / "w.duckdb"
    shutil.copy(small_warehouse, warehouse)
    out = root / "out"
    assert main(["run", "--source", f"duckdb:{warehouse}", "--spec", str(TINY), "--out", str(out)]) == 0
    return warehouse, out


@pytest.fixture
def copies(first_run, tmp_path):
    warehouse, out = first_run
    shutil.copy(warehouse, tmp_path / "w.duckdb")
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "w.duckdb", tmp_path / "out"


# ----------------------------------------------------------------------------- silent wrong results
def test_null_dates_remove_the_stale_trend_table_and_say_so(copies, capsys):
    warehouse, out = copies
    before = _tables(warehouse)
    assert "TREND_SERIES" in before
    con = duckdb.connect(str(warehouse))
    con.execute("ALTER TABLE TECHTEST.MART_IMAGES_OF_POSTS ALTER COLUMN POST_PUBLICATION_DATE DROP NOT NULL")
    n_rows = con.execute("UPDATE TECHTEST.MART_IMAGES_OF_POSTS SET POST_PUBLICATION_DATE = NULL").fetchone()[0]
    con.close()
    assert main(["run", "--source", f"duckdb:{warehouse}", "--spec", str(TINY), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    after = _tables(warehouse)
    # the previous model's trend table is gone, not left to read as this run's; the CLI says both why and what
    assert "TREND_SERIES" not in after and "PANEL_LEAD" not in after
    assert "no post has a publication date" in captured.err and "removed BAYESSEG.TREND_SERIES" in captured.err
    # every table written back names this run's fit
    run = json.loads((out / "run.json").read_text())
    for name in ("AUTHOR_SEGMENTS", "SEGMENT_PROFILES", "EXCLUDED_AUTHORS"):
        assert set(after[name]["MODEL_ID"]) == {run["model_id"]} != set(before[name]["MODEL_ID"])
    assert run["dropped"] == ["TREND_SERIES", "PANEL_LEAD"] and "publication date" in run["trends_error"]
    # the data-quality page counts the rows without a date
    assert (
        "rows without a date" in (out / "data_quality.html").read_text()
        and f"{n_rows:,}" in (out / "data_quality.html").read_text()
    )


def test_content_hash_reads_labels_as_text_whatever_their_dtype():
    # category labels built in Python (object arrays) and read back from netCDF (fixed-width text)
    # are the same contents: a model saved from the one must load as the other
    values = xr.DataArray(np.arange(4.0).reshape(2, 2), dims=("segment", "category"))
    text = values.assign_coords(category=np.array(["a", "brand_other"]))
    objects = values.assign_coords(category=np.array(["a", "brand_other"], dtype=object))
    assert content_hash(xr.DataTree.from_dict({"posterior": text.to_dataset(name="p")})) == content_hash(
        xr.DataTree.from_dict({"posterior": objects.to_dataset(name="p")})
    )
    renamed = values.assign_coords(category=np.array(["a", "brand_otter"]))
    assert content_hash(xr.DataTree.from_dict({"posterior": renamed.to_dataset(name="p")})) != content_hash(
        xr.DataTree.from_dict({"posterior": text.to_dataset(name="p")})
    )


@pytest.mark.parametrize("damage", ["nan", "shuffle", "truncate", "not_a_model"])
def test_damaged_model_files_are_refused(first_run, tmp_path, damage, capsys):
    _, out = first_run
    path = tmp_path / "model.nc"
    if damage == "truncate":
        data = (out / "model.nc").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "not_a_model":
        path.write_text("not a netCDF file")
    else:
        tree = xr.open_datatree(out / "model.nc").load()
        post = tree["posterior"].to_dataset()
        v = post["profile"].values
        if damage == "nan":
            v[0, 0, 0, 0] = np.nan
        else:
            v[:] = v[:, ::-1]  # draws of chain 0 swapped with chain 1's: plausible values, wrong places
        tree["posterior"] = xr.DataTree(post.assign(profile=(post["profile"].dims, v)))
        tree.to_netcdf(path)
    with pytest.raises(ModelFileError):
        SegmentModel.load(path)
    counts = tmp_path / "c.csv"
    pd.DataFrame({"id": [1], "bag": [1]}).to_csv(counts, index=False)
    assert main(["score", "--model", str(path), "--counts", str(counts), "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 3


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    counts, cov, _ = simulate_counts(120, 6, 2, separation=1.8, seed=8)
    d = tmp_path_factory.mktemp("csvs")
    frame = counts.to_pandas()
    frame.index.name = "id"
    frame.to_csv(d / "counts.csv")
    c = cov.to_pandas()
    c.index.name = "id"
    c.to_csv(d / "cov.csv")
    return d


def test_fit_reports_convergence_and_strict_fails_on_it(csv_data, tmp_path, capsys):
    base = ["fit", "--counts", str(csv_data / "counts.csv"), "--k", "2", "--tune", "20", "--draws", "20"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    block = json.loads((tmp_path / "a" / "convergence.json").read_text())
    assert {"max_rhat", "max_rhat_at", "min_ess_bulk", "min_ess_tail", "divergences", "treedepth_hits"} <= set(block)
    assert "largest R-hat" in captured.out and "smallest bulk ESS" in captured.out
    # 2 x 20 draws cannot reach 400 effective draws: the rule fails, said as a warning, or an error with --strict
    assert block["passed"] is False and "convergence rule" in captured.err
    assert main([*base, "--out", str(tmp_path / "b"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "fails the convergence rule" in err and "Traceback" not in err
    assert (tmp_path / "b" / "model.nc").is_file()  # the outputs are kept to diagnose the fit


def test_one_category_header_only_and_huge_counts_are_refused(tmp_path, capsys):
    one = tmp_path / "one.csv"
    pd.DataFrame({"id": [1, 2, 3], "jeans": [3, 1, 2]}).to_csv(one, index=False)
    assert main(["fit", "--counts", str(one), "--k", "2", "--out", str(tmp_path / "f")]) == 2
    assert "one category carries no information" in capsys.readouterr().err
    header = tmp_path / "header.csv"
    header.write_text("id,jeans,dress\n")
    with pytest.raises(InputError, match="has a header and no row"):
        read_counts_csv(header)
    huge = tmp_path / "huge.csv"
    pd.DataFrame({"id": [1, 2], "jeans": [1e19, 2], "dress": [1, 1]}).to_csv(huge, index=False)
    with pytest.raises(InputError, match=r"row 2 \(id 1\), column 'jeans' holds 1e\+19"):
        read_counts_csv(huge)


def test_a_text_id_among_numbers_is_named(tmp_path):
    cov = tmp_path / "cov.csv"
    pd.DataFrame({"id": ["1", "2", "x3"], "f": [1.0, 2.0, 3.0]}).to_csv(cov, index=False)
    with pytest.raises(InputError, match="row 4 has id 'x3', not a number"):
        read_covariates_csv(cov, np.array([1, 2, 3]))
    ok = tmp_path / "ok.csv"
    pd.DataFrame({"id": ["1", "2", "3"], "f": [1.0, 2.0, 3.0]}).astype({"id": str}).to_csv(ok, index=False)
    assert read_covariates_csv(ok, np.array([3, 1])).sel(covariate="f").values.tolist() == [3.0, 1.0]


def test_category_names_are_printed_plainly(first_run, tmp_path):
    _, out = first_run
    model = SegmentModel.load(out)
    counts = xr.DataArray(
        np.ones((2, 2), dtype=int), dims=("author", "category"), coords={"author": [1, 2], "category": ["jeans", "x"]}
    )
    with pytest.raises(InputError) as info:
        model.predict_memberships(counts)
    assert "np.str_" not in str(info.value) and "'jeans'" in str(info.value)


def test_unknown_labels_in_rank_are_counted(first_run, tmp_path, capsys):
    _, out = first_run
    posts = tmp_path / "posts.csv"
    pd.DataFrame(
        {
            "POST_ID": ["a", "a", "b"],
            "TYPE": ["object_detection", "bag_brand", "bag_brand"],
            "LABEL_NAME": ["dress", "loewe", "loewe"],
        }
    ).to_csv(posts, index=False)
    args = ["rank", "--model", str(out), "--posts", str(posts), "--segment", "luxury", "--out", str(tmp_path / "r.csv")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "2 label row(s) without a category were left out" in err and "bag_brand:loewe (2)" in err


# ----------------------------------------------------------------------------- Snowflake's configuration
def _snowflake_cli(tmp_path: Path, env: dict[str, str], source: str = "snowflake") -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    base["HOME"] = str(tmp_path)  # no ~/.snowflake of the machine running the tests
    return subprocess.run(
        [str(BAYESSEG), "quality", "--source", source],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("toml", "env", "source", "account"),
    [
        ('[default]\naccount = "acme-file"\nuser = "ana"\npassword = "s3cret-pw"\n', {}, "snowflake", "acme-file"),
        (
            '[other]\naccount = "acme-named"\nuser = "ana"\npassword = "s3cret-pw"\n',
            {},
            "snowflake:other",
            "acme-named",
        ),
        (
            None,
            {"SNOWFLAKE_ACCOUNT": "acme-env", "SNOWFLAKE_USER": "bo", "SNOWFLAKE_PASSWORD": "s3cret-pw"},
            "snowflake",
            "acme-env",
        ),
        (
            '[default]\naccount = "acme-file"\nuser = "ana"\npassword = "s3cret-pw"\n',
            {"SNOWFLAKE_ACCOUNT": "acme-override"},
            "snowflake",
            "acme-override",
        ),
    ],
)
def test_snowflake_uses_the_connectors_standard_configuration(tmp_path, toml, env, source, account):
    home = tmp_path / "sf"
    home.mkdir()
    if toml is not None:
        (home / "connections.toml").write_text(toml + "login_timeout = 5\n")
        (home / "connections.toml").chmod(0o600)
    run = _snowflake_cli(tmp_path, {"SNOWFLAKE_HOME": str(home), **env}, source)
    # no network here: the connection fails, and the one-line error names the configured account, never the password
    assert run.returncode == 2, run.stderr
    assert f"account {account}" in run.stderr and "s3cret" not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr and "User is empty" not in run.stderr


def test_snowflake_without_any_configuration_says_where_to_put_it(tmp_path):
    run = _snowflake_cli(tmp_path, {"SNOWFLAKE_HOME": str(tmp_path / "none")})
    assert run.returncode == 2 and "no Snowflake connection is configured" in run.stderr


# ----------------------------------------------------------------------------- tracebacks
def test_an_unreachable_scheduler_fails_at_once_with_one_line(first_run, tmp_path):
    warehouse, _ = first_run
    start = time.perf_counter()
    argv = [
        "run",
        "--source",
        f"duckdb:{warehouse}",
        "--spec",
        str(TINY),
        "--out",
        str(tmp_path / "o"),
        "--no-write-back",
    ]
    run = subprocess.run(
        [str(BAYESSEG), *argv, "--scheduler", "tcp://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in run.stderr
    assert "Traceback" not in run.stderr and "check the four MART tables" not in run.stderr  # before the first stage
    assert time.perf_counter() - start < 60 and not (tmp_path / "o").exists()


def _wait_for_a_sigint_handler(pid: int, timeout: float = 60.0) -> None:
    """Return once process `pid` catches SIGINT (Linux's ``/proc/<pid>/status``, ``SigCgt``).

    Until the interpreter has started, SIGINT kills any process (exit -2), whatever the program does;
    on a loaded machine that takes longer than the test's first pause, so each pause starts here.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
        if caught & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} did not install a SIGINT handler within {timeout} s")


def _interrupted_fit(csv_data: Path, out: Path, options: list[str], wait: Callable[[int], None]) -> tuple[int, str]:
    """``bayesseg fit`` of `csv_data`'s counts with `options`, interrupted once ``wait(pid)`` returns: code, stderr."""
    proc = subprocess.Popen(
        [str(BAYESSEG), "fit", "--counts", str(csv_data / "counts.csv"), *options, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a pytest-xdist worker ignores SIGINT, and its children would inherit that: give the child a terminal's default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("after_s", [0.3, 2, 6, 10])  # loading; importing; compiling the sampler; sampling
def test_ctrl_c_during_a_fit_says_interrupted_and_leaves_nothing(csv_data, tmp_path, after_s):
    out = tmp_path / "fit"

    def wait(pid: int) -> None:
        _wait_for_a_sigint_handler(pid)
        time.sleep(after_s)

    returncode, err = _interrupted_fit(csv_data, out, ["--k", "2", "--tune", "2000", "--draws", "2000"], wait)
    assert returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".fit.*"))


def _wait_for_a_thread(pid: int, name: str, timeout: float = 180.0) -> None:
    """Return once process `pid` runs a thread whose name starts with `name` (``/proc/<pid>/task/*/comm``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                if (task / "comm").read_text().startswith(name):
                    return
            except OSError:  # the thread ended while it was read
                continue
        time.sleep(0.05)
    raise AssertionError(f"process {pid} started no thread {name}* within {timeout} s")


def test_ctrl_c_while_the_next_k_compiles_says_interrupted_and_leaves_nothing(csv_data, tmp_path):
    """A K range: once K = 1 samples (nutpie's workers running), K = 2 is compiling on its own thread. The
    interrupt ends the process as during a single fit, without a traceback and without waiting for that thread."""
    out = tmp_path / "fit"

    def wait(pid: int) -> None:
        _wait_for_a_thread(pid, "nutpie-worker")
        time.sleep(0.5)

    returncode, err = _interrupted_fit(csv_data, out, ["--k-range", "1:2", "--tune", "20000", "--draws", "20000"], wait)
    assert returncode == 130 and "interrupted" in err and "Traceback" not in err and "Fatal" not in err
    assert "kept K" not in err  # stopped within the range
    assert not out.exists() and not list(tmp_path.glob(".fit.*"))


def test_ctrl_c_while_k_are_fitted_side_by_side_says_interrupted_and_leaves_nothing(csv_data, tmp_path):
    """``--k-jobs 2``: K = 2 and K = 1 are fitted on their own threads while the main thread waits. Once one
    samples, the interrupt stops both fits (their samplers cancelled at the next check, 20,000 draws
    short) and ends the process as during a single fit, without a traceback."""
    out = tmp_path / "fit"

    def wait(pid: int) -> None:
        _wait_for_a_thread(pid, "nutpie-worker")
        time.sleep(0.5)

    options = ["--k-range", "1:2", "--k-jobs", "2", "--tune", "20000", "--draws", "20000"]
    returncode, err = _interrupted_fit(csv_data, out, options, wait)
    assert returncode == 130 and "interrupted" in err and "Traceback" not in err and "Fatal" not in err
    assert "kept K" not in err
    assert not out.exists() and not list(tmp_path.glob(".fit.*"))


def test_a_swallowed_ctrl_c_is_raised_again_where_results_would_be_used(tmp_path):
    # numba compiles through ctypes callbacks, which print and drop the KeyboardInterrupt a Ctrl-C raises in them
    with catching_interrupts():
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # what the callback does
        with StagedFolder(tmp_path / "out") as folder, pytest.raises(KeyboardInterrupt):
            folder.file("a.txt").write_text("half of a run")
            folder.publish()
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
    with catching_interrupts():
        raise_if_interrupted()  # a new block starts clean


def test_a_ctrl_c_swallowed_while_the_command_line_loads_prints_no_traceback():
    # CI: a Ctrl-C 0.3 s in landed in importlib's weakref callback, which printed "Exception ignored ... Traceback"
    # before "interrupted"; the console script's handler keeps it off the terminal from its first call
    code = """
import signal
from bayesseg import _interrupts
_interrupts.record_interrupts()
class Finalised:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # the Ctrl-C lands in a finaliser: Python drops the exception
Finalised()
try:
    with _interrupts.catching_interrupts():
        print("went on")
except KeyboardInterrupt as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "interrupted while loading\n", "")


class _HalfBuilt:
    """An object whose finaliser fails when a Ctrl-C cut its constructor short, as llvmlite's do."""

    freed: ClassVar[list[bool]] = []

    def __init__(self) -> None:
        signal.raise_signal(signal.SIGINT)  # the Ctrl-C lands before the handle exists
        self.handle = 1

    def __del__(self) -> None:
        _HalfBuilt.freed.append(True)
        del self.handle  # AttributeError: the constructor never set it


def _interrupted_construction(release: bool) -> list:
    seen: list = []
    previous, sys.unraisablehook = sys.unraisablehook, seen.append
    _HalfBuilt.freed.clear()
    try:
        with catching_interrupts():
            try:
                _HalfBuilt()
            except KeyboardInterrupt as exc:
                if release:
                    release_interrupted(exc)
                    assert _HalfBuilt.freed == [True]  # freed there, not later
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert _HalfBuilt.freed == [True]
    return seen


def test_an_object_a_ctrl_c_cut_mid_construction_is_freed_without_a_traceback():
    # CI: a Ctrl-C inside llvmlite's PipelineTuningOptions() printed "Exception ignored in ... AttributeError" after
    # "interrupted"; the command line releases the interrupt's frames with such errors unprinted
    released = _interrupted_construction(release=True)
    assert released == [] and sys.unraisablehook is not None
    kept = _interrupted_construction(release=False)  # the error it keeps off the terminal is there without it
    assert [type(u.exc_value) for u in kept] == [AttributeError]


def test_a_trace_cut_short_is_an_interrupt_not_a_posterior():
    # nutpie answers Ctrl-C by returning the draws it has: those must not pass for a posterior
    config = {"chains": 2, "draws": 100}
    cut = xr.DataTree.from_dict({"posterior": xr.Dataset({"a": (("chain", "draw"), np.zeros((2, 37)))})})
    with pytest.raises(KeyboardInterrupt, match="37 of 100 draws"):
        _check_complete(cut, config)
    whole = xr.DataTree.from_dict({"posterior": xr.Dataset({"a": (("chain", "draw"), np.zeros((2, 100)))})})
    _check_complete(whole, config)


# ----------------------------------------------------------------------------- faults
class _InterruptingConnection:
    """A DuckDB connection that is interrupted (Ctrl-C) on the n-th frame registered: mid-write."""

    def __init__(self, con, at: int) -> None:
        self._con, self._at, self._calls = con, at, 0

    def register(self, *args, **kwargs):
        self._calls += 1
        if self._calls == self._at:
            raise KeyboardInterrupt
        return self._con.register(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_interrupted_write_back_keeps_every_old_table(copies):
    warehouse, out = copies
    before = _tables(warehouse)
    with DuckDBSource(warehouse, read_only=False) as src:
        src.con = _InterruptingConnection(src.con, at=2)  # after the first table of this run is written
        with pytest.raises(KeyboardInterrupt):
            run_job(src, RunSpec.from_toml(TINY), out)
    after = _tables(warehouse)
    assert after.keys() == before.keys()
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name])
    # the output folder holds the new run whole (written before the warehouse), and says the tables were not written
    run = json.loads((out / "run.json").read_text())
    assert run["written"] == {} and run["write_error"].startswith("interrupted")
    assert SegmentModel.load(out).config_hash and not list(out.parent.glob(".out.*"))


def test_interrupted_model_save_keeps_the_old_run_whole(copies, monkeypatch):
    warehouse, out = copies
    before_files, before_tables = _digest(out), _tables(warehouse)

    def half_written(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)  # the start of a netCDF4 file, and no more
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.DataTree, "to_netcdf", half_written)
    with DuckDBSource(warehouse, read_only=False) as src, pytest.raises(KeyboardInterrupt):
        run_job(src, RunSpec.from_toml(TINY), out)
    monkeypatch.undo()
    assert _digest(out) == before_files and SegmentModel.load(out).config_hash
    assert not list(out.parent.glob(".out.*")) and not list(out.parent.rglob("*.partial-*"))
    after = _tables(warehouse)
    for name in before_tables:
        pd.testing.assert_frame_equal(after[name], before_tables[name])


# A child process that runs the job and kills itself (SIGKILL: no handler, no cleanup) at a chosen point.
_KILLED_RUN = """
import os, signal, sys
from pathlib import Path
import xarray as xr
from bayesseg.cli import main
from bayesseg.data.sources import DuckDBSource

where = sys.argv[1]
if where == "write-back":
    opened = DuckDBSource.__enter__
    def enter(self):
        src = opened(self)
        con, calls = src.con, []
        class Killing:
            def register(self, *args, **kwargs):
                calls.append(1)
                if len(calls) == 2:  # the first table of this run is in the open transaction
                    os.kill(os.getpid(), signal.SIGKILL)
                return con.register(*args, **kwargs)
            def __getattr__(self, name):
                return getattr(con, name)
        src.con = Killing()
        return src
    DuckDBSource.__enter__ = enter
else:
    def half_written(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\\x89HDF\\r\\n\\x1a\\n" + b"\\0" * 1000)
        os.kill(os.getpid(), signal.SIGKILL)
    xr.DataTree.to_netcdf = half_written
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["write-back", "model-save"])
def test_a_killed_run_leaves_the_old_tables_and_folder_whole(copies, where):
    warehouse, out = copies
    before_files, before_tables = _digest(out), _tables(warehouse)
    argv = ["run", "--source", f"duckdb:{warehouse}", "--spec", str(TINY), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, where, *argv], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    after = _tables(warehouse)  # DuckDB rolls the open transaction back on the next open
    assert after.keys() == before_tables.keys()
    for name in before_tables:
        pd.testing.assert_frame_equal(after[name], before_tables[name])
    if where == "model-save":
        assert _digest(out) == before_files  # the new folder was never published
    else:
        assert json.loads((out / "run.json").read_text())["written"] == {}  # published, then killed in the write
    assert SegmentModel.load(out).config_hash
    # the next run removes what the killed one left beside the folder, and finishes
    assert main(argv) == 0
    assert not list(out.parent.glob(".out.*")) and set(_tables(warehouse)) >= set(before_tables)


@pytest.mark.parametrize("command", ["score", "run"])
def test_stale_staging_tables_are_removed_and_reported(copies, capsys, command):
    warehouse, out = copies
    con = duckdb.connect(str(warehouse))
    con.execute(
        f"CREATE TABLE BAYESSEG.AUTHOR_SEGMENTS{STAGING_SUFFIX} AS SELECT * FROM BAYESSEG.AUTHOR_SEGMENTS LIMIT 3"
    )
    con.close()
    source = ["--source", f"duckdb:{warehouse}", "--spec", str(TINY)]
    if command == "score":
        argv = ["score", "--model", str(out), *source, "--workers", "1"]
    else:
        argv = ["run", *source, "--out", str(out)]
    assert main(argv) == 0
    assert f"removed BAYESSEG.AUTHOR_SEGMENTS{STAGING_SUFFIX}" in capsys.readouterr().err
    assert not any(name.endswith(STAGING_SUFFIX) for name in _tables(warehouse))


def _sf_tables(src: SnowflakeSource) -> dict[str, pd.DataFrame]:
    return {t: src.query(f"SELECT * FROM TECHTEST.BAYESSEG.{t} ORDER BY 1") for t in ("A", "B")}


def test_snowflake_write_back_is_all_or_nothing(monkeypatch):
    old = {"A": pd.DataFrame({"X": [1, 2]}), "B": pd.DataFrame({"Y": [3.0]})}
    new = {"A": pd.DataFrame({"X": [7, 8, 9]}), "B": pd.DataFrame({"Y": [4.0, 5.0]})}
    with fakesnow.patch():
        src = SnowflakeSource(account="fakesnow", user="test")
        assert src.write_tables(old, "BAYESSEG") == {"A": 2, "B": 1}
        kept = _sf_tables(src)
        # a failure while loading the second table: the first one is not swapped in either
        from snowflake.connector import pandas_tools

        real = pandas_tools.write_pandas

        def fail_on_b(con, frame, table, **kwargs):
            if table.startswith("B"):
                raise RuntimeError("warehouse suspended")
            return real(con, frame, table, **kwargs)

        monkeypatch.setattr(pandas_tools, "write_pandas", fail_on_b)
        with pytest.raises(SourceError, match=r"writing BAYESSEG\.B failed"):
            src.write_tables(new, "BAYESSEG")
        monkeypatch.undo()
        for t in kept:
            pd.testing.assert_frame_equal(_sf_tables(src)[t], kept[t])
        assert not src.drop_stale_staging("BAYESSEG")  # nothing left behind
        # a failure while renaming the second table in: the first one is put back
        real_execute = src._execute

        def fail_second_swap(sql):
            if f"B{STAGING_SUFFIX} RENAME TO" in sql:
                raise RuntimeError("lost the session")
            return real_execute(sql)

        monkeypatch.setattr(src, "_execute", fail_second_swap)
        with pytest.raises(SourceError, match="replacing"):
            src.write_tables(new, "BAYESSEG")
        monkeypatch.undo()
        for t in kept:
            pd.testing.assert_frame_equal(_sf_tables(src)[t], kept[t])
        assert src.write_tables(new, "BAYESSEG") == {"A": 3, "B": 2}
        src.close()


# ----------------------------------------------------------------------------- the CSV readers, fuzzed
_cells = st.one_of(
    st.integers(-5, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.just("")
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.text(min_size=0, max_size=5), min_size=0, max_size=4),
    rows=st.lists(st.lists(_cells, min_size=0, max_size=5), max_size=6),
    raw=st.text(max_size=60),
)
def test_csv_readers_raise_named_errors_never_tracebacks(tmp_path, header, rows, raw):
    structured = tmp_path / "s.csv"  # ragged rows are part of the fuzz: written with the csv module, not pandas
    with structured.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    free = tmp_path / "f.csv"
    free.write_text(raw)
    for path in (structured, free):
        for read in (read_counts_csv, lambda p: read_covariates_csv(p, np.array([1, 2]))):
            try:
                read(path)
            except (InputError, FileNotFoundError):
                pass
