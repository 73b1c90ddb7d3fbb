"""Time on the real map (issue 12): the Xinjiang map built from the shipped sources carries its time rules into the
page (payload, compact rows, year control, panel timelines) and into the exports; a second, invented map gets the
same control from its spec and descriptor alone."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from browser import Recorder, chromium, serve
from test_timeline import V1, v1_counts_by_hand

REPO = Path(__file__).resolve().parent.parent
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
SHOTS = Path(os.environ.get("FM_SCREENSHOTS", "/tmp/facilitymap-screenshots"))
DRILL = "tekes-tiger-chair-drill"


def page_blocks(html: str) -> tuple[dict, list[list]]:
    """The core payload and the detail blocks, parsed from index.html as the page parses them."""
    core = json.loads(re.search(r'<script type="application/json" id="fm-data">(.*?)</script>', html, re.S).group(1))
    details = [json.loads(m.group(1)) for m in
               re.finditer(r'<script type="application/json" id="fm-detail-\d+">(.*?)</script>', html, re.S)]
    return core, details


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The Xinjiang map assembled once; its outputs written (no basemap) and its payload kept for comparisons."""
    from facilitymap import builder, outputs
    from facilitymap.registry import load_sources

    spec = builder.load_map_spec(REPO / "maps", "xinjiang")
    data = builder.assemble(spec, builder.select_sources(load_sources(REPO / "sources"), spec, "xinjiang"))
    out = tmp_path_factory.mktemp("xinjiang")
    outputs.write_outputs(data, out, "none")
    payload = json.loads(json.dumps(builder.page_payload(data)))
    return out, payload, data


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def served(built):
    with serve(built[0]) as base:
        yield base


def open_map(browser, base, hash_="", **size):
    r = Recorder(browser, base, bypass_csp=True, **size)  # bypass_csp only so that axe can be injected
    r.page.goto(base + "index.html" + hash_)
    r.page.locator("html[data-map-ready='true']").wait_for(state="attached", timeout=20000)
    return r


def state(page) -> dict:
    return page.evaluate("""() => ({count: Number(document.documentElement.dataset.siteCount),
        year: document.documentElement.dataset.timeYear || null,
        unknown: Number(document.documentElement.dataset.timeUnknown || 0), hash: location.hash,
        hollow: FacilityMap.sites.filter(s => s.hollow).length,
        hollowShown: FacilityMap.sites.filter(s => s.hollow && s.shown && FacilityMap.map.hasLayer(s.marker)).length})""")


# --- the payload in the page ---------------------------------------------------------------------------------------

def test_counts_per_year_in_the_built_page_equal_an_independent_count_of_the_csv(built):
    core, _ = page_blocks((built[0] / "index.html").read_text(encoding="utf-8"))
    t = core["time"]
    assert t["counts"][V1] == v1_counts_by_hand() == {"2017": 181, "2018": 258, "2019": 328, "2020": 231}
    assert t["years"] == [2017, 2018, 2019, 2020]
    assert t["rules"][0] == {"source": V1, "kind": "series", "field": "buildings",
                             "label": "facilities with buildings, per ASPI v1"}
    detention = int((built[2].sites["kind"] == "detention").sum())
    assert len(t["sites"]) == detention  # every detention site placed in time or marked unknown; none dropped
    for y in t["years"]:
        assert sum(t["totals"][str(y)].values()) == detention


def test_core_block_carries_states_and_the_detail_blocks_the_rows(built):
    out, payload, _ = built
    core, details = page_blocks((out / "index.html").read_text(encoding="utf-8"))
    t = core["time"]
    assert "site_rows" not in t
    full = payload["time"]
    for sid, (states, basis) in t["sites"].items():  # one character per year, back to the payload's states
        assert [None if c == "-" else c == "1" for c in states] == full["sites"][sid]["exists"]
        assert [None if c == "-" else int(c, 36) for c in basis] == full["sites"][sid]["basis"]
    ids = [row[0] for row in core["sites"]["rows"]]
    flat = [d for block in details for d in block]
    with_rows = {ids[i] for i, d in enumerate(flat) if "~time" in d}
    assert with_rows == set(full["site_rows"])
    assert len(json.dumps(t)) < 25_000  # the core block stays small: per-site rows are parsed when a panel opens


