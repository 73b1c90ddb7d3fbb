"""Dates with their precision: every format of the shipped sources, display, export conventions, field types."""
from __future__ import annotations

import csv
import json
from datetime import date
from email.utils import parsedate_to_datetime

import pytest

from facilitymap import dates
from facilitymap.fields import Field, FieldValueError, convert

V1 = "aspi-camp-dataset-v1"


@pytest.mark.parametrize("text, iso, shown, start, end, precision", [
    ("2018-07-05", "2018-07-05", "5 July 2018", "2018-07-05", "2018-07-05", "day"),
    ("2019-06", "2019-06", "June 2019", "2019-06-01", "2019-06-30", "month"),
    ("2020-02", "2020-02", "February 2020", "2020-02-01", "2020-02-29", "month"),
    ("3rdQt2018", "2018-Q3", "Q3 2018", "2018-07-01", "2018-09-30", "quarter"),
    ("2018-Q4", "2018-Q4", "Q4 2018", "2018-10-01", "2018-12-31", "quarter"),
    ("1stHf2019", "2019-H1", "H1 2019", "2019-01-01", "2019-06-30", "halfyear"),
    ("2ndHf2019", "2019-H2", "H2 2019", "2019-07-01", "2019-12-31", "halfyear"),
    ("2ndhf2017", "2017-H2", "H2 2017", "2017-07-01", "2017-12-31", "halfyear"),
    ("2018", "2018", "2018", "2018-01-01", "2018-12-31", "year"),
    ("Mid-2018", "2018", "2018", "2018-01-01", "2018-12-31", "year"),
    ("2018-2019", "2018/2019", "2018\u20132019", "2018-01-01", "2019-12-31", "year"),
    ("2018/2019", "2018/2019", "2018\u20132019", "2018-01-01", "2019-12-31", "year"),
    ("2018-06/2019-H1", "2018-06/2019-H1", "June 2018\u2013H1 2019", "2018-06-01", "2019-06-30", "month/halfyear"),
    ("19-Jun", "2019-06", "June 2019", "2019-06-01", "2019-06-30", "month"),
    ("Mar-19", "2019-03", "March 2019", "2019-03-01", "2019-03-31", "month"),
    ("Sat, 01 Jun 2019 00:00:00 +0000", "2019-06-01", "1 June 2019", "2019-06-01", "2019-06-01", "day"),
])
def test_every_format(text, iso, shown, start, end, precision):
    v = dates.parse(text)
    assert v.iso == iso
    assert dates.display(v.iso) == shown  # shown from the canonical text, at its own precision
    assert dates.interval(v.iso) == {"start": start, "end": end, "precision": precision, "text": iso}
    assert dates.parse_iso(iso) == v  # the canonical text reads back to the same value


@pytest.mark.parametrize("text", ["n.d.", "", "  ", None])
def test_no_date_is_none_not_an_error(text):
    assert dates.parse(text) is None
    assert dates.display(None) == "" and dates.interval(None) is None and dates.to_csv(None) == ""


@pytest.mark.parametrize("text", ["2018-13", "2019-02-30", "5thQt2018", "3rdHf2019", "soon", "2019-2018",
                                  "Jun-Foo", "2018-Q5", "Smarch 2019"])
def test_not_dates_are_errors(text):
    with pytest.raises(dates.DateError):
        dates.parse(text)


def test_declared_format_sets_the_precision():
    assert dates.parse("19-Jun", "%y-%b").iso == "2019-06"
    assert dates.parse("05.07.2018", "%d.%m.%Y").iso == "2018-07-05"
    assert dates.parse("2018", "%Y").iso == "2018"
    with pytest.raises(dates.DateError, match="does not match"):
        dates.parse("2018-06", "%d.%m.%Y")


