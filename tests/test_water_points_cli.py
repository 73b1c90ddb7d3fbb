"""Issue 8's "done when": a map of another domain, made with no Python, only as a person would (through the CLI).

Water points of Examplestan, from three lists the tests write here: a CSV (UTF-8), a GeoJSON and a semicolon CSV in
Windows-1252 with accented names. Each is added with `facilitymap add`; the placeholders are filled by editing the
JSON and README text; a map spec with `fields` and `layers` is written; `validate` and `build` run; all through the
command line (click's runner over `facilitymap.cli.main`). The built page is then opened in headless Chromium: its
legend, colours, labels and panel come from the spec, the accented names read right, and no word of the Xinjiang
map is anywhere in it.
"""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from browser import Recorder, chromium, serve
from facilitymap.cli import main

WELLS_CSV = ("well_id,well_name,latitude,longitude,water_type,depth_m,condition\n"
             "W-01,Northgate Well,-14.20,28.10,borehole,85,working\n"
             "W-02,Old Market Well,-14.35,28.40,dug well,12,broken\n"
             "W-03,Riverside Borehole,-14.50,28.70,borehole,120,working\n"
             "W-04,Hilltop Well,-14.65,29.00,,40,\n")          # no type, no condition given
SPRINGS = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [29.9, -15.0]},
     "properties": {"ref": "S1", "name": "Blue Spring", "type": "spring", "condition": "working"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [30.1, -15.1]},
     "properties": {"ref": "S2", "name": "Stone Spring", "type": "spring", "condition": "dry"}}]}
PUMPS_CP1252 = ("Code;Nom;Lat;Lon;Type;État\r\n"
                "P1;Pompe de la Fontaine Hélène;-13.80;28.10;hand pump;en panne\r\n"
                "P2;Puits Saint-Étienne;-13.95;28.40;hand pump;fonctionne\r\n"
                "P3;Fuente de la Peña – Nord;-13.60;28.70;motor pump;fonctionne\r\n")
SHOTS = Path(os.environ.get("FM_SCREENSHOTS", "/tmp/facilitymap-screenshots"))
ACCENTED = ("Pompe de la Fontaine Hélène", "Puits Saint-Étienne", "Fuente de la Peña – Nord")

SPEC = """\
name: water
title: Water points of Examplestan
description: Wells, springs and pumps from three lists, mapped together.
cite_as: Example Water Desk, "Water points of Examplestan" (2026).
sources: [examplestan-wells, examplestan-springs, examplestan-pumps]
fields:
  water_type: {label: "Type of water point", type: string}
  condition: {label: "Condition as reported", type: string}
  depth_m: {label: "Depth (m)", type: number, min: 0}
layers:
  - id: pumps
    title: Pumps by condition
    where: {source: examplestan-pumps}
    color_by: condition
    colors: {fonctionne: "#1a9850", en panne: "#d73027"}
    labels: {fonctionne: "Working (fonctionne)", en panne: "Broken (en panne)"}
    note: Condition in the pump list's own words.
  - id: water_points
    title: Water points by type
    color_by: water_type
    colors: {borehole: "#08519c"}
    labels: {borehole: "Borehole (drilled)"}
    missing_label: Type not given
    note: Type as given by each list.
"""
# Colours the spec gives, by legend text; the other values take the palette's colours in order.
SPEC_COLOURS = {"Working (fonctionne)": "#1a9850", "Broken (en panne)": "#d73027", "Borehole (drilled)": "#08519c"}

# What a person fills in for each placeholder: descriptor keys and README text.
FILLED = {
    "examplestan-wells": {"title": "Wells of Examplestan (2026 survey)", "kind": "well",
                          "fields": {"name": "well_name"}},
    "examplestan-springs": {"title": "Springs of Examplestan", "kind": "spring",
                            "fields": {"water_type": "type"}},
    "examplestan-pumps": {"title": "Pompes à eau de l'Examplestan", "kind": "pump",
                          "fields": {"water_type": "Type", "condition": "État"}},
}

