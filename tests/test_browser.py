"""The map page in a real headless Chromium (Debian's), served from 127.0.0.1."""

from __future__ import annotations

import concurrent.futures
import html as htmllib
import re
import os
from pathlib import Path

import pytest

from browser import Recorder, chromium, serve
from facilitymap import render
from facilitymap.snapshot import snapshot
from payload_factory import HOSTILE, HOSTILE_NAME, make_payload

pytestmark = pytest.mark.browser
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
READY = "html[data-map-ready='true']"  # a selector: waiting by locator needs no eval under the page's CSP
SHOTS = Path(os.environ.get("FM_SCREENSHOTS", "/tmp/facilitymap-screenshots"))


@pytest.fixture(scope="module")
def payload():
    return make_payload()


@pytest.fixture(scope="module")
def site(tmp_path_factory, payload):
    """Two built pages (default basemap, no basemap) and an iframe host page, served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("maps")
    (root / "default").mkdir()
    (root / "none").mkdir()
    (root / "default" / "index.html").write_text(render.render_map(payload), encoding="utf-8")
    (root / "none" / "index.html").write_text(render.render_map(payload, basemap="none"), encoding="utf-8")
    (root / "host.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>host</title></head><body>'
        '<iframe id="f" src="none/index.html" title="map" style="width:320px;height:480px;border:0"></iframe>'
        "</body></html>", encoding="utf-8")
    with serve(root) as base:
        yield root, base


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def rec(browser, site):
    r = Recorder(browser, site[1])
    yield r
    r.close()


def n_features(payload):
    return len(payload["sites"]["features"])


def canvas_pixels(page) -> int:
    """Non-transparent pixels on Leaflet's canvas: proof that sites were drawn."""
    return page.evaluate("""() => {
        const c = document.querySelector('.leaflet-overlay-pane canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n; }""")


def test_default_ready_no_errors_tiles_only(rec, payload):
    page = rec.open("default/index.html")
    page.wait_for_load_state("networkidle")
    assert rec.console_errors == [] and rec.page_errors == []
    assert rec.non_tile_requests() == []
    assert [u for u in rec.requests if u.startswith(rec.base_url)] == [rec.base_url + "default/index.html"]
    assert any(u.startswith("https://tile.openstreetmap.org/") for u in rec.requests)
    assert page.evaluate("document.documentElement.dataset.siteCount") == str(n_features(payload))
    assert canvas_pixels(page) > 500
    attribution = page.inner_text(".leaflet-control-attribution")
    assert "OpenStreetMap" in attribution
    assert page.is_visible(".leaflet-control-attribution")
    # switching to the satellite layer shows its attribution
    page.hover(".leaflet-control-layers")
    page.get_by_label("Satellite (Esri World Imagery)").check()
    assert "Esri" in page.inner_text(".leaflet-control-attribution")
    assert rec.non_tile_requests() == []


def test_basemap_none_makes_no_request(rec, payload):
    page = rec.open("none/index.html")
    page.wait_for_load_state("networkidle")
    assert rec.requests == [rec.base_url + "none/index.html"]
    assert rec.console_errors == [] and rec.page_errors == []
    assert page.evaluate("document.documentElement.dataset.siteCount") == str(n_features(payload))
    assert page.locator(".leaflet-overlay-pane path, .leaflet-overlay-pane canvas").count() >= 1
    assert canvas_pixels(page) > 500
    page.click("#fm-btn-sources")
    page.click("#fm-btn-search")
    page.fill("#fm-q", "Hotan")
    assert rec.requests == [rec.base_url + "none/index.html"]


