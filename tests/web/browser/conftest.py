"""Browser tests: the real app behind a live werkzeug server, driven by Debian's Chromium via Playwright.

Keep these few and robust (Chromium is not pinned). CI installs /usr/bin/chromium and npm; without
Chromium the tests are skipped, without npm they fail (the vendor assets cannot be built).
Never `playwright install`: the Playwright package drives the system browser through executable_path.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session", autouse=True)
def vendor_assets():
    """bpmn-js and friends in webapp/static/vendor/ (npm ci only when node_modules is stale)."""
    from webapp.assets import build_assets

    return build_assets()


@pytest.fixture
def live_server(app):
    """Serves the test `app` on 127.0.0.1 at a free port; yields its base URL (no trailing slash)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} ontbreekt: installeer Debian's chromium voor de browsertests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # A plain launch already uses a fresh temporary profile, removed when the browser closes.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="nl-NL", timezone_id="Europe/Amsterdam",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.route("**/*", _local_only)  # no CDN, no outside world: anything else is aborted
    try:
        yield context.new_page()
    finally:
        context.close()


def _local_only(route):
    if route.request.url.startswith(("http://127.0.0.1:", "data:", "blob:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def js_errors(page) -> list[str]:
    """Uncaught exceptions and console errors of `page`; request it before navigating."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    return errors
