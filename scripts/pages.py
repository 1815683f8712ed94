"""Open the project's HTML pages in a real browser (Chromium through Selenium), check them, keep screenshots.

    .venv/bin/python scripts/pages.py OUT_DIR PAGE.html [PAGE.html ...] [--width 1280 800]

For each page and width: the page must not scroll sideways (``scrollWidth <= innerWidth``), no
table may be cut at its box's right edge from 1280 px on (a table may scroll inside its box on a
narrower screen), every image must decode (``naturalWidth > 0``), the browser console must hold no
error, and every internal link (``href="#id"``) must name an element of the page. A full-page PNG of each goes to
``OUT_DIR/<page>-<width>.png`` for a person to look at; the problems found are printed, and the
command exits 1 when there are any. Needs Debian's ``chromium`` and ``chromium-driver``
(``apt-get install -y chromium chromium-driver``) and Selenium (the ``test`` extra).
The tests use the same functions (``tests/conftest.py``, ``page_check``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DRIVER = "chromedriver"
WIDTHS = (1280, 800)
DESKTOP = 1280
"""From this width on, a table must fit its box: at narrower ones it may scroll sideways inside it."""

_PROBE = """
const ids = new Set([...document.querySelectorAll('[id]')].map(e => e.id));
const links = [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1));
const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .filter(e => !e.parentElement.closest('.table-box, .highlight, pre')).slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
return {
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: innerWidth,
  height: document.documentElement.scrollHeight,
  images: document.images.length,
  brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.alt || i.src.slice(0, 60)),
  deadLinks: links.filter(id => id && !ids.has(decodeURIComponent(id))),
  wide: wide,
  cutTables: [...document.querySelectorAll('.table-box')].filter(b => b.scrollWidth > b.clientWidth + 1).slice(0, 5)
    .map(b => (b.closest('section[id]') ? 'section#' + b.closest('section[id]').id + ': ' : '')
      + b.scrollWidth + ' px in ' + b.clientWidth),
};
"""


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, with its console log kept.

    Yields
    ------
    selenium.webdriver.Chrome

    Raises
    ------
    RuntimeError
        If Chromium's driver is not installed (its apt package names are in the message).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    path = shutil.which(DRIVER)
    if path is None:
        raise RuntimeError("chromedriver not found: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def check_page(driver: Any, page: Path, width: int, screenshot: Path | None = None) -> dict[str, Any]:
    """Open `page` at `width` CSS pixels, measure it, and save a full-page screenshot.

    Parameters
    ----------
    driver : selenium.webdriver.Chrome
        From :func:`browser`.
    page : pathlib.Path
        An HTML file.
    width : int
        Viewport width in CSS pixels.
    screenshot : pathlib.Path, optional
        Where to write the full-page PNG.

    Returns
    -------
    dict
        ``scrollWidth``, ``innerWidth``, ``height``, ``images``, ``brokenImages``, ``deadLinks``,
        ``wide`` (up to five elements past the right edge, outside scrolling boxes), ``cutTables``
        (up to five table boxes whose table is wider than the box), ``consoleErrors``
        and ``problems`` (the failed checks, in words; empty when the page passes).

    Raises
    ------
    FileNotFoundError
        If `page` is not a file.
    """
    if not Path(page).is_file():
        raise FileNotFoundError(f"no page at {page}")
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.get(Path(page).resolve().as_uri())
    driver.get_log("browser")  # only this page's messages count
    driver.refresh()
    found = driver.execute_script(_PROBE)
    found["consoleErrors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if screenshot is not None:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": int(found["height"])})
        driver.save_screenshot(str(screenshot))
    problems = []
    if not driver.current_url.startswith("file:"):  # the browser's own error page
        problems.append(f"did not load: {driver.current_url}")
    if found["scrollWidth"] > found["innerWidth"]:
        wide = ", ".join(found["wide"])
        problems.append(f"scrolls sideways at {width} px: {found['scrollWidth']} > {found['innerWidth']} ({wide})")
    if width >= DESKTOP and found["cutTables"]:
        problems.append(f"table(s) cut at the right edge at {width} px, scrolling in their box: {found['cutTables']}")
    if found["brokenImages"]:
        problems.append(f"{len(found['brokenImages'])} image(s) do not decode: {found['brokenImages'][:3]}")
    if found["consoleErrors"]:
        problems.append(f"console errors: {found['consoleErrors'][:3]}")
    if found["deadLinks"]:
        problems.append(f"links to missing anchors: {found['deadLinks'][:5]}")
    found["problems"] = problems
    return found


def main(argv: list[str] | None = None) -> int:
    """Check pages and write their screenshots; 1 when any page has a problem."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder for the screenshots")
    ap.add_argument("pages", type=Path, nargs="+", help="HTML files")
    ap.add_argument("--width", type=int, nargs="+", default=list(WIDTHS))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with browser() as driver:
        for page in args.pages:
            for width in args.width:
                shot = args.out / f"{page.stem}-{width}.png"
                found = check_page(driver, page, width, shot)
                status = "ok" if not found["problems"] else "; ".join(found["problems"])
                print(f"{page} at {width} px: {status} -> {shot}")
                failed += bool(found["problems"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
