"""`facilitymap publish`: the folder to upload validates as a data package, carries a 1200×630 card and safe head
tags, prints its sources, shows a picture without JavaScript, and its embed snippet works from another origin."""
from __future__ import annotations

import html
import json
import shutil
import struct
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from browser import TILE_HOSTS, chromium, serve
from facilitymap import publish as pub
from facilitymap.cli import main
from facilitymap.render import render_map
from payload_factory import HOSTILE, make_payload

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://news.example.org/maps/xinjiang/"
FRICTIONLESS = Path(sys.executable).with_name("frictionless")


@pytest.fixture(scope="module")
def maps(tmp_path_factory) -> Path:
    """A maps/ folder with the default spec; `publish` builds the map itself when it is missing."""
    maps = tmp_path_factory.mktemp("maps")
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    shutil.copy(ROOT / "maps" / "xinjiang-places.csv", maps / "xinjiang-places.csv")
    return maps


@pytest.fixture(scope="module")
def published(maps) -> Path:
    out = maps.parent / "published"
    result = CliRunner().invoke(main, ["publish", "xinjiang", "--base-url", BASE, "--out", str(out),
                                                       "--maps", str(maps), "--sources", str(ROOT / "sources")])
    assert result.exit_code == 0, result.output + result.stderr
    assert "building xinjiang first" in result.stderr
    return out


