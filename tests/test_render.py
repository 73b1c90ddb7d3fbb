"""The map page as HTML: self-contained, reproducible, escaped, with the vendored Leaflet checked."""

from __future__ import annotations

import hashlib
import html.parser
import json
import re
from pathlib import Path

import pytest

from facilitymap import render
from payload_factory import HOSTILE, HOSTILE_NAME, make_payload

VENDOR = Path(render.__file__).parent / "vendor"


class _Scan(html.parser.HTMLParser):
    """Collects script blocks, src/href attributes and the fm-data JSON."""

    def __init__(self):
        super().__init__()
        self.scripts, self.urls, self.data, self.metas, self._in = [], [], None, [], None
        self.blocks = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.urls.append((tag, k, a[k]))
        if tag == "script":
            self._in = a
        if tag == "meta":
            self.metas.append(a)

    def handle_data(self, data):
        if self._in is not None:
            if self._in.get("id") == "fm-data":
                self.data = data
            if self._in.get("type") == "application/json":
                self.blocks[self._in.get("id")] = data
            self.scripts.append((self._in, data))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = None


@pytest.fixture(scope="module")
def page():
    return render.render_map(make_payload())


def scan(text):
    s = _Scan()
    s.feed(text)
    return s


def test_same_payload_same_bytes():
    a = render.render_map(make_payload())
    b = render.render_map(make_payload())
    assert a == b
    assert re.search(r"[0-9a-f]{32}", a) is None, "a folium uuid leaked into the page"


def test_no_cdn_and_no_external_asset(page):
    s = scan(page)
    for tag, attr, url in s.urls:
        # the only src/href attributes are our own fragment/relative links or the data: favicon
        assert not (tag in ("script", "link", "img", "iframe") and re.match(r"^(https?:)?//", url)), (tag, url)
    for forbidden in ("cdn.jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn", "fontawesome", "awesome-markers",
                      "bootstrap.min", "jquery"):
        assert forbidden not in page.lower(), forbidden
    assert all("src" not in attrs for attrs, _ in s.scripts), "every script is inline"