def test_hostile_text_is_literal_and_inert(rec, payload):
    page = rec.open("none/index.html#site=aspi-666")
    assert page.get_attribute("#fm-panel", "data-site") == "aspi-666"
    assert page.text_content("#fm-panel-title") == HOSTILE_NAME
    body = page.text_content("#fm-panel-body")
    for value in HOSTILE.values():
        assert value in body, value
    page.click("text=All attributes")
    page.click("#fm-btn-sources")
    sources_text = page.text_content("#fm-panel-body")
    assert HOSTILE["img"] in sources_text and HOSTILE["js_url"] in sources_text
    page.click("#fm-btn-about")
    page.click("#fm-btn-search")
    page.fill("#fm-q", "onerror")
    assert page.text_content("#fm-results") .startswith(HOSTILE_NAME)
    page.hover("#fm-close")
    assert page.evaluate("window.__pwned") is None
    assert rec.dialogs == [] and rec.page_errors == [] and rec.console_errors == []
    assert page.evaluate("document.querySelectorAll('img[src=x], body script:not([id]) ~ script:not([id^=fm-detail-])').length") == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not any(h.strip().lower().startswith("javascript:") for h in hrefs)
    # the server-side list shows the same text literally
    assert HOSTILE_NAME in page.text_content("#fm-list")


def test_site_panel_sources_citations_and_claims(rec, payload):
    page = rec.open("default/index.html#site=aspi-1002")  # a Tekes site with the area claim
    body = page.text_content("#fm-panel-body")
    assert "Tier" in body and "3 \u2014 ASPI" in body
    assert "\u7279\u514b\u65af" in body  # Chinese name
    assert "area-level: Tekes County" in body
    cites = page.locator("#fm-panel-body .fm-cites li")
    assert cites.count() >= 3
    assert page.locator("#fm-panel-body a[href='https://www.thexinjiangpolicefiles.org/']").count() == 1
    assert "No licence stated" in body and "Retrieved 2024-01-15" in body
    page.goto(rec.base_url + "default/index.html#site=aspi-1000")
    page.locator(READY).wait_for(state="attached")
    body = page.text_content("#fm-panel-body")
    assert "Where the datasets disagree" in body and "points 266 m apart" in body
    assert "Compound outline" in body and "view on openstreetmap.org" in body  # the source's record_url
    assert page.locator("#fm-panel-body a[href='https://www.openstreetmap.org/way/5000']").count() == 1
    assert page.locator(".fm-timeline rect").count() == 3
    page.click("#fm-panel-body button:has-text('show footprint')")
    assert page.evaluate("FacilityMap.map.getZoom()") < 12  # fitted to the scene footprint
    assert page.locator("#fm-panel-body a[href='javascript:alert(1)']").count() == 0
    page.click("#fm-btn-about")
    assert "A map-level finding" in page.text_content("#fm-panel-body")


def test_annotation_layer_and_claim_deep_link(rec, payload):
    page = rec.open("none/index.html")
    tekes = [f["properties"]["site_id"] for f in payload["sites"]["features"] if f["properties"]["county"] == "Tekes"]
    # annotations are off by default; turning the layer on draws one marker per site of the area claim (+ hostile)
    assert page.evaluate("FacilityMap.map.hasLayer(feature_group_annotations)") is False
    page.hover(".leaflet-control-layers")
    page.get_by_label("Findings with citations (annotations)").check()
    assert page.evaluate("feature_group_annotations.getLayers().length") == len(tekes) + 1
    page.goto(rec.base_url + "none/index.html#claim=claim-tekes-drill")
    page.locator("#fm-panel[data-claim='claim-tekes-drill']").wait_for(state="attached")
    body = page.text_content("#fm-panel-body")
    assert "area-level: Tekes County" in body and "not this facility in particular" in body
    assert page.locator("#fm-panel-body a[href='https://www.thexinjiangpolicefiles.org/']").count() == 1
    page.locator("#fm-panel-body .fm-results button").first.click()
    assert page.evaluate("location.hash") == "#site=" + tekes[0]
    assert rec.page_errors == [] and rec.console_errors == []


