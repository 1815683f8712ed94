"""The four analyses of analyses/ run on a demo warehouse (fast mode, a saved model) and write every section."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bayesseg.config import RunSpec
from bayesseg.data.inputs import load_inputs
from bayesseg.data.sources import DuckDBSource
from bayesseg.workflow.pipeline import fit_segmentation

ANALYSES = Path(__file__).parents[1] / "analyses"
SECTIONS = {
    "q1_segmentation_quality": [
        "simulated",
        "answer",
        "data",
        "checks",
        "stability",
        "alike",
        "separation",
        "validity",
        "panel_bias",
        "biases",
        "lead",
        "conclusion",
    ],
    "q2_current_segmentation": [
        "simulated",
        "answer",
        "data",
        "tiers",
        "thresholds",
        "followers",
        "validity",
        "storage",
        "conclusion",
    ],
    "q3_subsegments": [
        "simulated",
        "answer",
        "data",
        "segments",
        "methods",
        "families",
        "over_time",
        "content",
        "longer_term",
        "conclusion",
    ],
    "trend_bias": ["simulated", "answer", "data", "series", "weightings", "trimming", "weights", "conclusion"],
}


@pytest.fixture(scope="module")
def fast_model(demo_warehouse, taxonomy, tmp_path_factory):
    """The shipped specification fitted as the analyses' --fast mode fits it, saved like a run's model."""
    spec = RunSpec.from_toml()
    spec = spec.replace(fit_authors=1_000, sampler={**spec.sampler, "tune": 150, "draws": 150})
    with DuckDBSource(demo_warehouse) as src:
        inputs = load_inputs(src, spec, taxonomy)
    folder = tmp_path_factory.mktemp("fast-model")
    fit_segmentation(inputs, spec, taxonomy).model.save(folder / "model.nc")
    return folder


@pytest.mark.parametrize("name", list(SECTIONS))
def test_analysis_writes_every_section(name, fast_model, demo_warehouse, tmp_path, page_check):
    out = tmp_path / f"{name}.html"
    target = []
    if name == "trend_bias":  # the platform behind the warehouse, known by its follower margins
        margins = tmp_path / "platform.csv"
        margins.write_text(
            "variable,level,share\nfollowers,0-1000,0.55\nfollowers,1000-10000,0.35\nfollowers,10000-,0.10\n"
        )
        target = ["--target", f"margins:{margins}"]
    proc = subprocess.run(
        [
            sys.executable,
            str(ANALYSES / f"{name}.py"),
            "--source",
            f"duckdb:{demo_warehouse}",
            "--model",
            str(fast_model),
            "--fast",
            "--out",
            str(out),
            *target,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = out.read_text()
    assert re.findall(r'<section id="(\w+)"', html) == SECTIONS[name]
    images = re.findall(r'<img alt="figure" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert images and all(len(i) > 2_000 for i in images)
    conclusion = html.split('<section id="conclusion">')[1]
    assert len(re.sub(r"<[^>]+>", "", conclusion)) > 400  # a written conclusion, not a heading
    assert "nan" not in re.sub(r"<[^>]+>", " ", conclusion).split()  # its numbers are computed
    assert page_check(out) == []  # as a browser shows it, at 1280 and 800 px
    banner = re.sub(r"<[^>]+>", " ", html.split('<section id="simulated">')[1].split("</section>")[0])
    assert "These data are simulated" in banner  # the demo warehouse has a TRUTH schema
    data = html.split('<section id="data">')[1].split("</section>")[0]
    assert all(k in data for k in ("commit", "hash", "SIMULATED", "command"))  # provenance
    answer = ""
    if "answer" in SECTIONS[name]:
        answer = re.sub(r"<[^>]+>", " ", html.split('<section id="answer">')[1].split("</section>")[0])
    if name in ("q1_segmentation_quality", "trend_bias"):  # up front, in plain lines, on the trend estimands
        assert "These data are simulated" in answer and "Why the panel differs" in answer and "Lead:" in answer
        assert ("Platform: calibrated to platform.csv" if target else "Platform: no margins given") in answer
    if name == "q1_segmentation_quality":  # tiers and segments judged alike; the biases named, measured or not
        assert "Judged alike on held-out labels" in answer and "named biases are measured" in answer
        biases = html.split('<section id="biases">')[1].split("</section>")[0]
        assert biases.count("not measurable here") >= 2 and "prolific" in biases
    if name == "q3_subsegments":  # every family on equal information, a recommendation, every segment named
        assert "Recommendation: the hybrid" in answer and "without rules" in answer
        methods = html.split('<section id="methods">')[1].split("</section>")[0]
        for row in ("rules only", "supervised", "without rules", "k-means", "hybrid"):
            assert row in methods, row
        segments = html.split('<section id="segments">')[1].split("</section>")[0].replace("<wbr>", "")
        assert "free: " in segments and "segment_" not in re.sub(r"<th>segment_\d+</th>", "", segments)
    if name == "q2_current_segmentation":  # the rule, its power, what tiers add, the storage, a recommendation
        for part in ("not segments", "would detect a doubling", "follower count", "Storage:", "Recommendation:"):
            assert part in answer, part
        storage = html.split('<section id="storage">')[1].split("</section>")[0]
        assert "AUTHOR_FOLLOWERS" in storage and "PANEL_MEMBERSHIP" in storage and "disagree" in storage


# a result typed into a script: a number with three decimals or more, or a percentage that is not a level
_TYPED = re.compile(r"(?<![\w.{:])(\d+\.\d{3,}|\d+(?:\.\d+)? ?%)")
_LEVELS = {"1 %", "5 %", "10 %", "90 %", "95 %", "99 %"}


@pytest.mark.parametrize("script", sorted(p.name for p in ANALYSES.glob("*.py")))
def test_no_result_is_typed_into_an_analysis(script):
    tree = ast.parse((ANALYSES / script).read_text(encoding="utf-8"))
    typed = [
        (node.lineno, m.group(0))
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        for m in _TYPED.finditer(node.value)
        if m.group(0) not in _LEVELS
    ]
    assert typed == [], f"figures typed into {script} (compute them): {typed}"
