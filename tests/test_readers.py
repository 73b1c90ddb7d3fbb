"""Readers on the real shipped files (counts and known values), and on small files of every format made here."""
from __future__ import annotations

from collections import Counter

import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from facilitymap.readers import read_source
from facilitymap.registry import load_sources

from conftest import vocab_of

SHIPPED = {
    "aspi-xjdp-markers": 1351,
    "aspi-camp-dataset-v1": 380,
    "buzzfeed-2020": 443,
    "osm-reeducation-camps": 110,
    "sentinel-2-grid": 20430,
}


@pytest.fixture(scope="module")
def reads(sources_dir, xinjiang_vocab):
    by_slug = {s.slug: s for s in load_sources(sources_dir)}
    return {slug: read_source(by_slug[slug], xinjiang_vocab) for slug in SHIPPED}


@pytest.mark.parametrize("slug", sorted(SHIPPED))
def test_shipped_counts_balance_and_ids(reads, slug):
    rr = reads[slug]
    assert len(rr.records) == SHIPPED[slug]
    assert rr.rows == len(rr.records) + len(rr.rejected)
    assert rr.rejected == []  # the shipped snapshots are clean; a new rejection means a reader changed
    assert rr.records["record_id"].is_unique
    assert rr.records.crs.to_epsg() == 4326
    assert list(rr.records["row"]) == sorted(rr.records["row"])
    assert set(rr.records["source"]) == {slug}


def test_markers(reads):
    rec = reads["aspi-xjdp-markers"].records
    assert rec["kind"].value_counts().to_dict() == {"cultural": 966, "detention": 385}
    camp = rec.set_index("record_id").loc["3531"]
    assert camp["name"] == "Qumul Facility #5" and camp["row"] == 1
    assert (camp.geometry.x, camp.geometry.y) == (93.517472, 42.862675)  # geometry [lon, lat], not pos [lat, lon]
    assert camp["attrs"]["tier"] == 4
    assert camp["attrs"]["latest_imagery"] == "2020-03"  # from "Sun, 01 Mar 2020 00:00:00 +0000"
    assert camp["attrs"]["topics"] == ["Forced Labour", "Re-education", "Detention", "Qumul"]
    assert camp["original"]["imgDate"] == "Sun, 01 Mar 2020 00:00:00 +0000"
    site = rec.set_index("record_id").loc["3715"]
    assert site["kind"] == "cultural"
    assert (site["name_en"], site["name_zh"], site["name_ug"]) == ("Häzriti Begim Mazar", "艾孜地维罕穆麻扎", None)
    assert site["attrs"]["damage_index"] == 4 and site["attrs"]["subtype"] == "Relics_Shrine"
    tiers = Counter(a.get("tier") for a in rec[rec.kind == "detention"]["attrs"])
    assert tiers == {1: 109, 2: 94, 3: 70, 4: 110, None: 2}


def test_camp_dataset_v1(reads):
    rec = reads["aspi-camp-dataset-v1"].records.set_index("record_id")
    first = rec.loc["1"]
    assert first["name"] == "Tiemenguan Facility #1" and first["row"] == 2  # the header is line 1
    a = first["attrs"]
    assert a["tier"] == 3 and a["watchtowers"] is True and a["interior_fencing"] is True
    assert a["buildings"] == {"2017": 0, "2018": 15, "2019": 15, "2020": None}  # four columns, one series; 2020 empty
    assert a["construction"] == {"2019": False, "2020": False}
    assert a["security_changed_when"] == "2018-Q3"  # "3rdQt2018", at its precision
    assert a["latest_imagery"] == "2019-06"  # "19-Jun"
    assert a["etnam_code"] == "C_KO02" and "shawn_no" not in a  # "#N/A" is missing
    assert first.geometry.equals(Point(85.89292251, 41.79631457))
    lop = rec[rec["name"] == "Lop Facility #5"].iloc[0]
    assert lop["attrs"]["latest_imagery"] == "2021-06"  # "21-Jun", kept as published
    assert set(rec["kind"]) == {"detention"}