def test_deep_link_and_url_follows_reader(rec, payload):
    page = rec.open("default/index.html#site=aspi-1005")
    assert page.get_attribute("#fm-panel", "data-site") == "aspi-1005"
    assert page.text_content("#fm-panel-title") == "Konasheher County Facility #6"
    zoom = page.evaluate("FacilityMap.map.getZoom()")
    center = page.evaluate("[FacilityMap.map.getCenter().lat, FacilityMap.map.getCenter().lng]")
    props = next(f["properties"] for f in payload["sites"]["features"] if f["properties"]["site_id"] == "aspi-1005")
    assert zoom >= 14 and abs(center[0] - props["lat"]) < 0.01 and abs(center[1] - props["lon"]) < 0.01
    # click another site's marker on the canvas: its panel opens and the URL follows
    target = next(f["properties"] for f in payload["sites"]["features"] if f["properties"]["site_id"] == "bf-300")
    page.evaluate(f"FacilityMap.map.setView([{target['lat']}, {target['lon']}], 12, {{animate: false}})")
    pt = page.evaluate(f"FacilityMap.map.latLngToContainerPoint([{target['lat']}, {target['lon']}])")
    box = page.locator("#map_fm").bounding_box()
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    page.locator("#fm-panel[data-site='bf-300']").wait_for(state="attached")
    assert page.evaluate("location.hash") == "#site=bf-300"
    page.click("#fm-btn-sources")
    assert page.evaluate("location.hash") == "#sources"
    page.keyboard.press("Escape")
    assert page.evaluate("location.hash") == "" and page.is_hidden("#fm-panel")
    # a list link (no-JS view) opens the site too
    page.click("#fm-list summary")
    page.click("#fm-list a[href='#site=aspi-2003']")
    page.locator("#fm-panel[data-site='aspi-2003']").wait_for(state="attached")
    assert page.text_content("#fm-panel-title") == "Mosque 4"


def test_search_and_filters(rec, payload):
    feats = [f["properties"] for f in payload["sites"]["features"]]
    page = rec.open("none/index.html")
    count = lambda: int(page.evaluate("document.documentElement.dataset.siteCount"))  # noqa: E731
    page.click("#fm-btn-search")
    assert page.evaluate("document.activeElement.id") == "fm-panel-title"
    page.fill("#fm-q", "\u548c\u7530")  # Chinese for Hotan
    assert count() == sum(1 for p in feats if "\u548c\u7530" in (p["name_zh"] or "")) > 0
    page.fill("#fm-q", "\u062e\u0648\u062a\u06d5\u0646")  # Uyghur
    assert count() == sum(1 for p in feats if "\u062e\u0648\u062a\u06d5\u0646" in (p["name_ug"] or "")) > 0
    page.fill("#fm-q", "tekes")
    assert count() == sum(1 for p in feats if p["county"] == "Tekes") > 0
    page.locator("#fm-results button").first.click()
    assert page.text_content("#fm-panel-title").startswith("Tekes County Facility")
    page.click("#fm-btn-search")
    page.click("#fm-reset")
    assert count() == len(feats)
    # one checkbox per legend entry of each layer: hiding tiers 1-3 leaves tier 4 and the other layers' sites
    detention = [p for p in feats if p["kind"] == "detention" and p["site_id"].startswith("aspi-")]
    for k in (0, 1, 2):
        page.uncheck(f"#fm-filter-detention-{k}")
    assert page.locator("#fm-filter-detention-none").count() == 0, "no site without a tier: no checkbox"
    assert count() == len(feats) - sum(1 for p in detention if p["tier"] != "4") > 0
    page.click("#fm-reset")
    assert page.text_content("label[for=fm-filter-buzzfeed-2]") == "closed"  # a value the spec gives no colour
    page.uncheck("#fm-filter-buzzfeed-0")
    page.uncheck("#fm-filter-buzzfeed-1")
    buzz = [p for p in feats if p["site_id"].startswith("bf-")]
    assert count() == len(feats) - sum(1 for p in buzz if p["status"] != "closed") > 0
    page.click("#fm-reset")
    page.select_option("#fm-source-filter", "osm-reeducation-camps")
    osm = sum(1 for p in feats if any(r["source"] == "osm-reeducation-camps" for r in p["records"]))
    assert count() == osm > 0
    assert page.text_content("#fm-count").startswith(f"{osm} of {len(feats)} sites match")