# Words of the Xinjiang map: none may appear in the page of another map (whole words for the short ones).
XINJIANG_WORDS = ("aspi", "buzzfeed", "xinjiang", "uyghur", "uighur", "konasheher", "shufu", "ohchr",
                  "police files", "re-education", "reeducation", "detention", "tier", "camp", "camps", "cultural",
                  "damage index", "tekes", "hotan", "kashgar", "urumqi")


def cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res


def fill_descriptor(path, slug):
    """Replace every TODO of a descriptor the way a person editing the JSON would, and check the mapping."""
    desc = json.loads(path.read_text(encoding="utf-8"))
    want = FILLED[slug]
    desc["title"] = want["title"]
    desc["description"] = f"{want['title']}: one row per water point, as published by the Example Water Desk."
    desc["licenses"] = [{"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0 International",
                         "path": "https://creativecommons.org/licenses/by/4.0/"}]
    desc["sources"] = [{"title": "Example Water Desk", "path": f"https://water.example.org/{slug}"}]
    fm = desc["facilitymap"]
    fm["publisher"] = "Example Water Desk"
    fm["citation"] = f"Example Water Desk, {want['title']}, 2026."
    fm["retrieved"] = "2026-11-30"
    fm.pop("retrieved_note", None)
    fm["upstream"] = f"https://water.example.org/{slug}/download"
    fm.pop("upstream_note", None)
    fm["kind"] = want["kind"]
    fm["fields"].update(want["fields"])
    path.write_text(json.dumps(desc, ensure_ascii=False, indent=2), encoding="utf-8")


def fill_readme(path, slug):
    """Every README line with a TODO rewritten in a person's words."""
    title = FILLED[slug]["title"]
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "TODO" in line:
            if line.startswith("# "):
                line = f"# {title}"
            elif line.startswith("|"):
                key = line.split("|")[1].strip()
                line = f"| {key} | Example Water Desk, 2026-11-30, https://water.example.org/{slug} |"
            else:
                line = "Listed by the Example Water Desk; coordinates from handheld GPS, to about 10 m."
        elif line.startswith("each value means"):
            line = ""
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    root = tmp_path_factory.mktemp("water")
    (root / "in").mkdir()
    (root / "in" / "wells.csv").write_text(WELLS_CSV, encoding="utf-8")
    (root / "in" / "springs.geojson").write_text(json.dumps(SPRINGS), encoding="utf-8")
    (root / "in" / "pompes.csv").write_bytes(PUMPS_CP1252.encode("cp1252"))
    sources, maps = root / "sources", root / "maps"
    maps.mkdir()
    # the map's fields first, so that `add --map water` proposes them for columns named like them
    (maps / "water.yaml").write_text(SPEC.split("layers:")[0], encoding="utf-8")
    added = {}
    for file, slug in (("wells.csv", "examplestan-wells"), ("springs.geojson", "examplestan-springs"),
                       ("pompes.csv", "examplestan-pumps")):
        res = cli("add", root / "in" / file, "--slug", slug, "--sources", sources, "--map", "water", "--maps", maps)
        assert res.exit_code == 0, res.output
        added[slug] = res.output
    before = cli("validate", "--sources", sources, "--maps", maps, "--map", "water")
    for slug in FILLED:
        fill_descriptor(sources / slug / "datapackage.json", slug)
        fill_readme(sources / slug / "README.md", slug)
    (maps / "water.yaml").write_text(SPEC, encoding="utf-8")
    validated = cli("validate", "--sources", sources, "--maps", maps, "--map", "water")
    built = cli("build", "water", "--sources", sources, "--maps", maps, "--basemap", "none")
    assert built.exit_code == 0, built.output
    return {"root": root, "out": maps / "water", "added": added, "before": before, "validated": validated,
            "built": built}


