"""static/timeline.js in real headless Chromium, on a small page this test writes (the JS inlined, no network)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from browser import Recorder, chromium, serve
from facilitymap import timeline

pytestmark = pytest.mark.browser
JS = (Path(__file__).resolve().parent.parent / "facilitymap" / "static" / "timeline.js").read_text(encoding="utf-8")
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
SHOTS = Path(os.environ.get("FM_SCREENSHOTS", "/tmp/facilitymap-screenshots"))
HOSTILE = '<img src=x onerror="window.pwned=1">Camp "A" & <b>B</b>'

SPEC = {
    "label": "Year",
    "rules": [{"source": "src-a", "series": "buildings", "label": "sites with buildings, per A"},
              {"source": "src-b", "known_from": "2020-08", "label": "listed by B (August 2020)"}],
    "events": [{"source": "src-a", "field": "changed", "label": "security features changed"},
               {"source": "src-a", "field": "construction", "label": "construction ongoing"},
               {"source": "src-a", "field": "imagery", "label": "latest imagery"}],
}
RECORDS = [
    {"site_id": "s1", "source": "src-a", "record_id": "1",
     "attrs": {"buildings": {"2017": 0, "2018": 15, "2019": 15, "2020": None}, "changed": "3rdQt2018",
               "imagery": "19-Jun", "construction": {"2019": True, "2020": False}}},
    {"site_id": "s1", "source": "src-b", "record_id": "b1", "attrs": {}},
    {"site_id": "s2", "source": "src-a", "record_id": "2", "attrs": {"buildings": {"2018": 4, "2019": 6}}},
    {"site_id": "s3", "source": "src-b", "record_id": "b2", "attrs": {}},
    {"site_id": "s4", "source": "src-c", "record_id": "c1", "attrs": {}},
]
SITES = [{"site_id": s, "kind": "detention"} for s in ("s1", "s2", "s3", "s4")]
CLAIMS = [
    {"id": "drill", "date": "2018-09", "text": HOSTILE, "level": "area", "area": "Tekes", "site_ids": ["s1"],
     "source": "notes"},
    {"id": "later", "date": "2022-05-24", "text": "Published later", "level": "area", "area": "Tekes",
     "site_ids": ["s1"], "source": "notes"},
    {"id": "indicators", "period": "2017/2018", "text": "Indicators of internment", "level": "area",
     "area": "Tekes", "site_ids": ["s1"], "source": "notes"},
]

HARNESS = """
const time = DATA.time;
window.marks = [];
window.changes = [];
const panel = fmTimeline.panelTimeline(document, DATA.rows,
  {years: [2017, 2020], caption: "Timeline of " + DATA.name, onMark: (m) => window.marks.push(
     [m.kind, m.row.source, m.event ? (m.event.claim || m.event.field) : m.year])});
