"""A small HTML kit: self-contained documents of sections, figures embedded as PNG, tables.

The run report, the data-quality page and the analyses use it.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bayesseg.data.quality import DataQualityReport
from bayesseg.exceptions import InputError

__all__ = [
    "HtmlDocument",
    "paragraph",
    "plot_collection_png",
    "png",
    "quality_html",
    "quality_table",
    "table",
    "verdict_line",
    "write_quality_html",
]

_HEADING = re.compile(r"(<th[^>]*>)([^<]*)(</th>)")


def _breakable(escaped: str) -> str:
    """HTML text (already escaped) that may break after ``:`` and ``_``: MART_AUTHORS_<wbr>SEGMENTATIONS."""
    return re.sub(r"([:_])", r"\1<wbr>", escaped)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
body { line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
.table-box { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
table.prose td, table.prose th { text-align: left; vertical-align: top; }
img { max-width: 100%; box-sizing: border-box; border: 1px solid #eee; margin: 0.5em 0; }
section { margin-bottom: 2.5em; } .note { color: #555; font-size: 0.92em; }
.warn { color: #a40; font-weight: bold; }
.verdict { padding: 4px 8px; border-left: 5px solid; }
.verdict strong { text-transform: uppercase; margin-right: 0.5em; }
.verdict-pass { border-color: #2a7; } .verdict-look { border-color: #d90; }
.verdict-fail { border-color: #c22; background: #fdf1f1; }
tr.flag td, tr.flag th { background: #fbe3e3; }
table.fitted { width: 100%; }
table.fitted td, table.fitted th { text-align: left; vertical-align: top; overflow-wrap: break-word; }
table.fitted td.number, table.fitted th.number { text-align: right; white-space: nowrap; }
"""