def test_buzzfeed(reads):
    rec = reads["buzzfeed-2020"].records
    row = rec.set_index("record_id").loc["106"]
    assert row["name"] == "Shufu - I" and row["attrs"]["status"] == "corroborated" and row["row"] == 2
    assert row.geometry.y == pytest.approx(39.3591944444444)
    unnamed = rec[rec["name"].isna()]
    assert len(unnamed) == 61 and all(n is None for n in unnamed["name"])  # None, not NaN or ""
    assert rec["attrs"].map(lambda a: a["status"]).value_counts()["Satellite – strong"] == 121


def test_osm_outlines(reads):
    rr = reads["osm-reeducation-camps"]
    rec = rr.records.set_index("record_id")
    ids = list(rec.index)
    assert sum(i.startswith("way/") for i in ids) == 109 and ids.count("relation/10154078") == 1
    # the relation's two outer ways are parts of its geometry, not records
    assert "way/734401965" not in rec.index and "way/734401966" not in rec.index
    rel = rec.loc["relation/10154078"]
    assert isinstance(rel.geometry, MultiPolygon) and len(rel.geometry.geoms) == 2
    assert rel["name_en"] == "Fukang Vocational Skills Education and Training Center"
    assert rel["row"] == 2254  # the line of <relation id="10154078">
    w = rec.loc["way/646988930"]
    assert w["row"] == 717 and isinstance(w.geometry, Polygon) and w.geometry.is_valid
    assert w["name_zh"] == "疏勒县法制教育转化学校" and w["attrs"]["wikidata"] == "Q58107373"
    assert rec["name"].notna().sum() == 64
    assert all(g.is_valid for g in rr.records.geometry)
    # the three tagged gate nodes are left out by the filter, and the note says so
    assert any("3 element(s)" in n["note"] and n["row"] is None for n in rr.notes)


def test_grid(reads):
    rec = reads["sentinel-2-grid"].records.set_index("record_id")
    assert "44TNN" in rec.index
    assert rec.loc["44TNN"]["attrs"] == {}  # the grid maps only its id: the other columns stay in the original row
    assert rec.loc["44TNN"]["original"]["epsg"] == 32644
    assert rec.loc["44TNN"]["kind"] is None
    assert isinstance(rec.loc["44TNN"]["original"]["center"], str)  # other geometry columns kept as WKT


def test_reading_twice_is_identical(sources_dir, xinjiang_vocab):
    src = next(s for s in load_sources(sources_dir) if s.slug == "aspi-xjdp-markers")
    a, b = read_source(src, xinjiang_vocab), read_source(src, xinjiang_vocab)
    assert a.records.drop(columns="geometry").equals(b.records.drop(columns="geometry"))
    assert list(a.records.geometry.to_wkb()) == list(b.records.geometry.to_wkb())


# --- formats, encodings and dialects, on files made here ------------------------------------------------------

def test_semicolon_cp1252_csv(make_source):
    text = "nr;titel;breite;länge\r\n1;Café Süd;41,5;80,1\r\n2;Zoë;41.6;80.2\r\n"
    src = make_source(text, reader="csv", encoding="cp1252",
                      resource={"dialect": {"delimiter": ";"}},
                      fields={"record_id": "nr", "name": "titel", "lat": "breite", "lon": "länge"})
    rr = read_source(src)
    assert list(rr.records["name"]) == ["Zoë"]
    # "41,5" is not a number here: rejected with its line and reason, not guessed at
    assert rr.rejected == [{"row": 2, "record_id": "1", "reason": "latitude '41,5' is not a number"}]
    assert rr.rows == 2


def test_tsv_latin1_with_quoted_newline(make_source):
    text = 'id\tname\tlat\tlon\n1\t"Two\nlines"\t40\t80\n2\tÅland\t41\t81\n'
    src = make_source(text, reader="csv", fmt="tsv", encoding="latin-1",
                      fields={"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"})
    rr = read_source(src)
    assert list(rr.records["name"]) == ["Two\nlines", "Åland"]
    assert list(rr.records["row"]) == [2, 4]  # the line where each row starts