def test_exports_carry_dates_at_their_precision(built):
    out, _, _ = built
    with open(out / "records.csv", encoding="utf-8-sig", newline="") as fh:
        v1 = {r["record_id"]: json.loads(r["attrs"]) for r in csv.DictReader(fh) if r["source"] == V1}
    assert v1["1"]["security_changed_when"] == "2018-Q3"  # "3rdQt2018" in the CSV of ASPI
    assert v1["1"]["latest_imagery"] == "2019-06"  # "19-Jun"
    assert v1["1"]["buildings"] == {"2017": 0, "2018": 15, "2019": 15, "2020": None}
    halves = {a["security_changed_when"] for a in v1.values() if "security_changed_when" in a}
    assert {"2019-H2", "2018/2019", "2019"} <= halves and not any("Hf" in h or "Qt" in h for h in halves)
    feats = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))["features"]
    site = next(f["properties"] for f in feats if {"source": V1, "record_id": "1"} in f["properties"]["records"])
    (when,) = [a for a in site["attributes"]["security_changed_when"] if a["source"] == V1]
    assert when["value"] == "2018-Q3"
    assert when["interval"] == {"start": "2018-07-01", "end": "2018-09-30", "precision": "quarter", "text": "2018-Q3"}
    (bld,) = site["attributes"]["buildings"]
    assert bld["value"] == {"2017": 0, "2018": 15, "2019": 15, "2020": None} and "interval" not in bld
    with open(out / "sites.csv", encoding="utf-8-sig", newline="") as fh:
        months = {r["latest_imagery"] for r in csv.DictReader(fh)} - {""}
    assert months and all(re.fullmatch(r"\d{4}-\d{2}", m) for m in months)


# --- in Chromium --------------------------------------------------------------------------------------------------

def test_counts_are_visible_in_the_page(browser, served, built):
    r = open_map(browser, served)
    try:
        rows = r.page.eval_on_selector_all(
            "#fm-time .fm-counts-table tbody tr", "trs => trs.map(tr => [...tr.cells].map(c => c.innerText.trim()))")
        by_hand = v1_counts_by_hand()
        assert ["\u25a0 facilities with buildings, per ASPI v1"] + [str(by_hand[str(y)]) for y in range(2017, 2021)] \
            in [[re.sub(r"\s+", " ", c) for c in row] for row in rows]
        assert r.page.locator("#fm-time svg rect[data-source='aspi-camp-dataset-v1'] > title").all_text_contents()[:4] \
            == [f"facilities with buildings, per ASPI v1: {y}: {by_hand[str(y)]}" for y in range(2017, 2021)]
        assert r.page_errors == [] and r.console_errors == [] and r.off_site_requests() == []
    finally:
        r.close()


def test_slider_by_keyboard_keeps_unknown_date_sites_visible_and_marked(browser, served, built):
    _, payload, _ = built
    t, n_all = payload["time"], len(payload["sites"]["features"])
    r = open_map(browser, served)
    p = r.page
    try:
        start = state(p)
        assert (start["count"], start["year"], start["hollow"]) == (n_all, None, 0)  # all years: every site
        assert "Date unknown" in p.text_content(".fm-legend")
        slider = p.get_by_role("slider", name="Year")
        slider.focus()
        p.keyboard.press("Home")
        for year in (2017, 2018, 2019, 2020):
            if year > 2017:
                p.keyboard.press("ArrowRight")
            s, tot = state(p), t["totals"][str(year)]
            assert s["year"] == str(year) and s["hash"] == f"#t={year}"
            assert s["count"] == n_all - tot["no"]  # only sites a rule says did not exist yet are hidden
            assert s["unknown"] == s["hollow"] == s["hollowShown"] == tot["unknown"]  # kept, drawn hollow
            assert p.locator("#fm-time output").text_content().startswith(
                f"{year}: {tot['yes']} sites with evidence, {tot['unknown']} of unknown date")
            assert p.locator(f"#fm-time .fm-counts-year[data-year='{year}'] .fm-counts-selected").count() == 1
            if year in (2017, 2019):
                SHOTS.mkdir(parents=True, exist_ok=True)
                p.screenshot(path=str(SHOTS / f"time-slider-{year}.png"))
        assert state(p)["count"] < n_all
        # a hollow site is one the rules leave undated in that year: e.g. a site known only from BuzzFeed (2020)
        hollow = p.evaluate("FacilityMap.sites.filter(s => s.hollow).map(s => s.id)")
        assert all(t["sites"][sid]["exists"][3] is None for sid in hollow)
        p.locator("#fm-time-all").click()
        s = state(p)
        assert (s["count"], s["year"], s["hash"], s["hollow"]) == (n_all, None, "", 0)
        assert r.page_errors == [] and r.console_errors == []
    finally:
        r.close()


