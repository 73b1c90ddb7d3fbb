"""Bad rows are rejected (row number + reason) or repaired with a note; bad files stop with a SourceError that
names the file, the line where known, and the problem."""
from __future__ import annotations

import json

import pytest

from facilitymap.errors import SourceError
from facilitymap.readers import read_source

from conftest import vocab_of

POINT_FIELDS = {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"}
XJ = [73.0, 34.0, 97.0, 50.0]


def _balanced(rr):
    assert rr.rows == len(rr.records) + len(rr.rejected)
    for r in rr.rejected:
        assert isinstance(r["row"], int) and r["reason"]
    return rr


def _reasons(rr):
    return {r["row"]: r["reason"] for r in rr.rejected}


# --- bad rows ---------------------------------------------------------------------------------------------------

def test_bad_coordinates_and_swaps(make_source):
    text = "\n".join([
        "id,name,lat,lon",
        "1,Good,41.1,80.2",          # line 2: kept
        "2,Text,forty,80.2",         # line 3: not a number
        "3,Empty lat,,80.2",         # line 4: empty
        "4,Far,95.5,200.0",          # line 5: outside, and still outside when swapped
        "5,Swapped out of range,93.5,42.8",  # line 6: lat > 90, fits (and in the extent) when swapped
        "6,Swapped in range,80.17,41.12",    # line 7: both in range, outside the extent, inside when swapped
        "7,Elsewhere,10.0,10.0",     # line 8: outside the extent, not a swap: kept with a note
        "8,NaN,nan,80",              # line 9: not finite
    ]) + "\n"
    src = make_source(text, reader="csv", fields=POINT_FIELDS, fm={"extent": XJ, "required": ["record_id", "name"]})
    rr = _balanced(read_source(src))
    assert list(rr.records["record_id"]) == ["1", "7"]
    reasons = _reasons(rr)
    assert reasons[3] == "latitude 'forty' is not a number"
    assert reasons[4] == "latitude is empty"
    assert reasons[5].startswith("coordinates outside ±90/±180")
    assert reasons[6].startswith("latitude and longitude swapped: latitude 93.5 is outside ±90")
    assert reasons[7].startswith("latitude and longitude swapped: (80.17, 41.12) is outside the source's extent")
    assert "not a finite number" in reasons[9]
    assert rr.notes == [{"row": 8, "record_id": "7",
                         "note": f"point (latitude 10.0, longitude 10.0) is outside the source's extent {XJ}"}]


def test_swap_without_extent_only_when_out_of_range(make_source):
    text = "id,name,lat,lon\n1,A,120.5,45.0\n2,B,45.0,120.5\n"
    rr = _balanced(read_source(make_source(text, reader="csv", fields=POINT_FIELDS)))
    assert list(rr.records["record_id"]) == ["2"]  # without an extent a valid (lat, lon) cannot be judged swapped
    assert _reasons(rr)[2].startswith("latitude and longitude swapped")


def test_empty_name_and_duplicate_id(make_source):
    text = "id,name,lat,lon\n1,A,41,80\n2,,41,80\n3,  ,41,80\n1,A again,41.5,80.5\n4,D,41,80\n4,D2,41,80\n"
    src = make_source(text, reader="csv", fields=POINT_FIELDS, fm={"required": ["record_id", "name"]})
    rr = _balanced(read_source(src))
    assert list(rr.records["record_id"]) == ["1", "4"]
    assert list(rr.records["name"]) == ["A", "D"]  # the first row with an id is kept
    assert rr.rejected == [
        {"row": 3, "record_id": "2", "reason": "empty name"},
        {"row": 4, "record_id": "3", "reason": "empty name"},
        {"row": 5, "record_id": "1", "reason": "duplicate record id '1' (first kept at row 2)"},
        {"row": 7, "record_id": "4", "reason": "duplicate record id '4' (first kept at row 6)"},
    ]


def test_name_optional_unless_required_and_empty_id(make_source):
    text = "id,name,lat,lon\n1,,41,80\n,X,41,80\n"
    rr = _balanced(read_source(make_source(text, reader="csv", fields=POINT_FIELDS)))
    assert list(rr.records["record_id"]) == ["1"] and rr.records.iloc[0]["name"] is None
    assert rr.rejected == [{"row": 3, "record_id": None, "reason": "empty record id"}]


def test_value_that_does_not_fit_its_type_is_noted_not_guessed(make_source):
    text = "id,name,lat,lon,tier,seen\n1,A,41,80,?,20-Mar\n2,B,41,80,7,Smarch\n3,C,41,80,2,N/A\n"
    src = make_source(text, reader="csv",
                      fields={**POINT_FIELDS, "tier": "tier", "latest_imagery": "seen"})
    vocab = vocab_of(tier={"label": "Tier", "type": "integer", "min": 1, "max": 4},
                     latest_imagery={"label": "Seen", "type": "yearmonth"})
    rr = _balanced(read_source(src, vocab))
    assert len(rr.records) == 3
    attrs = list(rr.records["attrs"])
    assert "tier" not in attrs[0] and attrs[0]["latest_imagery"] == "2020-03"
    assert "tier" not in attrs[1] and "latest_imagery" not in attrs[1]
    assert attrs[2]["tier"] == 2 and "latest_imagery" not in attrs[2]  # N/A is missing, no note
    assert rr.records.iloc[0]["original"]["tier"] == "?"  # the original row keeps the value
    notes = [(n["row"], n["note"]) for n in rr.notes]
    assert notes == [
        (2, "tier: '?' is not a whole number; left out (the original row keeps it)"),
        (3, "tier: '7' is outside 1..4; left out (the original row keeps it)"),
        (3, "latest_imagery: 'Smarch' is not a month (YYYY-MM, YY-Mon or an RFC-2822 date); "
            "left out (the original row keeps it)"),
    ]


def _fc(*features):
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def _feature(props, geom):
    return {"type": "Feature", "properties": props, "geometry": geom}


BOWTIE = {"type": "Polygon", "coordinates": [[[80, 40], [81, 41], [81, 40], [80, 41], [80, 40]]]}


def test_self_intersecting_polygon_is_repaired_with_a_note(make_source):
    square = {"type": "Polygon", "coordinates": [[[80, 40], [81, 40], [81, 41], [80, 41], [80, 40]]]}
    flat = {"type": "Polygon", "coordinates": [[[80, 40], [81, 40], [82, 40], [80, 40]]]}
    text = _fc(_feature({"id": "a"}, square), _feature({"id": "b"}, BOWTIE), _feature({"id": "c"}, flat),
               _feature({"id": "d"}, {"type": "LineString", "coordinates": [[80, 40], [81, 41]]}),
               _feature({"id": "e"}, None))
    src = make_source(text, reader="geojson", layer="outlines", fields={"record_id": "id"})
    rr = _balanced(read_source(src))
    assert list(rr.records["record_id"]) == ["a", "b"]
    fixed = rr.records.iloc[1].geometry
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and fixed.area == pytest.approx(0.5)
    assert rr.notes[0]["row"] == 2 and rr.notes[0]["note"].startswith("polygon was not valid (Self-intersection")
    reasons = _reasons(rr)
    assert reasons[3].startswith("polygon is not valid") and "nothing is left" in reasons[3]
    assert reasons[4] == "geometry type LineString is not a Point, Polygon or MultiPolygon"
    assert reasons[5] == "no geometry"


def test_self_intersecting_osm_way_is_repaired(make_source):
    osm = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="40" lon="80"/><node id="2" lat="41" lon="81"/><node id="3" lat="40" lon="81"/>
  <node id="4" lat="41" lon="80"/>
  <way id="5"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/><tag k="name" v="Bow"/></way>
</osm>
"""
    rr = _balanced(read_source(make_source(osm, reader="osm", layer="outlines", fields={"name": "name"})))
    assert rr.records.iloc[0].geometry.is_valid and rr.records.iloc[0]["record_id"] == "way/5"
    assert rr.notes[0]["row"] == 5 and "repaired with make_valid" in rr.notes[0]["note"]


def test_position_check_between_pos_and_geometry(make_source):
    pt = {"type": "Point", "coordinates": [80.5, 41.25]}
    text = _fc(_feature({"ID": 1, "title": "Same", "pos": [41.25, 80.5]}, pt),
               _feature({"ID": 2, "title": "Swapped", "pos": [80.5, 41.25]}, pt),
               _feature({"ID": 3, "title": "Elsewhere", "pos": [41.26, 80.5]}, pt))
    src = make_source(text, reader="geojson", fields={"record_id": "ID", "name": "title"},
                      fm={"position_check": {"lat": "pos.0", "lon": "pos.1", "tolerance_m": 1}})
    rr = _balanced(read_source(src))
    assert list(rr.records["record_id"]) == ["1"]
    reasons = _reasons(rr)
    assert reasons[2] == "pos.0/pos.1 has latitude and longitude swapped against the geometry"
    assert reasons[3].startswith("pos.0/pos.1 (41.26, 80.5) and the geometry (41.25, 80.5) disagree by 11")


def test_malformed_features_are_rows_not_crashes(make_source):
    text = _fc(_feature({"id": 1}, {"type": "Point", "coordinates": [80, 40]}), "junk",
               {"type": "Feature", "properties": {"id": 3}, "geometry": {"type": "Point", "coordinates": "x"}})
    rr = _balanced(read_source(make_source(text, reader="geojson", fields={"record_id": "id"})))
    assert list(rr.records["record_id"]) == ["1"]
    assert _reasons(rr)[2] == "not a GeoJSON Feature"
    assert _reasons(rr)[3].startswith("geometry is not valid GeoJSON")


# --- bad files --------------------------------------------------------------------------------------------------

def _raises(src, line, *fragments):
    with pytest.raises(SourceError) as ei:
        read_source(src)
    e = ei.value
    assert e.path.endswith(src.resource["path"]) or e.path.endswith("datapackage.json")
    assert e.line == line
    for f in fragments:
        assert f in str(e), str(e)
    assert str(e).startswith(f"{e.path}:{line}: " if line is not None else f"{e.path}: ")
    return e


def test_broken_json_names_the_line(make_source):
    text = '{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature",,}\n]}'
    _raises(make_source(text, reader="geojson", fields={"record_id": "id"}), 3, "JSON is broken")


def test_json_that_is_not_a_feature_collection(make_source):
    _raises(make_source('[1, 2]', reader="geojson", fields={"record_id": "id"}), 1, "not a GeoJSON FeatureCollection")


def test_broken_xml_names_the_line(make_source):
    osm = '<?xml version="1.0"?>\n<osm>\n  <node id="1" lat="40" lon="80">\n  </way>\n</osm>\n'
    _raises(make_source(osm, reader="osm", fields={"name": "name"}), 4, "XML is broken", "mismatched tag")


def test_xml_root_and_entities(make_source):
    _raises(make_source('<?xml version="1.0"?>\n<gpx/>\n', reader="osm", fields={}), 2, "not OSM XML")
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE osm [\n<!ENTITY a "aaaaaaaaaa">\n]>\n<osm>&a;</osm>\n')
    _raises(make_source(bomb, reader="osm", fields={}, slug="bomb"), 3, "entity declarations are not allowed")


def test_broken_csv_unterminated_quote(make_source):
    text = 'id,name,lat,lon\n1,A,41,80\n2,"B,41,80\n3,C,41,80\n'
    e = _raises(make_source(text, reader="csv", fields=POINT_FIELDS), 4, "CSV is broken")
    assert "unexpected end of data" in str(e)


def test_broken_csv_wrong_field_count(make_source):
    text = "id,name,lat,lon\n1,A,41,80\n2,B,41,80,extra\n"
    _raises(make_source(text, reader="csv", fields=POINT_FIELDS), 3,
            "the row has 5 fields, the header has 4")


def test_wrong_delimiter_is_a_missing_column(make_source):
    text = "id;name;lat;lon\n1;A;41;80\n"
    _raises(make_source(text, reader="csv", fields=POINT_FIELDS), 1, "column 'id'", "is not in the file")


def test_latin1_declared_utf8_names_the_line_of_the_byte(make_source):
    raw = "id,name,lat,lon\n1,A,41,80\n2,Kaşgar,41,80\n3,Café,41,80\n".encode("utf-8")
    raw = raw.replace("Café".encode("utf-8"), "Café".encode("latin-1"))
    e = _raises(make_source(raw, reader="csv", fields=POINT_FIELDS), 4, "not valid utf-8", "byte 0xe9",
                "column 6")
    assert "another encoding" in str(e)
    # with a byte-order mark in front, the line and column are the same
    _raises(make_source(b"\xef\xbb\xbf" + raw, reader="csv", fields=POINT_FIELDS, slug="bom"), 4, "column 6")


def test_missing_column_named_in_mapping(make_source):
    text = "id,name,lat,lon\n1,A,41,80\n"
    e = _raises(make_source(text, reader="csv", fields={**POINT_FIELDS, "tier": "Tier"}), 1,
                "column 'Tier'", "facilitymap.fields.tier", "is not in the file")
    assert "test-src/datapackage.json" in str(e)


def test_missing_property_path_in_geojson(make_source):
    text = _fc(_feature({"id": 1, "names": {"en": "A"}}, {"type": "Point", "coordinates": [80, 40]}))
    _raises(make_source(text, reader="geojson", fields={"record_id": "id", "name_zh": "names.cn"}), 1,
            "column 'names.cn'")


def test_hash_not_matching(make_source):
    src = make_source("id,name,lat,lon\n1,A,41,80\n", reader="csv", fields=POINT_FIELDS,
                      resource={"hash": "sha256:" + "0" * 64})
    _raises(src, None, "sha256", "does not match the descriptor's sha256:0000")


def test_bytes_not_matching(make_source):
    src = make_source("id,name,lat,lon\n1,A,41,80\n", reader="csv", fields=POINT_FIELDS, resource={"bytes": 3})
    _raises(src, None, "file has 26 bytes, the descriptor says 3")


def test_file_changed_after_hash_was_cached(make_source):
    src = make_source("id,name,lat,lon\n1,A,41,80\n", reader="csv", fields=POINT_FIELDS)
    assert len(read_source(src).records) == 1
    src.path.write_text("id,name,lat,lon\n1,B,41,80\n")  # same size, new content
    _raises(src, None, "does not match the descriptor")


def test_missing_file(make_source):
    src = make_source("x", reader="csv", fields=POINT_FIELDS, write_file=False)
    _raises(src, None, "does not exist")


def test_empty_csv(make_source):
    _raises(make_source("", reader="csv", fields=POINT_FIELDS), None, "file is empty")


def test_unknown_reader(make_source):
    src = make_source("x", reader="csv", fields={}, fm={"reader": "shapefile"})
    _raises(src, None, "no reader 'shapefile'")


def test_broken_parquet(make_source):
    src = make_source(b"PAR1 this is not parquet", reader="geoparquet", layer="grid", kind=None,
                      fields={"record_id": "tile"})
    _raises(src, None, "not readable as GeoParquet")


def test_source_error_text():
    assert str(SourceError("a/b.csv", 7, "bad")) == "a/b.csv:7: bad"
    assert str(SourceError("a/b.csv", None, "bad")) == "a/b.csv: bad"


def test_other_required_fields(make_source):
    text = "id,name,lat,lon,county\n1,A,41,80,Aksu\n2,B,41,80,\n"
    src = make_source(text, reader="csv", fields={**POINT_FIELDS, "county": "county"},
                      fm={"required": ["record_id", "county"]})
    rr = _balanced(read_source(src))
    assert list(rr.records["county"]) == ["Aksu"]
    assert rr.rejected == [{"row": 3, "record_id": "2", "reason": "empty county"}]
