"""The report in a real browser: headless Chromium opens it offline, every plot renders, no
JavaScript error, and the front plot shows as many points as the front table has rows."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import pytest

from t2tsearch.report import FRONT_TRACE, build_report, plot_front
from tests.report_data import synthetic_table

CHROMIUM = next((found for name in ("chromium", "chromium-browser")
                 if (found := shutil.which(name))), None)
# Skipped only on a developer's machine without Chromium: CI installs it, so there it must run.
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="no Chromium (apt-get install chromium)")

# Flags for a sandbox-less CI container, without anything that reaches the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def report_page(tiny_run, tmp_path_factory):
    """The page of the session's shared tiny run, written beside it rather than into it."""
    return build_report(tiny_run, tmp_path_factory.mktemp("browser") / "report.html",
                        images=False)


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    # Playwright drives the system Chromium; `playwright install` never runs here.
    profile = tempfile.mkdtemp(prefix="t2ts-chromium-", dir="/tmp")
    with sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, offline=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)


def test_the_report_renders_in_chromium(report_page, page, tmp_path):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.goto(report_page.as_uri())
    page.wait_for_function("window.Plotly !== undefined && "
                           "document.querySelectorAll('.plotly-graph-div .main-svg').length > 0")
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    assert errors == []
    plots = page.evaluate("""() => Array.from(document.querySelectorAll('.plotly-graph-div'))
        .map(div => ({id: div.id, rendered: !!div._fullLayout && !!div.querySelector('.main-svg'),
                      traces: (div.data || []).length}))""")
    assert len(plots) >= 6
    assert all(p["rendered"] and p["traces"] > 0 for p in plots), plots

    # The markers drawn for the front trace: what a reader of the page sees.
    front_points = page.evaluate(f"""() => {{
        const div = document.getElementById('fig-front_macs');
        const index = div.data.findIndex(trace => trace.name === {FRONT_TRACE!r});
        const drawn = div.querySelectorAll('.scatterlayer .trace')[index];
        return drawn.querySelectorAll('.points path.point').length;
    }}""")
    table_rows = page.locator("#front-table tbody tr").count()
    assert front_points == table_rows > 0
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_log_axis_ticks_read_as_values_with_units(page, tmp_path):
    # What plotly.js draws, read back from the page: every tick of the MACs axis a value with
    # its SI suffix (plotly alone labels the ticks between decades with a bare "2" and "5").
    table = synthetic_table([1.5e6, 3e6, 8e6, 2e7, 4e7], [50, 60, 70, 80, 90])
    path = tmp_path / "front.html"
    plot_front(table, "macs").write_html(path, include_plotlyjs=True)
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.xtick text').length > 0")
    labels = page.evaluate("() => Array.from(document.querySelectorAll('.xtick text'))"
                           ".map(t => t.textContent)")
    assert len(labels) >= 4, labels
    assert all(re.fullmatch(r"\d+(\.\d+)?M", label) for label in labels), labels
    assert {"2M", "5M", "10M", "20M"} <= set(labels), labels


def test_the_front_table_sorts_on_click(report_page, page):
    page.goto(report_page.as_uri())
    header = page.locator("#front-table th", has_text="MACs")

    def macs() -> list[float]:
        cells = page.locator("#front-table tbody tr td:nth-child(5)")
        return [float(v) for v in cells.evaluate_all("cells => cells.map(c => c.dataset.sort)")]

    header.click()
    assert macs() == sorted(macs())
    header.click()
    assert macs() == sorted(macs(), reverse=True)