def png(fig: Any) -> str:
    """Embed a matplotlib figure as a PNG ``<img>`` and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (closed here).

    Returns
    -------
    str
        An ``<img>`` element with the PNG inline (base64).
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def plot_collection_png(pc: Any) -> str:
    """Embed an arviz-plots PlotCollection (matplotlib backend) as a PNG ``<img>``.

    Parameters
    ----------
    pc : arviz_plots.PlotCollection
        The plot.

    Returns
    -------
    str
        An ``<img>`` element.
    """
    import matplotlib.pyplot as plt

    fig = pc.viz["chart"].item() if "chart" in pc.viz else plt.gcf()
    return png(fig)


def table(
    frame: pd.DataFrame, floatfmt: str = "{:.3g}", index: bool = True, flagged: Sequence[bool] | None = None
) -> str:
    """HTML of a DataFrame; floats formatted with `floatfmt`, text escaped; flagged rows highlighted.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    floatfmt : str, default "{:.3g}"
        Format of floats.
    index : bool, default True
        Show the index.
    flagged : sequence of bool, optional
        One per row: rows that fail a check get the ``flag`` class (a red background). Sort them
        first before calling: a reader looks at the top of a long table.

    Returns
    -------
    str
        The table in a box that scrolls sideways when the table is wider than the page; a table
        with a column of text (more than 20 characters on average) is left-aligned throughout. Its
        headings (column names and the index) may break after ``:`` and ``_``, so that a table of
        numbers under long names fits the page.

    Raises
    ------
    bayesseg.exceptions.InputError
        If `flagged` does not have one value per row.
    """
    # a table of sentences (a column of text longer than a label) reads left-aligned, numbers right
    prose = any(
        (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]))
        and frame[c].astype(str).str.len().mean() > 20
        for c in frame.columns
    )
    inner = frame.to_html(
        index=index,
        border=0,
        float_format=lambda v: floatfmt.format(v),
        na_rep="",
        escape=True,
        classes="prose" if prose else None,
    )
    if flagged is not None:
        flags = list(flagged)
        if len(flags) != len(frame):
            raise InputError(f"flagged has {len(flags)} values for a table of {len(frame)} rows")
        head, sep, body = inner.partition("<tbody>")
        rows = body.split("<tr>")  # pandas writes every body row as a bare "<tr>"
        if len(rows) != len(flags) + 1:
            raise InputError(f"cannot flag the rows of a table with {len(rows) - 1} body rows")
        body = rows[0] + "".join(
            ('<tr class="flag">' if flag else "<tr>") + row for flag, row in zip(flags, rows[1:], strict=True)
        )
        inner = head + sep + body
    # a heading may break after ':' or '_' (pattern:<wbr>stripes): then the numbers, not the names, set the width
    inner = _HEADING.sub(lambda m: m.group(1) + _breakable(m.group(2)) + m.group(3), inner)
    return f'<div class="table-box">{inner}</div>'


def paragraph(text: str, cls: str = "") -> str:
    """An escaped paragraph; ``cls="note"`` or ``"warn"`` styles it.

    Parameters
    ----------
    text : str
        Plain text.
    cls : str, optional
        CSS class.

    Returns
    -------
    str
    """
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def verdict_line(status: str, text: str) -> str:
    """A check's one-line verdict, marked by its status.

    Parameters
    ----------
    status : {"pass", "look", "fail"}
        The verdict.
    text : str
        What was found and what to do, plain text.

    Returns
    -------
    str

    Raises
    ------
    bayesseg.exceptions.InputError
        If `status` is not one of the three.
    """
    if status not in ("pass", "look", "fail"):
        raise InputError(f"a verdict is 'pass', 'look' or 'fail', got {status!r}")
    return f'<p class="verdict verdict-{status}"><strong>{status}</strong>{html.escape(text)}</p>'


class HtmlDocument:
    """A self-contained HTML document of sections (the run report's layout), for analyses.

    Figures are embedded as base64 PNG and the style is inline, so the file opens in a browser
    without a server. Each section is a ``<section id=KEY>`` with a ``<h2>`` title, listed in a
    table of contents.

    Parameters
    ----------
    title : str
        The document's title (``<title>`` and ``<h1>``).

    Examples
    --------
    >>> doc = HtmlDocument("Q2: the current rule")
    >>> doc.add("tiers", "Tiers", doc.paragraph("Authors per tier."), doc.table(frame))  # doctest: +SKIP
    >>> doc.write("q2.html")  # doctest: +SKIP
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.sections: list[tuple[str, str, str]] = []

    @staticmethod
    def figure(fig: Any) -> str:
        """HTML of a matplotlib figure (closed) or an arviz-plots PlotCollection, embedded as PNG."""
        return plot_collection_png(fig) if hasattr(fig, "viz") else png(fig)

    @staticmethod
    def table(
        frame: pd.DataFrame, floatfmt: str = "{:.3g}", index: bool = True, flagged: Sequence[bool] | None = None
    ) -> str:
        """HTML of a DataFrame; floats formatted with `floatfmt`; `flagged` rows highlighted (:func:`table`)."""
        return table(frame, floatfmt=floatfmt, index=index, flagged=flagged)

    @staticmethod
    def paragraph(text: str, cls: str = "") -> str:
        """An escaped paragraph; ``cls="note"`` or ``"warn"`` styles it."""
        return paragraph(text, cls)

    def add(self, key: str, title: str, *parts: str, position: int | None = None) -> None:
        """Append a section (or insert it at `position`).

        Parameters
        ----------
        key : str
            The section's ``id`` (letters, digits, ``_``); must be new.
        title : str
            Its heading.
        *parts : str
            HTML fragments (from :meth:`figure`, :meth:`table`, :meth:`paragraph`...).
        position : int, optional
            Index among the sections (0: first, e.g. an answer written last and read first).

        Raises
        ------
        bayesseg.exceptions.InputError
            If `key` is not a plain identifier or repeats.
        """
        if not key.isidentifier():
            raise InputError(f"section key {key!r} must be a plain identifier")
        if key in self.keys:
            raise InputError(f"section {key!r} already exists")
        section = (key, title, "\n".join(parts))
        if position is None:
            self.sections.append(section)
        else:
            self.sections.insert(position, section)

    @property
    def keys(self) -> list[str]:
        """Section ids, in order."""
        return [k for k, _, _ in self.sections]

    def render(self) -> str:
        """The whole document as a string."""
        toc = "".join(f'<li><a href="#{k}">{html.escape(t)}</a></li>' for k, t, _ in self.sections)
        body = "".join(f'<section id="{k}"><h2>{html.escape(t)}</h2>\n{b}\n</section>' for k, t, b in self.sections)
        title = html.escape(self.title)
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body><h1>{title}</h1><ul>{toc}</ul>{body}</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        """Write the document (parent folders created) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path


def quality_html(report: DataQualityReport) -> str:
    """An HTML section (a heading and a table) of a data-quality report; only non-zero findings are listed.

    Parameters
    ----------
    report : bayesseg.data.quality.DataQualityReport
        The findings.

    Returns
    -------
    str
    """
    unknown = ""
    if len(report.unknown_labels):
        items = ", ".join(
            html.escape(f"{r.type}:{r.label_name} ({r.n_rows:,} rows)") for r in report.unknown_labels.itertuples()
        )
        unknown = f"<p>Unknown labels: {items}</p>"
    boxes = f"<p>Detection boxes: {html.escape(report.box_format.describe())}.</p>" if report.box_format else ""
    return (
        f"<section><h2>Data quality</h2><p>Source: {html.escape(report.source)}</p>{boxes}"
        f"{quality_table(report)}{unknown}</section>"
    )


# the findings' columns: heading, numeric (right-aligned, never broken)
_QUALITY_COLUMNS = (
    ("table", False),
    ("column", False),
    ("what", False),
    ("n", True),
    ("of", True),
    ("share", True),
    ("kind", False),
    ("action", False),
)
_NUMBER = ' class="number"'


def quality_table(report: DataQualityReport) -> str:
    """The non-zero findings of a data-quality report as one HTML table that fits the page's width.

    Parameters
    ----------
    report : bayesseg.data.quality.DataQualityReport
        The findings.

    Returns
    -------
    str
        A ``<table class="fitted">`` in a ``table-box``: table, column, what, n, of, share, kind,
        action, one row per finding with ``n > 0``, as wide as the page; names may break after ``:``
        and ``_`` and numbers do not break, so that no column is cut at the page's edge.
    """
    frame = report.to_frame()
    frame = frame[frame["n"] > 0]
    rows = "".join(
        "<tr>"
        + "".join(
            (f"<td{_NUMBER}>{html.escape(str(v))}</td>" if numeric else f"<td>{_breakable(html.escape(str(v)))}</td>")
            for v, (_, numeric) in zip(
                (r.table, r.column, r.what, f"{r.n:,}", f"{r.total:,}", f"{r.share:.2%}", r.kind, r.action),
                _QUALITY_COLUMNS,
                strict=True,
            )
        )
        + "</tr>"
        for r in frame.itertuples()
    )
    head = "".join(f"<th{_NUMBER if numeric else ''}>{h}</th>" for h, numeric in _QUALITY_COLUMNS)
    return (
        f'<div class="table-box"><table class="fitted"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def write_quality_html(report: DataQualityReport, path: str | os.PathLike[str]) -> Path:
    """Write a data-quality report as a standalone HTML page (UTF-8).

    Parameters
    ----------
    report : bayesseg.data.quality.DataQualityReport
        The findings.
    path : str or os.PathLike
        Target file.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    target = Path(path)
    target.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>bayesseg data quality</title><style>{_CSS}</style></head>"
        f"<body>{quality_html(report)}</body></html>",
        encoding="utf-8",
    )
    return target
