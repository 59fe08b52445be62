"""The browsable API docs: the page, its offline assets and the spec it shows.

The browser test drives the system Chromium through chromedriver (Debian packages
chromium and chromium-driver) and keeps a screenshot in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from impl.spec import served_spec
from tools.live import LiveServer

pytestmark = pytest.mark.slow  # a headless browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WAIT_SECONDS = 30
OPERATIONS = {
    (method, path)
    for path in ("/health", "/metrics", "/ping", "/ready")
    for method in ("GET", "HEAD")
}


def test_docs_path_redirects_to_the_page(server: LiveServer) -> None:
    response = requests.get(server.url + "/ui", allow_redirects=False, timeout=10)
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["Location"].endswith("/ui/")


def test_page_assets_are_served_by_the_service(server: LiveServer) -> None:
    page = requests.get(server.url + "/ui/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f'"./{asset}"' in page.text  # relative: from this service, not a CDN
        response = requests.get(f"{server.url}/ui/{asset}", timeout=10)
        assert response.status_code == 200 and len(response.content) > 10_000


def test_docs_page_tells_browsers_what_it_may_do(server: LiveServer) -> None:
    page = requests.get(server.url + "/ui/", timeout=10)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"
    # The page's one inline script runs by its hash, never by 'unsafe-inline'.
    assert policy["script-src"].startswith("'self' 'sha256-")
    assert "unsafe" not in page.headers["Content-Security-Policy"]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-config.json"):
        response = requests.get(f"{server.url}/ui/{asset}", timeout=10)
        assert response.headers["X-Content-Type-Options"] == "nosniff", asset
        assert response.headers["X-Frame-Options"] == "DENY", asset


def test_docs_show_the_served_spec_with_its_refs(server: LiveServer) -> None:
    config = requests.get(server.url + "/ui/swagger-ui-config.json", timeout=10).json()
    assert config["spec"] == served_spec()
    # The recursive schema stays a reference, which is what lets it be written at all.
    checks = config["spec"]["components"]["schemas"]["HealthCheck"]["properties"]["checks"]
    assert checks["items"] == {"$ref": "#/components/schemas/HealthCheck"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs the Debian packages chromium and chromium-driver (see .ci/run)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    # The console, to see whether the page's security policy blocked anything.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1800",
    ):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager, which would download one, never runs.
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def shown_operations(driver: WebDriver) -> set[tuple[str, str]]:
    found = set()
    for summary in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary"):
        method = summary.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text
        path = summary.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text
        found.add((method.strip(), path.strip()))
    return found


def test_browser_shows_all_eight_operations_offline(server: LiveServer, browser: WebDriver) -> None:
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(server.url + "/ui/")
    wait.until(lambda driver: OPERATIONS <= shown_operations(driver))
    assert shown_operations(browser) == OPERATIONS
    assert "Failed to load API definition" not in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper")

    # The recursive HealthCheck schema renders in the /health operation.
    health = browser.find_element(By.ID, "operations-Health-GetHealth")
    health.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: '"checks"' in health.text)
    assert '"status"' in health.text and "503" in health.text

    # The page talks to the live service: try GET /ping from it.
    ping = browser.find_element(By.ID, "operations-Ping-GetPing")
    ping.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: ping.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    ping.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    wait.until(lambda _: ping.find_elements(By.CSS_SELECTOR, ".execute"))
    ping.find_element(By.CSS_SELECTOR, ".execute").click()
    wait.until(lambda _: ping.find_elements(By.CSS_SELECTOR, ".live-responses-table"))
    live_status = ping.find_element(
        By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"
    )
    assert live_status.text.strip() == "204"

    # Nothing the page does was blocked by its Content-Security-Policy.
    assert isinstance(browser, ChromiumDriver)
    logged = browser.get_log("browser")  # type: ignore[no-untyped-call]
    console = [entry["message"] for entry in logged]
    assert not [m for m in console if "Content Security Policy" in m], console

    # Offline: every resource the page loaded came from the service itself.
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)"
    )
    assert loaded and all(url.startswith(server.url + "/") for url in loaded), loaded

    ARTIFACTS.mkdir(exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 8000))
    screenshot = ARTIFACTS / "api-docs.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


def test_spec_documents_refuse_other_methods_as_influx_errors(server: LiveServer) -> None:
    response = requests.post(server.url + "/openapi.json", timeout=10)
    assert response.status_code == 405
    assert response.headers["X-Platform-Error-Code"] == "method not allowed"
    assert "GET" in response.headers["Allow"]
    assert response.json()["message"].startswith("allow: ")
