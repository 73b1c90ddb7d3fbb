"""Basemap modes in real headless Chromium: the context layer without tiles (against a stored screenshot), the
consent gate (no third-party request before the click) and a self-hosted PMTiles basemap (same origin only)."""
from __future__ import annotations

import functools
import html as html_lib
import http.server
import io
import json
import math
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import Recorder, chromium, serve, wait_map_ready
from facilitymap import render
from payload_factory import make_payload

pytestmark = pytest.mark.browser
BASELINE = Path(__file__).parent / "baselines" / "basemap-none.png"
VIEW = {"width": 1000, "height": 700}
CHANNEL_TOLERANCE = 8  # a pixel differs when one channel differs by more (anti-aliasing, font hinting)
MAX_DIFF_RATIO = 0.01  # of all pixels
LABELS = "document.querySelectorAll('.fm-ctx-label').length"


@pytest.fixture(scope="module")
def payload():
    return make_payload()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _write(folder: Path, payload: dict, basemap: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(render.render_map(payload, basemap=basemap), encoding="utf-8")
    return folder


def _diff_ratio(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a.convert("RGB"), dtype=np.int16), np.asarray(b.convert("RGB"), dtype=np.int16)
    assert x.shape == y.shape, (x.shape, y.shape)
    return float((np.abs(x - y).max(axis=2) > CHANNEL_TOLERANCE).mean())


def test_none_shows_borders_and_towns_like_the_baseline_and_makes_no_request(tmp_path, payload, browser):
    """--basemap none: land, borders and town labels drawn from the page itself, matching the stored picture."""
    folder = _write(tmp_path / "none", payload, "none")
    with serve(folder) as base:
        rec = Recorder(browser, base, **VIEW)
        page = rec.open()
        page.wait_for_load_state("networkidle")
        assert rec.requests == [base + "index.html"]
        assert not rec.page_errors and not rec.console_errors
        assert page.evaluate(LABELS) >= 5
        names = page.evaluate("Array.from(document.querySelectorAll('.fm-ctx-label')).map(e => e.textContent)")
        assert "Kashgar" in names or "Urumqi" in names, names
        # the sources panel lists the context layer's two sources with their licences
        page.click("#fm-btn-sources")
        panel = page.text_content("#fm-panel-body")
        assert "Natural Earth" in panel and "GeoNames" in panel and "CC BY 4.0" in panel.replace("Attribution 4.0", "CC BY 4.0")
        page.click("#fm-close")
        page.mouse.move(0, 0)
        shot = Image.open(io.BytesIO(page.screenshot()))
        page.evaluate("FacilityMap.context.remove()")  # the same page without the context layer, for contrast
        bare = Image.open(io.BytesIO(page.screenshot()))
        assert rec.requests == [base + "index.html"]
        rec.close()
    if os.environ.get("FM_UPDATE_BASELINE") == "1":  # after a deliberate change of the picture: review it, commit it
        BASELINE.parent.mkdir(exist_ok=True)
        shot.save(BASELINE)
    ratio = _diff_ratio(shot, Image.open(BASELINE))
    if ratio > MAX_DIFF_RATIO:
        shot.save(tmp_path / "basemap-none-actual.png")
    assert ratio <= MAX_DIFF_RATIO, f"{ratio:.2%} of pixels differ from {BASELINE} (see {tmp_path})"
    assert _diff_ratio(bare, Image.open(BASELINE)) > 20 * MAX_DIFF_RATIO  # the comparison can fail


def test_consent_no_tile_request_before_the_click_then_tiles(tmp_path, payload, browser):
    """consent: the page starts on the context layer; tiles only after the click; remembered only when asked."""
    folder = _write(tmp_path / "consent", payload, "consent:osm")
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert "img-src data: https://tile.openstreetmap.org;" in html  # allowed, but not asked for before the click
    with serve(folder) as base:
        rec = Recorder(browser, base, **VIEW)
        page = rec.open()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert rec.requests == [base + "index.html"]
        assert page.evaluate(LABELS) >= 5  # the context layer meanwhile
        button = page.locator("#fm-consent-btn")
        assert button.text_content() == ("Show map tiles from OpenStreetMap \u2014 this sends your IP address to "
                                         "OpenStreetMap")
        assert "OpenStreetMap" not in page.inner_text(".leaflet-control-attribution")
        button.click()  # "remember" not ticked
        page.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 0")
        page.wait_for_load_state("networkidle")
        tiles = [u for u in rec.requests if u.startswith("https://tile.openstreetmap.org/")]
        assert len(tiles) >= 4
        assert rec.off_site_requests() == tiles  # nothing but the tiles the reader asked for
        assert page.locator("#fm-consent-btn").count() == 0
        assert "OSM tile usage policy" in page.inner_text(".leaflet-control-attribution")
        assert not rec.page_errors and not rec.console_errors

        # not remembered: a second visit asks again and sends nothing
        n = len(rec.requests)
        page.reload()
        wait_map_ready(page)
        page.wait_for_load_state("networkidle")
        assert rec.requests[n:] == [base + "index.html"]
        assert page.locator("#fm-consent-btn").count() == 1

        # remembered when ticked: the next visit shows tiles at once; About > Privacy can forget it
        page.check("#fm-consent-remember")
        page.click("#fm-consent-btn")
        page.reload()
        page.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 0")
        assert page.locator("#fm-consent-btn").count() == 0
        page.click("#fm-btn-about")
        page.click("#fm-consent-forget")
        n = len(rec.requests)
        page.reload()
        wait_map_ready(page)
        page.wait_for_load_state("networkidle")
        assert rec.requests[n:] == [base + "index.html"]
        rec.close()


# --- a self-hosted PMTiles basemap -------------------------------------------------------------------------------

class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single HTTP byte ranges (206), as the web servers a newsroom uses answer them."""

    def log_message(self, *args):
        pass

    def send_head(self):
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not rng or not path.is_file():
            return super().send_head()
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
        size = path.stat().st_size
        start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
        fh = path.open("rb")
        fh.seek(start)
        data = fh.read(end - start + 1)
        fh.close()
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data)


def _tile_range(z: int, bbox) -> tuple[range, range]:
    def xy(lon, lat):
        n = 2 ** z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)
    x0, y0 = xy(bbox[0], bbox[3])
    x1, y1 = xy(bbox[2], bbox[1])
    return range(x0, x1 + 1), range(y0, y1 + 1)


def make_archive(path: Path, bbox, max_zoom: int = 6) -> Path:
    """A small PMTiles v3 archive of vector tiles over bbox: in every tile, land ("earth") with a lake ("water")
    in its left half, in the layer names of the Protomaps basemap the page's style reads."""
    import mapbox_vector_tile
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    tile = mapbox_vector_tile.encode([
        {"name": "earth", "features": [{"geometry": "POLYGON ((0 0, 4096 0, 4096 4096, 0 4096, 0 0))",
                                        "properties": {"kind": "earth"}}]},
        {"name": "water", "features": [{"geometry": "POLYGON ((200 200, 2000 200, 2000 3900, 200 3900, 200 200))",
                                        "properties": {"kind": "lake"}}]},
    ])
    ids = sorted(zxy_to_tileid(z, x, y) for z in range(max_zoom + 1) for xs, ys in [_tile_range(z, bbox)]
                 for x in xs for y in ys)
    with write(str(path)) as w:
        for i in ids:
            w.write_tile(i, tile)
        w.finalize({"tile_type": TileType.MVT, "tile_compression": Compression.NONE,
                    "min_lon_e7": int(bbox[0] * 1e7), "min_lat_e7": int(bbox[1] * 1e7),
                    "max_lon_e7": int(bbox[2] * 1e7), "max_lat_e7": int(bbox[3] * 1e7),
                    "center_zoom": 4, "center_lon_e7": int((bbox[0] + bbox[2]) / 2 * 1e7),
                    "center_lat_e7": int((bbox[1] + bbox[3]) / 2 * 1e7)},
                   {"attribution": "<b>Test</b> tiles <img src=x onerror=alert(1)>",
                    "vector_layers": [{"id": "earth", "fields": {}}, {"id": "water", "fields": {}}]})
    return path


TILE_CANVAS_COLOURS = """(() => {
    const out = {opaque: 0, colours: new Set()};
    document.querySelectorAll('.leaflet-tile-pane canvas').forEach((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4 * 97) if (d[i + 3] === 255) { out.opaque++; out.colours.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); }
    });
    return [out.opaque, out.colours.size, document.querySelectorAll('.leaflet-tile-pane canvas').length]; })()"""


def test_pmtiles_basemap_draws_from_the_same_origin_only(tmp_path, payload, browser):
    from facilitymap.basemap import BasemapError, basemap_mode

    archive = make_archive(tmp_path / "region.pmtiles", payload["context"]["extent"])
    folder = tmp_path / "site"
    _write(folder, payload, f"pmtiles:{archive}")
    basemap_mode(f"pmtiles:{archive}").copy_archive(folder)
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert "connect-src 'self';" in html_lib.unescape(html) and "tile.openstreetmap.org" not in html
    assert str(tmp_path) not in html  # the archive's local path does not leak into the page
    (tmp_path / "fake.pmtiles").write_bytes(b"<html>not an archive</html>")
    with pytest.raises(BasemapError, match="not a PMTiles archive"):
        render.render_map(payload, basemap=f"pmtiles:{tmp_path / 'fake.pmtiles'}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        rec = Recorder(browser, base, **VIEW)
        page = rec.open()
        page.wait_for_function("document.querySelectorAll('.leaflet-tile-pane canvas').length >= 4")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)
        opaque, colours, canvases = page.evaluate(TILE_CANVAS_COLOURS)
        assert canvases >= 4 and opaque > 1000 and colours >= 2  # land and water painted
        assert rec.off_site_requests() == [], rec.off_site_requests()
        archive_requests = [u for u in rec.requests if u.endswith("/basemap.pmtiles")]
        assert len(archive_requests) >= 2  # the header, then tiles: range requests to the page's own server
        assert set(rec.requests) == {base + "index.html", base + "basemap.pmtiles"}
        attribution = page.inner_text(".leaflet-control-attribution")
        assert "Test tiles" in attribution  # the archive's credit, as text without its markup
        assert page.locator(".leaflet-control-attribution img, .leaflet-control-attribution b").count() == 0
        assert not rec.page_errors and not rec.console_errors and not rec.dialogs
        rec.close()
    finally:
        server.shutdown()
        server.server_close()


def test_build_and_publish_carry_the_pmtiles_archive(tmp_path):
    """A spec's `basemap: pmtiles:PATH` (relative to the spec's folder) is checked, copied beside the page and
    published with it; a bad archive or value stops the build with the path, before anything is written."""
    import shutil

    from facilitymap.builder import BuildError, build
    from facilitymap.cli import main
    from facilitymap.publish import publish
    from click.testing import CliRunner

    root = Path(__file__).resolve().parent.parent
    sources = tmp_path / "sources"
    shutil.copytree(root / "sources" / "buzzfeed-2020", sources / "buzzfeed-2020")
    maps = tmp_path / "maps"
    (maps / "tiles").mkdir(parents=True)
    make_archive(maps / "tiles" / "region.pmtiles", [73, 34, 96, 49], max_zoom=3)
    (maps / "small.yaml").write_text("name: small\ntitle: Small\nsources: [buzzfeed-2020]\nfields: {status: {label: Status, type: string}}\n"
                                     "basemap: pmtiles:tiles/region.pmtiles\n")
    build("small", sources_dir=sources, maps_dir=maps)
    out = maps / "small"
    assert (out / "basemap.pmtiles").read_bytes() == (maps / "tiles" / "region.pmtiles").read_bytes()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '"url": "basemap.pmtiles"' in page and '"max_data_zoom": 3' in page and "protomapsL" in page
    sources_json = json.loads((out / "sources.json").read_text(encoding="utf-8"))
    assert [s["slug"] for s in sources_json[-2:]] == ["natural-earth", "geonames-cities"]
    published = publish(out, "https://news.example.org/maps/small/", tmp_path / "pub", card=False)
    assert "basemap.pmtiles" in published.files

    (maps / "tiles" / "broken.pmtiles").write_bytes(b"PMTiles\x03" + b"\0" * 20)
    for value in ("pmtiles:tiles/broken.pmtiles", "pmtiles:tiles/missing.pmtiles", "consent:none", "google"):
        (maps / "small.yaml").write_text(f"name: small\ntitle: Small\nsources: [buzzfeed-2020]\nfields: {{status: {{label: Status, type: string}}}}\nbasemap: '{value}'\n")
        with pytest.raises(BuildError) as err:
            build("small", sources_dir=sources, maps_dir=maps)
        assert value.split("/")[-1].split(":")[-1] in str(err.value) or "basemap" in str(err.value), str(err.value)
    assert (out / "basemap.pmtiles").is_file()  # the previous outputs stay
    (maps / "small.yaml").write_text("name: small\ntitle: Small\nsources: [buzzfeed-2020]\n"
                                     "fields: {status: {label: Status, type: string}}\n")
    res = CliRunner().invoke(main, ["build", "small", "--sources", str(sources), "--maps", str(maps),
                                    "--basemap", "pmtiles:nowhere.pmtiles"])
    assert res.exit_code == 2 and "nowhere.pmtiles: no such file" in res.output


def test_basemap_modes_as_data():
    """What each mode asks of the page's CSP and hands the page script: plain data (a CSP builder consumes it)."""
    from facilitymap.basemap import BasemapError, basemap_mode

    assert basemap_mode("none").csp == {"img-src": (), "connect-src": ()}
    assert basemap_mode("default").csp["img-src"] == ("https://tile.openstreetmap.org", "https://server.arcgisonline.com")
    consent = basemap_mode("consent")
    assert consent.consent and consent.csp == basemap_mode("default").csp  # allowed, used only after the click
    cfg = consent.page_config()
    assert cfg["mode"] == "consent" and cfg["key"] == "consent"
    assert [layer["provider"] for layer in cfg["layers"]] == ["OpenStreetMap", "Esri"]
    assert "tile usage policy" in cfg["layers"][0]["attribution"] and "Esri terms of use" in cfg["layers"][1]["attribution"]
    assert [layer["key"] for layer in basemap_mode("consent:satellite").page_config()["layers"]] == ["esri", "osm"]
    assert basemap_mode("pmtiles:x/y.pmtiles").csp == {"img-src": (), "connect-src": ("'self'",)}
    for bad in ("google", "consent:none", "consent:google", "pmtiles:", "pmtiles:map.mbtiles"):
        with pytest.raises(BasemapError):
            basemap_mode(bad)