document.getElementById("panel").appendChild(panel);
const start = fmTimeline.hashYear(location.hash, time.years);
const slider = fmTimeline.yearSlider(document, time, {value: start || 2020, onChange: (y) => {
  window.changes.push(y);
  history.replaceState(null, "", fmTimeline.withHashYear(location.hash, y));
  redraw(y);
}});
document.getElementById("control").appendChild(slider);
function redraw(y) {
  const box = document.getElementById("chart");
  box.replaceChildren(fmTimeline.countsChart(document, time, {year: y, caption: "Sites per year"}));
  const list = document.getElementById("states");
  list.replaceChildren();
  for (const sid of Object.keys(time.sites).sort()) {
    const li = document.createElement("li");
    li.textContent = sid + ": " + fmTimeline.siteState(time, sid, y);
    list.appendChild(li);
  }
}
redraw(start || 2020);
document.documentElement.dataset.ready = "true";
"""


def page_html(data: dict) -> str:
    blob = json.dumps(data).replace("</", "<\\/")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>timeline test</title>'
            '<style>body{font:14px sans-serif;margin:16px} table{border-collapse:collapse;font-size:12px}'
            'td,th{border:1px solid #ccc;padding:2px 4px}</style></head><body><main>'
            '<h1>Timeline test</h1><section id="panel" aria-label="Site timeline"></section>'
            '<section id="control" aria-label="Time control"></section><div id="chart"></div>'
            '<ul id="states"></ul></main>'
            f"<script>{JS}</script><script>const DATA = {blob};\n{HARNESS}</script></body></html>")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    time = timeline.time_payload(SPEC, SITES, RECORDS, CLAIMS)
    rows = timeline.site_rows(SPEC, [r for r in RECORDS if r["site_id"] == "s1"], CLAIMS,
                              {"src-a": HOSTILE, "src-b": "Source B"})
    root = tmp_path_factory.mktemp("tl")
    (root / "index.html").write_text(page_html({"time": time, "rows": rows, "name": HOSTILE}), encoding="utf-8")
    with serve(root) as base:
        yield base, time, rows


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def open_page(browser, base, hash_=""):
    r = Recorder(browser, base, bypass_csp=True)
    r.page.goto(base + "index.html" + hash_)
    r.page.locator("html[data-ready='true']").wait_for(state="attached", timeout=15000)
    return r


def test_panel_timeline_rows_marks_and_table(browser, site):
    base, _, rows = site
    r = open_page(browser, base)
    p = r.page
    # source A (series and events) and the claims; source B dates nothing of this site, so it has no row
    assert p.locator(".fm-tl g.fm-tl-row").count() == len(rows) == 2
    titles = p.eval_on_selector_all(".fm-tl [data-source] > title, .fm-tl .fm-tl-claim > title",
                                    "els => els.map(e => e.textContent)")
    # every mark names its source: series bars and events name source A's title, claims their claims source
    assert sum(1 for t in titles if t.endswith(f"({HOSTILE})")) == 4 + 2 + 2  # 4 + 2 bars, 2 events
    assert sum(1 for t in titles if t.endswith("(notes)")) == 2
    assert "security features changed: Q3 2018 (" in " ".join(titles)
    assert "sites with buildings, per A: 2020: not given" in " ".join(titles)
    table = p.eval_on_selector_all(".fm-timeline-table tbody tr",
                                   "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
    assert [HOSTILE, "2018", "sites with buildings, per A: 15"] in table
    assert [HOSTILE, "Q3 2018", "security features changed"] in table
    assert [HOSTILE, "2019", "construction ongoing: yes"] in table and [HOSTILE, "2020", "construction ongoing: no"] in table
    assert [HOSTILE, "June 2019", "latest imagery"] in table
    assert ["notes", "2017\u20132018", "claim indicators (area-level: Tekes)"] in table
    assert ["notes", "September 2018", "claim drill (area-level: Tekes)"] in table
    # a claim after the axis is listed, not drawn at the axis's edge
    assert ["notes", "24 May 2022", "claim later (area-level: Tekes)"] in table
    assert p.locator(".fm-tl-claim[data-claim='later']").count() == 0
    # hostile text stays text
    assert p.evaluate("window.pwned") is None and p.locator("#panel img, #panel b").count() == 0
    assert HOSTILE in p.locator("figcaption").first.text_content()
    # a quarter is drawn wider than a month, and a two-year period wider than both
    widths = p.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.fm-tl-event, .fm-tl-claim')]
        .map(e => [e.querySelector('title').textContent.split(':')[0], Number(e.getAttribute('width'))]))""")
    assert widths["claim indicators (area-level"] > widths["security features changed"] > widths["latest imagery"]
    # marks open by click and by keyboard
    p.locator(".fm-tl-claim[data-claim='drill']").click()
    p.locator(".fm-tl-event").first.focus()
    p.keyboard.press("Enter")
    assert p.evaluate("window.marks") == [["claim", None, "drill"], ["event", "src-a", "changed"]]
    SHOTS.mkdir(parents=True, exist_ok=True)
    p.locator(".fm-tl").screenshot(path=str(SHOTS / "timeline-panel.png"))
    assert r.page_errors == [] and r.console_errors == [] and r.off_site_requests() == []
    r.close()