def test_keyboard_focus_and_labels(rec):
    page = rec.open("none/index.html")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "fm-skip"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "fm-btn-search"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.is_visible("#fm-panel") and page.evaluate("document.activeElement.id") == "fm-panel-title"
    page.keyboard.press("Escape")
    assert page.is_hidden("#fm-panel") and page.evaluate("document.activeElement.id") == "fm-btn-search"
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select')]
        .filter(e => e.offsetParent !== null)
        .filter(e => !(e.getAttribute('aria-label') || e.title || e.textContent.trim() || e.labels?.length))
        .map(e => e.outerHTML)""")
    assert unlabeled == []


@pytest.mark.parametrize("state", ["start", "site", "sources", "search", "about", "phone-site"])
def test_axe_no_serious_or_critical(browser, site, state):
    size = {"width": 375, "height": 667} if state.startswith("phone") else {}
    r = Recorder(browser, site[1], bypass_csp=True, **size)  # bypass_csp only so that axe itself can be injected
    try:
        page = r.open("default/index.html" + ("#site=aspi-666" if state.endswith("site") else ""))
        if state in ("sources", "search", "about"):
            page.click(f"#fm-btn-{state}")
        page.click("#fm-list summary")
        page.add_script_tag(content=AXE)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == []
    finally:
        r.close()


def test_phone_viewport_and_320px_iframe(browser, site, payload):
    SHOTS.mkdir(parents=True, exist_ok=True)
    r = Recorder(browser, site[1], width=375, height=667, is_mobile=True, has_touch=True)
    try:
        page = r.open("default/index.html")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        box = page.locator("#map_fm").bounding_box()
        assert box["width"] >= 370 and box["height"] >= 450
        assert canvas_pixels(page) > 500
        page.screenshot(path=str(SHOTS / "phone.png"))
        page.goto(r.base_url + "default/index.html#site=aspi-1001")
        page.reload()
        page.locator(READY).wait_for(state="attached")
        panel = page.locator("#fm-panel").bounding_box()
        assert panel["width"] <= 375 and panel["y"] > 150, "the panel is a bottom sheet leaving the map visible"
        page.screenshot(path=str(SHOTS / "phone-site.png"))
    finally:
        r.close()
    r = Recorder(browser, site[1], width=800, height=600)
    try:
        r.page.goto(r.base_url + "host.html")
        frame = r.page.frame_locator("#f")
        # a locator, not wait_for_function: Playwright may evaluate a string predicate with eval() in the frame,
        # which the page's Content-Security-Policy refuses (no 'unsafe-eval', as before this policy too)
        frame.locator("html[data-map-ready='true']").wait_for(timeout=15000)
        inner = r.page.frames[1]
        assert inner.evaluate("document.documentElement.scrollWidth") <= 320
        for b in ("#fm-btn-search", "#fm-btn-about", "#fm-btn-sources"):
            bb = frame.locator(b).bounding_box()
            assert bb["x"] + bb["width"] <= 320 + 8
        frame.locator("#fm-btn-sources").click()
        assert frame.locator("#fm-panel").is_visible()
        r.page.screenshot(path=str(SHOTS / "iframe-320.png"))
        assert r.page_errors == []
    finally:
        r.close()


def _in_thread(fn, *args, **kwargs):
    """Run fn in a fresh thread: this module's Playwright session owns the test thread's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def test_snapshot_png(site, tmp_path):
    root, _ = site
    out = _in_thread(snapshot, root / "none", tmp_path / "map.png", width=800, height=500)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 800 and int.from_bytes(data[20:24], "big") == 500
    site_png = _in_thread(snapshot, root / "none", tmp_path / "site.png", site_id="aspi-1001", width=600, height=400)
    assert site_png.stat().st_size > 5000
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "snapshot-site.png").write_bytes(site_png.read_bytes())
    with pytest.raises(ValueError, match="no site"):
        _in_thread(snapshot, root / "none", tmp_path / "x.png", site_id="nope")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The real shipped map, built offline without a basemap into a temporary maps folder."""
    import shutil

    from facilitymap.builder import build

    repo = Path(__file__).resolve().parent.parent
    maps = tmp_path_factory.mktemp("shipped")
    shutil.copy(repo / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    shutil.copy(repo / "maps" / "xinjiang-places.csv", maps / "xinjiang-places.csv")
    result = build("xinjiang", repo / "sources", maps, basemap="none")
    with serve(result.out_dir) as base:
        yield maps / "xinjiang", base


def test_shipped_map(browser, shipped):
    folder, base = shipped
    import json

    features = json.loads((folder / "sites.geojson").read_text(encoding="utf-8"))["features"]
    by_id = {f["properties"]["site_id"]: f["properties"] for f in features}
    r = Recorder(browser, base, bypass_csp=True)
    try:
        page = r.open("index.html")
        assert r.requests == [base + "index.html"]
        assert r.console_errors == [] and r.page_errors == []
        assert page.evaluate("document.documentElement.dataset.siteCount") == str(len(features))
        tekes = next(f["properties"]["site_id"] for f in features
                     if (f["properties"].get("county") or "").startswith("Tekes") and f["properties"].get("claims"))
        page.goto(base + "index.html#site=" + tekes)
        page.locator(f"#fm-panel[data-site={json.dumps(tekes)}]").wait_for(state="attached")
        body = page.text_content("#fm-panel-body")
        assert "area-level" in body and "not this facility in particular" in body
        assert page.locator("#fm-panel-body a[href='https://www.thexinjiangpolicefiles.org/']").count() >= 1
        # Footnotes of the Tekes claim: work A (no URL known: shown, never linked) with its locator, and B.
        assert "The Liberty" in body and "image caption" in body
        assert page.locator("#fm-panel-body a", has_text="Xi Jinping Makes Direct Order").count() == 0
        # A facility inside or beside a compound whose outline went to a neighbour says so, and links to it.
        near = next(f["properties"] for f in features if f["properties"].get("near_outlines"))
        holder = near["near_outlines"][0]["site_id"]
        page.goto(base + "index.html#site=" + near["site_id"])
        page.locator(f"#fm-panel[data-site={json.dumps(near['site_id'])}]").wait_for(state="attached")
        assert "outline of" in page.text_content("#fm-panel-body")
        page.locator("#fm-panel-body button.fm-linkbtn", has_text=by_id[holder]["name"]).first.click()
        page.locator(f"#fm-panel[data-site={json.dumps(holder)}]").wait_for(state="attached")
        page.add_script_tag(content=AXE)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        assert [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")] == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "shipped-site.png"))
    finally:
        r.close()


def test_cultural_layer_off_at_start_then_clickable(rec, payload):
    page = rec.open("none/index.html")
    assert page.evaluate("FacilityMap.map.hasLayer(feature_group_cultural)") is False
    page.hover(".leaflet-control-layers")
    page.get_by_label("Cultural sites (damage index)").check()
    target = next(f["properties"] for f in payload["sites"]["features"] if f["properties"]["kind"] == "cultural")
    page.evaluate(f"FacilityMap.map.setView([{target['lat']}, {target['lon']}], 15, {{animate: false}}) && 0")
    pt = page.evaluate(f"FacilityMap.map.latLngToContainerPoint([{target['lat']}, {target['lon']}])")
    box = page.locator("#map_fm").bounding_box()
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    page.locator(f"#fm-panel[data-site='{target['site_id']}']").wait_for(state="attached")
    assert "damage index" in page.text_content("#fm-panel-body").lower()


def test_page_sites_are_the_payload_sites_and_details_parse_lazily(rec, payload):
    """Nothing lost: every site the page holds (core row + detail block, links rebuilt) equals the payload's
    feature; detail blocks are parsed only when a panel needs them."""
    import json

    page = rec.open("none/index.html")
    assert page.evaluate("FacilityMap.parsedDetailBlocks()") == []
    ids = [f["properties"]["site_id"] for f in payload["sites"]["features"]]
    page.click("#fm-btn-search")
    page.fill("#fm-q", "Hotan")
    assert page.evaluate("FacilityMap.parsedDetailBlocks()") == [], "search and filters use the core rows only"
    got = page.evaluate("ids => ids.map(i => FacilityMap.siteFeature(i))", ids)
    assert got == json.loads(json.dumps(payload["sites"]["features"]))
    assert page.evaluate("FacilityMap.parsedDetailBlocks()") == [0]


def test_hostile_imagery_links_from_a_detail_block_stay_text(rec, payload):
    page = rec.open("none/index.html#site=aspi-666")
    body = page.locator("#fm-panel-body")
    assert HOSTILE["img"] in body.text_content() and HOSTILE["template"] in body.text_content()
    hrefs = page.eval_on_selector_all("#fm-panel-body a[href]", "as => as.map(a => a.getAttribute('href'))")
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    # an http(s) URL stays a link (as the browser writes it), under its label shown as text
    assert "https://example.org/?q=%3C/script%3E%3Cscript%3Ewindow.__pwned=2%3C/script%3E%3C!--" in hrefs
    assert page.evaluate("window.__pwned") is None


PIXEL_AT = """ids => {
    const map = FacilityMap.map, r = map.options.renderer, c = r._container, ctx = c.getContext('2d');
    const m = c.width / c.clientWidth, min = r._bounds.min;
    return ids.map(id => {
        const f = FacilityMap.siteFeature(id), p = map.latLngToLayerPoint([f.properties.lat, f.properties.lon]);
        const x = Math.round((p.x - min.x + 3) * m), y = Math.round((p.y - min.y) * m);
        return Array.from(ctx.getImageData(x, y, 1, 1).data);
    });
}"""
TIER_RGB = {"1": (0xfd, 0xd4, 0x9e), "2": (0xfc, 0x8d, 0x59), "3": (0xd7, 0x30, 0x1f), "4": (0x7f, 0x00, 0x00)}


def test_canvas_colours_match_the_legend_after_pan_and_filter(rec, payload):
    """Sites are stamped from cached sprites: each detention site shows its tier's legend colour at its place,
    after a pan (the cached image moves with the map) and a filter (hidden sites are gone from the canvas)."""
    page = rec.open("none/index.html")
    dets = [f["properties"] for f in payload["sites"]["features"]
            if f["properties"]["kind"] == "detention" and f["properties"]["tier"] in TIER_RGB
            and f["properties"]["site_id"].startswith("aspi-1")]
    ids = [p["site_id"] for p in dets]

    def check(shown):
        for p, px in zip(dets, page.evaluate(PIXEL_AT, ids)):
            if p["site_id"] in shown:
                assert px[3] > 200 and all(abs(a - b) <= 4 for a, b in zip(px[:3], TIER_RGB[p["tier"]])), (p, px)
            else:
                assert px[3] == 0, (p, px)

    check(set(ids))
    page.evaluate("FacilityMap.map.panBy([37, 23], {animate: false})")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    check(set(ids))
    page.click("#fm-btn-search")
    page.fill("#fm-q", "Hotan")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    check({p["site_id"] for p in dets if p["county"] == "Hotan"})


CSP_LISTENER = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push([e.effectiveDirective, e.blockedURI, e.sample]), true);"""
INJECTED = ('<script>window.__pwned = 9</script><img src="x" onerror="window.__pwned = 10">'
            '<p id="fm-injected" style="color: rgb(255, 0, 0)">x</p><style>#fm-title { color: rgb(255, 0, 0) }</style>')


