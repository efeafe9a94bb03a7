"""The report of a real run (the runner with a stand-in lab: real traffic generators against a
loopback stub) opened in headless Chromium (Debian's, driven by Playwright): every figure loads."""
import shutil
from pathlib import Path

import pytest

from scenarios.runner import run_scenario

from .test_scenario_runner import DOWN_UP, FAST, StandInLab, http, scenario  # noqa: F401 - fixture

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian's chromium is not installed (tools/setup.sh installs it): no browser to open the report")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


def test_report_opens_offline_with_every_figure(http, tmp_path, browser):  # noqa: F811 - fixture
    result = run_scenario(StandInLab(http), scenario(http.port, DOWN_UP), tmp_path, options=FAST)
    report = Path(result["files"]["report"])
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    images = page.evaluate("Array.from(document.images).map(i => ({alt: i.alt, w: i.naturalWidth,"
                           " h: i.naturalHeight, done: i.complete}))")
    names = {p.stem for p in tmp_path.glob("*.png")}
    assert len(images) == len(names) >= 5
    assert all(i["done"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    assert all(u.startswith(("file:", "data:")) for u in requests), requests     # nothing from the network
    assert page.title().startswith("standin failed")
    assert page.locator("h1").inner_text().startswith("standin")
    assert page.locator("table tr", has_text="route_nexthops").count() == 2
    page.close()
