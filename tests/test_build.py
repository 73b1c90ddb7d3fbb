"""End-to-end: the shipped sources through `build` to maps/xinjiang/, and the CLI through click's runner."""
from __future__ import annotations

import csv
import re
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facilitymap.builder import BuildError, build
from facilitymap.cli import main

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ["annotations.geojson", "build-report.json", "citations.json", "coverage.json", "embed.html",
           "index.html", "records.csv", "sites.csv", "sites.geojson", "sources.json"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The default map built once from the shipped sources into a temporary maps/ folder."""
    maps = tmp_path_factory.mktemp("maps")
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    shutil.copy(ROOT / "maps" / "xinjiang-places.csv", maps / "xinjiang-places.csv")  # the spec's place table
    build("xinjiang", sources_dir=ROOT / "sources", maps_dir=maps)
    return maps / "xinjiang"


def test_every_output_is_written(built):
    assert sorted(p.name for p in built.iterdir()) == OUTPUTS


def test_report_balances_for_every_source(built):
    report = json.loads((built / "build-report.json").read_text())
    for slug, s in report["sources"].items():
        assert s["rows"] == s["records"] + len(s["rejected"]), slug
        for r in s["rejected"]:
            assert isinstance(r["row"], int) and r["reason"], (slug, r)
    assert report["sources"]["aspi-xjdp-markers"]["rows"] == 1351
    assert report["sources"]["aspi-camp-dataset-v1"]["rows"] == 380
    assert report["sources"]["buzzfeed-2020"]["rows"] == 443
    assert report["sources"]["sentinel-2-grid"]["rows"] == 20430


def test_every_record_lands_in_exactly_one_site(built):
    """Nothing lost: every accepted record is in records.csv with a site, and that site lists it back."""
    sites = json.loads((built / "sites.geojson").read_text())["features"]
    listed = {(r["source"], r["record_id"]): f["properties"]["site_id"]
              for f in sites for r in f["properties"]["records"]}
    with open(built / "records.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    report = json.loads((built / "build-report.json").read_text())
    site_sources = {r["source"] for r in rows}
    for slug in site_sources:
        assert sum(1 for r in rows if r["source"] == slug) == report["sources"][slug]["records"]
    assert len(listed) == len(rows)
    for r in rows:
        assert listed[(r["source"], r["record_id"])] == r["site_id"]


def test_sites_geojson_contract(built):
    fc = json.loads((built / "sites.geojson").read_text())
    assert fc["type"] == "FeatureCollection"
    ids = [f["properties"]["site_id"] for f in fc["features"]]
    assert len(ids) == len(set(ids))
    kinds = {f["properties"]["kind"] for f in fc["features"]}
    assert kinds == {"detention", "cultural"}
    for f in fc["features"]:
        p = f["properties"]
        assert p["name"], p["site_id"]
        assert p["records"] and all(set(r) == {"source", "record_id"} for r in p["records"])
        for field, values in p["attributes"].items():
            for v in values:
                assert v["source"] in {r["source"] for r in p["records"]}, (p["site_id"], field)
    with open(built / "sites.csv", newline="", encoding="utf-8-sig") as fh:
        assert len(list(csv.DictReader(fh))) == len(fc["features"])


def test_matching_evidence_in_sites_and_report(built):
    """Every scored link says how likely and why; no disagreement is one of typography or spelling alone."""
    from facilitymap.builder import load_map_spec
    from facilitymap.linkage import fold

    sites = json.loads((built / "sites.geojson").read_text(encoding="utf-8"))["features"]
    table = load_map_spec(ROOT / "maps", "xinjiang")["places_table"]
    scored = [m for f in sites for m in f["properties"]["match"] if m["method"] == "probabilistic"]
    assert len(scored) > 600
    for m in scored:
        assert 0.5 <= m["probability"] <= 1 and m["evidence"].startswith("same place: ") and "apart" in m["evidence"]
    for f in sites:
        for d in f["properties"]["disagreements"]:
            if d["field"] == "location":
                continue
            values = [v["value"] for v in d["values"]]
            if d["field"] in ("county", "prefecture"):
                keys = {table.canonical(fold(v)) for v in values}
            else:
                keys = {fold(v) if isinstance(v, str) else json.dumps(v) for v in values}
            assert len(keys) > 1, (f["properties"]["site_id"], d)
    report = json.loads((built / "build-report.json").read_text(encoding="utf-8"))["matching"]
    assert report["method"] == "probabilistic"
    for x in report["to_review"]:
        assert [r["source"] for r in x["records"]][0] == x["source"] and len(x["records"]) == 2
    assert report["overrides"] == []  # the Xinjiang map forces and forbids nothing


def test_sources_json_names_licence_and_hash(built):
    sources = json.loads((built / "sources.json").read_text())
    slugs = {s["slug"] for s in sources}
    assert {"aspi-xjdp-markers", "buzzfeed-2020", "osm-reeducation-camps"} <= slugs
    for s in sources:
        assert s["title"] and s["licence"]["name"]
        assert s["retrieved"] or s.get("retrieved_note"), s["slug"]  # a date, or why it is unknown
        for f in s["files"]:
            assert len(f["sha256"]) == 64


def test_rebuild_is_byte_identical(built, tmp_path):
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", tmp_path / "xinjiang.yaml")
    shutil.copy(ROOT / "maps" / "xinjiang-places.csv", tmp_path / "xinjiang-places.csv")
    build("xinjiang", sources_dir=ROOT / "sources", maps_dir=tmp_path)
    for name in OUTPUTS:
        assert (tmp_path / "xinjiang" / name).read_bytes() == (built / name).read_bytes(), name


def _copy_sources(tmp_path: Path, slugs: list[str]) -> Path:
    dst = tmp_path / "sources"
    for slug in slugs:
        shutil.copytree(ROOT / "sources" / slug, dst / slug)
    return dst


SMALL_SPEC = """name: small
title: Small
sources: [buzzfeed-2020]
fields:
  status: {label: "Status", type: string}
"""


def test_bad_file_stops_the_build_and_keeps_previous_outputs(tmp_path):
    sources = _copy_sources(tmp_path, ["buzzfeed-2020"])
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text(SMALL_SPEC)
    build("small", sources_dir=sources, maps_dir=maps, basemap="none")
    before = {p.name: p.read_bytes() for p in (maps / "small").iterdir()}

    csv_path = sources / "buzzfeed-2020" / "Xinjiang_camps_database_BuzzFeed.csv"
    data = csv_path.read_bytes()
    csv_path.write_bytes(data.replace(b"corroborated", b"corroborat\xe9d", 1))  # now not UTF-8, hash differs
    with pytest.raises((BuildError, Exception)) as err:
        build("small", sources_dir=sources, maps_dir=maps, basemap="none")
    assert "Xinjiang_camps_database_BuzzFeed.csv" in str(err.value)
    after = {p.name: p.read_bytes() for p in (maps / "small").iterdir()}
    assert after == before
    assert sorted(p.name for p in maps.iterdir()) == ["small", "small.yaml"]  # no temporary folder left


def test_unknown_map_and_missing_source_are_named(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    with pytest.raises(BuildError, match="nosuch.yaml"):
        build("nosuch", sources_dir=ROOT / "sources", maps_dir=maps)
    (maps / "m.yaml").write_text("sources: [buzzfeed-2020, not-a-source]\n")
    with pytest.raises(BuildError, match="not-a-source"):
        build("m", sources_dir=ROOT / "sources", maps_dir=maps)
    (maps / "t.yaml").write_text("sources: [buzzfeed-2020]\ntitel: typo\n")
    with pytest.raises(BuildError, match="titel"):
        build("t", sources_dir=ROOT / "sources", maps_dir=maps)


def test_cli_build_validate_and_sources(tmp_path):
    sources = _copy_sources(tmp_path, ["buzzfeed-2020", "osm-reeducation-camps"])
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text(SMALL_SPEC.replace("[buzzfeed-2020]", "[buzzfeed-2020, osm-reeducation-camps]")
                                     + "  alt_name: {label: Other name}\n  wikidata: {label: Wikidata}\n"
                                       "  amenity: {label: Amenity}\n  remark: {label: Remark, type: text}\n")
    runner = CliRunner()
    res = runner.invoke(main, ["build", "small", "--sources", str(sources), "--maps", str(maps),
                               "--basemap", "none"])
    assert res.exit_code == 0, res.output
    assert "built" in res.output and (maps / "small" / "index.html").exists()

    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["sources", "--sources", str(sources), "--json"])
    assert res.exit_code == 0, res.output
    table = {r["slug"]: r for r in json.loads(res.output)}
    assert table["buzzfeed-2020"]["records"] + table["buzzfeed-2020"]["rejected"] == 443
    assert table["buzzfeed-2020"]["licence"] == "CC-BY-4.0"

    (sources / "buzzfeed-2020" / "Xinjiang_camps_database_BuzzFeed.csv").write_text("name_id,id\n")
    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 1
    assert "Xinjiang_camps_database_BuzzFeed.csv" in res.output
    res = runner.invoke(main, ["build", "small", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 2 and "Xinjiang_camps_database_BuzzFeed.csv" in res.output


def test_a_large_page_is_built_with_a_warning(tmp_path, monkeypatch):
    from facilitymap import builder

    shutil.copytree(ROOT / "sources" / "buzzfeed-2020", tmp_path / "sources" / "buzzfeed-2020")
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text(SMALL_SPEC)
    assert build("small", sources_dir=tmp_path / "sources", maps_dir=maps).warnings == []
    monkeypatch.setattr(builder, "PAGE_WARN_MB", 0)
    result = build("small", sources_dir=tmp_path / "sources", maps_dir=maps)
    assert any("index.html is" in w for w in result.warnings)
    assert (maps / "small" / "index.html").exists()


def test_the_build_returns_the_report_it_wrote(tmp_path):
    """outputs.write_outputs returns the report it writes; the build result carries it (not read back)."""
    shutil.copytree(ROOT / "sources" / "buzzfeed-2020", tmp_path / "sources" / "buzzfeed-2020")
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text(SMALL_SPEC)
    result = build("small", sources_dir=tmp_path / "sources", maps_dir=maps, basemap="none")
    assert result.report == json.loads((maps / "small" / "build-report.json").read_text(encoding="utf-8"))
    assert result.files == OUTPUTS and result.report["sources"]["buzzfeed-2020"]["rows"] == 443


# --- a map of another domain, with its own fields --------------------------------------------------------------

PRISONS_CSV = ("code,name,lat,long,type,beds\n"
               "P1,North Gaol,48.10,11.50,federal,1200\n"
               "P2,Harbour Remand Centre,48.20,11.70,state,350\n"
               "P3,Hill Camp,48.30,11.90,state,many\n"      # capacity is not a whole number: noted, kept in the row
               "P4,River Unit,48.40,12.10,federal,-5\n")    # below min 0: noted, kept in the row

PRISONS_SPEC = """name: prisons
title: Prisons of Examplestan
sources: [examplestan-prisons]
fields:
  facility_type: {label: "Facility type", type: string}
  capacity: {label: "Capacity (beds)", type: integer, min: 0}
"""


def _prisons(tmp_path, fields=None, spec=PRISONS_SPEC):
    import hashlib

    sources, maps = tmp_path / "sources", tmp_path / "maps"
    folder = sources / "examplestan-prisons"
    folder.mkdir(parents=True)
    maps.mkdir()
    raw = PRISONS_CSV.encode()
    (folder / "prisons.csv").write_bytes(raw)
    (folder / "datapackage.json").write_text(json.dumps({
        "name": "examplestan-prisons", "title": "Prisons list (made in the test)",
        "licenses": [{"name": "CC0-1.0", "title": "CC0", "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "sources": [{"title": "Made in the test", "path": "https://example.org/prisons"}],
        "resources": [{"name": "prisons", "path": "prisons.csv", "format": "csv", "encoding": "utf-8",
                       "bytes": len(raw), "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}],
        "facilitymap": {"layer": "sites", "reader": "csv", "resource": "prisons", "publisher": "Example Org",
                        "citation": "Example Org, prisons list", "retrieved": "2024-01-01",
                        "upstream": "https://example.org/prisons.csv", "kind": "detention",
                        "fields": fields or {"record_id": "code", "name": "name", "lat": "lat", "lon": "long",
                                             "facility_type": "type", "capacity": "beds"}}}))
    (maps / "prisons.yaml").write_text(spec)
    return sources, maps


def test_a_map_of_another_domain_declares_its_own_fields(tmp_path):
    sources, maps = _prisons(tmp_path)
    build("prisons", sources_dir=sources, maps_dir=maps, basemap="none")
    out = maps / "prisons"
    feats = {f["properties"]["records"][0]["record_id"]: f["properties"]
             for f in json.loads((out / "sites.geojson").read_text())["features"]}
    assert sorted(feats) == ["P1", "P2", "P3", "P4"]
    p1 = feats["P1"]["attributes"]
    assert p1["facility_type"] == [{"value": "federal", "source": "examplestan-prisons", "record_id": "P1"}]
    assert p1["capacity"] == [{"value": 1200, "source": "examplestan-prisons", "record_id": "P1"}]  # an integer
    assert "capacity" not in feats["P3"]["attributes"] and "capacity" not in feats["P4"]["attributes"]
    notes = json.loads((out / "build-report.json").read_text())["sources"]["examplestan-prisons"]["notes"]
    assert [(n["record_id"], n["note"]) for n in notes] == [
        ("P3", "capacity: 'many' is not a whole number; left out (the original row keeps it)"),
        ("P4", "capacity: '-5' is outside 0..; left out (the original row keeps it)")]
    with open(out / "records.csv", newline="", encoding="utf-8") as fh:
        assert any("many" in "".join(row.values()) for row in csv.DictReader(fh))  # nothing lost
    # the page's field labels come from the spec (and the package roles), no word of another map
    html = (out / "index.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="fm-data">(.*?)</script>', html, re.S)[1])
    assert data["fields"]["facility_type"] == {"label": "Facility type", "type": "string"}
    assert data["fields"]["capacity"] == {"label": "Capacity (beds)", "type": "integer", "min": 0}
    assert data["fields"]["county"]["label"] == "County" and "tier" not in data["fields"]
    # without `layers:` the map has one layer of every site, coloured alike
    assert [(x["id"], x["count"]) for x in data["layers"]] == [("sites", 4)]


def test_a_field_the_map_does_not_declare_is_named_at_build_and_validate(tmp_path):
    fields = {"record_id": "code", "name": "name", "lat": "lat", "lon": "long", "facility_type": "type",
              "beds": "beds"}
    sources, maps = _prisons(tmp_path, fields=fields)
    want = "examplestan-prisons/datapackage.json: facilitymap.fields.beds: 'beds' is not a field of map 'prisons'"
    with pytest.raises(BuildError, match=re.escape(want)):
        build("prisons", sources_dir=sources, maps_dir=maps, basemap="none")
    runner = CliRunner()
    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps), "--map", "prisons"])
    assert res.exit_code == 1 and want in res.output
    # without a map, validate checks the form of field names only, and says so
    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 0, res.output
    assert "checked for their form only" in res.output and "--map MAP" in res.output


@pytest.mark.parametrize("declaration, problem", [
    ("capacity: {label: Beds, type: integr}", "fields: capacity: type 'integr' is not one of string, text"),
    ("capacity: {label: Beds, type: integer, min: 9, max: 1}", "fields: capacity: min 9 is greater than max 1"),
    ("capacity: {type: integer}", "fields: capacity: needs a label (text)"),
    ("capacity: {label: Beds, type: string, max: 3}", "fields: capacity: max: a range needs type integer"),
    ("lat: {label: Breite, type: string}", "fields: lat: is a role of type number; a map may change its label"),
    ("capacity: {label: Beds, colour: red}", "fields.capacity: unknown key 'colour' (known: description, label"),
])
def test_field_declarations_are_checked_with_file_and_key(tmp_path, declaration, problem):
    spec = PRISONS_SPEC.split("fields:")[0] + "fields:\n  facility_type: {label: Type}\n  " + declaration + "\n"
    sources, maps = _prisons(tmp_path, spec=spec)
    with pytest.raises(BuildError) as err:
        build("prisons", sources_dir=sources, maps_dir=maps, basemap="none")
    assert f"{maps / 'prisons.yaml'}: {problem}" in str(err.value)


def test_a_role_can_be_relabelled_and_region_is_prefecture(tmp_path):
    fields = {"record_id": "code", "name": "name", "lat": "lat", "lon": "long", "region": "type"}
    spec = PRISONS_SPEC.split("fields:")[0] + "fields:\n  prefecture: {label: State}\n"
    sources, maps = _prisons(tmp_path, fields=fields, spec=spec)
    build("prisons", sources_dir=sources, maps_dir=maps, basemap="none")
    feats = json.loads((maps / "prisons" / "sites.geojson").read_text())["features"]
    assert sorted(f["properties"]["prefecture"] for f in feats) == ["federal", "federal", "state", "state"]