def test_csp_hashes_the_pages_own_code_only(browser, site, payload):
    """The policy names the page's inline code by hash: no 'unsafe-inline', the page's own scripts run with no
    violation (through panels, search and the legend), and markup inserted after the build (as an escaping failure
    would) does not run or style anything while the map keeps working."""
    root, base = site
    html = (root / "default" / "index.html").read_text(encoding="utf-8")
    meta = htmllib.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html).group(1))
    assert "unsafe-inline" not in meta and "'sha256-" in meta.split("script-src")[1].split(";")[0]
    assert html.index("Content-Security-Policy") < html.index("<script")
    injected = root / "injected"
    injected.mkdir(exist_ok=True)
    at = html.index('<ul class="fm-sitelist">')
    (injected / "index.html").write_text(html[:at] + INJECTED + html[at:].replace("</body>", INJECTED + "</body>"),
                                         encoding="utf-8")
    for folder in ("default", "injected"):
        r = Recorder(browser, base)
        r.context.add_init_script(CSP_LISTENER)
        try:
            page = r.open(f"{folder}/index.html#site=aspi-1000")
            assert page.get_attribute("#fm-panel", "data-site") == "aspi-1000"
            assert page.evaluate("document.documentElement.dataset.siteCount") == str(n_features(payload))
            assert canvas_pixels(page) > 500
            page.click("#fm-btn-search")
            page.fill("#fm-q", "Hotan")
            page.click("#fm-btn-sources")
            page.click("#fm-btn-about")
            page.click("#fm-list summary")
            assert page.evaluate("window.__pwned") is None
            assert r.page_errors == []
            swatch = page.evaluate("getComputedStyle(document.querySelector('.fm-legend .fm-swatch')).backgroundColor")
            assert swatch not in ("rgba(0, 0, 0, 0)", "transparent"), "legend swatches are coloured (CSSOM)"
            violations = page.evaluate("window.__csp")
            if folder == "default":
                assert violations == [] and r.console_errors == []
            else:
                assert {v[0] for v in violations} >= {"script-src-elem", "script-src-attr", "style-src-attr",
                                                      "style-src-elem"}
                assert all(v[1] in ("inline", base + "injected/x") for v in violations), violations
                assert page.evaluate("getComputedStyle(document.getElementById('fm-injected')).color") != "rgb(255, 0, 0)"
                assert page.evaluate("getComputedStyle(document.getElementById('fm-title')).color") != "rgb(255, 0, 0)"
        finally:
            r.close()


