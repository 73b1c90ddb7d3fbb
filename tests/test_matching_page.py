"""How records were linked, in the site panel (issue 9, "scores are evidence"): a small map built in the test
through the real builder from three invented lists (a model link, a forced link with its reason, a crosswalk link
the matcher disagrees with, links to review), and the real Xinjiang build."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from browser import Recorder, chromium, serve
from facilitymap.builder import build
from facilitymap.cli import main

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
LAT0, LON0 = 41.0, 80.0
REASON = "The publisher's erratum of 2024 moves this facility (test)"

SPEC = f"""name: linked
title: Linked lists (made in the test)
sources: [ref-list, new-list, pub-list]
match:
  review_below: 0.99999
  force:
    - records: ["new-list:150", "ref-list:8"]
      reason: "{REASON}"
"""


def at(east_m=0.0, north_m=0.0):
    """(lat, lon) of a point east_m / north_m metres from the origin."""
    return (LAT0 + north_m / 111_195.0, LON0 + east_m / (111_195.0 * math.cos(math.radians(LAT0))))


def _source(sources: Path, slug: str, rows: list[dict], extra: dict | None = None) -> None:
    folder = sources / slug
    folder.mkdir(parents=True)
    cols = list(rows[0])
    text = ",".join(cols) + "\n" + "".join(",".join(str(r[c]) for c in cols) + "\n" for r in rows)
    raw = text.encode()
    (folder / "list.csv").write_bytes(raw)
    fields = {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon", "county": "county"}
    (folder / "datapackage.json").write_text(json.dumps({
        "name": slug, "title": f"{slug} (made in the test)",
        "licenses": [{"name": "CC0-1.0", "title": "CC0", "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "sources": [{"title": "Made in the test", "path": f"https://example.org/{slug}"}],
        "resources": [{"name": "list", "path": "list.csv", "format": "csv", "encoding": "utf-8",
                       "bytes": len(raw), "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}],
        "facilitymap": {"layer": "sites", "reader": "csv", "resource": "list", "publisher": f"Org {slug}",
                        "citation": f"Org {slug}, facility list", "retrieved": "2024-01-01",
                        "upstream": f"https://example.org/{slug}.csv", "kind": "detention", "fields": fields,
                        **(extra or {})}}))


def make_lists(root: Path) -> tuple[Path, Path]:
    """ref-list: 8 facilities 6 km apart. new-list: 1-7 within 20-60 m in another naming scheme (model links),
    record 150 far from everything, forced onto ref 8, and record 160, 400 m from ref 3 naming another county (a
    near miss to review). pub-list: records beside ref 1-5 citing ref ids in column "REF #"; its record 205 lies
    beside ref 5 but cites ref 6 (a crosswalk link the matcher disagrees with)."""
    sources, maps = root / "sources", root / "maps"
    maps.mkdir(parents=True)
    ref = []
    for i in range(1, 9):
        lat, lon = at(i * 6000, 0)
        ref.append({"id": i, "name": f"Nordby Facility #{i}", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "county": "Nordby"})
    new = []
    for i in range(1, 8):
        lat, lon = at(i * 6000 + 20 + 5 * i, 10)
        new.append({"id": 100 + i, "name": f"Nordby - {i}", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "county": "Nordby"})
    lat, lon = at(90_000, 30_000)
    new.append({"id": 150, "name": "Remote camp", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "county": "Nordby"})
    lat, lon = at(3 * 6000 + 300, 250)
    new.append({"id": 160, "name": "Sudby - 9", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "county": "Sudby"})
    pub = []
    for i, cited in ((1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "6")):
        lat, lon = at(i * 6000 - 15, -10)
        pub.append({"id": 200 + i, "name": f"Nordby camp {i}", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
                    "county": "Nordby", "ref": cited})
    _source(sources, "ref-list", ref)
    _source(sources, "new-list", new)
    _source(sources, "pub-list", pub, {"crosswalks": [{"column": "ref", "source": "ref-list"}]})
    (maps / "linked.yaml").write_text(SPEC)
    return sources, maps


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    sources, maps = make_lists(tmp_path_factory.mktemp("linked"))
    result = CliRunner().invoke(main, ["build", "linked", "--sources", str(sources), "--maps", str(maps),
                                       "--basemap", "none"])
    assert result.exit_code == 0, result.output
    out = maps / "linked"
    with serve(out) as base:
        yield out, base, result.output


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def sites_of(folder: Path) -> dict:
    feats = json.loads((folder / "sites.geojson").read_text(encoding="utf-8"))["features"]
    return {f["properties"]["site_id"]: f for f in feats}


def open_site(page, base, sid):
    page.goto(base + "index.html#site=" + sid)
    page.locator(f"#fm-panel[data-site={json.dumps(sid)}]").wait_for(state="attached")
    return page.locator("#fm-panel-body section.fm-matching")


def line(section, slug, rid) -> str:
    return section.locator(f"li[data-record='{slug}:{rid}']").text_content()


def test_the_build_prints_how_many_links_are_to_review(linked):
    folder, _, output = linked
    review = json.loads((folder / "build-report.json").read_text())["matching"]["to_review"]
    assert review, "the test map has links to review"
    taken = sum(1 for x in review if x["linked"])
    assert f"{len(review)} links to review: {taken} taken and {len(review) - taken} near misses not taken" in output


def test_the_test_map_has_each_kind_of_link(linked):
    """The page test below reads what the matcher decided: check it decided what the lists were made for."""
    sites = sites_of(linked[0])
    entry = {(m["source"], m["record_id"]): m for f in sites.values() for m in f["properties"]["match"]}
    assert entry[("new-list", "102")]["method"] == "probabilistic"
    assert entry[("new-list", "150")]["method"] == "forced" and entry[("new-list", "150")]["reason"] == REASON
    cw = entry[("pub-list", "205")]
    assert cw["method"] == "crosswalk" and cw["matcher_agrees"] is False
    assert cw["compared_with"] == {"source": "ref-list", "record_id": "6"}
    assert entry[("pub-list", "201")]["method"] == "crosswalk" and entry[("pub-list", "201")]["matcher_agrees"]


def test_the_panel_says_how_each_record_was_linked(browser, linked):
    folder, base, _ = linked
    sites = sites_of(folder)
    entry = {(m["source"], m["record_id"]): (sid, m) for sid, f in sites.items() for m in f["properties"]["match"]}
    r = Recorder(browser, base, bypass_csp=True)  # bypass_csp only so that axe can be injected
    try:
        page = r.open("index.html")
        # a model link: its probability and evidence, and the record it was compared with
        sid, m = entry[("new-list", "102")]
        sec = open_site(page, base, sid)
        text = line(sec, "new-list", "102")
        assert "Matched by the record-linkage model against" in text and "record 2" in text
        assert m["evidence"] in text and re.search(r"same place: (\d+|> 99\.9) %", text)
        assert "The site's first record" in line(sec, "ref-list", "2")
        # a forced link: its reason
        sid, m = entry[("new-list", "150")]
        sec = open_site(page, base, sid)
        text = line(sec, "new-list", "150")
        assert "Linked by the map's authors" in text and REASON in text
        # a crosswalk link the matcher did not make
        sid, m = entry[("pub-list", "205")]
        sec = open_site(page, base, sid)
        text = line(sec, "pub-list", "205")
        assert "The publisher's list links this record to" in text and "record 6" in text
        assert "the matcher did not find this link" in text and "Publisher and matcher disagree" in text
        sid, m = entry[("pub-list", "201")]
        assert "the matcher agrees" in line(open_site(page, base, sid), "pub-list", "201")
        page.add_script_tag(content=AXE)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        assert [(v["id"], v["impact"]) for v in result["violations"] if v["impact"] in ("serious", "critical")] == []
        assert r.console_errors == [] and r.page_errors == []
    finally:
        r.close()


def test_links_to_review_show_in_the_panels_of_both_sites(browser, linked):
    folder, base, _ = linked
    review = json.loads((folder / "build-report.json").read_text())["matching"]["to_review"]
    sites = sites_of(folder)
    site_of = {(r["source"], r["record_id"]): sid for sid, f in sites.items() for r in f["properties"]["records"]}
    taken = next(x for x in review if x["linked"])
    miss = next(x for x in review if not x["linked"])
    r = Recorder(browser, base)
    try:
        page = r.open("index.html")
        text = line(open_site(page, base, taken["site_id"]), taken["source"], taken["record_id"])
        assert "To review:" in text and "under the review threshold" in text and taken["evidence"] in text
        # a near miss: in the panel of the site it was compared with, with both records, and a way to the other
        sec = open_site(page, base, miss["site_id"])
        pair = sec.locator("li.fm-review-pair").first
        assert "Not linked, to review" in pair.text_content() and miss["evidence"] in pair.text_content()
        assert miss["records"][0]["name"] in pair.text_content() and miss["records"][1]["name"] in pair.text_content()
        own = site_of[(miss["source"], miss["record_id"])]
        pair.locator("button.fm-linkbtn").click()
        page.locator(f"#fm-panel[data-site={json.dumps(own)}]").wait_for(state="attached")
        assert "Not linked, to review" in page.locator("#fm-panel-body section.fm-matching").text_content()
    finally:
        r.close()


def test_review_entries_stay_beside_the_site_properties(browser, linked):
    """The page still turns every site back into exactly its sites.geojson properties, and the review entries
    travel only in the detail blocks."""
    folder, base, _ = linked
    feats = json.loads((folder / "sites.geojson").read_text(encoding="utf-8"))["features"]
    html = (folder / "index.html").read_text(encoding="utf-8")
    core = json.loads(re.search(r'<script type="application/json" id="fm-data">(.*?)</script>', html, re.S)[1])
    assert "review" not in core
    r = Recorder(browser, base)
    try:
        page = r.open("index.html")
        got = page.evaluate("ids => ids.map(i => FacilityMap.siteFeature(i))", [f["properties"]["site_id"] for f in feats])
        assert got == feats
    finally:
        r.close()


# --- the real Xinjiang build ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    maps = tmp_path_factory.mktemp("shipped")
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    shutil.copy(ROOT / "maps" / "xinjiang-places.csv", maps / "xinjiang-places.csv")
    result = build("xinjiang", ROOT / "sources", maps, basemap="none")
    with serve(result.out_dir) as base:
        yield result.out_dir, base


def test_a_shipped_site_with_a_buzzfeed_record_shows_its_probability(browser, shipped):
    folder, base = shipped
    sites = sites_of(folder)
    sid, m = next((sid, m) for sid, f in sorted(sites.items()) for m in f["properties"]["match"]
                  if m["source"].startswith("buzzfeed") and m["method"] == "probabilistic")
    r = Recorder(browser, base, bypass_csp=True)
    try:
        page = r.open("index.html")
        text = line(open_site(page, base, sid), m["source"], m["record_id"])
        assert m["evidence"] in text and "same place: " in text
        page.add_script_tag(content=AXE)
        result = page.evaluate("axe.run(document.querySelector('#fm-panel'), {resultTypes: ['violations']})")
        assert [(v["id"], v["impact"]) for v in result["violations"] if v["impact"] in ("serious", "critical")] == []
    finally:
        r.close()


# --- source text in match entries and review entries stays text ----------------------------------------------------

def test_hostile_match_and_review_text_is_literal_and_inert(browser, tmp_path):
    """Ids, reasons, crosswalk columns, evidence and the names of records to review are source or spec text: the
    panel shows them literally and runs none of them."""
    from facilitymap import page as page_mod, render
    from payload_factory import HOSTILE, make_payload

    base_payload = make_payload()
    feats = base_payload["sites"]["features"]
    hostile = next(f for f in feats if f["properties"]["site_id"] == "aspi-666")["properties"]
    other = next(f for f in feats if f["properties"]["site_id"] == "bf-300")["properties"]
    hid = HOSTILE["script"]
    hostile["records"] = hostile["records"] + [
        {"source": "buzzfeed-2020", "record_id": HOSTILE["img"]},
        {"source": "aspi-camp-dataset-v1", "record_id": HOSTILE["rtl"]},
        {"source": "osm-reeducation-camps", "record_id": HOSTILE["template"]}]
    hostile["match"] = [
        {"source": "buzzfeed-2020", "record_id": HOSTILE["img"], "method": "forced", "distance_m": 12.0,
         "reason": HOSTILE["jinja"] + HOSTILE["script"], "compared_with": {"source": "aspi-xjdp-markers", "record_id": hid}},
        {"source": "aspi-camp-dataset-v1", "record_id": HOSTILE["rtl"], "method": "crosswalk", "distance_m": 3.0,
         "cited": "aspi-camp-dataset-v1 " + HOSTILE["quotes"], "matcher_agrees": False, "probability": 0.2,
         "evidence": "same place: 20 % — " + HOSTILE["img"], "compared_with": {"source": "aspi-xjdp-markers", "record_id": hid}},
        {"source": "osm-reeducation-camps", "record_id": HOSTILE["template"], "method": HOSTILE["js_url"], "distance_m": 1.0}]
    review = [{"source": "buzzfeed-2020", "record_id": "300", "site_id": "aspi-666", "linked": False,
               "probability": 0.3, "distance_m": 700.0, "evidence": "same place: 30 % — 700 m apart",
               "records": [{"source": "buzzfeed-2020", "record_id": "300", "name": HOSTILE["img"], "county": HOSTILE["script"],
                            "lon": other["lon"], "lat": other["lat"]},
                           {"source": "aspi-xjdp-markers", "record_id": hid, "name": HOSTILE["template"], "county": None,
                            "lon": 83.0, "lat": 40.0}]}]
    payload = page_mod.build_payload({"name": "t", "title": "t", "layers": []}, sources=base_payload["sources"],
                                     sites=base_payload["sites"], review=review)
    (tmp_path / "index.html").write_text(render.render_map(payload, basemap="none"), encoding="utf-8")
    with serve(tmp_path) as base:
        r = Recorder(browser, base)
        try:
            page = r.open("index.html#site=aspi-666")
            sec = page.locator("#fm-panel-body section.fm-matching")
            text = sec.text_content()
            for value in (HOSTILE["jinja"] + HOSTILE["script"], HOSTILE["quotes"], HOSTILE["img"], HOSTILE["rtl"],
                          HOSTILE["template"], HOSTILE["js_url"], hid):
                assert value in text, value
            assert "Not linked, to review" in text
            sec.locator("li.fm-review-pair button.fm-linkbtn").click()
            page.locator("#fm-panel[data-site='bf-300']").wait_for(state="attached")
            assert HOSTILE["img"] in page.locator("#fm-panel-body section.fm-matching").text_content()
            assert page.evaluate("window.__pwned") is None
            assert r.dialogs == [] and r.page_errors == [] and r.console_errors == []
            assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0
        finally:
            r.close()
