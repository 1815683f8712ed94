"""Progress as lines for logs, and the report's HTML kit: flagged rows."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest

from bayesseg._progress import ProgressLines, format_elapsed
from bayesseg.exceptions import InputError
from bayesseg.workflow.html import table


def test_a_line_at_every_tenth_and_one_at_the_end():
    out = io.StringIO()
    clock = iter(np.arange(0.0, 1000.0, 1.0))
    with ProgressLines("scoring", out, every=1e9, clock=lambda: float(next(clock))) as progress:
        for b in range(1, 201):
            progress(f"batch {b}", b / 200)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[1].split("(")[0].strip() for line in lines] == [f"{p} %" for p in range(10, 101, 10)]
    assert lines[-1].endswith("batch 200") and lines[0].startswith("  scoring: 10 %")


def test_a_jump_past_several_tenths_prints_one_line_and_nan_prints_none():
    out = io.StringIO()
    with ProgressLines("fit", out, every=1e9, clock=lambda: 0.0) as progress:
        progress("half", 0.55)
        progress("streamed batch", float("nan"))  # total unknown: kept for the heartbeat, no line
        progress("still half", 0.58)
        progress("done", 1.0)
    assert out.getvalue().splitlines() == ["  fit: 55 % (0 s) half", "  fit: 100 % (0 s) done"]


def test_the_heartbeat_prints_when_nothing_else_did():
    out = io.StringIO()
    with ProgressLines("", out, every=0.05) as progress:
        progress("batch 3", float("nan"))
        time.sleep(0.4)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("  ... running (") and line.endswith("batch 3") for line in lines)


def test_elapsed_time_reads_in_the_largest_units():
    assert [format_elapsed(s) for s in (0.4, 42, 185, 3725)] == ["0 s", "42 s", "3 min 05 s", "1 h 02 min"]


def test_flagged_rows_are_highlighted_in_order():
    frame = pd.DataFrame({"r_hat": [1.03, 1.0, 1.02]}, index=pd.Index(["a", "b", "c"], name="variable"))
    html = table(frame, flagged=[True, False, True])
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert [r.startswith(' class="flag"') for r in rows] == [True, False, True]
    assert [r.split("<th>")[1].split("</th>")[0] for r in rows] == ["a", "b", "c"]  # rows keep their order
    with pytest.raises(InputError, match="2 values for a table of 3 rows"):
        table(frame, flagged=[True, False])
    assert 'class="flag"' not in table(frame)


def test_a_table_of_sentences_is_left_aligned_and_a_table_of_numbers_is_not():
    numbers = pd.DataFrame({"r_hat": [1.03, 1.0], "name": ["a", "b"]})
    prose = numbers.assign(why=["a reason longer than a label", "another reason, as long as that"])
    assert 'class="dataframe prose"' in table(prose)
    assert "prose" not in table(numbers)
