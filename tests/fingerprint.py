"""Fingerprint of a short run of the main job, to check that the package's reorganisation changes no result.

``python tests/fingerprint.py tests/data/fingerprint.json`` writes the fingerprint of the code as it is;
``tests/test_fingerprint.py`` runs the same job and compares. Temporary: kept only while the move serves.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIZE, SEED = 400, 5
SAMPLER = {"tune": 100, "draws": 100, "em_restarts": 2, "membership_draws": 100, "progressbar": False}
TRENDS = {"replicates": 20}


def _frame(frame: pd.DataFrame) -> dict[str, Any]:
    frame = frame.drop(columns=[c for c in ("MODEL_ID", "FITTED_AT") if c in frame.columns])
    out: dict[str, Any] = {}
    for c in frame.columns:
        v = frame[c]
        if pd.api.types.is_float_dtype(v):
            out[c] = [None if not np.isfinite(x) else float(x) for x in v.to_numpy(dtype=float)]
        else:
            out[c] = [str(x) for x in v.to_numpy()]
    return out


_MASKED = re.compile(
    r"(model id|fitted at \(UTC\)|stage times|specification)</th>\s*<td>.*?</td>|<img [^>]*>|\d{8}T\d{6}Z|"
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^<\s]*|/tmp/[^<\s\"]*",
    re.S,
)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")


def report_numbers(html: str) -> list[str]:
    """Every number printed in the report, timings, paths and time stamps left out."""
    return _NUMBER.findall(_MASKED.sub("", html))


def run(out: Path) -> dict[str, Any]:
    """Run the main job on a small simulated warehouse and return its fingerprint."""
    from bayesseg.config import RunSpec
    from bayesseg.data.sources import DuckDBSource
    from bayesseg.simulate import simulate_warehouse
    from bayesseg.workflow.pipeline import run_job

    warehouse = out / "w.duckdb"
    simulate_warehouse(warehouse, SIZE, seed=SEED)
    s = RunSpec.from_toml()
    s = s.replace(
        fit_authors=0,
        sampler={**s.sampler, **SAMPLER},
        output=__import__("dataclasses").replace(s.output, ppc_authors=200, ppc_draws=20),
        trends=__import__("dataclasses").replace(s.trends, **TRENDS),
    )
    with DuckDBSource(warehouse, read_only=False) as src:
        result = run_job(src, s, out / "run")
        written = {t: src.query(f"SELECT * FROM BAYESSEG.{t}") for t in result.written}
    mem = result.memberships
    fp: dict[str, Any] = {
        "memberships": {v: np.asarray(mem[v].values, dtype=float).ravel().tolist() for v in mem.data_vars},
        "authors": [str(a) for a in mem["author"].values],
        "written": {
            t: _frame(f.sort_values(list(f.columns[:3])).reset_index(drop=True)) for t, f in sorted(written.items())
        },
        "report": report_numbers((out / "run" / "report.html").read_text(encoding="utf-8")),
    }
    summary = json.loads((out / "run" / "run.json").read_text(encoding="utf-8"))
    for key in ("timings_s", "files", "model_id", "fitted_at", "source", "spec"):
        summary.pop(key, None)
    fp["run_json"] = summary
    return fp


def compare(a: Any, b: Any, path: str = "", tol: float = 1e-9) -> list[str]:
    """Differences between two fingerprints (numbers to `tol`, relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for k in sorted(set(a) & set(b)):
            out += compare(a[k], b[k], f"{path}.{k}", tol)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += compare(x, y, f"{path}[{i}]", tol)
            if len(out) > 20:
                break
        return out
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= tol * max(1.0, abs(a), abs(b)) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp))
    Path(sys.argv[1]).write_text(json.dumps(result), encoding="utf-8")
    print(sys.argv[1])
