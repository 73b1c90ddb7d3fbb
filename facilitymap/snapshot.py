"""Static PNG of a built map (or of one site) through headless Chromium, for print and social cards."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TILE_HOSTS = ("https://tile.openstreetmap.org/", "https://server.arcgisonline.com/")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def snapshot(map_dir: Path, out: Path, site_id: str | None = None, width: int = 1200, height: int = 800,
             basemap_allowed: bool = False, timeout_ms: int = 30000, hide: tuple[str, ...] = ()) -> Path:
    """Write a PNG of map_dir/index.html (opened at site_id when given) to out and return out.

    The folder is served on 127.0.0.1; with basemap_allowed=False every off-site request (tiles too) is
    blocked, so the picture shows the sites and outlines without a background and makes no request.
    hide: CSS selectors of page parts left out of the picture (e.g. buttons on a social card)."""
    from playwright.sync_api import sync_playwright

    map_dir, out = Path(map_dir), Path(out)
    if not (map_dir / "index.html").is_file():
        raise FileNotFoundError(f"{map_dir / 'index.html'}: no map page here (build the map first)")
    handler = functools.partial(_Quiet, directory=str(map_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": width, "height": height})

                def route(r):
                    url = r.request.url
                    if url.startswith(base) or (basemap_allowed and url.startswith(TILE_HOSTS)):
                        r.continue_()
                    else:
                        r.abort()

                context.route("**/*", route)
                page = context.new_page()
                page.goto(base + "index.html" + (f"#site={site_id}" if site_id else ""))
                page.wait_for_function("document.documentElement.dataset.mapReady === 'true'", timeout=timeout_ms)
                if site_id and page.get_attribute("#fm-panel", "data-site") != site_id:
                    raise ValueError(f"no site {site_id!r} on this map")
                if hide:
                    # Through the CSSOM: the page's Content-Security-Policy refuses an added <style>.
                    page.evaluate("""sel => document.querySelectorAll(sel).forEach(
                        el => el.style.setProperty("visibility", "hidden", "important"))""", ", ".join(hide))
                if basemap_allowed:
                    page.wait_for_load_state("networkidle", timeout=timeout_ms)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return out
