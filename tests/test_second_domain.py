"""A map of an invented second domain (prisons of Examplestan), styled by its spec alone: its legend, colours,
filters and panel labels come from the spec, and the page carries no word of the Xinjiang map."""

from __future__ import annotations

import csv
import re

import pytest

from browser import Recorder, chromium, serve
from facilitymap import layers, page, render

pytestmark = pytest.mark.browser

CSV = """code,name,lat,long,type,beds
P1,North Ridge Facility,10.10,20.10,federal,1200
P2,Harbour Street Jail,10.20,20.25,state,300
P3,Old Mill Holding Centre,10.32,20.05,county,80
P4,Lakeside Remand Unit,10.05,20.40,state,450
P5,East Gate Annex,10.40,20.30,,60
"""
SPEC = {
    "name": "prisons",
    "title": "Prisons of Examplestan",
    "description": "An invented list of prisons, made in a test.",
    "sources": ["examplestan-prisons"],
    "fields": {
        "facility_type": {"label": "Facility type", "type": "string"},
        "capacity": {"label": "Capacity (beds)", "type": "integer", "min": 0},
    },
    "layers": [{
        "id": "prisons", "title": "Prisons", "where": {"kind": "prison"}, "color_by": "facility_type",
        "colors": {"federal": "#1b9e77", "state": "#d95f02"}, "note": "Type as given by the publisher.",
        "visible": True,
    }],
}
SOURCE = {
    "slug": "examplestan-prisons", "title": "Examplestan prison list (invented)",
    "publisher": "Examplestan Open Data (invented)", "layer": "sites",
    "licence": {"name": "CC0-1.0", "title": "Public domain dedication", "path": None},
    "citation": "Examplestan Open Data, prison list (invented for a test)", "citation_url": "https://example.org/prisons",
    "retrieved": "2026-01-01", "files": ["prisons.csv"],
}
FORBIDDEN = re.compile(r"aspi|buzzfeed|xinjiang|uyghur|tier", re.IGNORECASE)


def sites_from_csv(path) -> dict:
    """The sites.geojson a build makes of the CSV: one site per row, its values attributed to their record."""
    feats = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rec = {"source": SOURCE["slug"], "record_id": row["code"]}
            attrs = {k: [{"value": v, **rec}] for k, v in (("facility_type", row["type"] or None),
                                                            ("capacity", int(row["beds"]))) if v is not None}
            lon, lat = float(row["long"]), float(row["lat"])
            feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {
                "site_id": "ex-" + row["code"], "name": row["name"], "kind": "prison", "lon": lon, "lat": lat,
                "facility_type": row["type"] or None, "capacity": int(row["beds"]), "records": [rec],
                "attributes": attrs, "disagreements": []}})
    return {"type": "FeatureCollection", "features": feats}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("prisons")
    (root / "prisons.csv").write_text(CSV, encoding="utf-8")
    payload = page.build_payload(SPEC, sources=[SOURCE], sites=sites_from_csv(root / "prisons.csv"))
    html = render.render_map(payload, basemap="none")
    (root / "index.html").write_text(html, encoding="utf-8")
    with serve(root) as base:
        yield payload, html, base


def test_payload_legend_from_the_spec(served):
    payload = served[0]
    (layer,) = payload["layers"]
    # declared colours in the spec's order, then other values from the palette, then the missing value in grey
    assert layer["legend"] == [["federal", "#1b9e77", 1], ["state", "#d95f02", 2], ["county", layers.PALETTE[0], 1],
                               [None, layers.MISSING_COLOR, 1]]
    assert payload["fields"]["facility_type"]["label"] == "Facility type"
    assert payload["fields"]["capacity"]["label"] == "Capacity (beds)"


def test_page_styled_by_its_spec(served):
    payload, html, base = served
    assert FORBIDDEN.findall(html) == []
    with chromium() as browser:
        r = Recorder(browser, base)
        try:
            pg = r.open("index.html")
            assert r.requests == [base + "index.html"]
            assert r.page_errors == [] and r.console_errors == []
            assert pg.evaluate("document.documentElement.dataset.siteCount") == "5"
            legend = pg.eval_on_selector_all(".fm-legend li", """els => els.map(e => [e.textContent,
                getComputedStyle(e.querySelector('.fm-swatch')).backgroundColor])""")
            assert legend == [["federal (1)", "rgb(27, 158, 119)"], ["state (2)", "rgb(217, 95, 2)"],
                              ["county (1)", "rgb(68, 119, 170)"], ["Not given (1)", "rgb(154, 163, 173)"]]
            legend_text = pg.text_content(".fm-legend")
            assert "Prisons" in legend_text and "Type as given by the publisher." in legend_text
            assert pg.get_attribute(".fm-legend a", "href") == "https://example.org/prisons"
            colours = pg.evaluate("['ex-P1', 'ex-P3', 'ex-P5'].map(i => FacilityMap.siteById.get(i).marker.options.fillColor)")
            assert colours == ["#1b9e77", layers.PALETTE[0], layers.MISSING_COLOR]
            assert pg.get_by_label("Prisons").count() >= 1  # the layer control names the spec's layer

            pg.goto(base + "index.html#site=ex-P2")
            pg.locator("#fm-panel[data-site='ex-P2']").wait_for(state="attached")
            body = pg.text_content("#fm-panel-body")
            assert body.startswith("Prisons \u00b7 Facility type: state")
            assert "Facility type" in body and "Capacity (beds)" in body and "300" in body
            assert "Examplestan Open Data" in body

            pg.click("#fm-btn-search")
            assert pg.text_content(".fm-fieldset legend") == "Prisons"
            pg.uncheck("#fm-filter-prisons-1")  # state
            assert pg.evaluate("document.documentElement.dataset.siteCount") == "3"
            pg.uncheck("#fm-filter-prisons-none")
            assert pg.evaluate("document.documentElement.dataset.siteCount") == "2"

            pg.click("#fm-btn-about")
            about = pg.text_content("#fm-panel-body")
            assert "Prisons: coloured by Facility type. Type as given by the publisher." in about
            text = pg.evaluate("document.body.innerText")
            assert FORBIDDEN.findall(text) == []
        finally:
            r.close()
