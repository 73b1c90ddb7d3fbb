"""Footprints end to end: `facilitymap footprints fetch` from a STAC API on 127.0.0.1, then a build that uses the
harvested source, so the coverage reaches sites.geojson, coverage.json and the page payload."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from facilitymap.cli import main
from stac_server import StacServer, make_items

ROOT = Path(__file__).resolve().parent.parent
MONTHS = ["2019-05", "2019-06", "2020-03"]


def test_fetch_then_build_carries_scene_coverage_to_sites(tmp_path):
    sources = tmp_path / "sources"
    for slug in ("buzzfeed-2020", "sentinel-2-grid"):
        shutil.copytree(ROOT / "sources" / slug, sources / slug)
    maps = tmp_path / "maps"
    maps.mkdir()
    runner = CliRunner()
    with StacServer(make_items(MONTHS, per_month=40)) as srv:
        res = runner.invoke(main, ["footprints", "fetch", "--api", srv.url, "--bbox", "73,34,96,49",
                                   "--collections", "sentinel-2-c1-l2a,landsat-c2-l2", "--start", "2019-01-01",
                                   "--end", "2020-12-31", "--out", str(sources), "--slug", "scenes-local",
                                   "--page-size", "25", "--no-progress"])
    assert res.exit_code == 0, res.output
    descriptor = json.loads((sources / "scenes-local" / "datapackage.json").read_text())
    assert descriptor["facilitymap"]["layer"] == "scenes"

    (maps / "m.yaml").write_text("title: Footprints\nsources: [buzzfeed-2020, sentinel-2-grid, scenes-local]\n"
                                  "fields: {status: {label: Status}}\n")
    res = runner.invoke(main, ["build", "m", "--sources", str(sources), "--maps", str(maps), "--basemap", "none"])
    assert res.exit_code == 0, res.output

    out = maps / "m"
    report = json.loads((out / "build-report.json").read_text())
    assert report["sources"]["scenes-local"]["rows"] == 120
    sites = json.loads((out / "sites.geojson").read_text())["features"]
    covered = [f for f in sites if f["properties"]["imagery"].get("scenes")]
    assert covered, "some BuzzFeed site lies under a synthetic footprint"
    coverage = json.loads((out / "coverage.json").read_text())
    detail = coverage["scenes"]
    # Every (site, scene) pair in the detail really is a footprint over the site's point.
    from shapely.geometry import Point, shape

    items = {it["id"]: shape(it["geometry"]) for it in make_items(MONTHS, per_month=40)}
    by_site = {f["properties"]["site_id"]: f["properties"] for f in sites}
    assert detail
    for row in detail:
        p = by_site[row["site_id"]]
        assert items[row["id"]].intersects(Point(p["lon"], p["lat"]))
    # ...and no covering footprint is missed.
    for sid, p in by_site.items():
        pt = Point(p["lon"], p["lat"])
        expected = sorted(i for i, g in items.items() if g.intersects(pt))
        got = sorted(r["id"] for r in detail if r["site_id"] == sid)
        assert got == expected, sid
    # The real MGRS tiles are there for every site, harvest or not.
    assert all(f["properties"]["imagery"]["s2_tiles"] for f in sites)
    html = (out / "index.html").read_text()
    assert "scenes-local" in html


def test_footprints_raster_cli_writes_a_valid_source(tmp_path):
    """`facilitymap footprints raster` through click: a new source folder that validates (with the licence
    warning until the user states the imagery's licence), and a clear error for a folder that exists."""
    from test_raster import make_diamond

    raw = tmp_path / "raw"
    raw.mkdir()
    make_diamond(raw / "site_20200315.tif")
    make_diamond(raw / "site_20210701.tif", x0=500500.0)
    sources = tmp_path / "sources"
    runner = CliRunner()
    args = ["footprints", "raster", str(raw / "site_20200315.tif"), str(raw / "site_20210701.tif"),
            "--date-pattern", "%Y%m%d", "--out", str(sources), "--slug", "my-imagery"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    folder = sources / "my-imagery"
    descriptor = json.loads((folder / "datapackage.json").read_text())
    assert descriptor["facilitymap"]["layer"] == "scenes"
    from facilitymap.footprints.stac import read_scenes

    scenes = read_scenes(folder)
    assert sorted(str(d)[:10] for d in scenes["datetime"]) == ["2020-03-15", "2021-07-01"]
    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "licence" in res.output.lower()
    res = runner.invoke(main, args)
    assert res.exit_code == 1 and "my-imagery" in res.output