def test_deep_links_set_the_year_and_keep_the_site(browser, served, built):
    _, payload, _ = built
    t, n_all = payload["time"], len(payload["sites"]["features"])
    drill = next(c for c in payload["claims"] if c["id"] == DRILL)
    sid = sorted(drill["site_ids"])[0]
    r = open_map(browser, served, "#t=2018")
    p = r.page
    try:
        assert p.get_by_role("slider", name="Year").input_value() == "2018"
        assert state(p)["count"] == n_all - t["totals"]["2018"]["no"]
        p.goto(served + f"index.html#site={sid}&t=2019")
        p.locator(f"#fm-panel[data-site={json.dumps(sid)}]").wait_for(state="attached")
        assert state(p)["year"] == "2019" and p.get_by_role("slider", name="Year").input_value() == "2019"
        assert p.evaluate("location.hash") == f"#site={sid}&t=2019"
        p.click("#fm-close")
        assert p.evaluate("location.hash") == "#t=2019"  # closing the panel keeps the year
        p.goto(served + "index.html#t=1999")  # not a year of the map: all years
        assert state(p)["year"] is None and state(p)["count"] == n_all
    finally:
        r.close()
    r = open_map(browser, served, f"#site={sid}&t=2017")  # a fresh page opened at a site and a year
    try:
        assert r.page.evaluate("document.getElementById('fm-panel').dataset.site") == sid
        assert state(r.page)["year"] == "2017"
    finally:
        r.close()


def test_panel_timeline_of_a_tekes_site(browser, served, built):
    """The site's rows in the page equal timeline.site_rows; the Tekes drill sits at September 2018, area-level,
    naming its source; a mark opens its citation; a finding's mark opens the finding."""
    _, payload, data = built
    rows = payload["time"]["site_rows"]
    drill = next(c for c in payload["claims"] if c["id"] == DRILL)
    with_v1 = {sid for sid, recs in zip(data.sites["site_id"], data.sites["records"])
               if any(r["source"] == V1 for r in recs)}
    n_marks = lambda i: sum(len(r.get("events") or []) + len(r.get("series") or []) for r in rows[i])  # noqa: E731
    sid = max(sorted(s for s in drill["site_ids"] if s in with_v1), key=n_marks)  # the richest, for the picture
    r = open_map(browser, served, f"#site={sid}", height=1100)
    p = r.page
    try:
        sample = [sid] + sorted(rows)[:40:5]
        got = p.evaluate("ids => ids.map(i => FacilityMap.timelineRows(FacilityMap.siteById.get(i)))", sample)
        assert got == [rows[i] for i in sample]
        fig = p.locator("#fm-panel-body .fm-tl")
        claim = fig.locator(f".fm-tl-claim[data-claim='{DRILL}'] > title").text_content()
        source_title = next(s["title"] for s in payload["sources"] if s["slug"] == drill["source"])
        assert claim == f"claim {DRILL} (area-level: Tekes): September 2018 ({source_title})"
        table = fig.locator("table").evaluate("t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent))")
        assert [source_title, "September 2018", f"claim {DRILL} (area-level: Tekes)"] in table
        assert any(row[2].startswith("facilities with buildings, per ASPI v1: ") for row in table)
        assert all(m.get_attribute("aria-label") for m in fig.locator("[role=button]").all())
        SHOTS.mkdir(parents=True, exist_ok=True)
        fig.scroll_into_view_if_needed()
        fig.screenshot(path=str(SHOTS / "time-panel.png"))
        fig.locator(f".fm-tl-event[data-source='{V1}']").first.press("Enter")
        focused = p.evaluate("document.activeElement.closest('.fm-cites') && document.activeElement.textContent")
        assert focused and "Xinjiang's detention facilities dataset, version 1" in focused
        fig.locator(f".fm-tl-claim[data-claim='{DRILL}']").click()
        p.locator(f"#fm-panel[data-claim={json.dumps(DRILL)}]").wait_for(state="attached")
        assert r.page_errors == [] and r.console_errors == []
    finally:
        r.close()


def test_map_level_findings_at_their_dates(browser, served):
    r = open_map(browser, served)
    p = r.page
    try:
        marks = p.eval_on_selector_all("#fm-time .fm-tl-claim > title", "ts => ts.map(t => t.textContent)")
        assert any(m.startswith(f"claim {DRILL} (area-level: Tekes): September 2018 (Annotations: ") for m in marks)
        assert any(m.startswith("claim konasheher-internment-indicators (area-level: Konasheher): 2017\u20132018")
                   for m in marks)
        p.locator(f"#fm-time .fm-tl-claim[data-claim='{DRILL}']").click()
        p.locator(f"#fm-panel[data-claim={json.dumps(DRILL)}]").wait_for(state="attached")
    finally:
        r.close()


