"""A small Playwright helper for browser tests: serve a folder on 127.0.0.1 and drive Debian's Chromium.

Every request the page makes is recorded. Requests to the tile hosts are answered with a 1x1 PNG (the test
machine has no internet, and tiles are allowed); every other off-site request is aborted and stays recorded,
so a test can fail on it.
"""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TILE_HOSTS = ("https://tile.openstreetmap.org/", "https://server.arcgisonline.com/")
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@contextmanager
def serve(folder: Path):
    """Serve folder on 127.0.0.1 at a free port; yields the base URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium():
    """A headless Chromium (Debian's binary, flags from COMMON.md)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Recorder:
    """A page with every request, console error, page error and dialog recorded."""

    def __init__(self, browser, base_url: str, width: int = 1200, height: int = 800, **context_args):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base_url) or url.startswith("data:"):
            route.continue_()
        elif url.startswith(TILE_HOSTS):
            route.fulfill(status=200, content_type="image/png", body=PNG_1X1)
        else:
            route.abort()

    def open(self, path: str = "index.html", wait_ready: bool = True):
        self.page.goto(self.base_url + path)
        if wait_ready:
            self.page.locator("html[data-map-ready='true']").wait_for(state="attached", timeout=15000)
        return self.page

    def non_tile_requests(self) -> list[str]:
        """Requests that went anywhere but our own server or a tile host."""
        return [u for u in self.requests if not u.startswith(self.base_url) and not u.startswith(TILE_HOSTS)
                and not u.startswith("data:")]

    def off_site_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base_url) and not u.startswith("data:")]

    def close(self):
        self.context.close()


def wait_map_ready(page, timeout: float = 15000) -> None:
    """Wait for `data-map-ready` with a selector: a string predicate (wait_for_function) may be evaluated with
    eval() in the page while it polls, which the page's policy refuses (a deep link is ready only after the
    document is parsed, so such a wait does poll)."""
    page.locator("html[data-map-ready=true]").wait_for(state="attached", timeout=timeout)
