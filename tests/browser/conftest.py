"""A live Intake server in a thread, and Debian's chromium driven by Playwright.

Chromium is launched so that it can reach no host but this machine. Without
/usr/bin/chromium these tests skip, unless INTAKE_REQUIRE_BROWSER=1 (CI),
where a missing browser fails the run.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.*",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"  # git-ignored

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright_browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("INTAKE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing; run tests/ensure_chromium.sh")
        pytest.skip(f"{CHROMIUM} not installed (tests/ensure_chromium.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app):
    """The test's app served over HTTP on a free loopback port."""
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def browser_context(playwright_browser):
    """A fresh browser profile (cookies and all) per test."""
    context = playwright_browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def screenshot():
    """Save a full-page screenshot under tests/screenshots/ (not in git)."""

    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