class _Head(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta, self.links = {}, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and ("property" in a or "name" in a):
            self.meta[a.get("property") or a.get("name")] = a.get("content")
        if tag == "link":
            self.links[a.get("rel")] = a.get("href")


def _head(page: str) -> _Head:
    h = _Head()
    h.feed(page.split("</head>", 1)[0])
    return h


def test_files_of_the_published_folder(published):
    names = sorted(p.name for p in published.iterdir())
    assert names == ["annotations.geojson", "build-report.json", "card.png", "citations.json", "coverage.json",
                     "datapackage.json", "datapackage.zip", "embed.html", "index.html", "records.csv", "sites.csv",
                     "sites.geojson", "sources.json"]


def test_social_card_is_a_1200_by_630_png(published):
    data = (published / "card.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1200, 630)


def test_head_has_canonical_open_graph_and_twitter_tags(published):
    h = _head((published / "index.html").read_text(encoding="utf-8"))
    page = BASE + "index.html"
    assert h.links["canonical"] == page
    assert h.meta["og:url"] == page and h.meta["og:image"] == BASE + "card.png"
    assert (h.meta["og:image:width"], h.meta["og:image:height"]) == ("1200", "630")
    assert h.meta["og:title"] == h.meta["twitter:title"] == "Xinjiang detention facilities and cultural sites"
    assert h.meta["twitter:card"] == "summary_large_image" and h.meta["twitter:image"] == BASE + "card.png"
    assert h.meta["og:description"].startswith("Detention facilities")


def test_head_tags_escape_hostile_map_text():
    payload = make_payload()
    payload["map"] = {"name": "t", "title": HOSTILE["script"] + HOSTILE["quotes"], "description": HOSTILE["img"]}
    page = pub.publish_page(render_map(payload), "https://example.org/a/index.html", payload["sources"], [])
    h = _head(page)
    assert h.meta["og:title"] == HOSTILE["script"] + HOSTILE["quotes"]  # the exact text, as an attribute
    assert h.meta["og:description"] == HOSTILE["img"]
    head = page.split("</head>", 1)[0]
    assert "<img src=x" not in head and "</script><script>window.__pwned" not in head
    with pytest.raises(pub.PublishError):
        pub.publish_page(page, "https://example.org/a/index.html", [], [])  # markers are used up: not twice


def test_published_policy_hashes_what_publish_adds():
    """publish recomputes the page's policy: print.js and print.css by hash, 'self' for the <noscript> picture,
    the build's tile hosts kept, still no 'unsafe-inline'; a built page holding inline code its policy does not
    allow (edited after the build) is refused."""
    from facilitymap import csp
    from facilitymap.render import STATIC

    payload = make_payload()
    built = render_map(payload)
    page = pub.publish_page(built, "https://example.org/a/index.html", payload["sources"], [])
    policy = csp.parse(csp.read(page))
    assert csp.sha256((STATIC / "print.js").read_text(encoding="utf-8")) in policy["script-src"]
    assert csp.sha256((STATIC / "print.css").read_text(encoding="utf-8")) in policy["style-src"]
    assert set(csp.parse(csp.read(built))["script-src"]) < set(policy["script-src"])
    assert policy["img-src"] == ["data:", "'self'", "https://tile.openstreetmap.org", "https://server.arcgisonline.com"]
    assert "unsafe-inline" not in csp.read(page) and csp.disallowed(page) == []
    tampered = built.replace("</body>", "<script>window.__pwned = 1</script></body>")
    with pytest.raises(pub.PublishError, match="does not allow"):
        pub.publish_page(tampered, "https://example.org/a/index.html", payload["sources"], [])


def test_sources_section_isolates_source_text():
    payload = make_payload()
    sources = [dict(payload["sources"][0], publisher="Pub\u202e", citation="Cite \u202bx")]
    page = pub.publish_page(render_map(payload), "https://example.org/a/index.html", sources, [])
    refs = page.split('<section class="fm-refs"', 1)[1]
    assert ", <bdi>Pub\u202e</bdi>. Licence: <bdi>" in refs and "Cite as: <bdi>Cite \u202bx</bdi>" in refs


@pytest.mark.parametrize("url", ["javascript:alert(1)//", "maps/x/", "ftp://example.org/", "https://e.org/?q=1"])
def test_base_url_must_be_an_http_folder(url):
    with pytest.raises(pub.PublishError):
        pub.page_url(url)


def test_cli_names_a_bad_base_url_and_a_missing_spec(maps, tmp_path):
    run = CliRunner().invoke(main, ["publish", "xinjiang", "--base-url", "javascript:alert(1)//", "--maps",
                                    str(maps), "--out", str(tmp_path / "x")])
    assert run.exit_code == 1 and "--base-url must be an absolute http(s) URL" in run.stderr
    run = CliRunner().invoke(main, ["publish", "nomap", "--base-url", BASE, "--maps", str(maps)])
    assert run.exit_code == 1 and "no such map spec" in run.stderr
    assert not (tmp_path / "x").exists()


def test_datapackage_validates_with_the_library_and_the_cli(published):
    from frictionless import Package

    desc = json.loads((published / "datapackage.json").read_text(encoding="utf-8"))
    assert [r["path"] for r in desc["resources"]] == list(pub.PACKAGE_FILES)
    sources = json.loads((published / "sources.json").read_text(encoding="utf-8"))
    licence_names = {x["name"] for x in desc["licenses"]}
    assert {s["licence"]["name"] for s in sources} <= licence_names
    assert desc["facilitymap"]["cite_as"] in desc["description"] and desc["homepage"] == BASE + "index.html"
    report = Package(str(published / "datapackage.json")).validate()
    assert report.valid, report.flatten(["type", "note"])
    for target in ("datapackage.json", "datapackage.zip"):
        run = subprocess.run([str(FRICTIONLESS), "validate", target], cwd=published, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    with zipfile.ZipFile(published / "datapackage.zip") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(["datapackage.json", *pub.PACKAGE_FILES])
    assert {i.date_time for i in infos} == {pub.ZIP_TIME}


def test_a_changed_file_fails_validation(published, tmp_path):
    for name in ["datapackage.json", *pub.PACKAGE_FILES]:
        shutil.copy(published / name, tmp_path / name)
    csv = tmp_path / "sites.csv"
    csv.write_text(csv.read_text(encoding="utf-8").replace("Facility #1", "Facility #9", 1), encoding="utf-8")
    run = subprocess.run([str(FRICTIONLESS), "validate", "datapackage.json"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode != 0 and "hash" in run.stdout


def test_publishing_again_gives_the_same_bytes(maps, published, tmp_path):
    again = pub.publish(maps / "xinjiang", BASE, tmp_path / "again", card=False)
    for name in sorted(p.name for p in again.out_dir.iterdir()):
        assert (again.out_dir / name).read_bytes() == (published / name).read_bytes(), name


def test_page_lists_sources_and_citations(published):
    page = (published / "index.html").read_text(encoding="utf-8")
    refs = page.split('<section class="fm-refs"', 1)[1]
    text = html.unescape(refs)
    for s in json.loads((published / "sources.json").read_text(encoding="utf-8")):
        assert s["title"] in text and s["licence"]["title"] in text
    for c in json.loads((published / "citations.json").read_text(encoding="utf-8")):
        assert c["title"] in text
    assert page.endswith("</section>\n</body>\n</html>")
    assert '&lt;iframe src=&#34;https://news.example.org/maps/xinjiang/index.html&#34;' in refs  # embed snippet


@pytest.mark.browser
def test_print_layout_and_noscript_picture(published):
    with serve(published) as base, chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1200, "height": 800})
        requests = []
        ctx.on("request", lambda r: requests.append(r.url))
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
        ctx.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                            "e => window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI), true);")
        page = ctx.new_page()
        page.goto(base + "index.html")
        page.locator("html[data-map-ready='true']").wait_for(state="attached", timeout=15000)
        page.emulate_media(media="print")
        page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        shown = page.evaluate("""(() => {
            const vis = s => { const e = document.querySelector(s); return !!e && getComputedStyle(e).display !== 'none'
                                && e.getBoundingClientRect().height > 0; };
            return {tools: vis('.fm-tools'), zoom: vis('.leaflet-control-zoom'), map: vis('.fm-map'),
                    legend: vis('.fm-legend-body'), refs: vis('#fm-refs'), list: vis('#fm-list'),
                    open: document.querySelector('.fm-legend').open};
        })()""")
        assert shown == {"tools": False, "zoom": False, "map": True, "legend": True, "refs": True, "list": False,
                         "open": True}
        assert page.pdf(format="A4")[:5] == b"%PDF-"
        assert page.evaluate("window.__csp") == []  # print.js and print.css run under the recomputed policy
        assert all(u.startswith((base,) + TILE_HOSTS) for u in requests), requests  # the default basemap's tiles
        ctx.close()

        ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 800})
        requests = []
        ctx.on("request", lambda r: requests.append(r.url))
        page = ctx.new_page()
        page.goto(base + "index.html")
        img = page.locator("img.fm-fallback")
        img.wait_for()
        page.wait_for_load_state("load")
        assert img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]") == [True, 1200, 630]
        assert requests == [base + "index.html", base + "card.png"]
        ctx.close()


