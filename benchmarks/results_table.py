"""A benchmark's rows appended to its CSV under ``benchmarks/results/`` (shared by the benchmark scripts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

RESULTS = Path(__file__).parent / "results"


def append_rows(rows: Sequence[Mapping[str, Any]], name: str) -> Path:
    """Append `rows` to ``results/<name>`` and return its path.

    The rows already there are read as text and written back as they were; a column they lack
    (a later version of the script added it) is left empty in them.
    """
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / name
    frame = pd.DataFrame(list(rows))
    if target.exists():
        frame = pd.concat([pd.read_csv(target, dtype=str, keep_default_na=False), frame], ignore_index=True)
    frame.to_csv(target, index=False, lineterminator="\n")
    return target
