"""Imagery in the map, end to end: a synthetic STAC harvest (fetched from tests/stac_server.py over HTTP) and two
synthetic rasters (made here with rasterio, EPSG:32644, nodata borders) are built into a page, which is then driven
in headless Chromium: timeline, scene footprint, raster overlay, before/after swipe. Also: the build's coverage
join on a Dask LocalCluster (`--scheduler`) gives the same outputs as the in-memory join."""
from __future__ import annotations

import os
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Point, shape

from facilitymap.builder import build
from facilitymap.cli import main
from facilitymap.footprints.raster import write_raster_source
from stac_server import StacServer, make_items

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("FM_SCREENSHOTS", "/tmp/facilitymap-screenshots"))
MONTHS = ["2019-05", "2019-06", "2020-03", "2021-08"]
PER_MONTH = 40
SITES = [("A1", "Site under the rasters", 42.5, 81.5), ("B2", "Site under scenes only", 42.5, 83.5),
         ("C3", "Site under nothing", 47.95, 73.6)]
RASTERS = {"before_20180710.tif": 1, "after_20220903.tif": 2}  # file name -> pixel pattern
N, RES = 200, 10.0  # 2 km square rasters


def make_raster(path: Path, lon: float, lat: float, pattern: int) -> None:
    """A 3-band uint16 raster in EPSG:32644 centred on (lon, lat), nodata 0 outside an inset diamond-cut square."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32644", always_xy=True).transform(lon, lat)
    rows, cols = np.mgrid[0:N, 0:N]
    inside = (np.abs(rows - N / 2) + np.abs(cols - N / 2) <= 0.7 * N) & (rows > 10) & (rows < N - 10) & \
        (cols > 10) & (cols < N - 10)
    bands = np.stack([(rows * pattern + cols) % 4000 + 1, (cols * pattern) % 4000 + 1, (rows + 7) % 4000 + 1])
    data = np.where(inside, bands, 0).astype("uint16")
    with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=3, dtype="uint16", crs="EPSG:32644",
                       transform=from_origin(x - N * RES / 2, y + N * RES / 2, RES, RES), nodata=0) as dst:
        dst.write(data)


def write_sites_source(sources: Path) -> None:
    """A tiny sites source (CSV + descriptor), made here."""
    folder = sources / "test-sites"
    folder.mkdir(parents=True)
    raw = ("id,name,lat,lon\n" + "".join(f"{i},{n},{lat},{lon}\n" for i, n, lat, lon in SITES)).encode()
    (folder / "sites.csv").write_bytes(raw)
    (folder / "datapackage.json").write_text(json.dumps({
        "name": "test-sites", "title": "Test sites", "licenses": [{"name": "CC0-1.0", "title": "CC0"}],
        "sources": [{"title": "Made in the test", "path": "https://example.org/"}],
        "resources": [{"name": "sites", "path": "sites.csv", "format": "csv", "encoding": "utf-8",
                       "bytes": len(raw), "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}],
        "facilitymap": {"layer": "sites", "reader": "csv", "resource": "sites", "publisher": "Test",
                        "citation": "Test sites", "retrieved": "2024-01-01", "upstream": "https://example.org/",
                        "kind": "detention",
                        "fields": {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"}}}))


def make_sources(tmp: Path) -> Path:
    """sources/: a synthetic sites CSV, the shipped Sentinel-2 grid, a harvest from the test STAC API, two rasters."""
    sources = tmp / "sources"
    write_sites_source(sources)
    shutil.copytree(ROOT / "sources" / "sentinel-2-grid", sources / "sentinel-2-grid")
    with StacServer(make_items(MONTHS, per_month=PER_MONTH)) as srv:
        res = CliRunner().invoke(main, ["footprints", "fetch", "--api", srv.url, "--bbox", "73,34,96,49",
                                        "--collections", "sentinel-2-c1-l2a,landsat-c2-l2", "--start", "2019-01-01",
                                        "--end", "2021-12-31", "--out", str(sources), "--slug", "scenes-test",
                                        "--page-size", "50", "--no-progress"])
    assert res.exit_code == 0, res.output
    raw = tmp / "raw"
    raw.mkdir()
    _, _, lat, lon = SITES[0]
    for name, pattern in RASTERS.items():
        make_raster(raw / name, lon, lat, pattern)
    write_raster_source(sorted(raw.glob("*.tif")), sources, "my-rasters", date_pattern="%Y%m%d", max_size=128)
    return sources


def write_spec(maps: Path) -> None:
    maps.mkdir(exist_ok=True)
    (maps / "img.yaml").write_text("title: Imagery test\n"
                                   "sources: [test-sites, sentinel-2-grid, scenes-test, my-rasters]\n")


def expected_months(site) -> list[str]:
    _, _, lat, lon = site
    pt = Point(lon, lat)
    months = {it["properties"]["datetime"][:7] for it in make_items(MONTHS, per_month=PER_MONTH)
              if shape(it["geometry"]).intersects(pt)}
    if site is SITES[0]:
        months |= {"2018-07", "2022-09"}  # the two rasters
    return sorted(months)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imagery")
    sources = make_sources(tmp)
    maps = tmp / "maps"
    write_spec(maps)
    result = build("img", sources_dir=sources, maps_dir=maps, basemap="none")
    return tmp, sources, maps, result


@pytest.fixture(scope="module")
def served(built):
    """(browser, base URL) of the built page, served on 127.0.0.1, in one headless Chromium for the module."""
    from browser import chromium, serve

    with serve(built[2] / "img") as base, chromium() as browser:
        yield browser, base


@pytest.fixture
def page_rec(served):
    from browser import Recorder

    rec = Recorder(*served)
    yield rec
    rec.close()


def site_id(built, name):
    feats = json.loads((built[2] / "img" / "sites.geojson").read_text())["features"]
    return next(f["properties"]["site_id"] for f in feats if f["properties"]["name"] == name)


@pytest.mark.browser
def test_imagery_in_the_page(built, page_rec):
    tmp, sources, maps, result = built
    rec = page_rec
    sid = site_id(built, SITES[0][1])
    page = rec.open(f"index.html#site={sid}")
    body = page.locator("#fm-panel-body")
    # the timeline: one bar per month with a scene (harvested scenes and the two rasters)
    months = expected_months(SITES[0])
    assert len(months) >= 5
    bars = page.eval_on_selector_all(".fm-timeline rect", "rs => rs.map(r => r.getAttribute('data-month'))")
    assert bars == months
    # the clearest scenes are listed with a link to their viewer at this site
    assert body.locator(".fm-scenes li").count() >= 3
    # ...with the same STAC item and viewer links as sites.geojson (the page rebuilds them from shared templates)
    feats = json.loads((maps / "img" / "sites.geojson").read_text())["features"]
    summary = next(f for f in feats if f["properties"]["site_id"] == sid)["properties"]["imagery"]["scenes"]
    want = {y["best"]["id"]: [u for u in (y["best"]["url"], y["best"]["viewer"]) if u] for y in summary["years"].values()}
    got = page.eval_on_selector_all(".fm-scenes li", "ls => ls.map(l => [l.dataset.scene, [...l.querySelectorAll('a')].map(a => a.getAttribute('href'))])")
    assert {k: v for k, v in got} == want
    assert any("browser.dataspace.copernicus.eu" in u and "lat=42.500000&lng=81.500000" in u
               for links in want.values() for u in links)

    # choosing a scene (keyboard on its month bar) draws its footprint; its bounds are the item's bbox
    items = {it["id"]: it for it in make_items(MONTHS, per_month=PER_MONTH)}
    stac_month = next(m for m in months if m not in ("2018-07", "2022-09"))
    bar = page.locator(f".fm-timeline rect[data-month='{stac_month}']")
    bar.focus()
    page.keyboard.press("Enter")
    drawn = page.evaluate("""() => { const out = []; FacilityMap.map.eachLayer(l => {
        if (l._fmScene && l.getBounds && l.getLatLngs) { const b = l.getBounds();
          out.push([l._fmScene, b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]); } }); return out; }""")
    assert len(drawn) == 1
    scene_id, *bbox = drawn[0]
    assert scene_id in items and items[scene_id]["properties"]["datetime"].startswith(stac_month)
    assert bbox == pytest.approx(items[scene_id]["bbox"], abs=1e-4)
    # the "show footprint" button of a listed scene replaces it (one footprint at a time)
    body.locator(".fm-scenes button").first.click()
    assert page.evaluate("() => { let n = 0; FacilityMap.map.eachLayer(l => { if (l._fmScene && l.getLatLngs) n++; }); return n; }") == 1

    # the rasters: overlays in the imagery pane, data: URIs, listed in the panel of the site they cover
    srcs = page.eval_on_selector_all(".leaflet-fm-imagery-pane img", "is => is.map(i => i.getAttribute('src'))")
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert body.locator(".fm-rasters li").count() == 2
    assert "2018-07-10" in body.inner_text() and "2022-09-03" in body.inner_text()
    assert page.get_by_label("Local imagery (2 images)").is_checked()

    # before/after: two clipped panes; the slider (keyboard and drag value) moves the clip
    page.select_option("#fm-cmp-before-select", "before_20180710")
    page.select_option("#fm-cmp-after-select", "after_20220903")
    page.click("#fm-cmp-start")
    assert page.evaluate("document.activeElement.id") == "fm-swipe-range"
    assert page.locator(".leaflet-fm-cmp-before-pane img").count() == 1
    assert page.locator(".leaflet-fm-cmp-after-pane img").count() == 1
    clip = "() => [document.querySelector('.leaflet-fm-cmp-before-pane').style.clipPath, document.querySelector('.leaflet-fm-cmp-after-pane').style.clipPath]"
    before = page.evaluate(clip)
    assert all(c.startswith("polygon(") for c in before)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    moved = page.evaluate(clip)
    assert moved != before and page.evaluate("document.getElementById('fm-swipe-range').value") == "48"
    page.locator("#fm-swipe-range").fill("20")
    at20 = page.evaluate(clip)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "imagery-swipe.png"))  # for a person to look at
    width = page.evaluate("FacilityMap.map.getSize().x")
    mid = page.evaluate("FacilityMap.map.containerPointToLayerPoint([FacilityMap.map.getSize().x * 0.2, 0]).x")
    xs = [[float(v) for v in re.findall(r"(-?[\d.]+)px -?[\d.]+px", c)] for c in at20]
    assert xs[0][1] == pytest.approx(mid, abs=0.1) and xs[1][0] == pytest.approx(mid, abs=0.1)  # the divider
    assert xs[0][0] < mid < xs[1][1] and width > 0
    assert page.get_by_label("Swipe between the two images", exact=False).count() == 1
    page.click(".fm-swipe-stop")
    assert page.locator("#fm-swipe").count() == 0
    assert page.evaluate("document.querySelector('.leaflet-fm-imagery-pane').style.display") == ""

    # a site no raster covers: no raster list, no compare form
    page.goto(rec.base_url + f"index.html#site={site_id(built, SITES[1][1])}")
    page.locator("#fm-panel[data-site]").wait_for(state="attached")
    assert page.locator("#fm-panel-body .fm-rasters").count() == 0
    assert page.locator(".fm-timeline rect").count() == len(expected_months(SITES[1]))

    assert rec.off_site_requests() == []
    assert {u for u in rec.requests if not u.startswith("data:")} == {rec.base_url + "index.html"}
    assert rec.console_errors == [] and rec.page_errors == []


def test_scheduler_build_equals_in_memory_build(built):
    """`facilitymap build --scheduler ADDRESS`: the coverage join on a Dask cluster (a LocalCluster here) gives the
    same files as the in-memory join, byte for byte."""
    distributed = pytest.importorskip("distributed")
    tmp, sources, maps, result = built
    dask_maps = tmp / "maps-dask"
    write_spec(dask_maps)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        res = CliRunner().invoke(main, ["build", "img", "--sources", str(sources), "--maps", str(dask_maps),
                                        "--basemap", "none", "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0, res.output
    assert "warning: licenses[0] is 'as-provided-by-the-user'" in res.output  # printed, not fatal
    mem, dsk = maps / "img", dask_maps / "img"
    sites = json.loads((mem / "sites.geojson").read_text())["features"]
    # the Landsat scenes are named by WRS path/row in both joins, and something was covered at all
    assert any(f["properties"]["imagery"]["scenes"]["scenes"] for f in sites)
    for name in ("sites.geojson", "coverage.json", "build-report.json", "index.html"):
        assert (dsk / name).read_bytes() == (mem / name).read_bytes(), name


def test_shipped_map_payload_has_no_scenes(tmp_path):
    """Honest by default: the shipped map is built without harvested scenes or rasters."""
    import yaml

    spec = yaml.safe_load((ROOT / "maps" / "xinjiang.yaml").read_text())
    from facilitymap.registry import load_sources

    layers = {s.slug: s.layer for s in load_sources(ROOT / "sources")}
    assert not [s for s in spec["sources"] if layers.get(s) == "scenes"]


@pytest.mark.browser
def test_axe_on_imagery_panel_and_swipe(built, served):
    """axe-core finds nothing serious or critical in the site panel with the timeline, rasters and the swipe on."""
    from browser import Recorder

    axe = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
    rec = Recorder(*served, bypass_csp=True)  # bypass_csp only so that axe itself can be injected
    try:
        page = rec.open(f"index.html#site={site_id(built, SITES[0][1])}")
        page.click("#fm-cmp-start")
        page.add_script_tag(content=axe)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == []
    finally:
        rec.close()


def test_large_detail_goes_to_parquet(built, monkeypatch):
    """Past DETAIL_JSON_MAX_ROWS (site, scene) pairs, the detail is written to coverage.parquet, not JSON."""
    import pandas as pd

    from facilitymap.footprints import imagery

    tmp, sources, maps, result = built
    small = json.loads((maps / "img" / "coverage.json").read_text())["scenes"]
    monkeypatch.setattr(imagery, "DETAIL_JSON_MAX_ROWS", len(small) - 1)
    big_maps = tmp / "maps-big"
    write_spec(big_maps)
    build("img", sources_dir=sources, maps_dir=big_maps, basemap="none")
    cov = json.loads((big_maps / "img" / "coverage.json").read_text())
    assert "scenes" not in cov and cov["scenes_file"] == {"path": "coverage.parquet", "rows": len(small)}
    back = pd.read_parquet(big_maps / "img" / "coverage.parquet")
    assert back["id"].tolist() == [r["id"] for r in small]
    assert back["site_id"].tolist() == [r["site_id"] for r in small]


def test_validate_prints_the_licence_warning_and_passes(built):
    tmp, sources, maps, result = built
    res = CliRunner().invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 0, res.output
    assert "my-rasters/datapackage.json: warning: licenses[0] is 'as-provided-by-the-user'" in res.output
    assert "all sources valid" in res.output
    assert result.warnings and "as-provided-by-the-user" in result.warnings[0]


@pytest.mark.browser
def test_search_links_in_the_page_equal_sites_geojson(built, page_rec):
    """The page rebuilds every site's "search imagery here" links from shared templates: they equal sites.geojson's
    links exactly, site by site (and the panel links to those URLs)."""
    maps = built[2]
    feats = json.loads((maps / "img" / "sites.geojson").read_text())["features"]
    want = {f["properties"]["site_id"]: f["properties"]["imagery"]["links"] for f in feats}
    assert want and all(want.values())
    html = (maps / "img" / "index.html").read_text()
    assert "eo-browser" not in html.split('id="fm-detail-0">', 1)[1], "the page carries templates, not URLs"
    page = page_rec.open("index.html")
    got = page.evaluate("ids => Object.fromEntries(ids.map(i => [i, FacilityMap.siteFeature(i).properties.imagery.links]))",
                        sorted(want))
    assert got == want
    sid = sorted(want)[0]
    page = page_rec.open(f"index.html#site={sid}")
    hrefs = page.eval_on_selector_all("#fm-panel-body a[href]", "as => as.map(a => a.getAttribute('href'))")
    assert all(link["url"] in hrefs for link in want[sid])
