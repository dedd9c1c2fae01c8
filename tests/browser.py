"""A report opened in a real headless browser (Debian's Chromium, driven by Playwright): no console
errors, every image and link resolving, the summary present, the pivot, sorting and filtering
working; screenshots saved. Used by tests/test_report_browser.py and the end-to-end report test."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

INSTALL = "apt-get install -y chromium (make test installs it) and pip install playwright (in .[test])"
SHOTS = Path(__file__).resolve().parents[1] / "test-results"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no Chromium for the browser test: {INSTALL}")


def check_report(folder: Path, screenshot_name: str) -> dict:
    """Open ``folder/index.html`` and check it (module docstring); returns what it saw."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"no Playwright for the browser test: {INSTALL}")
    exe = chromium()
    index = (folder / "index.html").resolve()
    seen: dict = {"console": [], "requests_failed": [], "external": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: m.type in ("error", "warning") and seen["console"].append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: seen["console"].append(f"page error: {e}"))
        page.on("requestfailed", lambda r: seen["requests_failed"].append(r.url))
        page.on("request", lambda r: not r.url.startswith(("file:", "data:", "about:")) and seen["external"].append(r.url))
        page.goto(index.as_uri(), wait_until="load")
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{screenshot_name}-first-screen.png"))
        seen["images"] = page.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        seen["links"] = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
        seen["ids"] = set(page.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)"))
        seen["summary_rows"] = page.locator("#summary table tbody tr").count()
        # the pivot: another metric redraws it, the best cell of a workload is marked
        pivot = page.locator("#pivot-table tbody tr")
        seen["pivot_rows"] = pivot.count()
        before = page.locator("#pivot-unit").inner_text()
        page.select_option("#pivot-metric", "latency_us")
        seen["pivot_unit_changed"] = page.locator("#pivot-unit").inner_text() != before
        seen["pivot_best"] = page.locator("#pivot-table td.best").count()
        page.locator("#cost-pivot-engines-x-workloads").screenshot(path=str(SHOTS / f"{screenshot_name}-pivot.png"))
        # sorting: a click on the pivot's first workload column sorts it ascending
        page.locator("#pivot-table th").nth(1).click()
        vals = page.evaluate("Array.from(document.querySelectorAll('#pivot-table tbody tr'))"
                             ".map(r => parseFloat(r.cells[1].getAttribute('data-v')))")
        finite = [v for v in vals if v == v]
        seen["sorted"] = finite == sorted(finite)
        # filtering: the first data table's filter box hides the rows that do not match (folded tables opened)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        box = page.locator("input.filter").first
        table_id = box.get_attribute("data-table")
        rows = page.locator(f"#{table_id} tbody tr")
        total = rows.count()
        box.fill("zzz-no-such-row")
        seen["filter_hides"] = total > 0 and page.locator(f"#{table_id} tbody tr:visible").count() == 0
        box.fill("")
        browser.close()
    problems = list(seen["console"])
    problems += [f"image {src} did not load" for src, ok in seen["images"] if not ok]
    for href in seen["links"]:
        if href.startswith("#"):
            if href[1:] not in seen["ids"]:
                problems.append(f"link {href} has no target")
        elif urlparse(href).scheme in ("", "file"):
            if not (folder / unquote(urlparse(href).path)).exists():
                problems.append(f"link {href} points at a missing file")
        else:
            problems.append(f"link {href} leaves the report folder (it must work offline)")
    problems += [f"request failed: {u}" for u in seen["requests_failed"]]
    problems += [f"network request: {u}" for u in seen["external"]]
    if seen["summary_rows"] < 1:
        problems.append("the summary table is empty or missing")
    if not (seen["pivot_rows"] and seen["pivot_unit_changed"] and seen["pivot_best"]):
        problems.append(f"the pivot did not redraw: {seen['pivot_rows']} rows, best cells {seen['pivot_best']}")
    if not seen["sorted"]:
        problems.append("a header click did not sort the column")
    if not seen["filter_hides"]:
        problems.append("the filter box did not hide non-matching rows")
    assert not problems, "\n".join(problems)
    return seen
