"""static/context.js in real headless Chromium: land, borders and labels drawn from the payload, no request."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facilitymap import context, vendored
from facilitymap.render import STATIC, json_for_script

from browser import Recorder, chromium, serve

pytestmark = pytest.mark.browser

CHANNEL = [(1.85, 50.95), (2.35, 51.03), (-0.12, 51.5), (1.1, 51.28)]
HOSTILE = "<img src=https://evil.example/x.png onerror=alert(1)>"


def _page(tmp_path, ctx):
    leaflet_css = vendored.read_bytes("leaflet", "leaflet.css").decode()
    leaflet_js = vendored.read_bytes("leaflet", "leaflet.js").decode()
    html = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>context test</title><style>{leaflet_css}</style><style>#m {{ width: 800px; height: 600px; background: #dfe6ee; }}</style>
<script>{leaflet_js}</script><script>{(STATIC / "context.js").read_text()}</script></head>
<body><div id="m"></div>
<script type="application/json" id="ctx">{json_for_script(ctx)}</script>
<script>
var map = L.map("m", {{preferCanvas: true}}).setView([51.2, 1.2], 7);
var ctx = FacilityContext.draw(map, JSON.parse(document.getElementById("ctx").textContent));
L.circleMarker([51.03, 2.35], {{radius: 6, color: "#c00"}}).addTo(map);
document.documentElement.dataset.mapReady = "true";
</script></body></html>"""
    (tmp_path / "index.html").write_text(html, encoding="utf-8")


LABELS = "Array.from(document.querySelectorAll('.fm-ctx-label'))"


def test_context_layer_draws_land_borders_and_labels_without_a_request(tmp_path):
    sites = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": list(p)}} for p in CHANNEL]}
    ctx = context.context(sites)
    ctx["places"].append([HOSTILE, 1.6, 50.6, 10_000_000])  # biggest of all: always labelled
    ctx["places"].sort(key=lambda p: -p[3])
    _page(tmp_path, ctx)
    with serve(tmp_path) as base, chromium() as browser:
        rec = Recorder(browser, base, width=900, height=700)
        page = rec.open()
        page.wait_for_timeout(200)
        assert rec.requests == [base + "index.html"]
        assert not rec.page_errors and not rec.console_errors and not rec.dialogs

        z = page.evaluate("""['fmContextLand', 'tilePane', 'fmContextLines', 'fmContextLabels', 'overlayPane']
            .map(n => +getComputedStyle(map.getPane(n)).zIndex)""")
        assert z == sorted(z) and z[0] < 200 < z[2] < 400  # land under tiles; borders and labels under the sites

        # land, sea and the grey beyond the extent, counted in a picture of the map with its overlays hidden
        page.evaluate("ctx.setOverlay(false)")
        shot = np.asarray(Image.open(io.BytesIO(page.locator("#m").screenshot())).convert("RGB")).astype(int)
        colour = lambda rgb: int((np.abs(shot - rgb).max(axis=2) <= 2).sum())  # noqa: E731
        land, sea, beyond = colour([244, 241, 234]), colour([223, 230, 238]), colour([230, 230, 227])
        assert land > 10_000 and sea > 10_000 and beyond > 10_000  # the view at zoom 7 is wider than the extent
        page.evaluate("ctx.setOverlay(true)")
        page.wait_for_timeout(100)
        with_overlay = np.asarray(Image.open(io.BytesIO(page.locator("#m").screenshot())).convert("RGB")).astype(int)
        page.evaluate("map.removeLayer(ctx.labels)")
        borders = np.asarray(Image.open(io.BytesIO(page.locator("#m").screenshot())).convert("RGB")).astype(int)
        border_px = int((np.abs(borders - shot).max(axis=2) > 40).sum())
        assert border_px > 50  # the France–Belgium border
        assert int((np.abs(with_overlay - borders).max(axis=2) > 40).sum()) > 200  # the labels
        page.evaluate("ctx.labels.addTo(map)")
        assert page.locator(".fm-ctx-labels").count() == 1
        assert page.locator("[class*=fmContext] canvas, .leaflet-fmContextLand-pane canvas").count() == 0  # SVG

        names = page.evaluate(f"{LABELS}.map(e => e.textContent)")
        assert "London" in names and HOSTILE in names  # source text stays text
        assert page.evaluate("document.querySelectorAll('.fm-ctx-label img').length") == 0
        boxes = page.evaluate(f"{LABELS}.map(e => {{ const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }})")
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not (a[0] < b[2] - 1 and a[2] > b[0] + 1 and a[1] < b[3] - 1 and a[3] > b[1] + 1), (a, b)

        # density follows the zoom: only big places far out, small towns close in
        pop = {name: p for name, _, _, p in ctx["places"]}
        shown = {}
        for zoom in (5, 7, 9):
            page.evaluate(f"map.setZoom({zoom}, {{animate: false}})")
            page.wait_for_timeout(100)
            shown[zoom] = page.evaluate(f"{LABELS}.map(e => e.textContent)")
            assert int(page.evaluate("document.querySelector('.fm-ctx-labels').dataset.count")) == len(shown[zoom])
            assert min(pop[n] for n in shown[zoom]) >= page.evaluate(f"FacilityContext.minPopulation({zoom})")
        assert shown[5] and min(pop[n] for n in shown[9]) < 100_000 <= min(pop[n] for n in shown[7])

        page.evaluate("ctx.setOverlay(false)")
        assert page.evaluate(f"{LABELS}.length") == 0
        page.screenshot(path=str(tmp_path / "context.png"))
        assert rec.requests == [base + "index.html"]
        rec.close()