LTR_OF = """([sel, text]) => {
    // Is `text` (inside the element `sel`) drawn left to right? Compare the x of its first and last characters.
    const root = document.querySelector(sel);
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const i = n.data.indexOf(text);
        if (i < 0) continue;
        const x = (k) => { const r = document.createRange(); r.setStart(n, k); r.setEnd(n, k + 1);
                           return r.getBoundingClientRect().left; };
        return x(i) < x(i + text.length - 1);
    }
    return null;
}"""


def test_bidi_controls_in_source_text_stay_inside_their_value(browser, site, payload):
    """A county ending in an unterminated U+202E (right-to-left override) reorders only itself: the coordinates
    after it in the list still read "40.9, 80.9", and the prefecture after it in the panel subtitle still reads
    left to right; values in the panel are <bdi>s or isolated."""
    import copy

    root, base = site
    bidi = copy.deepcopy(payload)
    f = next(f for f in bidi["sites"]["features"] if f["properties"]["site_id"] == "aspi-1005")
    f["properties"].update(county="Konasheher\u202e", prefecture="Kashgar Prefecture", lat=40.9, lon=80.9)
    f["geometry"] = {"type": "Point", "coordinates": [80.9, 40.9]}
    (root / "bidi").mkdir(exist_ok=True)
    (root / "bidi" / "index.html").write_text(render.render_map(bidi, basemap="none"), encoding="utf-8")
    r = Recorder(browser, base)
    try:
        page = r.open("bidi/index.html#site=aspi-1005")
        page.click("#fm-list summary")
        li = "#fm-list li:has(a[href='#site=aspi-1005'])"
        assert page.evaluate(LTR_OF, [li, "40.9, 80.9"]) is True
        assert page.evaluate(LTR_OF, [li, "Kashgar Prefecture"]) is True
        assert page.evaluate(LTR_OF, ["#fm-panel-body .fm-sub", "Kashgar Prefecture"]) is True
        # every element of the subtitle and the list entry that holds the county is isolated
        iso = page.evaluate("""sel => [...document.querySelectorAll(sel)].filter(e => e.textContent.includes('\\u202e'))
            .map(e => getComputedStyle(e).unicodeBidi)""", "#fm-panel-body .fm-sub *, #fm-list li bdi")
        assert iso and set(iso) == {"isolate"}
        page.click("#fm-btn-search")
        page.fill("#fm-q", "Konasheher")
        assert page.evaluate(LTR_OF, ["#fm-results", "Konasheher County Facility"]) is True
        assert r.page_errors == []
    finally:
        r.close()