def test_slider_by_keyboard_updates_output_chart_and_hash(browser, site):
    base, time, _ = site
    r = open_page(browser, base)
    p = r.page
    slider = p.get_by_role("slider", name="Year")
    assert slider.get_attribute("type") == "range"
    assert slider.input_value() == "2020"
    slider.focus()
    p.keyboard.press("Home")
    assert slider.input_value() == "2017"
    SHOTS.mkdir(parents=True, exist_ok=True)
    p.locator("#control").screenshot(path=str(SHOTS / "timeline-slider-2017.png"))
    assert p.locator("output").text_content().startswith("2017: 0 sites with evidence, 3 of unknown date")
    p.keyboard.press("ArrowRight")
    assert slider.input_value() == "2018" and slider.get_attribute("aria-valuetext") == "2018"
    assert p.evaluate("location.hash") == "#t=2018"
    t18 = time["totals"]["2018"]
    assert p.locator("output").text_content() == (f"2018: {t18['yes']} sites with evidence, {t18['unknown']} of "
                                                  f"unknown date (shown, marked), {t18['no']} without")
    states = p.locator("#states li").all_text_contents()
    assert states == ["s1: yes", "s2: yes", "s3: unknown", "s4: unknown"]  # unknown kept, never dropped
    assert p.locator(".fm-counts-year[data-year='2018'] .fm-counts-selected").count() == 1
    p.keyboard.press("ArrowRight")
    p.locator("main").screenshot(path=str(SHOTS / "timeline-slider-2019.png"))
    p.keyboard.press("End")
    assert p.evaluate("window.changes") == [2017, 2018, 2019, 2020]
    assert p.locator("#states li").all_text_contents() == ["s1: yes", "s2: unknown", "s3: yes", "s4: unknown"]
    r.close()


@pytest.mark.parametrize("hash_, year", [("#t=2018", "2018"), ("#site=s1&t=2019", "2019"), ("#t=1999", "2020"),
                                         ("#t=20x8", "2020")])
def test_deep_link_sets_the_year(browser, site, hash_, year):
    base, _, _ = site
    r = open_page(browser, base, hash_)
    assert r.page.get_by_role("slider", name="Year").input_value() == year
    r.close()


def test_counts_chart_table_equals_the_payload(browser, site):
    base, time, _ = site
    r = open_page(browser, base)
    cells = r.page.eval_on_selector_all(".fm-counts-table tbody tr",
                                        "trs => trs.map(tr => [...tr.cells].map(c => c.textContent.replace('\u25a0 ', '')))")
    assert cells == [[rule["label"]] + [str(time["counts"][rule["source"]][str(y)]) for y in time["years"]]
                     for rule in time["rules"]]
    assert cells[0] == ["sites with buildings, per A", "0", "2", "2", "0"]
    r.close()


def test_axe_finds_no_serious_or_critical_issue(browser, site):
    base, _, _ = site
    r = open_page(browser, base, "#t=2018")
    r.page.add_script_tag(content=AXE)
    result = r.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == []
    r.close()


def test_panel_of_a_real_site_with_the_tekes_drill(browser, tmp_path):
    """A Xinjiang site in Tekes: ASPI v1's buildings per year and dated evidence, and the drill of September 2018
    as an area-level claim; saved as a screenshot for a person to look at."""
    from test_timeline import REPO, XINJIANG_TIME

    from facilitymap import builder
    from facilitymap.registry import load_sources

    spec = builder.load_map_spec(REPO / "maps", "xinjiang")
    data = builder.assemble(spec, builder.select_sources(load_sources(REPO / "sources"), spec, "xinjiang"))
    rec, claims = data.reconciled.records, data.annotations["claims"]
    drill = next(c for c in claims if c["id"] == "tekes-tiger-chair-drill")
    with_v1 = set(rec[rec.source == "aspi-camp-dataset-v1"].site_id)
    sid = sorted(s for s in drill["site_ids"] if s in with_v1)[0]
    titles = {s["slug"]: s["title"] for s in data.sources}
    rows = timeline.site_rows(XINJIANG_TIME, rec[rec.site_id == sid], [c for c in claims if sid in c["site_ids"]],
                              titles)
    time = timeline.time_payload(XINJIANG_TIME, data.reconciled.sites, rec, claims)
    (tmp_path / "index.html").write_text(page_html({"time": time, "rows": rows, "name": sid}), encoding="utf-8")
    with serve(tmp_path) as base:
        r = open_page(browser, base)
        p = r.page
        claim = p.locator(".fm-tl-claim[data-claim='tekes-tiger-chair-drill'] > title").text_content()
        assert claim.startswith("claim tekes-tiger-chair-drill (area-level: Tekes): ")
        table = p.eval_on_selector_all(".fm-timeline-table tbody tr",
                                       "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
        assert [titles["annotations-xinjiang-police-files"], "September 2018", "claim tekes-tiger-chair-drill (area-level: "
                "Tekes)"] in [[row[0], row[1], row[2]] for row in table]
        assert any(row[2].startswith("facilities with buildings, per ASPI v1: ") for row in table)
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.locator(".fm-tl").screenshot(path=str(SHOTS / "timeline-panel-xinjiang.png"))
        assert r.page_errors == [] and r.off_site_requests() == []
        r.close()
