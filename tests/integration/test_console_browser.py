"""The console's web UI in headless Chromium (Debian's, driven by Playwright), against real etcd,
Redis, backends and two LB servers on 127.0.0.1."""
from __future__ import annotations

import os
import threading

import pytest

from tests.integration.harness import Lab, base_config, http_get, missing_daemons, wait_until
from tests.integration.test_console_api import revision

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(bool(missing_daemons()),
                       reason=f"browser tests need {' and '.join(missing_daemons())} on PATH"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is missing: apt-get install chromium chromium-driver "
                              "(tools/setup.sh installs them)"),
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (Playwright cannot download its own browser here). Started and stopped
    per module: Playwright's sync API runs an event loop while it is started, which later tests
    that call asyncio.run() must not find."""
    from playwright.sync_api import sync_playwright
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--disable-background-networking", "--disable-extensions"])
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("console-ui"))
    try:
        etcd, redis = lab.etcd(), lab.redis()
        backends = [lab.backend("be1"), lab.backend("be2")]
        etcd.put_config(base_config(backends))
        lbs = [lab.lb(etcd, redis, name=f"lb{i}") for i in (1, 2)]
        console = lab.console([etcd.endpoint], redis, {"payment": {
            lb.name: f"http://127.0.0.1:{lb.admin_port}" for lb in lbs}})
        yield etcd, lbs, console
    finally:
        lab.close()


def log_in(page, console) -> None:
    page.goto(f"{console.url}/login")
    page.fill("input[name=user]", "alice")
    page.fill("input[name=token]", console.token)
    page.click("#login-form button")
    page.wait_for_url(f"{console.url}/")


def test_overview_shows_every_lb_and_backend(stack, page):
    _, lbs, console = stack
    page.goto(f"{console.url}/")
    row = page.locator("tr[data-lb=payment]")
    assert row.locator(".algorithm").inner_text() == "round_robin"
    assert row.locator(".backend").all_inner_texts() == ["be1", "be2"]
    for lb in lbs:
        assert row.locator(f".server[data-node={lb.name}]").is_visible()


def test_changing_the_algorithm_in_the_form_changes_it_on_every_lb_server(stack, page):
    _, lbs, console = stack
    log_in(page, console)
    page.goto(f"{console.url}/lb/payment")
    page.select_option("#algorithm-form select[name=algorithm]", "power_of_two_choices")
    page.click("#algorithm-form button")
    assert "set algorithm: now version" in page.locator(".notice").inner_text()
    version = int(page.locator("#version").inner_text())
    for lb in lbs:
        wait_until(lambda: lb.status()["config"]["version"] == version, 5,
                   f"{lb.name} serving version {version}")
        assert lb.status()["config"]["algorithm"] == "power_of_two_choices"
    page.reload()
    assert page.locator("#algorithm").inner_text() == "power_of_two_choices"
    assert page.locator("#servers td.ok").count() == len(lbs)


@pytest.mark.parametrize("weight", ["-3", "2.5", "lots"])
def test_a_bad_weight_shows_the_error_and_writes_nothing(stack, page, weight):
    etcd, _, console = stack
    log_in(page, console)
    page.goto(f"{console.url}/lb/payment")
    before = revision(etcd)
    page.fill("input[name='weight.be1']", weight)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#save-weights")
    assert answer.value.status == 422
    alert = page.locator(".error[role=alert]")
    assert alert.get_attribute("data-field") == "weights.be1"
    assert "weights.be1" in alert.inner_text()
    assert revision(etcd) == before


def test_a_form_without_the_csrf_token_is_refused(stack, page):
    etcd, _, console = stack
    log_in(page, console)
    before = revision(etcd)
    version = http_get(console.port, "/api/lbs/payment")[1]["etag"].strip('"')
    answer = page.request.post(f"{console.url}/lb/payment/algorithm",
                               form={"algorithm": "random", "version": version})
    assert answer.status == 403 and "csrf" in answer.text()
    assert revision(etcd) == before


def test_the_live_chart_gets_points(stack, page):
    _, lbs, console = stack
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            for lb in lbs:
                lb.get("/")
    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        page.goto(f"{console.url}/live")
        page.wait_for_function("Number(document.getElementById('points').dataset.count) >= 4",
                               timeout=15_000)
        assert page.locator("#chart-lbs canvas").count() == 1
        legend = page.locator("#chart-lbs .u-legend .u-series").all_inner_texts()
        assert any("payment/lb1 req/s" in text for text in legend)
        assert any("payment/be1 req/s" in t
                   for t in page.locator("#chart-backends .u-legend .u-series").all_inner_texts())
        # traffic is flowing: the rate cell of lb1 shows a positive number
        page.wait_for_function(
            "parseFloat(document.querySelector('#lab-status tr[data-node=lb1] .rps')"
            ".textContent) > 0", timeout=10_000)
    finally:
        stop.set()
        sender.join(10)