HOSTILE_HASHES = ["site=__proto__", "site=constructor", "site=toString", "site=hasOwnProperty", "site=valueOf",
                  "claim=__proto__", "claim=constructor", "claim=toString", "t=__proto__", "t=constructor",
                  "site=%E2%80%AE__proto__", "site=", "claim=", "site=%"]


def test_prototype_names_in_deep_links(rec):
    """Ids the URL names are looked up in Maps: a prototype name is no site and no finding, with a status line
    saying so, no panel and no exception, at start and on a hash change."""
    page = rec.open("none/index.html")
    for h in HOSTILE_HASHES:
        for how in ("start", "change"):
            if how == "start":
                page.goto("about:blank")
                page.goto(rec.base_url + "none/index.html#" + h)
                page.locator(READY).wait_for(state="attached")
            else:
                page.evaluate("location.hash = 'about'")
                page.evaluate("""h => new Promise(done => {  // the page's own hashchange listener runs first
                    addEventListener('hashchange', () => setTimeout(done), {once: true});
                    FacilityMap.closePanel();
                    location.hash = h; })""", h)
            assert page.is_hidden("#fm-panel"), (h, how)
            status = page.text_content("#fm-status")
            kind, _, ident = h.partition("=")
            if kind == "site" and ident not in ("",):
                assert status.startswith("No site with the id"), (h, how, status)
            elif kind == "claim" and ident:
                assert status.startswith("No finding with the id"), (h, how, status)
    assert rec.page_errors == [] and rec.console_errors == []