def test_add_detects_what_a_person_then_checks(water):
    out = water["added"]
    assert "encoding: cp1252" in out["examplestan-pumps"] and "delimiter semicolon" in out["examplestan-pumps"]
    assert "Hélène" in out["examplestan-pumps"]  # the words to check read right
    assert "record_id: column `well_id`" in out["examplestan-wells"]
    assert "name: column `well_name`" in out["examplestan-wells"]
    assert "water_type: column `water_type` (named like the map's field" in out["examplestan-wells"]
    assert "condition: column `condition`" in out["examplestan-springs"]
    # the placeholders are warnings, not errors, until a person fills them in; then there are none
    assert water["before"].exit_code == 0 and "TODO" in water["before"].output
    assert water["validated"].exit_code == 0, water["validated"].output
    assert "TODO" not in water["validated"].output and "warning" not in water["validated"].output


def test_the_build_accounts_for_every_row_with_the_map_own_fields(water):
    out = water["out"]
    assert "built" in water["built"].output and "9 sites" in water["built"].output
    report = json.loads((out / "build-report.json").read_text(encoding="utf-8"))
    assert {s: (r["rows"], r["records"], len(r["rejected"])) for s, r in report["sources"].items()} == {
        "examplestan-wells": (4, 4, 0), "examplestan-springs": (2, 2, 0), "examplestan-pumps": (3, 3, 0)}
    assert report["sites_by_kind"] == {"pump": 3, "spring": 2, "well": 4}
    with open(out / "sites.csv", newline="", encoding="utf-8") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert set(ACCENTED) <= set(rows)
    pump = rows["Fuente de la Peña – Nord"]
    assert (pump["water_type"], pump["water_type_source"]) == ("motor pump", "examplestan-pumps")
    assert (pump["condition"], pump["condition_source"]) == ("fonctionne", "examplestan-pumps")
    assert rows["Hilltop Well"]["water_type"] == "" and rows["Hilltop Well"]["water_type_source"] == ""


