"""The pages of the shipped run at the sizes a person meets: the README's demo and a techtest-size warehouse.

The shipped specification (K = 6, its anchors, its trends and propensity weighting) with short chains
and a fit sample of 800 authors: the layout of the pages depends on the warehouse's size (tables of
data defects, the fashion-forward panel's size, every segment), not on the length of the chains.
Every page must pass the browser checks (``scripts/pages.py``) at 1280 and 800 px.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bayesseg.config import RunSpec
from bayesseg.data.sources import DuckDBSource
from bayesseg.simulate import simulate_warehouse
from bayesseg.workflow.pipeline import run_job


@pytest.fixture(scope="module")
def techtest_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("techtest") / "techtest.duckdb"
    simulate_warehouse(path, "techtest", seed=2)
    return path


def light_shipped_spec() -> RunSpec:
    spec = RunSpec.from_toml()
    return spec.replace(
        fit_authors=800,
        sampler={**spec.sampler, "sampler": "pymc", "tune": 100, "draws": 100, "membership_draws": 50},
        output=dataclasses.replace(spec.output, ppc_authors=300, ppc_draws=30, write_back=False),
        trends=dataclasses.replace(spec.trends, replicates=20),
    )


@pytest.mark.parametrize("warehouse", ["demo_warehouse", "techtest_warehouse"])
def test_pages_of_the_shipped_run_pass_the_browser_checks(warehouse, request, tmp_path, page_check):
    with DuckDBSource(request.getfixturevalue(warehouse), read_only=True) as source:
        result = run_job(source, light_shipped_spec(), tmp_path / "out", write_back=False)
    out = tmp_path / "out"
    assert page_check(out / "report.html") + page_check(out / "data_quality.html") == []
    # the trend charts are read at the panel's size: by month when most weeks are below the ESS floor
    trends = json.loads((out / "run.json").read_text())["trends"]
    assert result.trends is not None and trends["weekly_readable"] == result.trends.weekly_readable
    section = (out / "report.html").read_text().split('<section id="trends">')[1].split("</section>")[0]
    assert ("Shown by month" in section) == (not trends["weekly_readable"])
    assert section.count("<details>") == (0 if trends["weekly_readable"] else 1)