def test_links_are_http_only_with_no_whitespace(rec):
    page = rec.open("none/index.html")
    got = page.evaluate("""urls => urls.map(u => FacilityMap.safeUrl(u))""",
                        ["HTTPS://example.org/a", "Http://example.org/", "https://example.org/a\n", "https://ex.org/ a",
                         " https://example.org/", "https://example.org/\t", "javascript:alert(1)", "JAVASCRIPT:x",
                         "data:text/html,x", "https:///x", "https://", "ftp://example.org/", "//example.org/x"])
    assert got == ["https://example.org/a", "http://example.org/"] + [None] * 11


def test_layer_control_shows_a_hostile_layer_title_as_text(browser, site, payload):
    import copy

    root, base = site
    hostile = copy.deepcopy(payload)
    title = "T{{ 7*7 }}T " + HOSTILE["img"] + " & </script>"
    hostile["layers"][0]["title"] = title
    (root / "layer").mkdir(exist_ok=True)
    (root / "layer" / "index.html").write_text(render.render_map(hostile, basemap="none"), encoding="utf-8")
    r = Recorder(browser, base)
    try:
        page = r.open("layer/index.html")
        labels = page.eval_on_selector_all(".leaflet-control-layers-overlays label", "ls => ls.map(l => l.textContent.trim())")
        assert labels[0] == title
        assert page.locator(".leaflet-control-layers img").count() == 0
        assert page.evaluate("window.__pwned") is None and r.page_errors == []
    finally:
        r.close()


def test_prototype_names_as_field_names(browser, site, payload):
    """Field names come from the data: a property or attribute named __proto__, constructor or toString is an
    ordinary value of the site (its properties have no prototype), shown in the panel, with no exception."""
    import copy

    root, base = site
    proto = copy.deepcopy(payload)
    f = next(f for f in proto["sites"]["features"] if f["properties"]["site_id"] == "aspi-1005")
    for k in ("__proto__", "constructor", "toString"):
        f["properties"][k] = f"{k}-value"
        f["properties"]["attributes"][k] = [{"value": f"{k}-attr", "source": "aspi-xjdp-markers", "record_id": "1005"}]
    (root / "proto").mkdir(exist_ok=True)
    (root / "proto" / "index.html").write_text(render.render_map(proto, basemap="none"), encoding="utf-8")
    r = Recorder(browser, base)
    try:
        page = r.open("proto/index.html#site=aspi-1005")
        assert page.get_attribute("#fm-panel", "data-site") == "aspi-1005"
        got = page.evaluate("""() => { const p = FacilityMap.siteFeature('aspi-1005').properties;
            return [Object.getPrototypeOf(p), p.__proto__, p.constructor, p.toString, p.attributes.constructor]; }""")
        assert got == [None, "__proto__-value", "constructor-value", "toString-value",
                       [{"value": "constructor-attr", "source": "aspi-xjdp-markers", "record_id": "1005"}]]
        page.click("text=All attributes")
        body = page.text_content("#fm-panel-body")
        assert all(f"{k}-attr" in body for k in ("__proto__", "constructor", "toString"))
        assert r.page_errors == []
    finally:
        r.close()
