"""Sentinel-2 MGRS tiles per site: which tile footprints contain each site's representative point.

Every Sentinel-2 scene is cut to one of these tiles, so a site's tile ids name the scenes that can cover it.
Tiles overlap by about 10 km, so a site near an edge belongs to two or more tiles.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely


def site_points(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One Point per site (columns site_id, geometry) in EPSG:4326.

    The point is the site's `lon`/`lat` (reconcile's representative point) when both are given, else the
    representative point of its geometry, so outlines and markers are treated alike.
    """
    if "lon" in sites.columns and "lat" in sites.columns:
        lon = pd.to_numeric(sites["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(sites["lat"], errors="coerce").to_numpy(dtype=float)
        pts = shapely.points(lon, lat)
        missing = pd.isna(lon) | pd.isna(lat)
    else:
        pts = None
        missing = None
    geoms = sites.geometry
    if sites.crs is not None and not sites.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs("EPSG:4326")
    rep = geoms.representative_point().to_numpy()
    if pts is None:
        pts = rep
    else:
        pts = pts.copy()
        pts[missing] = rep[missing]
    return gpd.GeoDataFrame(
        {"site_id": sites["site_id"].astype(str).to_numpy()}, geometry=pts, crs="EPSG:4326"
    )


def site_tiles(sites: gpd.GeoDataFrame, grid: gpd.GeoDataFrame) -> dict[str, list[str]]:
    """{site_id: sorted MGRS tile ids whose footprint contains the site's representative point}.

    Every site is a key, with [] when no tile contains it (e.g. an empty or out-of-grid point).
    Tiles crossing the antimeridian are MultiPolygons split at ±180° in the shipped grid, so a plain
    containment test is correct for them.
    """
    pts = site_points(sites)
    tiles = grid[["tile", "geometry"]]
    if tiles.crs is not None and not tiles.crs.equals("EPSG:4326"):
        tiles = tiles.to_crs("EPSG:4326")
    out: dict[str, list[str]] = {sid: [] for sid in pts["site_id"]}
    valid = ~(pts.geometry.is_empty | pts.geometry.isna())
    if valid.any():
        tree = shapely.STRtree(tiles.geometry.to_numpy())
        # intersects, not within: a point exactly on a tile's edge belongs to that tile too
        p_idx, t_idx = tree.query(pts.geometry[valid].to_numpy(), predicate="intersects")
        sids = pts["site_id"][valid].to_numpy()[p_idx]
        names = tiles["tile"].astype(str).to_numpy()[t_idx]
        for sid, name in zip(sids, names):
            out[sid].append(name)
    return {sid: sorted(set(v)) for sid, v in sorted(out.items())}


def tiles_for_map(grid: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The tiles (columns tile, epsg when present, geometry) that contain any site, sorted by tile id."""
    wanted = sorted({t for ts in site_tiles(sites, grid).values() for t in ts})
    cols = [c for c in ("tile", "epsg") if c in grid.columns] + ["geometry"]
    sub = grid.loc[grid["tile"].astype(str).isin(wanted), cols]
    return sub.sort_values("tile", kind="stable").reset_index(drop=True)