def test_leaflet_inlined_matches_manifest(page):
    manifest = json.loads((VENDOR / "manifest.json").read_text())
    leaflet = next(p for p in manifest["packages"] if p["package"] == "leaflet")
    assert leaflet["version"] == "1.9.4"
    for name, digest in leaflet["files"].items():
        data = (VENDOR / leaflet["path"] / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    assert (VENDOR / leaflet["path"] / "LICENSE").read_text().startswith("BSD 2-Clause")
    js = (VENDOR / "leaflet" / "leaflet.js").read_text()
    assert js in page
    assert "url(images/" not in page, "leaflet.css images must be inlined as data: URIs"


def expand_page_sites(core: dict, details: list) -> dict:
    """The sites FeatureCollection back from the page's blocks (written here independently of map.js)."""
    from facilitymap.footprints.coverage import fill_link

    def fill_links(templates, lon, lat, date):
        return [{"label": label, "url": fill_link(t, lon, lat, date)}
                for label, t in templates["dated" if date else "plain"]]

    feats = []
    for i, row in enumerate(core["rows"]):
        c = dict(zip(core["cols"], row))
        p = {k: c[k] for k in core["cols"] if not k.startswith("_")}
        d = details[i]
        for k in d.get("~absent", []):
            del p[k]
        for k, v in d.items():
            if k == "attributes":
                recs = d.get("records") or []
                v = {f: [{"value": a[0], **recs[a[1]]} if isinstance(a, list) else a for a in vals]
                     for f, vals in v.items()}
            elif k == "imagery" and isinstance(v.get("links"), dict):
                v = dict(v, links=fill_links(core["links"], p["lon"], p["lat"], v["links"]["t"]))
            if not k.startswith("~"):
                p[k] = v
        g = c["_geom"]
        geom = None if g == 0 else {"type": "Point", "coordinates": [p["lon"], p["lat"]]} if g is None else g
        feats.append({"type": "Feature", "properties": p, "geometry": geom, **d.get("~feature", {})})
    return {"type": "FeatureCollection", "features": feats}


def page_blocks(s) -> tuple[dict, list]:
    data = json.loads(s.data)
    details = []
    for n in range(len(s.blocks) - 1):
        details += json.loads(s.blocks[f"fm-detail-{n}"])
    assert set(s.blocks) == {"fm-data"} | {f"fm-detail-{n}" for n in range(len(s.blocks) - 1)}
    return data, details


def test_payload_json_cannot_break_out(page):
    s = scan(page)
    # the hostile strings are in the payload, but no raw '<' survives inside any JSON block
    assert s.data is not None and len(s.blocks) >= 2
    for block in s.blocks.values():
        assert "<" not in block and ">" not in block
    data, details = page_blocks(s)
    payload = json.loads(json.dumps(make_payload()))
    # nothing lost: the page's compact sites expand to the payload's sites exactly
    assert expand_page_sites(data.pop("sites"), details) == payload.pop("sites")
    assert data == payload
    # nothing after the data block was parsed as a script injected by the data
    assert "window.__pwned=2</script>" not in page.replace("\\u003c", "<").split('id="fm-data"')[0]
    scripts_with_pwned = [d for attrs, d in s.scripts if "__pwned" in d and attrs.get("type") != "application/json"]
    assert scripts_with_pwned == []


def test_page_sites_compact_and_chunked():
    """Attribute values point at the site's records; links become templates; details come in chunks."""
    payload = make_payload(n_detention=1200)
    s = scan(render.render_map(payload))
    data, details = page_blocks(s)
    assert len(s.blocks) - 1 == -(-len(payload["sites"]["features"]) // render.DETAIL_CHUNK) >= 3
    assert expand_page_sites(data["sites"], details) == json.loads(json.dumps(payload["sites"]))
    compact = [a for d in details for vals in d.get("attributes", {}).values() for a in vals]
    assert compact and sum(isinstance(a, list) for a in compact) / len(compact) > 0.9
    whole = [f["properties"]["site_id"] for f, d in zip(payload["sites"]["features"], details)
             if isinstance(d.get("imagery", {}).get("links"), list)]
    assert whole == ["aspi-666"]  # only the hostile site's links are not the build's
    assert sum(isinstance(d.get("imagery", {}).get("links"), dict) for d in details) == 600 + 6


def test_page_links_fall_back_when_not_templated():
    """Links the templates cannot rebuild (another tool's, an odd date) are kept whole."""
    payload = make_payload()
    p = payload["sites"]["features"][0]["properties"]
    p["imagery"] = {"links": [{"label": "x", "url": "https://example.org/?a=1&b=2"}], "reference_month": "2020"}
    data, details = page_blocks(scan(render.render_map(payload)))
    assert details[0]["imagery"]["links"] == p["imagery"]["links"]
    assert expand_page_sites(data["sites"], details) == json.loads(json.dumps(payload["sites"]))


def test_server_side_list_is_escaped(page):
    assert HOSTILE["img"] not in page
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in page
    s = scan(page)
    links = [url for tag, attr, url in s.urls if tag == "a"]
    assert "#site=aspi-666" in links
    assert not any(u.lower().startswith("javascript:") for u in links)
    assert len([u for u in links if u.startswith("#site=")]) == len(make_payload()["sites"]["features"])


def test_csp_allows_tile_hosts_only(page):
    csp = next(m["content"] for m in scan(page).metas if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    img = re.search(r"img-src ([^;]+)", csp).group(1).split()
    assert img == ["data:", "https://tile.openstreetmap.org", "https://server.arcgisonline.com"]
    none = render.render_map(make_payload(), basemap="none")
    csp = next(m["content"] for m in scan(none).metas if m.get("http-equiv") == "Content-Security-Policy")
    assert re.search(r"img-src ([^;]+)", csp).group(1).split() == ["data:"]
    assert "tile.openstreetmap.org/{z}" not in none and "arcgisonline" not in none


def test_attribution_for_every_basemap(page):
    assert "OpenStreetMap\\u003c/a\\u003e contributors" in page
    assert "Tiles \\u0026copy; Esri" in page


def test_no_user_zoom_lock_and_lang(page):
    assert "user-scalable=no" not in page
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")


def test_unknown_basemap_is_an_error():
    with pytest.raises(ValueError, match="unknown basemap"):
        render.render_map(make_payload(), basemap="google")


def test_source_text_never_in_folium_templates(page):
    # Source strings reach the page only inside the JSON blocks and the escaped list, never in folium's JS.
    folium_script = page.rsplit("</script>", 2)[-2].rsplit("<script>", 1)[1]
    assert "L.map(" in folium_script
    for value in list(HOSTILE.values()) + ["County Facility", "Mosque"]:
        assert value not in folium_script, value
    assert "bindPopup" not in folium_script and "bindTooltip" not in folium_script


def test_embed_snippet():
    out = render.render_embed("Xinjiang <detention> map", "https://example.org/maps/xinjiang/")
    assert '<iframe src="https://example.org/maps/xinjiang/" title="Xinjiang &lt;detention&gt; map"' in out
    assert "aspect-ratio:4/3" in out and "width:100%" in out
    assert "&lt;iframe" in out, "the snippet is shown as copyable text too"
    with pytest.raises(ValueError):
        render.render_embed("x", "javascript:alert(1)")
    rel = render.render_embed("x", "index.html")
    assert 'src="index.html"' in rel


def test_embed_url_shown_in_page():
    out = render.render_map(make_payload(), embed_url="https://example.org/m/")
    assert "Embed this map" in out and "https://example.org/m/" in out


def test_empty_payload_renders():
    out = render.render_map({"map": {"title": "Empty"}, "sources": [],
                             "sites": {"type": "FeatureCollection", "features": []}})
    assert "List of all 0 sites" in out


def test_axe_vendored_for_tests_only(page):
    tests_vendor = Path(__file__).parent / "vendor"
    manifest = json.loads((tests_vendor / "manifest.json").read_text())
    axe = next(p for p in manifest["packages"] if p["package"] == "axe-core")
    for name, digest in axe["files"].items():
        assert hashlib.sha256((tests_vendor / axe["path"] / name).read_bytes()).hexdigest() == digest, name
    assert "axe.run" not in page and "axe-core" not in page


def test_source_text_is_never_template_code():
    """branca renders element output again as jinja: source text must not pass through it (it would run)."""
    payload = make_payload()
    p = payload["sites"]["features"][0]["properties"]
    p["name"] = "QQ{{ 7*7 }}ZZ"
    p["county"] = "CC{{ range.__name__ }}DD"
    p["remark"] = "RR{{ 7*7 }}SS"  # a property parsed lazily, from a detail block
    html = render.render_map(payload)
    assert "QQ49ZZ" not in html and "CCrangeDD" not in html
    assert "QQ{{ 7*7 }}ZZ" in html  # the server-side list shows it literally
    data = json.loads(re.search(r'<script type="application/json" id="fm-data">(.*?)</script>', html, re.S)[1])
    core = data["sites"]
    assert core["rows"][0][core["cols"].index("county")] == "CC{{ range.__name__ }}DD"
    assert '"RR{{ 7*7 }}SS"' in re.search(r'<script type="application/json" id="fm-detail-0">(.*?)</script>', html, re.S)[1]


def test_csp_hashes_every_inline_script_and_style(page):
    """No 'unsafe-inline': the policy lists the sha256 of each script that runs and each <style>, and nothing for
    the JSON data blocks (never executed); the finished page needs no other hash."""
    from facilitymap import csp

    policy = csp.parse(csp.read(page))
    assert not any("unsafe" in v for vs in policy.values() for v in vs)
    s = scan(page)
    code = [d for a, d in s.scripts if a.get("type") != "application/json"]
    assert len(code) == 3 and len(s.blocks) >= 2  # Leaflet, our page script, folium's; fm-data and fm-detail-*
    assert sorted(policy["script-src"]) == sorted(csp.sha256(c) for c in code)
    assert len(policy["style-src"]) == 2 and all(v.startswith("'sha256-") for v in policy["style-src"])
    assert csp.disallowed(page) == [] and csp.policy(page, render.csp_sources(render.BASEMAPS["default"])) == \
        csp.read(page)
    code = csp.inline_code(page)
    assert code.style_attrs == [] and code.handlers == []  # no style or event-handler attribute in the markup


def test_an_escaping_failure_stops_the_build(monkeypatch):
    """The policy is computed before source text is in the page, so source text that became a script (here: the
    list rendered without autoescaping) is not hashed: the renderer refuses to write such a page."""
    import jinja2

    loose = jinja2.Environment(loader=render._env.loader, autoescape=False, undefined=jinja2.StrictUndefined,
                               keep_trailing_newline=True)
    monkeypatch.setattr(render, "_env", loose)
    monkeypatch.setattr(render, "_bdi", lambda v: str(v))
    with pytest.raises(RuntimeError, match="an escaping failure"):
        render.render_map(make_payload())


def test_embed_page_has_a_policy():
    from facilitymap import csp

    out = render.render_embed("Map", "https://news.example.org/maps/x/index.html")
    policy = csp.parse(csp.read(out))
    assert policy["script-src"] == ["'none'"] and policy["frame-src"] == ["https://news.example.org"]
    assert policy["style-src"][0] == "'unsafe-hashes'" and len(policy["style-src"]) == 3  # the snippet's two
    assert csp.disallowed(out) == []
    assert csp.parse(csp.read(render.render_embed("Map", "index.html")))["frame-src"] == ["'self'"]


def test_list_isolates_every_source_value():
    """In the list without JavaScript each source value that holds right-to-left text or bidi controls is its own
    <bdi>: an unterminated U+202E in a county cannot reorder the coordinates after it."""
    payload = make_payload()
    f = next(f for f in payload["sites"]["features"] if f["properties"]["site_id"] == "aspi-1005")
    f["properties"].update(county="Kona\u202e", lat=40.9, lon=80.9)
    out = render.render_map(payload)
    line = next(x for x in out.splitlines() if 'href="#site=aspi-1005"' in x)
    assert "<bdi>Kona\u202e</bdi>, " in line and line.endswith(" · 40.9, 80.9</li>")
    # values that cannot reorder anything (left-to-right letters, digits, punctuation) stay bare: the list is large
    assert "<bdi>detention</bdi>" not in line and " · detention · " in line


def test_layer_titles_reach_the_layer_control_as_text():
    """A spec's layer title goes to Leaflet's layer control, which sets labels with innerHTML, through folium,
    whose output branca renders again as jinja: it arrives escaped for both."""
    payload = make_payload()
    payload["layers"][0]["title"] = "T{{ 7*7 }}T " + HOSTILE["img"] + " & </script>"
    out = render.render_map(payload)
    assert "T49T" not in out
    folium_script = out.rsplit("</script>", 2)[-2].rsplit("<script>", 1)[1]
    assert "T\\u0026#123;\\u0026#123; 7*7 \\u0026#125;\\u0026#125;T \\u0026lt;img src=x" in folium_script
    assert "onerror=\\u0026#34;" in folium_script or "onerror=\\u0026quot;" in folium_script
