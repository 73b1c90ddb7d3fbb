"""Every limit of facilitymap/limits.py: hit, it is a clean error naming the file (or a rejected row); raised, the
same input is read; each is in the README's Limits table with its default."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from facilitymap.errors import FacilitymapError
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from facilitymap import limits
from facilitymap.builder import BuildError, build
from facilitymap.cli import main
from facilitymap.errors import SourceError
from facilitymap.readers import read_source

from tiny_map import csv_bytes, write_source, write_spec

ROOT = Path(__file__).resolve().parent.parent
POINT_FIELDS = {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"}


def with_limits(**kw):
    return limits.applied(limits.DEFAULTS.with_overrides(kw))


def test_readme_lists_every_limit_with_its_default():
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in limits.Limits.names():
        default = getattr(limits.DEFAULTS, name)
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{name}`")), None)
        assert row is not None, name
        assert f"{default:,}" in row, (name, row)


def test_a_100k_column_header_is_refused_and_with_a_raised_limit_read_in_linear_time(make_source):
    cols = ["id", "name", "lat", "lon"] + [f"c{i}" for i in range(100_000)]
    text = ",".join(cols) + "\n" + ",".join(["1", "A", "41", "80"] + ["x"] * 100_000) + "\n"
    with pytest.raises(SourceError) as e:
        read_source(make_source(text, reader="csv", fields=POINT_FIELDS))
    assert "data.csv:1" in str(e.value) and "100,004 columns" in str(e.value) and "header_columns" in str(e.value)
    with with_limits(header_columns=200_000):
        rr = read_source(make_source(text, reader="csv", fields=POINT_FIELDS, slug="wide"))
        assert rr.rows == 1 and len(rr.records) == 1
        dup = text.replace("c99999", "c5", 1)  # duplicates are found by counting, not a quadratic scan
        with pytest.raises(SourceError, match=r"\['c5'\] appear more than once"):
            read_source(make_source(dup, reader="csv", fields=POINT_FIELDS, slug="dup"))


def test_deep_json_is_refused_before_parsing(make_source):
    deep = '{"type": "FeatureCollection", "features": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(SourceError) as e:
        read_source(make_source(deep, reader="geojson", fields={"record_id": "id"}))
    assert "data.geojson:1" in str(e.value) and "json_depth" in str(e.value)
    ok = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "a", "t": "'
          + "[" * 100 + '\\"[{"}, "geometry": {"type": "Point", "coordinates": [80, 41]}}]}')
    assert read_source(make_source(ok, reader="geojson", fields={"record_id": "id"}, slug="ok")).rows == 1


@pytest.mark.parametrize("reader", ["csv", "geojson", "osm"])
def test_row_limit(make_source, reader):
    if reader == "csv":
        text, fields = "id,name,lat,lon\n" + "".join(f"{i},N{i},41,80\n" for i in range(6)), POINT_FIELDS
    elif reader == "geojson":
        feats = [{"type": "Feature", "properties": {"id": i}, "geometry": {"type": "Point", "coordinates": [80, 41]}}
                 for i in range(6)]
        text, fields = json.dumps({"type": "FeatureCollection", "features": feats}), {"record_id": "id"}
    else:
        text = "<osm>" + "".join(f'<node id="{i}" lat="41" lon="80"><tag k="name" v="n"/></node>' for i in range(6))
        text, fields = text + "</osm>", {"name": "name"}
    src = make_source(text, reader=reader, fields=fields)
    with with_limits(rows=5):
        with pytest.raises(SourceError, match=r"over the limit rows = 5"):
            read_source(src)
    with with_limits(rows=6):
        assert read_source(src).rows == 6


def _zigzag(n: int) -> dict:
    """A self-intersecting ring of n vertices (a star whose spikes cross)."""
    k = np.arange(n)
    ang = k * (np.pi * (n // 2 - 1) / n) * 2
    ring = np.c_[80 + 0.01 * np.cos(ang), 41 + 0.01 * np.sin(ang)].tolist()
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_a_200k_vertex_self_intersecting_polygon_is_rejected_before_repair(make_source):
    feats = [{"type": "Feature", "properties": {"id": "big"}, "geometry": _zigzag(200_000)},
             {"type": "Feature", "properties": {"id": "small"}, "geometry": _zigzag(11)}]
    text = json.dumps({"type": "FeatureCollection", "features": feats})
    rr = read_source(make_source(text, reader="geojson", fields={"record_id": "id"}, layer="outlines"))
    assert rr.rows == 2 and list(rr.records["record_id"]) == ["small"]
    assert rr.rejected[0]["record_id"] == "big" and "too many vertices" in rr.rejected[0]["reason"]
    assert "polygon_vertices" in rr.rejected[0]["reason"] and "200,001" in rr.rejected[0]["reason"]
    assert any("make_valid" in n["note"] for n in rr.notes)  # the small one was still repaired


def _sparse_tif(path: Path, size: int, nodata_only: bool = False) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(80, 42, 1e-5, 1e-5), nodata=0, tiled=True,
                       SPARSE_OK=True, compress="deflate") as dst:
        if nodata_only:
            dst.write(np.zeros((1, size, size), dtype="uint8"))
    return path


def test_huge_sparse_raster_is_refused_before_reading(tmp_path):
    tif = _sparse_tif(tmp_path / "huge.tif", 100_000)
    assert tif.stat().st_size < 10_000_000  # sparse: the file is small, the grid is 10^10 pixels
    res = CliRunner().invoke(main, ["footprints", "raster", str(tif), "--out", str(tmp_path / "src")])
    assert res.exit_code == 1 and "huge.tif" in res.output and "raster_pixels" in res.output
    assert "100,000 × 100,000" in res.output
    assert not (tmp_path / "src" / "local-rasters").exists() and not list((tmp_path / "src").glob(".*"))


def test_raster_with_an_empty_footprint_warns(tmp_path):
    tif = _sparse_tif(tmp_path / "empty.tif", 64, nodata_only=True)
    res = CliRunner().invoke(main, ["footprints", "raster", str(tif), "--out", str(tmp_path / "src")])
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "empty.tif" in res.output and "footprint is empty" in res.output
    res = CliRunner().invoke(main, ["footprints", "raster", str(tif), "--out", str(tmp_path / "src2"),
                                    "--limit", "raster_pixels=100"])
    assert res.exit_code == 1 and "raster_pixels = 100" in res.output


def test_file_size_is_checked_before_reading(make_source, monkeypatch):
    src = make_source("id,name,lat,lon\n1,A,41,80\n", reader="csv", fields=POINT_FIELDS)
    import facilitymap.registry as registry

    monkeypatch.setattr(registry, "file_sha256", lambda p: pytest.fail("the file was read"))
    with with_limits(file_bytes=10):
        with pytest.raises(SourceError) as e:
            read_source(src)
    assert "data.csv" in str(e.value) and "file_bytes = 10" in str(e.value)


def test_limits_from_the_spec_and_the_cli(tmp_path):
    sources, maps = tmp_path / "sources", tmp_path / "maps"
    write_source(sources, "s", csv_bytes(["id", "name", "lat", "lon"], [[i, f"N{i}", 41, 80] for i in range(4)]))
    write_spec(maps, "m", ["s"], "limits: {rows: 3}\n")
    with pytest.raises(BuildError, match=r"data.csv:5: too many rows: .* rows = 3"):
        build("m", sources_dir=sources, maps_dir=maps, basemap="none")
    args = ["build", "m", "--sources", str(sources), "--maps", str(maps), "--basemap", "none"]
    res = CliRunner().invoke(main, args + ["--limit", "rows=4"])  # the command line wins over the spec
    assert res.exit_code == 0, res.output
    for bad, msg in (("nope=4", "unknown limit 'nope'"), ("rows=-1", "positive integer"), ("rows", "NAME=VALUE")):
        res = CliRunner().invoke(main, args + ["--limit", bad])
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output, res.output
    write_spec(maps, "m", ["s"], "limits: {rowz: 3}\n")
    with pytest.raises(FacilitymapError, match=r"m\.yaml: unknown limit 'rowz'"):
        build("m", sources_dir=sources, maps_dir=maps, basemap="none")


def test_a_map_spec_over_the_file_size_limit_is_refused_unread(tmp_path, monkeypatch):
    maps = tmp_path / "maps"
    write_spec(maps, "m", ["s"])
    monkeypatch.setattr(limits, "DEFAULTS", limits.Limits(file_bytes=10))
    monkeypatch.setattr(limits, "_current", __import__("contextvars").ContextVar("t", default=limits.DEFAULTS))
    with pytest.raises(BuildError, match=r"m\.yaml: file size .* file_bytes = 10"):
        build("m", sources_dir=tmp_path / "sources", maps_dir=maps)
