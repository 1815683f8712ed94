"""Every public object is documented and reaches the API reference."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bayesseg

DOCS = Path(__file__).parent.parent / "docs"
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(bayesseg.__path__, "bayesseg.")
    if not any(part.startswith("_") for part in m.name.split(".")[1:])
)


def test_every_module_is_in_the_api_reference() -> None:
    listed = set(re.findall(r"^\s+(bayesseg[.\w]+)\s*$", (DOCS / "api.md").read_text(), flags=re.M))
    assert set(MODULES) - listed == set(), "modules missing from docs/api.md"


@pytest.mark.parametrize("name", MODULES)
def test_public_objects_have_docstrings(name: str) -> None:
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no module docstring"
    public = getattr(module, "__all__", None)
    assert public is not None, f"{name} has no __all__ (the API reference lists __all__)"
    missing = []
    for attr in public:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not (obj.__doc__ or "").strip():
                missing.append(attr)
            if inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if meth_name.startswith("_") or not (inspect.isfunction(meth) or isinstance(meth, property)):
                        continue
                    # inspect.getdoc inherits the docstring of the method an override implements
                    if not (inspect.getdoc(getattr(obj, meth_name)) or "").strip():
                        missing.append(f"{attr}.{meth_name}")
    assert not missing, f"{name}: public objects without a docstring: {missing}"


def test_built_docs_pass_the_browser_checks(page_check, tmp_path_factory) -> None:
    # scripts/check.sh builds the docs before the tests; alone, pytest builds them here (notebooks not run)
    html = DOCS / "_build" / "html"
    if not (html / "index.html").exists():
        html = tmp_path_factory.mktemp("docs")
        sphinx = [
            sys.executable,
            "-m",
            "sphinx",
            "-q",
            "-b",
            "html",
            "-D",
            "nb_execution_mode=off",
            str(DOCS),
            str(html),
        ]
        subprocess.run(sphinx, check=True, capture_output=True, timeout=900)
    assert page_check(html / "index.html") + page_check(html / "tutorials" / "segmentation.html") == []


def test_the_page_check_refuses_a_missing_page_and_flags_a_page_that_scrolls(browser, tmp_path) -> None:
    from tests.conftest import pages

    with pytest.raises(FileNotFoundError, match="no page"):
        pages.check_page(browser, tmp_path / "none.html", 800)
    wide = tmp_path / "wide.html"
    wide.write_text('<html><body><div style="width:2000px">x</div><a href="#gone">a</a></body></html>')
    problems = pages.check_page(browser, wide, 800, tmp_path / "wide.png")["problems"]
    assert any("scrolls sideways at 800 px" in p for p in problems)
    assert any("missing anchors: ['gone']" in p for p in problems)
    assert (tmp_path / "wide.png").stat().st_size > 0


def test_the_page_check_flags_a_table_cut_at_its_box_s_edge_on_a_desktop_screen(browser, tmp_path) -> None:
    # a table may scroll inside its box on a narrow screen, not at 1280 px, where a reader does not look for a scrollbar
    from tests.conftest import pages

    page = tmp_path / "cut.html"
    page.write_text(
        '<html><body style="max-width:1100px"><section id="s"><div class="table-box" style="overflow-x:auto">'
        '<table style="width:2000px"><tr><td>x</td></tr></table></div></section></body></html>'
    )
    desktop = pages.check_page(browser, page, 1280)["problems"]
    assert [p for p in desktop if "cut at the right edge at 1280 px" in p and "section#s: 2000 px in 1100" in p]
    assert pages.check_page(browser, page, 800)["problems"] == []


def test_a_table_of_numbers_under_long_names_fits_a_desktop_page(browser, tmp_path) -> None:
    # the report's lead table: seven trends as columns, "+0 [-1, +1]" in each cell; the names may break after ':' or '_'
    import numpy as np
    import pandas as pd

    from bayesseg.workflow.html import HtmlDocument, table
    from tests.conftest import pages

    names = [f"object_detection:{n}_with_a_long_name" for n in ("top", "shoe", "bag", "coat", "dress", "skirt", "belt")]
    frame = pd.DataFrame(np.full((3, 7), "+0\u00a0[-1,\u00a0+1]"), columns=names, index=["segment:casual_denim"] * 3)
    html = table(frame)
    assert "object_<wbr>detection:<wbr>top_<wbr>with_<wbr>a_<wbr>long_<wbr>name" in html
    doc = HtmlDocument("t")
    doc.add("lead", "Lead", html)
    assert pages.check_page(browser, doc.write(tmp_path / "t.html"), 1280)["problems"] == []
