"""MGRS tiles per site, on the real shipped Sentinel-2 grid."""
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from facilitymap.footprints.grid import site_points, site_tiles, tiles_for_map

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "sources" / "sentinel-2-grid" / "sentinel-2-grid_LAND.parquet"


@pytest.fixture(scope="module")
def grid():
    return gpd.read_parquet(GRID)  # shipped in sources/: a missing grid fails the tests


def _sites(rows):
    return gpd.GeoDataFrame(
        {"site_id": [r[0] for r in rows], "lon": [r[1] for r in rows], "lat": [r[2] for r in rows]},
        geometry=[shapely.Point(r[1], r[2]) for r in rows], crs="EPSG:4326",
    )


def _brute_force(grid, lon, lat):
    p = shapely.Point(lon, lat)
    return sorted(grid.loc[grid.geometry.intersects(p), "tile"])


def test_kashgar_and_urumqi_known_tiles(grid):
    sites = _sites([("kashgar", 75.99, 39.47), ("urumqi", 87.6, 43.8)])
    got = site_tiles(sites, grid)
    # Computed from the grid once (43SED: UTM 43N, Kashgar is east of the 43SDV tile); checked by geometry too.
    assert got["kashgar"] == ["43SED"]
    tile = grid.loc[grid.tile == "43SED"].geometry.iloc[0]
    assert tile.contains(shapely.Point(75.99, 39.47))
    assert not grid.loc[grid.tile == "43SDV"].geometry.iloc[0].contains(shapely.Point(75.99, 39.47))
    assert got["urumqi"] == _brute_force(grid, 87.6, 43.8)
    assert got["urumqi"] and all(t.startswith("45T") for t in got["urumqi"])


def test_overlap_gives_several_sorted_tiles(grid):
    # 43SED and its eastern neighbour overlap by ~10 km; pick a point inside both footprints
    a = grid.loc[grid.tile == "43SED"].geometry.iloc[0]
    b = grid.loc[grid.tile == "43SFD"].geometry.iloc[0]
    p = a.intersection(b).representative_point()
    got = site_tiles(_sites([("edge", p.x, p.y)]), grid)["edge"]
    assert got == sorted(got)
    assert {"43SED", "43SFD"} <= set(got)
    assert got == _brute_force(grid, p.x, p.y)


def test_every_site_present_with_empty_list_outside_grid(grid):
    # mid-Pacific: no land tile; a tile next to the antimeridian (split as a MultiPolygon) does not crash
    sites = _sites([("ocean", -150.0, 0.0), ("fiji", 179.95, -16.5), ("kashgar", 75.99, 39.47)])
    got = site_tiles(sites, grid)
    assert list(got) == ["fiji", "kashgar", "ocean"]
    assert got["ocean"] == []
    assert got["fiji"] == _brute_force(grid, 179.95, -16.5)
    # a tile spanning the antimeridian must not swallow points half the world away
    assert not any(t.startswith(("01", "60")) for t in got["kashgar"])


def test_outline_without_lonlat_uses_representative_point(grid):
    outline = shapely.box(75.98, 39.46, 76.0, 39.48)
    sites = gpd.GeoDataFrame({"site_id": ["o"]}, geometry=[outline], crs="EPSG:4326")
    pts = site_points(sites)
    assert outline.contains(pts.geometry.iloc[0])
    assert site_tiles(sites, grid) == {"o": ["43SED"]}


def test_tiles_for_map(grid):
    sites = _sites([("kashgar", 75.99, 39.47), ("urumqi", 87.6, 43.8), ("ocean", -150.0, 0.0)])
    tiles = tiles_for_map(grid, sites)
    expected = sorted({"43SED", *_brute_force(grid, 87.6, 43.8)})
    assert tiles["tile"].tolist() == expected
    assert tiles.crs.equals("EPSG:4326")
    assert set(tiles.geom_type) <= {"Polygon", "MultiPolygon"}