def test_utf8_bom_and_utf16(make_source):
    text = "id,name,lat,lon\n1,Ürümqi,43.8,87.6\n"
    src = make_source("\ufeff" + text, reader="csv", fields={"record_id": "id", "name": "name", "lat": "lat",
                                                             "lon": "lon"})
    assert read_source(src).records.iloc[0]["name"] == "Ürümqi"
    src16 = make_source(text, reader="csv", encoding="utf-16", slug="utf16",
                        fields={"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"})
    assert read_source(src16).records.iloc[0]["name"] == "Ürümqi"


def test_geojson_dotted_paths_and_kind_mapping(make_source):
    import json

    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": 7, "t": "camp", "names": {"en": "A", "cn": "甲"}, "d": "20-Mar"},
         "geometry": {"type": "Point", "coordinates": [80.0, 40.0]}},
        {"type": "Feature", "properties": {"id": 8, "t": "mosque", "names": {"en": "B"}},
         "geometry": {"type": "Point", "coordinates": [81.0, 41.0]}},
        {"type": "Feature", "properties": {"id": 9, "t": "cultural", "names": {"en": "C"}},
         "geometry": {"type": "Point", "coordinates": [81.0, 41.0]}},
    ]}
    src = make_source(json.dumps(fc), reader="geojson",
                      fm={"kind": {"field": "t", "values": {"camp": "detention", "cultural": "cultural"}}},
                      fields={"record_id": "id", "name": "names.en", "name_zh": "names.cn",
                              "latest_imagery": "d"})
    rr = read_source(src, vocab_of(latest_imagery={"label": "Seen", "type": "yearmonth"}))
    assert list(rr.records["record_id"]) == ["7", "9"]
    assert rr.records.iloc[0]["name_zh"] == "甲" and rr.records.iloc[0]["attrs"]["latest_imagery"] == "2020-03"
    assert rr.records.iloc[1]["name_zh"] is None
    assert rr.rejected == [{"row": 2, "record_id": "8",
                            "reason": "kind: t = 'mosque' is not one of ['camp', 'cultural']"}]


OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="40.0" lon="80.0"/>
  <node id="2" lat="40.0" lon="80.1"/>
  <node id="3" lat="40.1" lon="80.1"/>
  <node id="4" lat="40.1" lon="80.0"/>
  <node id="5" lat="40.02" lon="80.02"/>
  <node id="6" lat="40.02" lon="80.05"/>
  <node id="7" lat="40.05" lon="80.05"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/></way>
  <way id="11"><nd ref="3"/><nd ref="4"/><nd ref="1"/></way>
  <way id="12"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="5"/></way>
  <relation id="20">
    <member type="way" ref="10" role="outer"/>
    <member type="way" ref="11" role="outer"/>
    <member type="way" ref="12" role="inner"/>
    <tag k="type" v="multipolygon"/>
    <tag k="camp" v="yes"/>
    <tag k="name" v="Ring"/>
  </relation>
  <way id="30"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="camp" v="yes"/></way>
  <way id="31"><nd ref="1"/><nd ref="99"/><nd ref="3"/><nd ref="1"/><tag k="camp" v="yes"/></way>
  <way id="32"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="5"/><tag k="camp" v="no"/></way>