def test_no_word_of_the_xinjiang_map_in_the_page(water):
    html = (water["out"] / "index.html").read_text(encoding="utf-8").lower()
    found = [w for w in XINJIANG_WORDS if re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", html)]
    assert found == []
    for name in ACCENTED:
        assert json.dumps(name, ensure_ascii=False)[1:-1].lower() in html or name.lower() in html


def _legend(page) -> list[list]:
    """[[section title, [[text, css colour], ...]], ...] as the legend shows them."""
    return page.evaluate("""() => {
        const out = [];
        let section = null;
        for (const el of document.querySelectorAll('.fm-legend-body > *')) {
            const title = el.matches('h2') ? el.textContent
                : el.matches('details') ? el.querySelector('summary').textContent : null;
            if (title !== null) { section = [title, []]; out.push(section); }
            for (const li of el.querySelectorAll('li')) {
                const sw = li.querySelector('.fm-swatch');
                section[1].push([li.textContent, getComputedStyle(sw).backgroundColor]);
            }
        }
        return out; }""")


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


PIXEL_AT = """ids => {
    const map = FacilityMap.map, r = map.options.renderer, c = r._container, ctx = c.getContext('2d');
    const m = c.width / c.clientWidth, min = r._bounds.min;
    return ids.map(id => {
        const f = FacilityMap.siteFeature(id), p = map.latLngToLayerPoint([f.properties.lat, f.properties.lon]);
        const x = Math.round((p.x - min.x + 3) * m), y = Math.round((p.y - min.y) * m);
        return Array.from(ctx.getImageData(x, y, 1, 1).data);
    });
}"""


@pytest.mark.browser
def test_the_page_is_styled_and_labelled_by_its_spec(water):
    from facilitymap.layers import MISSING_COLOR, PALETTE

    out = water["out"]
    geo = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))
    sites = {f["properties"]["name"]: f["properties"] for f in geo["features"]}
    with chromium() as browser, serve(out) as base:
        rec = Recorder(browser, base)
        page = rec.open("index.html")
        assert rec.page_errors == [] and rec.console_errors == [] and rec.off_site_requests() == []
        assert page.title() == "Water points of Examplestan"

        legend = _legend(page)
        assert [title for title, _ in legend] == ["Pumps by condition", "Water points by type: 6 sites"]
        pumps, points = dict(legend[0][1]), dict(legend[1][1])
        assert pumps == {"Broken (en panne) (1)": _rgb("#d73027"), "Working (fonctionne) (2)": _rgb("#1a9850")}
        assert points["Borehole (drilled) (2)"] == _rgb("#08519c")
        # values the spec gives no colour: the palette's colours, in order, none of the spec's; missing: grey
        others = {k: v for k, v in points.items() if not k.startswith(("Borehole", "Type not given"))}
        assert sorted(others) == ["dug well (1)", "spring (2)"]
        assert set(others.values()) <= {_rgb(c) for c in PALETTE[:2]}
        assert len(set(others.values())) == 2 and not set(others.values()) & {_rgb(c) for c in SPEC_COLOURS.values()}
        assert points["Type not given (1)"] == _rgb(MISSING_COLOR)
        assert "Condition in the pump list's own words." in page.text_content(".fm-legend-body")

        # each marker on the canvas has its legend colour
        colour_of = {"Pompe de la Fontaine Hélène": "#d73027", "Puits Saint-Étienne": "#1a9850",
                     "Northgate Well": "#08519c", "Hilltop Well": MISSING_COLOR}
        ids = [sites[n]["site_id"] for n in colour_of]
        for (name, want), px in zip(colour_of.items(), page.evaluate(PIXEL_AT, ids)):
            rgb = tuple(int(want[i:i + 2], 16) for i in (1, 3, 5))
            assert px[3] > 200 and all(abs(a - b) <= 4 for a, b in zip(px[:3], rgb)), (name, px)

        # the panel: the accented name, the spec's field labels, the value with its source's title
        page.goto(base + "index.html#site=" + sites["Pompe de la Fontaine Hélène"]["site_id"])
        page.locator("html[data-map-ready='true']").wait_for(state="attached")
        page.locator("#fm-panel-title:not(:empty)").wait_for(state="attached")
        assert page.text_content("#fm-panel-title") == "Pompe de la Fontaine Hélène"
        body = page.text_content("#fm-panel-body")
        assert "Condition as reported" in body and "en panne" in body
        assert "Type of water point" in body and "hand pump" in body
        assert "Pompes à eau de l'Examplestan, record P1" in body
        assert "Licence: Creative Commons Attribution 4.0 International" in body
        assert "Example Water Desk, Pompes à eau de l'Examplestan, 2026. Example Water Desk." in body
        assert "Names" not in body and "name_en" not in body  # no English name stands in for a French one
        page.goto(base + "index.html#site=" + sites["Northgate Well"]["site_id"])
        page.locator("#fm-panel-title", has_text="Northgate Well").wait_for(state="attached")
        assert "Depth (m)" in page.text_content("#fm-panel-body")

        # search finds the accented names typed with and without their accents
        page.click("#fm-btn-search")
        page.fill("#fm-q", "Hélène")
        assert page.evaluate("document.documentElement.dataset.siteCount") == "1"
        page.fill("#fm-q", "Peña")
        assert page.evaluate("document.documentElement.dataset.siteCount") == "1"
        page.fill("#fm-q", "etienne")
        assert page.evaluate("document.documentElement.dataset.siteCount") == "1"
        text = page.evaluate("document.body.innerText").lower()
        assert [w for w in XINJIANG_WORDS if re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", text)] == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "water-points-cli.png"))
        rec.close()


def test_publish_gives_a_folder_that_names_only_this_map(water):
    maps = water["out"].parent
    res = cli("publish", "water", "--maps", maps, "--base-url", "https://news.example.org/maps/water/")
    assert res.exit_code == 0, res.output
    pub = maps / "water-published"
    html = (pub / "index.html").read_text(encoding="utf-8")
    assert '<link rel="canonical" href="https://news.example.org/maps/water/index.html">' in html
    assert "Pompes à eau de l'Examplestan" in html  # the sources section, from the descriptors
    package = json.loads((pub / "datapackage.json").read_text(encoding="utf-8"))
    assert {s["title"] for s in package["sources"]} >= {t["title"] for t in FILLED.values()}
    for text in (html.lower(), json.dumps(package, ensure_ascii=False).lower()):
        assert [w for w in XINJIANG_WORDS if re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", text)] == []