@pytest.mark.parametrize("where", ["year", "site-year", "phone-year"])
def test_axe_no_serious_or_critical_issue_in_the_time_states(browser, served, built, where):
    drill = next(c for c in built[1]["claims"] if c["id"] == DRILL)
    hash_ = f"#site={sorted(drill['site_ids'])[0]}&t=2018" if where == "site-year" else "#t=2017"
    size = {"width": 375, "height": 667} if where.startswith("phone") else {}
    r = open_map(browser, served, hash_, **size)
    p = r.page
    try:
        p.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # tables included
        p.add_script_tag(content=AXE)
        result = p.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert bad == []
    finally:
        r.close()


# --- a second map: a plain date field, the same control, no Python -----------------------------------------------

PRISONS = """code,name,lat,long,opened
P1,North Ridge Facility,10.10,20.10,2016-03-15
P2,Harbour Street Jail,10.20,20.25,2019-02-01
P3,Old Mill Holding Centre,10.32,20.05,
P4,Lakeside Remand Unit,10.05,20.40,2018-07-01
"""
PRISONS_SPEC = """name: prisons
title: Prisons of Examplestan
sources: [examplestan-prisons]
fields:
  opened: {label: "Opened", type: date}
time:
  years: [2015, 2020]
  rules:
    - {source: examplestan-prisons, from: opened, label: "open, per the prison list"}
"""


def test_a_second_map_gets_the_control_from_spec_and_descriptor_alone(browser, tmp_path):
    from facilitymap.builder import build

    folder = tmp_path / "sources" / "examplestan-prisons"
    folder.mkdir(parents=True)
    raw = PRISONS.encode("utf-8")
    (folder / "prisons.csv").write_bytes(raw)
    desc = {"name": "examplestan-prisons", "title": "Examplestan prison list (invented)", "description": "made here",
            "licenses": [{"name": "CC0-1.0", "title": "Public domain dedication",
                          "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
            "sources": [{"title": "Invented", "path": "https://example.org/prisons"}],
            "contributors": [{"title": "Examplestan Open Data", "role": "publisher"}],
            "resources": [{"name": "prisons", "path": "prisons.csv", "format": "csv", "mediatype": "text/csv",
                           "encoding": "utf-8", "bytes": len(raw), "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}],
            "facilitymap": {"layer": "sites", "reader": "csv", "resource": "prisons", "publisher": "Examplestan Open Data",
                            "citation": "Examplestan Open Data, prison list (invented)", "retrieved": "2026-01-01",
                            "upstream": "https://example.org/prisons.csv", "kind": "prison",
                            "fields": {"record_id": "code", "name": "name", "lat": "lat", "lon": "long",
                                       "opened": "opened"}}}
    (folder / "datapackage.json").write_text(json.dumps(desc), encoding="utf-8")
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "prisons.yaml").write_text(PRISONS_SPEC, encoding="utf-8")
    out = build("prisons", tmp_path / "sources", maps, basemap="none").out_dir
    feats = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))["features"]
    opened = {f["properties"]["name"]: f["properties"]["attributes"].get("opened") for f in feats}
    assert opened["Harbour Street Jail"][0]["interval"] == {"start": "2019-02-01", "end": "2019-02-01",
                                                            "precision": "day", "text": "2019-02-01"}
    assert opened["Old Mill Holding Centre"] is None
    with serve(out) as base:
        r = open_map(browser, base, "#t=2017")
        p = r.page
        try:
            s = state(p)
            # 2017: North Ridge (2016) open; Harbour Street (2019) and Lakeside (2018) not yet; Old Mill undated
            assert (s["year"], s["count"], s["unknown"], s["hollowShown"]) == ("2017", 2, 1, 1)
            assert p.evaluate("FacilityMap.sites.filter(s => s.hollow).map(s => s.title)") == ["Old Mill Holding Centre"]
            slider = p.get_by_role("slider", name="Year")
            slider.focus()
            p.keyboard.press("End")
            assert (state(p)["year"], state(p)["count"]) == ("2020", 4)
            rows = p.eval_on_selector_all("#fm-time .fm-counts-table tbody tr",
                                          "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
            assert rows == [["\u25a0 open, per the prison list", "0", "1", "1", "2", "3", "3"]]
            assert r.page_errors == [] and r.console_errors == []
        finally:
            r.close()