def test_yy_mon_is_the_v1_convention_checked_against_the_markers(sources_dir):
    """"19-Jun" is June 2019, not 19 June: ASPI's markers give the same facilities' imagery month in full."""
    with open(sources_dir / V1 / "CampDataset_v1.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    markers = json.loads((sources_dir / "aspi-xjdp-markers" / "markers.geo.json").read_text(encoding="utf-8"))
    full = {m["properties"]["title"]: m["properties"].get("imgDate") for m in markers["features"]}
    agree = disagree = 0
    for r in rows:
        v, m = r["Date of Latest Sat Imagery"], full.get(r["Name_Code"])
        if not v or not m:
            continue
        d = parsedate_to_datetime(m)
        if dates.parse(v).iso == f"{d.year:04d}-{d.month:02d}":
            agree += 1
        else:
            disagree += 1
    assert agree == 266 and disagree == 1


def test_every_value_of_the_v1_date_columns_parses(sources_dir):
    with open(sources_dir / V1 / "CampDataset_v1.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    seen = {}
    for r in rows:
        for col in ("Security features changed when", "Date of Latest Sat Imagery"):
            v = r[col]
            if v.strip() in ("", "N/A"):
                continue
            seen[v] = dates.parse(v).iso
    assert seen["3rdQt2018"] == "2018-Q3" and seen["2017-2018"] == "2017/2018" and seen["21-Jun"] == "2021-06"
    assert len(seen) == 49  # 25 distinct "when" values + 27 imagery months, three shared


def test_export_conventions():
    assert [dates.to_csv(dates.parse(t).iso) for t in ("2018", "2018-06", "3rdQt2018", "2ndHf2018", "2018-2019")] \
        == ["2018", "2018-06", "2018-Q3", "2018-H2", "2018/2019"]
    assert dates.to_csv({"2017": 0, "2018": 15, "2019": 15, "2020": None}) == "2017=0;2018=15;2019=15;2020="
    assert dates.interval("2018-Q3") == {"start": "2018-07-01", "end": "2018-09-30", "precision": "quarter",
                                         "text": "2018-Q3"}


def test_export_hooks_by_field_type():
    assert dates.for_csv("quarter", "2018-Q3") == "2018-Q3" and dates.for_csv("integer", 3) == 3
    assert dates.for_csv("series", {"2019": True, "2020": None}) == "2019=true;2020="
    assert dates.for_geojson("daterange", "2018/2019") == {"start": "2018-01-01", "end": "2019-12-31",
                                                           "precision": "year", "text": "2018/2019"}
    assert dates.for_geojson("series", {"2017": 0}) == {"2017": 0} and dates.for_geojson("string", "x") == "x"


def test_interval_comparisons():
    assert dates.overlaps_year("2018-Q3", 2018) and not dates.overlaps_year("2018-Q3", 2019)
    assert dates.overlaps_year("2018/2019", 2019) and not dates.within_year("2018/2019", 2019)
    assert dates.within_year("2018-H2", 2018)
    assert list(dates.years("2017-H2/2019-Q1")) == [2017, 2018, 2019]
    assert dates.overlaps("2019-06", date(2019, 6, 30), date(2019, 7, 3))
    assert not dates.overlaps("2019-06", date(2019, 7, 1), date(2019, 7, 3))
    ordered = sorted(["2019", "2018-Q3", "2018-07-05", "2018/2019", "2018-07"], key=dates.sort_key)
    assert ordered == ["2018/2019", "2018-07", "2018-Q3", "2018-07-05", "2019"]


@pytest.mark.parametrize("type_, raw, out", [
    ("date", "2018-07-05", "2018-07-05"),
    ("yearmonth", "Sat, 01 Jun 2019 00:00:00 +0000", "2019-06"),  # a month padded to day 1 by the publisher
    ("yearmonth", "19-Jun", "2019-06"),
    ("quarter", "2018-08-15", "2018-Q3"),
    ("halfyear", "3rdQt2018", "2018-H2"),
    ("year", "2ndHf2019", "2019"),
    ("daterange", "2018-2019", "2018/2019"),
    ("daterange", "2ndHf2019", "2019-H2"),
    ("daterange", "n.d.", None),
])
def test_field_types_coarsen_finer_values(type_, raw, out):
    assert convert(Field("when", "When", type_), raw) == out


@pytest.mark.parametrize("type_, raw", [("yearmonth", "2019"), ("date", "2019-06"), ("quarter", "2ndHf2019"),
                                        ("year", "2018-2019"), ("yearmonth", "tomorrow")])
def test_field_types_reject_coarser_values_and_ranges(type_, raw):
    with pytest.raises(FieldValueError):
        convert(Field("when", "When", type_), raw)


def test_series_type():
    f = Field("buildings", "Buildings", "series")
    assert convert(f, {"2017": "0", "2018": "15", "2019": 15.0, "2020": None}) == \
        {"2017": 0, "2018": 15, "2019": 15, "2020": None}
    assert convert(f, {"2017": None, "2018": None}) is None  # nothing given: not a value
    assert dates.convert("series", {"2019": "1", "2020": "0"}, item="boolean") == {"2019": True, "2020": False}
    with pytest.raises(FieldValueError, match="2018"):
        convert(f, {"2017": "0", "2018": "?"})


def test_series_field_read_from_several_columns_of_the_v1_csv(tmp_path, sources_dir, xinjiang_vocab):
    """A descriptor builds one series field from four columns; the reader checks each column exists."""
    import shutil

    from facilitymap import fields, readers
    from facilitymap.errors import SourceError
    from facilitymap.registry import load_sources

    vocab = {**xinjiang_vocab, "buildings": Field("buildings", "Buildings per year", "series")}
    folder = tmp_path / "sources" / V1
    shutil.copytree(sources_dir / V1, folder)
    desc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    desc["facilitymap"]["fields"]["buildings"] = {"series": {str(y): f"Number of Buildings in {y}"
                                                             for y in range(2017, 2021)}}
    (folder / "datapackage.json").write_text(json.dumps(desc), encoding="utf-8")
    src = next(s for s in load_sources(tmp_path / "sources") if s.slug == V1)
    res = readers.read_source(src, vocab)
    first = res.records.set_index("record_id").loc["1", "attrs"]
    assert first["buildings"] == {"2017": 0, "2018": 15, "2019": 15, "2020": None}  # row 1: 0,15,15,""
    n_given = sum(1 for a in res.records["attrs"] if "buildings" in a)
    assert 0 < n_given < len(res.records)  # rows with no count at all have no series

    desc["facilitymap"]["fields"]["buildings"]["series"]["2021"] = "Number of Buildings in 2021"
    (folder / "datapackage.json").write_text(json.dumps(desc), encoding="utf-8")
    src = next(s for s in load_sources(tmp_path / "sources") if s.slug == V1)
    with pytest.raises(SourceError, match="Number of Buildings in 2021"):
        readers.read_source(src, vocab)