@pytest.mark.browser
def test_embed_snippet_works_from_another_origin(tmp_path):
    from facilitymap.builder import build

    maps = tmp_path / "maps"
    maps.mkdir()
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    shutil.copy(ROOT / "maps" / "xinjiang-places.csv", maps / "xinjiang-places.csv")
    build("xinjiang", sources_dir=ROOT / "sources", maps_dir=maps, basemap="none")  # no tiles: no request at all
    site = tmp_path / "site"
    site.mkdir()
    other = tmp_path / "cms"
    other.mkdir()
    with serve(site) as map_base, serve(other) as cms_base:
        assert map_base != cms_base
        pub.publish(maps / "xinjiang", map_base, site, card=False)
        embed = (site / "embed.html").read_text(encoding="utf-8")
        snippet = html.unescape(embed.split("<pre><code>", 1)[1].split("</code></pre>", 1)[0])
        assert map_base + "index.html" in snippet and 'loading="lazy"' in snippet and "title=" in snippet
        (other / "article.html").write_text(
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Article</title></head><body>"
            "<h1>An article</h1><p>Text before the map.</p>" + snippet + "<p>Text after.</p></body></html>",
            encoding="utf-8")
        with chromium() as browser:
            ctx = browser.new_context(viewport={"width": 1000, "height": 900})
            requests = []
            ctx.on("request", lambda r: requests.append(r.url))
            ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1:")
                      else r.abort())
            page = ctx.new_page()
            page.goto(cms_base + "article.html")
            page.wait_for_function("document.querySelector('iframe').contentWindow !== null")
            frame = page.frame_locator("iframe")
            frame.locator("html[data-map-ready='true']").wait_for(timeout=20000)
            inner = next(f for f in page.frames if f.url.startswith(map_base))
            assert inner.url == map_base + "index.html"
            assert inner.evaluate("document.getElementById('fm-title').textContent") == \
                "Xinjiang detention facilities and cultural sites"
            assert inner.evaluate("document.querySelectorAll('.leaflet-overlay-pane canvas').length") >= 1
            box = page.locator("iframe").bounding_box()
            assert box["width"] > 900 and abs(box["height"] - box["width"] * 3 / 4) < 2
            assert requests and all(u.startswith("http://127.0.0.1:") for u in requests), requests
            assert any(u.startswith(map_base) for u in requests) and any(u.startswith(cms_base) for u in requests)
            # embed.html itself, under its own policy: the preview frame shows the map, nothing is refused
            page = ctx.new_page()
            page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                                 "e => window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI), true);")
            page.goto(map_base + "embed.html")
            page.frame_locator("iframe").locator("html[data-map-ready='true']").wait_for(timeout=20000)
            assert page.evaluate("getComputedStyle(document.querySelector('iframe')).position") == "absolute"
            assert page.evaluate("window.__csp") == []
            ctx.close()