</osm>
"""


def test_osm_relation_from_joined_ways_with_hole(make_source):
    src = make_source(OSM, reader="osm", fm={"filter": {"field": "camp", "equals": "yes"}},
                      fields={"name": "name"})
    rr = read_source(src)
    assert list(rr.records["record_id"]) == ["relation/20"]
    ring = rr.records.iloc[0]
    assert ring["row"] == 13 and ring["name"] == "Ring"
    assert isinstance(ring.geometry, Polygon) and len(ring.geometry.interiors) == 1  # two outer ways joined, hole cut
    assert ring.geometry.contains(Point(80.08, 40.08)) and not ring.geometry.contains(Point(80.04, 40.03))
    assert rr.rejected == [
        {"row": 21, "record_id": "way/30", "reason": "way/30 is not closed, so it is not an area"},
        {"row": 22, "record_id": "way/31", "reason": "node 99 of way/31 is not in the file"},
    ]
    assert rr.rows == 3 and any("way/32" in n["note"] for n in rr.notes)


def test_geoparquet_roundtrip(make_source, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "tiles.parquet"
    gpd.GeoDataFrame({"tile": ["A", "B", "A"], "epsg": [32644, 32645, 32644]},
                     geometry=[box(80, 40, 81, 41), box(81, 40, 82, 41), box(0, 0, 1, 1)],
                     crs="EPSG:4326").to_parquet(path)
    src = make_source(path.read_bytes(), reader="geoparquet", layer="grid", kind=None,
                      fields={"record_id": "tile", "utm_epsg": "epsg"})
    rr = read_source(src, vocab_of(utm_epsg={"label": "EPSG", "type": "integer"}))
    assert list(rr.records["record_id"]) == ["A", "B"]
    assert rr.rejected == [{"row": 3, "record_id": "A", "reason": "duplicate record id 'A' (first kept at row 1)"}]
    assert rr.records.iloc[1]["attrs"] == {"utm_epsg": 32645}


def test_month_normalisation():
    from facilitymap.fields import Field, FieldValueError, convert

    def to_month(value, fmt=None):
        return convert(Field("seen", "Seen", "yearmonth"), value, fmt)

    assert to_month("Sun, 01 Mar 2020 00:00:00 +0000") == "2020-03"
    assert to_month("Tue, 01 Jun 2021 00:00:00 +0000") == "2021-06"
    assert to_month("20-Mar") == "2020-03" and to_month("13-dec") == "2013-12"
    assert to_month("2019-11") == "2019-11" and to_month("2019-11-30") == "2019-11"
    assert to_month("30/11/2019", "%d/%m/%Y") == "2019-11"
    for bad in ("2019-13", "20-Foo", "March", "Sun, 99 Foo 2020"):
        with pytest.raises(FieldValueError):
            to_month(bad)


def test_explicit_date_format_in_the_mapping(make_source):
    text = "id,name,lat,lon,seen\n1,A,41,80,30/11/2019\n"
    src = make_source(text, reader="csv", fields={"record_id": "id", "name": "name", "lat": "lat", "lon": "lon",
                                                  "latest_imagery": {"from": "seen", "format": "%d/%m/%Y"}})
    vocab = vocab_of(latest_imagery={"label": "Seen", "type": "yearmonth"})
    assert read_source(src, vocab).records.iloc[0]["attrs"]["latest_imagery"] == "2019-11"


def test_bidi_controls_are_named_in_the_notes(make_source):
    """A value holding bidi control characters is kept as it is and named in the notes (row, record, field)."""
    text = ("id,name,lat,lon,county\n"
            "a1,Plain,40.9,80.9,Tekes\n"
            "a2,Camp \u202eevil,40.9,80.9,Tekes\u2067x\u200f\n"
            "a3\u061c,Ok,41.0,81.0,Aksu\n")
    src = make_source(text, reader="csv", fields={"record_id": "id", "name": "name", "lat": "lat", "lon": "lon",
                                                  "county": "county"})
    rr = read_source(src)
    assert rr.records.set_index("record_id").loc["a2", "name"] == "Camp \u202eevil"
    got = [(n["row"], n["record_id"], n["note"].split(";")[0]) for n in rr.notes]
    assert got == [
        (3, "a2", "name: contains bidi control character(s) U+202E"),
        (3, "a2", "county: contains bidi control character(s) U+200F, U+2067"),
        (4, "a3\u061c", "record_id: contains bidi control character(s) U+061C"),
    ]
