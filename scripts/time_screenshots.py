"""Screenshots of the time control and a panel timeline of the built default map, for people to look at.

    .venv/bin/python build.py && .venv/bin/python scripts/time_screenshots.py

Writes docs/screenshots/time-slider-2017.png, time-slider-2019.png and time-panel.png from maps/xinjiang/ (served
on 127.0.0.1; every other request, i.e. basemap tiles, is aborted, so the pictures show the context layer only).
"""
from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "maps" / "xinjiang"
OUT = ROOT / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PANEL_SITE = "aspi-3267"  # Tekes Facility #1: the panel timeline with the September 2018 drill


def main() -> int:
    if not (MAP / "index.html").exists():
        print("build the map first: .venv/bin/python build.py", file=sys.stderr)
        return 1

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(MAP))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            for name, fragment, clip in (("time-slider-2017.png", "#t=2017", None),
                                         ("time-slider-2019.png", "#t=2019", None),
                                         ("time-panel.png", f"#site={PANEL_SITE}&t=2018", "#fm-panel figure.fm-tl")):
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                    "http://127.0.0.1") else route.abort())
                page.goto(base + fragment)
                page.locator("html[data-map-ready='true']").wait_for(state="attached", timeout=20000)
                page.wait_for_timeout(300)
                target = page.locator(clip).first if clip else page
                if clip:
                    target.scroll_into_view_if_needed()
                target.screenshot(path=str(OUT / name))
                page.close()
                print(f"wrote {OUT / name}")
        finally:
            browser.close()
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
